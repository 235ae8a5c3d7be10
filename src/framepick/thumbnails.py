"""Small JPEG thumbnails of chosen frames, as ``data:`` URIs for the self-contained report.

Frames are read back from the sources with the decoders' :meth:`~framepick.decode.Decoder.read`
(one pass per source, only the wanted indices), shrunk to ``size`` pixels on the longer side
and encoded as JPEG. :func:`source_reader` has the decoder do the shrinking (FFmpeg's scaler
for videos), so no full-resolution RGB copy of a frame is ever made for a thumbnail. A source
that cannot be read any more gives no thumbnails; the reason is recorded instead of failing
the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ._cpus import usable_cpus
from ._log import logger
from ._thumbs import JPEG_QUALITY, THUMB_SIZE, thumbnail_uri
from .decode import decoder_for
from .discover import Source

__all__ = [
    "JPEG_QUALITY",
    "READ_SIZE",
    "THUMB_SIZE",
    "FrameReader",
    "ScannedFirst",
    "ThumbnailSource",
    "Thumbnails",
    "from_reader",
    "make_thumbnails",
    "source_reader",
    "source_thumbnails",
    "thumbnail_uri",
]

FrameReader = Callable[[int, Sequence[int]], Iterable[tuple[int, np.ndarray]]]
"""reader(source, frame_indices) -> (frame index, RGB array) for each wanted frame; the array may
already be shrunk to the thumbnail size (it is shrunk further if it is larger)."""

# Frames are read at twice the thumbnail size (the decoder shrinks them: FFmpeg's scaler for
# videos) and Pillow makes the last step, as it did from full-size frames: the thumbnails
# look as before (mean absolute difference below 1 of 255 before JPEG) at a fraction of the cost.
READ_SIZE = 2 * THUMB_SIZE


def source_reader(
    sources: Sequence[Source | None],
    size: int | None = READ_SIZE,
    pts: Callable[[int, Iterable[int]], Mapping[int, int] | None] | None = None,
) -> FrameReader:
    """A reader over discovered sources (``None``: that source is unavailable), giving frames
    shrunk to at most ``size`` pixels on the longer side (None: full resolution).
    ``pts(source, indices)``: the frames' timestamps from the run's scan, so that videos seek."""

    def read(src: int, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        source = sources[src]
        if source is None:
            return iter(())
        stamps = pts(src, indices) if pts is not None else None
        return decoder_for(source).read(source, indices, size=size, pts=stamps)

    return read


@dataclass
class Thumbnails:
    """Thumbnails by (source, frame index); ``failed`` maps a source index to why it gave none."""

    uris: dict[tuple[int, int], str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    def get(self, src: int, index: int) -> str | None:
        return self.uris.get((src, index))

    def add(self, src: int, index: int, rgb: np.ndarray) -> None:
        """Make the thumbnail of one frame (any size: it is shrunk here)."""
        self.uris[(src, int(index))] = thumbnail_uri(rgb)


ThumbnailSource = Callable[[Mapping[int, Iterable[int]]], Thumbnails]
"""thumbnails(wanted) -> the :class:`Thumbnails` of the wanted frames ({source: frame indices}).

:func:`from_reader` makes one that reads the frames itself; a run whose frames are decoded
anyway (``dump_dataset``) passes one that makes them in that same decoding pass."""


_READ_THREADS = 4  # sources read at once: runs of loose images have one frame per source


def make_thumbnails(
    wanted: Mapping[int, Iterable[int]],
    reader: FrameReader,
    size: int = THUMB_SIZE,
    quality: int = JPEG_QUALITY,
) -> Thumbnails:
    """Thumbnails of the wanted frames ({source: frame indices}), one read pass per source.

    Sources are read a few at a time in threads (decoders release the GIL); a source that
    fails gives no thumbnails and its reason, never an error.
    """

    def one(src: int, indices: list[int]) -> tuple[dict[tuple[int, int], str], str | None]:
        uris: dict[tuple[int, int], str] = {}
        try:
            for index, rgb in reader(src, indices):
                uris[(src, int(index))] = thumbnail_uri(rgb, size, quality)
        except Exception as exc:  # a source that changed or vanished since the run: no thumbnails
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            logger.warning("report: no thumbnails for source %d: %s", src, reason)
            return {}, reason
        return uris, None

    jobs = [(src, sorted({int(i) for i in wanted[src]})) for src in sorted(wanted)]
    jobs = [(src, indices) for src, indices in jobs if indices]
    workers = max(1, min(_READ_THREADS, usable_cpus(), len(jobs)))
    thumbs = Thumbnails()
    with ThreadPoolExecutor(workers, thread_name_prefix="framepick-thumbnails") as pool:
        for (src, _), done in zip(jobs, [pool.submit(one, src, indices) for src, indices in jobs]):
            uris, reason = done.result()  # merged in source order: the same page every time
            thumbs.uris.update(uris)
            if reason is not None:
                thumbs.failed[src] = reason
    return thumbs


def from_reader(reader: FrameReader) -> ThumbnailSource:
    """A thumbnail source that reads the wanted frames with ``reader`` (one pass per source)."""
    return partial(make_thumbnails, reader=reader)


def source_thumbnails(
    sources: Sequence[Source | None], pts: Callable[[int, Iterable[int]], Mapping[int, int] | None] | None = None
) -> ThumbnailSource:
    """A thumbnail source reading the frames back from ``sources``; videos seek by ``pts``
    (the scan's timestamps, ``FrameTable.pts_of``) when given."""
    return from_reader(source_reader(sources, pts=pts))


class ScannedFirst:
    """A run's thumbnail source: the thumbnails its scan made (``SourceFrames.thumbnails``,
    by (source, frame index)), the others from ``rest`` (the dump pass, or the sources)."""

    def __init__(self, scanned: Mapping[tuple[int, int], str], rest: ThumbnailSource) -> None:
        self.scanned, self.rest = scanned, rest

    def missing(self, wanted: Mapping[int, Iterable[int]]) -> dict[int, list[int]]:
        """The wanted frames whose thumbnails the scan did not make, by source."""
        out = {src: [int(i) for i in idx if (src, int(i)) not in self.scanned] for src, idx in wanted.items()}
        return {src: indices for src, indices in out.items() if indices}

    def __call__(self, wanted: Mapping[int, Iterable[int]]) -> Thumbnails:
        missing = self.missing(wanted)
        thumbs = self.rest(missing) if missing else Thumbnails()
        for src, indices in wanted.items():
            for index in indices:
                known = self.scanned.get((src, int(index)))
                if known is not None:
                    thumbs.uris[(src, int(index))] = known
        return thumbs
