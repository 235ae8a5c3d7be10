"""The report's embedding statistics: computed once by the run, saved, loaded by a rebuild.

Coverage numbers (``report.json["metrics"]["coverage"]``), the distance arrays behind the
histograms and the 2-D projections of the maps all come from the candidate embeddings (and
the datapool's items, projected on the PCA map with the candidates' axes); the frame map
(:class:`~.projections.FrameMap`: the selected sequences' frames on the PCA of all candidate
frames) from the frame embeddings, which only a run has in memory.
The run computes them (:func:`compute_stats`) and saves the arrays to
``data/report_stats.npz``; ``framepick report`` loads them (:meth:`ReportStats.load`) and
only draws again, so a rebuilt report shows the very same numbers without recomputing any.
Files saved before the frame map existed load with ``frames`` None; ``framepick report`` then
computes it once from ``data/embeddings.csv`` and saves it (see :func:`framepick.report.rebuild_report`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._fsutil import atomic_open
from ..errors import OutputError
from .data import CandidateFrames, ReportInputs
from .metrics import coverage_metrics
from .projections import FrameMap, frames_2d, pca_2d_with_pool, pca_2d_with_ratio, umap_2d

__all__ = ["REPORT_STATS_NPZ", "ReportStats", "compute_stats", "frame_map"]

REPORT_STATS_NPZ = "data/report_stats.npz"


@dataclass(frozen=True)
class ReportStats:
    """Everything the report computes from embeddings."""

    coverage: dict[str, Any]  # report.json["metrics"]["coverage"]
    arrays: dict[str, np.ndarray]  # distances and bin edges behind the histogram plots
    pca_xy: np.ndarray  # (M, 2), every candidate on the PCA map
    pca_ratio: list[float]  # share of the variance of each of the two components
    umap_xy: np.ndarray | None  # (len(shown), 2) when umap-learn is installed
    umap_note: str
    # (P, 2): the datapool's items on the PCA map (same axes); absent from files of runs without one
    pool_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    # the selected sequences' frames on the PCA of all candidate frames; None: not available, frames_note says why
    frames: FrameMap | None = None
    frames_note: str = ""  # not saved: a rebuild finds out again

    def save(self, path: str | Path) -> None:
        meta: dict[str, Any] = {
            "version": 1,
            "coverage": self.coverage,
            "pca_ratio": self.pca_ratio,
            "umap_note": self.umap_note,
        }
        extra = {} if self.umap_xy is None else {"umap_xy": np.asarray(self.umap_xy, np.float64)}
        if len(self.pool_xy):  # only then: a run without a datapool writes the file it always wrote
            extra["pool_xy"] = np.asarray(self.pool_xy, np.float64)
        if self.frames is not None:  # new keys only: older framepick versions read the file as before
            f = self.frames
            meta["frames"] = {"ratio": f.ratio, "candidate_frames": f.candidate_frames, "fit_frames": f.fit_frames}
            extra |= {"frame_xy": np.asarray(f.xy, np.float64), "frame_sequence": f.sequence, "frame_offset": f.offset}
        arrays = {f"arrays.{k}": np.asarray(v) for k, v in self.arrays.items()}
        with atomic_open(path, "wb") as fh:
            named: dict[str, Any] = {"meta": np.array(json.dumps(meta)), "pca_xy": np.asarray(self.pca_xy, np.float64)}
            np.savez(fh, **(named | arrays | extra))

    @classmethod
    def load(cls, path: str | Path) -> ReportStats:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(
                    coverage=meta["coverage"],
                    arrays={k.split(".", 1)[1]: data[k] for k in data.files if k.startswith("arrays.")},
                    pca_xy=data["pca_xy"],
                    pca_ratio=[float(r) for r in meta["pca_ratio"]],
                    umap_xy=data["umap_xy"] if "umap_xy" in data.files else None,
                    umap_note=str(meta["umap_note"]),
                    pool_xy=data["pool_xy"] if "pool_xy" in data.files else np.zeros((0, 2)),
                    frames=_load_frames(data, meta),
                )
        except FileNotFoundError:
            raise OutputError(f"'{path}' is missing: rerun the selection with this framepick version") from None
        except (OSError, ValueError, KeyError) as exc:
            raise OutputError(f"'{path}' is not a framepick report statistics file ({exc})") from exc


def _load_frames(data: Any, meta: dict[str, Any]) -> FrameMap | None:
    """The saved frame map, or None for a file saved before it existed."""
    if "frame_xy" not in data.files or "frames" not in meta:
        return None
    info = meta["frames"]
    return FrameMap(
        xy=data["frame_xy"],
        sequence=data["frame_sequence"].astype(np.int64),
        offset=data["frame_offset"].astype(np.int64),
        ratio=[float(r) for r in info["ratio"]],
        candidate_frames=int(info["candidate_frames"]),
        fit_frames=int(info["fit_frames"]),
    )


def _candidate_frames(inputs: ReportInputs) -> CandidateFrames | None:
    """The frame embeddings the frame map is made of. With one frame per sequence a candidate's
    embedding *is* its frame's, so the candidates serve when no frame table came with the inputs."""
    if inputs.frames is not None:
        return inputs.frames
    if inputs.length == 1:
        return CandidateFrames(inputs.embeddings, np.arange(len(inputs))[:, None], np.zeros(1, np.int64))
    return None


def frame_map(inputs: ReportInputs, seed: int) -> tuple[FrameMap | None, str]:
    """The frame map of ``inputs``, or (None, why not) when their frame embeddings are unknown."""
    frames = _candidate_frames(inputs)
    if frames is None:
        return None, "the frames' embeddings were not available to the report"
    return frames_2d(frames, inputs.selected, seed=seed), ""


def compute_stats(inputs: ReportInputs, shown: np.ndarray, seed: int) -> ReportStats:
    """The statistics of a run's candidates; ``shown`` are the map's points (UMAP runs on them)."""
    coverage, arrays = coverage_metrics(inputs.embeddings, inputs.selected, seed)
    if inputs.pool_count:
        xy, ratio, pool_xy = pca_2d_with_pool(inputs.embeddings, inputs.pool_embeddings, seed=seed)
    else:
        (xy, ratio), pool_xy = pca_2d_with_ratio(inputs.embeddings, seed=seed), np.zeros((0, 2))
    umap_xy, umap_note = umap_2d(inputs.embeddings[shown], seed)
    frames, frames_note = frame_map(inputs, seed)
    return ReportStats(coverage, arrays, xy, ratio, umap_xy, umap_note, pool_xy, frames, frames_note)
