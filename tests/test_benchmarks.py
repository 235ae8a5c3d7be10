"""Smoke tests: each benchmark script runs at its smallest size (correctness only, no timings)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _bench_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEPICK_BENCH_DATA", str(tmp_path_factory.getbasetemp() / "bench-data"))
    monkeypatch.syspath_prepend(str(BENCH))
    for name in [m for m in sys.modules if m == "_common" or m.startswith("bench_")]:
        del sys.modules[name]


def test_select_benchmark(tmp_path: Path) -> None:
    import bench_select

    fig = bench_select.main(["--smoke", "--out", str(tmp_path / "s.json")])
    assert all(case["identical"] for case in fig["cases"])
    assert (tmp_path / "s.json").is_file()


def test_strategies_benchmark(tmp_path: Path) -> None:
    import bench_strategies

    bench_strategies.main(["--smoke", "--out", str(tmp_path / "st.json")])
    fig = json.loads((tmp_path / "st.json").read_text())
    assert fig["benchmark"] == "strategies-smoke" and len(fig["cases"]) == 2
    for case in fig["cases"]:
        assert case["identical"] and case["combined_picks"] == case["k"] and case["combined_all_allowed"]
        # BALANCE 0.5/0.3/0.2 reached within one pick; WEIGHTS pull the picks to heavier points
        assert all(abs(c - t * case["k"]) <= 1 for c, t in zip(case["combined_category_counts"], (0.5, 0.3, 0.2)))
        assert case["combined_mean_weight"] > case["mean_weight_allowed"]
        assert case["kcenter_sec"] > 0 and case["combined_sec"] > 0 and case["combined_peak_mb"] > 0


@pytest.mark.slow
def test_throughput_benchmark(tmp_path: Path) -> None:
    import bench_throughput

    fig = bench_throughput.main(["--smoke", "--out", str(tmp_path / "t.json")])
    assert fig["framepick"]["frames"] == 24 and fig["usual_way"]["frames"] == 24
    assert fig["framepick"]["end_to_end_fps"] > 0


@pytest.mark.slow
def test_quality_benchmark(tmp_path: Path) -> None:
    import bench_quality

    fig = bench_quality.main(["--smoke", "--out", str(tmp_path / "q.json")])
    ref = [r for r in fig["results"] if r["option"] == "reference"]
    assert len(ref) == 2 and all(r["overlap"] == 1.0 for r in ref)


@pytest.mark.slow
def test_memory_benchmark(tmp_path: Path) -> None:
    import bench_memory

    fig = bench_memory.main(["--smoke", "--out", str(tmp_path / "m.json")])
    assert fig["frames"] == 60 and fig["peak_rss_mb"] > 0


@pytest.mark.slow
def test_peers_benchmark(tmp_path: Path) -> None:
    """framepick's rows at the smallest size; fastdup's only with --fastdup-python (not in CI)."""
    import bench_peers

    fig = bench_peers.main(["--smoke", "--out", str(tmp_path / "p.json")])
    rows = {(r["input"], r["tool"]): r for r in fig["results"]}
    assert set(rows) == {("frames", "framepick"), ("video", "framepick")}
    for row in rows.values():
        assert row["seconds"] > 0 and row["picks"] == 3
        assert 0 < row["scenes_covered"] <= 1 and row["radius_ratio"] > 0
    assert bench_peers._index("scenes-0042-mp4.png") == 42 and bench_peers._index("frames/frame_00095.jpg") == 95


@pytest.mark.slow
def test_write_benchmark(tmp_path: Path) -> None:
    import bench_write

    fig = bench_write.main(["--smoke", "--out", str(tmp_path / "w.json")])
    assert len(fig["write_sec"]) == 2 and all(w > 0 for w in fig["write_sec"])
    assert fig["frames_dumped"] == 20


@pytest.mark.slow
def test_scaling_benchmark(tmp_path: Path) -> None:
    """Costs, whole runs and k-center at the smallest size; the Ray parts only where ray and
    the executor are there (recorded as not measured otherwise)."""
    import importlib.util

    import bench_scaling

    bench_scaling.main(["--smoke", "--ray-cpus", "2", "--out", str(tmp_path / "sc.json")])
    fig = json.loads((tmp_path / "sc.json").read_text())
    assert fig["benchmark"] == "scaling-smoke" and fig["machine"]["cores"] >= 1
    costs = fig["frame_costs"]
    assert costs["decode"]["threaded"]["frames"] == 24 and costs["decode"]["threaded"]["fps"] > 0
    assert all(costs["embed"][f"batch_{b}"]["fps"] > 0 for b in (1, 8, 32))
    assert costs["bytes_per_frame"] == 64 * 64 * 3 and costs["bytes_per_embedding_1280_f32"] == 5120
    assert fig["runs"]["frames"] == 24 and fig["runs"]["local"]["fps"] > 0
    if importlib.util.find_spec("ray") is None:
        assert not fig["ray_measured"] and "transfer" not in costs
    else:
        assert costs["transfer"]["put_get_frames_batch32"]["best_ms"] > 0
    if fig["ray_measured"]:
        assert fig["runs"]["ray_2cpu"]["measured"] and fig["runs"]["ray_2cpu"]["fps"] > 0
    else:
        assert fig["ray_not_measured"] and "ray_2cpu" not in fig["runs"]
    cases = fig["kcenter"]["cases"]
    assert [c["n"] for c in cases] == [20_000, 40_000]
    assert all(c["identical_to_kcenter_fast"] and c["sec"] > 0 and c["peak_extra_mb"] > 0 for c in cases)
    assert fig["kcenter"]["long"]["k"] == 120 and fig["kcenter_projection"]["at"][1]["n"] == 100_000_000
    rows = fig["projection"]["rows"]
    assert [r["nodes"] for r in rows] == [1, 4, 16, 64, 256] and rows[-1]["cpu"]["fps"] >= rows[0]["cpu"]["fps"] > 0


@pytest.mark.slow
def test_engines_benchmark(tmp_path: Path) -> None:
    """Thread counts on one core and on all, ORT's saved optimised model (same outputs), and
    torch.compile against eager (the same embeddings)."""
    import os

    pytest.importorskip("onnxruntime")
    import bench_engines

    fig = bench_engines.main(["--smoke", "--out", str(tmp_path / "e.json")])
    rows = fig["threads"]
    assert [r["cores"] for r in rows] == sorted({1, len(os.sched_getaffinity(0))})
    for row in rows:
        assert 1 <= row["usable_cpus"] <= row["cores"], "the child is pinned to its cores"
        assert "onnx" in row["engines"], row["engines"]
        for engine in row["engines"].values():
            assert engine["default_threads"] == row["usable_cpus"] and engine["default_images_per_sec"] > 0
        assert row["run_jpeg_folder"]["sec"] > 0 and row["run_h264_clip"]["stages"]
    ort = fig["ort_saved_optimised"]
    assert ort["max_abs_diff"] < 1e-4 and ort["from_saved_optimised"]["session_sec"] > 0
    for row in fig["torch_compile"].values():
        assert row["max_abs_diff_to_eager"] < 0.1 and row["compiled_images_per_sec"] > 0
