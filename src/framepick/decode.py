"""Stage 2: decode sources into frames, behind a small backend interface.

A decoder turns one :class:`~framepick.discover.Source` into a stream of
:class:`DecodedFrame` (model-sized RGB pixels plus a digest for the duplicate check: of the
full decoded pixels, or of the file for JPEG images), and
can read selected frames back at full resolution for ``dump_dataset``. A frame that cannot
be decoded is yielded with ``error`` set; a source that breaks off raises
:class:`~framepick.errors.DecodeError` after the frames that did decode.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageFile, ImageOps

from ._cpus import usable_cpus
from ._framestats import NO_STATS, Stats, frame_stats
from ._h264 import RefTracker
from ._log import logger
from ._resize import FrameShrinker
from ._thumbs import thumbnail_uri
from .discover import Source
from .errors import DecodeError

__all__ = [
    "DECODERS",
    "DecodedFrame",
    "Decoder",
    "ImageDecoder",
    "PyAVDecoder",
    "decoder_for",
    "image_stats",
    "image_to_rgb",
    "reference_tracker",
    "timestamp_gaps",
    "video_luma",
    "video_stats",
]

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class DecodedFrame:
    """One frame: ``pixels`` is the model-sized RGB image (None when ``error`` is set, or no size was asked).

    ``suspect`` says why a frame that did decode may be damaged; the corruptness check
    decides whether such frames may be selected, and lists them either way. ``stats`` is
    the frame's (sharpness, luminance, contrast), computed on the decoded picture while it is
    at hand (:func:`video_stats`, :func:`image_stats`); None when it could not be decoded.
    """

    index: int
    pixels: np.ndarray | None
    digest: bytes
    pts: int | None = None
    seconds: float | None = None
    error: str | None = None  # the frame could not be produced at all
    suspect: str | None = None  # produced, but damaged (FFmpeg's flags, a lost packet before it)
    thumbnail: str | None = None  # the report's thumbnail, where the decoder made one on the way
    stats: Stats | None = None  # (sharpness, luminance, contrast); None: not decoded


class Decoder(Protocol):
    """What a decoding backend provides."""

    name: str

    def frames(self, source: Source, size: int | None, *, thumbnails: bool = False) -> Iterator[DecodedFrame]:
        """Every frame of ``source`` once, in order, resized to ``size``×``size`` RGB (None: no pixels).

        ``thumbnails``: a decoder that has the picture at hand anyway attaches the report's
        thumbnail to each frame (the image decoder does; the video decoder does not).
        """
        ...

    def read(
        self, source: Source, indices: Iterable[int], size: int | None = None, *, pts: Mapping[int, int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The RGB pixels of the frames at ``indices``, in index order: full resolution, or
        shrunk to at most ``size`` pixels on the longer side (:func:`framepick._resize.fit_within`).

        ``pts``: each wanted frame's timestamp as the scan saw it; a video decoder then seeks
        to the frames instead of decoding everything before them (so reading back grows
        with the wanted frames, not with the video's length).
        """
        ...


def _digest(*parts: bytes | memoryview) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part)
    return h.digest()


class PyAVDecoder:
    """Videos through FFmpeg (PyAV), with FFmpeg's own frame threading and scaler."""

    name = "pyav"

    def __init__(self, threads: bool = True) -> None:
        self.threads = threads

    def _open(self, source: Source):  # type: ignore[no-untyped-def]
        import av

        try:
            container = av.open(str(source.path), metadata_errors="ignore")
        except Exception as exc:  # any failure to open makes the whole file corrupt
            raise DecodeError(f"cannot open video: {_reason(exc)}") from exc
        if not container.streams.video:
            container.close()
            raise DecodeError("no video stream")
        stream = container.streams.video[0]
        if self.threads:
            stream.thread_type = "AUTO"
        return container, stream

    def _frames(self, source: Source) -> Generator[tuple[int, Any, str | None], None, None]:
        """Every frame FFmpeg produces, in presentation order: ``(index, frame, suspect)``.

        Decoding uses FFmpeg's default error handling, so the indices and the count are
        exactly those of a plain decode (``ffmpeg``, OpenCV, ``container.decode()``):
        conformance warnings, edit lists and reordering never cost a frame. ``suspect`` is
        the reason a frame is damaged: FFmpeg flagged it (``frame.is_corrupt``: its data was
        broken and concealed), or a packet before it could not be decoded at all (such a
        packet yields no frame, so it takes no index; the next frame is marked). Frames
        predicted from a damaged one are not marked: FFmpeg conceals the damage, as every
        player does. A demuxer failure, a stream that ends well before its declared duration
        (a truncated file), or an undecodable last packet raises :class:`DecodeError` at the end.
        """
        container, stream = self._open(source)
        codec = stream.codec_context
        index = 0
        lost: str | None = None  # a packet that produced no frame, not yet attributed
        references = reference_tracker(codec)
        repaired: dict[int | None, str] = {}  # pts of pictures decoded over lost reference frames
        last_pts: int | None = None
        intervals: list[int] = []
        try:
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except Exception as exc:
                    raise DecodeError(f"reading stopped after frame {index - 1}: {_reason(exc)}") from exc
                if references is not None and packet.size:
                    missing = references.feed(memoryview(packet))
                    if missing:
                        repaired[packet.pts] = _LOST_REFERENCES.format(missing)
                try:
                    frames = codec.decode(packet)
                except Exception as exc:
                    at = f" at {float(packet.pts * packet.time_base):.3f} s" if packet.pts is not None else ""
                    lost = f"follows a packet{at} that could not be decoded ({_reason(exc)})"
                    continue
                for frame in frames:
                    suspect = None
                    if frame.is_corrupt:
                        suspect = "damaged: FFmpeg flagged the frame's data as broken and concealed it"
                    elif lost is not None:
                        suspect = lost
                    elif repaired and frame.pts in repaired:
                        suspect = repaired.pop(frame.pts)
                    lost = None
                    pts = frame.pts
                    if pts is not None:
                        if last_pts is not None and pts > last_pts and len(intervals) < 64:
                            intervals.append(pts - last_pts)
                        last_pts = pts if last_pts is None else max(last_pts, pts)
                    yield index, frame, suspect
                    index += 1
            problem = _truncation(container, stream, last_pts, intervals)
        finally:
            container.close()
        if problem is None and lost is not None:
            what = "no frame could be decoded" if index == 0 else "the last packet could not be decoded"
            problem = f"{what}: " + lost.split("(", 1)[-1].rstrip(")")
        if problem is not None:
            raise DecodeError(problem)

    def frames(
        self, source: Source, size: int | None, *, thumbnails: bool = False
    ) -> Generator[DecodedFrame, None, None]:
        time_base = None
        for index, frame, suspect in self._frames(source):
            try:
                pixels = None
                if size is not None:
                    small = frame.reformat(width=size, height=size, format="rgb24", interpolation="AREA")
                    pixels = small.to_ndarray()
                digest = _frame_digest(frame)
            except Exception as exc:
                yield DecodedFrame(index, None, b"", error=f"cannot convert frame: {_reason(exc)}")
                continue
            pts = frame.pts
            time_base = frame.time_base or time_base
            seconds = float(pts * time_base) if pts is not None and time_base else None
            yield DecodedFrame(index, pixels, digest, pts, seconds, suspect=suspect, stats=video_stats(frame))

    def read(
        self, source: Source, indices: Iterable[int], size: int | None = None, *, pts: Mapping[int, int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(set(indices))
        if not wanted:
            return
        convert = FrameShrinker(size) if size is not None else to_rgb
        rest = wanted
        known = pts is not None and all(pts.get(i) is not None for i in wanted)
        if known and pts is not None and len({pts[i] for i in wanted}) == len(wanted):
            rest = yield from self._read_seeking(source, wanted, pts, convert)
        if rest:
            yield from self._read_forward(source, rest, convert)

    def _read_seeking(
        self, source: Source, wanted: list[int], pts: Mapping[int, int], convert: Callable[[Any], np.ndarray]
    ) -> Generator[tuple[int, np.ndarray], None, list[int]]:
        """Seek to each cluster of wanted frames (a keyframe at or before it) and decode from
        there, matching frames by timestamp. Returns the wanted frames it did not yield; a
        frame missed this way (a container that seeks imprecisely) is then read forward,
        after the ones found: the only case where frames come out of index order."""
        clusters: list[list[int]] = []
        for index in wanted:
            if clusters and index - clusters[-1][-1] <= _SEEK_GAP:
                clusters[-1].append(index)
            else:
                clusters.append([index])
        yielded: set[int] = set()
        container, stream = self._open(source)
        try:
            for cluster in clusters:
                todo = {pts[i]: i for i in cluster}
                container.seek(pts[cluster[0]], stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is not None and frame.pts in todo:
                        index = todo.pop(frame.pts)
                        yielded.add(index)
                        yield index, convert(frame)
                    if not todo or (frame.pts is not None and frame.pts >= pts[cluster[-1]]):
                        break
                if todo:  # not where the scan saw it: the rest is read forward
                    break
        except Exception:  # a container that cannot seek: the rest is read forward
            pass
        finally:
            container.close()
        return [i for i in wanted if i not in yielded]

    def _read_forward(
        self, source: Source, wanted: list[int], convert: Callable[[Any], np.ndarray]
    ) -> Iterator[tuple[int, np.ndarray]]:
        last = wanted[-1]
        wanted_set = set(wanted)
        frames = self._frames(source)
        try:
            for index, frame, _ in frames:
                if index in wanted_set:
                    yield index, convert(frame)
                if index >= last:
                    return
        except DecodeError:
            return  # a source-level problem after the last wanted frame is not this reader's business
        finally:
            frames.close()


def _truncation(container: Any, stream: Any, last_pts: int | None, intervals: list[int]) -> str | None:
    """Why the stream looks cut short, or None.

    A file is truncated when its last frame ends well before the duration the container
    declares: more than two frame intervals *and* more than 1% of that duration. The
    declared frame count (``nb_frames``) is never used: mp4 files often declare one frame more
    than their stream holds.
    """
    if last_pts is None or stream.time_base is None or not intervals:
        return None
    time_base = stream.time_base
    start = stream.start_time or 0
    if stream.duration:
        declared = start + stream.duration
    elif container.duration:  # microseconds (mkv, webm, avi often declare only this)
        begin = container.start_time or 0
        declared = int((begin + container.duration) / 1_000_000 / time_base)
    else:
        return None
    interval = sorted(intervals)[len(intervals) // 2]
    end = last_pts + interval
    missing = declared - end
    if missing > 2 * interval and missing > 0.01 * (declared - start):
        seconds = float(missing * time_base)
        return (
            f"truncated: the stream ends at {float(end * time_base):.3f} s of {float(declared * time_base):.3f} s "
            f"declared ({seconds:.3f} s, about {round(missing / interval)} frames, missing at the end)"
        )
    return None


_PLANAR_8BIT = ("yuv420p", "yuvj420p")  # to_ndarray() stacks Y, U, V rows: verified byte-equal


def to_rgb(frame) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A decoded frame's full-resolution RGB pixels.

    For 8-bit 4:2:0 frames of even size (nearly all video) FFmpeg converts with its unscaled
    YUV-to-RGB routine whatever the interpolation flag, so ``FAST_BILINEAR`` gives the same
    pixels as the default (the conformance tests compare with ``to_ndarray(format="rgb24")``)
    while setting up its converter costs a quarter as much (0.7 against 2.8 ms a 720p frame).
    Other frames (4:4:4, 10-bit, odd sizes) go through the general scaler, where the flag
    changes the chroma upsampling: they keep the default.
    """
    if frame.format.name in _PLANAR_8BIT and frame.width % 2 == 0 and frame.height % 2 == 0:
        return frame.to_ndarray(format="rgb24", interpolation="FAST_BILINEAR")
    return frame.to_ndarray(format="rgb24")


def _frame_digest(frame) -> bytes:  # type: ignore[no-untyped-def]
    header = f"{frame.format.name}:{frame.width}x{frame.height}".encode()
    if frame.format.name in _PLANAR_8BIT:
        planes = frame.planes
        if all(plane.line_size == plane.width for plane in planes):
            # unpadded 8-bit planes: the same bytes to_ndarray() would copy out, hashed in place
            return _digest(header, *planes)
    try:
        array = frame.to_ndarray()
    except Exception:  # formats PyAV cannot express as one array: hash their RGB conversion
        array = frame.to_ndarray(format="rgb24")
    return _digest(header, np.ascontiguousarray(array).data)


# Formats whose first plane is the 8-bit luma alone (planar and semi-planar YUV, gray)
_LUMA_8BIT = frozenset(
    [f"yuv{s}p" for s in ("420", "422", "444", "440", "411", "410")]
    + [f"yuvj{s}p" for s in ("420", "422", "444", "440", "411")]
    + ["yuva420p", "yuva422p", "yuva444p", "nv12", "nv21", "nv16", "nv24", "nv42", "gray"]
)
# ... and those whose first plane is 9-16 bit luma alone, in the low bits of 16-bit words
_LUMA_WIDE = re.compile(r"(?:yuva?(?:420|422|444|440)p|gray)(9|10|12|14|16)(le|be)")


def video_luma(frame) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    """A decoded frame's full-resolution luma as stored, and its bit depth.

    For the usual formats this is a zero-copy view of the Y plane (``line_size`` padding
    skipped by the strides), in the stream's own range (16-235 for most video). Other YUV
    layouts (packed 4:2:2, P010, ...) are converted to planar YUV, which keeps Y and its
    range; RGB and paletted frames get BT.601 luma (FFmpeg's gray conversion). Gray
    conversion is not used for YUV: it would stretch limited-range luma to 0-255, and the
    numbers would then depend on how a stream happens to be laid out.
    """
    fmt = frame.format
    name = fmt.name
    height, width = frame.height, frame.width
    plane = frame.planes[0]
    if name in _LUMA_8BIT and plane.line_size >= width:
        rows = np.frombuffer(plane, np.uint8, count=plane.line_size * height)
        return rows.reshape(height, plane.line_size)[:, :width], 8
    wide = _LUMA_WIDE.fullmatch(name)
    if wide is not None and plane.line_size >= 2 * width:
        dtype = np.dtype("<u2" if wide.group(2) == "le" else ">u2")
        rows = np.frombuffer(plane, dtype, count=plane.line_size // 2 * height)
        return rows.reshape(height, plane.line_size // 2)[:, :width], int(wide.group(1))
    mosaic = getattr(fmt, "is_bayer", False)  # PyAV >= 12
    if not (fmt.is_rgb or fmt.has_palette or mosaic) and fmt.components and fmt.components[0].is_luma:
        deep = fmt.components[0].bits > 8
        planar = frame.reformat(format="yuv444p16le" if deep else "yuv444p")
        luma, _ = video_luma(planar)
        return luma, 16 if deep else 8
    return frame.to_ndarray(format="gray"), 8


def video_stats(frame) -> Stats:  # type: ignore[no-untyped-def]
    """(sharpness, luminance, contrast) of a decoded video frame, on its full-resolution luma.

    NaN (logged at debug level) for a frame whose luma cannot be had: the frame itself did
    decode, so this never makes it an error.
    """
    try:
        luma, bits = video_luma(frame)
        return frame_stats(luma, bits)
    except Exception as exc:
        logger.debug("no frame statistics for a %s frame: %s", frame.format.name, _reason(exc))
        return NO_STATS


def image_stats(rgb: Image.Image) -> Stats:
    """(sharpness, luminance, contrast) of a decoded picture, on its BT.601 luma (Pillow's ``L``)."""
    return frame_stats(np.asarray(rgb.convert("L")))


def timestamp_gaps(pts: Sequence[int | None], tolerance: float = 0.25, steady: float = 0.8) -> dict[int, int]:
    """Where a constant-frame-rate stream's timestamps jump: ``{frame index: frame slots skipped}``.

    Information, never damage: intact files skip slots all the time (AVI drop frames, a
    screen recording that pauses, a camera that skips frames under load), and every player
    plays them without a glitch. A lost packet shows here too, but framepick calls a frame
    damaged only where the decoder shows it (``docs/decoding.md``). A stream counts as
    constant-frame-rate when at least ``steady`` of its frame intervals are within
    ``tolerance`` of the typical one (ms-rounded mkv timestamps included); there an interval
    of 1.5 typical ones or more is a gap. Variable-frame-rate streams and streams without
    timestamps have no gaps: their intervals have no expected value.
    """
    if len(pts) < 9 or any(p is None for p in pts):
        return {}
    steps = np.diff(np.asarray(pts, dtype=np.int64))
    if (steps <= 0).any():
        return {}
    values, counts = np.unique(steps, return_counts=True)
    typical = int(values[np.argmax(counts)])
    near = np.abs(steps - typical) <= tolerance * typical
    if near.mean() < steady:
        return {}
    period = float(steps[near].mean())  # ms-rounded steps (33, 33, 34) average to the real period
    jumps = np.flatnonzero(steps >= int(np.ceil(1.5 * typical)))  # integer steps: >= 1.5 typical ones
    return {int(i) + 1: max(1, round(int(steps[i]) / period) - 1) for i in jumps}


def reference_tracker(codec: Any) -> RefTracker | None:
    """A reader of the stream's own reference counter, for the codecs framepick can follow
    (H.264's ``frame_num``); None for the others, whose lost packets FFmpeg either reports
    (an undecodable packet, a flagged frame), drops with their dependants (HEVC), or conceals
    without a trace (``docs/decoding.md``)."""
    if codec.name != "h264":
        return None
    return RefTracker(bytes(codec.extradata) if codec.extradata else None)


def image_to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB, upright: EXIF rotation applied, alpha dropped, 16-bit scaled."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.int64)
        peak = 65535 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255
        array = np.clip(array * 255 // peak, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _load_rgb(path, size: int | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """An image file as RGB: full size, or shrunk as ``Image.thumbnail((size, size))`` does."""
    with Image.open(path) as image:
        if size is not None:
            image.draft(None, (size, size))  # JPEG: decode at a reduced scale, never below size
        image.load()
        rgb = image_to_rgb(image)
        if size is not None:
            rgb.thumbnail((size, size), Image.Resampling.BILINEAR)
        return np.asarray(rgb)


_LOST_REFERENCES = (
    "damaged: {} reference frame(s) before it are missing (H.264 frame_num skips them); FFmpeg repaired the "
    "picture from an earlier frame"
)
_SEEK_GAP = 300  # wanted frames further apart than this are reached by seeking, not decoding through

_IMAGE_THREADS = 4  # images decoded at once (Pillow releases the GIL while it decodes)


def _scan_image(index: int, path: Any, size: int | None, thumbnail: bool = False) -> DecodedFrame:
    """One image file as a frame: model-sized pixels and a digest for the duplicate check.

    JPEG files decode at a reduced scale in the DCT domain (``Image.draft``: 1/2, 1/4 or 1/8,
    never below the model size), which is most of the cost saved; their digest is then of
    the file's bytes, not of full-size pixels. That keeps the duplicate check exact in the
    direction that matters: identical files are identical frames, so nothing distinct is
    ever dropped; what it no longer catches is a copy whose bytes differ (other metadata)
    while its pixels do not. Other formats decode at full size and digest their pixels.

    The frame's statistics (:func:`image_stats`) are computed on the picture as decoded:
    full size, except for JPEG, where they are of the reduced-scale picture (a full-size
    decode only for them would cost most of what the reduced scale saves). The scale is the
    smallest at least ``size`` (1/8 when ``size`` is None), so a JPEG file's sharpness depends
    on the model's input size (its contrast a little, its luminance hardly).
    """
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            jpeg = image.format == "JPEG"
            if jpeg:
                image.draft(None, (size, size) if size is not None else (1, 1))
            image.load()
            rgb = image_to_rgb(image)
    except Exception as exc:
        return DecodedFrame(index, None, b"", error=f"cannot decode image: {_reason(exc)}")
    if jpeg:
        digest = _digest(b"file:", data)
    else:
        pixels = np.asarray(rgb)
        digest = _digest(f"rgb24:{pixels.shape[1]}x{pixels.shape[0]}".encode(), pixels.data)
    small = None if size is None else np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR))
    stats = image_stats(rgb)
    return DecodedFrame(index, small, digest, thumbnail=thumbnail_uri(rgb) if thumbnail else None, stats=stats)


class ImageDecoder:
    """Frame folders and loose images through Pillow; each file is one frame."""

    name = "pillow"

    def frames(self, source: Source, size: int | None, *, thumbnails: bool = False) -> Iterator[DecodedFrame]:
        """The frames in file order, decoded a few at a time in threads."""
        if len(source.files) == 1:  # a loose image: no pool (the run decodes those ahead itself)
            yield _scan_image(0, source.files[0], size, thumbnails)
            return
        workers = max(1, min(_IMAGE_THREADS, usable_cpus()))
        with ThreadPoolExecutor(workers, thread_name_prefix="framepick-images") as pool:
            pending: deque[Future[DecodedFrame]] = deque()
            for index, path in enumerate(source.files):
                pending.append(pool.submit(_scan_image, index, path, size, thumbnails))
                if len(pending) > 2 * workers:  # bounded look-ahead
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def read(
        self, source: Source, indices: Iterable[int], size: int | None = None, *, pts: Mapping[int, int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        for index in sorted(set(indices)):
            yield index, _load_rgb(source.files[index], size)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__module__.startswith("av") and getattr(exc, "strerror", None):
        text = str(exc.strerror)  # type: ignore[attr-defined]  # FFmpeg's words, without errno noise
    return text.splitlines()[0][:300]


DECODERS: dict[str, type[PyAVDecoder] | type[ImageDecoder]] = {
    "video": PyAVDecoder,
    "frames": ImageDecoder,
    "image": ImageDecoder,
}
"""The backend for each kind of source (both import with framepick's own dependencies)."""


def decoder_for(source: Source) -> Decoder:
    """The backend that reads this kind of source."""
    return DECODERS[source.kind]()
