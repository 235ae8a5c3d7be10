"""The fast k-center kernel returns exactly the reference selection (same picks, same radii)."""

from __future__ import annotations

import numpy as np
import pytest

from framepick._kcenter import kcenter_fast, kcenter_reference, sq_dist
from framepick.select import reduce_dim, select


def _same(x: np.ndarray, k: int, first: int = 0, **kw: object) -> tuple[np.ndarray, np.ndarray, bool]:
    ref = kcenter_reference(x, k, first, **kw)  # type: ignore[arg-type]
    fast = kcenter_fast(x, k, first, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(fast[0], ref[0])
    np.testing.assert_array_equal(fast[1], ref[1])
    assert fast[2] == ref[2]
    return fast


def _walks(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Video-like data: smooth random walks that jump to a new place now and then."""
    steps = rng.standard_normal((n, d)) * 0.05
    steps[rng.random(n) < 0.02] += rng.standard_normal(d) * 3
    return np.cumsum(steps, axis=0)


@pytest.mark.parametrize("seed", range(12))
def test_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 600)), int(rng.integers(1, 70))
    x = (_walks(rng, n, d) if seed % 2 else rng.standard_normal((n, d))).astype(np.float32)
    first = int(rng.integers(n))
    _same(x, n, first)  # k = N: every point, in the reference order
    _same(x, max(1, n // 5), first)
    picks, _radii, by_distance = _same(x, n, first, min_distance=float(np.median(np.abs(x))) + 0.1)
    assert by_distance or len(picks) == n


@pytest.mark.parametrize(
    "name",
    ["duplicates", "all_equal", "ties", "grid", "one_point", "one_dim", "tiny_scale", "huge_scale", "zeros_and_one"],
)
def test_adversarial(name: str) -> None:
    rng = np.random.default_rng(1)
    if name == "duplicates":  # every point three times
        x = np.repeat(rng.standard_normal((60, 5)), 3, axis=0)
    elif name == "all_equal":
        x = np.full((50, 4), 0.3)
    elif name == "ties":  # corners of a cube: many exactly equal distances
        x = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)] * 4, float)
    elif name == "grid":
        x = np.stack(np.meshgrid(np.arange(12), np.arange(12)), -1).reshape(-1, 2).astype(float)
    elif name == "one_point":
        x = np.array([[1.0, 2.0]])
    elif name == "one_dim":
        x = rng.integers(0, 20, (200, 1)).astype(float)
    elif name == "tiny_scale":
        x = rng.standard_normal((200, 8)) * 1e-6
    elif name == "huge_scale":
        x = rng.standard_normal((200, 8)) * 1e6 + 1e7
    else:
        x = np.zeros((40, 3))
        x[17] = 1.0
    x = x.astype(np.float32)
    for first in (0, len(x) // 2, len(x) - 1):
        _same(x, len(x), first)
        _same(x, max(1, len(x) // 3), first)
        _same(x, len(x), first, order=rng.permutation(len(x)))


def test_random_order_radii_match() -> None:
    rng = np.random.default_rng(3)
    x = _walks(rng, 500, 16).astype(np.float32)
    _same(x, 120, order=rng.permutation(500))


def test_sq_dist_does_not_depend_on_the_block() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 67)).astype(np.float32)
    full = sq_dist(x, x[5])
    for m in (1, 2, 3, 17, 1000):
        rows = rng.choice(3000, m, replace=False)
        np.testing.assert_array_equal(sq_dist(x[rows], x[5]), full[rows])
    np.testing.assert_allclose(full, ((x.astype(np.float64) - x[5]) ** 2).sum(1), rtol=1e-5)


def test_select_uses_the_same_picks_and_first_point() -> None:
    rng = np.random.default_rng(4)
    x = _walks(rng, 800, 24).astype(np.float32)
    sel = select(x, n_samples=50, seed=9)
    first = int(np.random.default_rng(9).integers(800))
    np.testing.assert_array_equal(sel.indices, kcenter_reference(x, 50, first)[0])


def test_reduce_dim() -> None:
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((500, 3)) @ rng.standard_normal((3, 40))).astype(np.float32)
    y = reduce_dim(x, 3, seed=0)
    assert y.shape == (500, 3) and y.dtype == np.float32
    # rank-3 data: distances survive the projection
    i, j = rng.integers(500, size=(2, 50))
    np.testing.assert_allclose(
        np.linalg.norm(y[i] - y[j], axis=1), np.linalg.norm(x[i] - x[j], axis=1), rtol=1e-3, atol=1e-3
    )
    assert reduce_dim(x, 64) is x and reduce_dim(x, 40) is x and reduce_dim(x, -1) is x  # dim >= D or off: the rows


@pytest.mark.parametrize("seed", range(4))
def test_distance_passes_in_blocks(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tracker's passes over x run in blocks (no temporary of x's size at 1M points):
    with blocks of a few rows, the picks and radii are still the reference's, bit for bit."""
    import framepick._kcenter as kc

    monkeypatch.setattr(kc, "_PASS_ROWS", 7)
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(200, 600)), int(rng.integers(1, 40))
    x = (_walks(rng, n, d) if seed % 2 else rng.standard_normal((n, d))).astype(np.float32)
    _same(x, n, int(rng.integers(n)))
    _same(x, max(1, n // 5), 0, min_distance=0.5)
