"""Scanning: what a run asks of decoding and embedding, the rules every executor applies per
frame, what it returns per source, and the executor interface itself.

An executor (:class:`Executor`) turns a :class:`ScanRequest` and the run's resolved model into
one :class:`SourceFrames` per source: the local one (:class:`framepick.embed.LocalExecutor`,
threads in this process), the Ray one (:class:`framepick.distributed.RayExecutor`), or either
behind the embedding cache (:class:`framepick.cache.CachedExecutor`). The per-frame rules live
here once (:class:`FrameRules`, :class:`SourceScan`), so every executor decodes at the same
size, sends the same frames to the model and reports a broken source the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ._framestats import FRAME_METADATA, NO_STATS, Stats
from .decode import DecodedFrame, decoder_for
from .discover import Source
from .errors import DecodeError

if TYPE_CHECKING:
    from .models.resolved import ResolvedModel

__all__ = ["Executor", "FrameRules", "ScanRequest", "SourceFrames", "SourceScan"]

SourceDone = Callable[[int, "SourceFrames"], None]
"""on_source_done(i, result): source ``i`` of the request is scanned (not called for cache hits)."""
Progress = Callable[[int], None]
"""progress(n): ``n`` more frames are scanned."""


@dataclass
class SourceFrames:
    """Everything scanning and embedding learnt about one source, one row per frame."""

    embeddings: np.ndarray  # (n, dim) float32; zero rows where ``embedded`` is False
    digests: list[bytes]
    pts: list[int | None]
    seconds: list[float | None]
    frame_errors: dict[int, str] = field(default_factory=dict)  # not decoded at all
    frame_suspects: dict[int, str] = field(default_factory=dict)  # decoded, but damaged
    error: str | None = None
    embedded: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # went through the model
    thumbnails: dict[int, str] = field(default_factory=dict)  # made while scanning (not cached)
    # (n, 3) float64 sharpness, luminance, contrast (FRAME_METADATA); NaN rows where not decoded
    metadata: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FRAME_METADATA))))

    @classmethod
    def empty(cls, dim: int, error: str | None = None) -> SourceFrames:
        """A source with no frames yet, for ``dim``-wide embeddings."""
        return cls(np.zeros((0, dim), np.float32), [], [], [], error=error)

    @property
    def n_frames(self) -> int:
        return len(self.digests)

    def record(self, frame: DecodedFrame) -> Stats:
        """Add what the scan learnt of ``frame`` (every executor fills results the same way);
        returns its statistics (NaN where it did not decode)."""
        self.digests.append(frame.digest)
        self.pts.append(frame.pts)
        self.seconds.append(frame.seconds)
        if frame.suspect is not None:
            self.frame_suspects[frame.index] = frame.suspect
        if frame.error is not None:
            self.frame_errors[frame.index] = frame.error
        if frame.thumbnail is not None:
            self.thumbnails[frame.index] = frame.thumbnail
        return NO_STATS if frame.stats is None or frame.error is not None else frame.stats

    def complete(self, rows: list[np.ndarray], embedded: list[bool], stats: list[Stats]) -> None:
        """Set the per-frame arrays from what was gathered frame by frame (one row, flag and
        statistics per :meth:`record`), as every executor finishes a source."""
        if rows:
            self.embeddings = np.vstack(rows).astype(np.float32, copy=False)
        self.embedded = np.array(embedded, bool)
        self.metadata = np.array(stats, np.float64).reshape(-1, len(FRAME_METADATA))


@dataclass(frozen=True)
class FrameRules:
    """What scanning does with each frame, the same in every executor (and picklable: Ray's
    decoding tasks get it)."""

    size: int | None  # the square size frames are decoded at (the model's input size)
    thumbnails: bool = False  # keep the thumbnail a decoder makes on the way
    embedding: bool = False  # a model runs
    embed_frame: Callable[[int], bool] | None = None  # which frame indices go to it (None: all)

    def to_model(self, frame: DecodedFrame) -> bool:
        """Whether ``frame`` goes through the model: a model runs, the frame decoded, and the
        stride mask wants its index."""
        if not self.embedding or frame.error is not None or frame.pixels is None:
            return False
        return self.embed_frame is None or self.embed_frame(frame.index)


class SourceScan:
    """One source's frames in order; iterating it ends early at the source's own
    :class:`~framepick.errors.DecodeError` (a truncated or unreadable file), which becomes
    :attr:`error` with the frames before it kept: how every executor reports a broken source.

    ``first``: the index of the source's first file (a range of a frame folder's files).
    """

    def __init__(self, source: Source, rules: FrameRules, first: int = 0) -> None:
        self.source, self.rules, self.first = source, rules, first
        self.error: str | None = None

    def __iter__(self) -> Iterator[DecodedFrame]:
        source, rules = self.source, self.rules
        try:
            for frame in decoder_for(source).frames(source, rules.size, thumbnails=rules.thumbnails):
                yield replace(frame, index=frame.index + self.first) if self.first else frame
        except DecodeError as exc:
            self.error = str(exc)

    def all(self) -> tuple[list[DecodedFrame], str | None]:
        """Every frame, and the source-level error."""
        frames = list(self)
        return frames, self.error


@dataclass(frozen=True)
class ScanRequest:
    """What a run asks of decoding and embedding, whichever executor does it.

    ``decode_size`` is the size frames are decoded at when no model runs (precomputed
    embeddings), so that JPEG files decode at the same reduced scale (and get the same
    statistics) as with the model; with a model, its input size. ``embed_frame`` is the
    stride mask (None: every frame goes to the model) and ``embed_key`` what it depends on,
    for cache keys. ``thumbnail_limit``: the scan keeps the report's thumbnail of every
    image frame (the image decoder makes one on the way) when the sources it scans hold at
    most this many (0: never; bounded, so memory stays small). ``batch_size``: frames per
    model call.
    """

    sources: Sequence[Source]
    decode_size: int | None = None
    embed_frame: Callable[[int], bool] | None = None
    embed_key: str = ""
    thumbnail_limit: int = 0
    batch_size: int = 32

    def rules(self, model: ResolvedModel | None) -> FrameRules:
        """The per-frame rules with ``model`` (None: scan only)."""
        size = model.input_size if model is not None else self.decode_size
        images = sum(len(s.files) for s in self.sources if s.kind != "video")
        return FrameRules(size, 0 < images <= self.thumbnail_limit, model is not None, self.embed_frame)

    def cache_key(self, model: ResolvedModel | None) -> str:
        """What a source's scan results depend on besides its files: the model that really runs
        (its resolved signature) and the stride mask; without a model, the decode size (JPEG
        statistics depend on the decode scale)."""
        if model is None:
            return f"scan-only/{self.decode_size}"
        return model.signature + self.embed_key

    def subset(self, indices: Sequence[int]) -> ScanRequest:
        """The same request for some of its sources (in the order given)."""
        return replace(self, sources=[self.sources[i] for i in indices])


class Executor(Protocol):
    """Decodes and embeds the sources of a request: one :class:`SourceFrames` per source, in the
    request's order, the same fields whichever executor ran.

    ``model`` is the run's resolved model (None: scan only, nothing is embedded). An executor
    whose ``loads_here`` is true loads it in this process, so ``auto`` may try engines here
    (:func:`framepick.models.resolved.resolve_model`); one that does not (Ray) loads exactly
    the resolved engine where it embeds. ``on_source_done(i, result)`` is called once for each
    source as soon as it is scanned (not for a cache hit), in the order sources complete;
    ``progress(n)`` as frames are scanned.
    """

    @property
    def loads_here(self) -> bool: ...

    def scan(
        self,
        request: ScanRequest,
        model: ResolvedModel | None,
        on_source_done: SourceDone | None = None,
        progress: Progress | None = None,
    ) -> list[SourceFrames]: ...
