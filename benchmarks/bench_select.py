"""Benchmark 3: greedy k-center at scale, fast kernel against the plain NumPy reference.

* frames: N = 1,000,000 vectors, k = 10,000;
* sequences: 1,000,000 frames in sequences of 10 -> N = 100,000 sequence means, k = 1,000;

both in 64 dimensions, the dimension framepick selects in by default (``selection_dim``).
The vectors are synthetic but shaped like video embeddings after PCA: each "shot" (100 to
2,000 frames) is a smooth curve around its own anchor point, with small per-frame noise, and
the variance of component j decays like 1/j (as the PCA spectrum of CNN features does).
The same first point is used by both kernels (``np.random.default_rng(seed).integers(N)``).

The reference costs the same for every pick (one full O(N·d) pass), so by default it runs
only the first ``--reference-picks`` picks: those must equal the fast kernel's first picks
exactly, and its full time is extrapolated linearly (frames case; ``--reference-picks 0`` runs
it to k). The sequences case always runs the reference to k.

    PYTHONPATH=src python3 benchmarks/bench_select.py
    PYTHONPATH=src python3 benchmarks/bench_select.py --smoke
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common


def video_like(n: int, d: int, seed: int = 0, noise: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sd = (np.arange(1, d + 1) ** -0.5).astype(np.float32)
    out = np.empty((n, d), np.float32)
    i = 0
    while i < n:
        length = min(int(rng.integers(100, 2000)), n - i)
        s = np.linspace(0, 1, length, dtype=np.float32)[:, None]
        a, b, c = rng.standard_normal((3, d)).astype(np.float32) * sd
        phase = np.float32(rng.uniform(0, 6))
        out[i : i + length] = a + b * s * 0.7 + c * np.sin(3 * s + phase) * 0.4
        out[i : i + length] += rng.standard_normal((length, d), dtype=np.float32) * (noise * sd)
        i += length
    return out


def case(name: str, x: np.ndarray, k: int, reference_picks: int, seed: int = 0) -> dict:
    from framepick._kcenter import kcenter_fast, kcenter_reference

    n = len(x)
    first = int(np.random.default_rng(seed).integers(n))
    start = time.perf_counter()
    fast, fast_radii, _ = kcenter_fast(x, k, first)
    fast_sec = time.perf_counter() - start
    r = k if reference_picks <= 0 else min(reference_picks, k)
    start = time.perf_counter()
    ref, ref_radii, _ = kcenter_reference(x, r, first)
    ref_sec = time.perf_counter() - start
    identical = bool(np.array_equal(ref, fast[:r]) and np.array_equal(ref_radii, fast_radii[:r]))
    ref_full = ref_sec * k / r
    return {
        "case": name,
        "n": n,
        "dim": x.shape[1],
        "k": k,
        "fast_sec": fast_sec,
        "reference_picks_run": r,
        "reference_sec": ref_sec,
        "reference_sec_for_k": ref_full,
        "reference_extrapolated": r < k,
        "speedup": ref_full / fast_sec,
        "identical": identical,
        "final_radius": float(fast_radii[-1]),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--length", type=int, default=10, help="sequence length of the sequences case")
    ap.add_argument("--reference-picks", type=int, default=100, help="0: run the reference to k")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.k, args.reference_picks = 20_000, 200, 0
    frames = video_like(args.n, args.dim)
    results = [case("frames", frames, args.k, args.reference_picks)]
    m = args.n // args.length
    sequences = frames[: m * args.length].reshape(m, args.length, args.dim).mean(axis=1)
    del frames
    # k = 1,000: the reference runs to k here (about 20 s), no extrapolation
    results.append(case(f"sequences (L={args.length})", sequences, max(1, args.k // 10), 0))
    rows = [
        (
            r["case"],
            r["n"],
            r["k"],
            r["fast_sec"],
            r["reference_sec_for_k"],
            f"extrapolated from {r['reference_picks_run']} picks" if r["reference_extrapolated"] else "run to k",
            r["speedup"],
            r["identical"],
        )
        for r in results
    ]
    print(common.table(rows, ("case", "N", "k", "fast s", "reference s", "reference", "speedup", "identical")))
    fig = {"data": "synthetic video-like, 1/j spectrum (see docstring)", "cases": results}
    path = common.save("select" if not args.smoke else "select-smoke", fig, args.out)
    print(f"\nwritten {path}")
    if not all(r["identical"] for r in results):
        raise SystemExit("fast and reference selections differ")
    return fig


if __name__ == "__main__":
    main()
