"""What the speed options cost in selection quality, on the throughput benchmark's clips.

Reference ("full settings"): every frame embedded at 224 px by the eager fp32 engine
(``torch``), L2-normalised, selected in the full 1280 dimensions. Each option changes one
thing and selects the same number of frames (10 %) with the same seed. Quality of a selection
is measured in the reference space:

* covering radius: the largest distance from any candidate (frame, or sequence mean) to its
  nearest selected one; reported relative to the reference selection's radius (1.00 = as
  good; lower is better);
* overlap: the fraction of the reference selection also selected.

Options: engine (``torch-bf16``, ``onnx``, ``openvino``, ``openvino-bf16``), ``model.input_size`` (160, 128),
``selection_dim`` (16, 32, 64, 128) and, for sequences of 10, ``embedding_frame_stride``
(2, 5).

    PYTHONPATH=src python3 benchmarks/bench_quality.py
    PYTHONPATH=src python3 benchmarks/bench_quality.py --smoke
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common


def embed_all(sources, engine: str, size: int) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    from framepick.embed import create_embedder, embed_sources

    embedder = create_embedder(engine, size, "cpu")
    start = time.perf_counter()
    results = embed_sources(sources, embedder)
    sec = time.perf_counter() - start
    emb = np.concatenate([r.embeddings for r in results]).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, sec


def seq_means(emb: np.ndarray, counts: list[int], length: int, stride: int = 1) -> np.ndarray:
    out = []
    begin = 0
    for n in counts:
        full = n // length
        block = emb[begin : begin + full * length].reshape(full, length, -1)
        out.append(block[:, ::stride].mean(axis=1))
        begin += n
    return np.concatenate(out).astype(np.float32)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=700)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    width, height, size = 1280, 720, 224
    if args.smoke:
        args.clips, args.frames, width, height, size = 1, 40, 320, 180, 64
    from framepick import discover
    from framepick.embed import ENGINES
    from framepick.engines import ENGINES as DECLARED
    from framepick.select import covering_radius, select

    sources = discover(common.make_input("clips", args.clips, args.frames, width, height))
    ref, ref_sec = embed_all(sources, "torch", size)
    counts = []
    for s in sources:
        import av

        with av.open(str(s.path)) as c:
            counts.append(sum(1 for _ in c.decode(video=0)))
    spaces: dict[str, tuple[np.ndarray, float]] = {"torch fp32 224": (ref, ref_sec)}
    for engine in [e.name for e in DECLARED if e.name != "torch" and "cpu" in e.devices]:  # the CPU options
        if engine in ENGINES:
            spaces[f"{engine} {size}"] = embed_all(sources, engine, size)
    sizes = (160, 128) if not args.smoke else (48,)
    for s in sizes:
        spaces[f"auto {s}"] = embed_all(sources, "auto", s)

    rows, figures = [], []

    def evaluate(label: str, length: int, cand: np.ndarray, ref_cand: np.ndarray, dim: int, base: np.ndarray | None):
        k = max(1, int(np.ceil(args.fraction * len(cand))))
        start = time.perf_counter()
        sel = select(cand, n_samples=k * length, length=length, selection_dim=dim).indices
        sec = time.perf_counter() - start
        radius = covering_radius(ref_cand, sel)
        overlap = 1.0 if base is None else len(np.intersect1d(sel, base)) / len(base)
        return sel, radius, overlap, sec

    for length in (1, 10) if not args.smoke else (1, 4):
        ref_cand = ref if length == 1 else seq_means(ref, counts, length)
        base, base_r, _, _ = evaluate("reference", length, ref_cand, ref_cand, -1, None)
        options: list[tuple[str, np.ndarray, int, float]] = []
        for name, (emb, sec) in spaces.items():
            if name != "torch fp32 224":
                cand = emb if length == 1 else seq_means(emb, counts, length)
                options.append((f"embedding {name}", cand, -1, sec))
        for dim in (16, 32, 64, 128):
            options.append((f"selection_dim {dim}", ref_cand, dim, ref_sec))
        if length > 1:
            for stride in (2, 5):
                options.append(
                    (f"embedding_frame_stride {stride}", seq_means(ref, counts, length, stride), -1, ref_sec / stride)
                )
        rows.append((length, "reference (fp32, 224, full dim)", len(ref_cand), 1.0, 1.0, ref_sec))
        figures.append(
            {
                "length": length,
                "option": "reference",
                "radius": base_r,
                "radius_ratio": 1.0,
                "overlap": 1.0,
                "embed_sec": ref_sec,
            }
        )
        for label, cand, dim, sec in options:
            _, r, ov, _ = evaluate(label, length, cand, ref_cand, dim, base)
            rows.append((length, label, len(cand), r / base_r, ov, sec))
            figures.append(
                {
                    "length": length,
                    "option": label,
                    "radius": r,
                    "radius_ratio": r / base_r,
                    "overlap": ov,
                    "embed_sec": sec,
                }
            )
    print(common.table(rows, ("L", "option", "candidates", "radius / ref", "overlap", "embed s")))
    fig = {
        "input": {"clips": args.clips, "frames_per_clip": args.frames},
        "fraction": args.fraction,
        "results": figures,
    }
    path = common.save("quality" if not args.smoke else "quality-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
