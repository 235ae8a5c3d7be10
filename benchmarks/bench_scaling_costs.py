"""Benchmark: what one frame costs at each step of executor=ray (docs/scaling.md, section 1).

On the throughput benchmark's 720p H.264 clips (3 x 700 frames):

* decode to the model size with framepick's decoder (``PyAVDecoder().frames(source, 224)``),
  with FFmpeg's frame threading (as a run decodes) and without (one core, the first clip);
* embed with the default engine (``create_embedder("auto", 224)``), one frame per call and
  batches of 8 and 32, on the same pre-decoded frames (the first 640);
* transfer through Ray's object store within this node: ``ray.put`` + ``ray.get`` of a
  (32, 224, 224, 3) uint8 batch in the driver, the same batch handed to an actor in another
  process, an empty actor call (the fixed cost of one round trip), and a (32, 1280) float32
  embedding batch; plus the bytes a frame that cross a network. Needs ray (skipped without).

Each is timed as wall time and as the process's CPU time (all threads), best of ``--repeat``
rounds; the machine may be shared. bench_scaling.py runs this with the other parts and
writes ``frame_costs`` of benchmarks/results/scaling.json; alone it writes scaling-costs.json.

    PYTHONPATH=src python3 benchmarks/bench_scaling_costs.py            # about 1 minute
    PYTHONPATH=src python3 benchmarks/bench_scaling_costs.py --smoke    # seconds, correctness only
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from scaling_projection import EMBEDDING_BYTES, REDUCED_BYTES

KEPT_FRAMES = 640  # decoded frames kept for the embedding rounds
BATCHES = (1, 8, 32)


def decode_cost(sources: Sequence[Any], size: int, repeat: int) -> tuple[dict[str, Any], np.ndarray]:
    """Decoding with and without FFmpeg's threads; returns the figures and the first frames."""
    from framepick.decode import PyAVDecoder

    out: dict[str, Any] = {}
    kept: list[np.ndarray] = []
    for label, threads, srcs in (("threaded", True, sources), ("one_thread", False, sources[:1])):
        decoder = PyAVDecoder(threads=threads)
        rounds = []
        n = 0
        for _ in range(repeat):
            n = 0
            start = common.clock()
            for source in srcs:
                for frame in decoder.frames(source, size):
                    if len(kept) < KEPT_FRAMES and frame.pixels is not None:
                        kept.append(frame.pixels)
                    n += 1
            rounds.append(common.since(start))
        out[label] = {"frames": n, **common.best_round(rounds, n)}
    return out, np.stack(kept)


def embed_cost(pixels: np.ndarray, size: int, repeat: int, batches: tuple[int, ...] = BATCHES) -> dict[str, Any]:
    """The default engine on pre-decoded frames, per batch size."""
    from framepick.embed import create_embedder

    engine = create_embedder("auto", size)
    engine.embed(pixels[:32])  # warm-up
    out: dict[str, Any] = {"engine": engine.name, "input_size": size, "frames": len(pixels)}
    for batch in batches:
        rounds = []
        for _ in range(repeat):
            start = common.clock()
            for begin in range(0, len(pixels), batch):
                engine.embed(pixels[begin : begin + batch])
            rounds.append(common.since(start))
        out[f"batch_{batch}"] = common.best_round(rounds, len(pixels))
    return out


def _timed(fn: Callable[[], object], reps: int) -> dict[str, float]:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"best_ms": 1e3 * min(times), "median_ms": 1e3 * float(np.median(times))}


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

    def put_get(x: np.ndarray) -> None:
        out = ray.get(ray.put(x))
        assert out.shape == x.shape

    cases = {
        "put_get_frames_batch32": _timed(lambda: put_get(frames), reps),
        "put_get_embeddings_batch32": _timed(lambda: put_get(embeddings), reps),
        "put_to_actor_frames_batch32": _timed(lambda: ray.get(sink.touch.remote(ray.put(frames))), reps),
        "put_to_actor_copy_frames_batch32": _timed(lambda: ray.get(sink.copy.remote(ray.put(frames))), reps),
        "empty_actor_call": _timed(lambda: ray.get(sink.nothing.remote()), reps),
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


def measure_costs(clips: common.ClipInput, repeat: int, ray: bool, transfer_reps: int) -> dict[str, Any]:
    """scaling.json's ``frame_costs``: decode, embed, the bytes a frame, and (with ``ray``,
    where ray is installed) the object store on a local 2-CPU Ray."""
    from framepick import discover

    decode, pixels = decode_cost(discover(clips.folder()), clips.size, repeat)
    costs: dict[str, Any] = {
        "decode": decode,
        "embed": embed_cost(pixels, clips.size, repeat),
        "bytes_per_frame": pixels[0].nbytes,
        "bytes_per_embedding_1280_f32": EMBEDDING_BYTES,
        "bytes_per_embedding_64_f32": REDUCED_BYTES,
    }
    del pixels
    if ray and importlib.util.find_spec("ray") is not None:
        import ray as ray_module

        ray_module.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            costs["transfer"] = transfer_cost(ray_module, clips.size, transfer_reps)
        finally:
            ray_module.shutdown()
    return costs


def print_costs(costs: dict[str, Any]) -> None:
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


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """This part's flags (the clips' are :func:`_common.add_clip_arguments`)."""
    ap.add_argument("--repeat", type=int, default=2, help="rounds of each per-frame cost (best counts)")


def settings(args: argparse.Namespace) -> tuple[int, int]:
    """(rounds, object-store repetitions): ``--repeat`` and 30, or 1 and 3 with ``--smoke``."""
    return (1, 3) if args.smoke else (args.repeat, 30)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_clip_arguments(ap)
    add_arguments(ap)
    ap.add_argument("--no-ray", action="store_true", help="skip the object store")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/scaling-costs.json)")
    args = ap.parse_args(argv)
    clips = common.ClipInput.from_args(args)
    repeat, transfer_reps = settings(args)
    fig: dict[str, Any] = {
        "input": clips.describe(),
        "method": f"best of {repeat} rounds (wall); CPU time is the process's, all threads",
        "frame_costs": measure_costs(clips, repeat, not args.no_ray, transfer_reps),
    }
    print_costs(fig["frame_costs"])
    path = common.save("scaling-costs" if not args.smoke else "scaling-costs-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
