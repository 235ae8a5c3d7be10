"""docs/scaling.md's projection (benchmarks/scaling_projection.py) on hand-computed cases, the
stored results file projected again, and the scaling scripts' parts on tiny inputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
STORED = BENCH / "results" / "scaling.json"
FRAMES = 1_000 * 3600 * 30  # 1,000 hours at 30 fps


@pytest.fixture(autouse=True)
def _bench_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEPICK_BENCH_DATA", str(tmp_path_factory.getbasetemp() / "bench-data"))
    monkeypatch.syspath_prepend(str(BENCH))
    for name in [m for m in sys.modules if m in ("_common", "scaling_projection") or m.startswith("bench_")]:
        del sys.modules[name]


def _costs(**kw: Any) -> Any:
    """10 ms of decoding + 20 ms of embedding a frame, 30 frames/s a core measured, a driver
    loop of 0.02 ms a frame (50,000 frames/s), 100 bytes of other table columns a frame."""
    from scaling_projection import MeasuredCosts

    words: dict[str, Any] = {
        "decode_cpu_ms": 10.0,
        "embed_cpu_ms": 20.0,
        "embed_batch": "batch_32",
        "per_core_fps": 30.0,
        "per_core_from": "made up",
        "driver_cpu_ms": 0.02,
        "table_other_bytes": 100.0,
    }
    return MeasuredCosts(**{**words, **kw})


# --- 1,000 hours on N nodes ---------------------------------------------------------------------


def test_cpu_nodes_are_limited_by_the_workers_then_the_driver_loop() -> None:
    from scaling_projection import DRIVER_LOOP, WORKERS, project

    p = project(_costs())
    node = 16 / 0.030  # a 16-core node at 30 ms of CPU a frame: 533.3 frames/s
    assert p.frames == FRAMES and p.cpu_node_fps_high == pytest.approx(node)
    assert p.cpu_node_fps_low == pytest.approx(16 * 30.0) and p.driver_executor_fps_limit == pytest.approx(50_000)
    rows = {r.nodes: r.cpu for r in p.rows}
    assert list(rows) == [1, 4, 16, 64, 256]
    assert (rows[1].limit, rows[1].fps) == (WORKERS, pytest.approx(node))
    assert rows[1].hours == pytest.approx(56.25)  # 108M frames / 533.3 / 3600
    assert rows[1].hours_at_low == pytest.approx(62.5)  # at 480 frames/s
    assert rows[64].fps == pytest.approx(34_133.33, rel=1e-6) and rows[64].limit == WORKERS
    # 256 nodes would do 136,533 frames/s: one driver core at 0.02 ms a frame allows 50,000
    assert (rows[256].limit, rows[256].fps) == (DRIVER_LOOP, pytest.approx(50_000))
    assert rows[256].hours == pytest.approx(0.6)
    assert rows[256].limit_without_driver_loop == WORKERS
    assert rows[256].hours_without_driver_loop == pytest.approx(56.25 / 256)
    # bytes on the wires: 150,528 a frame out of a node, 5,120 (or 256) a frame into the driver
    assert rows[1].frame_gbit_per_node_if_all_cross == pytest.approx(node * 150_528 * 8 / 1e9)
    assert rows[4].driver_in_gbit_full == pytest.approx(4 * node * 5_120 * 8 / 1e9)
    assert rows[4].driver_in_gbit_64d == pytest.approx(4 * node * 256 * 8 / 1e9)


def test_the_driver_link_limits_when_the_loop_costs_nothing() -> None:
    from scaling_projection import ClusterShape, bottleneck, project

    link = 10e9 / 8 / 5_120  # 244,140.6 embeddings a second on 10 Gbit/s
    assert bottleneck(1e6, None, 10) == (pytest.approx(link), "driver link 10 Gbit/s (1280-d embeddings)")
    assert bottleneck(1e6, 2e5, 10) == (2e5, "driver executor loop (one core)")
    assert bottleneck(1e3, 2e5, 25) == (1e3, "workers")
    p = project(_costs(driver_cpu_ms=None), ClusterShape(nodes=(1_000,), nic_gbit=(10, 25)))
    cpu = p.rows[0].cpu
    assert p.driver_executor_fps_limit is None
    assert (cpu.fps, cpu.limit) == (pytest.approx(link), "driver link 10 Gbit/s (1280-d embeddings)")
    assert p.driver_link_fps_full == {10: pytest.approx(link), 25: pytest.approx(2.5 * link)}
    assert p.driver_link_fps_64d[10] == pytest.approx(10e9 / 8 / 256)
    assert p.node_link_fps_frames[25] == pytest.approx(25e9 / 8 / 150_528)


def test_gpu_nodes_decode_on_their_cores_or_are_fed() -> None:
    from scaling_projection import DRIVER_LOOP, ClusterShape, project

    # 16 cores at 10 ms a frame decode 1,600 frames/s: a 5,000 frames/s GPU waits for them,
    # a 1,000 frames/s GPU does not
    p = project(_costs(), ClusterShape(gpu_fps_per_node=(1_000, 5_000), nodes=(1, 64)))
    assert p.gpu_node_decode_fps == pytest.approx(1_600)
    one, many = p.rows[0].gpu, p.rows[1].gpu
    assert (one[5_000].fps_local_decode, one[5_000].limit_local_decode) == (
        pytest.approx(1_600),
        "decode on the node's cores",
    )
    assert one[5_000].hours_local_decode == pytest.approx(18.75)
    assert (one[1_000].fps_local_decode, one[1_000].limit_local_decode) == (pytest.approx(1_000), "the GPUs")
    assert (one[5_000].fps_if_fed, one[5_000].limit_if_fed, one[5_000].hours_if_fed) == (5_000, "the GPUs", 6.0)
    # 64 fed GPUs: 320,000 frames/s, held to the driver loop's 50,000, or the link without it
    assert (many[5_000].fps_if_fed, many[5_000].limit_if_fed) == (pytest.approx(50_000), DRIVER_LOOP)
    assert many[5_000].limit_if_fed_without_driver_loop == "driver link 10 Gbit/s (1280-d embeddings)"
    assert many[1_000].driver_in_gbit_full_if_fed == pytest.approx(64 * 1_000 * 5_120 * 8 / 1e9)
    feed = p.gpu[5_000]
    assert feed.decode_cores_to_feed == pytest.approx(50.0)  # 5,000 frames/s x 10 ms
    assert feed.gpu_busy_with_local_decode == pytest.approx(0.32)
    assert p.gpu[1_000].gpu_busy_with_local_decode == 1.0
    assert feed.frame_gbit_in_if_fed_remotely == pytest.approx(5_000 * 150_528 * 8 / 1e9)


def test_candidates_and_the_driver_table() -> None:
    from scaling_projection import project

    p = project(_costs())
    one, ten = p.selection["L=1"], p.selection["L=10"]
    assert (one.candidates, ten.candidates) == (108_000_000, 10_800_000)
    assert (ten.full_embeddings_gb, ten.points_64d_gb) == (pytest.approx(55.296), pytest.approx(2.7648))
    assert (one.k_at_n_samples, ten.k_at_n_samples) == (10_800_000, 1_080_000)
    assert p.driver_table_gb_all_frames == {
        "embeddings_1280": pytest.approx(552.96),
        "other_columns": pytest.approx(10.8),
    }
    assert (p.decode_core_ms_per_frame, p.embed_core_ms_per_frame) == (pytest.approx(10.0), pytest.approx(20.0))


def test_measured_costs_come_from_the_fastest_batch_and_the_two_cpu_ray_run() -> None:
    from scaling_projection import MeasuredCosts

    fig: dict[str, Any] = {
        "machine": {"cores": 2},
        "frame_costs": {
            "decode": {"threaded": {"cpu_ms_per_frame": 10.0}, "one_thread": {"cpu_ms_per_frame": 1.0}},
            "embed": {
                "engine": "x",
                "batch_1": {"fps": 50.0, "cpu_ms_per_frame": 15.0},
                "batch_32": {"fps": 100.0, "cpu_ms_per_frame": 20.0},
            },
        },
        "runs": {
            "frames": 100,
            "local": {"stage_sec": {"decode_embed": 2.0}, "table_bytes_per_frame": {"other": 210.0}},
            "ray_2cpu": {"measured": True, "executor_only": {"fps": 60.0, "driver_cpu_ms_per_frame": 0.04}},
        },
    }
    costs = MeasuredCosts.from_figures(fig)
    assert (costs.decode_cpu_ms, costs.embed_cpu_ms, costs.embed_batch) == (10.0, 20.0, "batch_32")
    assert (costs.per_core_fps, costs.driver_cpu_ms, costs.table_other_bytes) == (30.0, 0.04, 210.0)
    fig["runs"]["ray_2cpu"]["measured"] = False  # a stalled Ray run: the local run's stage, no driver loop
    costs = MeasuredCosts.from_figures(fig)
    assert (costs.per_core_fps, costs.driver_cpu_ms) == (25.0, None)  # 100 frames / 2 s / 2 cores
    assert costs.per_core_from == "local run, decode+embed stage"


# --- k-center at 10M and 100M -------------------------------------------------------------------


def _timing(n: int, sec: float, floor: float, late: float, extra: float = 40.0, k: int = 1_000) -> Any:
    from scaling_projection import KCenterTiming

    return KCenterTiming(
        n=n,
        k=k,
        sec=sec,
        peak_extra_bytes_per_point=extra,
        floor_ns_per_point=floor,
        late_ns_per_point_per_pick=late,
        late_picks=(101, k),
    )


def test_kcenter_projection_on_a_linear_trend() -> None:
    from scaling_projection import project_kcenter

    # 1 s at 1M and 2 s at 2M: sec = 1e-6 * N; the floor grows from 1 to 2 ns a point
    cases = [_timing(1_000_000, 1.0, 1.0, 3.0, extra=50.0), _timing(2_000_000, 2.0, 2.0, 3.0)]
    long_case = _timing(1_000_000, 30.0, 1.0, 4.0, k=10_000)
    p = project_kcenter(cases, long_case)
    assert (p.c, p.p) == (pytest.approx(1e-6), pytest.approx(1.0))
    assert p.extra_bytes_per_point == 50.0 and p.floor_ns_per_point_per_pick == 2.0
    assert p.late_ns_per_point_per_pick == pytest.approx(8.0)  # 4 ns at 1M, times the floor's growth to 2M
    assert (p.late_from_n, p.late_from_picks) == (1_000_000, (101, 10_000))
    at10 = p.at[0]
    assert (at10.n, at10.k_10_percent) == (10_000_000, 1_000_000)
    assert (at10.points_gb, at10.peak_gb) == (pytest.approx(2.56), pytest.approx(3.06))
    assert at10.sec_k1000 == pytest.approx(10.0)
    # 999,000 more picks over 10M points: 9,990 s per ns a point and pick
    assert at10.sec_k_10_percent_low == pytest.approx(10.0 + 9_990 * 2.0)
    assert at10.sec_k_10_percent_high == pytest.approx(10.0 + 9_990 * 8.0)
    assert p.at[1].sec_k1000 == pytest.approx(100.0)
    # without the long run, the late picks are the largest N's last segment, unscaled
    assert project_kcenter(cases).late_ns_per_point_per_pick == 3.0
    assert project_kcenter(cases).late_from_n == 2_000_000


# --- the stored results: same keys, same numbers -------------------------------------------------


def test_the_stored_results_project_to_the_stored_projection(tmp_path: Path) -> None:
    """docs/scaling.md's tables come from benchmarks/results/scaling.json: projecting its
    measured figures again gives its projection (the k-center fit to rounding: np.polyfit)."""
    import bench_scaling
    import scaling_projection

    fig = json.loads(STORED.read_text())
    assert json.loads(json.dumps(bench_scaling.project(fig))) == fig["projection"]
    again = scaling_projection.kcenter_projection(fig["kcenter"]["cases"], fig["kcenter"]["long"])
    assert json.dumps(_rounded(again)) == json.dumps(_rounded(fig["kcenter_projection"]))
    copy = tmp_path / "scaling.json"
    shutil.copy(STORED, copy)
    out = scaling_projection.main([str(copy), "--write"])
    assert json.loads(copy.read_text())["projection"] == fig["projection"] == out["projection"]


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


# --- the k-center part on tiny inputs ------------------------------------------------------------


def test_timed_kcenter_is_kcenter_fast_itself() -> None:
    import bench_scaling_kcenter as part
    import bench_select

    from framepick._kcenter import kcenter_fast

    x = bench_select.video_like(3000, 8)
    picks, radii, _ = kcenter_fast(x, 40, 17)
    picked, stamps, agree = part.kcenter_timed(x, 40, 17)
    np.testing.assert_array_equal(picked, picks)
    assert agree and sorted(stamps) == [1, 10, 40] and all(s > 0 for s in stamps.values())
    tracker = part.tracker_after(x, picked)  # the state kcenter_fast ends with
    assert tracker.count == 40 and np.all(tracker.nearest[picked] == -1)
    assert float(np.sqrt(tracker.nearest.max())) == pytest.approx(radii[-1], rel=1e-6)
    assert part.pass_floor(tracker) > 0


def test_segments_from_checkpoints() -> None:
    import bench_scaling_kcenter as part

    # pick 1 by 5 ms, picks 2-10 2 ms each, picks 11-25 1 ms each
    stamps = {1: 0.005, 10: 0.023, 25: 0.038}
    segments = part._segments(stamps, n=1000)
    assert [s["picks"] for s in segments] == [[2, 10], [11, 25]]
    assert [s["ms_per_pick"] for s in segments] == pytest.approx([2.0, 1.0])
    assert [s["ns_per_point_per_pick"] for s in segments] == pytest.approx([2000.0, 1000.0])
    array = np.concatenate([[0.0], 0.005 + np.cumsum([0.0] + [0.002] * 9 + [0.001] * 15)])
    from_array = part._segments(array, n=1000)  # the same from an array indexed by pick
    assert [s["picks"] for s in from_array] == [[2, 10], [11, 25]]
    assert [s["ms_per_pick"] for s in from_array] == pytest.approx([2.0, 1.0])


def test_kcenter_script_smoke(tmp_path: Path) -> None:
    import bench_scaling_kcenter as part

    fig = part.main(["--smoke", "--out", str(tmp_path / "k.json")])
    stored = json.loads((tmp_path / "k.json").read_text())
    assert stored["benchmark"] == "scaling-kcenter-smoke" and stored["kcenter"] == fig["kcenter"]
    cases = fig["kcenter"]["cases"]
    assert [c["n"] for c in cases] == [20_000, 40_000] and all(c["identical_to_kcenter_fast"] for c in cases)
    assert all(list(c["stamps_sec"]) == ["1", "10"] and c["rounds"] == 2 for c in cases)
    assert fig["kcenter"]["long"]["k"] == 120 and "identical_to_kcenter_fast" not in fig["kcenter"]["long"]
    assert [s["picks"] for s in fig["kcenter"]["long"]["segments"]] == [[2, 10], [11, 100], [101, 120]]
    assert [a["n"] for a in fig["kcenter_projection"]["at"]] == [10_000_000, 100_000_000]


# --- the costs and runs parts on tiny inputs ------------------------------------------------------


@pytest.mark.slow
def test_costs_script_smoke(tmp_path: Path) -> None:
    import bench_scaling_costs as part

    fig = part.main(["--smoke", "--no-ray", "--out", str(tmp_path / "c.json")])
    costs = fig["frame_costs"]
    assert json.loads((tmp_path / "c.json").read_text())["benchmark"] == "scaling-costs-smoke"
    assert fig["input"] == {"clips": 1, "frames_per_clip": 24, "resolution": "320x180"}
    assert costs["decode"]["threaded"]["frames"] == costs["decode"]["one_thread"]["frames"] == 24
    # the frames kept for embedding come from both decoding passes (up to 640): 24 + 24
    assert costs["embed"]["frames"] == 48 and all(costs["embed"][f"batch_{b}"]["fps"] > 0 for b in (1, 8, 32))
    assert costs["bytes_per_frame"] == 64 * 64 * 3 and "transfer" not in costs


@pytest.mark.slow
def test_runs_script_smoke_without_ray(tmp_path: Path) -> None:
    import bench_scaling_runs as part

    fig = part.main(["--smoke", "--no-ray", "--out", str(tmp_path / "r.json")])
    assert (fig["ray_measured"], fig["ray_not_measured"]) == (False, "--no-ray")
    local = fig["runs"]["local"]
    assert fig["runs"]["frames"] == 24 and local["selected"] == 3  # n_samples=0.1 of 24 frames, rounded up
    assert local["table_bytes_per_frame"]["embeddings"] == 5_120 and local["stage_sec"]["decode_embed"] > 0


def test_docs_name_every_scaling_script() -> None:
    """docs/scaling.md says how to run each part: every scaling script is a command there."""
    docs = (BENCH.parent / "docs" / "scaling.md").read_text()
    scripts = sorted(p.name for p in BENCH.glob("*scaling*.py"))
    assert len(scripts) == 5
    assert [s for s in scripts if f"python3 benchmarks/{s}" not in docs] == []
