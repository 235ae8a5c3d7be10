"""The compiled half-precision k-center kernel returns exactly the reference selection."""

from __future__ import annotations

import numpy as np
import pytest

import framepick._kcenter as kc
from framepick._kcenter import kcenter_fast, kcenter_half, kcenter_reference, sq_dist

jit = pytest.importorskip("framepick._kcenter_jit")


def _same(x: np.ndarray, k: int, first: int = 0, block: int = 64, **kw: object) -> tuple[np.ndarray, np.ndarray, bool]:
    ref = kcenter_reference(x, k, first, **kw)  # type: ignore[arg-type]
    half = kcenter_half(x, k, first, block=block, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(half[0], ref[0])
    np.testing.assert_array_equal(half[1], ref[1])  # radii: the same float32 bits, square-rooted
    assert half[2] == ref[2]
    return half


def _walks(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    steps = rng.standard_normal((n, d)) * 0.05
    steps[rng.random(n) < 0.02] += rng.standard_normal(d) * 3
    return np.cumsum(steps, axis=0)


@pytest.mark.parametrize("seed", range(10))
def test_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 900)), int(rng.integers(1, 70))
    x = (_walks(rng, n, d) if seed % 2 else rng.standard_normal((n, d))).astype(np.float32)
    first = int(rng.integers(n))
    block = int(rng.choice([1, 7, 64, 256]))
    _same(x, n, first, block)
    _same(x, max(1, n // 5), first, block)
    picks, _radii, by_distance = _same(x, n, first, block, min_distance=float(np.median(np.abs(x))) + 0.1)
    assert by_distance or len(picks) == n
    _same(x, max(1, n // 3), first, block, order=rng.permutation(n))


def _adversarial(name: str, rng: np.random.Generator) -> np.ndarray:
    if name == "duplicates":  # every point three times, spread out
        return np.repeat(rng.standard_normal((60, 5)), 3, axis=0)[rng.permutation(180)]
    if name == "all_equal":
        return np.full((50, 4), 0.3)
    if name == "ties":  # corners of a cube: many exactly equal distances
        return np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)] * 4, float)
    if name == "grid":
        return np.stack(np.meshgrid(np.arange(12), np.arange(12)), -1).reshape(-1, 2).astype(float)
    if name == "one_point":
        return np.array([[1.0, 2.0]])
    if name == "tiny_scale":
        return rng.standard_normal((200, 8)) * 1e-6
    if name == "huge_scale":  # float16 rounding of 1e7 + x: the scale brings it to 2^14
        return rng.standard_normal((200, 8)) * 1e6 + 1e7
    if name == "beyond_half_range":  # float16 overflows at 65504
        return rng.standard_normal((200, 8)) * 1e15  # squares still fit float32
    if name == "mixed_magnitudes":  # small rows lose most bits in float16 next to big ones
        return rng.standard_normal((300, 16)) * np.where(rng.random(300) < 0.1, 1e4, 1e-3)[:, None]
    if name == "near_ties":  # distances closer than float16 can tell: the re-check must decide
        base = np.ones((400, 6)) * 3.0
        base[:, 0] += rng.integers(-3, 4, 400) * 2.0**-20  # below float16's spacing at 3 (2^-9)
        base[:, 1] += rng.integers(0, 2, 400) * 1.0
        return base
    if name == "integers":  # the benchmark's integer case: exact in any arithmetic, ties at most picks
        return np.round(rng.standard_normal((600, 64)))
    if name == "subnormal_half":  # values that are float16 subnormals before scaling
        return rng.standard_normal((200, 5)) * 1e-6 + np.where(rng.random((200, 1)) < 0.5, 0.0, 1.0)
    raise AssertionError(name)


ADVERSARIAL = [
    "duplicates", "all_equal", "ties", "grid", "one_point", "tiny_scale", "huge_scale",
    "beyond_half_range", "mixed_magnitudes", "near_ties", "subnormal_half", "integers",
]  # fmt: skip


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial(name: str) -> None:
    rng = np.random.default_rng(1)
    x = _adversarial(name, rng).astype(np.float32)
    assert np.isfinite(x).all()
    for first in (0, len(x) // 2, len(x) - 1):
        for block in (1, 16, 256):
            _same(x, len(x), first, block)
            _same(x, max(1, len(x) // 3), first, block)
        _same(x, len(x), first, 16, order=rng.permutation(len(x)))


def test_half_copy_bounds_the_rounding() -> None:
    """Each row's bound covers its float16 rounding, and the scale keeps values in range."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((500, 9)) * np.logspace(-8, 30, 500)[:, None]).astype(np.float32)
    q, err, scale = jit.half_copy(x)
    back = q.view(np.float16).astype(np.float64)
    assert np.isfinite(back).all() and np.abs(back).max() <= 2.0**14
    true = np.linalg.norm(x.astype(np.float64) * scale - back, axis=1)
    assert (err >= true).all()
    assert (err <= true * 1.01 + 1e-29).all()  # and is not loose


def test_exact_distance_has_the_shared_bits() -> None:
    """The compiled fixed-tree distance is sq_dist's, bit for bit, at every width."""
    rng = np.random.default_rng(3)
    for d in (1, 2, 3, 5, 8, 31, 64, 67, 129):
        x = (rng.standard_normal((300, d)) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
        c = x[7]
        buf = np.empty(d, np.float32)
        got = np.array([jit.exact(x, p, c, buf) for p in range(len(x))], np.float32)
        np.testing.assert_array_equal(got.view(np.uint32), sq_dist(x, c).view(np.uint32))


def test_nearest_holds_the_reference_bits() -> None:
    rng = np.random.default_rng(4)
    x = _walks(rng, 2000, 24).astype(np.float32)
    tracker = jit.HalfTracker(x, 60, block=32)
    nearest = np.full(len(x), np.inf, np.float32)
    i = 11
    for _ in range(60):
        np.minimum(nearest, sq_dist(x, x[i]), out=nearest)
        nearest[i] = -1.0
        nxt = tracker.add(i)
        np.testing.assert_array_equal(tracker.nearest.view(np.uint32), nearest.view(np.uint32))
        assert nxt == int(np.argmax(nearest))
        i = nxt


def test_block_bound_skips_blocks_and_stays_exact() -> None:
    """Video-like rows in order: whole blocks are skipped, and the picks are the reference's
    (a block radius taken at half its size, tried once, picks differently)."""
    rng = np.random.default_rng(5)
    x = _walks(rng, 4000, 8).astype(np.float32)
    tracker = jit.HalfTracker(x, 400, block=50)
    picks, i = [], 0
    for _ in range(400):
        picks.append(i)
        i = tracker.add(i)
    assert tracker.skipped > 0
    np.testing.assert_array_equal(picks, kcenter_reference(x, 400, 0)[0])


def test_kcenter_fast_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto compiles from _HALF_MIN_ELEMENTS values of finite points on; every engine agrees."""
    calls: list[int] = []
    real = kc.kcenter_half

    def counting(*args: object, **kw: object) -> tuple[np.ndarray, np.ndarray, bool]:
        calls.append(1)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(kc, "kcenter_half", counting)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    ref = kcenter_reference(x, 50, 3)[0]
    monkeypatch.setattr(kc, "_HALF_MIN_ELEMENTS", x.size + 1)
    np.testing.assert_array_equal(kcenter_fast(x, 50, 3)[0], ref)
    assert calls == []
    monkeypatch.setattr(kc, "_HALF_MIN_ELEMENTS", x.size)
    np.testing.assert_array_equal(kcenter_fast(x, 50, 3)[0], ref)
    assert calls == [1]
    np.testing.assert_array_equal(kcenter_fast(x, 50, 3, engine="numpy")[0], ref)
    assert calls == [1]
    x[10, 2] = np.inf  # not finite: the NumPy kernel, as the reference
    np.testing.assert_array_equal(kcenter_fast(x, 50, 3)[0], kcenter_reference(x, 50, 3)[0])
    assert calls == [1]
    with pytest.raises(kc.SelectionError, match="engine"):
        kcenter_fast(x, 5, engine="gpu")
