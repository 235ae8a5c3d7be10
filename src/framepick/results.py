"""The typed results of a run, saved once and read by everything downstream.

A run produces two objects:

- :class:`RunSummary`: what happened (counts, why selection stopped, timings, sources,
  corrupt and left-out items, the selected sequences, the configuration). It is most of
  ``report.json``: :meth:`RunSummary.to_json` makes the dictionary, and later stages add
  keys to it before it is written: the report stage ``metrics.coverage``, ``page`` and each
  source's ``candidates`` and ``selected_sequences``, the write stage ``clips`` and
  ``exports`` (:data:`framepick.report_keys.ADDED_BY`).
- :class:`Candidates`: one row per candidate sequence (source, first frame, embedding, rank
  in the selection), saved as ``data/candidates.npz`` (``data/candidates.csv`` is its
  readable twin). ``framepick report`` loads it instead of re-deriving anything from
  ``embeddings.csv``.

The CLI's summary lines, ``report.json``, the report page and ``framepick report`` all read
these objects; nothing else carries a run's numbers around.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ._fsutil import atomic_open
from .errors import OutputError

__all__ = [
    "CANDIDATES_NPZ",
    "Candidates",
    "Counts",
    "RunMetrics",
    "RunSummary",
    "SelectedSequence",
    "SourceInfo",
    "Stopping",
]

CANDIDATES_NPZ = "data/candidates.npz"


@dataclass(frozen=True)
class Counts:
    """How many of everything; ``report.json["counts"]``."""

    sources: int
    sources_corrupt: int
    frames: int
    frames_corrupt: int
    frames_undecodable: int
    frames_damaged: int
    frames_duplicate: int
    frames_usable: int
    sequence_length: int
    sequences_complete: int
    sequences_dropped_invalid: int
    sequence_candidates: int
    candidate_frames: int
    incomplete_tails: int
    tail_frames_dropped: int
    selected_sequences: int
    selected_frames: int
    sources_from_cache: int = 0
    frames_from_cache: int = 0
    frames_decoded: int = 0
    frames_embedded: int = 0

    def left_out_line(self, corruptness_check: bool, n_problems: int) -> str | None:
        """The run's closing line about what did not take part, or None when everything did."""
        damaged_out = self.frames_damaged if corruptness_check else 0
        parts = []
        if self.frames_undecodable:
            parts.append(f"{self.frames_undecodable} could not be decoded")
        if damaged_out:
            parts.append(f"{damaged_out} damaged (corruptness check)")
        if self.frames_duplicate:
            parts.append(f"{self.frames_duplicate} exact duplicates")
        total = self.frames_undecodable + damaged_out + self.frames_duplicate
        if not (total or self.frames_damaged or n_problems):
            return None
        line = f"{total} of {self.frames} frames left out" + (f": {', '.join(parts)}" if parts else "")
        if self.frames_damaged and not damaged_out:
            line += f"; {self.frames_damaged} damaged frames kept (enable_corruptness_check=false)"
        if n_problems:
            line += f"; {n_problems} files or frames with problems, reasons in report.json 'left_out'"
        return line


@dataclass(frozen=True)
class Stopping:
    """Why selection stopped; ``report.json["stopping"]``."""

    reason: str  # "n_samples", "min_distance" or "all_candidates"
    message: str
    n_samples: int | float
    min_distance: float
    requested_frames: int | None
    all_candidates_selected: bool


@dataclass(frozen=True)
class RunMetrics:
    """The selection's own numbers; ``report.json["metrics"]`` (the report adds ``coverage``)."""

    covering_radius: float
    covering_radius_first_pick: float | None
    embedding_dim: int
    selection_dim: int
    frames_with_embedding: int  # rows of data/embeddings.csv


@dataclass(frozen=True)
class SourceInfo:
    name: str
    kind: str
    frames: int


@dataclass(frozen=True)
class SelectedSequence:
    """One entry of ``data/sequence_information.json`` (timestamps for videos only)."""

    video_name: str
    frame_names: list[str]
    frame_indices: list[int]
    frame_timestamps_pts: list[int | None] | None = None
    frame_timestamps_sec: list[float | None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class RunSummary:
    """Everything a run learnt: ``report.json``'s keys, in its order, but for those later stages add."""

    framepick_version: str
    input_dir: str
    output_dir: str
    counts: Counts
    stopping: Stopping
    metrics: RunMetrics
    timings_sec: dict[str, float]
    sources: list[SourceInfo]
    corrupt: dict[str, str]
    left_out: dict[str, str]
    sequences: list[SelectedSequence]
    config: dict[str, Any]
    duplicates: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    # per video: gaps in its timestamps (count, frame slots skipped, {frame after the gap: slots}); not damage
    timestamp_gaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    strategies: list[dict[str, Any]] = field(default_factory=list)  # each strategy, its objective before/after
    candidates_excluded: dict[str, int] = field(default_factory=dict)  # left out before the greedy loop, by why
    value_files: dict[str, Any] = field(default_factory=dict)  # metadata=/scores= files: rows matched, unmatched
    datapool: dict[str, Any] | None = None  # folder, items before, new picks

    @property
    def selected_frame_names(self) -> list[str]:
        return [name for seq in self.sequences for name in seq.frame_names]

    def closing_lines(self) -> list[str]:
        """What the command prints at the end of a run (the CLI adds its prefix)."""
        c = self.counts
        lines = [
            f"{c.selected_sequences} sequences ({c.selected_frames} frames) selected from {c.frames} frames "
            f"of {c.sources} sources; {self.stopping.message}"
        ]
        left_out = c.left_out_line(bool(self.config.get("enable_corruptness_check", True)), len(self.left_out))
        if left_out:
            lines.append(left_out)
        if self.datapool is not None:
            pool = self.datapool
            lines.append(
                f"datapool {pool['folder']}: {pool['items_before']} earlier picks, {pool['new_items']} new, "
                f"{pool['items_after']} in all"
            )
        lines.extend(f"{s['label']}: {s['message']}" for s in self.strategies if s.get("reached") is False)
        return lines

    def to_json(self) -> dict[str, Any]:
        """The ``report.json`` dictionary (plain JSON types)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sequences":
                value = [s.to_json() for s in value]
            elif f.name == "sources":
                value = [asdict(s) for s in value]
            elif f.name in ("counts", "stopping", "metrics"):
                value = asdict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        """Read ``report.json`` back; the keys later stages added (coverage, page, clips, ...) are ignored here."""
        metrics = {f.name: data["metrics"][f.name] for f in fields(RunMetrics)}
        return cls(
            framepick_version=data["framepick_version"],
            input_dir=data["input_dir"],
            output_dir=data["output_dir"],
            counts=Counts(**{f.name: data["counts"][f.name] for f in fields(Counts) if f.name in data["counts"]}),
            stopping=Stopping(**data["stopping"]),
            metrics=RunMetrics(**metrics),
            timings_sec=dict(data["timings_sec"]),
            sources=[SourceInfo(s["name"], s["kind"], s["frames"]) for s in data["sources"]],
            corrupt=dict(data["corrupt"]),
            left_out=dict(data.get("left_out", {})),
            sequences=[SelectedSequence(**s) for s in data["sequences"]],
            config=dict(data["config"]),
            duplicates=dict(data.get("duplicates", {})),
            skipped=dict(data.get("skipped", {})),
            timestamp_gaps=dict(data.get("timestamp_gaps", {})),
            strategies=list(data.get("strategies", [])),
            candidates_excluded=dict(data.get("candidates_excluded", {})),
            value_files=dict(data.get("value_files", {})),
            datapool=data.get("datapool"),
        )


@dataclass(frozen=True)
class Candidates:
    """Every candidate sequence of a run; row ``i`` of each array is candidate ``i``."""

    length: int  # frames per sequence
    source: np.ndarray  # (M,) int64, index into the run's sources
    start: np.ndarray  # (M,) int64, frame index of the first frame
    first_names: list[str]  # the first frame's name
    embeddings: np.ndarray  # (M, D) float32, the mean of the sequence's embedded frames
    rank: np.ndarray  # (M,) int64: 0 not selected, else 1 + position in the selection order
    embeddings_row: np.ndarray  # (M,) int64, row of the first frame in data/embeddings.csv
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))  # covering radius after each pick
    pool_embeddings: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), np.float32)
    )  # datapool items before the run

    def __len__(self) -> int:
        return len(self.source)

    @property
    def selected(self) -> np.ndarray:
        """Candidate indices in selection order."""
        chosen = np.flatnonzero(self.rank > 0)
        return chosen[np.argsort(self.rank[chosen], kind="stable")].astype(np.int64)

    def save(self, path: str | Path) -> None:
        with atomic_open(path, "wb") as fh:
            np.savez(
                fh,
                meta=np.array(json.dumps({"length": self.length, "version": 1})),
                source=self.source.astype(np.int64),
                start=self.start.astype(np.int64),
                first_names=np.array(self.first_names, dtype=str),
                embeddings=np.asarray(self.embeddings, np.float32),
                rank=self.rank.astype(np.int64),
                embeddings_row=self.embeddings_row.astype(np.int64),
                radii=np.asarray(self.radii, np.float64),
                pool_embeddings=np.asarray(self.pool_embeddings, np.float32),
            )

    @classmethod
    def load(cls, path: str | Path) -> Candidates:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                names = data["first_names"]
                return cls(
                    length=int(meta["length"]),
                    source=data["source"],
                    start=data["start"],
                    first_names=[str(n) for n in names.tolist()] if names.size else [],
                    embeddings=data["embeddings"],
                    rank=data["rank"],
                    embeddings_row=data["embeddings_row"],
                    radii=data["radii"],
                    pool_embeddings=data["pool_embeddings"]
                    if "pool_embeddings" in data
                    else np.zeros((0, 0), np.float32),
                )
        except FileNotFoundError:
            raise OutputError(f"'{path}' is missing: rerun the selection with this framepick version") from None
        except (OSError, ValueError, KeyError) as exc:
            raise OutputError(f"'{path}' is not a framepick candidates file ({type(exc).__name__}: {exc})") from exc
