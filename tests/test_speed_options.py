"""The speed options in a run: frame stride and selection dimension (engines: test_engines.py); the fast CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from framepick import load_config, run
from framepick.write import write_embeddings_csv
from media import FakeEmbedder


def _run(src: Path, out: Path, fast: dict, **words: object):  # type: ignore[no-untyped-def]
    """Speed options are about frames and vectors, not the model: the fake embedder."""
    return run(
        load_config(overrides={"input_dir": str(src), "output_dir": str(out), **fast, **words}), embedder=FakeEmbedder()
    )


def test_frame_stride_embeds_every_sth_frame_of_a_sequence(scenes_input: Path, tmp_path: Path, fast: dict) -> None:
    result = _run(
        scenes_input,
        tmp_path / "out",
        fast,
        selected_sequence_length=10,
        embedding_frame_stride=3,
        **{"stopping_condition.n_samples": 20},
    )
    table = result.table
    # every frame decoded and checked; only positions 0, 3, 6, 9 of each sequence embedded
    assert table.decoded.all()
    np.testing.assert_array_equal(table.embedded, (table.index % 10) % 3 == 0)
    rows = list(csv.reader(open(tmp_path / "out" / "data" / "embeddings.csv")))
    assert len(rows) - 1 == int((table.embedded & result.checks.usable).sum())
    # a sequence embedding is the mean of its embedded frames
    seq = result.sequences.rows[0]
    np.testing.assert_allclose(result.sequence_embeddings[0], table.embeddings[seq[[0, 3, 6, 9]]].mean(0), rtol=1e-5)


def test_selection_dim_auto(scenes_input: Path, tmp_path: Path, fast: dict) -> None:
    from framepick.select import resolve_selection_dim

    assert resolve_selection_dim("auto", 50_000) == -1 and resolve_selection_dim("auto", 50_001) == 64
    assert resolve_selection_dim(32, 10) == 32
    result = _run(scenes_input, tmp_path / "o", fast, **{"stopping_condition.n_samples": 6})
    assert result.report["metrics"]["selection_dim"] == FakeEmbedder.dim  # few candidates: full dimension


def test_selection_dim_8_picks_the_scenes_full_dimension_picks(scenes_input: Path, tmp_path: Path, fast: dict) -> None:
    full = _run(scenes_input, tmp_path / "a", fast, selection_dim=-1, **{"stopping_condition.n_samples": 6})
    low = _run(scenes_input, tmp_path / "b", fast, selection_dim=8, **{"stopping_condition.n_samples": 6})
    assert full.report["metrics"]["selection_dim"] == FakeEmbedder.dim and low.report["metrics"]["selection_dim"] == 8

    # the scenes are far apart: both pick one frame from each of the 6 scenes (b.mp4's
    # 5-frame tail, frames 40-44, still shows its second scene)
    def scenes(r) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        picked = [(int(r.table.source[i]), min(int(r.table.index[i]) // 20, 1 if r.table.source[i] == 1 else 2))
                  for i in r.selection.indices]  # fmt: skip
        assert len(set(picked)) == 6
        return sorted(picked)

    assert scenes(full) == scenes(low)


def test_embeddings_csv_round_trips_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((300, 40)) * 10.0 ** rng.integers(-44, 38, (300, 40))).astype(np.float32)
    x[0, :6] = [0.0, -0.0, 1e-45, 3.4028235e38, 0.1, -999.99994]
    names = [f'dir/a,b "{i}".png' for i in range(300)]
    write_embeddings_csv(tmp_path / "e.csv", names, x, block=64)
    rows = list(csv.reader(open(tmp_path / "e.csv", newline="")))
    assert rows[0] == ["filenames", *(f"embedding_{i}" for i in range(40)), "labels"]
    assert [r[0] for r in rows[1:]] == names and all(r[-1] == "0" for r in rows[1:])
    back = np.array([r[1:-1] for r in rows[1:]], dtype=np.float32)
    np.testing.assert_array_equal(back.view(np.int32), x.view(np.int32))
