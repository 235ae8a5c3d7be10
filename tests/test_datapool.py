"""The datapool end to end: continuing runs, refusal of another embedding space, a killed run, reruns."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import framepick
from framepick import ConfigError, load_config
from framepick._kcenter import sq_dist
from framepick.cli import main as cli_main
from framepick.datapool import POOL_FILE, open_datapool
from framepick.errors import DatapoolError
from framepick.results import Candidates
from media import FakeEmbedder, frame_folder, scene_video
from processes import start_killable, wait_for

SCENES = ("checker", "stripes", "noise", "gradient", "circles", "diagonal")


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``half/``: three of six sources; ``all/``: the same three (same names, same frames) and three more."""
    root = tmp_path_factory.mktemp("halves")
    full, half = root / "all", root / "half"
    for i, scene in enumerate(SCENES):
        if i % 3 == 2:
            frame_folder(full / f"f{i}", [scene, SCENES[(i + 1) % 6]], 10, size=64)
        else:
            scene_video(full / f"v{i}.mp4", [scene, SCENES[(i + 2) % 6]], 12, size=64)
    half.mkdir()
    for entry in sorted(full.iterdir())[:3]:
        (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, half / entry.name)
    return half, full


def _config(input_dir: Path, out: Path, pool: Path, n: int | None, **extra: object) -> framepick.Config:
    values: dict[str, object] = {
        "input_dir": str(input_dir),
        "output_dir": str(out),
        "datapool": str(pool),
        "selected_sequence_length": 4,
        "stopping_condition.n_samples": n if n is not None else -1,
        "cache_dir": "none",
    }
    values.update(extra)
    return load_config(overrides=values)


def _continued(x: np.ndarray, centers: list[int], k: int) -> list[int]:
    """Plain greedy k-center over ``x`` whose first centers are ``centers``."""
    nearest = np.full(len(x), np.inf, np.float32)
    for c in centers:
        nearest = np.minimum(nearest, sq_dist(x, x[c]))
    nearest[centers] = -1
    picks: list[int] = []
    for _ in range(k):
        i = int(np.argmax(nearest))
        picks.append(i)
        nearest = np.minimum(nearest, sq_dist(x, x[i]))
        nearest[i] = -1
    return picks


def test_half_then_all_equals_one_greedy_run_continued(halves: tuple[Path, Path], tmp_path: Path) -> None:
    half, full = halves
    pool = tmp_path / "pool"
    first = framepick.run(_config(half, tmp_path / "one", pool, 12), embedder=FakeEmbedder())
    assert len(first.selection.indices) == 3
    second = framepick.run(_config(full, tmp_path / "two", pool, 20), embedder=FakeEmbedder())
    assert len(second.selection.indices) == 5  # n_samples counts new frames only

    cands = Candidates.load(tmp_path / "two" / "data" / "candidates.npz")
    by_name = {name: i for i, name in enumerate(cands.first_names)}
    first_names = [
        seq["frame_names"][0] for seq in json.loads((tmp_path / "one" / "report.json").read_text())["sequences"]
    ]
    centers = [by_name[name] for name in first_names]
    np.testing.assert_array_equal(second.selection.indices, _continued(cands.embeddings, centers, 5))
    assert not set(centers) & set(second.selection.indices.tolist())

    stored = open_datapool(pool, first.pool.signature)  # type: ignore[union-attr]
    assert len(stored) == 8 and [r["items"] for r in stored.runs] == [3, 5]
    assert [item.run for item in stored.items] == [0] * 3 + [1] * 5
    assert stored.runs[1]["output_dir"] == str(tmp_path / "two")
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["datapool"]["items_before"] == 3 and report["datapool"]["new_items"] == 5
    assert report["datapool"]["items_after"] == 8
    assert report["candidates_excluded"]["already in the datapool"] == 3
    np.testing.assert_array_equal(stored.embeddings[3:], cands.embeddings[second.selection.indices])


def test_same_input_again_selects_nothing_new_when_covered(halves: tuple[Path, Path], tmp_path: Path) -> None:
    half, _ = halves
    pool = tmp_path / "pool"
    first = framepick.run(
        _config(half, tmp_path / "one", pool, None, **{"stopping_condition.min_distance": 0.3}), embedder=FakeEmbedder()
    )
    assert len(first.selection.indices) >= 2
    again = framepick.run(
        _config(half, tmp_path / "two", pool, None, **{"stopping_condition.min_distance": 0.3}), embedder=FakeEmbedder()
    )
    assert len(again.selection.indices) == 0
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["counts"]["selected_sequences"] == 0 and report["datapool"]["new_items"] == 0
    assert (tmp_path / "two" / "filenames" / "sampled_filenames.txt").read_text() == ""
    assert len(open_datapool(pool, first.pool.signature)) == len(first.selection.indices)  # type: ignore[union-attr]


class _Other(FakeEmbedder):
    input_size = 16
    signature = "fake-grid/16"


def test_a_pool_from_another_model_is_refused(halves: tuple[Path, Path], tmp_path: Path) -> None:
    half, _ = halves
    pool = tmp_path / "pool"
    framepick.run(_config(half, tmp_path / "one", pool, 8), embedder=FakeEmbedder())
    before = (pool / POOL_FILE).read_bytes()
    with pytest.raises(DatapoolError, match="was built with embedder fake at 32 px") as info:
        framepick.run(_config(half, tmp_path / "two", pool, 8), embedder=_Other())
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)
    assert (pool / POOL_FILE).read_bytes() == before
    assert not (tmp_path / "two" / "report.json").exists()


def test_model_input_size_is_part_of_the_signature(tmp_path: Path) -> None:
    pool = open_datapool(tmp_path, "efficientnet-lite0 at 224 px", 4)
    pool.append(np.ones((1, 4), np.float32), [(["a.png"], "a.png", ["00"])], {"time": "t"})
    with pytest.raises(DatapoolError, match=r"at 224 px.*this run uses efficientnet-lite0 at 160 px"):
        open_datapool(tmp_path, "efficientnet-lite0 at 160 px", 4)
    with pytest.raises(DatapoolError, match="8-dim"):
        open_datapool(tmp_path, "efficientnet-lite0 at 224 px", 8)


def test_a_killed_run_leaves_the_pool_unchanged(halves: tuple[Path, Path], tmp_path: Path) -> None:
    half, _ = halves
    pool = tmp_path / "pool"
    framepick.run(_config(half, tmp_path / "one", pool, 8), embedder=FakeEmbedder())
    # a pool file of the real model's space: the killed run below uses the CLI (the real model)
    os.remove(pool / POOL_FILE)
    args = [
        f"input_dir={half}",
        f"datapool={pool}",
        "selected_sequence_length=4",
        "model.input_size=64",
        "cache_dir=none",
    ]
    assert cli_main(["run", *args, f"output_dir={tmp_path / 'a'}", "stopping_condition.n_samples=8"]) == 0
    before = (pool / POOL_FILE).read_bytes()
    marker = tmp_path / "marker"
    proc = start_killable("write", marker, *args, f"output_dir={tmp_path / 'b'}", "stopping_condition.n_samples=8")
    wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (pool / POOL_FILE).read_bytes() == before
    assert not [p for p in pool.iterdir() if p.name != POOL_FILE], "no temporary file is left in the pool"


def test_a_failing_write_leaves_the_pool_unchanged(
    halves: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    half, _ = halves
    pool = tmp_path / "pool"
    framepick.run(_config(half, tmp_path / "one", pool, 8), embedder=FakeEmbedder())
    before = (pool / POOL_FILE).read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(framepick.pipeline, "write_report", broken)
    with pytest.raises(Exception, match="disk full"):
        framepick.run(_config(half, tmp_path / "two", pool, 8), embedder=FakeEmbedder())
    assert (pool / POOL_FILE).read_bytes() == before


def test_strategies_end_to_end_with_metadata_and_scores_files(halves: tuple[Path, Path], tmp_path: Path) -> None:
    _, full = halves
    plain = framepick.run(
        load_config(
            overrides={
                "input_dir": str(full),
                "output_dir": str(tmp_path / "p"),
                "stopping_condition.n_samples": 4,
                "cache_dir": "none",
            }
        ),
        embedder=FakeEmbedder(),
    )
    names = plain.table.names
    meta = tmp_path / "meta.csv"
    meta.write_text(
        "filenames,weather\n"
        + "".join(f"{n},{'night' if plain.table.source[i] % 2 else 'day'}\n" for i, n in enumerate(names))
        + "not-a-frame.png,day\n"
    )
    scores = tmp_path / "scores.csv"
    scores.write_text("filenames,u\n" + "".join(f"{n},{(i % 7) / 7}\n" for i, n in enumerate(names)))
    strategies = [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
        {"input": {"type": "SCORES", "score": "u"}, "strategy": {"type": "WEIGHTS", "strength": 0.5}},
        {
            "input": {"type": "METADATA", "key": "lightly.sharpness"},
            "strategy": {"type": "THRESHOLD", "threshold": 0, "operation": "BIGGER"},
        },
        {
            "input": {"type": "METADATA", "key": "weather"},
            "strategy": {"type": "BALANCE", "target": {"day": 0.5, "night": 0.5}},
        },
    ]
    cfg = load_config(
        overrides={
            "input_dir": str(full),
            "output_dir": str(tmp_path / "s"),
            "selected_sequence_length": 4,
            "stopping_condition.n_samples": 16,
            "cache_dir": "none",
            "metadata": str(meta),
            "scores": str(scores),
            "selection": {"strategies": strategies},
        }
    )
    result = framepick.run(cfg, embedder=FakeEmbedder())
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    weather = [
        ("night" if result.sources[int(result.sequences.source[s])].name in ("v1.mp4", "f2", "v4.mp4") else "day")
        for s in result.selection.indices
    ]
    counts = {w: weather.count(w) for w in ("day", "night")}
    assert len(weather) == 4
    assert [e["strategy"]["type"] for e in report["strategies"]] == ["DIVERSITY", "WEIGHTS", "THRESHOLD", "BALANCE"]
    assert report["strategies"][3]["reached"] is True
    assert report["value_files"]["metadata"]["unmatched"] == 1
    assert report["value_files"]["metadata"]["unmatched_examples"] == ["not-a-frame.png"]
    assert report["value_files"]["scores"]["unmatched"] == 0
    assert report["strategies"][3]["objective"]["after"][:2] == [counts["day"] / 4, counts["night"] / 4]
    log = (tmp_path / "s" / "log.txt").read_text()
    assert "1 names match no frame" in log


def test_similarity_queries_from_a_folder_and_from_an_embeddings_csv(halves: tuple[Path, Path], tmp_path: Path) -> None:
    """Query images are embedded with the run's model; a Lightly embeddings.csv works the same."""
    _, full = halves
    queries = tmp_path / "queries"
    frame_folder(queries / "q", ["noise"], 2, size=64)  # frames of the scene that opens v1... and v0's second
    base = {
        "input_dir": str(full),
        "selected_sequence_length": 4,
        "stopping_condition.n_samples": 8,
        "cache_dir": "none",
    }
    similar = {"input": {"type": "EMBEDDINGS", "query": str(queries)}, "strategy": {"type": "SIMILARITY"}}
    out = tmp_path / "a"
    result = framepick.run(
        load_config(overrides={**base, "output_dir": str(out), "selection": {"strategies": [similar]}}),
        embedder=FakeEmbedder(),
    )
    cands = Candidates.load(out / "data" / "candidates.npz")
    q = FakeEmbedder().embed(
        np.stack(
            [
                np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.BILINEAR))
                for p in sorted((queries / "q").iterdir())
            ]
        )
    )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    nearest = np.sqrt(((cands.embeddings[:, None, :] - q[None]) ** 2).sum(axis=2)).min(axis=1)
    np.testing.assert_array_equal(result.selection.indices, np.argsort(nearest, kind="stable")[:2])
    report = json.loads((out / "report.json").read_text())
    entry = report["strategies"][0]
    assert entry["objective"]["after"] < entry["objective"]["before"]  # the mean distance to the queries fell

    # the same queries as a Lightly embeddings.csv (the run's own data/embeddings.csv rows)
    csv_path = tmp_path / "q.csv"
    csv_path.write_text(
        "filenames,"
        + ",".join(f"embedding_{j}" for j in range(q.shape[1]))
        + ",labels\n"
        + "".join(f"q{i}.png," + ",".join(repr(float(v)) for v in row) + ",0\n" for i, row in enumerate(q))
    )
    similar["input"]["query"] = str(csv_path)
    again = framepick.run(
        load_config(overrides={**base, "output_dir": str(tmp_path / "b"), "selection": {"strategies": [similar]}}),
        embedder=FakeEmbedder(),
    )
    np.testing.assert_array_equal(again.selection.indices, result.selection.indices)


def test_the_pool_matches_frames_by_content_not_by_name(tmp_path: Path) -> None:
    """Week 2 holds a cam0.mp4 too: its frames are new, though their names equal week 1's; a copy
    of week 1's video under another name is recognised."""
    week1, week2 = tmp_path / "week1", tmp_path / "week2"
    scene_video(week1 / "cam0.mp4", ["checker", "stripes"], 12, size=64)
    scene_video(week2 / "cam0.mp4", ["noise", "circles"], 12, size=64)  # same name, other frames
    shutil.copy2(week1 / "cam0.mp4", week2 / "old.mp4")  # week 1's frames under another name
    pool = tmp_path / "pool"
    first = framepick.run(_config(week1, tmp_path / "one", pool, 24), embedder=FakeEmbedder())
    assert len(first.selection.indices) == 6  # all of week 1
    second = framepick.run(
        _config(week2, tmp_path / "two", pool, None, **{"stopping_condition.min_distance": 1e-6}),
        embedder=FakeEmbedder(),
    )
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["candidates_excluded"]["already in the datapool"] == 6  # old.mp4's sequences, by content
    picked = {second.sources[int(second.sequences.source[s])].name for s in second.selection.indices}
    assert picked == {"cam0.mp4"} and len(second.selection.indices) == 6
