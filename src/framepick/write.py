"""Stage 8: write the Lightly-Worker output layout (SPEC section 5)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .decode import decoder_for
from .discover import Source

__all__ = [
    "SelectedSequence",
    "dump_frames",
    "write_embeddings_csv",
    "write_json",
    "write_lines",
]


SelectedSequence = dict[str, Any]


def write_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(f"{line}\n")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=False, default=_json_default)
        fh.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_embeddings_csv(path: Path, names: Sequence[str], embeddings: np.ndarray) -> None:
    """Lightly's format: ``filenames,embedding_0..embedding_{d-1},labels`` (labels 0).

    Values are written with 9 significant digits, enough to round-trip float32 exactly.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 0
    row_format = ",".join(["%.9g"] * dim)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(["filenames", *(f"embedding_{i}" for i in range(dim)), "labels"]) + "\n")
        for name, row in zip(names, embeddings.tolist()):
            fh.write(f"{_csv_field(name)},{row_format % tuple(row)},0\n")


def dump_frames(
    path: Path,
    sources: Sequence[Source],
    wanted: dict[int, dict[int, str]],
    image_format: str = "png",
) -> int:
    """Write selected frames at full resolution; ``wanted`` maps source -> {frame index: name}.

    Names end in ``.png`` (SPEC section 2); with ``jpg`` the extension is swapped.
    """
    written = 0
    for src in sorted(wanted):
        source = sources[src]
        frames = wanted[src]
        for index, rgb in decoder_for(source).read(source, frames):
            name = frames[index]
            if image_format == "jpg":
                name = name.rsplit(".", 1)[0] + ".jpg"
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(rgb)
            if image_format == "jpg":
                image.save(target, format="JPEG", quality=95)
            else:
                image.save(target, format="PNG", compress_level=1)
            written += 1
    return written
