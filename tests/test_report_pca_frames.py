"""The frame map (plots/scatter_pca.png and the page's "Frames of the selected sequences"): the
frames of the selected sequences on the PCA of all candidate frames, one trail per sequence.

The README demo selects 20 sequences of 10 frames and its figure shows 200 points in 20 trails;
here the same shape comes from generated videos and the cheap ``FakeEmbedder``, and the data
behind the figure (data/report_stats.npz, the page's SVG) is checked against an independent PCA
of data/embeddings.csv.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import framepick
from framepick import load_config
from framepick.report import ReportInputs, build_report, make_stats, rebuild_report
from framepick.report.data import CandidateFrames
from framepick.report.page import PALETTE
from framepick.report.projections import frames_2d
from framepick.report.stats import REPORT_STATS_NPZ, ReportStats
from media import FakeEmbedder, scene_frame, write_video

LENGTH, PICKS = 10, 20


@pytest.fixture(scope="module")
def many_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320 frames (32 candidate sequences of 10) in two videos and a frame folder, no two alike.

    The moving square of :func:`media.scene_frame` is at a different place for each ``t`` below
    84, so a scene shown at ``t`` 0-39 in one source and 40-79 in another has no duplicate frame.
    """
    root = tmp_path_factory.mktemp("frames_input")
    write_video(root / "a.mp4", [scene_frame(s, t) for s in ("checker", "stripes", "noise") for t in range(40)])
    write_video(root / "b.mp4", [scene_frame(s, t) for s in ("gradient", "circles", "diagonal") for t in range(40)])
    (root / "c").mkdir()
    for i, (scene, t) in enumerate([("checker", t) for t in range(40, 80)] + [("circles", t) for t in range(40, 80)]):
        Image.fromarray(scene_frame(scene, t)).save(root / "c" / f"frame_{i:03d}.png")
    return root


def _run(input_dir: Path, out: Path, *, model: bool = True, **settings: Any) -> Path:
    """A run with the fake embedder (``model=False``: none, for precomputed ``embeddings``)."""
    cfg = load_config(
        overrides={
            "input_dir": str(input_dir),
            "output_dir": str(out),
            "selected_sequence_length": LENGTH,
            "stopping_condition.n_samples": PICKS * LENGTH,
            **settings,
        }
    )
    framepick.run(cfg, embedder=FakeEmbedder() if model else None)
    return out


@pytest.fixture(scope="module")
def run_20x10(many_scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(many_scenes, tmp_path_factory.mktemp("frames") / "out")


def _csv(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def _independent_map(out: Path) -> tuple[np.ndarray, list[float]]:
    """The selected frames (selection order, then frame order) on the two principal axes of every
    candidate frame, from the run's files with NumPy's SVD; signs as framepick fixes them."""
    names, x = _csv(out / "data" / "embeddings.csv")
    row_of = {n: i for i, n in enumerate(names)}
    with open(out / "data" / "candidates.csv", newline="") as fh:
        firsts = [int(r["embeddings_row"]) for r in csv.DictReader(fh)]
    cand = x[np.concatenate([np.arange(f, f + LENGTH) for f in firsts])]
    mean = cand.mean(0)
    _, sv, vt = np.linalg.svd(cand - mean, full_matrices=False)
    axes = vt[:2] * np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(1)])[:, None]
    info = json.loads((out / "data" / "sequence_information.json").read_text())
    picked = x[[row_of[n] for seq in info for n in seq["frame_names"]]]
    return (picked - mean) @ axes.T, list(sv[:2] ** 2 / (sv**2).sum())


def _frame_svg(html: str) -> ET.Element:
    match = re.search(r'<svg class="fmap".*?</svg>', html, re.S)
    assert match is not None, "the page has no frame map"
    return ET.fromstring(match.group(0))


def _trails(html: str) -> list[tuple[int, str, list[tuple[float, float]], int]]:
    """Each trail of the page's frame map: rank, colour, its polyline's points, its dots."""
    out = []
    for g in _frame_svg(html).iter("g"):
        line = g.find("polyline")
        points = [] if line is None else [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
        dots = g.find("path")
        assert dots is not None
        out.append((int(g.get("data-rank", "0")), g.get("stroke", ""), points, dots.get("d", "").count("M")))
    return out


# ----------------------------------------------------------------------------- the run's figure


def test_the_run_saves_200_frame_points_in_20_trails(run_20x10: Path) -> None:
    """'For the demo run, scatter_pca.png has 200 frame points in 20 trails': the data behind it."""
    report = json.loads((run_20x10 / "report.json").read_text())
    assert report["counts"]["selected_sequences"] == PICKS and report["counts"]["sequence_candidates"] == 32
    frames = ReportStats.load(run_20x10 / REPORT_STATS_NPZ).frames
    assert frames is not None and frames.xy.shape == (PICKS * LENGTH, 2)
    # 20 trails of 10, in selection order, each sequence's frames in frame order
    assert frames.sequence.tolist() == np.repeat(np.arange(PICKS), LENGTH).tolist()
    assert frames.offset.tolist() == np.tile(np.arange(LENGTH), PICKS).tolist()
    assert (frames.candidate_frames, frames.fit_frames) == (320, 320)  # every candidate frame, none sampled
    xy, ratio = _independent_map(run_20x10)
    assert np.allclose(frames.xy, xy, atol=1e-5)  # embeddings.csv keeps 9 digits
    assert frames.ratio == pytest.approx(ratio, abs=1e-6)
    assert report["page"]["frame_map"] == {
        "points": 200,
        "frames": 200,
        "sequences": 20,
        "selected_sequences": 20,
        "candidate_frames": 320,
        "fit_frames": 320,
        "pca_variance_ratio": frames.ratio,
    }
    assert report["page"]["plots"][:2] == ["plots/scatter_pca.png", "plots/scatter_pca_candidates.png"]
    for name in ("scatter_pca.png", "scatter_pca_candidates.png"):
        assert (run_20x10 / "plots" / name).stat().st_size > 10_000, name


def test_the_page_draws_20_polylines_of_10_points(run_20x10: Path) -> None:
    html = (run_20x10 / "report.html").read_text()
    trails = _trails(html)
    assert [t[0] for t in trails] == list(range(1, PICKS + 1))
    assert all(len(points) == LENGTH and dots == LENGTH for _, _, points, dots in trails)
    # in the source's colour, and the same picture as the saved coordinates (x right, y up)
    info = json.loads((run_20x10 / "data" / "sequence_information.json").read_text())
    sources = [s["name"] for s in json.loads((run_20x10 / "report.json").read_text())["sources"]]
    assert [t[1] for t in trails] == [PALETTE[sources.index(s["video_name"])] for s in info]
    frames = ReportStats.load(run_20x10 / REPORT_STATS_NPZ).frames
    assert frames is not None
    drawn = np.array([p for t in trails for p in t[2]])
    assert np.corrcoef(drawn[:, 0], frames.xy[:, 0])[0, 1] > 0.999
    assert np.corrcoef(drawn[:, 1], frames.xy[:, 1])[0, 1] < -0.999  # SVG's y grows downwards
    # the candidates' map is as before: one circle per candidate
    assert re.search(r'<svg class="map" id="map-pca".*?</svg>', html, re.S).group(0).count("<circle") == 32  # type: ignore[union-attr]
    assert 'href="#frame-map"' in html and "on the PCA of all 320 candidate frames" in html


def test_the_figures_are_drawn_from_the_saved_data(
    run_20x10: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plots/scatter_pca.png gets the 200 frames (20 sequences, source colours); the candidates'
    plot keeps what scatter_pca.png showed before: every candidate, the selected outlined."""
    import framepick.report.plots as plots

    calls: dict[str, list[tuple[Any, ...]]] = {"plot_trails": [], "plot_scatter": []}
    for name in calls:
        real = getattr(plots, name)

        def spy(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> None:
            calls[_name].append(args)
            _real(*args, **kwargs)

        monkeypatch.setattr(plots, name, spy)
    out = tmp_path / "copy"
    shutil.copytree(run_20x10, out)
    rebuild_report(out)
    ((path, xy, sequence, point_source, _, _, title, axes),) = calls["plot_trails"]
    assert path.name == "scatter_pca.png" and xy.shape == (200, 2) and len(np.unique(sequence)) == 20
    assert title == "PCA of candidate frames: the 200 frames of the 20 selected sequences"
    assert axes[0].startswith("PC 1 (") and "candidate frames' variance" in axes[0]
    info = json.loads((out / "data" / "sequence_information.json").read_text())
    names = [s["name"] for s in json.loads((out / "report.json").read_text())["sources"]]
    assert point_source.tolist() == [names.index(s["video_name"]) for s in info for _ in range(LENGTH)]
    ((path, cand_xy, _, selected, *_),) = calls["plot_scatter"]
    assert path.name == "scatter_pca_candidates.png" and len(cand_xy) == 32 and int(selected.sum()) == 20
    assert np.array_equal(cand_xy, ReportStats.load(out / REPORT_STATS_NPZ).pca_xy)


# ----------------------------------------------------------------------------- framepick report


def test_rebuild_draws_the_same_frame_map_without_reading_embeddings(
    run_20x10: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import framepick.embeddings_csv
    import framepick.report.projections

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a rebuild of a current run loads the frame map")

    monkeypatch.setattr(framepick.embeddings_csv, "read_embeddings_csv", forbidden)
    monkeypatch.setattr(framepick.report.projections, "fit_pca", forbidden)
    out = tmp_path / "copy"
    shutil.copytree(run_20x10, out)
    stats_bytes = (out / REPORT_STATS_NPZ).read_bytes()
    shutil.rmtree(out / "plots")
    (out / "report.html").unlink()
    report = rebuild_report(out)
    before = json.loads((run_20x10 / "report.json").read_text())
    assert report["page"]["frame_map"] == before["page"]["frame_map"]
    assert _trails((out / "report.html").read_text()) == _trails((run_20x10 / "report.html").read_text())
    assert (out / "plots" / "scatter_pca.png").is_file() and (out / "plots" / "scatter_pca_candidates.png").is_file()
    assert (out / REPORT_STATS_NPZ).read_bytes() == stats_bytes  # loaded, not written again


def _strip_frame_map(out: Path) -> ReportStats:
    """data/report_stats.npz as a framepick before the frame map saved it; returns the full one."""
    stats = ReportStats.load(out / REPORT_STATS_NPZ)
    dataclasses.replace(stats, frames=None).save(out / REPORT_STATS_NPZ)
    with np.load(out / REPORT_STATS_NPZ) as data:
        assert not any(k.startswith("frame") for k in data.files)
    return stats


def test_an_older_stats_file_gets_its_frame_map_from_embeddings_csv(run_20x10: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(run_20x10, out)
    (out / "data" / "embeddings.npy").unlink()  # the CSV alone
    full = _strip_frame_map(out)
    report = rebuild_report(out)
    again = ReportStats.load(out / REPORT_STATS_NPZ)  # computed once, and saved
    assert full.frames is not None and again.frames is not None
    assert np.allclose(again.frames.xy, full.frames.xy, atol=1e-5)
    assert np.array_equal(again.frames.sequence, full.frames.sequence)
    assert np.array_equal(again.frames.offset, full.frames.offset)
    assert np.array_equal(again.pca_xy, full.pca_xy) and again.coverage == full.coverage  # nothing else changes
    assert report["page"]["frame_map"]["points"] == 200
    trails = _trails((out / "report.html").read_text())
    assert len(trails) == PICKS and all(len(t[2]) == LENGTH for t in trails)


def test_embeddings_npy_holds_the_csv_rows(run_20x10: Path) -> None:
    names, x = _csv(run_20x10 / "data" / "embeddings.csv")
    npy = np.load(run_20x10 / "data" / "embeddings.npy")
    assert npy.dtype == np.float32 and len(names) == len(npy) > 0
    np.testing.assert_array_equal(npy, x[:, :-1].astype(np.float32))  # 9 digits round-trip float32; then labels


@pytest.mark.parametrize("npy", ["matching", "wrong_shape"])
def test_an_older_stats_file_gets_its_frame_map_from_embeddings_npy(
    run_20x10: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, npy: str
) -> None:
    """data/embeddings.npy is read instead of the CSV when it has the run's shape; else the CSV."""
    import framepick.embeddings_csv

    out = tmp_path / "copy"
    shutil.copytree(run_20x10, out)
    full = _strip_frame_map(out)
    reads: list[Path] = []
    real = framepick.embeddings_csv.read_embeddings_csv

    def counting(path: Path) -> dict[str, np.ndarray]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(framepick.embeddings_csv, "read_embeddings_csv", counting)
    if npy == "wrong_shape":
        np.save(out / "data" / "embeddings.npy", np.load(out / "data" / "embeddings.npy")[:-1])
    report = rebuild_report(out)
    again = ReportStats.load(out / REPORT_STATS_NPZ)
    assert full.frames is not None and again.frames is not None
    assert np.allclose(again.frames.xy, full.frames.xy, atol=1e-5)
    assert np.array_equal(again.frames.sequence, full.frames.sequence)
    assert report["page"]["frame_map"]["points"] == 200
    assert len(reads) == (0 if npy == "matching" else 1)


def test_an_older_stats_file_without_embeddings_csv_still_rebuilds(run_20x10: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(run_20x10, out)
    _strip_frame_map(out)
    (out / "data" / "embeddings.csv").unlink()
    (out / "data" / "embeddings.npy").unlink()
    report = rebuild_report(out)
    html = (out / "report.html").read_text()
    assert report["page"]["frame_map"] is None and 'id="frame-map-missing"' in html and 'class="fmap"' not in html
    note = next(n for n in report["page"]["notes"] if "frame map" in n)
    assert note.startswith("plots/scatter_pca.png and the frame map are not drawn") and "embeddings.csv" in note
    assert not (out / "plots" / "scatter_pca.png").exists()  # the run's is removed: it would not match the page
    assert (out / "plots" / "scatter_pca_candidates.png").is_file()
    assert "plots/scatter_pca.png" not in report["page"]["plots"]
    assert ReportStats.load(out / REPORT_STATS_NPZ).frames is None  # nothing was saved


# ----------------------------------------------------------------------------- stride, precomputed, L=1


def test_strided_embedding_leaves_the_frames_without_an_embedding_out(
    run_20x10: Path, many_scenes: Path, tmp_path: Path
) -> None:
    out = _run(many_scenes, tmp_path / "out", embedding_frame_stride=3)
    report = json.loads((out / "report.json").read_text())
    frames = ReportStats.load(out / REPORT_STATS_NPZ).frames
    assert frames is not None and len(frames) == PICKS * 4  # frames 0, 3, 6, 9 of each sequence
    assert frames.offset.tolist() == [0, 3, 6, 9] * PICKS and frames.candidate_frames == 32 * 4
    assert "120 of the 200 selected frames have no embedding (embedding_frame_stride=3)" in " ".join(
        report["page"]["notes"]
    )
    trails = _trails((out / "report.html").read_text())
    assert len(trails) == PICKS and all(len(t[2]) == 4 for t in trails)
    assert "4 of its 10 frames have an embedding" in (out / "report.html").read_text()
    # a rebuild of an older file reads the same embedded frames from embeddings.csv
    _strip_frame_map(out)
    rebuild_report(out)
    again = ReportStats.load(out / REPORT_STATS_NPZ).frames
    assert again is not None and np.allclose(again.xy, frames.xy, atol=1e-5)
    assert again.offset.tolist() == frames.offset.tolist()


def test_precomputed_embeddings_give_every_frame(run_20x10: Path, many_scenes: Path, tmp_path: Path) -> None:
    """embeddings=PATH gives every frame its row, stride or not: the same map as the run that wrote the file."""
    source = ReportStats.load(run_20x10 / REPORT_STATS_NPZ).frames
    out = _run(
        many_scenes,
        tmp_path / "out",
        model=False,
        embeddings=str(run_20x10 / "data" / "embeddings.csv"),
        embedding_frame_stride=3,
    )
    frames = ReportStats.load(out / REPORT_STATS_NPZ).frames
    assert source is not None and frames is not None and len(frames) == PICKS * LENGTH
    assert np.allclose(frames.xy, source.xy, atol=1e-5)
    _strip_frame_map(out)
    rebuild_report(out)
    again = ReportStats.load(out / REPORT_STATS_NPZ).frames
    assert again is not None and np.allclose(again.xy, frames.xy, atol=1e-5)


def test_single_frames_are_points_on_the_candidates_pca(
    many_scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(many_scenes, tmp_path / "out", selected_sequence_length=1, **{"stopping_condition.n_samples": 15})
    stats = ReportStats.load(out / REPORT_STATS_NPZ)
    assert stats.frames is not None and len(stats.frames) == 15 and stats.frames.sequence.tolist() == list(range(15))
    with open(out / "data" / "candidates.csv", newline="") as fh:
        ranked = {int(r["selected_rank"]): int(r["candidate"]) for r in csv.DictReader(fh)}
    selected = np.array([ranked[r] for r in range(1, 16)])
    # one frame per candidate: the frames' PCA is the candidates' (every frame of the run)
    assert np.allclose(stats.frames.xy, stats.pca_xy[selected], atol=1e-9)
    html = (out / "report.html").read_text()
    trails = _trails(html)
    assert len(trails) == 15 and all(points == [] and dots == 1 for _, _, points, dots in trails)
    assert "<polyline" not in html and "all 15 selected frames on the PCA of all 320 candidate frames" in html
    # an older file rebuilds from the candidates: embeddings.csv is not read
    import framepick.embeddings_csv

    def forbidden(*args: Any) -> None:
        raise AssertionError("one frame per sequence: the candidates are the frames")

    monkeypatch.setattr(framepick.embeddings_csv, "read_embeddings_csv", forbidden)
    _strip_frame_map(out)
    rebuild_report(out)
    again = ReportStats.load(out / REPORT_STATS_NPZ).frames
    assert again is not None and np.allclose(again.xy, stats.frames.xy, atol=1e-9)


# ----------------------------------------------------------------------------- bounds


def _synthetic(m: int, k: int, length: int, dim: int = 8) -> ReportInputs:
    """A run's inputs without media: ``m`` candidates of ``length`` frames in two sources."""
    rng = np.random.default_rng(4)
    frame_emb = rng.normal(size=(m * length, dim)).astype(np.float32)
    rows = np.arange(m * length).reshape(m, length)
    source = np.arange(m) % 2
    report: dict[str, Any] = {
        "counts": {"sequence_length": length, "sequence_candidates": m, "selected_sequences": k},
        "stopping": {"reason": "n_samples", "message": "test"},
        "metrics": {},
        "sources": [{"name": n, "kind": "video", "frames": m * length // 2} for n in ("left.mp4", "right.mp4")],
        "sequences": [],
        "config": {"seed": 0},
        "timings_sec": {},
    }
    return ReportInputs(
        report=report,
        embeddings=frame_emb.reshape(m, length, dim).mean(1),
        source=source,
        start=(np.arange(m) // 2) * length,
        names=[f"f{i}" for i in range(m)],
        length=length,
        selected=rng.permutation(m)[:k],
        embeddings_row=rows[:, 0],
        frames=CandidateFrames(frame_emb, rows, np.arange(length)),
    )


def test_sampled_fit_and_capped_map_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framepick.report.page.FRAME_MAP_POINTS", 25)
    monkeypatch.setattr("framepick.report.plots.MAX_PLOT_POINTS", 35)
    inputs = _synthetic(m=60, k=12, length=4)
    stats = make_stats(tmp_path, inputs)
    assert stats.frames is not None and (stats.frames.candidate_frames, stats.frames.fit_frames) == (240, 240)
    sampled = frames_2d(inputs.frames, inputs.selected, fit_rows=50, seed=0)  # type: ignore[arg-type]
    assert sampled.fit_frames == 50 and sampled.candidate_frames == 240
    page = build_report(
        tmp_path, inputs, None, "", rebuilt=False, stats=dataclasses.replace(stats, frames=sampled)
    ).page
    assert page["frame_map"]["points"] == 24 and page["frame_map"]["sequences"] == 6  # whole sequences only
    notes = " ".join(page["notes"])
    assert "fitted on a random sample of 50 of the 240 candidate frames (seed 0)" in notes
    assert "shows the first 6 of the 12 selected sequences (24 of 48 frames)" in notes
    trails = _trails((tmp_path / "report.html").read_text())
    assert [t[0] for t in trails] == [1, 2, 3, 4, 5, 6] and all(len(t[2]) == 4 for t in trails)
    assert (tmp_path / "plots" / "scatter_pca.png").is_file()


def test_inputs_without_frames_draw_the_candidates_only(tmp_path: Path) -> None:
    """Inputs made by hand without their frames (and length > 1): no frame map, and a note says why."""
    inputs = dataclasses.replace(_synthetic(m=20, k=5, length=3), frames=None)
    page = build_report(tmp_path, inputs, None, "", rebuilt=False, stats=make_stats(tmp_path, inputs)).page
    assert page["frame_map"] is None
    assert any("not available" in n for n in page["notes"])
    assert not (tmp_path / "plots" / "scatter_pca.png").exists()
    assert (tmp_path / "plots" / "scatter_pca_candidates.png").is_file()
