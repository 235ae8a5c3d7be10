"""Clips of the selected sequences (``export_clips=True``): ``data/clips/*.mp4``.

Each selected sequence becomes one MP4 that holds exactly its frames, made one of two ways:

* **stream copy** (``method: "copy"``): the source's own packets, untouched, when that can be
  shown to give the same frames. The source must be H.264 or HEVC in MP4/MOV or Matroska
  (codecs and containers that MP4 carries as they are), and the packets of the sequence's
  frames must be one unbroken run in decoding order that starts with a keyframe showing the
  sequence's first frame. Then no frame of the run can depend on a frame outside it: a
  B-frame that needs a later frame, or an open GOP's leading pictures, put a foreign packet
  inside the run, and the sequence is encoded instead. The copy is then decoded and must
  give, frame for frame, the very pixels the run's decoder reads from the source; if not,
  it is encoded too. Copies keep the source's timestamps, so its frame rate.
* **encode** (``method: "encode"``): libx264 (preset :data:`CLIP_PRESET`) at CRF
  :data:`CLIP_CRF`, 4:2:0 (plays everywhere) where the frames have an even size, from the
  frames the run's decoder reads (seeking by the scan's timestamps), tagged BT.709 and
  converted with that matrix, at the source's average frame rate (constant), or
  :data:`FOLDER_FPS` for frame folders and images, which have none. The clip is decoded
  and compared with the source frames: every frame must be within :data:`MIN_PSNR_DB` of
  its source frame. CRF alone promises no PSNR (noise and hard synthetic edges lose more),
  so a clip that misses is encoded again at CRF :data:`RETRY_CRF` (4:4:4 when 4:2:0 alone
  already costs too much) and, if still short, losslessly (CRF 0, 4:4:4). Odd sizes are
  always 4:4:4, which keeps their size exact.

A clip that cannot be made (the source no longer reads, frames of different sizes) is
logged and listed with its ``error``; the run goes on. Clips are written in the write
stage, into the folder the outputs are assembled in, so they move into place with the rest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np

from ._log import logger
from .decode import decoder_for, to_rgb
from .discover import Source
from .errors import DecodeError
from .results import Clip
from .table import FrameTable

__all__ = [
    "CLIPS_DIR",
    "CLIP_CRF",
    "CLIP_PRESET",
    "FOLDER_FPS",
    "MIN_PSNR_DB",
    "RETRY_CRF",
    "clip_relpath",
    "shared_stems",
    "write_clips",
]

CLIPS_DIR = "data/clips"
CLIP_CRF = 12  # first try: visually lossless; natural 4:2:0 footage measured 40-42 dB per frame
RETRY_CRF = 4  # second try, for content CRF 12 leaves below MIN_PSNR_DB (detailed, noisy, hard edges)
CLIP_PRESET = "veryfast"  # at these CRFs slower presets gained under 0.5 dB at 2-3x the time
FOLDER_FPS = 30  # frames per second of clips from frame folders and loose images
MIN_PSNR_DB = 40.0  # every encoded frame against its source frame (RGB, 8 bit)

_COPY_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
_COPY_CODECS = frozenset({"h264", "hevc"})
_KEEP_BYTES = 256 << 20  # a sequence's source frames stay in memory between passes up to this
_SUBSAMPLING_MARGIN_DB = 3.0  # 4:2:0 costing more than MIN_PSNR_DB + this leaves x264 no room: use 4:4:4
_BT709 = 1  # AVCOL_SPC_BT709 = AVCOL_PRI_BT709 = AVCOL_TRC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


def clip_relpath(source: Source, first: int, last: int, n_frames: int, *, keep_extension: bool = False) -> str:
    """Where the clip of frames ``first..last`` of ``source`` goes, relative to the output folder.

    ``data/clips/{source path without extension}-{first}-{last}.mp4``, the indices zero-padded
    to the width of the source's frame count, as video frame names are
    (``drive/cam0-0040-0049.mp4`` holds frames 40-49 of ``drive/cam0.mp4``). Frame folders
    keep their path; a loose image loses its extension. ``keep_extension``: the extension
    stays in the name, after a dash (``drive/cam0-mp4-0040-0049.mp4``), as in video frame
    names; :func:`write_clips` asks for it for every source whose path without extension
    another source of the run shares (:func:`shared_stems`). A frame folder has none to keep.
    """
    width = len(str(n_frames))
    stem = _stem(source)
    if keep_extension and stem != source.name:
        stem = f"{stem}-{source.name[len(stem) + 1 :]}"
    return f"{CLIPS_DIR}/{stem}-{first:0{width}d}-{last:0{width}d}.mp4"


def shared_stems(sources: Sequence[Source]) -> frozenset[str]:
    """The paths without extension (letter case aside) that two or more of ``sources`` share:
    ``cam0.mp4``, ``cam0.mkv``, a loose ``cam0.jpg`` and the frame folder ``cam0`` would all
    have their clips at ``data/clips/cam0-{first}-{last}.mp4``. Their clips keep the extension.
    Letter case aside, since ``Cam0.mp4`` and ``cam0.mkv`` clash on case-insensitive file systems."""
    counts = Counter(_stem(source).casefold() for source in sources)
    return frozenset(stem for stem, n in counts.items() if n > 1)


def _stem(source: Source) -> str:
    """The source's path without its extension (a frame folder's path as it is)."""
    last = source.name.rsplit("/", 1)[-1]
    return source.name.rsplit(".", 1)[0] if source.kind != "frames" and "." in last else source.name


def _unused(rel: str, used: set[str]) -> str:
    """``rel``, or ``rel`` with ``-2``, ``-3``... before ``.mp4`` where a clip of this run already
    has that name (letter case aside): a last guard, after :func:`shared_stems`, against names
    that still meet (a frame folder named ``cam0-mp4`` beside ``cam0.mp4`` and ``cam0.mkv``)."""
    base, n = rel.removesuffix(".mp4"), 1
    while rel.casefold() in used:
        n += 1
        rel = f"{base}-{n}.mp4"
    used.add(rel.casefold())
    return rel


def write_clips(
    out: Path, sources: Sequence[Source], table: FrameTable, rows: np.ndarray, shots: Sequence[int] | None = None
) -> tuple[Clip, ...]:
    """Write a clip of each sequence under ``out`` and return them, report.json's ``clips``.

    ``rows``: the frame-table rows of the selected sequences, one sequence a row, in selection
    order; clip ``i`` is sequence ``i``'s (its ``rank`` is ``i + 1``). Each has ``path``
    (relative to ``out``, from :func:`clip_relpath`; no two alike), ``source``, ``first``,
    ``last``, ``frames``, ``method`` (``copy`` or ``encode``), ``codec``, ``crf`` (None for a
    copy), ``pix_fmt``, ``fps`` and ``psnr_db`` (the worst frame's; None when every frame is
    identical to the source's). A clip that failed has ``method`` None and an ``error``, and no
    file: one bad source must not cost the run its other outputs. ``shots``: each sequence's
    shot (``sequence_boundaries=shots``), which its clip carries.
    """
    counts = np.bincount(table.source, minlength=len(sources))
    shared = shared_stems(sources)
    used: set[str] = set()
    clips: list[Clip] = []
    for rank, seq in enumerate(np.asarray(rows).reshape(len(rows), -1), start=1):
        src = int(table.source[seq[0]])
        source = sources[src]
        indices = [int(i) for i in table.index[seq]]
        keep = _stem(source).casefold() in shared
        rel = _unused(clip_relpath(source, indices[0], indices[-1], int(counts[src]), keep_extension=keep), used)
        shot = None if shots is None else int(shots[rank - 1])
        clip = Clip(rel, source.name, indices[0], indices[-1], len(indices), None, shot=shot, rank=rank)
        target = out / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            clip = replace(clip, **_write_clip(target, source, indices, table.pts_of(src, indices)))
        except Exception as exc:  # one clip's failure is reported, never the run's end
            target.unlink(missing_ok=True)
            reason = _reason(exc)
            logger.warning("clip %s not written: %s", rel, reason)
            clip = replace(clip, method=None, error=reason)
        clips.append(clip)
    methods = [c.method for c in clips]
    logger.info(
        "clips: %d written to %s (%d stream copies, %d encoded), %d failed",
        len(methods) - methods.count(None),
        CLIPS_DIR,
        methods.count("copy"),
        methods.count("encode"),
        methods.count(None),
    )
    return tuple(clips)


def _write_clip(target: Path, source: Source, indices: list[int], pts: Mapping[int, int] | None) -> dict[str, Any]:
    """One clip: a checked stream copy where the rule allows it, else a checked encode."""
    frames = _SequenceFrames(source, indices, pts)
    rate = Fraction(FOLDER_FPS)
    if source.kind == "video":
        stamps = [pts[i] for i in indices] if pts is not None else None
        rate, copied = _stream_copy(target, source, stamps)
        if copied is not None:
            codec, pix_fmt = copied
            if _compare(target, frames, pix_fmt).identical(len(indices)):
                return _made("copy", codec, None, pix_fmt, rate, math.inf)
            logger.info("clip %s: the stream copy does not decode to the source's frames; encoding", target.name)
            target.unlink()
    return _encode_checked(target, frames, rate)


def _made(method: str, codec: str, crf: int | None, pix_fmt: str, rate: Fraction, psnr: float) -> dict[str, Any]:
    """A written clip's :class:`~framepick.results.Clip` fields (PSNR None: every frame identical)."""
    return {
        "method": method,
        "codec": codec,
        "crf": crf,
        "pix_fmt": pix_fmt,
        "fps": float(rate),
        "psnr_db": None if psnr == math.inf else round(psnr, 2),
    }


class _SequenceFrames:
    """A sequence's source frames (RGB, full size) as the run's decoder reads them, in order.

    Each encode and each check goes through them once. After the first complete pass they
    stay in memory when they fit in :data:`_KEEP_BYTES` (ten 4K frames do); beyond that they
    are read again each time, since full-resolution frames add up fast.
    """

    def __init__(self, source: Source, indices: list[int], pts: Mapping[int, int] | None) -> None:
        self.source, self.indices, self.pts = source, indices, pts
        self.kept: list[np.ndarray] | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.kept is not None:
            yield from self.kept
            return
        kept: list[np.ndarray] | None = []
        size = 0
        for rgb in self._read():
            if kept is not None:
                size += rgb.nbytes
                if size <= _KEEP_BYTES:
                    kept.append(rgb)
                else:
                    kept = None
            yield rgb
        self.kept = kept

    def _read(self) -> Iterator[np.ndarray]:
        """The decoder's ``read`` (seeking by the scan's timestamps), put back in index order:
        a decoder that misses a frame by seeking reads it afterwards."""
        waiting: dict[int, np.ndarray] = {}
        position = 0
        for index, rgb in decoder_for(self.source).read(self.source, self.indices, pts=self.pts):
            waiting[index] = rgb
            while position < len(self.indices) and self.indices[position] in waiting:
                yield waiting.pop(self.indices[position])
                position += 1
        if position < len(self.indices):
            raise DecodeError(f"frame {self.indices[position]} of {self.source.name} can no longer be read")


def _rate(stream: Any) -> Fraction:
    """The stream's average frame rate; :data:`FOLDER_FPS` when the container does not say."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return Fraction(FOLDER_FPS)


def _stream_copy(target: Path, source: Source, stamps: list[int] | None) -> tuple[Fraction, tuple[str, str] | None]:
    """The source's frame rate, and (codec, pixel format) when the sequence was copied to ``target``.

    Nothing is written unless the container and codec qualify and :func:`_packets_to_copy`
    finds the run of packets. ``stamps``: the sequence's timestamps as the scan saw them. A
    source that does not open fails the clip; one that opens but cannot seek, or whose
    packets the MP4 muxer refuses, is encoded instead.
    """
    import av

    with av.open(str(source.path), metadata_errors="ignore") as container:
        if not container.streams.video:
            raise DecodeError("no video stream")
        stream = container.streams.video[0]
        rate, codec, layout = _rate(stream), stream.codec_context.name, stream.codec_context.format
        if stamps is None or container.format.name not in _COPY_CONTAINERS or codec not in _COPY_CODECS:
            return rate, None
        try:
            packets = _packets_to_copy(container, stream, stamps)
            if packets is None:
                return rate, None
            _mux(target, stream, packets, stamps[0])
        except Exception as exc:  # not seekable, a packet the muxer refuses: the clip is encoded
            logger.info("clip %s: no stream copy (%s); encoding", target.name, _reason(exc))
            target.unlink(missing_ok=True)
            return rate, None
        return rate, (codec, layout.name if layout is not None else "unknown")


def _mux(target: Path, stream: Any, packets: list[Any], start: int) -> None:
    """Write ``packets`` of ``stream`` to an MP4 as they are, the first shown at time 0."""
    import av

    with av.open(str(target), "w", format="mp4") as out:
        add = getattr(out, "add_stream_from_template", None)  # PyAV >= 13; add_stream(template=) before
        clip = add(stream) if add is not None else out.add_stream(template=stream)  # type: ignore[call-overload]
        clip.time_base = stream.time_base
        for packet, dts in zip(packets, _decode_stamps([p.pts for p in packets])):
            packet.pts, packet.dts = packet.pts - start, dts - start
            packet.stream = clip
            out.mux(packet)


def _decode_stamps(pts: list[int]) -> list[int]:
    """Decoding timestamps for packets with these presentation timestamps, in decoding order.

    Made afresh rather than copied: Matroska leaves the first ones of a B-frame stream unset.
    The sorted presentation times, moved back just enough that none is after its packet's
    own: increasing, and each frame decoded by the time it is shown.
    """
    order = sorted(pts)
    lag = max(shown - own for shown, own in zip(order, pts))
    return [shown - lag for shown in order]


def _packets_to_copy(container: Any, stream: Any, stamps: list[int]) -> list[Any] | None:
    """The packets of the frames at ``stamps`` (first to last), or None where copying them is not safe.

    Safe: one packet per frame, and in decoding order they are consecutive, the first a
    keyframe showing the first frame. Every frame of such a run can only refer to frames of
    the run (a keyframe refers to none before it for later frames), so the copy decodes on
    its own. A packet from outside the range in between (a frame that a B-frame refers to, an
    open GOP's leading picture), a missing or repeated timestamp, or a damaged or discarded
    packet refuses the copy.
    """
    wanted, first, last = set(stamps), stamps[0], stamps[-1]
    if len(wanted) != len(stamps):
        return None
    run: list[Any] = []
    container.seek(first, stream=stream, backward=True, any_frame=False)
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the end-of-stream marker
        if packet.pts is None or packet.is_corrupt or packet.is_discard:
            return None
        inside = packet.pts in wanted
        if not run:
            if inside and (not packet.is_keyframe or packet.pts != first):
                return None  # the sequence's first packet in decoding order is no keyframe of its first frame
            if not inside and packet.dts is not None and packet.dts > last:
                return None  # past the sequence without meeting it
        elif not inside:
            return None  # a foreign packet inside the run: frames of the run may refer to it
        if inside:
            wanted.discard(packet.pts)
            run.append(packet)
            if not wanted:
                return run
    return None


@dataclass
class _Check:
    """A clip decoded and compared with its source frames."""

    frames: int  # frames the clip decoded to, damaged ones included
    psnr_db: float  # the worst frame's PSNR (inf: every frame identical; -inf: a frame missing, extra or damaged)
    subsampling_hurts: bool = False  # 4:2:0 alone costs a failing frame most of the allowed loss

    def identical(self, n: int) -> bool:
        return self.frames == n and self.psnr_db == math.inf


def _compare(target: Path, frames: _SequenceFrames, pix_fmt: str) -> _Check:
    """Decode ``target`` and compare it frame by frame with the source frames."""
    import av

    check = _Check(0, math.inf)
    with av.open(str(target)) as container:
        for want, frame in zip_longest(frames, container.decode(video=0)):
            check.frames += frame is not None
            if want is None or frame is None or frame.is_corrupt:
                check.psnr_db = -math.inf
                continue
            psnr = _psnr(want, to_rgb(frame))
            check.psnr_db = min(check.psnr_db, psnr)
            if psnr < MIN_PSNR_DB and pix_fmt == "yuv420p" and not check.subsampling_hurts:
                check.subsampling_hurts = _subsampled_psnr(want) < MIN_PSNR_DB + _SUBSAMPLING_MARGIN_DB
    return check


def _psnr(want: np.ndarray, got: np.ndarray) -> float:
    """PSNR of 8-bit ``got`` against ``want`` in dB (inf when equal, -inf when the sizes differ)."""
    if want.shape != got.shape:
        return -math.inf
    diff = (want.astype(np.int64) - got).reshape(-1)
    squared = int(diff @ diff)
    if squared == 0:
        return math.inf
    return 10 * math.log10(255.0**2 * diff.size / squared)


def _subsampled_psnr(rgb: np.ndarray) -> float:
    """PSNR of a frame after 4:2:0 and back, no encoder involved: what subsampling alone costs."""
    import av

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    back = frame.reformat(format="yuv420p", dst_colorspace="itu709").reformat(format="rgb24", src_colorspace="itu709")
    return _psnr(rgb, back.to_ndarray())


def _encode_checked(target: Path, frames: _SequenceFrames, rate: Fraction) -> dict[str, Any]:
    """Encode at :data:`CLIP_CRF`, then :data:`RETRY_CRF`, then losslessly, until every frame
    reaches :data:`MIN_PSNR_DB`; the entry says which one did."""
    pix_fmt = "yuv420p"
    check = _Check(0, -math.inf)
    for crf in (CLIP_CRF, RETRY_CRF, 0):
        if crf == 0:
            pix_fmt = "yuv444p"  # x264's lossless mode; only the RGB-YUV rounding is left
        pix_fmt = _encode(target, frames, rate, pix_fmt, crf)
        check = _compare(target, frames, pix_fmt)
        if check.psnr_db >= MIN_PSNR_DB and check.frames == len(frames.indices):
            return _made("encode", "h264", crf, pix_fmt, rate, check.psnr_db)
        logger.info(
            "clip %s: worst frame %.1f dB at CRF %d (%s), below %.0f dB; encoding again",
            target.name,
            check.psnr_db,
            crf,
            pix_fmt,
            MIN_PSNR_DB,
        )
        if check.subsampling_hurts:
            pix_fmt = "yuv444p"
    raise ValueError(f"the encoded clip has {check.frames} frames, worst {check.psnr_db:.1f} dB, even losslessly")


def _encode(target: Path, frames: _SequenceFrames, rate: Fraction, pix_fmt: str, crf: int) -> str:
    """Write the frames to ``target`` with libx264 at constant ``rate``; returns the pixel format
    used (4:4:4 for odd sizes, which 4:2:0 cannot hold)."""
    import av

    with av.open(str(target), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        size: tuple[int, int] | None = None
        tagged = False
        for i, rgb in enumerate(frames):
            height, width = rgb.shape[:2]
            if size is None:
                size = (height, width)
                if height % 2 or width % 2:
                    pix_fmt = "yuv444p"
                stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
                stream.options = {"crf": str(crf), "preset": CLIP_PRESET}
                tagged = _tag_bt709(stream.codec_context)
            elif (height, width) != size:
                raise ValueError(f"frame {frames.indices[i]} is {width}x{height}, the clip's first {size[1]}x{size[0]}")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format=pix_fmt, dst_colorspace="itu709" if tagged else None)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return pix_fmt


def _tag_bt709(codec: Any) -> bool:
    """Mark the stream BT.709, limited range, so players convert it back with the matrix it was
    made with (untagged, they guess by size). False where this PyAV cannot set the tags: the
    frames are then converted with FFmpeg's default, which untagged decoding assumes too."""
    try:
        codec.colorspace = codec.color_primaries = codec.color_trc = _BT709
        codec.color_range = _LIMITED_RANGE
    except (AttributeError, TypeError, ValueError):
        return False
    return True


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__module__.startswith("av") and getattr(exc, "strerror", None):
        text = str(exc.strerror)  # type: ignore[attr-defined]  # FFmpeg's words, without errno noise
    return text.splitlines()[0][:300]
