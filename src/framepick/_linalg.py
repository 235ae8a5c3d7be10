"""Shared numeric kernels: a PCA fitted on a seeded sample, and blocked nearest distances.

The selection (:mod:`framepick.select`) and the report both project embeddings onto principal
components and both measure "distance from each row to its nearest row of another set". One
implementation keeps their numbers consistent and their memory bounded in the same way: no
N×N (or k×N) matrix and no float64 copy of all rows is ever made; rows are taken in blocks
whose size is set here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "BLOCK_ELEMENTS",
    "BLOCK_ROWS",
    "Pca",
    "blocked_mean",
    "fit_pca",
    "max_sq_distance_to",
    "min_sq_distances",
    "nearest_distances",
    "nearest_rows",
    "nn_distances",
    "row_blocks",
    "sample_rows",
]

BLOCK_ROWS = 8_192  # rows per block of row-wise passes (8,192 x 1,280 float64 = 84 MB)
BLOCK_ELEMENTS = 8_000_000  # float64 elements per block of a distance product (64 MB)


def row_blocks(n: int, step: int = BLOCK_ROWS) -> Iterator[slice]:
    """Slices that cover ``range(n)`` in blocks of ``step`` rows: the one place passes are cut up."""
    for begin in range(0, n, step):
        yield slice(begin, min(begin + step, n))


def sample_rows(n: int, cap: int, seed: int) -> tuple[np.ndarray, bool]:
    """Sorted indices of a seeded sample of at most ``cap`` of ``n`` rows, and whether it is a sample."""
    if n <= cap:
        return np.arange(n), False
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False)), True


# ----------------------------------------------------------------------------- row-wise passes


def blocked_mean(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Mean of the rows (``x[rows]``) in float64, summed block by block (no float64 copy of ``x``)."""
    n = len(x) if rows is None else len(rows)
    total = np.zeros(x.shape[1])
    for part in row_blocks(n):
        total += np.asarray(x[part] if rows is None else x[rows[part]], np.float64).sum(axis=0)
    return total / n


def max_sq_distance_to(x: np.ndarray, point: np.ndarray) -> float:
    """Largest squared distance from a row of ``x`` to ``point`` (float64, blocked)."""
    worst = 0.0
    for rows in row_blocks(len(x)):
        diff = np.asarray(x[rows], np.float64) - point
        worst = max(worst, float(np.einsum("ij,ij->i", diff, diff).max()))
    return worst


# ----------------------------------------------------------------------------- nearest distances


def min_sq_distances(a: np.ndarray, b: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """For each row of ``a``, the smallest squared Euclidean distance to a row of ``b`` (float64).

    ``exclude[i]`` is a row of ``b`` that row ``i`` of ``a`` must not be matched with (its own
    copy), or -1. Both sides are taken in blocks and converted to float64 block by block, so
    memory stays bounded (about :data:`BLOCK_ELEMENTS` values per block product) however large
    ``a`` and ``b`` are. Distances use ``|a|² - 2a·b + |b|²``, clipped at 0.
    """
    out = np.full(len(a), np.inf)
    if len(a) == 0 or len(b) == 0:
        return out
    a_step = max(1, min(len(a), BLOCK_ROWS // 2, BLOCK_ELEMENTS // 2))
    b_step = max(1, BLOCK_ELEMENTS // a_step)
    b_blocks = [(begin, b[begin : begin + b_step]) for begin in range(0, len(b), b_step)]
    if len(b_blocks) == 1:  # convert a single block once, not once per block of a
        b_blocks = [(0, np.asarray(b_blocks[0][1], np.float64))]
    for a_rows in row_blocks(len(a), a_step):
        ab = np.asarray(a[a_rows], np.float64)
        a_sq = np.einsum("ij,ij->i", ab, ab)
        best = np.full(len(ab), np.inf)
        for b_begin, blk in b_blocks:
            bb = np.asarray(blk, np.float64)
            d = a_sq[:, None] - 2.0 * (ab @ bb.T) + np.einsum("ij,ij->i", bb, bb)[None, :]
            if exclude is not None:
                own = exclude[a_rows] - b_begin
                hit = np.flatnonzero((own >= 0) & (own < len(bb)))
                d[hit, own[hit]] = np.inf
            np.minimum(best, d.min(axis=1), out=best)
        out[a_rows] = best
    return np.maximum(out, 0.0)


def nearest_distances(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Distance from every row of ``x`` to its nearest row among ``x[centers]`` (inf without centers)."""
    if len(centers) == 0:
        return np.full(len(x), np.inf)
    return np.sqrt(min_sq_distances(x, x[np.asarray(centers, np.int64)]))


def nn_distances(x: np.ndarray, queries: np.ndarray | None = None) -> np.ndarray:
    """For each query row of ``x``, the distance to its nearest *other* row of ``x``."""
    queries = np.arange(len(x)) if queries is None else np.asarray(queries, np.int64)
    if len(x) < 2:
        return np.zeros(0)
    return np.sqrt(min_sq_distances(x[queries], x, exclude=queries))


def nearest_rows(queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a few query rows, the index of the nearest row of ``pool`` and its distance.

    Distances are norms of differences (exact for near neighbours, unlike the expansion in
    :func:`min_sq_distances`); meant for a handful of queries against many rows. The first
    nearest row wins ties.
    """
    q = np.asarray(queries, np.float64)
    best_d = np.full(len(q), np.inf)
    best_j = np.zeros(len(q), np.int64)
    if len(q) == 0:
        return best_j, best_d
    for rows in row_blocks(len(pool)):
        chunk = np.asarray(pool[rows], np.float64)
        d = np.stack([np.linalg.norm(chunk - row, axis=1) for row in q])
        j = d.argmin(axis=1)
        found = d[np.arange(len(q)), j]
        better = found < best_d
        best_d[better] = found[better]
        best_j[better] = rows.start + j[better]
    return best_j, best_d


# ----------------------------------------------------------------------------- PCA


@dataclass(frozen=True, eq=False)
class Pca:
    """Principal axes fitted on a sample; ``variances`` holds every fitted variance, largest first."""

    mean: np.ndarray  # (D,) float64
    components: np.ndarray  # (k, D) float64, one axis per row, by decreasing variance
    variances: np.ndarray  # float64, eigenvalues of the sample's scatter matrix, clipped at 0

    def variance_ratio(self) -> list[float]:
        """The share of the total variance each component explains."""
        total = float(self.variances.sum())
        k = len(self.components)
        return [float(self.variances[j] / total) if total > 0 and j < len(self.variances) else 0.0 for j in range(k)]

    def transform(self, x: np.ndarray, rows: np.ndarray | None = None, dtype: type = np.float64) -> np.ndarray:
        """``(x[rows] - mean) @ components.T`` in ``dtype``, block by block (no copy of ``x``)."""
        n = len(x) if rows is None else len(rows)
        mean: np.ndarray = self.mean.astype(dtype)
        basis: np.ndarray = np.ascontiguousarray(self.components.T, dtype=dtype)
        out: np.ndarray = np.empty((n, len(self.components)), dtype)
        for part in row_blocks(n):
            block = x[part] if rows is None else x[rows[part]]
            np.matmul(np.asarray(block, dtype) - mean, basis, out=out[part])
        return out


def fit_pca(
    x: np.ndarray,
    n_components: int,
    *,
    sample: int,
    seed: int = 0,
    rows: np.ndarray | None = None,
    center: Literal["sample", "all"] = "sample",
    solver: Literal["covariance", "auto"] = "covariance",
    fix_signs: bool = False,
) -> Pca:
    """Top ``n_components`` principal axes of ``x[rows]``, fitted on a seeded sample of ``sample`` rows.

    ``center``: subtract the mean of the fit sample, or of all rows. ``solver="covariance"``
    diagonalises the D×D scatter matrix (what the selection always did: its results stay
    bit-identical); ``"auto"`` diagonalises the n×n Gram matrix instead when the sample has
    fewer rows than dimensions (the same axes, much cheaper: 40 rows of 1280-D embeddings
    need a 40×40 problem, not 1280×1280). ``fix_signs`` makes each axis's largest coordinate
    positive, so pictures do not flip between equivalent runs.
    """
    take = np.arange(len(x)) if rows is None else np.asarray(rows)
    fit_idx = take[sample_rows(len(take), sample, seed)[0]]
    mean = blocked_mean(x, fit_idx if center == "sample" else rows)
    d = x.shape[1]
    if solver == "auto" and len(fit_idx) < d:
        components, variances = _gram_axes(np.asarray(x[fit_idx], np.float64) - mean, n_components)
    else:
        scatter = np.zeros((d, d))
        for part in row_blocks(len(fit_idx)):
            block = np.asarray(x[fit_idx[part]], np.float64) - mean
            scatter += block.T @ block
        eigval, eigvec = np.linalg.eigh(scatter)
        variances = np.maximum(eigval[::-1], 0.0)
        components = eigvec[:, ::-1][:, :n_components].T
    if len(components) < n_components:
        components = np.vstack([components, np.zeros((n_components - len(components), d))])
    if fix_signs:
        signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
        signs[signs == 0] = 1
        components = components * signs[:, None]
    return Pca(mean, components, variances)


def _gram_axes(centered: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes from the Gram matrix of few rows: axis_j = Bᵀu_j / √λ_j (zero where λ_j is ~0)."""
    eigval, eigvec = np.linalg.eigh(centered @ centered.T)
    variances = np.maximum(eigval[::-1], 0.0)
    u = eigvec[:, ::-1][:, :k]
    top = variances[: u.shape[1]]
    keep = top > (top[0] if len(top) else 0.0) * 1e-12  # below that an "axis" is rounding noise
    axes = np.zeros((u.shape[1], centered.shape[1]))
    axes[keep] = (centered.T @ u[:, keep] / np.sqrt(top[keep])).T
    return axes, variances
