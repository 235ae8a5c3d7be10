"""2-D projections for the maps: the candidate embeddings (PCA always, UMAP when installed), and the
selected sequences' frames on the PCA of all candidate frames (:func:`frames_2d`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._linalg import fit_pca, sample_rows
from .data import CandidateFrames

__all__ = [
    "FRAME_FIT_ROWS",
    "PCA_FIT_ROWS",
    "FrameMap",
    "frames_2d",
    "pca_2d_with_pool",
    "pca_2d_with_ratio",
    "umap_2d",
]

PCA_FIT_ROWS = 20_000  # the map's PCA is fitted on a seeded sample of at most this many candidates
# The frame map's PCA is fitted on a seeded sample of at most this many candidate frames. Frames
# are `length` times as many as candidates, and the run's write stage is timed: fewer rows than
# dimensions (1280 for the default model) make the fit a Gram matrix's (1,000 x 1,000: a quarter
# of a second on 2 cores, against 4 s for 5,000 rows' 1280 x 1280 scatter matrix); two axes for a
# picture are as clear from 1,000 frames as from all of them.
FRAME_FIT_ROWS = 1_000


@dataclass(frozen=True, eq=False)
class FrameMap:
    """The selected sequences' frames projected on the PCA of all candidate frames.

    Points are in selection order, each sequence's frames in frame order: a sequence is a run of
    equal ``sequence`` values, so joining its points in order draws it as one short trail. Frames
    without an embedding (``embedding_frame_stride``) are not points.
    """

    xy: np.ndarray  # (F, 2) float64
    sequence: np.ndarray  # (F,) int64: the position of the frame's sequence in the selection (0: first pick)
    offset: np.ndarray  # (F,) int64: the frame's position in its sequence (0 .. length-1)
    ratio: list[float]  # the share of the candidate frames' variance along each axis
    candidate_frames: int  # the frames the PCA is of: every embedded frame of every candidate
    fit_frames: int  # the frames it was fitted on (a seeded sample when fewer than candidate_frames)

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def sequences(self) -> int:
        """Selected sequences with at least one point."""
        return len(np.unique(self.sequence))


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


def frames_2d(frames: CandidateFrames, selected: np.ndarray, fit_rows: int = FRAME_FIT_ROWS, seed: int = 0) -> FrameMap:
    """The frames of the ``selected`` candidates (in that order) on the first two principal axes of
    every embedded candidate frame, fitted on a seeded sample of ``fit_rows`` of them.

    Centred on the sample's mean, not all frames' (the two agree but for sampling noise, and the
    sample's costs no pass over every frame); signs fixed so the picture does not flip between runs.
    """
    all_rows = frames.rows.reshape(-1)
    candidate_rows = np.sort(all_rows[frames.usable(all_rows)])
    picked = frames.rows[np.asarray(selected, np.int64)]  # (K, W)
    keep = frames.usable(picked)
    sequence = np.broadcast_to(np.arange(len(picked))[:, None], picked.shape)[keep]
    offset = np.broadcast_to(frames.offsets[None, :], picked.shape)[keep]
    if len(candidate_rows) == 0:
        return FrameMap(np.zeros((0, 2)), sequence, offset, [0.0, 0.0], 0, 0)
    fit = candidate_rows[sample_rows(len(candidate_rows), fit_rows, seed)[0]]
    pca = fit_pca(frames.embeddings, 2, sample=len(fit), rows=fit, solver="auto", fix_signs=True)
    xy = pca.transform(frames.embeddings, rows=picked[keep])
    return FrameMap(
        xy, sequence.astype(np.int64), offset.astype(np.int64), pca.variance_ratio(), len(candidate_rows), len(fit)
    )
