"""Precomputed embeddings (``embeddings=PATH``): a Lightly-format ``embeddings.csv``.

The file has a header ``filenames,embedding_0,...,embedding_{d-1}[,labels]`` and one row per
frame, named as framepick names frames (docs/reference.md, "Frame names"), e.g. the ``data/embeddings.csv`` of
an earlier run. Sources are still discovered and decoded (frame names, the corruptness and
duplicate checks and ``dump_dataset`` need the frames), but no model runs.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ._log import logger
from .errors import InputError

__all__ = ["embeddings_for_table", "read_embeddings_csv"]


def read_embeddings_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Frame name -> embedding row (float32); InputError with the line number when malformed."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or header[0].strip() != "filenames":
                raise InputError(f"embeddings file '{path}' is not a Lightly embeddings.csv: no 'filenames' header")
            columns = [i for i, h in enumerate(header) if h.strip().startswith("embedding_")]
            if not columns:
                raise InputError(f"embeddings file '{path}' has no embedding_* columns")
            rows: dict[str, np.ndarray] = {}
            for line, record in enumerate(reader, start=2):
                if not record:
                    continue
                if len(record) != len(header):
                    raise InputError(
                        f"embeddings file '{path}' line {line}: {len(record)} fields, the header has {len(header)}"
                    )
                try:
                    values = [float(record[i]) for i in columns]
                except ValueError:
                    raise InputError(f"embeddings file '{path}' line {line}: a value is not a number") from None
                if not all(math.isfinite(v) for v in values):
                    raise InputError(f"embeddings file '{path}' line {line}: an embedding value is NaN or infinite")
                name = record[0]
                if name in rows:
                    raise InputError(f"embeddings file '{path}' line {line}: frame '{name}' appears twice")
                rows[name] = np.asarray(values, np.float32)
    except OSError as exc:
        raise InputError(f"cannot read embeddings file '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"embeddings file '{path}' is not a UTF-8 text file") from None
    return rows


def embeddings_for_table(path: str | Path, names: list[str], usable: np.ndarray) -> np.ndarray:
    """(N, D) embeddings for the frame table from ``path``; every usable frame needs a row.

    Frames that are not usable (corrupt, duplicate) may be missing; their rows stay zero.
    """
    rows = read_embeddings_csv(path)
    dim = len(next(iter(rows.values()))) if rows else 0
    out = np.zeros((len(names), dim), np.float32)
    missing = []
    for r, name in enumerate(names):
        vector = rows.get(name)
        if vector is None:
            if usable[r]:
                missing.append(name)
            continue
        out[r] = vector
    if missing:
        raise InputError(
            f"embeddings file '{path}' has no row for {len(missing)} of the {int(usable.sum())} usable frames, "
            f"e.g. '{missing[0]}' (rows are named like data/embeddings.csv of a framepick run)"
        )
    extra = len(set(rows) - set(names))
    if extra:
        logger.warning("embeddings file '%s': %d rows name no frame of this input and are ignored", path, extra)
    return out
