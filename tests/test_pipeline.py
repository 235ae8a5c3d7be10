"""End to end on synthetic videos with known scenes (see conftest.scenes_input)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import framepick
from framepick import InputError, NoCandidatesError, load_config
from media import FakeEmbedder, decode_all, scene_video

# (source, first frame of scene) -> scene; every scene is 20 frames long.
SCENES = {
    ("a.mp4", 0): "checker",
    ("a.mp4", 20): "stripes",
    ("a.mp4", 40): "noise",
    ("b.mp4", 0): "gradient",
    ("b.mp4", 20): "circles",
    ("folder", 0): "diagonal",
}


def _scene(video: str, start: int) -> str:
    return SCENES[(video, start - start % 20)]


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run_60(scenes_input: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    before = _tree_digest(scenes_input)
    out = tmp_path_factory.mktemp("run") / "out"
    cfg = load_config(
        overrides={
            "input_dir": str(scenes_input),
            "output_dir": str(out),
            "selected_sequence_length": 10,
            "stopping_condition.n_samples": 60,
            "dump_dataset": True,
            "model.input_size": 64,
        }
    )
    result = framepick.run(cfg)
    assert _tree_digest(scenes_input) == before, "input_dir was modified"
    return result, out


def test_outputs_layout(run_60) -> None:  # type: ignore[no-untyped-def]
    _, out = run_60
    for rel in [
        "config/config.yaml",
        "data/embeddings.csv",
        "data/embeddings.npy",
        "data/selected_embeddings.csv",
        "data/sequence_information.json",
        "filenames/sampled_filenames.txt",
        "filenames/corrupt_filenames.txt",
        "filenames/duplicate_filenames.txt",
        "plots/scatter_pca.png",
        "report.json",
        "report.html",
        "log.txt",
    ]:
        assert (out / rel).is_file(), rel
    assert (out / "filenames/corrupt_filenames.txt").read_text() == ""
    assert (out / "filenames/duplicate_filenames.txt").read_text() == ""
    assert not [p for p in out.iterdir() if p.name.startswith(".framepick-partial")]
    assert "select done" in (out / "log.txt").read_text()
    with Image.open(out / "plots/scatter_pca.png") as img:
        assert img.size[0] > 400


def test_sequences_are_aligned_consecutive_and_cover_every_scene(run_60) -> None:  # type: ignore[no-untyped-def]
    result, out = run_60
    info = json.loads((out / "data/sequence_information.json").read_text())
    assert len(info) == 6
    for seq in info:
        idx = seq["frame_indices"]
        assert idx == list(range(idx[0], idx[0] + 10)) and idx[0] % 10 == 0
        if seq["video_name"].endswith(".mp4"):
            stem = seq["video_name"][:-4]
            n = 60 if stem == "a" else 45
            assert seq["frame_names"] == [f"{stem}-{i:0{len(str(n))}d}-mp4.png" for i in idx]
            assert len(seq["frame_timestamps_sec"]) == 10
            assert seq["frame_timestamps_sec"] == sorted(seq["frame_timestamps_sec"])
            assert seq["frame_timestamps_sec"][0] == pytest.approx(idx[0] / 10)  # 10 fps
        else:
            assert seq["frame_names"] == [f"folder/frame_{i:03d}.png" for i in idx]
            assert "frame_timestamps_pts" not in seq
    # diverse: one sequence from each of the six scenes
    assert sorted(_scene(s["video_name"], s["frame_indices"][0]) for s in info) == sorted(SCENES.values())
    assert result.selected_frame_names == (out / "filenames/sampled_filenames.txt").read_text().split()
    assert len(result.selected_frame_names) == 60


def test_report_counts(run_60) -> None:  # type: ignore[no-untyped-def]
    _, out = run_60
    report = json.loads((out / "report.json").read_text())
    c = report["counts"]
    assert (c["sources"], c["frames"], c["frames_usable"]) == (3, 125, 125)
    assert (c["sequence_candidates"], c["incomplete_tails"], c["tail_frames_dropped"]) == (12, 1, 5)
    assert (c["selected_sequences"], c["selected_frames"]) == (6, 60)
    assert report["stopping"]["reason"] == "n_samples"
    cfg = yaml.safe_load((out / "config/config.yaml").read_text())
    assert cfg["selected_sequence_length"] == 10 and cfg["stopping_condition"]["n_samples"] == 60


def test_off_is_minus_one_in_written_files(run_60) -> None:  # type: ignore[no-untyped-def]
    """None (off) in Python; report.json and config.yaml keep Lightly's -1 for existing parsers."""
    result, out = run_60
    assert result.config.min_distance is None
    report = json.loads((out / "report.json").read_text())
    assert (report["stopping"]["n_samples"], report["stopping"]["min_distance"]) == (60, -1.0)
    assert report["config"]["stopping_condition"] == {"n_samples": 60, "min_distance": -1.0}
    assert yaml.safe_load((out / "config/config.yaml").read_text())["stopping_condition"]["min_distance"] == -1.0
    assert load_config(out / "config/config.yaml") == result.config


def test_embeddings_csv_lightly_format(run_60) -> None:  # type: ignore[no-untyped-def]
    result, out = run_60
    with open(out / "data/embeddings.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header[0] == "filenames" and header[-1] == "labels"
    assert header[1:-1] == [f"embedding_{i}" for i in range(1280)]
    assert len(body) == 125 and all(r[-1] == "0" for r in body)
    values = np.array([[float(v) for v in r[1:-1]] for r in body], np.float32)
    np.testing.assert_array_equal(values, result.table.embeddings)  # float32 round-trips exactly
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-5)  # normalize_embeddings
    with open(out / "data/selected_embeddings.csv", newline="") as fh:
        selected = list(csv.reader(fh))[1:]
    by_name = {r[0]: r for r in body}
    assert [r[0] for r in selected] == result.selected_frame_names
    assert all(by_name[r[0]] == r for r in selected)


def test_dumped_frames_are_pixel_identical(run_60, scenes_input: Path) -> None:  # type: ignore[no-untyped-def]
    result, out = run_60
    sampled = out / "data/sampled"
    assert sorted(p.relative_to(sampled).as_posix() for p in sampled.rglob("*.png")) == sorted(
        result.selected_frame_names
    )
    reference = {name: decode_all(scenes_input / name) for name in ("a.mp4", "b.mp4")}
    for seq in result.selected_sequences:
        for name, index in zip(seq["frame_names"], seq["frame_indices"]):
            dumped = np.asarray(Image.open(sampled / name))
            if seq["video_name"] in reference:
                expected = reference[seq["video_name"]][index]
            else:
                expected = np.asarray(Image.open(scenes_input / name).convert("RGB"))
            np.testing.assert_array_equal(dumped, expected)


def _run(scenes_input: Path, out: Path, real_model: bool = False, **settings: object) -> framepick.RunResult:
    """A run with the cheap fake embedder (selection logic), or the real model at 64 px."""
    base: dict[str, object] = {"input_dir": str(scenes_input), "output_dir": str(out), "model.input_size": 64}
    return framepick.run(load_config(overrides=base | settings), embedder=None if real_model else FakeEmbedder())


def test_deterministic_rerun(tmp_path: Path, _isolated_cache: Path, fast: dict[str, object]) -> None:
    """The real model runs twice on the same input and the runs write the same bytes.

    Each run has an empty embedding cache of its own (a shared cache would hand the second run
    the first run's embeddings, and the model would run once); only the ONNX export, made once
    per session, is shared through the cache's onnx/ folder.
    """
    scene_video(tmp_path / "in" / "a.mp4", ["checker", "stripes", "noise"], 10)
    (_isolated_cache / "onnx").mkdir(exist_ok=True)
    outs = []
    for name in ("first", "second"):
        cache = tmp_path / f"cache-{name}"
        cache.mkdir()
        (cache / "onnx").symlink_to(_isolated_cache / "onnx", target_is_directory=True)
        settings = fast | {"cache_dir": str(cache), "selected_sequence_length": 5, "stopping_condition.n_samples": 15}
        r = _run(tmp_path / "in", tmp_path / name, True, **settings)
        counts = r.report["counts"]
        assert (counts["frames_embedded"], counts["frames_from_cache"]) == (30, 0), "the model ran on every frame"
        outs.append(tmp_path / name)
    for rel in ("data/sequence_information.json", "data/embeddings.csv", "filenames/sampled_filenames.txt"):
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_fraction_and_frame_selection(scenes_input: Path, tmp_path: Path) -> None:
    r = _run(scenes_input, tmp_path / "o", selected_sequence_length=10, **{"stopping_condition.n_samples": 0.25})
    assert r.report["counts"]["selected_frames"] == 30  # ceil(0.25 * 120) = 30
    r = _run(scenes_input, tmp_path / "p", **{"stopping_condition.n_samples": 7})
    assert len(r.selected_frame_names) == 7 and len(set(r.selected_frame_names)) == 7


def test_min_distance_and_all_candidates(scenes_input: Path, tmp_path: Path) -> None:
    # The six candidates are the six scenes, at least 0.4 apart (FakeEmbedder, normalised): a
    # min_distance of 1e-6 never stops the selection, so it ends by taking every candidate.
    r = _run(scenes_input, tmp_path / "m", selected_sequence_length=20, **{"stopping_condition.min_distance": 1e-6})
    assert r.report["stopping"]["reason"] == "all_candidates"
    assert r.report["counts"]["selected_sequences"] == r.report["counts"]["sequence_candidates"] == 6
    on_disk = json.loads((tmp_path / "m" / "report.json").read_text())
    assert on_disk["stopping"]["n_samples"] == -1 and on_disk["stopping"]["min_distance"] == 1e-6
    assert on_disk["config"]["stopping_condition"]["n_samples"] == -1 and r.config.n_samples is None
    r = _run(scenes_input, tmp_path / "n", selected_sequence_length=20, **{"stopping_condition.n_samples": 400})
    assert r.report["stopping"]["reason"] == "all_candidates" and r.report["stopping"]["all_candidates_selected"]
    assert "only" in r.report["stopping"]["message"]
    # The covering radius after five picks is 0.41 and after four 0.64: min_distance 0.5 stops at five.
    r = _run(scenes_input, tmp_path / "d", selected_sequence_length=20, **{"stopping_condition.min_distance": 0.5})
    assert (r.report["stopping"]["reason"], r.report["counts"]["selected_sequences"]) == ("min_distance", 5)


def test_jpg_dump(scenes_input: Path, tmp_path: Path) -> None:
    r = _run(
        scenes_input,
        tmp_path / "j",
        selected_sequence_length=5,
        dump_dataset=True,
        output_image_format="jpg",
        **{"stopping_condition.n_samples": 10},
    )
    sampled = tmp_path / "j/data/sampled"
    files = {p.relative_to(sampled).as_posix() for p in sampled.rglob("*") if p.is_file()}
    # video frames are encoded as JPEG; the folder's PNG frames are copied under their own names
    want = {n if n.startswith("folder/") else n.rsplit(".", 1)[0] + ".jpg" for n in r.selected_frame_names}
    assert files == want and len(files) == 10


def test_no_candidate_sequence(scenes_input: Path, tmp_path: Path) -> None:
    with pytest.raises(NoCandidatesError, match="selected_sequence_length"):
        _run(scenes_input, tmp_path / "x", selected_sequence_length=100, **{"stopping_condition.n_samples": 100})
    assert not (tmp_path / "x" / "report.json").exists()


def test_output_inside_input_refused(scenes_input: Path) -> None:
    with pytest.raises(InputError, match="inside input_dir"):
        _run(scenes_input, scenes_input / "out", **{"stopping_condition.n_samples": 1})
    assert not (scenes_input / "out").exists()


def test_typed_results_are_what_report_json_and_candidates_npz_hold(run_60) -> None:  # type: ignore[no-untyped-def]
    from framepick.results import Candidates, RunSummary

    result, out = run_60
    report = json.loads((out / "report.json").read_text())
    summary = RunSummary.from_json(report)
    assert summary == result.summary
    again = summary.to_json()
    assert list(again) == [k for k in report if k not in ("page",)]  # same keys, same order
    for key, value in again.items():
        if key == "metrics":  # the report adds metrics.coverage beside the run's own numbers
            assert {k: report[key][k] for k in value} == value
        elif key == "sources":  # ... and each source's candidates and selected sequences
            assert [{k: r[k] for k in v} for r, v in zip(report[key], value)] == value
        else:
            assert report[key] == value, key
    loaded = Candidates.load(out / "data/candidates.npz")
    assert loaded.first_names == result.candidates.first_names and loaded.length == 10
    for name in ("source", "start", "embeddings", "rank", "embeddings_row", "radii"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(result.candidates, name))
    np.testing.assert_array_equal(loaded.selected, result.selection.indices)
    assert summary.selected_frame_names == result.selected_frame_names


def test_candidates_file_errors_are_output_errors(tmp_path: Path) -> None:
    from framepick.results import Candidates

    with pytest.raises(framepick.OutputError, match="missing"):
        Candidates.load(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(framepick.OutputError, match="not a framepick candidates file"):
        Candidates.load(tmp_path / "bad.npz")
