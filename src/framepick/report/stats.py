"""The report's embedding statistics: computed once by the run, saved, loaded by a rebuild.

Coverage numbers (``report.json["metrics"]["coverage"]``), the distance arrays behind the
histograms and the 2-D projections of the maps all come from the candidate embeddings (and
the datapool's items, projected on the PCA map with the candidates' axes).
The run computes them (:func:`compute_stats`) and saves the arrays to
``data/report_stats.npz``; ``framepick report`` loads them (:meth:`ReportStats.load`) and
only draws again, so a rebuilt report shows the very same numbers without recomputing any.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._fsutil import atomic_open
from ..errors import OutputError
from .data import ReportInputs
from .metrics import coverage_metrics
from .projections import pca_2d_with_pool, pca_2d_with_ratio, umap_2d

__all__ = ["REPORT_STATS_NPZ", "ReportStats", "compute_stats"]

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

    def save(self, path: str | Path) -> None:
        meta = {"version": 1, "coverage": self.coverage, "pca_ratio": self.pca_ratio, "umap_note": self.umap_note}
        extra = {} if self.umap_xy is None else {"umap_xy": np.asarray(self.umap_xy, np.float64)}
        if len(self.pool_xy):  # only then: a run without a datapool writes the file it always wrote
            extra["pool_xy"] = np.asarray(self.pool_xy, np.float64)
        arrays = {f"arrays.{k}": np.asarray(v) for k, v in self.arrays.items()}
        with atomic_open(path, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), pca_xy=np.asarray(self.pca_xy, np.float64), **arrays, **extra)

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
                )
        except FileNotFoundError:
            raise OutputError(f"'{path}' is missing: rerun the selection with this framepick version") from None
        except (OSError, ValueError, KeyError) as exc:
            raise OutputError(f"'{path}' is not a framepick report statistics file ({exc})") from exc


def compute_stats(inputs: ReportInputs, shown: np.ndarray, seed: int) -> ReportStats:
    """The statistics of a run's candidates; ``shown`` are the map's points (UMAP runs on them)."""
    coverage, arrays = coverage_metrics(inputs.embeddings, inputs.selected, seed)
    if inputs.pool_count:
        xy, ratio, pool_xy = pca_2d_with_pool(inputs.embeddings, inputs.pool_embeddings, seed=seed)
    else:
        (xy, ratio), pool_xy = pca_2d_with_ratio(inputs.embeddings, seed=seed), np.zeros((0, 2))
    umap_xy, umap_note = umap_2d(inputs.embeddings[shown], seed)
    return ReportStats(coverage, arrays, xy, ratio, umap_xy, umap_note, pool_xy)
