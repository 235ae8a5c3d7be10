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

The fast kernel (:func:`kcenter_fast`) keeps, besides ``nearest``, each point's center (the
selected point it is nearest to); the update lives in :class:`NearestTracker`, which the
combined-strategy kernel (:mod:`framepick._strategies`) reuses. A new center ``c`` can only
move a point ``p`` closer if ``d(c, center_p) < 2 r_p`` (triangle inequality:
``d(p, c) >= d(c, center_p) - r_p``), so each pick finds those points with one vectorised
pass over two flat arrays, screens them with a BLAS matrix-vector product and a rigorous
error bound, and computes the exact shared distance only for the few that may get closer.
The pruning test carries a relative margin of 1e-3 (float32 rounding of a squared distance
is ~1e-6 relative), so it never skips a point whose float32 distance would have decreased.

From ``_HALF_MIN_ELEMENTS`` values on, :func:`kcenter_fast` runs :func:`kcenter_half`
instead: the compiled kernel of :mod:`framepick._kcenter_jit` (a float16 screen with per-row
rounding bounds, block and triangle bounds, the exact fixed-tree distance where they cannot
decide), which reads half the bytes a pick; the same picks and radii.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from .errors import SelectionError

__all__ = ["NearestTracker", "kcenter_fast", "kcenter_half", "kcenter_reference", "sq_dist"]

_MARGIN = 1e-3  # relative slack of the pruning test (see module docstring)
_ABS_MARGIN = 1e-12  # absolute slack, for distances near float32 underflow
_PASS_ROWS = 32_768  # rows per block of a distance pass (8 MB of float32 at 64 dimensions)
_HALF_MIN_ELEMENTS = 4_000_000  # values (rows x dims) from which the ~2 s of loading Numba and its cached kernels pay
_SEED_ELEMENTS = 2_000_000  # float64 distances per block when seeding with outside centers (16 MB)


def sq_dist(block: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each row of ``block`` to ``center``, float32.

    Bit-identical per row whatever the other rows of ``block`` are (fixed summation tree).
    ``center`` may also hold one center per row of ``block``: the same element-wise steps,
    so row ``i`` gets the bits of ``sq_dist(block[i:i+1], center[i])``.
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


def _sq_dist_rows(x: np.ndarray, rows: np.ndarray | None, center: np.ndarray) -> np.ndarray:
    """``sq_dist(x[rows], center)`` (``rows`` None: all of ``x``), block by block: the same
    bits, with temporaries of a block's size instead of ``x``'s (256 MB at 1M x 64)."""
    n = len(x) if rows is None else len(rows)
    if n <= _PASS_ROWS:
        return sq_dist(x if rows is None else x[rows], center)
    out = np.empty(n, np.float32)
    for begin in range(0, n, _PASS_ROWS):
        part = slice(begin, begin + _PASS_ROWS)
        out[part] = sq_dist(x[part] if rows is None else x[rows[part]], center)
    return out


def _dots(x: np.ndarray, rows: np.ndarray, center: np.ndarray) -> np.ndarray:
    """``x[rows] @ center`` block by block (a screen with an error bound: any order will do)."""
    if len(rows) <= _PASS_ROWS:
        return x[rows] @ center
    return np.concatenate([x[rows[b : b + _PASS_ROWS]] @ center for b in range(0, len(rows), _PASS_ROWS)])


def _check(x: np.ndarray, k: int) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise SelectionError(f"points must be 2-D, got shape {x.shape}")
    if len(x) == 0:
        raise SelectionError("no points to select from")
    if k < 1:
        raise SelectionError(f"k must be >= 1, got {k}")
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


class NearestTracker:
    """Each point's squared distance to its nearest center, kept exact with pruned updates.

    The pruned update of :func:`kcenter_fast`, shared with the combined-strategy kernel
    (:mod:`framepick._strategies`), which also adds centers that are not rows of ``x``
    (datapool items from earlier runs). ``nearest`` (float32, squared, -1 for a row that is a
    center or inactive) is exactly what :func:`kcenter_reference` computes, whichever centers
    came first; ``assign`` holds the index, in order of addition, of each point's center.
    Rows with ``active`` False are never candidates: they hold -1 and are never evaluated.
    Memory: O(N) besides ``x``, plus ``capacity`` float64 center rows.
    """

    def __init__(self, x: np.ndarray, capacity: int, active: np.ndarray | None = None) -> None:
        n, dim = x.shape
        self.x = x
        self.nearest = np.full(n, np.inf, np.float32)
        self.assign = np.zeros(n, np.int32)  # index (in order of addition) of each point's nearest center
        self.centers = np.zeros((capacity, dim), np.float64)
        self.cnorm = np.zeros(capacity, np.float64)  # squared norms of the centers
        self.count = 0
        self._active = None if active is None or bool(active.all()) else np.flatnonzero(active)
        self._inactive = None if self._active is None or active is None else np.flatnonzero(~active)
        self._scale = 2.0 * (1.0 + _MARGIN)
        # float32 dot products and norms are within gamma * (|p|^2 + |c|^2) of the exact value
        # (any summation order, FMA or not); 4x the textbook (d+2) * 2^-24 for safety. The
        # screen itself is computed in float32: its own rounding, ~1e-7 of the same
        # magnitudes, is covered by that safety factor.
        self.sqn = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        self._gamma = 4.0 * (dim + 2) * 2.0**-24 * 2.0
        self._base = (self.sqn * (1.0 - self._gamma)).astype(np.float32)  # |p|^2 minus its share of the bound

    def add_outside(self, centers: np.ndarray) -> None:
        """Add outside vectors (rows of ``centers``) as centers in one blocked pass, leaving
        exactly the state that adding them one by one with :meth:`add` leaves: the same
        ``nearest`` bits, each point assigned to the earliest of its nearest centers.

        One by one, each vector is a pass over ``x`` that prunes poorly (a datapool's items
        are not spread over these points). Here a float64 BLAS product finds, for each
        point, the few centers that can be its nearest within a bound on both roundings
        (usually one), and the shared :func:`sq_dist` decides among those.
        """
        x, nearest, assign = self.x, self.nearest, self.assign
        cs = np.ascontiguousarray(centers, dtype=np.float32).reshape(-1, x.shape[1])
        if len(cs) == 0:
            return
        t0 = self.count
        c64 = cs.astype(np.float64)
        cn = np.einsum("ij,ij->i", c64, c64)
        self.centers[t0 : t0 + len(cs)] = c64
        self.cnorm[t0 : t0 + len(cs)] = cn
        self.count = t0 + len(cs)
        rows = np.arange(len(x)) if self._active is None else self._active
        if t0 == 0 and self._inactive is not None:
            nearest[self._inactive] = -1.0
        step = max(1, _SEED_ELEMENTS // len(cs))
        eps = 4.0 * (x.shape[1] + 2) * 2.0**-53 * 2.0  # float64 product error, relative to |p|^2 + |c|^2
        low, high = 1.0 - _MARGIN, 1.0 + _MARGIN
        for begin in range(0, len(rows), step):
            idx = rows[begin : begin + step]
            sqn = self.sqn[idx]
            approx = x[idx].astype(np.float64) @ c64.T  # becomes |p|^2 + |c|^2 - 2 p.c, in place
            approx *= -2.0
            approx += cn[None, :]
            approx += sqn[:, None]
            # each product is within ``slack`` of the true distance, and float32 sq_dist
            # within a relative _MARGIN of it: only a center whose product is at most
            # ``ceiling`` can hold a point's smallest float32 distance
            slack = eps * (sqn + cn.max()) + _ABS_MARGIN
            ceiling = ((approx.min(axis=1) + slack) * high + 2.0 * _ABS_MARGIN) / low + slack
            r, j = np.nonzero(approx <= ceiling[:, None])
            dist = sq_dist(x[idx[r]], cs[j])  # per row: the bits of sq_dist(x[p], cs[j])
            order = np.lexsort((j, dist, r))  # per point: smallest distance, then earliest center
            first = order[np.r_[True, r[order][1:] != r[order][:-1]]]
            points, best, center = idx[r[first]], dist[first], j[first]
            if t0:  # earlier centers keep their points on ties (add's strict <)
                better = best < nearest[points]
                points, best, center = points[better], best[better], center[better]
            nearest[points] = best
            assign[points] = t0 + center

    def add(self, center: np.ndarray, row: int | None = None) -> np.ndarray:
        """Add one center (``x[row]``, or an outside vector when ``row`` is None); return the
        active indices whose ``nearest`` changed (``row`` included), so callers update
        derived arrays there only. The first center sets every active row.
        """
        x, nearest, assign = self.x, self.nearest, self.assign
        n = len(x)
        t = self.count
        self.count = t + 1
        if row is not None:
            c = x[row]
            cn = float(self.sqn[row])
        else:
            c = np.ascontiguousarray(center, dtype=np.float32)
            assert c.shape == (x.shape[1],), c.shape
            c64 = c.astype(np.float64)
            cn = float(c64 @ c64)
        self.centers[t] = c
        self.cnorm[t] = cn
        if t == 0:
            nearest[:] = _sq_dist_rows(x, None, c)
            if self._inactive is not None:
                nearest[self._inactive] = -1.0
            moved = np.arange(n) if self._active is None else self._active
        else:
            prev = nearest[row] if row is not None else None
            centers, cnorm = self.centers, self.cnorm
            # center-center distances by BLAS in float64, rounded down by a bound on their
            # error (an underestimate only evaluates more points)
            dcc2 = cnorm[:t] + cnorm[t] - 2.0 * (centers[:t] @ centers[t])
            dcc = np.sqrt(np.maximum(dcc2 - 1e-12 * (cnorm[:t] + cnorm[t]), 0.0))
            # point p may move only if scale * r_p > D(c, center_p) - abs margin
            bound = np.maximum(dcc - _ABS_MARGIN, 0.0) / self._scale
            limit = (bound * bound).astype(np.float32)
            idx = np.flatnonzero(nearest > limit[assign])
            moved = idx[:0]
            if len(idx):
                with np.errstate(all="ignore"):  # some BLAS builds raise spurious flags
                    if len(idx) > n // 4:
                        lower = (self._base - 2.0 * (x @ c))[idx]
                    else:
                        lower = self._base[idx] - 2.0 * _dots(x, idx, c)
                    lower += np.float32(cn * (1.0 - self._gamma))
                cur = nearest[idx]
                maybe = idx[~(lower > cur)]  # NaN: evaluate
                if len(maybe):
                    dist = _sq_dist_rows(x, maybe, c)
                    hit = dist < nearest[maybe]
                    moved = maybe[hit]
                    nearest[moved] = dist[hit]
                    assign[moved] = t
            if row is not None and nearest[row] == prev:  # a duplicate of a center: only the -1 below
                moved = np.append(moved, row)
        if row is not None:
            nearest[row] = -1.0
            assign[row] = t
        return moved


def kcenter_fast(
    x: np.ndarray,
    k: int,
    first: int = 0,
    min_distance: float = -1.0,
    order: Sequence[int] | np.ndarray | None = None,
    engine: str = "auto",
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Same picks and radii as :func:`kcenter_reference`, with triangle-inequality pruning.

    ``engine``: ``"numpy"`` (this function's loop), ``"half"`` (:func:`kcenter_half`), or
    ``"auto"``: the compiled half-precision kernel from ``_HALF_MIN_ELEMENTS`` values of
    finite points on when Numba imports (below that, loading Numba and the cached kernels, about
    2 s, does not pay), else NumPy.

    Per pick: the distances from the new center to the earlier centers (O(t·d)), then one
    vectorised O(N) pass over two flat arrays (each point's nearest distance and its
    center) finds the points that might move (``2 r_p > D(c, center_p)``); only those get a
    BLAS-screened, then exact, distance (:class:`NearestTracker`). The next pick is
    ``argmax(nearest)`` as in the reference. Memory: O(N) besides ``x``, plus the k selected
    rows.
    """
    x = _check(x, k)
    if engine not in ("auto", "numpy", "half"):
        raise SelectionError(f"engine must be 'auto', 'numpy' or 'half', got {engine!r}")
    if engine == "half" or (engine == "auto" and _half_pays(x)):
        return kcenter_half(x, k, first, min_distance, order)
    tracker = NearestTracker(x, min(k, len(x)))

    def add(i: int) -> int:
        tracker.add(x[i], i)
        return int(np.argmax(tracker.nearest))

    return _greedy(len(x), k, first, min_distance, order, add, tracker.nearest)


def _greedy(
    n: int,
    k: int,
    first: int,
    min_distance: float,
    order: Sequence[int] | np.ndarray | None,
    add: Callable[[int], int],
    nearest: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The pick loop of the fast kernels: ``add(i)`` makes row ``i`` a center, updates
    ``nearest`` in place and returns the next pick (its argmax, lowest index among ties); the
    rules are :func:`kcenter_reference`'s."""
    picked: list[int] = []
    radii: list[float] = []
    threshold = min_distance * min_distance if min_distance > 0 else -1.0
    i = first if order is None else int(order[0])
    while True:
        picked.append(i)
        nxt = add(i)
        if len(picked) == n:
            radii.append(0.0)
            return np.array(picked, np.int64), np.array(radii), False
        radius_sq = float(nearest[nxt])
        radii.append(math.sqrt(max(radius_sq, 0.0)))
        if radius_sq < threshold:
            return np.array(picked, np.int64), np.array(radii), True
        if len(picked) == k:
            return np.array(picked, np.int64), np.array(radii), False
        i = nxt if order is None else int(order[len(picked)])


def _half_pays(x: np.ndarray) -> bool:
    """Whether :func:`kcenter_fast` should run the compiled kernel on ``x`` (see there)."""
    if x.size < _HALF_MIN_ELEMENTS or not bool(np.isfinite(x).all()):
        return False
    try:
        from . import _kcenter_jit  # noqa: F401 - imports Numba, loads its cached kernels
    except ImportError:
        logging.getLogger("framepick").warning(
            "numba does not import: k-center runs on the slower NumPy kernel (pip install numba)"
        )
        return False
    return True


def kcenter_half(
    x: np.ndarray,
    k: int,
    first: int = 0,
    min_distance: float = -1.0,
    order: Sequence[int] | np.ndarray | None = None,
    block: int | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Same picks and radii as :func:`kcenter_reference`, by the compiled half-precision
    kernel (:mod:`framepick._kcenter_jit`); ``x`` must be finite. Raises ImportError
    without Numba."""
    from . import _kcenter_jit as jit

    x = _check(x, k)
    tracker = jit.HalfTracker(x, min(k, len(x)), jit.BLOCK if block is None else block)
    return _greedy(len(x), k, first, min_distance, order, tracker.add, tracker.nearest)
