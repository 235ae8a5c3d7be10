"""What the report is built from, from a run in memory or from a finished run's files.

A run makes :class:`ReportInputs` from its summary and candidates in memory
(:meth:`ReportInputs.from_candidates`) and writes ``data/candidates.csv``
(:func:`write_candidates_csv`, the readable twin of ``data/candidates.npz``); ``framepick
report`` loads ``report.json`` and ``data/candidates.npz`` (:func:`read_run`), so both give the
same page and the same numbers: either way the report reads the summary as ``report.json``
holds it (:meth:`~framepick.results.RunSummary.to_json`).

The frame embeddings behind the candidates (:class:`CandidateFrames`, for the frame-level PCA
map) are in memory during a run only: the run saves the map itself in ``data/report_stats.npz``.
A rebuild of a run saved before that map existed reads them from ``data/embeddings.csv`` once
(:func:`frames_from_csv`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import embeddings_csv
from .._log import logger
from ..errors import InputError, OutputError
from ..results import CANDIDATES_NPZ, Candidates, RunReport
from ..sequences import SequenceLayout

__all__ = [
    "CANDIDATES_CSV",
    "EMBEDDINGS_CSV",
    "EMBEDDINGS_NPY",
    "CandidateFrames",
    "ReportInputs",
    "frames_from_csv",
    "read_inputs",
    "read_run",
    "write_candidates_csv",
]

CANDIDATES_CSV = "data/candidates.csv"
EMBEDDINGS_CSV = "data/embeddings.csv"
EMBEDDINGS_NPY = "data/embeddings.npy"  # the same rows as float32, read first when present
_CANDIDATE_FIELDS = (
    "candidate",
    "video_name",
    "first_frame",
    "last_frame",
    "first_frame_name",
    "embeddings_row",
    "selected_rank",
)


@dataclass(frozen=True, eq=False)
class CandidateFrames:
    """Where each candidate's frame embeddings are: the frame-level PCA map is made of them.

    A run passes its frame table's embeddings as they are (no copy); the rows of candidate ``i``
    are ``rows[i]``, column ``j`` being the frame at ``offsets[j]`` of the sequence. ``embedded``
    marks the rows that have an embedding (``embedding_frame_stride`` leaves the others zero).
    """

    embeddings: np.ndarray  # (N, D) frame embeddings
    rows: np.ndarray  # (M, W) int64, rows of ``embeddings`` of each candidate's frames, in frame order
    offsets: np.ndarray  # (W,) int64, each column's frame offset within its sequence
    embedded: np.ndarray | None = None  # (N,) bool: rows with an embedding (None: every row)

    def usable(self, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (any shape) have an embedding."""
        return np.ones(rows.shape, bool) if self.embedded is None else self.embedded[rows]


@dataclass
class ReportInputs:
    """What the report is built from; candidate ``i`` is row ``i`` of every array."""

    report: dict[str, Any]  # the run's summary as report.json holds it (counts, stopping, sources, config, ...)
    embeddings: np.ndarray  # (M, D) float32, candidate sequence embeddings
    source: np.ndarray  # (M,) int, index into report["sources"]
    start: np.ndarray  # (M,) int, frame index of the first frame
    names: list[str]  # name of each candidate's first frame
    length: int  # frames per sequence
    selected: np.ndarray  # (K,) int, candidate indices in selection order
    embeddings_row: np.ndarray  # (M,) int, row of the first frame in data/embeddings.csv
    # (P, D) float32: the datapool's items from earlier runs, in the candidates' space (P may be 0)
    pool_embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    # the candidates' frame embeddings: a run's, in memory (None in a rebuild; see frames_from_csv)
    frames: CandidateFrames | None = None
    # (M,) int: each candidate's shot within its source (sequence_boundaries=shots); empty otherwise
    shot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.source)

    @property
    def pool_count(self) -> int:
        """Datapool items from earlier runs (0 without a datapool)."""
        return int(self.pool_embeddings.shape[0])

    @property
    def seed(self) -> int:
        """The run's ``seed``: the page's samples are drawn with it."""
        return int(self.report["config"].get("seed", 0))

    @property
    def source_names(self) -> list[str]:
        return [s["name"] for s in self.report["sources"]]

    def label(self, cand: int) -> str:
        """How the page names a candidate: its frame, or its source and frame range."""
        if self.length == 1:
            return self.names[cand]
        first = int(self.start[cand])
        name = self.report["sources"][int(self.source[cand])]["name"]
        return f"{name} [{first}–{first + self.length - 1}]"

    @classmethod
    def from_candidates(
        cls, report: dict[str, Any], candidates: Candidates, frames: CandidateFrames | None = None
    ) -> ReportInputs:
        """The report's view of a run's summary (``report``, as report.json holds it) and its saved
        candidates (in memory or loaded); ``frames``: the candidates' frame embeddings, in a run."""
        return cls(
            report=report,
            embeddings=np.asarray(candidates.embeddings, np.float32),
            source=candidates.source.astype(np.int64),
            start=candidates.start.astype(np.int64),
            names=list(candidates.first_names),
            length=candidates.length,
            selected=candidates.selected,
            embeddings_row=candidates.embeddings_row.astype(np.int64),
            pool_embeddings=_pool(candidates),
            frames=frames,
            shot=np.asarray(candidates.shot, np.int64),
        )

    def frame_key(self, cand: int, offset: int) -> tuple[int, int]:
        """(source, frame index) of a candidate's frame at ``offset``: how thumbnails are keyed."""
        return int(self.source[cand]), int(self.start[cand]) + offset


def _pool(candidates: Candidates) -> np.ndarray:
    """The datapool rows as (P, D) float32; an empty pool gets the candidates' width, so it stacks."""
    pool = np.asarray(candidates.pool_embeddings, np.float32)
    if pool.ndim != 2 or pool.shape[0] == 0:
        width = candidates.embeddings.shape[1] if np.ndim(candidates.embeddings) == 2 else 0
        return np.zeros((0, width), np.float32)
    return pool


def write_candidates_csv(path: Path, inputs: ReportInputs) -> None:
    """``data/candidates.csv``: one row per candidate sequence, for people and spreadsheets;
    with ``sequence_boundaries=shots`` a last column, ``shot`` (the shot within its source)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rank = np.zeros(len(inputs), np.int64)
    rank[inputs.selected] = np.arange(1, len(inputs.selected) + 1)
    names = inputs.source_names
    shots = len(inputs.shot) == len(inputs) > 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow((*_CANDIDATE_FIELDS, "shot") if shots else _CANDIDATE_FIELDS)
        for i in range(len(inputs)):
            first = int(inputs.start[i])
            row = [
                i,
                names[int(inputs.source[i])],
                first,
                first + inputs.length - 1,
                inputs.names[i],
                int(inputs.embeddings_row[i]),
                int(rank[i]),
            ]
            writer.writerow([*row, int(inputs.shot[i])] if shots else row)


def _read_report_json(out: Path, out_dir: str | Path) -> tuple[dict[str, Any], int]:
    """report.json and its sequence length; OutputError when it is not a run's."""
    report_path = out / "report.json"
    if not out.is_dir():
        raise OutputError(f"'{out_dir}' is not a folder")
    if not report_path.is_file():
        raise OutputError(f"'{out_dir}' is not a finished framepick run: it has no report.json")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        length = int(report["counts"]["sequence_length"])
        if not isinstance(report["sources"], list):
            raise TypeError("sources is not a list")
        if not isinstance(report["config"], dict):
            raise TypeError("config is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"'{report_path}' is not a framepick report.json ({type(exc).__name__}: {exc})") from exc
    return report, length


def read_run(out_dir: str | Path) -> tuple[RunReport, ReportInputs]:
    """A finished run's report.json as its sections, and the report's inputs from it and
    data/candidates.npz, loaded as saved."""
    out = Path(out_dir)
    data, length = _read_report_json(out, out_dir)
    try:
        record = RunReport.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OutputError(
            f"'{out / 'report.json'}' is not a framepick report.json ({type(exc).__name__}: {exc})"
        ) from exc
    report = record.summary.to_json()
    candidates = Candidates.load(out / CANDIDATES_NPZ)
    if candidates.length != length or (len(candidates) and int(candidates.source.max()) >= len(report["sources"])):
        raise OutputError(f"'{out / CANDIDATES_NPZ}' does not belong to '{out / 'report.json'}': rerun the selection")
    inputs = ReportInputs.from_candidates(report, candidates)
    if inputs.pool_count and inputs.pool_embeddings.shape[1] != inputs.embeddings.shape[1]:
        raise OutputError(
            f"'{out / CANDIDATES_NPZ}': its datapool embeddings have {inputs.pool_embeddings.shape[1]} dimensions, "
            f"its candidates {inputs.embeddings.shape[1]}: rerun the selection"
        )
    return record, inputs


def read_inputs(out_dir: str | Path) -> ReportInputs:
    """The report's inputs from a finished run's files: report.json and data/candidates.npz, loaded as saved."""
    return read_run(out_dir)[1]


def frames_from_csv(out: Path, inputs: ReportInputs) -> tuple[CandidateFrames | None, str]:
    """The candidates' frame embeddings read back from ``data/embeddings.csv``; (None, why not) when
    the file is gone or does not belong to ``data/candidates.npz``.

    For a rebuild of a run whose ``data/report_stats.npz`` predates the frame map. The file holds
    every usable frame that has an embedding, in input order, so a candidate's embedded frames are
    the consecutive rows from its first frame's (``embeddings_row``): each of its frames, or with
    ``embedding_frame_stride`` s the frames s apart (precomputed ``embeddings`` give every frame a row).
    """
    config = inputs.report["config"]
    stride = 1 if config.get("embeddings") else max(1, int(config.get("embedding_frame_stride") or 1))
    layout = SequenceLayout(inputs.length, stride)
    offsets = np.array([o for o in range(inputs.length) if layout.embeds(o)], np.int64)
    matrix = _frames_npy(out, inputs)
    if matrix is not None:
        rows = inputs.embeddings_row[:, None] + np.arange(len(offsets))
        if len(rows) == 0 or int(rows.max()) < len(matrix):
            return CandidateFrames(matrix, rows, offsets), ""
    path = out / EMBEDDINGS_CSV
    try:
        table = embeddings_csv.read_embeddings_csv(path)
    except InputError as exc:
        return None, str(exc)
    names = list(table)
    rows = inputs.embeddings_row[:, None] + np.arange(len(offsets))
    matrix = np.stack(list(table.values())) if names else np.zeros((0, 0), np.float32)
    fits = matrix.shape[1] == inputs.embeddings.shape[1] and (len(rows) == 0 or int(rows.max()) < len(names))
    if not fits or any(names[int(r)] != name for r, name in zip(inputs.embeddings_row, inputs.names)):
        return None, f"'{path}' does not match {CANDIDATES_NPZ}"
    return CandidateFrames(matrix, rows, offsets), ""


def _frames_npy(out: Path, inputs: ReportInputs) -> np.ndarray | None:
    """``data/embeddings.npy`` when it is there and has the run's shape (as many rows as
    embeddings.csv, report.json's ``metrics.frames_with_embedding``, and the candidates' width);
    else None, and the CSV is read. It carries no names: the shape is its check."""
    path = out / EMBEDDINGS_NPY
    if not path.is_file():
        return None
    try:
        matrix = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        logger.info("report: ignoring %s (%s)", EMBEDDINGS_NPY, exc)
        return None
    expected = (inputs.report.get("metrics", {}).get("frames_with_embedding"), inputs.embeddings.shape[1])
    if matrix.dtype != np.float32 or matrix.ndim != 2 or matrix.shape != expected:
        logger.info("report: ignoring %s: shape %s, the run has %s", EMBEDDINGS_NPY, matrix.shape, expected)
        return None
    return np.asarray(matrix)
