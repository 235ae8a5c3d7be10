"""Chunked decoding: one long video decoded in pieces, with the frames of a single-pass decode.

A 2-hour file decoded in one piece holds one worker for as long as the whole file takes; an
executor that spreads a source over several workers needs three things, and this module
gives them without knowing anything about the executor:

- :func:`plan_chunks`: one demux pass (packets only, nothing decoded) that cuts the source
  at keyframes into :class:`Chunk` s of about ``chunk_frames`` frames, each knowing the
  presentation timestamps of exactly the frames it owns and their whole-video indices;
- :func:`scan_chunk`: decode one chunk (seek to its keyframe, decode until it has every
  frame it owns, keep only those);
- :func:`merge_chunks`: check the pieces against the plan and put them back in order.

The promise is the one of ``docs/decoding.md``: the merged frames are
``list(PyAVDecoder().frames(source, size))`` frame by frame (index, pts, seconds, digest,
pixels, suspect, error, statistics). Where a chunk cannot show that its frames are the
single pass's, it raises :class:`ChunkMismatch` and the caller decodes the whole source in
one piece; a silent difference is never an option. ``docs/decoding.md`` ("Chunked
decoding") lists the cases that fall back.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from .decode import DecodedFrame, PyAVDecoder, _truncation, decoder_for, reference_tracker
from .discover import Source
from .errors import DecodeError, FramepickError

__all__ = ["Chunk", "ChunkDecodeError", "ChunkMismatch", "merge_chunks", "plan_chunks", "scan_chunk"]

_HEAD = 65  # the single pass measures a source's frame interval on its first 64 steps (_truncation)


@dataclass(frozen=True)
class Chunk:
    """One piece of a source: the frames with presentation timestamps in ``pts``.

    A chunk owns the frames shown from its keyframe up to the next chunk's keyframe, in
    presentation order. ``seek_pts`` is that keyframe's pts (None: decode from the start);
    leading pictures of an open GOP (decoded after the keyframe, shown before it) belong to
    the chunk before, which decodes on past the border to get them. A chunk covering a whole
    source that could not be cut (``seek_pts`` None, ``last`` True, ``pts`` empty) stands
    for a plain ``PyAVDecoder().frames()`` (a frame folder's or an image's own decoder for
    those); its ``n_frames`` is -1: how many frames will decode is not known beforehand.
    ``end_pts``: the next chunk's keyframe pts (None for the last chunk): the chunk's range
    of presentation times is ``[pts[0], end_pts)``, so a frame decoded in that range that it
    does not own is a frame the plan does not know. ``head_pts`` (the last chunk only): the
    source's first 65 pts, on which the single pass measures the frame interval of its
    truncation check.
    """

    part: int
    first_index: int
    n_frames: int
    seek_pts: int | None
    pts: tuple[int, ...]
    last: bool
    end_pts: int | None = None
    head_pts: tuple[int, ...] = ()

    @property
    def whole(self) -> bool:
        """Whether this chunk is a whole source decoded in one piece (nothing to check against)."""
        return self.part == 0 and self.last and not self.pts


class ChunkMismatch(FramepickError):
    """A chunk's frames are not provably the single pass's: decode the whole source in one piece.

    Raised where exactness cannot be shown (a frame missing, extra or out of order, a packet
    that would not decode, a damaged frame after a seek, a seek that missed its keyframe),
    so the caller falls back instead of storing frames that might differ.
    """


class ChunkDecodeError(DecodeError):
    """The source's own :class:`~framepick.errors.DecodeError` (truncated, unreadable), met by
    the chunk that ends the source; ``frames`` holds the chunk's frames decoded before it, as
    ``PyAVDecoder.frames`` yields them before it raises. The message is the single pass's."""

    def __init__(self, message: str, frames: list[DecodedFrame]) -> None:
        super().__init__(message)
        self.frames = frames

    def __reduce__(self) -> tuple[type[ChunkDecodeError], tuple[str, list[DecodedFrame]]]:
        """Pickle with the frames (an executor sends the exception back from its worker)."""
        return type(self), (str(self), self.frames)


def _whole_source() -> list[Chunk]:
    return [Chunk(part=0, first_index=0, n_frames=-1, seek_pts=None, pts=(), last=True)]


@dataclass(frozen=True)
class _Packet:
    """What the plan needs of one packet: its pts, whether it is a keyframe, and whether the
    demuxer marks it to be decoded but not shown (an edit list that starts or ends mid-GOP)."""

    pts: int
    key: bool
    discard: bool


def _demux(source: Source) -> list[_Packet] | None:
    """Every packet of the video stream in decode order, or None when the stream cannot be
    cut safely: no video, a packet without pts or without data (one packet, one frame is
    what the whole-video indices rest on), a packet the demuxer flags as corrupt, duplicate
    pts, a demuxer error, or lost reference frames (H.264 ``frame_num`` skips: a chunk that
    starts after the loss could not tell it from the single pass)."""
    if source.kind != "video":
        return None
    try:
        container, stream = PyAVDecoder(threads=False)._open(source)
    except DecodeError:
        return None
    packets: list[_Packet] = []
    references = reference_tracker(stream.codec_context)
    try:
        for packet in container.demux(stream):
            if packet.size == 0 and packet.pts is None:
                continue  # the flush packet PyAV adds at the end of the stream
            if packet.pts is None or packet.size == 0 or packet.is_corrupt:
                return None
            if references is not None and references.feed(memoryview(packet)):
                return None  # lost reference frames: the single pass marks the repaired picture
            packets.append(_Packet(int(packet.pts), bool(packet.is_keyframe), bool(packet.is_discard)))
    except Exception:  # a demuxer error: the single pass reports it, in one piece
        return None
    finally:
        container.close()
    if len({p.pts for p in packets}) != len(packets):
        return None
    return packets


def _borders(packets: list[_Packet], ranked: dict[int, int]) -> list[int]:
    """The keyframes a chunk may start at, as the ranks of their pts, ascending: those shown
    after every packet decoded before them, so that everything a chunk owns is at or after
    its keyframe in decode order (a later chunk never needs packets from before its seek point)."""
    borders: list[int] = []
    highest: int | None = None
    for p in packets:
        if p.key and not p.discard and highest is not None and p.pts > highest and ranked[p.pts] > 0:
            borders.append(ranked[p.pts])  # above every earlier pts: the ranks come out ascending
        highest = p.pts if highest is None else max(highest, p.pts)
    return borders


def _choose(borders: list[int], n: int, chunk_frames: int) -> list[int]:
    """Of the possible borders (ascending ranks), those that make chunks of about
    ``chunk_frames`` frames: at each step the border nearest the target, never one that
    leaves a chunk under half of it. Linear in the borders: an intra-only video has a
    possible border at every frame."""
    chosen: list[int] = []
    start = 0
    low = max(1, chunk_frames // 2)
    while n - start >= chunk_frames + low:
        at = bisect_left(borders, start + chunk_frames)
        near = [r for r in borders[max(0, at - 1) : at + 1] if r - start >= low and n - r >= low]
        if not near:  # the borders around the target are all too close to one end
            return chosen
        start = min(near, key=lambda r: (abs(r - start - chunk_frames), r))
        chosen.append(start)
    return chosen


def plan_chunks(source: Source, chunk_frames: int) -> list[Chunk]:
    """Cut a video at keyframes into chunks of about ``chunk_frames`` frames (one demux pass,
    no decoding); a source that cannot be cut safely, or holds fewer than ``2 * chunk_frames``
    frames, is one whole-source chunk.

    A frame's whole-video index is the rank of its pts among the pts of all packets that are
    shown (not marked discard): the single pass's index when each of them yields exactly one
    frame, in pts order, which :func:`scan_chunk` verifies for every frame it owns.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be at least 1, not {chunk_frames}")
    packets = _demux(source)
    order = sorted(p.pts for p in packets or () if not p.discard)
    if packets is None or len(order) < 2 * chunk_frames:
        return _whole_source()
    ranked = {pts: i for i, pts in enumerate(order)}
    starts = [0, *_choose(_borders(packets, ranked), len(order), chunk_frames)]
    if len(starts) < 2:
        return _whole_source()
    ends = [*starts[1:], len(order)]
    return [
        Chunk(
            part=part,
            first_index=start,
            n_frames=end - start,
            seek_pts=None if part == 0 else order[start],
            pts=tuple(order[start:end]),
            last=end == len(order),
            end_pts=order[end] if end < len(order) else None,
            head_pts=tuple(order[:_HEAD]) if end == len(order) else (),
        )
        for part, (start, end) in enumerate(zip(starts, ends))
    ]


class _ChunkDecoder(PyAVDecoder):
    """:class:`PyAVDecoder` whose raw frames are one seeking chunk's: ``frames()`` then turns
    them into :class:`DecodedFrame` with the single pass's own code (pixels, digest, stats)."""

    def __init__(self, chunk: Chunk) -> None:
        super().__init__(threads=True)
        self.chunk = chunk

    def _frames(self, source: Source) -> Generator[tuple[int, Any, str | None], None, None]:
        """The owned frames, in presentation order, with their whole-video indices.

        Packets are fed from the chunk's keyframe until every owned packet is in, then the
        decoder is flushed; frames the chunk does not own (the keyframe's leading pictures,
        the next chunk's first frames) are dropped. Anything that does not fit the plan
        raises :class:`ChunkMismatch`; the last chunk then runs the single pass's
        end-of-stream check (truncation).
        """
        chunk = self.chunk
        index_of = {pts: chunk.first_index + i for i, pts in enumerate(chunk.pts)}
        try:
            container, stream = self._open(source)
        except DecodeError as exc:
            raise ChunkMismatch(f"chunk {chunk.part}: the source no longer opens ({exc})") from exc
        try:
            codec = stream.codec_context
            expected = iter(chunk.pts)
            for frame in self._decoded(container, stream, codec):
                pts = frame.pts
                if pts is None or pts not in index_of:
                    if pts is None or (pts > chunk.pts[0] and (chunk.end_pts is None or pts < chunk.end_pts)):
                        raise ChunkMismatch(f"chunk {chunk.part}: a frame at pts {pts} that the plan does not know")
                    continue  # another chunk's: the keyframe's leading pictures, the next chunk's first frames
                wanted = next(expected, None)
                if pts != wanted:
                    raise ChunkMismatch(
                        f"chunk {chunk.part}: a frame at pts {pts} where the plan expects pts {wanted} "
                        "(a frame missing, repeated or out of order)"
                    )
                if frame.is_corrupt:  # damaged data, or a reference the seek left out: not decidable here
                    raise ChunkMismatch(f"chunk {chunk.part}: FFmpeg flagged the frame at pts {pts} as damaged")
                yield index_of[pts], frame, None
            missing = next(expected, None)
            if missing is not None:
                raise ChunkMismatch(f"chunk {chunk.part}: no frame at pts {missing}")
            problem = None
            if chunk.last:
                steps = [b - a for a, b in zip(chunk.head_pts, chunk.head_pts[1:])]
                problem = _truncation(container, stream, max(chunk.pts), steps)
        finally:
            container.close()
        if problem is not None:
            raise DecodeError(problem)

    def _decoded(self, container: Any, stream: Any, codec: Any) -> Iterator[Any]:
        """Every frame decoded from the chunk's keyframe until all owned packets are fed, then
        flushed. A packet that does not decode or a demuxer error raises :class:`ChunkMismatch`."""
        chunk = self.chunk
        unfed = set(chunk.pts)
        try:
            for packet in self._from_keyframe(container, stream):  # ends with PyAV's flushing empty packet
                if not unfed and not chunk.last:
                    yield from codec.decode(None)  # all owned packets are in: flush, stop reading
                    return
                unfed.discard(packet.pts)
                yield from codec.decode(packet)
        except ChunkMismatch:
            raise
        except Exception as exc:  # a packet that would not decode, or the demuxer failed
            raise ChunkMismatch(f"chunk {chunk.part}: {type(exc).__name__}: {exc}") from exc

    def _from_keyframe(self, container: Any, stream: Any) -> Iterator[Any]:
        """The packets from the chunk's keyframe on, in decode order.

        Packets before the keyframe (a seek that lands early) are skipped undecoded. mp4 and
        mkv seek exactly; MPEG-PS/TS seek by a search that can land after the keyframe, so
        the seek is retried from further back (1, 4, 16, 64 s) before giving up with
        :class:`ChunkMismatch`.
        """
        chunk = self.chunk
        seek_pts = chunk.seek_pts
        assert seek_pts is not None
        second = max(1, round(1 / stream.time_base)) if stream.time_base else 1
        for back in (0, 1, 4, 16, 64):
            container.seek(seek_pts - back * second, stream=stream, backward=True, any_frame=False)
            packets = container.demux(stream)
            for packet in packets:
                if packet.is_keyframe and packet.pts is not None and packet.pts >= seek_pts:
                    break
            else:
                continue  # the stream ended: no keyframe at or after the target
            if packet.pts == seek_pts:
                yield packet
                yield from packets
                return
            packets.close()  # landed after the keyframe: from further back
        raise ChunkMismatch(f"chunk {chunk.part}: seeking does not land on or before the keyframe at pts {seek_pts}")


def _first_chunk(source: Source, chunk: Chunk, size: int | None) -> Iterator[DecodedFrame]:
    """The first chunk is the single pass's beginning: the plain decoder's first ``n_frames``
    frames, exact by construction (damage, lost packets and all), checked against the plan."""
    frames = PyAVDecoder().frames(source, size)
    try:
        for offset, (frame, pts) in enumerate(zip(islice(frames, chunk.n_frames), chunk.pts, strict=False)):
            if frame.pts != pts or frame.index != chunk.first_index + offset:
                raise ChunkMismatch(f"chunk 0: frame {frame.index} has pts {frame.pts}, the plan says {pts}")
            yield frame
    except DecodeError as exc:
        raise ChunkMismatch(f"chunk 0: the source ended early ({exc})") from exc
    finally:
        frames.close()


def scan_chunk(source: Source, chunk: Chunk, size: int | None, *, thumbnails: bool = False) -> list[DecodedFrame]:
    """The frames ``chunk`` owns, as ``PyAVDecoder().frames(source, size)`` yields them.

    Raises :class:`ChunkMismatch` when they cannot be shown to be exactly those (the caller
    then decodes the source in one piece), and :class:`ChunkDecodeError` with the frames
    before it when the source itself is broken (a whole-source chunk, or a truncated file's
    last chunk), as the single pass raises :class:`~framepick.errors.DecodeError`.
    """
    frames: list[DecodedFrame] = []
    try:
        if chunk.whole:
            frames.extend(decoder_for(source).frames(source, size, thumbnails=thumbnails))
        elif chunk.seek_pts is None:
            frames.extend(_first_chunk(source, chunk, size))
        else:
            frames.extend(_ChunkDecoder(chunk).frames(source, size))
    except (ChunkMismatch, ChunkDecodeError):
        raise
    except DecodeError as exc:
        raise ChunkDecodeError(str(exc), frames) from exc
    if not chunk.whole and len(frames) != chunk.n_frames:
        raise ChunkMismatch(f"chunk {chunk.part}: {len(frames)} frames, the plan says {chunk.n_frames}")
    return frames


FrameT = TypeVar("FrameT", bound=DecodedFrame)  # what a task returns in a frame's place


def merge_chunks(source: Source, chunks: Sequence[Chunk], parts: Sequence[list[FrameT]]) -> list[FrameT]:
    """The chunks' frames in whole-video order: ``list(PyAVDecoder().frames(source, size))``.

    Nothing is left to recompute: a chunk that met a lost packet or a damaged frame after its
    seek raised :class:`ChunkMismatch` instead of guessing how the single pass would mark
    it, and the timestamp-gap check (``timestamp_gaps``) runs later on the whole source's
    pts, as for any source. What is checked here is that the pieces fit: every chunk of the
    plan once, in order, each with exactly its frames, indices continuing without a hole.
    Raises :class:`ChunkMismatch` when they do not.
    """
    if len(chunks) != len(parts):
        raise ChunkMismatch(f"{source.name}: {len(parts)} parts for {len(chunks)} chunks")
    if len(chunks) == 1 and chunks[0].whole:
        return list(parts[0])
    merged: list[FrameT] = []
    for number, (chunk, part) in enumerate(zip(chunks, parts)):
        if chunk.part != number or chunk.first_index != len(merged) or chunk.last != (number == len(chunks) - 1):
            raise ChunkMismatch(f"{source.name}: chunk {chunk.part} is not where the plan puts it")
        if [f.pts for f in part] != list(chunk.pts):
            raise ChunkMismatch(f"{source.name}: chunk {chunk.part} does not hold exactly its frames")
        if [f.index for f in part] != list(range(chunk.first_index, chunk.first_index + chunk.n_frames)):
            raise ChunkMismatch(f"{source.name}: chunk {chunk.part} has frames at other indices")
        merged.extend(part)
    return merged
