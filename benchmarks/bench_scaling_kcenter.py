"""Benchmark: greedy k-center at 1M-10M candidates (docs/scaling.md, section 4).

``framepick._kcenter.kcenter_fast`` at 64 dimensions on ``video_like`` points
(bench_select.py), N = 1M, 2M, 5M and 10M (10M only if the memory is there; the points are
prefixes of one 10M array), k = 1,000, the faster of 2 rounds (``--kcenter-repeat-n``; the
picks of both must agree):

* the time to the end of pick t, for t = 1, 10, 100, 1,000 (and k): ``kcenter_fast`` itself
  run to each t in turn, the best of the rounds for each t. Greedy picks do not depend on k
  (a run to t picks the first t picks of a run to k; recorded as ``identical_to_kcenter_fast``
  for N <= ``--verify-n``), so the difference of two such times is the cost of the picks
  between them. (This used to be a copy of ``kcenter_fast``'s loop reading the clock after
  every pick; only these checkpoints were ever reported.)
* the O(N) per-pick floor: the argmax and the pruning pass over two flat arrays with no point
  passing, on the state the picks left (``NearestTracker`` given the same picks);
* the peak extra memory (tracemalloc over ``kcenter_fast``'s first ``--mem-picks`` picks:
  the peak is the first, unpruned pass).

At the smallest N the picks run on to ``--k-long`` to show how the cost of a pick falls as the
radius shrinks. From these, :func:`scaling_projection.project_kcenter` projects 10M and 100M
candidates. bench_scaling.py runs this with the other parts and writes ``kcenter`` and
``kcenter_projection`` of benchmarks/results/scaling.json; alone it writes scaling-kcenter.json.

    PYTHONPATH=src python3 benchmarks/bench_scaling_kcenter.py            # about 10 minutes
    PYTHONPATH=src python3 benchmarks/bench_scaling_kcenter.py --smoke    # seconds, correctness only
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from bench_select import video_like
from scaling_projection import kcenter_projection, print_kcenter_projection

from framepick._kcenter import NearestTracker, kcenter_fast

CHECKPOINTS = (1, 10, 100, 1_000, 10_000, 100_000)  # picks timed (besides k itself)
DIM = 64  # the points' dimensions (float32: 256 bytes a point)


def kcenter_timed(x: np.ndarray, k: int, first: int) -> tuple[np.ndarray, dict[int, float], bool]:
    """``kcenter_fast(x, t, first)`` timed for each checkpoint t below k and for k.

    Returns the picks of the run to k, the seconds to the end of pick t (``{t: sec}``), and
    whether every shorter run picked the first t picks of the run to k.
    """
    stamps: dict[int, float] = {}
    runs: list[np.ndarray] = []
    for t in sorted({c for c in CHECKPOINTS if c < k} | {k}):
        start = time.perf_counter()
        picked, _, _ = kcenter_fast(x, t, first)
        stamps[t] = time.perf_counter() - start
        runs.append(picked)
    full = runs[-1]
    return full, stamps, all(np.array_equal(p, full[: len(p)]) for p in runs)


def tracker_after(x: np.ndarray, picked: np.ndarray) -> NearestTracker:
    """The ``NearestTracker`` state ``kcenter_fast`` ends with after ``picked`` (the same adds)."""
    tracker = NearestTracker(x, len(picked))
    for i in picked:
        tracker.add(x[i], int(i))
    return tracker


def pass_floor(tracker: NearestTracker, reps: int = 5) -> float:
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


def _segments(stamps: Mapping[int, float] | np.ndarray, n: int) -> list[dict[str, Any]]:
    """Mean time of a pick over picks (a, b] between checkpoints, in ms and in ns per point.
    ``stamps[t]``: seconds to the end of pick t, for the checkpoints below k and for k (an
    array indexed by pick, ``stamps[0]`` = 0, will do too)."""
    k = len(stamps) - 1 if isinstance(stamps, np.ndarray) else max(stamps)
    bounds = [b for b in CHECKPOINTS if b < k] + [k]
    out = []
    for a, b in itertools.pairwise(bounds):
        per_pick = (stamps[b] - stamps[a]) / (b - a)
        out.append({"picks": [a + 1, b], "ms_per_pick": 1e3 * per_pick, "ns_per_point_per_pick": 1e9 * per_pick / n})
    return out


def _peak_extra(x: np.ndarray, picks: int, first: int) -> int:
    """Peak bytes ``kcenter_fast`` allocates over its first ``picks`` picks (tracemalloc)."""
    tracemalloc.start()
    try:
        kcenter_fast(x, picks, first)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def kcenter_case(x: np.ndarray, k: int, verify: bool, mem_picks: int, repeat: int, seed: int = 0) -> dict[str, Any]:
    """One N: each checkpoint's best time over ``repeat`` rounds, the floor, the peak extra
    memory; with ``verify``, also whether the shorter runs agreed with the run to k (every
    round). A segment's time is the difference of two runs, so where it is short against the
    run's set-up (tiny N, few picks: ``--smoke``) it is within noise, and may be negative."""
    n = len(x)
    first = int(np.random.default_rng(seed).integers(n))
    picked, best, agree = kcenter_timed(x, k, first)
    for _ in range(repeat - 1):
        again, stamps, same = kcenter_timed(x, k, first)
        assert np.array_equal(again, picked)
        agree = agree and same
        best = {t: min(sec, stamps[t]) for t, sec in best.items()}  # each checkpoint is a run of its own
    floor = pass_floor(tracker_after(x, picked))
    out: dict[str, Any] = {
        "n": n,
        "dim": x.shape[1],
        "k": k,
        "sec": float(best[k]),
        "rounds": repeat,
        "first_pick_sec": float(best[1]),  # tracker set-up + the unpruned first pass
        "stamps_sec": {str(t): float(best[t]) for t in CHECKPOINTS if t <= k},
        "segments": _segments(best, n),
        "floor_ms_per_pick": 1e3 * floor,
        "floor_ns_per_point": 1e9 * floor / n,
    }
    if verify:
        out["kcenter_fast_sec"] = float(best[k])  # the run to k is kcenter_fast itself: ``sec``
        out["identical_to_kcenter_fast"] = agree
    peak = _peak_extra(x, min(mem_picks, k), first)
    out["mem_picks"] = min(mem_picks, k)
    out["points_mb"] = x.nbytes / 1e6
    out["peak_extra_mb"] = peak / 1e6
    out["peak_extra_bytes_per_point"] = peak / n
    return out


def measure_kcenter(
    sizes: Sequence[int], k: int, k_long: int, verify_n: int, repeat_n: int, mem_picks: int
) -> dict[str, Any]:
    """scaling.json's ``kcenter_skipped_n``, ``kcenter_points_sec``, ``kcenter`` and
    ``kcenter_projection``. An N whose points would not fit three times in the memory
    available is skipped (the points, a points-sized temporary, headroom); the smallest never."""
    sizes = sorted(sizes)
    avail = common.mem_available()
    keep = [n for n in sizes if n == sizes[0] or not avail or n * DIM * 4 * 3 < avail]
    out: dict[str, Any] = {"kcenter_skipped_n": [n for n in sizes if n not in keep]}
    start = time.perf_counter()
    x = video_like(max(keep), DIM)
    out["kcenter_points_sec"] = time.perf_counter() - start
    cases = []
    long_case = None
    for n in keep:
        xs = x[:n]
        cases.append(kcenter_case(xs, k, n <= verify_n, mem_picks, 2 if n <= repeat_n else 1))
        if n == keep[0] and k_long > k:
            long_case = kcenter_case(xs, k_long, False, mem_picks, 1)
        print(f"k-center N={n:,}: {cases[-1]['sec']:.2f} s", flush=True)
    del x
    out["kcenter"] = {"data": "video_like (bench_select.py), 64-d", "cases": cases, "long": long_case}
    out["kcenter_projection"] = kcenter_projection(cases, long_case)
    return out


def print_kcenter(fig: Mapping[str, Any]) -> None:
    cases = fig["kcenter"]["cases"] + ([fig["kcenter"]["long"]] if fig["kcenter"]["long"] else [])
    rows = [(c["n"], c["k"], c["sec"], c["first_pick_sec"], c["floor_ms_per_pick"], c["peak_extra_mb"]) for c in cases]
    print(common.table(rows, ("N", "k", "sec", "first pick s", "floor ms/pick", "peak extra MB")))
    print_kcenter_projection(fig["kcenter_projection"])


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--n", default="1000000,2000000,5000000,10000000", help="k-center sizes")
    ap.add_argument("--k", type=int, default=1_000)
    ap.add_argument("--k-long", type=int, default=10_000, help="picks at the smallest N (0: k)")
    ap.add_argument("--verify-n", type=int, default=1_000_000, help="record the runs' agreement up to this N")
    ap.add_argument("--kcenter-repeat-n", type=int, default=10_000_000, help="time twice up to this N")
    ap.add_argument("--mem-picks", type=int, default=50)


def measure_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`measure_kcenter` with :func:`add_arguments`'s flags; ``--smoke``: N = 20,000 and
    40,000, k = 50 (120 at the smallest N), 10 picks under tracemalloc, both verified and
    timed twice."""
    if args.smoke:
        return measure_kcenter([20_000, 40_000], 50, 120, 40_000, 40_000, 10)
    sizes = [int(n) for n in args.n.split(",")]
    return measure_kcenter(sizes, args.k, args.k_long, args.verify_n, args.kcenter_repeat_n, args.mem_picks)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/scaling-kcenter.json)")
    args = ap.parse_args(argv)
    fig = measure_from_args(args)
    print_kcenter(fig)
    path = common.save("scaling-kcenter" if not args.smoke else "scaling-kcenter-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
