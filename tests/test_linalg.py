"""framepick._linalg against brute force and against the implementations it replaced.

The selection's PCA (``select.reduce_dim``) must stay bit-identical to what it was; the report's
PCA and every distance must agree with plain numpy to rounding, whatever the block sizes."""

from __future__ import annotations

import numpy as np
import pytest

from framepick import _linalg as L
from framepick.select import covering_radius, reduce_dim


def _brute_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return ((a64[:, None, :] - b64[None, :, :]) ** 2).sum(-1)


@pytest.fixture(params=["one block", "tiny blocks"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "tiny blocks":
        monkeypatch.setattr(L, "BLOCK_ELEMENTS", 37)
        monkeypatch.setattr(L, "BLOCK_ROWS", 10)
    return str(request.param)


def test_min_sq_distances_with_and_without_exclude(blocks: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(53, 9)).astype(np.float32)
    b = np.vstack([a[:20], rng.normal(size=(31, 9)).astype(np.float32)])
    d = _brute_sq(a, b)
    np.testing.assert_allclose(L.min_sq_distances(a, b), d.min(1), rtol=1e-9, atol=1e-9)
    exclude = np.full(len(a), -1)
    exclude[:20] = np.arange(20)  # a[i] is b[i]: its own copy must not count
    masked = d.copy()
    masked[np.arange(20), np.arange(20)] = np.inf
    np.testing.assert_allclose(L.min_sq_distances(a, b, exclude), masked.min(1), rtol=1e-9, atol=1e-9)
    assert L.min_sq_distances(a[:0], b).shape == (0,) and np.isinf(L.min_sq_distances(a, b[:0])).all()


def test_nearest_and_nn_distances(blocks: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5))
    x[7] = x[40]  # a duplicate: nearest other point at distance 0
    d = np.sqrt(_brute_sq(x, x))
    centers = np.array([2, 9, 33])
    np.testing.assert_allclose(L.nearest_distances(x, centers), d[:, centers].min(1), atol=1e-7)
    off = d + np.diag(np.full(len(x), np.inf))
    q = np.array([0, 7, 40, 63])
    np.testing.assert_allclose(L.nn_distances(x, q), off[q].min(1), atol=1e-7)
    assert L.nn_distances(x, q)[1] == pytest.approx(0.0, abs=1e-6)
    assert np.isinf(L.nearest_distances(x, np.zeros(0, int))).all()


def test_nearest_rows_first_wins_ties(blocks: str) -> None:
    rng = np.random.default_rng(2)
    pool = rng.normal(size=(45, 4))
    pool[30] = pool[12]  # a tie: the first (12) wins
    queries = np.vstack([pool[12] + 1e-9, rng.normal(size=(3, 4))])
    idx, dist = L.nearest_rows(queries, pool)
    d = np.sqrt(_brute_sq(queries, pool))
    np.testing.assert_array_equal(idx, d.argmin(1))
    np.testing.assert_allclose(dist, d.min(1), rtol=1e-12)
    assert idx[0] == 12


def test_row_passes(blocks: str) -> None:
    x = np.random.default_rng(3).normal(size=(71, 6)).astype(np.float32)
    np.testing.assert_allclose(L.blocked_mean(x), x.astype(np.float64).mean(0), rtol=1e-12)
    rows = np.array([3, 9, 70])
    np.testing.assert_allclose(L.blocked_mean(x, rows), x[rows].astype(np.float64).mean(0), rtol=1e-12)
    p = np.ones(6)
    assert L.max_sq_distance_to(x, p) == pytest.approx(((x.astype(np.float64) - p) ** 2).sum(1).max(), rel=1e-12)
    assert [s.stop - s.start for s in L.row_blocks(25, 10)] == [10, 10, 5]


def test_covering_radius_is_brute_force() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    sel = rng.choice(300, 17, replace=False)
    assert covering_radius(x, sel) == pytest.approx(np.sqrt(_brute_sq(x, x[sel]).min(1).max()), rel=1e-9)
    assert covering_radius(x, sel[:0]) == np.inf


# ----------------------------------------------------------------------------- PCA


def _old_reduce_dim(x: np.ndarray, dim: int, seed: int = 0, sample: int = 8192, rows: np.ndarray | None = None):  # type: ignore[no-untyped-def]
    """select.reduce_dim as it was before framepick._linalg (the reference for bit-identity)."""
    x = np.asarray(x, dtype=np.float32)
    take = np.arange(len(x)) if rows is None else np.asarray(rows)
    n, d = len(take), x.shape[1]
    if dim <= 0 or dim >= d or n <= 1:
        return x if rows is None else x[take]
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, sample, replace=False)) if n > sample else np.arange(n)
    fit = x[take[fit_rows]].astype(np.float64)
    mean = fit.mean(axis=0)
    fit -= mean
    _, vectors = np.linalg.eigh(fit.T @ fit)
    basis = np.ascontiguousarray(vectors[:, ::-1][:, :dim], dtype=np.float32)
    out = np.empty((n, dim), np.float32)
    mean32 = mean.astype(np.float32)
    for begin in range(0, n, 8192):
        block = x[begin : begin + 8192] if rows is None else x[take[begin : begin + 8192]]
        np.matmul(block - mean32, basis, out=out[begin : begin + 8192])
    return out


@pytest.mark.parametrize(("n", "d", "dim"), [(500, 40, 3), (9000, 24, 8), (37, 300, 2), (3, 5, 2)])
def test_reduce_dim_is_bit_identical_to_before(n: int, d: int, dim: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d)).astype(np.float32)
    np.testing.assert_array_equal(reduce_dim(x, dim, seed=3), _old_reduce_dim(x, dim, seed=3))
    rows = np.sort(rng.choice(n, max(2, n // 2), replace=False))
    np.testing.assert_array_equal(reduce_dim(x, dim, seed=1, rows=rows), _old_reduce_dim(x, dim, seed=1, rows=rows))


def _old_report_pca(x: np.ndarray, fit_rows: int, seed: int) -> tuple[np.ndarray, list[float]]:
    """The report's 2-D PCA as it was: covariance of the fit sample around the mean of all rows."""
    mean = x.astype(np.float64).mean(0)
    idx = (
        np.arange(len(x))
        if len(x) <= fit_rows
        else np.sort(np.random.default_rng(seed).choice(len(x), fit_rows, replace=False))
    )
    block = x[idx].astype(np.float64) - mean
    eigval, eigvec = np.linalg.eigh(block.T @ block)
    order = np.argsort(eigval)[::-1]
    comps = eigvec[:, order].T[:2]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    comps = comps * signs[:, None]
    var = np.maximum(eigval[order], 0.0)
    return (x.astype(np.float64) - mean) @ comps.T, [float(var[j] / var.sum()) for j in range(2)]


@pytest.mark.parametrize(("n", "d", "fit_rows"), [(400, 16, 20_000), (40, 256, 20_000), (900, 8, 300), (60, 90, 25)])
def test_report_pca_matches_the_old_one(n: int, d: int, fit_rows: int) -> None:
    """Covariance (many rows) or Gram (fewer rows than dimensions): the same axes and shares."""
    from framepick.report.projections import pca_2d_with_ratio

    rng = np.random.default_rng(d)
    x = (rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) + 0.1 * rng.normal(size=(n, d))).astype(np.float32)
    got, ratio = pca_2d_with_ratio(x, fit_rows=fit_rows, seed=5)
    ref, ref_ratio = _old_report_pca(x, fit_rows, seed=5)
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(ratio, ref_ratio, rtol=1e-9)


def test_pca_is_what_an_svd_gives() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(50, 7)) * np.array([9.0, 5, 3, 1, 0.5, 0.2, 0.1])
    for solver in ("covariance", "auto"):
        pca = L.fit_pca(x, 3, sample=1_000, solver=solver, center="all", fix_signs=True)  # type: ignore[arg-type]
        centred = x - x.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        np.testing.assert_allclose(np.abs(pca.components), np.abs(vt[:3]), atol=1e-10)
        np.testing.assert_allclose(pca.variance_ratio(), (s**2 / (s**2).sum())[:3], rtol=1e-10)
        assert (pca.components[np.arange(3), np.abs(pca.components).argmax(1)] > 0).all()
    wide = rng.normal(size=(6, 40))
    gram = L.fit_pca(wide, 2, sample=100, solver="auto", center="all", fix_signs=True)
    cov = L.fit_pca(wide, 2, sample=100, solver="covariance", center="all", fix_signs=True)
    np.testing.assert_allclose(gram.transform(wide), cov.transform(wide), atol=1e-10)
    np.testing.assert_allclose(gram.variance_ratio(), cov.variance_ratio(), rtol=1e-10)
