"""What the report is built from, from a run in memory or from a finished run's files.

A run makes :class:`ReportInputs` from memory (:func:`inputs_from_result`) and writes
``data/candidates.csv`` (:func:`write_candidates_csv`); ``framepick report`` reads the same
back (:func:`read_inputs`), so both give the same page and the same numbers.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embeddings_csv import read_embeddings_csv
from ..errors import InputError, OutputError

if TYPE_CHECKING:
    from ..pipeline import RunResult

__all__ = ["CANDIDATES_CSV", "ReportInputs", "inputs_from_result", "read_inputs", "write_candidates_csv"]

CANDIDATES_CSV = "data/candidates.csv"
_CANDIDATE_FIELDS = (
    "candidate",
    "video_name",
    "first_frame",
    "last_frame",
    "first_frame_name",
    "embeddings_row",
    "selected_rank",
)


@dataclass
class ReportInputs:
    """What the report is built from; candidate ``i`` is row ``i`` of every array."""

    report: dict[str, Any]  # the report.json dictionary (counts, stopping, sources, sequences, config)
    embeddings: np.ndarray  # (M, D) float32, candidate sequence embeddings
    source: np.ndarray  # (M,) int, index into report["sources"]
    start: np.ndarray  # (M,) int, frame index of the first frame
    names: list[str]  # name of each candidate's first frame
    length: int  # frames per sequence
    selected: np.ndarray  # (K,) int, candidate indices in selection order
    embeddings_row: np.ndarray  # (M,) int, row of the first frame in data/embeddings.csv

    def __len__(self) -> int:
        return len(self.source)

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

    def frame_key(self, cand: int, offset: int) -> tuple[int, int]:
        """(source, frame index) of a candidate's frame at ``offset``: how thumbnails are keyed."""
        return int(self.source[cand]), int(self.start[cand]) + offset


def inputs_from_result(result: RunResult) -> ReportInputs:
    """The report's inputs from a finished run in memory."""
    table, seqs = result.table, result.sequences
    kept = table.csv_rows(result.checks.usable)
    first_rows = seqs.rows[:, 0] if len(seqs) else np.zeros(0, np.int64)
    return ReportInputs(
        report=result.report,
        embeddings=np.asarray(result.sequence_embeddings, np.float32),
        source=seqs.source.astype(np.int64),
        start=seqs.start.astype(np.int64),
        names=[table.names[r] for r in first_rows],
        length=seqs.length,
        selected=np.asarray(result.selection.indices, np.int64),
        embeddings_row=np.searchsorted(kept, first_rows).astype(np.int64),
    )


def write_candidates_csv(path: Path, inputs: ReportInputs) -> None:
    """``data/candidates.csv``: one row per candidate sequence, what a rebuild needs besides embeddings.csv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rank = np.zeros(len(inputs), np.int64)
    rank[inputs.selected] = np.arange(1, len(inputs.selected) + 1)
    names = inputs.source_names
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_CANDIDATE_FIELDS)
        for i in range(len(inputs)):
            first = int(inputs.start[i])
            writer.writerow(
                [
                    i,
                    names[int(inputs.source[i])],
                    first,
                    first + inputs.length - 1,
                    inputs.names[i],
                    int(inputs.embeddings_row[i]),
                    int(rank[i]),
                ]
            )


def _read_report_json(out: Path, out_dir: str | Path) -> tuple[dict[str, Any], int, dict[str, int]]:
    """report.json, its sequence length and each source's index; OutputError when it is not a run's."""
    report_path = out / "report.json"
    if not out.is_dir():
        raise OutputError(f"'{out_dir}' is not a folder")
    if not report_path.is_file():
        raise OutputError(f"'{out_dir}' is not a finished framepick run: it has no report.json")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        length = int(report["counts"]["sequence_length"])
        source_index = {s["name"]: i for i, s in enumerate(report["sources"])}
        if not isinstance(report["config"], dict):
            raise TypeError("config is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"'{report_path}' is not a framepick report.json ({type(exc).__name__}: {exc})") from exc
    return report, length, source_index


def _read_frame_embeddings(path: Path) -> np.ndarray:
    """data/embeddings.csv as one (rows, D) float32 matrix, in file order."""
    try:
        rows = read_embeddings_csv(path)
    except InputError as exc:
        raise OutputError(f"{exc}: rerun the selection") from exc
    if not rows:
        return np.zeros((0, 0), np.float32)
    return np.stack(list(rows.values()))


def read_inputs(out_dir: str | Path) -> ReportInputs:
    """The report's inputs from a finished run's files (``report.json``, ``data/``)."""
    out = Path(out_dir)
    report, length, source_index = _read_report_json(out, out_dir)
    cand_path, emb_path = out / CANDIDATES_CSV, out / "data" / "embeddings.csv"
    for path in (cand_path, emb_path):
        if not path.is_file():
            raise OutputError(f"'{out_dir}' lacks {path.relative_to(out)}: rerun the selection with this framepick")
    with open(cand_path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    try:
        source = np.array([source_index[r["video_name"]] for r in rows], np.int64)
        start = np.array([int(r["first_frame"]) for r in rows], np.int64)
        emb_row = np.array([int(r["embeddings_row"]) for r in rows], np.int64)
        rank = np.array([int(r["selected_rank"]) for r in rows], np.int64)
        names = [r["first_frame_name"] for r in rows]
    except (KeyError, ValueError) as exc:
        raise OutputError(f"'{cand_path}' is malformed ({type(exc).__name__}: {exc})") from exc
    frame_emb = _read_frame_embeddings(emb_path)
    # embeddings.csv holds the embedded frames only: with embedding_frame_stride s, the
    # positions 0, s, 2s, ... of each sequence, in consecutive rows.
    stride = int(report["config"].get("embedding_frame_stride", 1)) if length > 1 else 1
    per_sequence = len(range(0, length, max(stride, 1)))
    if len(emb_row) and int(emb_row.max()) + per_sequence > len(frame_emb):
        raise OutputError(f"'{cand_path}' does not match data/embeddings.csv: rerun the selection")
    # The same arithmetic as framepick.sequences.sequence_embeddings: float64 sum in frame order.
    total = np.zeros((len(rows), frame_emb.shape[1]), np.float64)
    for j in range(per_sequence):
        total += frame_emb[emb_row + j]
    chosen = np.flatnonzero(rank > 0)
    return ReportInputs(
        report=report,
        embeddings=(total / per_sequence).astype(np.float32),
        source=source,
        start=start,
        names=names,
        length=length,
        selected=chosen[np.argsort(rank[chosen], kind="stable")].astype(np.int64),
        embeddings_row=emb_row,
    )
