"""Combined greedy selection: the product of several objectives, one pick at a time.

Lightly's "selection strategy combination": at each pick the allowed, not yet picked
candidate with the highest product of objectives raised to their strengths is picked. In log
space the score of candidate ``p`` is

    diversity * log(dist(p, selection)) + static[p] + sum_b strength_b * log(indicator_b(p))

and the argmax is picked, the lowest index on ties (``np.argmax``).

* DIVERSITY: ``dist`` is the Euclidean distance to the nearest selected point, datapool
  items (``pool``, picked in earlier runs) included; computed as ``0.5 * diversity *
  log(nearest)`` from the float32 squared distance ``nearest`` that the k-center kernels
  keep (:class:`framepick._kcenter.NearestTracker`). While the selection is empty (no pool,
  no pick yet) the factor is 1 for every candidate; strength 0 drops the objective.
* ``static``: WEIGHTS / SIMILARITY objectives, ``sum strength * log(objective)`` per
  candidate, precomputed by the caller (-inf for an objective of 0).
* BALANCE (:class:`Balance`): an indicator, 1 for the candidates whose category has the
  largest deficit ``target[c] * (t + 1) - count[c]`` (``t`` new picks so far, ``count[c]``
  new picks of category ``c``) among the categories that still have an allowed, unpicked
  candidate, 0 otherwise; so the picks follow the target as closely as one pick allows.
  Categories tied for the largest deficit are all allowed.
* ``allowed`` False (THRESHOLD filter, missing values, already in the pool): never picked and
  not counted in the covering radius.

Rules at the edges:

* when every remaining candidate scores -inf (duplicates of selected points, zero weights,
  no candidate satisfying every balance indicator), the lowest-index remaining candidate
  that satisfies every balance indicator is picked if there is one, else the lowest-index
  remaining candidate; the run ends when no allowed candidate remains;
* the first pick without a pool breaks ties in favour of ``first`` (a seeded random allowed
  index from the caller) instead of the lowest index. With no static or balance objective
  every candidate ties, so ``first`` is picked: exactly :func:`~framepick._kcenter.kcenter_fast`
  started at ``first``. ``first`` is ignored when there is a pool;
* radii: the covering radius over allowed candidates after each pick (sqrt of the largest
  ``nearest`` over allowed, unpicked candidates; 0 once none remain). With ``min_distance``
  > 0 the run stops (flag True) once that radius is below it, checked after each pick and,
  with a pool, once before the first pick (then no pick is made): the same as greedy k-center
  run over ``pool + x`` whose first centers are the pool items.

So diversity alone (no static, allowed, balance or pool) returns exactly what
``kcenter_fast(x, k, first, min_distance)`` returns, and a run continued from a pool picks
exactly what one greedy run whose first centers are the pool items would.

:func:`combined_greedy` keeps the scores of the candidates in one float64 array, laid out by
balance group (the combination of the candidate's categories, ascending index within a
group), and rewrites it only where the tracker reports a moved distance; a pick then costs
the tracker's pruned update, an argmax over the groups the balance indicators allow and one
pass for the radius. Diversity alone needs no scores: its argmax is that of ``nearest``.
Memory: O(N) besides ``x`` and the pool, about 55 bytes per candidate (the tracker's 20, the
scores' layout 25, the allowed indices 8), plus the distance passes' temporaries.
:func:`combined_reference` makes one full distance pass and recomputes every score at each
pick; it is the definition the fast kernel is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._kcenter import NearestTracker, sq_dist

__all__ = ["Balance", "combined_greedy", "combined_reference"]

_LOOP_GROUPS = 32  # up to this many allowed groups, one argmax per group; beyond, one reduceat pass


@dataclass(frozen=True, eq=False)
class Balance:
    """One BALANCE strategy: the candidates' categories and the target share of each."""

    categories: np.ndarray  # (N,) int in [0, C): the candidate's category
    target: np.ndarray  # (C,) float64 target share of each category among the new picks (may sum to < 1)
    strength: float  # 0 = off


@dataclass
class _Setup:
    """The arguments both kernels read, checked (cheap asserts only) and normalised."""

    x: np.ndarray  # float32, C-contiguous
    n: int
    cand: np.ndarray  # allowed indices, ascending
    balances: list[Balance]  # those with strength > 0
    pool: np.ndarray | None  # None when empty
    prefer: int | None  # tie-break of the first pick (no pool only)
    threshold: float  # squared min_distance, -1 when off


def _setup(
    x: np.ndarray,
    k: int,
    diversity: float,
    static: np.ndarray | None,
    allowed: np.ndarray | None,
    balances: Sequence[Balance],
    pool: np.ndarray | None,
    first: int | None,
    min_distance: float,
) -> _Setup:
    x = np.ascontiguousarray(x, dtype=np.float32)  # no copy when it already is
    assert x.ndim == 2, x.shape
    n = len(x)
    assert k >= 0 and diversity >= 0, (k, diversity)
    assert static is None or (static.shape == (n,) and not np.isnan(static).any() and not np.isposinf(static).any())
    assert allowed is None or (allowed.shape == (n,) and allowed.dtype == bool)
    cand = np.arange(n) if allowed is None else np.flatnonzero(allowed)
    active = [b for b in balances if b.strength > 0]
    for b in active:
        assert b.categories.shape == (n,) and b.target.ndim == 1, (b.categories.shape, b.target.shape)
        assert len(cand) == 0 or 0 <= b.categories[cand].min() <= b.categories[cand].max() < len(b.target)
    if pool is not None:
        pool = np.ascontiguousarray(pool, dtype=np.float32)
        assert pool.ndim == 2 and pool.shape[1] == x.shape[1], (pool.shape, x.shape)
        pool = pool if len(pool) else None
    assert first is None or allowed is None or allowed[first], first
    return _Setup(
        x=x,
        n=n,
        cand=cand,
        balances=active,
        pool=pool,
        prefer=first if pool is None else None,
        threshold=min_distance * min_distance if min_distance > 0 else -1.0,
    )


def _deficit_ok(b: Balance, t: int, counts: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Categories whose indicator is 1 at pick ``t``: the largest deficit among those with candidates left."""
    deficit = b.target * (t + 1) - counts
    has = left > 0
    return has & (deficit == deficit[has].max())


class _Board:
    """The candidates' scores grouped by combined balance category, ascending index in a group.

    A balance indicator allows whole groups, so the argmax over allowed candidates is an
    argmax over a few contiguous slices, with no per-pick mask over all N.
    """

    def __init__(self, cand: np.ndarray, balances: list[Balance], n: int) -> None:
        m = len(cand)
        if balances:
            key = np.zeros(m, np.int64)
            for b in balances:
                key = key * len(b.target) + b.categories[cand]
            order = np.argsort(key, kind="stable")
            self.perm = cand[order]
            key = key[order]
            self.starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            gkey = key[self.starts]
            self.gcat: list[np.ndarray] = []  # per balance: each group's category
            for b in reversed(balances):
                self.gcat.insert(0, gkey % len(b.target))
                gkey = gkey // len(b.target)
        else:
            self.perm = cand
            self.starts = np.zeros(1, np.int64)
            self.gcat = []
        self.ends = np.r_[self.starts[1:], m]
        self.groups = np.arange(len(self.starts))
        self.pos = np.zeros(n, np.intp)  # position of each candidate in the layout
        self.pos[self.perm] = np.arange(m)

    def group_of(self, i: int) -> int:
        return int(np.searchsorted(self.starts, self.pos[i], side="right")) - 1

    def best(self, arr: np.ndarray, groups: np.ndarray) -> tuple[float | bool, int]:
        """(max of ``arr`` over ``groups``, lowest candidate index reaching it); index -1 if no group."""
        if len(groups) > _LOOP_GROUPS:
            gmax = np.maximum.reduceat(arr, self.starts)[groups]
            top = gmax.max()
            if not top > -np.inf:  # -inf or False: nothing to pick here, the caller falls back
                return top, -1
            groups = groups[gmax == top]
        best_v: float | bool = False
        best_i = -1
        for g in groups:
            s, e = self.starts[g], self.ends[g]
            j = s + int(np.argmax(arr[s:e]))
            v, o = arr[j], int(self.perm[j])
            if best_i < 0 or v > best_v or (v == best_v and o < best_i):
                best_v, best_i = v, o
        return best_v, best_i

    def choose(self, sp: np.ndarray, rem: np.ndarray, okg: np.ndarray | None, prefer: int | None) -> int:
        """The next pick: argmax over allowed groups, then the -inf fallbacks (module docstring)."""
        groups = self.groups if okg is None else np.flatnonzero(okg)
        # `prefer` (the first pick's `first`) wins ties if every balance indicator allows it
        ok = -1 if prefer is None or (okg is not None and not okg[self.group_of(prefer)]) else prefer
        v, i = self.best(sp, groups)
        if i >= 0 and v > -np.inf:
            return ok if ok >= 0 and sp[self.pos[ok]] == v else i
        v, i = self.best(rem, groups)  # every remaining candidate scores -inf
        if i >= 0 and v:
            return ok if ok >= 0 else i
        if prefer is not None:  # no remaining candidate satisfies every indicator
            return prefer
        return self.best(rem, self.groups)[1]


def _tracker(s: _Setup, k: int, allowed: np.ndarray | None) -> NearestTracker:
    """The running nearest distances, with the datapool's items already added as centers."""
    tracker = NearestTracker(s.x, (0 if s.pool is None else len(s.pool)) + min(k, len(s.cand)), allowed)
    if s.pool is not None:
        tracker.add_outside(s.pool)
    return tracker


def _rescore(
    sp: np.ndarray, pos: np.ndarray, moved: np.ndarray, diversity: float, nearest: np.ndarray, static: np.ndarray | None
) -> None:
    """The scores of the candidates whose distance moved (board layout ``pos``)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # the pick itself: log(-1), overwritten after
        val = 0.5 * diversity * np.log(nearest[moved].astype(np.float64))
    if static is not None:
        val += static[moved]
    sp[pos[moved]] = val


def _balance_groups(
    balances: Sequence[Balance], board: _Board, counts: list[np.ndarray], left: list[np.ndarray], t: int
) -> np.ndarray | None:
    """The board groups every BALANCE indicator allows at pick ``t`` (None: all of them)."""
    okg = None
    for b, cnt, lft, gcat in zip(balances, counts, left, board.gcat):
        ok = _deficit_ok(b, t, cnt, lft)
        if ok.sum() < (lft > 0).sum():  # else every category with candidates left is allowed
            okg = ok[gcat] if okg is None else okg & ok[gcat]
    return okg


def _farthest_first(
    tracker: NearestTracker, start: int, k: int, m: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Diversity alone: the argmax of the score is the argmax of ``nearest``, exactly as in
    :func:`~framepick._kcenter.kcenter_fast` (the same picks and radii, bit for bit)."""
    x, nearest = tracker.x, tracker.nearest
    picks: list[int] = []
    radii: list[float] = []
    i = start
    while True:
        picks.append(i)
        tracker.add(x[i], i)
        stopped = False
        if len(picks) == m:
            radii.append(0.0)
        else:
            i = int(np.argmax(nearest))
            radius_sq = float(nearest[i])
            radii.append(math.sqrt(max(radius_sq, 0.0)))
            stopped = radius_sq < threshold
        if len(picks) in (m, k) or stopped:
            return np.array(picks, np.int64), np.array(radii, np.float64), stopped


def combined_greedy(
    x: np.ndarray,
    k: int,
    *,
    diversity: float = 1.0,
    static: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    balances: Sequence[Balance] = (),
    pool: np.ndarray | None = None,
    first: int | None = None,
    min_distance: float = -1.0,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Greedy pick of up to ``k`` candidates by the product of objectives (module docstring).

    Returns (picked indices in pick order, covering radius over allowed candidates after each
    pick, stopped by ``min_distance``); the same as :func:`combined_reference`, pruned.
    """
    s = _setup(x, k, diversity, static, allowed, balances, pool, first, min_distance)
    x = s.x
    m = len(s.cand)
    if m == 0 or k == 0:
        return np.zeros(0, np.int64), np.zeros(0), False
    tracker = _tracker(s, k, allowed)
    nearest = tracker.nearest
    if s.pool is not None and float(nearest.max()) < s.threshold:  # the pool covers everything already
        return np.zeros(0, np.int64), np.zeros(0), True
    if diversity > 0 and static is None and not s.balances:
        start = int(np.argmax(nearest)) if s.pool is not None else first if first is not None else int(s.cand[0])
        return _farthest_first(tracker, start, k, m, s.threshold)
    picks: list[int] = []
    radii: list[float] = []

    def done(stopped: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        return np.array(picks, np.int64), np.array(radii, np.float64), stopped

    board = _Board(s.cand, s.balances, s.n)
    perm, pos = board.perm, board.pos
    coef = 0.5 * diversity
    sp = np.zeros(m) if static is None else np.asarray(static[perm], np.float64)  # scores, board layout
    rem = np.ones(m, bool)  # remaining, board layout

    def refresh() -> None:
        """Every score from ``nearest`` (after the first center, when every distance moved)."""
        with np.errstate(divide="ignore", invalid="ignore"):  # picked rows: log(-1), overwritten below
            np.multiply(coef, np.log(nearest[perm].astype(np.float64)), out=sp)
        if static is not None:
            sp[:] += static[perm]
        sp[~rem] = -np.inf

    if s.pool is not None and diversity > 0:
        refresh()
    counts = [np.zeros(len(b.target)) for b in s.balances]
    left = [np.bincount(b.categories[s.cand], minlength=len(b.target)) for b in s.balances]
    while True:
        t = len(picks)
        okg = _balance_groups(s.balances, board, counts, left, t)
        i = board.choose(sp, rem, okg, s.prefer if t == 0 else None)
        picks.append(i)
        p = pos[i]
        rem[p] = False
        for b, cnt, lft in zip(s.balances, counts, left):
            cnt[b.categories[i]] += 1
            lft[b.categories[i]] -= 1
        moved = tracker.add(x[i], i)
        if diversity > 0 and tracker.count == 1:
            refresh()
        elif diversity > 0:
            _rescore(sp, pos, moved, diversity, nearest, static)
        sp[p] = -np.inf
        if len(picks) == m:
            radii.append(0.0)
            return done(False)
        radius_sq = float(nearest.max())
        radii.append(math.sqrt(max(radius_sq, 0.0)))
        if radius_sq < s.threshold:
            return done(True)
        if len(picks) == k:
            return done(False)


def combined_reference(
    x: np.ndarray,
    k: int,
    *,
    diversity: float = 1.0,
    static: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    balances: Sequence[Balance] = (),
    pool: np.ndarray | None = None,
    first: int | None = None,
    min_distance: float = -1.0,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The definition of :func:`combined_greedy`: one full distance pass and every score per pick.

    No pruning, no cached scores, no grouping: O(k · N · d), for tests.
    """
    s = _setup(x, k, diversity, static, allowed, balances, pool, first, min_distance)
    x = s.x
    n = s.n
    remaining = np.zeros(n, bool)
    remaining[s.cand] = True
    if len(s.cand) == 0 or k == 0:
        return np.zeros(0, np.int64), np.zeros(0), False
    nearest = np.full(n, np.inf, np.float32)  # squared distance to the selection, pool included
    for c in [] if s.pool is None else s.pool:
        np.minimum(nearest, sq_dist(x, c), out=nearest)
    if s.pool is not None and float(nearest[remaining].max()) < s.threshold:
        return np.zeros(0, np.int64), np.zeros(0), True
    picks: list[int] = []
    radii: list[float] = []
    while True:
        t = len(picks)
        score = np.zeros(n)
        if (t or s.pool is not None) and diversity > 0:
            with np.errstate(divide="ignore"):
                score = (0.5 * diversity) * np.log(nearest.astype(np.float64))
        if static is not None:
            score = score + static
        satisfies = np.ones(n, bool)  # every balance indicator is 1
        for b in s.balances:
            counts = np.bincount(b.categories[np.array(picks, np.int64)], minlength=len(b.target)).astype(np.float64)
            left = np.bincount(b.categories[remaining], minlength=len(b.target))
            indicator = _deficit_ok(b, t, counts, left)[b.categories]
            with np.errstate(divide="ignore"):
                score = score + b.strength * np.log(indicator.astype(np.float64))
            satisfies &= indicator
        cand = np.flatnonzero(remaining)
        top = score[cand].max()
        if top > -np.inf:
            ties = cand[score[cand] == top]
        else:
            ties = cand[satisfies[cand]]
            if len(ties) == 0:
                ties = cand
        prefer = s.prefer if t == 0 else None
        i = prefer if prefer is not None and prefer in ties else int(ties.min())
        picks.append(i)
        remaining[i] = False
        np.minimum(nearest, sq_dist(x, x[i]), out=nearest)
        if not remaining.any():
            radii.append(0.0)
            return np.array(picks, np.int64), np.array(radii), False
        radius_sq = float(nearest[remaining].max())
        radii.append(math.sqrt(max(radius_sq, 0.0)))
        if radius_sq < s.threshold:
            return np.array(picks, np.int64), np.array(radii), True
        if len(picks) == k:
            return np.array(picks, np.int64), np.array(radii), False
