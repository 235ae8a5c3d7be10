"""Benchmark: the measured costs behind docs/scaling.md (executor=ray and selection at scale).

1. Per-frame costs on the throughput benchmark's 720p H.264 clips (3 x 700 frames):
   * decode to the model size with framepick's decoder (``PyAVDecoder().frames(source,
     224)``), with FFmpeg's frame threading (as a run decodes) and without (one core);
   * embed with the default engine (``create_embedder("auto", 224)``), one frame per call and
     batches of 8 and 32, on the same pre-decoded frames;
   * transfer through Ray's object store within this node: ``ray.put`` + ``ray.get`` of a
     (32, 224, 224, 3) uint8 batch in the driver, the same batch handed to an actor in
     another process, an empty actor call (the fixed cost of one round trip), and a
     (32, 1280) float32 embedding batch; plus the bytes per frame that cross a network.
   Each is timed as wall time and as the process's CPU time (all threads), best of
   ``--repeat`` rounds; the machine may be shared.
2. Whole runs (``framepick.run``, default settings, ``n_samples=0.1``, no cache) on the same
   clips: ``executor=local``, and ``executor=ray`` on a local Ray started with 1 and with 2
   CPUs (``ray.init(num_cpus=...)`` before the run), each Ray run in a child process of its
   own, then ``embed_sources_ray`` alone on the same Ray (the decode+embed stage, and the
   driver's CPU time per frame). A Ray run in which no frame comes in for ``--ray-stall``
   seconds is given up and recorded as stalled. The Ray rows need ray and
   ``framepick.distributed.embed_sources_ray``; without them they are recorded as not
   measured, with the reason.
3. Greedy k-center (``framepick._kcenter.kcenter_fast``) at 64 dimensions on ``video_like``
   points (bench_select.py), N = 1M, 2M, 5M and 10M (10M only if the memory is there; the
   points are prefixes of one 10M array), k = 1,000, the faster of 2 runs (the picks of
   both must agree; ``--kcenter-repeat-n``): the time of every pick, the O(N)
   per-pick floor (the argmax and the pruning pass over two flat arrays, no point passing),
   and the peak extra memory (tracemalloc, the first ``--mem-picks`` picks: the peak is the
   first, unpruned pass). At the smallest N the picks run on to ``--k-long`` to show how
   the cost of a pick falls as the radius shrinks. Pick times come from a copy of
   ``kcenter_fast``'s loop with a clock read after each pick (same tracker, same argmax);
   for N <= ``--verify-n`` ``kcenter_fast`` itself runs too, and its picks must be identical.
4. A projection (``projection`` in the JSON) for 1,000 hours of 30 fps video from these
   costs and the stated assumptions; docs/scaling.md explains it.

    PYTHONPATH=src python3 benchmarks/bench_scaling.py            # about 15 minutes
    PYTHONPATH=src python3 benchmarks/bench_scaling.py --no-ray   # without the Ray parts
    PYTHONPATH=src python3 benchmarks/bench_scaling.py --smoke    # seconds, correctness only
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from bench_select import video_like

FRAME_BYTES_224 = 224 * 224 * 3  # a model-sized uint8 frame: 150,528 bytes
EMBEDDING_BYTES = 1280 * 4  # one full embedding, float32: 5,120 bytes
REDUCED_BYTES = 64 * 4  # one embedding in 64 principal components, float32: 256 bytes


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _best(rounds: list[tuple[float, float]], frames: int) -> dict[str, Any]:
    """frames/s and CPU ms per frame of the fastest round (wall), with every round kept."""
    wall, cpu = min(rounds)
    return {
        "fps": frames / wall,
        "wall_ms_per_frame": 1e3 * wall / frames,
        "cpu_ms_per_frame": 1e3 * cpu / frames,
        "rounds_fps": [frames / w for w, _ in rounds],
    }


# ---------------------------------------------------------------------------- 1. per-frame costs


def decode_cost(sources: list, size: int, repeat: int) -> tuple[dict[str, Any], np.ndarray]:
    from framepick.decode import PyAVDecoder

    out: dict[str, Any] = {}
    kept: list[np.ndarray] = []
    for label, threads, srcs in (("threaded", True, sources), ("one_thread", False, sources[:1])):
        decoder = PyAVDecoder(threads=threads)
        rounds = []
        n = 0
        for _ in range(repeat):
            n = 0
            start = _clock()
            for source in srcs:
                for frame in decoder.frames(source, size):
                    if len(kept) < 640:
                        kept.append(frame.pixels)
                    n += 1
            rounds.append(_since(start))
        out[label] = {"frames": n, **_best(rounds, n)}
    return out, np.stack(kept)


def embed_cost(pixels: np.ndarray, size: int, repeat: int, batches: tuple[int, ...]) -> dict[str, Any]:
    from framepick.embed import create_embedder

    engine = create_embedder("auto", size)
    engine.embed(pixels[:32])  # warm-up
    out: dict[str, Any] = {"engine": engine.name, "input_size": size, "frames": len(pixels)}
    for batch in batches:
        rounds = []
        for _ in range(repeat):
            start = _clock()
            for begin in range(0, len(pixels), batch):
                engine.embed(pixels[begin : begin + batch])
            rounds.append(_since(start))
        out[f"batch_{batch}"] = _best(rounds, len(pixels))
    return out


def transfer_cost(ray: Any, size: int, reps: int) -> dict[str, Any]:
    """Object-store round trips within this node (Ray must be initialised)."""

    @ray.remote(num_cpus=0)
    class Sink:
        def touch(self, batch: np.ndarray) -> int:
            return int(batch.reshape(-1)[-1])  # reads the shared-memory buffer (zero copy)

        def copy(self, batch: np.ndarray) -> int:
            return int(np.array(batch).reshape(-1)[-1])  # a private copy, as a model input might be

        def nothing(self) -> int:
            return 0

    frames = np.random.default_rng(0).integers(0, 256, (32, size, size, 3), dtype=np.uint8)
    embeddings = np.random.default_rng(1).standard_normal((32, 1280), dtype=np.float32)
    sink = Sink.remote()
    ray.get(sink.nothing.remote())

    def timed(fn: Any) -> dict[str, float]:
        fn()  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return {"best_ms": 1e3 * min(times), "median_ms": 1e3 * float(np.median(times))}

    def put_get(x: np.ndarray) -> None:
        out = ray.get(ray.put(x))
        assert out.shape == x.shape

    cases = {
        "put_get_frames_batch32": timed(lambda: put_get(frames)),
        "put_get_embeddings_batch32": timed(lambda: put_get(embeddings)),
        "put_to_actor_frames_batch32": timed(lambda: ray.get(sink.touch.remote(ray.put(frames)))),
        "put_to_actor_copy_frames_batch32": timed(lambda: ray.get(sink.copy.remote(ray.put(frames)))),
        "empty_actor_call": timed(lambda: ray.get(sink.nothing.remote())),
    }
    ray.kill(sink)
    for name, case in cases.items():
        if name.endswith("batch32"):
            case["best_us_per_frame"] = 1e3 * case["best_ms"] / 32
    return {
        "batch_shape": list(frames.shape),
        "reps": reps,
        "bytes_per_frame": frames[0].nbytes,
        "bytes_per_embedding_1280_f32": EMBEDDING_BYTES,
        "bytes_per_embedding_64_f32": REDUCED_BYTES,
        **cases,
    }


# ---------------------------------------------------------------------------- 2. whole runs


def ray_available() -> tuple[bool, str]:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False, "ray is not installed"
    try:
        from framepick import distributed
    except ImportError as exc:
        return False, f"framepick.distributed cannot be imported ({exc})"
    if not hasattr(distributed, "embed_sources_ray"):
        return False, "framepick.distributed has no embed_sources_ray"
    return True, ""


def whole_run(input_dir: Path, size: int, frames: int, words: dict[str, Any], progress: Any = None) -> dict[str, Any]:
    from framepick import load_config, run

    work = Path(tempfile.mkdtemp(prefix="framepick-scaling-"))
    try:
        config = load_config(
            overrides={
                "input_dir": str(input_dir),
                "output_dir": str(work / "out"),
                "stopping_condition.n_samples": 0.1,
                "model.input_size": size,
                "cache_dir": None,
                **words,
            }
        )
        start = _clock()
        result = run(config, progress)
        wall, cpu = _since(start)
        assert len(result.table) == frames, (len(result.table), frames)
        return {
            "fps": frames / wall,
            "sec": wall,
            "driver_cpu_sec": cpu,
            "stage_sec": dict(result.timings),
            "selected": len(result.selected_frame_names),
            "table_bytes_per_frame": table_bytes(result.table),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table_bytes(table: Any) -> dict[str, float]:
    """The driver's frame table per frame: the embeddings, and everything else (NumPy columns,
    and the Python objects of the per-frame lists with their list slots)."""
    n = max(len(table), 1)
    arrays = [table.source, table.index, table.seconds, table.decoded, table.metadata]
    if table.embedded is not None:
        arrays.append(table.embedded)
    objects = sum(sys.getsizeof(v) + 8 for col in (table.names, table.digests, table.pts) for v in col)
    return {
        "embeddings": table.embeddings.nbytes / n,
        "other": (sum(a.nbytes for a in arrays) + objects) / n,
    }


def executor_only(input_dir: Path, size: int, frames: int) -> dict[str, float]:
    """``embed_sources_ray`` alone (the decode+embed stage of a Ray run): its wall time and the
    driver's CPU time per frame (the driver's own share of the work that scales with frames)."""
    from framepick import discover
    from framepick.config import RayConfig
    from framepick.distributed import ModelSpec, embed_sources_ray

    start = _clock()
    out = embed_sources_ray(discover(input_dir), ModelSpec(input_size=size), RayConfig())
    wall, cpu = _since(start)
    assert sum(r.n_frames for r in out) == frames
    return {"fps": frames / wall, "sec": wall, "driver_cpu_ms_per_frame": 1e3 * cpu / frames}


def _ray_child(cpus: int, input_dir: Path, size: int, frames: int, stall: float) -> dict[str, Any]:
    """One ``executor=ray`` run on a fresh local Ray with ``cpus`` CPUs (in a child process).
    A watchdog interrupts the run when no frame has come in for ``stall`` seconds (the
    executor then cancels its tasks and actors)."""
    import _thread
    import threading

    import ray

    last = [time.monotonic()]
    done = threading.Event()
    stalled = [False]
    stalled_result: dict[str, Any] = {
        "ray_cpus": cpus,
        "measured": False,
        "stalled": f"no frame came in for {stall:.0f} s",
    }
    stalled_result["frames_in_before_stall"] = 0

    def tick(stage: str, n: int, total: int | None) -> None:
        last[0] = time.monotonic()
        stalled_result["frames_in_before_stall"] += n

    def watch() -> None:
        while not done.wait(1.0):
            if time.monotonic() - last[0] > stall:
                stalled[0] = True
                _thread.interrupt_main()
                if done.wait(20.0):
                    return
                # the interrupt did not get through (Ray's wait can swallow it): report and
                # leave; the Ray processes this child started die with it (Ray's fate sharing)
                print("RESULT " + json.dumps(stalled_result), flush=True)
                os._exit(3)

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        resources = {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        threading.Thread(target=watch, daemon=True).start()
        try:
            out = whole_run(input_dir, size, frames, {"executor": "ray"}, tick)
            out["executor_only"] = executor_only(input_dir, size, frames)
        except KeyboardInterrupt:
            if not stalled[0]:
                raise
            return stalled_result
        finally:
            done.set()
        return {"ray_cpus": cpus, "measured": True, "cluster": resources, **out}
    finally:
        ray.shutdown()


def ray_run(input_dir: Path, size: int, frames: int, cpus: int, stall: float, timeout: float) -> dict[str, Any]:
    """``_ray_child`` in a child process of its own (a fresh Ray each time; a hang cannot
    stop the benchmark): SIGINT after ``timeout``, SIGKILL 30 s later."""
    import signal
    import subprocess

    cmd = [sys.executable, __file__, "--ray-child", str(cpus), str(input_dir), str(size), str(frames), str(stall)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return {"ray_cpus": cpus, "measured": False, "stalled": f"no result within {timeout:.0f} s"}
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = "\n".join(err.strip().splitlines()[-5:])
    return {"ray_cpus": cpus, "measured": False, "error": f"exit status {proc.returncode}: {tail}"}


# ---------------------------------------------------------------------------- 3. k-center


def kcenter_timed(x: np.ndarray, k: int, first: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """kcenter_fast's loop (same tracker, same argmax) with the clock read after every pick:
    ``stamps[t]`` is the time from the start to the end of pick ``t`` (``stamps[0]`` = 0)."""
    from framepick._kcenter import NearestTracker

    stamps = np.zeros(k + 1)
    picked = np.empty(k, np.int64)
    start = time.perf_counter()
    tracker = NearestTracker(x, k)
    nearest = tracker.nearest
    i = first
    for t in range(k):
        picked[t] = i
        tracker.add(x[i], i)
        i = int(np.argmax(nearest))
        stamps[t + 1] = time.perf_counter() - start
    return picked, stamps, tracker


def pass_floor(tracker: Any, reps: int = 5) -> float:
    """Seconds of the O(N) part of one pick when no point can move: the argmax and the
    pruning test over the two flat arrays (``nearest > limit[assign]``, then flatnonzero)."""
    limit = np.full(tracker.count, np.float32(np.inf))
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        idx = np.flatnonzero(tracker.nearest > limit[tracker.assign])
        np.argmax(tracker.nearest)
        best = min(best, time.perf_counter() - start)
        assert len(idx) == 0
    return best


def _segments(stamps: np.ndarray, n: int) -> list[dict[str, Any]]:
    """Mean time of a pick over picks (a, b], in ms and in ns per point."""
    k = len(stamps) - 1
    bounds = [b for b in (1, 10, 100, 1_000, 10_000, 100_000) if b < k] + [k]
    out = []
    for a, b in itertools.pairwise(bounds):
        per_pick = (stamps[b] - stamps[a]) / (b - a)
        out.append({"picks": [a + 1, b], "ms_per_pick": 1e3 * per_pick, "ns_per_point_per_pick": 1e9 * per_pick / n})
    return out


def kcenter_case(x: np.ndarray, k: int, verify: bool, mem_picks: int, repeat: int, seed: int = 0) -> dict[str, Any]:
    from framepick._kcenter import kcenter_fast

    n = len(x)
    first = int(np.random.default_rng(seed).integers(n))
    picked, stamps, tracker = kcenter_timed(x, k, first)
    floor = pass_floor(tracker)
    del tracker
    best = stamps
    for _ in range(repeat - 1):
        again, stamps2, tracker = kcenter_timed(x, k, first)
        del tracker
        assert np.array_equal(again, picked)
        if stamps2[-1] < best[-1]:
            best = stamps2
    out: dict[str, Any] = {
        "n": n,
        "dim": x.shape[1],
        "k": k,
        "sec": float(best[-1]),
        "rounds": repeat,
        "first_pick_sec": float(best[1]),  # tracker set-up + the unpruned first pass
        "stamps_sec": {str(t): float(best[t]) for t in (1, 10, 100, 1_000, 10_000, 100_000) if t <= k},
        "segments": _segments(best, n),
        "floor_ms_per_pick": 1e3 * floor,
        "floor_ns_per_point": 1e9 * floor / n,
    }
    if verify:
        start = time.perf_counter()
        fast, _, _ = kcenter_fast(x, k, first)
        out["kcenter_fast_sec"] = time.perf_counter() - start
        out["identical_to_kcenter_fast"] = bool(np.array_equal(fast, picked))
    tracemalloc.start()
    kcenter_fast(x, min(mem_picks, k), first)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out["mem_picks"] = min(mem_picks, k)
    out["points_mb"] = x.nbytes / 1e6
    out["peak_extra_mb"] = peak / 1e6
    out["peak_extra_bytes_per_point"] = peak / n
    return out


def _mem_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fit_power(ns: list[int], secs: list[float]) -> tuple[float, float]:
    """Least squares in log-log: sec = c * n ** p; returns (c, p)."""
    p, logc = np.polyfit(np.log(ns), np.log(secs), 1)
    return float(math.exp(logc)), float(p)


# ---------------------------------------------------------------------------- 4. projection

ASSUME = {
    "hours": 1_000,
    "video_fps": 30,
    "cores_per_cpu_node": 16,
    "gpu_fps_per_node": [5_000, 10_000],  # EfficientNet-Lite0 at 224, fp16, one modern GPU: an assumption
    "decode_cores_per_gpu_node": 16,
    "nic_gbit": [10, 25],
    "nodes": [1, 4, 16, 64, 256],
    "candidates": {"L=1": 1.0, "L=10": 0.1},
    "n_samples": 0.1,
}


def _limits(workers: float, driver_fps: float | None, gbit: float) -> tuple[float, str]:
    """The run's rate and what sets it: the workers, the driver's executor loop (one core),
    or the driver's network link receiving full 1280-d embeddings."""
    limits = {"workers": workers, f"driver link {gbit:g} Gbit/s (1280-d embeddings)": gbit * 1e9 / 8 / EMBEDDING_BYTES}
    if driver_fps:
        limits["driver executor loop (one core)"] = driver_fps
    name = min(limits, key=limits.__getitem__)
    return limits[name], name


def project(fig: dict[str, Any], assume: dict[str, Any] = ASSUME) -> dict[str, Any]:
    """Throughput, wall time and the limits for 1,000 hours of video, from the measured costs.

    Per-core rate, two ways: ``high`` from the CPU time per frame (all threads) of decoding
    (as a run decodes: FFmpeg's threads) plus embedding (best batch), i.e. every core kept
    busy; ``low`` from the measured frames/s per core of the decode+embed stage of the Ray
    run with 2 CPUs (the local run's where Ray was not measured). A node of C cores does C
    times that (linear in cores, this machine's per-core speed: assumptions). GPU nodes:
    the GPU's rate is an assumption (``gpu_fps_per_node``), decoding on the node's cores at
    the measured CPU cost."""
    cores = fig["machine"]["cores"] or 2
    costs = fig["frame_costs"]
    dec = costs["decode"]["threaded"]["cpu_ms_per_frame"] / 1e3  # core-seconds per frame
    batch = max((k for k in costs["embed"] if k.startswith("batch_")), key=lambda k: costs["embed"][k]["fps"])
    emb = costs["embed"][batch]["cpu_ms_per_frame"] / 1e3
    ray2 = fig["runs"].get("ray_2cpu", {})
    if ray2.get("measured"):
        per_core, source = ray2["executor_only"]["fps"] / cores, "Ray run, 2 CPUs, decode+embed stage"
        driver_ms = ray2["executor_only"]["driver_cpu_ms_per_frame"]
    else:
        local = fig["runs"]["local"]
        per_core = fig["runs"]["frames"] / local["stage_sec"]["decode_embed"] / cores
        source, driver_ms = "local run, decode+embed stage", None
    driver_fps = 1e3 / driver_ms if driver_ms else None
    frames_total = assume["hours"] * 3600 * assume["video_fps"]
    c16 = assume["cores_per_cpu_node"]
    node_high, node_low = c16 / (dec + emb), c16 * per_core
    gpu_decode_fps = assume["decode_cores_per_gpu_node"] / dec
    gbit = assume["nic_gbit"][0]
    rows = []
    for n in assume["nodes"]:
        fps, limit = _limits(n * node_high, driver_fps, gbit)
        free_fps, free_limit = _limits(n * node_high, None, gbit)  # a driver loop that costs nothing per frame
        row: dict[str, Any] = {
            "nodes": n,
            "cpu": {
                "fps_without_driver_loop": free_fps,
                "limit_without_driver_loop": free_limit,
                "hours_without_driver_loop": frames_total / free_fps / 3600,
                "workers_fps_low": n * node_low,
                "workers_fps_high": n * node_high,
                "fps": fps,
                "limit": limit,
                "hours": frames_total / fps / 3600,
                "hours_at_low": frames_total / min(fps, n * node_low) / 3600,
                "frame_gbit_per_node_if_all_cross": node_high * FRAME_BYTES_224 * 8 / 1e9,
                "driver_in_gbit_full": n * node_high * EMBEDDING_BYTES * 8 / 1e9,
                "driver_in_gbit_64d": n * node_high * REDUCED_BYTES * 8 / 1e9,
            },
        }
        for g in assume["gpu_fps_per_node"]:
            local_fps, local_limit = _limits(n * min(g, gpu_decode_fps), driver_fps, gbit)
            fed_fps, fed_limit = _limits(n * g, driver_fps, gbit)
            free_fps, free_limit = _limits(n * g, None, gbit)
            row[f"gpu_{g}"] = {
                "fps_local_decode": local_fps,
                "limit_local_decode": local_limit
                if local_limit != "workers"
                else "the GPUs"
                if g <= gpu_decode_fps
                else "decode on the node's cores",
                "hours_local_decode": frames_total / local_fps / 3600,
                "fps_if_fed": fed_fps,
                "limit_if_fed": "the GPUs" if fed_limit == "workers" else fed_limit,
                "hours_if_fed": frames_total / fed_fps / 3600,
                "driver_in_gbit_full_if_fed": n * g * EMBEDDING_BYTES * 8 / 1e9,
                "fps_if_fed_without_driver_loop": free_fps,
                "limit_if_fed_without_driver_loop": "the GPUs" if free_limit == "workers" else free_limit,
                "hours_if_fed_without_driver_loop": frames_total / free_fps / 3600,
            }
        rows.append(row)
    gpus = {
        str(g): {
            "decode_cores_to_feed": g * dec,
            "frame_gbit_in_if_fed_remotely": g * FRAME_BYTES_224 * 8 / 1e9,
            "gpu_busy_with_local_decode": min(1.0, gpu_decode_fps / g),
        }
        for g in assume["gpu_fps_per_node"]
    }
    select = {}
    other = fig["runs"]["local"].get("table_bytes_per_frame", {}).get("other", 0.0)
    for label, share in assume["candidates"].items():
        m = int(frames_total * share)
        select[label] = {
            "candidates": m,
            "full_embeddings_gb": m * EMBEDDING_BYTES / 1e9,
            "points_64d_gb": m * REDUCED_BYTES / 1e9,
            "k_at_n_samples": int(m * assume["n_samples"]),
        }
    return {
        "assumptions": assume,
        "frames": frames_total,
        "decode_core_ms_per_frame": 1e3 * dec,
        "embed_core_ms_per_frame": 1e3 * emb,
        "embed_batch_used": batch,
        "measured_fps_per_core": per_core,
        "measured_from": source,
        "cpu_node_fps_low": node_low,
        "cpu_node_fps_high": node_high,
        "driver_executor_cpu_ms_per_frame": driver_ms,
        "driver_executor_fps_limit": driver_fps,
        "driver_link_fps_full": {str(g): g * 1e9 / 8 / EMBEDDING_BYTES for g in assume["nic_gbit"]},
        "driver_link_fps_64d": {str(g): g * 1e9 / 8 / REDUCED_BYTES for g in assume["nic_gbit"]},
        "node_link_fps_frames": {str(g): g * 1e9 / 8 / FRAME_BYTES_224 for g in assume["nic_gbit"]},
        "gpu_node_decode_fps": gpu_decode_fps,
        "gpu": gpus,
        "driver_table_bytes_per_frame_besides_embeddings": other,
        "driver_table_gb_all_frames": {
            "embeddings_1280": frames_total * EMBEDDING_BYTES / 1e9,
            "other_columns": frames_total * other / 1e9,
        },
        "rows": rows,
        "selection": select,
    }


def kcenter_projection(cases: list[dict[str, Any]], long_case: dict[str, Any] | None) -> dict[str, Any]:
    """k-center at 10M and 100M candidates from the measured trend: T(N, k=1000) = c * N^p
    fitted over the measured N; memory = 256 B (points) + the measured extra bytes per point.
    For k proportional to N: (k - 1000) more picks, each costing between the O(N) floor at the
    largest measured N and the last measured pick segment (the cost of a pick falls towards
    the floor as the radius shrinks), per point, scaled to the largest N's floor, times N."""
    ns = [c["n"] for c in cases]
    c, p = fit_power(ns, [c["sec"] for c in cases])
    extra = max(c["peak_extra_bytes_per_point"] for c in cases)
    # the O(N) pass slows per point as the arrays outgrow the caches: take the largest N's
    largest, smallest = max(cases, key=lambda c: c["n"]), min(cases, key=lambda c: c["n"])
    floor = largest["floor_ns_per_point"]
    late_case = long_case or largest
    # the cost of a late pick (last measured segment), scaled by the floor's growth with N
    late = late_case["segments"][-1]["ns_per_point_per_pick"]
    if late_case["n"] != largest["n"]:
        late *= floor / (long_case or smallest)["floor_ns_per_point"]
    out: dict[str, Any] = {
        "model": "sec(N, k=1000) = c * N**p, least squares in log-log over the measured N",
        "c": c,
        "p": p,
        "extra_bytes_per_point": extra,
        "floor_ns_per_point_per_pick": floor,
        "late_ns_per_point_per_pick": late,
        "late_from": {"n": late_case["n"], "picks": late_case["segments"][-1]["picks"]},
        "at": [],
    }
    k0 = cases[0]["k"]
    for n in (10_000_000, 100_000_000):
        k = n // 10
        more = (k - k0) * n * 1e-9
        out["at"].append(
            {
                "n": n,
                "points_gb": n * 64 * 4 / 1e9,
                "peak_gb": n * (64 * 4 + extra) / 1e9,
                "sec_k1000": c * n**p,
                "k_10_percent": k,
                "sec_k_10_percent_low": c * n**p + more * floor,
                "sec_k_10_percent_high": c * n**p + more * late,
            }
        )
    return out


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=700, help="frames per clip")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=2, help="rounds of each per-frame cost (best counts)")
    ap.add_argument("--n", default="1000000,2000000,5000000,10000000", help="k-center sizes")
    ap.add_argument("--k", type=int, default=1_000)
    ap.add_argument("--k-long", type=int, default=10_000, help="picks at the smallest N (0: k)")
    ap.add_argument("--verify-n", type=int, default=1_000_000, help="run kcenter_fast itself up to this N")
    ap.add_argument("--kcenter-repeat-n", type=int, default=10_000_000, help="time twice up to this N")
    ap.add_argument("--mem-picks", type=int, default=50)
    ap.add_argument("--ray-cpus", default="1,2")
    ap.add_argument("--ray-stall", type=float, default=60.0, help="give a Ray run up after this long without a frame")
    ap.add_argument("--ray-timeout", type=float, default=600.0, help="give a Ray run up after this long")
    ap.add_argument("--no-ray", action="store_true", help="skip every Ray part")
    ap.add_argument("--no-kcenter", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/scaling.json)")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--ray-child"]:  # a child of ray_run
        cpus, folder, size, frames, stall = argv[1:6]
        out = _ray_child(int(cpus), Path(folder), int(size), int(frames), float(stall))
        print("RESULT " + json.dumps(out, default=float), flush=True)
        return out
    args = ap.parse_args(argv)
    width, height = 1280, 720
    transfer_reps = 30
    if args.smoke:
        args.clips, args.frames, args.size, width, height = 1, 24, 64, 320, 180
        args.repeat, args.n, args.k, args.k_long, args.mem_picks = 1, "20000,40000", 50, 120, 10
        args.verify_n = args.kcenter_repeat_n = 40_000
        transfer_reps, args.ray_stall = 3, 120.0  # a loaded machine starts Ray slowly

    from framepick import discover

    input_dir = common.make_input("clips", args.clips, args.frames, width, height)
    sources = discover(input_dir)
    fig: dict[str, Any] = {
        "input": {"clips": args.clips, "frames_per_clip": args.frames, "resolution": f"{width}x{height}"},
        "method": f"best of {args.repeat} rounds (wall); CPU time is the process's, all threads",
    }

    # 1. per-frame costs
    decode, pixels = decode_cost(sources, args.size, args.repeat)
    n_frames = decode["threaded"]["frames"]
    fig["frame_costs"] = {
        "decode": decode,
        "embed": embed_cost(pixels, args.size, args.repeat, (1, 8, 32)),
        "bytes_per_frame": pixels[0].nbytes,
        "bytes_per_embedding_1280_f32": EMBEDDING_BYTES,
        "bytes_per_embedding_64_f32": REDUCED_BYTES,
    }
    del pixels

    # 2. whole runs (and the object store, which needs only ray)
    runs: dict[str, Any] = {"frames": n_frames}
    runs["local"] = whole_run(input_dir, args.size, n_frames, {"executor": "local"})
    ok, why = ray_available() if not args.no_ray else (False, "--no-ray")
    fig["ray_measured"] = ok
    if not ok:
        fig["ray_not_measured"] = why
    if not args.no_ray and importlib.util.find_spec("ray") is not None:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            fig["frame_costs"]["transfer"] = transfer_cost(ray, args.size, transfer_reps)
        finally:
            ray.shutdown()
    if ok:
        for cpus in (int(c) for c in args.ray_cpus.split(",")):
            runs[f"ray_{cpus}cpu"] = ray_run(input_dir, args.size, n_frames, cpus, args.ray_stall, args.ray_timeout)
    fig["runs"] = runs

    # 3. k-center
    if not args.no_kcenter:
        sizes = sorted(int(n) for n in args.n.split(","))
        avail = _mem_available()
        # the points, a points-sized temporary in the first pass, and headroom
        keep = [n for n in sizes if n == sizes[0] or not avail or n * 64 * 4 * 3 < avail]
        fig["kcenter_skipped_n"] = [n for n in sizes if n not in keep]
        start = time.perf_counter()
        x = video_like(max(keep), 64)
        fig["kcenter_points_sec"] = time.perf_counter() - start
        cases = []
        long_case = None
        for n in keep:
            xs = x[:n]
            rep = 2 if n <= args.kcenter_repeat_n else 1
            cases.append(kcenter_case(xs, args.k, n <= args.verify_n, args.mem_picks, rep))
            if n == keep[0] and args.k_long > args.k:
                long_case = kcenter_case(xs, args.k_long, False, args.mem_picks, 1)
            print(f"k-center N={n:,}: {cases[-1]['sec']:.2f} s", flush=True)
        del x
        fig["kcenter"] = {"data": "video_like (bench_select.py), 64-d", "cases": cases, "long": long_case}
        fig["kcenter_projection"] = kcenter_projection(cases, long_case)

    fig["machine"] = common.machine()
    fig["projection"] = project(fig)
    _print(fig)
    path = common.save("scaling" if not args.smoke else "scaling-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


def _print(fig: dict[str, Any]) -> None:
    costs = fig["frame_costs"]
    rows = [
        (f"decode, {k}", v["fps"], v["wall_ms_per_frame"], v["cpu_ms_per_frame"]) for k, v in costs["decode"].items()
    ]
    emb = costs["embed"]
    rows += [
        (f"embed {emb['engine']}, {k}", v["fps"], v["wall_ms_per_frame"], v["cpu_ms_per_frame"])
        for k, v in emb.items()
        if k.startswith("batch_")
    ]
    print(common.table(rows, ("per-frame cost", "frames/s", "wall ms", "CPU ms")))
    if "transfer" in costs:
        t = costs["transfer"]
        print()
        print(
            common.table(
                [(k, v["best_ms"], v["median_ms"]) for k, v in t.items() if isinstance(v, dict)],
                ("object store (one node)", "best ms", "median ms"),
            )
        )
    print()
    runs = [
        (k, v["fps"], v["sec"]) if "fps" in v else (k, "-", v.get("stalled") or v.get("error"))
        for k, v in fig["runs"].items()
        if isinstance(v, dict)
    ]
    print(common.table(runs, ("whole run", "frames/s", "s")))
    if not fig["ray_measured"]:
        print(f"Ray runs not measured: {fig['ray_not_measured']}")
    if "kcenter" in fig:
        print()
        cases = fig["kcenter"]["cases"] + ([fig["kcenter"]["long"]] if fig["kcenter"]["long"] else [])
        print(
            common.table(
                [
                    (c["n"], c["k"], c["sec"], c["first_pick_sec"], c["floor_ms_per_pick"], c["peak_extra_mb"])
                    for c in cases
                ],
                ("N", "k", "sec", "first pick s", "floor ms/pick", "peak extra MB"),
            )
        )
        proj = fig["kcenter_projection"]
        print(f"fit: sec = {proj['c']:.3g} * N^{proj['p']:.3f}")
    proj = fig["projection"]
    print()
    rows = []
    for r in proj["rows"]:
        g = [v for k, v in r.items() if k.startswith("gpu_")]
        rows.append(
            (
                r["nodes"],
                r["cpu"]["fps"],
                r["cpu"]["hours"],
                r["cpu"]["limit"],
                g[0]["hours_local_decode"],
                g[-1]["hours_if_fed"],
                g[-1]["limit_if_fed"],
            )
        )
    header = ("nodes", "CPU fps", "CPU h", "CPU limit", "GPU h (own decode)", "GPU h (fed)", "GPU limit (fed)")
    print(common.table(rows, header))


if __name__ == "__main__":
    main()
