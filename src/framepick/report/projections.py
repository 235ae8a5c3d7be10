"""2-D projections of the candidate embeddings for the maps: PCA always, UMAP when installed."""

from __future__ import annotations

import numpy as np

from .._linalg import fit_pca

__all__ = ["PCA_FIT_ROWS", "pca_2d_with_pool", "pca_2d_with_ratio", "umap_2d"]

PCA_FIT_ROWS = 20_000  # the map's PCA is fitted on a seeded sample of at most this many candidates


def pca_2d_with_ratio(x: np.ndarray, fit_rows: int = PCA_FIT_ROWS, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Rows projected on their first two principal components (fitted on a seeded sample), and the
    share of the variance each component explains."""
    xy, ratio, _ = pca_2d_with_pool(x, None, fit_rows, seed)
    return xy, ratio


def pca_2d_with_pool(
    x: np.ndarray, pool: np.ndarray | None, fit_rows: int = PCA_FIT_ROWS, seed: int = 0
) -> tuple[np.ndarray, list[float], np.ndarray]:
    """As :func:`pca_2d_with_ratio`, and ``pool`` (earlier runs' picks) projected with the very same
    axes: fitted on the candidates only, so a datapool does not move the candidates on the map."""
    empty = np.zeros((0, 2))
    if len(x) == 0:
        return empty, [0.0, 0.0], empty
    # Centred on the mean of all rows; signs fixed so the picture does not flip between runs.
    pca = fit_pca(x, 2, sample=fit_rows, seed=seed, center="all", solver="auto", fix_signs=True)
    pool_xy = pca.transform(pool) if pool is not None and len(pool) else empty
    return pca.transform(x), pca.variance_ratio(), pool_xy


def umap_2d(x: np.ndarray, seed: int) -> tuple[np.ndarray | None, str]:
    """UMAP of ``x`` when umap-learn is installed; (None, why not) otherwise."""
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        return None, "umap-learn is not installed (pip install umap-learn)"
    if len(x) < 5:
        return None, "too few points for UMAP"
    try:
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed)
        return np.asarray(reducer.fit_transform(np.asarray(x, np.float32)), np.float64), "ok"
    except Exception as exc:  # UMAP is optional: a failure costs the plot, not the report
        return None, f"UMAP failed: {type(exc).__name__}: {exc}"
