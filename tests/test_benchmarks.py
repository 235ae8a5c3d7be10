"""The benchmark scripts' own functions on tiny inputs, checked against results computed here.

What each benchmark reports rests on these functions: the deterministic input, the
correctness checks (fast kernel against the reference), the baseline being the same model,
the quality measures and the projection's arithmetic. Timings are not checked, and nor are
the scripts' ``main`` (their ``--smoke`` size is a constant of the script, not a result).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from media import decode_all

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _bench_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEPICK_BENCH_DATA", str(tmp_path_factory.getbasetemp() / "bench-data"))
    monkeypatch.syspath_prepend(str(BENCH))
    for name in [m for m in sys.modules if m == "_common" or m.startswith("bench_")]:
        del sys.modules[name]


# --- the input --------------------------------------------------------------------------------


def test_generated_clips_are_the_same_pixels_for_the_same_seed(tmp_path: Path) -> None:
    import _common as common

    a = common.make_clip(tmp_path / "a.mp4", 5, 320, 180, scene_len=3, seed=4)
    b = common.make_clip(tmp_path / "b.mp4", 5, 320, 180, scene_len=3, seed=4)
    c = common.make_clip(tmp_path / "c.mp4", 5, 320, 180, scene_len=3, seed=5)
    frames_a, frames_b, frames_c = (np.stack(decode_all(p)) for p in (a, b, c))
    assert frames_a.shape == (5, 180, 320, 3)
    np.testing.assert_array_equal(frames_a, frames_b)
    assert not np.array_equal(frames_a, frames_c)


def test_video_like_points_are_seeded() -> None:
    import bench_select

    x = bench_select.video_like(3000, 8)
    assert x.shape == (3000, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(x, bench_select.video_like(3000, 8))
    assert not np.array_equal(x, bench_select.video_like(3000, 8, seed=1))


# --- selection: the fast kernel against the reference ----------------------------------------


def test_select_case_compares_the_fast_kernel_with_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench_select

    from framepick import _kcenter
    from framepick.select import covering_radius

    x = bench_select.video_like(3000, 8)
    first = int(np.random.default_rng(0).integers(len(x)))
    picks, _, _ = _kcenter.kcenter_reference(x, 40, first)
    r = bench_select.case("frames", x, 40, reference_picks=10)
    assert r["identical"] and (r["reference_picks_run"], r["reference_extrapolated"]) == (10, True)
    assert r["final_radius"] == pytest.approx(covering_radius(x, picks), rel=1e-5)

    fast = _kcenter.kcenter_fast

    def one_pick_off(x: np.ndarray, k: int, first: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
        picked, radii, by_distance = fast(x, k, first)
        picked = picked.copy()
        picked[3] = picked[4]
        return picked, radii, by_distance

    monkeypatch.setattr(_kcenter, "kcenter_fast", one_pick_off)
    assert not bench_select.case("frames", x, 40, reference_picks=10)["identical"]


def test_strategies_case_honours_every_strategy() -> None:
    import bench_select
    import bench_strategies

    k = 30
    r = bench_strategies.case(bench_select.video_like(2000, 8), k)
    assert r["identical"], "DIVERSITY alone picks what kcenter_fast picks"
    assert r["combined_picks"] == k and r["combined_all_allowed"], "THRESHOLD: only allowed points"
    # BALANCE 0.5/0.3/0.2 reached within one pick; WEIGHTS pull the picks to heavier points
    assert all(abs(c - t * k) <= 1 for c, t in zip(r["combined_category_counts"], bench_strategies.TARGET))
    assert sum(r["combined_category_counts"]) == k
    assert r["combined_mean_weight"] > r["mean_weight_allowed"]


# --- throughput: the limits and the usual way -------------------------------------------------


def test_decode_only_decodes_every_frame_at_the_model_size(tmp_path: Path) -> None:
    import _common as common
    import bench_throughput

    from framepick import discover

    for i, n in enumerate((5, 7)):
        common.make_clip(tmp_path / f"clip{i}.mp4", n, 64, 48, scene_len=3, seed=i)
    _, pixels, n = bench_throughput.decode_only(discover(tmp_path), 32)
    assert n == sum(len(decode_all(p)) for p in tmp_path.glob("*.mp4")) == 12
    assert pixels.shape == (12, 32, 32, 3) and pixels.dtype == np.uint8


@pytest.mark.slow
def test_usual_way_embeds_what_framepick_s_model_embeds(tmp_path: Path) -> None:
    """The baseline is the same model on the same pixels (only the way there differs): its
    CSV holds, per extracted PNG, the fp32 model's normalised embedding."""
    import _common as common
    import bench_throughput
    from PIL import Image

    from framepick.embed import TorchEmbedder

    common.make_clip(tmp_path / "in" / "a.mp4", 6, 320, 180, scene_len=3, seed=4)
    (tmp_path / "work").mkdir()
    base = bench_throughput.usual_way(tmp_path / "in", tmp_path / "work", 64, 2, 0)
    assert base["frames"] == 6
    with open(tmp_path / "work" / "embeddings.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["filenames", *(f"embedding_{i}" for i in range(1280)), "labels"]
    names = [r[0] for r in rows]
    assert names == sorted(p.name for p in (tmp_path / "work" / "frames").iterdir())
    got = np.array([[float(v) for v in r[1:-1]] for r in rows], np.float32)
    pixels = np.stack(
        [
            np.asarray(Image.open(tmp_path / "work" / "frames" / n).convert("RGB").resize((64, 64), Image.BILINEAR))
            for n in names
        ]
    )
    want = TorchEmbedder(64, "cpu").embed(pixels)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-4)


# --- quality measures -------------------------------------------------------------------------


def test_quality_sequence_means_stay_within_each_source() -> None:
    import bench_quality

    emb = np.arange(12, dtype=np.float32)[:, None] * np.array([[1.0, -1.0]], np.float32)
    # sources of 7 and 5 frames, sequences of 2: rows 6 and 11 are incomplete tails
    means = bench_quality.seq_means(emb, [7, 5], 2)
    np.testing.assert_array_equal(means[:, 0], [0.5, 2.5, 4.5, 7.5, 9.5])
    # sequences of 4 embedded every 2nd frame: rows 0, 2 | 4, 6 of the first source, 7, 9 of the second
    means = bench_quality.seq_means(emb, [8, 4], 4, stride=2)
    np.testing.assert_array_equal(means[:, 0], [1.0, 5.0, 9.0])


def test_peers_quality_counts_scenes_and_the_covering_radius() -> None:
    import bench_peers

    labels = np.array([0, 0, 1, 1, 2, 2])
    ref = np.array([[0, 0], [1, 0], [10, 0], [11, 0], [20, 0], [21, 0]], np.float32)
    q = bench_peers._quality([2, 0, 2], labels, ref, ref_radius=5.5)
    assert q["picks"] == 2  # a frame picked twice counts once
    assert q["scenes_covered"] == pytest.approx(2 / 3)
    assert (q["radius"], q["radius_ratio"]) == pytest.approx((11.0, 2.0))  # frame 5 to frame 2


def test_peers_frame_index_from_picked_names() -> None:
    import bench_peers

    assert bench_peers._index("scenes-0042-mp4.png") == 42
    assert bench_peers._index("frames/frame_00095.jpg") == 95
    assert bench_peers._index("sub/dir2/scenes-0007-mp4.png") == 7
    with pytest.raises(ValueError, match="no frame number"):
        bench_peers._index("cover.jpg")


def test_peers_labels_index_the_jpegs_and_the_video_alike() -> None:
    """Picks from the JPEG folder and from the clip are scored with one labels.json: frame i of
    either input must be the same picture, and its label the scene it shows."""
    import bench_peers
    from PIL import Image

    root = bench_peers.make_scenes(3, 20, 192, 144)
    labels = json.loads((root / "labels.json").read_text())
    jpegs = sorted((root / "frames").iterdir())
    video = np.stack(decode_all(root / "video" / "scenes.mp4")).astype(np.float32)
    assert len(labels) == len(jpegs) == len(video) == 60
    assert labels == sorted(labels) and set(labels) == {0, 1, 2}
    # the label changes where the picture cuts to the next photograph
    steps = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
    cuts = sorted(int(i) + 1 for i in np.argsort(steps)[-2:])
    assert cuts == [labels.index(1), labels.index(2)], steps
    for i, path in enumerate(jpegs):
        jpeg = np.asarray(Image.open(path).convert("RGB"), np.float32)
        errors = np.abs(video - jpeg).mean(axis=(1, 2, 3))
        assert int(np.argmin(errors)) == i, (path.name, errors)


# --- scaling: the projection's arithmetic (the timed k-center: tests/test_scaling_projection.py) ---


def test_scaling_segments_and_power_fit() -> None:
    import bench_scaling

    # picks 1-10 take 2 ms each, picks 11-25 1 ms each
    stamps = np.concatenate([[0.0], np.cumsum([0.002] * 10 + [0.001] * 15)])
    segments = bench_scaling._segments(stamps, n=1000)
    assert [s["picks"] for s in segments] == [[2, 10], [11, 25]]
    assert [s["ms_per_pick"] for s in segments] == pytest.approx([2.0, 1.0])
    assert [s["ns_per_point_per_pick"] for s in segments] == pytest.approx([2000.0, 1000.0])
    ns = [1_000, 10_000, 100_000]
    assert bench_scaling.fit_power(ns, [3e-6 * n**1.2 for n in ns]) == pytest.approx((3e-6, 1.2))


def test_scaling_projection_arithmetic() -> None:
    """docs/scaling.md's table from made-up costs: 10 ms decode + 20 ms embed (the faster
    batch) per frame and core, 16-core nodes, a driver loop of 0.02 ms per frame."""
    import bench_scaling

    fig = {
        "machine": {"cores": 2},
        "frame_costs": {
            "decode": {"threaded": {"cpu_ms_per_frame": 10.0}},
            "embed": {
                "batch_1": {"fps": 50.0, "cpu_ms_per_frame": 40.0},
                "batch_32": {"fps": 100.0, "cpu_ms_per_frame": 20.0},
            },
        },
        "runs": {
            "frames": 100,
            "local": {"stage_sec": {"decode_embed": 2.0}, "table_bytes_per_frame": {"other": 100.0}},
            "ray_2cpu": {"measured": True, "executor_only": {"fps": 60.0, "driver_cpu_ms_per_frame": 0.02}},
        },
    }
    p = bench_scaling.project(fig)
    frames = 1_000 * 3600 * 30
    node = 16 / 0.030  # frames/s of a 16-core node: 533
    assert p["embed_batch_used"] == "batch_32" and p["frames"] == frames
    assert (p["cpu_node_fps_high"], p["cpu_node_fps_low"]) == pytest.approx((node, 16 * 30.0))
    assert p["driver_executor_fps_limit"] == pytest.approx(50_000)
    rows = {r["nodes"]: r["cpu"] for r in p["rows"]}
    assert rows[1]["limit"] == "workers" and rows[1]["fps"] == pytest.approx(node)
    assert rows[1]["hours"] == pytest.approx(frames / node / 3600)
    # 256 nodes would do 136,533 frames/s: the driver's loop (50,000/s) is the limit
    assert rows[256]["limit"] == "driver executor loop (one core)" and rows[256]["fps"] == pytest.approx(50_000)
    assert rows[256]["fps_without_driver_loop"] == pytest.approx(256 * node)
    assert p["selection"]["L=10"]["candidates"] == frames // 10


# --- engines: ONNX Runtime's saved optimised model ---------------------------------------------


@pytest.mark.slow
def test_ort_saved_optimised_model_gives_the_export_s_outputs(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import bench_engines

    out = bench_engines.ort_saved_section(32, 8, 1, tmp_path / "ort")
    assert out["max_abs_diff"] < 1e-4
    assert len(list((tmp_path / "ort").glob("*.ort-optimised.onnx"))) == 1


def test_training_knn_leaves_the_frames_own_shot_out() -> None:
    """bench_training's kNN accuracy: a frame's own clip never answers for it. Here every frame's
    nearest frames are its own shot's (which would say "right"), and the nearest of the other
    shots are of another scene: 0, not 1."""
    import bench_training

    # scene 0: shots 0 and 1; scene 1: shots 2 and 3. Shot 1 looks like scene 1's shot 2, and so on.
    emb = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1], [0, 1], [0.02, 1], [1, 0], [1, 0.02]], np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    label = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    shot = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert bench_training.knn_accuracy(emb, label, shot, k=1) == 0.0
    # the same frames, the shots relabelled so that look-alikes share a scene: all right
    assert bench_training.knn_accuracy(emb, np.array([0, 0, 1, 1, 1, 1, 0, 0]), shot, k=1) == 1.0


# --- shots (bench_shots) ----------------------------------------------------------------------


def test_shot_clips_have_their_cuts_where_they_say(tmp_path: Path) -> None:
    import bench_shots

    cuts = bench_shots.generated_clip(tmp_path / "a.mp4", 3, seed=2, width=64, height=48)
    frames = np.stack(decode_all(tmp_path / "a.mp4")).astype(np.float64)
    assert len(cuts) == 2 and 20 <= cuts[0] and cuts[1] - cuts[0] >= 20 and len(frames) - cuts[1] >= 20
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # steps[i]: frame i to i + 1
    assert set(np.argsort(steps)[-2:] + 1) == set(cuts)  # the two largest pixel steps are the cuts
    assert bench_shots.generated_clip(tmp_path / "b.mp4", 3, seed=2, width=64, height=48) == cuts


def test_shot_measures_on_a_hand_made_selection() -> None:
    from types import SimpleNamespace

    import bench_shots

    # one source of 40 frames, cuts at 12 and 30 (shots of 12, 18, 10 frames); L = 10
    embeddings = np.zeros((40, 2), np.float32)
    embeddings[12:30, 0] = 1.0
    embeddings[30:, 1] = 3.0
    rows = np.array([np.arange(0, 10), np.arange(5, 15), np.arange(20, 30)])  # the second holds the cut at 12

    class Picked:  # the run's sequences: rows, and len() = how many candidates
        def __init__(self, rows: np.ndarray) -> None:
            self.rows = rows

        def __len__(self) -> int:
            return len(self.rows)

    result = SimpleNamespace(
        table=SimpleNamespace(source=np.zeros(40, np.int32), index=np.arange(40), embeddings=embeddings),
        selection=SimpleNamespace(indices=np.array([0, 1, 2])),
        sequences=Picked(rows),
        sources=[SimpleNamespace(name="v.mp4")],
        report={"metrics": {"covering_radius": 0.5}},
    )
    got = bench_shots.selection_figures(result, {"v.mp4": [12, 30]})
    assert got["share_holding_a_cut"] == pytest.approx(1 / 3)
    # shots of at least 10 frames: all three; covered: shot 0 (twice: 5..14 is mostly shot 0) and shot 1
    assert (got["shots_long_enough"], got["shot_coverage"]) == (3, pytest.approx(2 / 3))
    # the farthest frame: shot 2's (0, 3), nearest selected frames (0, 0) or (1, 0): distance 3
    assert got["frame_covering_radius"] == pytest.approx(3.0)


# --- a whole run with many candidates (bench_million_run) ----------------------------------------


def test_million_run_selects_from_every_candidate_at_a_small_size(tmp_path: Path) -> None:
    """The script's run, at 3 x 40 frames: every frame is a candidate (distinct frames, names
    that join the precomputed embeddings), k of them are selected, and the figures are the run's."""
    import bench_million_run

    got = bench_million_run.measure(tmp_path / "m", videos=3, frames=40, k=12, keep=True)
    assert (got["candidates"], got["selected"]) == (120, 12)
    report = json.loads((tmp_path / "m" / "out" / "report.json").read_text())
    assert (report["counts"]["frames_usable"], report["counts"]["sequence_candidates"]) == (120, 120)
    assert got["output_bytes"]["data/embeddings.npy"] == 128 + 120 * bench_million_run.DIM * 4
    assert set(got["timings_sec"]) >= {"decode_embed", "checks", "select"}
    assert got["run_peak_rss_gb"] > 0
