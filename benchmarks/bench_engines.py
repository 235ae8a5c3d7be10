"""Benchmark: the engine levers of issue #13 that the peers benchmark does not cover.

1. **Thread counts by cores.** In a child process pinned to the first C cores
   (``os.sched_setaffinity``, what ``taskset -c 0-{C-1}`` does), for C in ``--cores``
   (1, 2, 4, 8, 16) up to this machine's cores, and all of them:
   * each CPU engine that loads here (``openvino-bf16``, ``openvino``, ``onnx``) embeds the
     same frames with as many threads as the pinned cores (framepick's default:
     ``framepick._cpus.usable_cpus``) and, where C is below the machine's count, with as
     many as the machine has (``os.cpu_count()``, the default before), best of ``--repeat``;
   * a whole ``framepick run`` (default settings, 30 picks, empty embedding cache) on the
     peers benchmark's 600 loose JPEG files and on its H.264 clip, best of ``--repeat``.
   ``--smoke`` measures 1 core and all of them only.
   A machine with more cores measures more rows with the same command (the 4-16-core check
   of issue #13); this one has what ``machine.cores`` in the JSON says.
2. **torch.compile** (inductor, CPU) of the model ``torch``/``torch-bf16`` run eagerly:
   the first call (compilation included) and images/s after, batch 32, against eager.
3. **ONNX Runtime's saved optimised model**: session creation from the export with every
   graph optimisation against loading a model ORT optimised and saved before (with the
   optimisations off), images/s of both, and their largest output difference.

    PYTHONPATH=src python3 benchmarks/bench_engines.py           # about 5 minutes on 2 cores
    PYTHONPATH=src python3 benchmarks/bench_engines.py --smoke   # seconds, correctness only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common


def _cpu_engines() -> tuple[str, ...]:
    """The ONNX-runtime engines (OpenVINO, ONNX Runtime), in ``auto``'s order (framepick.engines)."""
    from framepick.engines import AUTO_CPU, engine

    return tuple(name for name in AUTO_CPU if engine(name).runtime != "torch")


def frames(n: int, size: int, seed: int = 3) -> np.ndarray:
    """``n`` camera-over-photo frames at ``size`` px (uint8 NHWC), a scene every 30 frames."""
    rng = np.random.default_rng(seed)
    photos = common._photos()
    out: list[np.ndarray] = []
    while len(out) < n:
        photo = photos[int(rng.integers(len(photos)))]
        out.extend(common._scene_frames(photo, min(30, n - len(out)), size, size, rng))
    return np.stack(out)


def _best_rate(embed: Any, pixels: np.ndarray, batch: int, repeat: int) -> float:
    embed(pixels[:batch])  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, len(pixels), batch):
            embed(pixels[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return len(pixels) / best


# -- 1. threads ---------------------------------------------------------------------------


def _pinned(cores: int) -> None:
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))


def engine_threads_child(cores: int, n: int, size: int, repeat: int, export_dir: Path) -> dict[str, Any]:
    """In a process pinned to ``cores`` cores: each engine's images/s with the default
    thread count and with the machine's count."""
    from framepick._cpus import usable_cpus
    from framepick.engines import available_engines
    from framepick.models.resolved import ResolvedModel
    from framepick.models.sources import BuiltinModel

    pixels = frames(n, size)
    machine_cores = os.cpu_count() or 1
    out: dict[str, Any] = {"cores": cores, "usable_cpus": usable_cpus(), "engines": {}}
    present = available_engines()
    for name in _cpu_engines():
        if name not in present:
            continue
        row: dict[str, Any] = {}
        counts = {"default": None} if cores >= machine_cores else {"default": None, "machine": machine_cores}
        for label, threads in counts.items():
            embedder = ResolvedModel(BuiltinModel(size), name, "cpu", export_dir).load(threads)
            row[f"{label}_threads"] = threads or usable_cpus()
            row[f"{label}_images_per_sec"] = _best_rate(embedder.embed, pixels, 1, repeat)
            del embedder
        out["engines"][name] = row
    return out


def whole_run(inp: Path, cores: int, cache: Path, repeat: int, k: int = 30) -> dict[str, Any]:
    """``framepick run`` at default settings in a process pinned to ``cores`` cores, best of
    ``repeat`` (the embedding cache emptied before each; the ONNX export kept)."""
    from framepick.cache import CACHE_VERSION

    best, stages = float("inf"), {}
    for _ in range(repeat):
        shutil.rmtree(cache / f"v{CACHE_VERSION}", ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="engines-run-") as tmp:
            words = [f"input_dir={inp}", f"output_dir={tmp}/out", f"stopping_condition.n_samples={k}"]
            env = dict(os.environ, FRAMEPICK_CACHE_DIR=str(cache))
            cmd = [sys.executable, "-m", "framepick.cli", "run", *words]
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True, preexec_fn=lambda: _pinned(cores))
            sec = time.perf_counter() - start
            report = json.loads((Path(tmp) / "out/report.json").read_text())
        if sec < best:
            best, stages = sec, report.get("timings_sec", {})
    return {"sec": best, "stages": stages}


def _child(args: list[str]) -> dict[str, Any]:
    cores, n, size, repeat, export_dir = int(args[0]), int(args[1]), int(args[2]), int(args[3]), Path(args[4])
    _pinned(cores)
    return engine_threads_child(cores, n, size, repeat, export_dir)


def threads_section(
    n: int, size: int, repeat: int, cache: Path, peers_input: Path, counts: list[int]
) -> list[dict[str, Any]]:
    rows = []
    for cores in counts:
        cmd = [sys.executable, __file__, "--child", str(cores), str(n), str(size), str(repeat), str(cache / "onnx")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(next(li for li in proc.stdout.splitlines() if li.startswith("RESULT "))[7:])
        row["run_jpeg_folder"] = whole_run(peers_input / "frames", cores, cache, repeat)
        row["run_h264_clip"] = whole_run(peers_input / "video", cores, cache, repeat)
        rows.append(row)
    return rows


# -- 2. torch.compile ---------------------------------------------------------------------


def torch_compile_section(n: int, size: int, repeat: int, batch: int = 32) -> dict[str, Any]:
    import torch

    from framepick.embed import TorchEmbedder, cpu_has_bf16

    pixels = frames(n, size)
    out: dict[str, Any] = {}
    precisions = ["fp32"] + (["bf16"] if cpu_has_bf16() else [])
    for precision in precisions:
        eager = TorchEmbedder(size, "cpu", precision=precision)
        reference = eager.embed(pixels[:batch])
        row: dict[str, Any] = {"eager_images_per_sec": _best_rate(eager.embed, pixels, batch, repeat)}
        compiled = TorchEmbedder(size, "cpu", precision=precision)
        compiled.runner.module = torch.compile(compiled.runner.module)  # type: ignore[attr-defined]
        start = time.perf_counter()
        first = compiled.embed(pixels[:batch])
        row["compiled_first_call_sec"] = time.perf_counter() - start
        row["compiled_images_per_sec"] = _best_rate(compiled.embed, pixels, batch, repeat)
        row["max_abs_diff_to_eager"] = float(np.abs(first - reference).max())
        out[precision] = row
        del eager, compiled
    return out


# -- 3. ONNX Runtime's saved optimised model ------------------------------------------------


def ort_saved_section(size: int, n: int, repeat: int, folder: Path) -> dict[str, Any]:
    import onnxruntime as ort

    from framepick.embed import OnnxEmbedder

    export = OnnxEmbedder.export(size, folder)
    saved = folder / f"{export.stem}.ort-optimised.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(saved)
    ort.InferenceSession(str(export), options, providers=["CPUExecutionProvider"])

    def session(path: Path, level: Any) -> tuple[float, Any]:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        opts.intra_op_num_threads = len(os.sched_getaffinity(0))
        best, sess = float("inf"), None
        for _ in range(max(repeat, 3)):
            start = time.perf_counter()
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            best = min(best, time.perf_counter() - start)
        return best, sess

    pixels = frames(n, size)
    out: dict[str, Any] = {}
    results = {}
    for label, path, level in (
        ("from_export", export, ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
        ("from_saved_optimised", saved, ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
    ):
        sec, sess = session(path, level)
        name = sess.get_inputs()[0].name

        def embed(batch: np.ndarray, sess: Any = sess, name: str = name) -> np.ndarray:
            return sess.run(None, {name: batch})[0]

        out[label] = {"session_sec": sec, "images_per_sec": _best_rate(embed, pixels, 1, repeat)}
        results[label] = embed(pixels[:8])
    out["max_abs_diff"] = float(np.abs(results["from_export"] - results["from_saved_optimised"]).max())
    return out


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300, help="frames each engine embeds per round")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cores", default="1,2,4,8,16", help="core counts to pin to (those this machine has, and all)")
    ap.add_argument("--no-threads", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/engines.json)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        out = _child(argv[1:])
        print("RESULT " + json.dumps(out, default=float), flush=True)
        return out
    args = ap.parse_args(argv)
    scenes = (20, 30, 768, 576)
    if args.smoke:
        args.frames, args.size, args.repeat, scenes = 8, 64, 1, (2, 4, 96, 64)
    import bench_peers

    peers_input = bench_peers.make_scenes(*scenes)
    fig: dict[str, Any] = {"frames": args.frames, "size": args.size, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="engines-cache-") as tmp:
        cache = Path(tmp)
        if not args.no_threads:
            most = len(os.sched_getaffinity(0))
            asked = {1} if args.smoke else {int(c) for c in args.cores.split(",")}
            counts = sorted({c for c in asked if 1 <= c < most} | {most})
            fig["threads"] = threads_section(args.frames, args.size, args.repeat, cache, peers_input, counts)
        fig["ort_saved_optimised"] = ort_saved_section(args.size, args.frames, args.repeat, cache / "ort")
    if not args.no_compile:
        fig["torch_compile"] = torch_compile_section(min(args.frames, 128), args.size, args.repeat)
    path = common.save("engines", fig, args.out)
    _print(fig)
    print(f"wrote {path}")
    return fig


def _print(fig: dict[str, Any]) -> None:
    rows: list[tuple[Any, ...]] = []
    for row in fig.get("threads", []):
        for name, e in row["engines"].items():
            rows.append((row["cores"], name, e["default_threads"], e["default_images_per_sec"],
                         e.get("machine_threads", "-"), e.get("machine_images_per_sec", "-")))  # fmt: skip
        rows.append((row["cores"], "run: JPEG folder", "", row["run_jpeg_folder"]["sec"], "", ""))
        rows.append((row["cores"], "run: H.264 clip", "", row["run_h264_clip"]["sec"], "", ""))
    if rows:
        print(common.table(rows, ("cores", "what", "threads", "images/s or sec", "machine threads", "images/s")))
    for precision, r in fig.get("torch_compile", {}).items():
        eager, compiled = r["eager_images_per_sec"], r["compiled_images_per_sec"]
        first, diff = r["compiled_first_call_sec"], r["max_abs_diff_to_eager"]
        print(f"torch {precision}: eager {eager:.1f}/s, compiled {compiled:.1f}/s", end=" ")
        print(f"(first call {first:.1f} s, largest difference {diff:.2g})")
    ort = fig["ort_saved_optimised"]
    a, b = ort["from_export"], ort["from_saved_optimised"]
    print(f"ORT session from the export {a['session_sec']:.3f} s,", end=" ")
    print(f"from the saved optimised model {b['session_sec']:.3f} s")
    print(f"ORT images/s: {a['images_per_sec']:.1f} and {b['images_per_sec']:.1f}")


if __name__ == "__main__":
    main()
