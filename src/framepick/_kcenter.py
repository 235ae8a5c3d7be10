"""Greedy k-center (farthest-point) kernels: a plain NumPy reference and a fast pruned one.

Both return exactly the same picks. They share one distance routine, :func:`sq_dist`, whose
result for a point depends only on that point's row and the center (never on which other
rows are in the block), so a point's squared distance is bit-identical whether the reference
computes it in a pass over all N points or the fast kernel in a gathered subset:

* ``diff = block - center`` and ``diff * diff`` are element-wise float32 operations;
* the row sums are a fixed halving tree of element-wise adds (column ``j`` += column
  ``j + w/2``), not ``sum``/``einsum``/BLAS, whose summation order may depend on the block
  shape, the SIMD path or the thread count.

Rules shared by both kernels (and by :func:`framepick.select.kcenter_greedy`):

* ``nearest[p]`` is the squared distance from ``p`` to its nearest selected point; a
  selected point gets -1, so it is never picked again, even among exact duplicates;
* the next pick is the point with the largest ``nearest``, the lowest index among ties;
* a random order (``order=``) picks in that order instead and only tracks ``nearest``.

The fast kernel (:func:`kcenter_fast`) keeps, besides ``nearest``, each point's cluster
(the selected point it is nearest to) and each cluster's largest ``nearest``. A new center
``c`` can only move a point ``p`` of cluster ``j`` closer if ``d(c, j) < 2 r_j`` (triangle
inequality: ``d(p, c) >= d(c, j) - d(p, j)``), where ``r_j`` is cluster ``j``'s radius. So each
pick computes distances only for the members of clusters near ``c``; after the first few
picks that is a small fraction of N. The test carries a relative margin of 1e-3 (float32
rounding of a squared distance is ~1e-6 relative), so pruning never skips a point whose
float32 distance would have decreased.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["kcenter_fast", "kcenter_reference", "sq_dist"]

_MARGIN = 1e-3  # relative slack of the pruning test (see module docstring)
_ABS_MARGIN = 1e-12  # absolute slack, for distances near float32 underflow


def sq_dist(block: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each row of ``block`` to ``center``, float32.

    Bit-identical per row whatever the other rows of ``block`` are (fixed summation tree).
    """
    diff = np.subtract(block, center, dtype=np.float32)
    np.multiply(diff, diff, out=diff)
    width = diff.shape[1]
    while width > 1:
        half = width // 2
        if width % 2:  # fold the odd last column into column 0 first
            np.add(diff[:, 0], diff[:, width - 1], out=diff[:, 0])
        np.add(diff[:, :half], diff[:, half : 2 * half], out=diff[:, :half])
        width = half
    if diff.shape[1] == 0:
        return np.zeros(len(diff), np.float32)
    return np.ascontiguousarray(diff[:, 0])


def _check(x: np.ndarray, k: int) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"points must be 2-D, got shape {x.shape}")
    if len(x) == 0:
        raise ValueError("no points")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return x


def kcenter_reference(
    x: np.ndarray,
    k: int,
    first: int = 0,
    min_distance: float = -1.0,
    order: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Plain NumPy greedy k-center: one full O(N·d) distance pass per pick.

    Returns (picked indices, covering radius after each pick, stopped by ``min_distance``).
    With ``order`` the picks follow that order (random selection) and only the radii are
    computed.
    """
    x = _check(x, k)
    n = len(x)
    nearest = np.full(n, np.inf, np.float32)
    picked: list[int] = []
    radii: list[float] = []
    threshold = min_distance * min_distance if min_distance > 0 else -1.0
    i = first if order is None else int(order[0])
    while True:
        picked.append(i)
        np.minimum(nearest, sq_dist(x, x[i]), out=nearest)
        nearest[i] = -1.0
        if len(picked) == n:
            radii.append(0.0)
            return np.array(picked, np.int64), np.array(radii), False
        radius_sq = float(nearest.max())
        radii.append(math.sqrt(max(radius_sq, 0.0)))
        if radius_sq < threshold:
            return np.array(picked, np.int64), np.array(radii), True
        if len(picked) == k:
            return np.array(picked, np.int64), np.array(radii), False
        i = int(np.argmax(nearest)) if order is None else int(order[len(picked)])


def _sorted_cluster(points: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members ordered by ``nearest`` descending, ties by index ascending; and their -nearest."""
    order = np.argsort(points, kind="stable")
    points, values = points[order], values[order]
    order = np.argsort(-values, kind="stable")
    return points[order], -values[order]


def kcenter_fast(
    x: np.ndarray,
    k: int,
    first: int = 0,
    min_distance: float = -1.0,
    order: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Same picks and radii as :func:`kcenter_reference`, with triangle-inequality pruning.

    Each cluster keeps its members sorted by distance to their center, farthest first, so a
    new center at distance D from cluster ``j``'s center evaluates only the members with
    ``2 r_p > D`` (a prefix found by binary search), in clusters with ``2 r_j > D``.
    Memory: O(N) besides ``x`` (nearest distance and the clusters' member lists), plus the
    k selected rows.
    """
    x = _check(x, k)
    n, dim = x.shape
    cap = min(k, n)
    nearest = np.full(n, np.inf, np.float32)
    members: list[np.ndarray] = []  # per cluster: point indices, farthest first (ties: lowest index first)
    keys: list[np.ndarray] = []  # per cluster: -nearest of those points (ascending)
    cmax = np.full(cap, -np.inf, np.float32)  # per cluster: largest `nearest` (= -keys[j][0])
    carg = np.full(cap, -1, np.int64)  # per cluster: the point holding it (= members[j][0])
    radius = np.zeros(cap, np.float64)  # sqrt(cmax), for the pruning test
    centers = np.zeros((cap, dim), np.float64)
    picked: list[int] = []
    radii: list[float] = []
    threshold = min_distance * min_distance if min_distance > 0 else -1.0
    scale = 2.0 * (1.0 + _MARGIN)
    # float32 dot products and norms are within gamma * (|p|^2 + |c|^2) of the exact value
    # (any summation order, FMA or not); 4x the textbook (d+2) * 2^-24 for safety
    # (the screen itself is computed in float32: its own rounding, ~1e-7 of the same
    # magnitudes, is covered by that safety factor)
    sqn = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    gamma = 4.0 * (dim + 2) * 2.0**-24 * 2.0
    base = (sqn * (1.0 - gamma)).astype(np.float32)  # |p|^2 minus its share of the bound
    cnorm = np.zeros(cap, np.float64)  # squared norms of the centers

    def set_cluster(j: int, mem: np.ndarray, key: np.ndarray) -> None:
        members[j], keys[j] = mem, key
        if len(mem):
            cmax[j], carg[j] = -key[0], mem[0]
            radius[j] = math.sqrt(max(float(-key[0]), 0.0))
        else:
            cmax[j], carg[j], radius[j] = -np.inf, -1, 0.0

    i = first if order is None else int(order[0])
    while True:
        t = len(picked)
        picked.append(i)
        centers[t] = x[i]
        cnorm[t] = sqn[i]
        members.append(np.zeros(0, np.int64))
        keys.append(np.zeros(0, np.float32))
        if t == 0:
            nearest[:] = sq_dist(x, x[i])
            nearest[i] = -1.0
            rest = np.flatnonzero(np.arange(n) != i)
            set_cluster(0, *_sorted_cluster(rest, nearest[rest]))
        else:
            # center-center distances by BLAS in float64, rounded down by a bound on their
            # error (pruning on an underestimate only evaluates more points)
            dcc2 = cnorm[:t] + cnorm[t] - 2.0 * (centers[:t] @ centers[t])
            dcc = np.sqrt(np.maximum(dcc2 - 1e-12 * (cnorm[:t] + cnorm[t]), 0.0))
            cand = np.flatnonzero((cmax[:t] > 0) & (dcc < scale * radius[:t] + _ABS_MARGIN))
            # per candidate cluster: the members with scale * r_p > D might move
            bound = np.maximum(dcc[cand] - _ABS_MARGIN, 0.0) / scale
            limits = (-(bound * bound)).astype(np.float32)
            heads = []
            lens = []
            for j, limit in zip(cand, limits):
                m = int(np.searchsorted(keys[j], limit, side="left"))
                lens.append(m)
                heads.append(members[j][:m])
            new_points = np.zeros(0, np.int64)
            new_values = np.zeros(0, np.float32)
            if heads:
                idx = np.concatenate(heads) if len(heads) > 1 else heads[0]
                if len(idx):
                    # cheap screen: BLAS distances with a rigorous error bound; only points that
                    # might move get the exact (shared-arithmetic) distance
                    with np.errstate(all="ignore"):  # some BLAS builds raise spurious flags
                        if len(idx) > n // 4:
                            lower = base - 2.0 * (x @ x[i])
                            lower = lower[idx]
                        else:
                            lower = base[idx] - 2.0 * (x[idx] @ x[i])
                        lower += np.float32(sqn[i] * (1.0 - gamma))
                    cur = nearest[idx]
                    maybe = np.flatnonzero(~(lower > cur) | (idx == i))  # NaN: evaluate
                    sub = idx[maybe]
                    dist = sq_dist(x[sub], x[i])
                    hit = (dist < cur[maybe]) | (sub == i)  # the new center leaves its old cluster
                    moved = np.zeros(len(idx), bool)
                    moved[maybe[hit]] = True
                    if hit.any():
                        new_points = idx[moved]
                        new_values = dist[hit]  # maybe is ascending, so idx[moved] == sub[hit]
                        nearest[new_points] = new_values
                        b = 0
                        for j, m in zip(cand, lens):
                            gone = moved[b : b + m]
                            if gone.any():
                                keep = ~gone
                                mem, key = members[j], keys[j]
                                set_cluster(
                                    int(j),
                                    np.concatenate((mem[:m][keep], mem[m:])),
                                    np.concatenate((key[:m][keep], key[m:])),
                                )
                            b += m
            nearest[i] = -1.0
            others = new_points != i
            set_cluster(t, *_sorted_cluster(new_points[others], new_values[others]))
            if len(new_points) == 0 or not (new_points == i).any():
                _remove_point(members, keys, set_cluster, cmax, i)
        if len(picked) == n:
            radii.append(0.0)
            return np.array(picked, np.int64), np.array(radii), False
        live = cmax[: t + 1]
        radius_sq = float(live.max())
        radii.append(math.sqrt(max(radius_sq, 0.0)))
        if radius_sq < threshold:
            return np.array(picked, np.int64), np.array(radii), True
        if len(picked) == k:
            return np.array(picked, np.int64), np.array(radii), False
        if order is None:
            ties = np.flatnonzero(live == radius_sq)
            i = int(carg[ties].min()) if len(ties) > 1 else int(carg[ties[0]])
        else:
            i = int(order[len(picked)])


def _remove_point(members, keys, set_cluster, cmax, point: int) -> None:  # type: ignore[no-untyped-def]
    """Take a newly selected point out of whichever cluster still lists it (rare: when its
    distance did not need evaluating, e.g. it is at distance 0 from an earlier center)."""
    for j in range(len(members) - 1):
        where = np.flatnonzero(members[j] == point)
        if len(where):
            w = int(where[0])
            set_cluster(j, np.delete(members[j], w), np.delete(keys[j], w))
            return
