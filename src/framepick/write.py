"""Stage 8: write the Lightly-Worker output layout (docs/reference.md, "Outputs")."""

from __future__ import annotations

import json
import operator
import os
import shutil
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from ._cpus import usable_cpus
from ._decimal import POW10, format_scientific
from ._framestats import FRAME_METADATA
from ._fsutil import atomic_open
from ._log import logger
from ._png import encode_png
from .decode import decoder_for
from .discover import Source, dumped_name
from .errors import OutputError
from .shots import Shots
from .table import FrameTable
from .thumbnails import Thumbnails, source_thumbnails
from .train import TRAINING_PREFIX

__all__ = [
    "OPTIONAL_OUTPUTS",
    "OUTPUTS",
    "STAGING_PREFIX",
    "DumpPass",
    "FrameVisitor",
    "Timestamps",
    "dump_frames",
    "format_floats",
    "short_gil_slices",
    "write_embeddings_csv",
    "write_embeddings_npy",
    "write_json",
    "write_lines",
    "write_metadata_csv",
    "write_shots_csv",
    "write_staged",
]

_T = TypeVar("_T")


def write_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(f"{line}\n")


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a reader never sees half a report.json)."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
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


def _csv_fields(names: list[str]) -> list[str]:
    """``names`` as CSV fields; one scan of them all first, since a name rarely needs quotes."""
    if any(c in "".join(names) for c in ',"\n\r'):
        return [_csv_field(name) for name in names]
    return names


def format_floats(values: np.ndarray) -> np.ndarray:
    """float32 (m, d) -> uint8 (m, d*16): each value as ``[-]d.dddddddde±XX,`` (vectorised).

    Nine significant digits round-trip every float32 exactly (also -0.0 and subnormals). A
    positive value's sign slot holds a NUL byte, which the caller strips.
    """
    return format_scientific(np.asarray(values, dtype=np.float32).astype(np.float64))


def write_embeddings_csv(
    path: Path, names: Sequence[str], embeddings: np.ndarray, block: int = 32_768, rows: np.ndarray | None = None
) -> None:
    """Lightly's format: ``filenames,embedding_0..embedding_{d-1},labels`` (labels 0).

    Values are written with 9 significant digits (scientific notation), enough to
    round-trip float32 exactly. Rows are made by the compiled kernel
    (:mod:`framepick._decimal_jit`, parallel over rows, the bytes of :func:`format_floats`),
    a block at a time, and a block is written while the next is made: at a million rows the
    file streams at about disk speed (docs/performance.md). ``rows``: write ``embeddings[rows]``
    (one name per row) without copying them all first.
    """
    from . import _decimal_jit

    path.parent.mkdir(parents=True, exist_ok=True)
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 0
    with open(path, "wb") as fh, ThreadPoolExecutor(1) as writer:
        fh.write((",".join(["filenames", *(f"embedding_{i}" for i in range(dim)), "labels"]) + "\n").encode())
        pending: Future[Any] | None = None
        for begin in range(0, len(names), block):
            chunk = names[begin : begin + block]
            part = (
                embeddings[begin : begin + len(chunk)] if rows is None else embeddings[rows[begin : begin + len(chunk)]]
            )
            part = np.ascontiguousarray(part, np.float32).reshape(len(chunk), dim)
            if not np.isfinite(part).all():
                raise ValueError("embeddings.csv: an embedding is not finite (NaN or infinity)")
            blob, name_start = _name_fields(chunk)
            # name, comma, the values (a minus sign a byte more), "0\n"
            lengths = np.diff(name_start) + (1 + _decimal_jit.VALUE_BYTES * dim + 2) + np.signbit(part).sum(1)
            row_start = np.zeros(len(chunk) + 1, np.int64)
            np.cumsum(lengths, out=row_start[1:])
            out = np.empty(int(row_start[-1]), np.uint8)
            _decimal_jit.fill_rows(part, blob, name_start, out, row_start, POW10, _decimal_jit.PAIRS)
            if pending is not None:
                pending.result()
            pending = writer.submit(fh.write, out.data)
        if pending is not None:
            pending.result()


def _name_fields(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The CSV fields of ``names`` as one UTF-8 byte array and each field's start (and the end)."""
    names = _csv_fields(list(names))
    text = "".join(names)
    blob = text.encode("utf-8")
    starts = np.zeros(len(names) + 1, np.int64)
    if len(blob) == len(text):  # ASCII: a character is a byte
        np.cumsum(np.fromiter(map(len, names), np.int64, len(names)), out=starts[1:])
    else:
        np.cumsum(np.fromiter((len(name.encode("utf-8")) for name in names), np.int64, len(names)), out=starts[1:])
    return np.frombuffer(blob, np.uint8), starts


def write_embeddings_npy(
    path: Path, embeddings: np.ndarray, rows: np.ndarray | None = None, block: int = 65_536
) -> None:
    """``data/embeddings.npy``: the rows of embeddings.csv, in its order, as one float32 (N, D)
    array that ``np.load`` reads in seconds (the CSV takes minutes at a million rows).

    Written as a stream (the NumPy header, then blocks of rows): no copy of the gathered rows.
    """
    n = len(embeddings) if rows is None else len(rows)
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": False,
            "shape": (n, dim),
        }
        np.lib.format.write_array_header_1_0(fh, header)
        for begin in range(0, n, block):
            part = embeddings[begin : begin + block] if rows is None else embeddings[rows[begin : begin + block]]
            fh.write(np.ascontiguousarray(part, np.float32).tobytes())


def write_metadata_csv(
    path: Path, names: Sequence[str], video_names: Sequence[str], metadata: np.ndarray, block: int = 8192
) -> None:
    """``data/metadata.csv``: ``filenames,video_name,`` and the :data:`FRAME_METADATA` columns, a row a frame.

    One row for every frame of the table, in table order, so that a selection strategy (or a
    user) can look any frame up, usable or not. Values have nine significant digits
    (scientific notation, as in embeddings.csv); an unknown value (a frame that did not
    decode) is an empty field. Formatted in vectorised blocks, and rows are assembled by
    C-level joins, not per-row Python: a million rows take well under a second.
    """
    values = np.asarray(metadata, np.float64)
    k = len(FRAME_METADATA)
    if values.shape != (len(names), k) or len(video_names) != len(names):
        raise ValueError(f"metadata {values.shape} for {len(names)} names and {len(video_names)} video names")
    path.parent.mkdir(parents=True, exist_ok=True)
    middle: dict[str, str] = {}  # video name -> ",video_name," (quoted where needed)
    with open(path, "wb") as fh:
        fh.write((",".join(["filenames", "video_name", *FRAME_METADATA]) + "\n").encode())
        for begin in range(0, len(names), block):
            chunk = values[begin : begin + block]
            known = np.isfinite(chunk) & (np.abs(chunk) < 1e60)
            tiny = known & (np.abs(chunk) < 1e-60)  # below the exponent table: written as 0
            body = format_scientific(np.where(known & ~tiny, chunk, 0.0)).reshape(len(chunk), k, 16)
            body[~known, :15] = 0  # NUL bytes, stripped below: an empty field
            body[:, -1, 15] = ord("\n")  # the last field's comma
            numbers = body.reshape(len(chunk), k * 16).view(f"S{k * 16}").ravel().tolist()  # ends in \n: kept whole
            frames = _csv_fields(list(names[begin : begin + block]))
            videos = list(video_names[begin : begin + block])
            for video in set(videos).difference(middle):
                middle[video] = f",{_csv_field(video)},"
            # NUL never occurs in a name: it separates the prefixes while they are encoded at once
            prefixes = "\0".join(map(operator.add, frames, map(middle.__getitem__, videos))).encode("utf-8")
            lines = b"".join(map(operator.add, prefixes.split(b"\0"), numbers))
            fh.write(lines.replace(b"\x00", b""))


def write_shots_csv(path: Path, shots: Shots, video_names: Sequence[str]) -> None:
    """``data/shots.csv``: one row a shot, in table order: ``video_name,shot,first_frame,last_frame,frames,
    score,ratio``; score and ratio are the cut's that starts the shot (empty for a source's first shot)."""

    def number(value: float) -> str:
        return "" if np.isnan(value) else "inf" if np.isinf(value) else f"{value:.6g}"

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("video_name,shot,first_frame,last_frame,frames,score,ratio\n")
        for source, shot, first, last, score, ratio in zip(
            shots.source.tolist(), shots.shot.tolist(), shots.first.tolist(), shots.last.tolist(),
            shots.score.tolist(), shots.ratio.tolist(),
        ):  # fmt: skip
            name = _csv_field(video_names[source])
            fh.write(f"{name},{shot},{first},{last},{last - first + 1},{number(score)},{number(ratio)}\n")


_DUMP_THREADS = 4  # encoder and copy threads for dump_dataset


FrameVisitor = Callable[[int, int, np.ndarray], None]
"""visit(source, frame index, RGB array at full resolution)"""

Timestamps = Callable[[int, Iterable[int]], Mapping[int, int] | None]
"""pts(source, frame indices) -> {frame index: timestamp} from the run's scan (None: unknown)"""


def dump_frames(
    path: Path,
    sources: Sequence[Source],
    wanted: Mapping[int, Mapping[int, str]],
    image_format: str = "png",
    *,
    also_read: Mapping[int, Iterable[int]] | None = None,
    visit: FrameVisitor | None = None,
    pts: Timestamps | None = None,
) -> int:
    """Write selected frames at full resolution; ``wanted`` maps source -> {frame index: name}.

    A frame of a frame folder or a loose image is its file: copied byte for byte under its
    own name (no decoding, no re-encoding: the bytes are in the format the name says, EXIF
    included). Video frames are encoded as ``image_format``; their names end in ``.png``
    (docs/reference.md, "Frame names"), ``.jpg`` with ``jpg`` (:func:`~framepick.discover.dumped_name`).
    Encoding (most of the cost: deflate) and copying run in a few threads while the next
    frames are decoded; both release the GIL. At most a few frames wait in memory. The
    frames of ``also_read`` ({source: frame indices}) are decoded in the same pass, and
    every frame decoded is handed to ``visit``: the report's thumbnails come from here, so
    no source is decoded twice. ``pts`` (the scan's timestamps, e.g.
    ``FrameTable.pts_of``) lets a video decoder seek to the frames instead of decoding
    every frame before them. Returns the number of frames written.
    """
    extra = {src: set(map(int, indices)) for src, indices in (also_read or {}).items()}
    workers = max(1, min(_DUMP_THREADS, usable_cpus()))
    written = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="framepick-dump") as pool:
        pending: deque[Future[None]] = deque()

        def submit(job: Callable[..., None], *args: Any) -> None:
            nonlocal written
            pending.append(pool.submit(job, *args))
            while len(pending) > 2 * workers:  # bounded: frames are full resolution
                pending.popleft().result()
            written += 1

        for src in sorted(set(wanted) | set(extra)):
            source, frames = sources[src], wanted.get(src, {})
            copied = source.kind != "video"
            if copied:  # its frames are files already
                for index, name in frames.items():
                    submit(_copy_frame, source.files[index], _target(path, name, source, image_format))
            reading = extra.get(src, set()) | (set() if copied else set(frames))
            if not reading:
                continue
            stamps = pts(src, reading) if pts is not None else None
            for index, rgb in decoder_for(source).read(source, reading, pts=stamps):
                if visit is not None:
                    visit(src, index, rgb)
                if not copied and index in frames:
                    submit(_save_frame, rgb, _target(path, frames[index], source, image_format), image_format)
        for done in pending:
            done.result()  # an encoding error is raised here, as it was when encoding inline
    return written


def _target(path: Path, name: str, source: Source, image_format: str) -> Path:
    target = path / dumped_name(name, source.name, image_format)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _copy_frame(file: Path, target: Path) -> None:
    """A plain copy, never a link: writing to the output must never change the input."""
    shutil.copyfile(file, target)


def _save_frame(rgb: np.ndarray, target: Path, image_format: str) -> None:
    if image_format == "jpg":
        Image.fromarray(rgb).save(target, format="JPEG", quality=95)
    else:
        target.write_bytes(encode_png(rgb))


class DumpPass:
    """``data/sampled/`` (``dump_dataset``) and the report's thumbnails, in one decoding pass.

    :meth:`start` begins reading in a background thread as soon as the write stage begins;
    the report takes its thumbnails from :meth:`thumbnails` once its plots are drawn. A dump
    error is kept and raised by :meth:`finish`, so the report cannot swallow it.
    """

    def __init__(
        self, out: Path, sources: Sequence[Source], table: FrameTable, rows: np.ndarray, image_format: str
    ) -> None:
        """``rows``: the frame-table rows of the frames to dump (any shape)."""
        self.wanted: dict[int, dict[int, str]] = {}
        for r in np.asarray(rows).reshape(-1):
            self.wanted.setdefault(int(table.source[r]), {})[int(table.index[r])] = table.names[r]
        self.path, self.sources, self.image_format, self.pts = (
            out / "data" / "sampled",
            sources,
            image_format,
            table.pts_of,
        )
        self.read_more = source_thumbnails(sources, pts=table.pts_of)  # what the pass did not read
        self.shown: dict[int, set[int]] = {}
        self.thumbs = Thumbnails()
        self.future: Future[None] | None = None

    def start(self, pool: ThreadPoolExecutor, shown: Mapping[int, Iterable[int]]) -> None:
        """Dump, and make thumbnails of the ``shown`` frames ({source: indices}) on the way."""
        self.shown = {src: set(map(int, indices)) for src, indices in shown.items()}
        self.future = pool.submit(self._run)

    def _run(self) -> None:
        def visit(src: int, index: int, rgb: np.ndarray) -> None:
            if index in self.shown.get(src, ()):
                self.thumbs.add(src, index, rgb)

        self.path.mkdir(parents=True, exist_ok=True)
        dump_frames(
            self.path, self.sources, self.wanted, self.image_format, also_read=self.shown, visit=visit, pts=self.pts
        )

    def thumbnails(self, wanted: Mapping[int, Iterable[int]]) -> Thumbnails:
        """A :data:`~framepick.thumbnails.ThumbnailSource`: waits for the pass (a failed pass gives none)."""
        assert self.future is not None
        if self.future.exception() is not None:
            return Thumbnails()
        missing = {s: [i for i in idx if i not in self.shown.get(s, ())] for s, idx in wanted.items()}
        if any(missing.values()):  # the report asked for frames the pass did not read: read them now
            more = self.read_more(missing)
            self.thumbs.uris.update(more.uris)
            self.thumbs.failed.update(more.failed)
        return self.thumbs

    def finish(self) -> None:
        assert self.future is not None
        self.future.result()


@contextmanager
def short_gil_slices(seconds: float = 0.001) -> Iterator[None]:
    """Hand the GIL over more often while the write stage's threads share it.

    The report draws in Python while the dump's thread decodes in FFmpeg; at the default
    5 ms switch interval each of the decoder's many brief returns to Python waits out a
    whole slice of the drawing thread, and decoding slows severalfold. The interval is
    restored afterwards.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


# Names written by a run; report.json goes last, so a result missing it is visibly incomplete.
OUTPUTS = ("config", "data", "filenames", "plots", "report.html", "log.txt", "report.json")
# Written by some runs only (checkpoints/: enable_training): moved in when the run wrote them; an earlier run's
# stays otherwise, so that a later run may embed with checkpoint=output_dir/checkpoints/... without losing it.
OPTIONAL_OUTPUTS = ("checkpoints",)
STAGING_PREFIX = ".framepick-partial-"


def write_staged(output_dir: Path, fill: Callable[[Path], _T]) -> _T:
    """Have ``fill`` write the outputs (:data:`OUTPUTS`) into a hidden folder inside ``output_dir``,
    then move them into place; returns what ``fill`` returns.

    The previous result's report.json goes before anything moves, so a failure part-way
    leaves no result rather than a mixed one; an OSError becomes an OutputError.
    """
    try:
        return _stage_and_move(output_dir, fill)
    except OSError as exc:
        where = exc.filename or output_dir
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write the results to '{where}': {reason}; check output_dir's space and permissions"
        ) from exc


def _stage_and_move(output_dir: Path, fill: Callable[[Path], _T]) -> _T:
    output_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(output_dir)
    staging = output_dir / f"{STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        made = fill(staging)
        old = output_dir / "report.json"
        if old.exists():
            old.unlink()  # from here on the previous result no longer looks finished
        for name in OUTPUTS + tuple(n for n in OPTIONAL_OUTPUTS if (staging / n).exists()):
            target = output_dir / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return made


def _remove_stale_staging(output_dir: Path) -> None:
    """Remove the staging and training folders left by killed runs (their process no longer
    exists): a SIGKILL runs no cleanup, so the next run in the folder does it. A live process's
    are left, this one's too (the caller makes its staging folder anew; its training folder is
    about to be copied)."""
    stale = [(path, prefix) for prefix in (STAGING_PREFIX, TRAINING_PREFIX) for path in output_dir.glob(f"{prefix}*")]
    for path, prefix in stale:
        pid_text = path.name[len(prefix) :]
        if pid_text.isdigit():
            try:
                os.kill(int(pid_text), 0)
                continue  # a live run writes there
            except ProcessLookupError:
                pass
            except OSError:
                continue  # exists but not ours to signal: leave it
        logger.info("removing %s left by an interrupted run", path.name)
        shutil.rmtree(path, ignore_errors=True)
