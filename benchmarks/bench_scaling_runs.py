"""Benchmark: local Ray against the local executor, whole runs (docs/scaling.md, section 2).

Whole runs (``framepick.run``, default settings, ``n_samples=0.1``, no cache) on the
throughput benchmark's clips: ``executor=local``, and ``executor=ray`` on a local Ray started
with 1 and with 2 CPUs (``ray.init(num_cpus=...)`` before the run), each Ray run in a child
process of its own, then ``embed_sources_ray`` alone on the same Ray (the decode+embed stage,
and the driver's CPU time a frame). A Ray run in which no frame comes in for ``--ray-stall``
seconds is given up and recorded as stalled. The Ray rows need ray and
``framepick.distributed.embed_sources_ray``; without them they are recorded as not measured,
with the reason. bench_scaling.py runs this with the other parts and writes ``ray_measured``
and ``runs`` of benchmarks/results/scaling.json; alone it writes scaling-runs.json.

    PYTHONPATH=src python3 benchmarks/bench_scaling_runs.py            # about 3 minutes
    PYTHONPATH=src python3 benchmarks/bench_scaling_runs.py --no-ray   # the local run only
    PYTHONPATH=src python3 benchmarks/bench_scaling_runs.py --smoke    # tiny input, correctness only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

Progress = Callable[[str, int, int | None], None]  # framepick.pipeline.Progress


def ray_available() -> tuple[bool, str]:
    """Whether the Ray rows can be measured, and why not."""
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


def whole_run(
    input_dir: Path, size: int, frames: int, words: dict[str, Any], progress: Progress | None = None
) -> dict[str, Any]:
    """One ``framepick.run`` (``words``: config overrides), timed, in a scratch output folder."""
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
        start = common.clock()
        result = run(config, progress)
        wall, cpu = common.since(start)
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

    start = common.clock()
    out = embed_sources_ray(discover(input_dir), ModelSpec(input_size=size), RayConfig())
    wall, cpu = common.since(start)
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
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = "\n".join(err.strip().splitlines()[-5:])
    return {"ray_cpus": cpus, "measured": False, "error": f"exit status {proc.returncode}: {tail}"}


def measure_runs(
    input_dir: Path, size: int, frames: int, ray_cpus: Sequence[int], stall: float, timeout: float, ray: bool
) -> dict[str, Any]:
    """scaling.json's ``ray_measured`` (and ``ray_not_measured``, the reason) and ``runs``:
    the local run, then one Ray run for each count of ``ray_cpus`` (with ``ray``)."""
    runs: dict[str, Any] = {"frames": frames}
    runs["local"] = whole_run(input_dir, size, frames, {"executor": "local"})
    ok, why = ray_available() if ray else (False, "--no-ray")
    out: dict[str, Any] = {"ray_measured": ok}
    if not ok:
        out["ray_not_measured"] = why
    else:
        for cpus in ray_cpus:
            runs[f"ray_{cpus}cpu"] = ray_run(input_dir, size, frames, cpus, stall, timeout)
    out["runs"] = runs
    return out


def print_runs(fig: dict[str, Any]) -> None:
    runs = [
        (k, v["fps"], v["sec"]) if "fps" in v else (k, "-", v.get("stalled") or v.get("error"))
        for k, v in fig["runs"].items()
        if isinstance(v, dict)
    ]
    print(common.table(runs, ("whole run", "frames/s", "s")))
    if not fig["ray_measured"]:
        print(f"Ray runs not measured: {fig['ray_not_measured']}")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """This part's flags (the clips' are :func:`_common.add_clip_arguments`)."""
    ap.add_argument("--ray-cpus", default="1,2")
    ap.add_argument("--ray-stall", type=float, default=60.0, help="give a Ray run up after this long without a frame")
    ap.add_argument("--ray-timeout", type=float, default=600.0, help="give a Ray run up after this long")


def settings(args: argparse.Namespace) -> tuple[list[int], float, float]:
    """(Ray CPU counts, stall, timeout); ``--smoke`` allows 120 s to stall: a loaded machine
    starts Ray slowly."""
    stall = 120.0 if args.smoke else args.ray_stall
    return [int(c) for c in args.ray_cpus.split(",")], stall, args.ray_timeout


def main(argv: list[str] | None = None) -> dict[str, Any]:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--ray-child"]:  # a child of ray_run
        child = argv[1:6]
        out = _ray_child(int(child[0]), Path(child[1]), int(child[2]), int(child[3]), float(child[4]))
        print("RESULT " + json.dumps(out, default=float), flush=True)
        return out
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_clip_arguments(ap)
    add_arguments(ap)
    ap.add_argument("--no-ray", action="store_true", help="the local run only")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/scaling-runs.json)")
    args = ap.parse_args(argv)
    clips = common.ClipInput.from_args(args)
    cpus, stall, timeout = settings(args)
    frames = clips.clips * clips.frames  # every generated clip has exactly its frames
    fig = {
        "input": clips.describe(),
        **measure_runs(clips.folder(), clips.size, frames, cpus, stall, timeout, not args.no_ray),
    }
    print_runs(fig)
    path = common.save("scaling-runs" if not args.smoke else "scaling-runs-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
