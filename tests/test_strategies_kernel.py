"""The combined greedy kernel: exactly k-center for diversity alone, exactly its reference
otherwise, datapool continuation, and the semantics of each objective."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framepick._kcenter import NearestTracker, kcenter_fast, sq_dist
from framepick._strategies import Balance, combined_greedy, combined_reference

Result = tuple[np.ndarray, np.ndarray, bool]


def _equal(a: Result, b: Result) -> None:
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def _walks(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Video-like data: smooth random walks that jump to a new place now and then."""
    steps = rng.standard_normal((n, d)) * 0.05
    steps[rng.random(n) < 0.02] += rng.standard_normal(d) * 3
    return np.cumsum(steps, axis=0).astype(np.float32)


def _data(rng: np.random.Generator, n: int, d: int, kind: int) -> np.ndarray:
    if kind == 0:
        return rng.standard_normal((n, d)).astype(np.float32)
    if kind == 1:
        return _walks(rng, n, d)
    if kind == 2:  # every point three times
        return np.ascontiguousarray(np.repeat(rng.standard_normal((n // 3 + 1, d)), 3, axis=0)[:n], np.float32)
    return np.round(rng.standard_normal((n, d)) * 2).astype(np.float32)  # grid: many ties


def _greedy_from(y: np.ndarray, centers: list[int], k: int, min_distance: float = -1.0) -> Result:
    """Plain greedy k-center over ``y`` whose first centers are the rows ``centers``; returns the
    picks after those (the definition of a datapool continuation)."""
    nearest = np.full(len(y), np.inf, np.float32)
    for c in centers:
        np.minimum(nearest, sq_dist(y, y[c]), out=nearest)
    nearest[centers] = -1.0
    threshold = min_distance**2 if min_distance > 0 else -1.0
    if float(nearest.max()) < threshold:
        return np.zeros(0, np.int64), np.zeros(0), True
    picks: list[int] = []
    radii: list[float] = []
    while True:
        i = int(np.argmax(nearest))
        picks.append(i)
        np.minimum(nearest, sq_dist(y, y[i]), out=nearest)
        nearest[i] = -1.0
        if len(picks) + len(centers) == len(y):
            return np.array(picks), np.array([*radii, 0.0]), False
        radius_sq = float(nearest.max())
        radii.append(math.sqrt(max(radius_sq, 0.0)))
        if radius_sq < threshold or len(picks) == k:
            return np.array(picks), np.array(radii), radius_sq < threshold


@pytest.mark.parametrize("seed", range(8))
def test_diversity_alone_is_kcenter_fast(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 500)), int(rng.integers(1, 40))
    x = _data(rng, n, d, seed % 4)
    first = int(rng.integers(n))
    for k in (1, max(1, n // 4), n, n + 5):
        for md in (-1.0, float(np.median(np.abs(x))) + 0.2):
            expected = kcenter_fast(x, k, first, md)
            _equal(combined_greedy(x, k, first=first, min_distance=md), expected)
            _equal(combined_greedy(x, k, first=first, min_distance=md, static=np.zeros(n)), expected)
            _equal(combined_greedy(x, k, first=first, min_distance=md, diversity=2.5), expected)
    _equal(combined_greedy(x, n), kcenter_fast(x, n, 0))  # first None: the lowest index


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, int, dict]:
    n, d = int(rng.integers(1, 250)), int(rng.integers(1, 12))
    x = _data(rng, n, d, int(rng.integers(4)))
    kw: dict = {"diversity": float(rng.choice([0.0, 1.0, 0.5, 2.0]))}
    if rng.random() < 0.6:
        static = np.log(rng.uniform(0.01, 1, n))
        if rng.random() < 0.5:
            static = np.round(static)  # ties
        static[rng.random(n) < 0.1] = -np.inf
        kw["static"] = static
    if rng.random() < 0.5:
        kw["allowed"] = rng.random(n) < rng.uniform(0.3, 1)
    if rng.random() < 0.6:
        kw["balances"] = [
            Balance(
                rng.integers(0, c, n).astype(np.int32),
                rng.dirichlet(np.ones(c)) * rng.uniform(0.5, 1),
                float(rng.choice([0.0, 1.0, 3.0])),
            )
            for c in rng.integers(1, 6, int(rng.integers(1, 3)))
        ]
    if rng.random() < 0.4:
        pool = rng.standard_normal((int(rng.integers(0, 8)), d)).astype(np.float32)
        if rng.random() < 0.5 and len(pool):
            pool[0] = x[int(rng.integers(n))]  # a candidate at distance 0 from the pool
        kw["pool"] = pool
    if rng.random() < 0.5:
        kw["min_distance"] = float(rng.uniform(0.2, 2))
    allowed = kw.get("allowed")
    cand = np.arange(n) if allowed is None else np.flatnonzero(allowed)
    if len(cand) and rng.random() < 0.7:
        kw["first"] = int(rng.choice(cand))
    return x, int(rng.integers(0, n + 3)), kw


@pytest.mark.parametrize("seed", range(6))
def test_fast_equals_reference_on_random_mixes(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(40):
        x, k, kw = _random_case(rng)
        _equal(combined_greedy(x, k, **kw), combined_reference(x, k, **kw))


def test_fast_equals_reference_with_many_balance_groups() -> None:
    """More than 32 allowed groups: the per-group maxima come from one reduceat pass."""
    rng = np.random.default_rng(7)
    for trial in range(8):
        n = 600
        x = _data(rng, n, 4, trial % 4)
        balances = [
            Balance(rng.integers(0, 10, n).astype(np.int32), np.full(10, 0.1), 1.0),
            Balance(
                rng.integers(0, 8, n).astype(np.int32),
                np.full(8, 0.125) if trial % 2 else rng.dirichlet(np.ones(8)),
                2.0,
            ),
        ]
        static = np.where(rng.random(n) < 0.3, -np.inf, 0.0) if trial % 2 else None
        kw = {"balances": balances, "static": static, "diversity": float(trial % 3), "first": int(rng.integers(n))}
        _equal(combined_greedy(x, 450, **kw), combined_reference(x, 450, **kw))


@pytest.mark.parametrize("seed", range(4))
def test_pool_continues_the_greedy_run(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n, p, d = 400, 25, 8
    y = _data(rng, n + p, d, seed % 4)
    pool, x = y[:p], np.ascontiguousarray(y[p:])
    for md in (-1.0, 0.8):
        picks, radii, stopped = combined_greedy(x, 60, pool=pool, first=5, min_distance=md)  # first: ignored
        ref = _greedy_from(y, list(range(p)), 60, md)
        _equal((picks + p, radii, stopped), ref)
    # two runs (half, then all) pick what one greedy run started at the first run's picks does
    half = np.ascontiguousarray(y[: len(y) // 2])
    run1 = combined_greedy(half, 20, first=3)[0]
    allowed = np.ones(len(y), bool)
    allowed[run1] = False  # already in the pool
    run2 = combined_greedy(y, 40, pool=y[run1], allowed=allowed)
    _equal(run2, _greedy_from(y, [int(i) for i in run1], 40))


def test_min_distance_already_met_by_the_pool() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    picks, radii, stopped = combined_greedy(x, 10, pool=x + np.float32(1e-3), min_distance=0.1)
    assert stopped and len(picks) == 0 and len(radii) == 0
    assert combined_reference(x, 10, pool=x + np.float32(1e-3), min_distance=0.1)[2]


@pytest.mark.parametrize("target", [(0.5, 0.5), (0.2, 0.3, 0.5)])
def test_balance_follows_the_target_within_one_pick(target: tuple[float, ...]) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    x = _walks(rng, n, 16)
    cats = rng.integers(0, len(target), n).astype(np.int32)
    tgt = np.array(target)
    picks, _, _ = combined_greedy(x, 400, balances=[Balance(cats, tgt, 1.0)], first=17)
    assert len(picks) == 400 and len(set(picks.tolist())) == 400
    onehot = np.eye(len(target))[cats[picks]]
    counts = np.cumsum(onehot, axis=0)  # counts after t = 1..400 picks
    t = np.arange(1, 401)[:, None]
    assert np.abs(counts - tgt * t).max() <= 1.0
    # without the balance the data's own mix shows (uniform categories): far from 0.2/0.3/0.5
    free = combined_greedy(x, 400, first=17)[0]
    if len(target) == 3:
        assert np.abs(np.bincount(cats[free], minlength=3) - tgt * 400).max() > 10


def test_balance_with_a_category_that_runs_out() -> None:
    rng = np.random.default_rng(5)
    n = 300
    x = rng.standard_normal((n, 4)).astype(np.float32)
    cats = np.zeros(n, np.int32)
    cats[rng.permutation(n)[:100]] = 1
    rare = rng.permutation(np.flatnonzero(cats == 0))[:3]
    cats[rare] = 2  # only three candidates of category 2, which wants half the picks
    bal = Balance(cats, np.array([0.25, 0.25, 0.5]), 1.0)
    picks, radii, stopped = combined_greedy(x, 120, balances=[bal])
    assert len(picks) == 120 and not stopped
    assert set(rare) <= set(picks.tolist())
    counts = np.bincount(cats[picks], minlength=3)
    assert counts[2] == 3 and abs(counts[0] - counts[1]) <= 1
    # k beyond the data: every candidate once, the last radius 0
    picks, radii, stopped = combined_greedy(x, n + 10, balances=[bal])
    assert sorted(picks.tolist()) == list(range(n)) and radii[-1] == 0.0 and not stopped
    _equal((picks, radii, stopped), combined_reference(x, n + 10, balances=[bal]))


def test_static_only_picks_the_top_static_in_order() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((500, 5)).astype(np.float32)
    static = np.log(rng.uniform(0.01, 1, 500))
    picks, radii, _ = combined_greedy(x, 50, diversity=0.0, static=static, first=123)
    np.testing.assert_array_equal(picks, np.argsort(-static, kind="stable")[:50])
    assert np.all(np.diff(radii) <= 0)
    # ties: the lowest index, except that the first pick prefers `first`
    flat = np.zeros(500)
    np.testing.assert_array_equal(combined_greedy(x, 4, diversity=0.0, static=flat)[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(combined_greedy(x, 4, diversity=0.0, static=flat, first=9)[0], [9, 0, 1, 2])


def test_first_pick() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((100, 3)).astype(np.float32)
    allowed = np.ones(100, bool)
    allowed[:7] = False
    assert combined_greedy(x, 1, first=42)[0][0] == 42
    assert combined_greedy(x, 1, allowed=allowed)[0][0] == 7  # no first: the lowest allowed index
    static = np.zeros(100)
    static[60] = 1.0
    assert combined_greedy(x, 1, static=static, first=42)[0][0] == 60  # an objective decides
    pool = x[:1] + np.float32(5.0)
    far = int(np.argmax(sq_dist(x, pool[0])))
    assert combined_greedy(x, 1, pool=pool, first=42)[0][0] == far  # a pool: diversity decides


def test_disallowed_rows_are_never_picked_nor_counted_in_the_radius() -> None:
    rng = np.random.default_rng(9)
    n = 400
    x = _walks(rng, n, 6)
    x[13] += 1000.0  # a disallowed outlier would dominate the radius
    allowed = rng.random(n) < 0.7
    allowed[13] = False
    weights = np.log(rng.uniform(0.1, 1, n))
    bal = Balance(rng.integers(0, 3, n).astype(np.int32), np.array([0.5, 0.3, 0.2]), 1.0)
    picks, radii, _ = combined_greedy(x, n, static=weights, allowed=allowed, balances=[bal], first=None)
    assert sorted(picks.tolist()) == np.flatnonzero(allowed).tolist()
    # the radius after each pick, recomputed from scratch over allowed, unpicked rows
    nearest = np.full(n, np.inf, np.float32)
    left = allowed.copy()
    for t, i in enumerate(picks):
        np.minimum(nearest, sq_dist(x, x[i]), out=nearest)
        left[i] = False
        expected = math.sqrt(float(nearest[left].max())) if left.any() else 0.0
        assert radii[t] == expected
    assert radii[0] < 100.0
    empty = combined_greedy(x, 5, allowed=np.zeros(n, bool))
    assert len(empty[0]) == 0 and len(empty[1]) == 0 and not empty[2]
    assert len(combined_greedy(x, 0)[0]) == 0


def test_minus_inf_static_picked_only_when_nothing_else_remains() -> None:
    rng = np.random.default_rng(10)
    n = 200
    x = rng.standard_normal((n, 4)).astype(np.float32)  # no duplicates: no other -inf score
    static = np.zeros(n)
    zero = np.sort(rng.choice(n, 15, replace=False))
    static[zero] = -np.inf
    picks, _, _ = combined_greedy(x, n, static=static, first=int(zero[0]))
    assert not set(picks[: n - 15].tolist()) & set(zero.tolist())
    np.testing.assert_array_equal(picks[n - 15 :], zero)  # then the lowest index first
    _equal((picks, *combined_greedy(x, n, static=static)[1:]), combined_reference(x, n, static=static))


def test_tracker_reports_exactly_the_moved_rows() -> None:
    rng = np.random.default_rng(11)
    x = _data(rng, 700, 10, 2)
    active = rng.random(700) < 0.9
    tracker = NearestTracker(x, 40, active)
    outside = rng.standard_normal((5, 10)).astype(np.float32)
    order: list[tuple[np.ndarray, int | None]] = [(c, None) for c in outside]
    order += [(x[i], int(i)) for i in rng.choice(np.flatnonzero(active), 30, replace=False)]
    expected = np.full(700, np.inf, np.float32)
    for center, row in order:
        before = tracker.nearest.copy()
        moved = tracker.add(center, row)
        np.minimum(expected, sq_dist(x, center), out=expected)
        truth = expected.copy()
        truth[~active] = -1.0
        truth[before == -1.0] = -1.0
        if row is not None:
            truth[row] = -1.0
        np.testing.assert_array_equal(tracker.nearest, truth)
        changed = np.flatnonzero((tracker.nearest != before) & active)  # inactive rows: never reported
        assert set(changed.tolist()) <= set(moved.tolist()) <= set(changed.tolist()) | {row}


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocked_seeding_equals_adding_one_by_one(kind: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """add_outside (the datapool's items in one blocked pass) leaves the tracker exactly as
    adding them one at a time does: the same nearest bits and centers, ties to the earlier
    center, inactive rows and earlier centers' rows untouched; then further picks match."""
    import framepick._kcenter as kc

    monkeypatch.setattr(kc, "_SEED_ELEMENTS", 997)  # many blocks, a partial last one
    rng = np.random.default_rng(seed)
    n, d = 600, 12
    x = _data(rng, n, d, kind)
    active = rng.random(n) < 0.85 if seed else None
    pool = _data(rng, 40, d, kind)
    pool[:5] = x[rng.choice(n, 5)]  # items at distance 0 from points
    pool[5:8] = pool[8:11]  # duplicate items: exact ties between centers
    pool[11] = pool[12] + np.float32(1e-7)  # near ties
    for earlier in (0, 3):  # seeding first, and after a few centers that are rows of x
        one, blocked = NearestTracker(x, 80, active), NearestTracker(x, 80, active)
        rows = [int(i) for i in rng.choice(n if active is None else np.flatnonzero(active), earlier, replace=False)]
        for tracker in (one, blocked):
            for row in rows:
                tracker.add(x[row], row)
        for item in pool:
            one.add(item)
        blocked.add_outside(pool)
        np.testing.assert_array_equal(blocked.nearest, one.nearest)
        np.testing.assert_array_equal(blocked.assign, one.assign)
        np.testing.assert_array_equal(blocked.centers, one.centers)
        assert blocked.count == one.count == earlier + len(pool)
        for _ in range(10):  # the pruned updates after the seeding see the same state
            i = int(np.argmax(one.nearest))
            np.testing.assert_array_equal(blocked.add(x[i], i), one.add(x[i], i))
        np.testing.assert_array_equal(blocked.nearest, one.nearest)
