"""Benchmark: the combined greedy kernel (selection strategies) against pure greedy k-center.

N = 100,000 and 1,000,000 video-like points in 64 dimensions (``video_like`` of
bench_select.py), k = 1,000 picks, three runs each:

* ``kcenter``: :func:`framepick._kcenter.kcenter_fast`, the selection framepick runs today;
* ``diversity``: :func:`framepick._strategies.combined_greedy` with DIVERSITY alone; its picks
  and radii must equal kcenter's exactly (checked);
* ``combined``: DIVERSITY + WEIGHTS (strength 1, random positive weights) + a THRESHOLD that
  keeps 90% of the points + BALANCE over 3 random categories (target 0.5/0.3/0.2).

All start at the same seeded first point. The three kernels run in ``--repeat`` interleaved
rounds and the fastest time of each counts (the machine may be shared); then each runs once
more under ``tracemalloc`` for its peak extra memory (NumPy reports its buffers to
tracemalloc; ``x`` itself is allocated before and not counted). Part of every peak is the
kernels' first distance pass, which makes an x-sized temporary (``x - center``).

    PYTHONPATH=src python3 benchmarks/bench_strategies.py
    PYTHONPATH=src python3 benchmarks/bench_strategies.py --smoke
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from bench_select import video_like

TARGET = (0.5, 0.3, 0.2)


def _measure(
    runs: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, bool]]], repeat: int
) -> tuple[dict[str, tuple], dict[str, float], dict[str, float]]:
    """(results, seconds, peak extra MiB) per kernel: the fastest of ``repeat`` rounds (the
    kernels interleaved, so a busy spell hits them alike), then one run each under tracemalloc."""
    results: dict[str, tuple] = {}
    sec = dict.fromkeys(runs, math.inf)
    for _ in range(repeat):
        for name, fn in runs.items():
            start = time.perf_counter()
            results[name] = fn()
            sec[name] = min(sec[name], time.perf_counter() - start)
    peak = {}
    for name, fn in runs.items():
        tracemalloc.start()
        fn()
        peak[name] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return results, sec, peak


def case(x: np.ndarray, k: int, repeat: int = 1, seed: int = 0) -> dict:
    from framepick._kcenter import kcenter_fast
    from framepick._strategies import Balance, combined_greedy

    n = len(x)
    rng = np.random.default_rng(seed)
    first = int(rng.integers(n))
    weights = np.log(rng.uniform(0.05, 1.0, n))  # WEIGHTS, strength 1: log(weight)
    allowed = rng.random(n) < 0.9  # THRESHOLD: 90% of the points pass
    allowed[first] = True
    cats = rng.integers(0, len(TARGET), n).astype(np.int32)
    balance = Balance(cats, np.array(TARGET), 1.0)

    res, sec, peak = _measure(
        {
            "kcenter": lambda: kcenter_fast(x, k, first),
            "diversity": lambda: combined_greedy(x, k, first=first),
            "combined": lambda: combined_greedy(x, k, static=weights, allowed=allowed, balances=[balance], first=first),
        },
        repeat,
    )
    kc, div, comb = res["kcenter"], res["diversity"], res["combined"]
    kc_sec, div_sec, comb_sec = sec["kcenter"], sec["diversity"], sec["combined"]
    kc_mb, div_mb, comb_mb = peak["kcenter"], peak["diversity"], peak["combined"]
    identical = bool(np.array_equal(kc[0], div[0]) and np.array_equal(kc[1], div[1]))
    picks = comb[0]
    counts = np.bincount(cats[picks], minlength=len(TARGET))
    return {
        "n": n,
        "dim": x.shape[1],
        "k": k,
        "kcenter_sec": kc_sec,
        "diversity_sec": div_sec,
        "diversity_ratio": div_sec / kc_sec,
        "identical": identical,
        "combined_sec": comb_sec,
        "combined_ratio": comb_sec / kc_sec,
        "kcenter_peak_mb": kc_mb,
        "diversity_peak_mb": div_mb,
        "combined_peak_mb": comb_mb,
        "combined_picks": len(picks),
        "combined_all_allowed": bool(allowed[picks].all()),
        "combined_category_counts": counts.tolist(),
        "combined_mean_weight": float(np.exp(weights[picks]).mean()),
        "mean_weight_allowed": float(np.exp(weights[allowed]).mean()),
        "kcenter_final_radius": float(kc[1][-1]),
        "combined_final_radius": float(comb[1][-1]),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--k", type=int, default=1_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds; the fastest counts")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.k, args.repeat = [5_000, 20_000], 100, 1
    results = []
    for n in args.n:
        results.append(case(video_like(n, args.dim), args.k, args.repeat))
    rows = [
        (
            r["n"],
            r["k"],
            r["kcenter_sec"],
            r["diversity_sec"],
            r["diversity_ratio"],
            r["combined_sec"],
            r["combined_ratio"],
            f"{r['kcenter_peak_mb']:.0f}/{r['diversity_peak_mb']:.0f}/{r['combined_peak_mb']:.0f}",
            r["identical"],
            "/".join(map(str, r["combined_category_counts"])),
        )
        for r in results
    ]
    header = ("N", "k", "kcenter s", "diversity s", "ratio", "combined s", "ratio", "peak MiB k/d/c", "identical")
    print(common.table(rows, (*header, "balance")))
    fig = {
        "data": "synthetic video-like, 1/j spectrum (bench_select.py)",
        "combined": "DIVERSITY 1 + WEIGHTS 1 (uniform 0.05..1) + THRESHOLD (90% allowed) + BALANCE 0.5/0.3/0.2 over 3",
        "cases": results,
    }
    path = common.save("strategies" if not args.smoke else "strategies-smoke", fig, args.out)
    print(f"\nwritten {path}")
    if not all(r["identical"] for r in results):
        raise SystemExit("combined_greedy with diversity alone differs from kcenter_fast")
    return fig


if __name__ == "__main__":
    main()
