"""Per-frame values that selection strategies read: the built-in keys and the value files.

A value file (``metadata=`` or ``scores=``) is a CSV with a ``filenames`` column of frame
names (as ``data/embeddings.csv`` names them) and one column per key. It is read by one
reader, :func:`read_value_file`, with one tolerance policy, whether it is checked before
decoding or matched to the frames after:

* a byte-order mark (files saved by Excel) is skipped; header names and cells are stripped;
* empty cells and NaN, NA, N/A, null, none (any case) are "no value";
* a blank line is skipped; a row with another number of fields than the header is refused,
  naming its line;
* a name that matches no frame is counted, with examples (in ``report.json`` and the log),
  never silently ignored; a frame named twice is refused; a frame the file does not mention
  has no value.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._framestats import FRAME_METADATA
from ._log import logger
from .errors import ConfigError, InputError

__all__ = [
    "BUILTIN_METADATA",
    "Column",
    "FrameValues",
    "ValueFile",
    "read_value_csv",
    "read_value_file",
    "sequence_categories",
    "sequence_numbers",
]

BUILTIN_METADATA = (*FRAME_METADATA, "video_name")
"""Metadata keys every run computes (see docs/reference.md, ``data/metadata.csv``)."""

EXAMPLES = 5  # unmatched names shown in messages and report.json
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none"})  # cells that mean "no value" (any case)


@dataclass
class Column:
    """One key's per-frame values: numbers (NaN: none) where every value is a number, and
    always the values as categories (``codes`` into ``categories``, -1: none)."""

    codes: np.ndarray  # (N,) int32
    categories: list[str]
    numeric: np.ndarray | None = None  # (N,) float64

    @classmethod
    def from_strings(cls, values: Sequence[str]) -> Column:
        """Cells as written; empty, NaN, NA, N/A, null and none (any case) are no value."""
        values = ["" if v.strip().lower() in _MISSING else v for v in values]
        present = [v for v in values if v != ""]
        categories = sorted(set(present))
        lookup = {c: i for i, c in enumerate(categories)}
        codes = np.array([lookup.get(v, -1) for v in values], np.int32)
        numeric = None
        try:
            numbers = np.array([float(v) if v != "" else math.nan for v in values], np.float64)
            if np.isfinite(numbers[codes >= 0]).all():
                numeric = numbers
        except ValueError:
            pass  # a value is not a number: categorical only
        return cls(codes, categories, numeric)

    @classmethod
    def from_numbers(cls, values: np.ndarray) -> Column:
        numbers = np.asarray(values, np.float64)
        return cls(np.where(np.isnan(numbers), -1, 0).astype(np.int32), [], numbers)


@dataclass
class FrameValues:
    """The per-frame values strategies can read: ``METADATA`` keys (built-in and ``metadata=``
    columns) and ``SCORES`` columns, one row per frame of the frame table."""

    metadata: dict[str, Column] = field(default_factory=dict)
    scores: dict[str, Column] = field(default_factory=dict)
    unmatched: dict[str, dict[str, Any]] = field(default_factory=dict)  # file kind -> {count, examples}

    def column(self, kind: str, name: str, label: str) -> Column:
        """Column ``name`` of the ``kind`` ("metadata" or "scores") table; ``label`` names the asker."""
        table = self.metadata if kind == "metadata" else self.scores
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(f"{label}: no {kind} column '{name}'; the {kind} keys of this run are: {known}")
        return table[name]


@dataclass(frozen=True)
class ValueFile:
    """A value file as read: each row's frame name and cells, in file order."""

    path: str
    what: str  # "metadata" or "scores": how messages name the file
    names: list[str]  # the filenames column, as written
    cells: dict[str, list[str]]  # key -> one stripped cell per row
    lines: list[int]  # each row's line number, for messages

    def columns(self) -> dict[str, Column]:
        """Every column over every row, names not matched yet (the check before decoding)."""
        return {key: Column.from_strings(cells) for key, cells in self.cells.items()}

    def aligned(self, names: Sequence[str]) -> tuple[dict[str, Column], dict[str, Any]]:
        """The columns with one row per frame of ``names``, and ``{file, rows_matched, unmatched,
        unmatched_examples}`` (the unmatched names are also logged)."""
        index = {name: i for i, name in enumerate(names)}
        values = {key: [""] * len(names) for key in self.cells}
        seen: set[int] = set()
        unmatched: list[str] = []
        for j, (name, line) in enumerate(zip(self.names, self.lines)):
            row = index.get(name)
            if row is None:
                unmatched.append(name)
                continue
            if row in seen:
                raise InputError(f"{self.what} file '{self.path}' line {line}: frame '{name}' appears twice")
            seen.add(row)
            for key, cells in self.cells.items():
                values[key][row] = cells[j]
        if unmatched:
            logger.warning(
                "%s file '%s': %d names match no frame of this input, e.g. %s",
                self.what, self.path, len(unmatched), ", ".join(repr(n) for n in unmatched[:EXAMPLES]),
            )  # fmt: skip
        report = {"file": self.path, "rows_matched": len(seen), "unmatched": len(unmatched)}
        report["unmatched_examples"] = unmatched[:EXAMPLES]
        return {key: Column.from_strings(v) for key, v in values.items()}, report


def read_value_file(path: str | Path, what: str) -> ValueFile:
    """Read a ``metadata=``/``scores=`` CSV (``what`` names it in messages) by the module's policy."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:  # -sig: files saved by Excel start with a BOM
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            if "filenames" not in header:
                raise InputError(
                    f"{what} file '{path}' has no 'filenames' column: its first line must name the columns"
                )
            at = header.index("filenames")
            keys = [(i, h) for i, h in enumerate(header) if i != at]
            names: list[str] = []
            cells: dict[str, list[str]] = {h: [] for _, h in keys}
            lines: list[int] = []
            for line, record in enumerate(reader, start=2):
                if not record:
                    continue
                if len(record) != len(header):
                    raise InputError(
                        f"{what} file '{path}' line {line}: {len(record)} fields, the header has {len(header)}"
                    )
                names.append(record[at])
                lines.append(line)
                for i, h in keys:
                    cells[h].append(record[i].strip())
    except OSError as exc:
        raise InputError(f"cannot read {what} file '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} file '{path}' is not a UTF-8 text file") from None
    return ValueFile(str(path), what, names, cells, lines)


def read_value_csv(path: str | Path, names: Sequence[str], what: str) -> tuple[dict[str, Column], dict[str, Any]]:
    """A value file's columns aligned with ``names`` (the frame table's), and what matched
    (:meth:`ValueFile.aligned`)."""
    return read_value_file(path, what).aligned(names)


# ----------------------------------------------------------------------------- per sequence


def sequence_numbers(frame: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean of each sequence's frame values (NaN when a frame has none); ``rows``: (M, L) frame rows."""
    if len(rows) == 0:
        return np.zeros(0)
    return frame[rows].mean(axis=1)


def sequence_categories(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The value most of a sequence's frames have (ties: the earliest frame's); -1 when a frame has none."""
    if len(rows) == 0:
        return np.zeros(0, np.int32)
    block = codes[rows]  # (M, L)
    m, length = block.shape
    # per (sequence, value): how many frames have it and the first frame that does, from one
    # stable sort of each row; O(M·L log L) time and O(M·L) memory, whatever the number of values
    order = np.argsort(block, axis=1, kind="stable")
    ranked = np.take_along_axis(block, order, axis=1)
    starts = np.ones((m, length), bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    run_id = np.cumsum(starts, axis=1) - 1  # index of each position's run of equal values
    flat = (np.arange(m)[:, None] * length + run_id).ravel()
    counts = np.bincount(flat, minlength=m * length).reshape(m, length)
    first = np.full(m * length, length, np.int64)
    np.minimum.at(first, flat, order.ravel())  # earliest frame holding each run's value
    first = first.reshape(m, length)
    key = counts * (length + 1) - np.minimum(first, length)  # most frames, then the earliest frame
    best_run = key.argmax(axis=1)
    best_pos = first[np.arange(m), best_run]
    best = block[np.arange(m), np.minimum(best_pos, length - 1)]
    return np.where((block < 0).any(axis=1), -1, best).astype(np.int32)
