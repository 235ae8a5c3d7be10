"""Stage 2: decode sources into frames, behind a small backend interface.

A decoder turns one :class:`~framepick.discover.Source` into a stream of
:class:`DecodedFrame` (model-sized RGB pixels plus a digest of the full decoded pixels), and
can read selected frames back at full resolution for ``dump_dataset``. A frame that cannot
be decoded is yielded with ``error`` set; a source that breaks off raises
:class:`~framepick.errors.DecodeError` after the frames that did decode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .discover import Source
from .errors import DecodeError

__all__ = [
    "DECODERS",
    "DecodedFrame",
    "Decoder",
    "ImageDecoder",
    "PyAVDecoder",
    "decoder_for",
    "image_to_rgb",
]

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class DecodedFrame:
    """One frame: ``pixels`` is the model-sized RGB image (None when ``error`` is set)."""

    index: int
    pixels: np.ndarray | None
    digest: bytes
    pts: int | None = None
    seconds: float | None = None
    error: str | None = None


class Decoder(Protocol):
    """What a decoding backend provides."""

    name: str

    def frames(self, source: Source, size: int) -> Iterator[DecodedFrame]:
        """Every frame of ``source`` once, in order, resized to ``size``×``size`` RGB."""
        ...

    def read(self, source: Source, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """The full-resolution RGB pixels of the frames at ``indices``, in index order."""
        ...


def _digest(*parts: bytes) -> bytes:
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

    def _slots(self, source: Source) -> Iterator[tuple[int, object | None, str | None]]:
        """Every frame slot in decode order: ``(index, frame, None)`` or ``(index, None, reason)``.

        Decoding is strict (FFmpeg's ``err_detect=explode``): a packet FFmpeg cannot decode
        takes one frame index and is reported as damaged instead of being concealed, and the
        frames after it that are not key frames are reported too (they are predicted from the
        damaged one), until the next key frame. Indices therefore follow the stream's frames,
        the same in :meth:`frames` and :meth:`read`. A demuxer failure, or fewer frames than
        the container declares (a truncated file), raises :class:`DecodeError` at the end.
        """
        container, stream = self._open(source)
        codec = stream.codec_context
        codec.options = {**codec.options, "err_detect": "explode"}
        index = 0
        damaged: int | None = None  # the damaged frame that later frames may be predicted from
        try:
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except Exception as exc:
                    raise DecodeError(f"reading stopped after frame {index - 1}: {_reason(exc)}") from exc
                try:
                    frames = codec.decode(packet)
                except Exception as exc:
                    yield index, None, f"damaged frame data: {_reason(exc)}"
                    damaged = index
                    index += 1
                    continue
                for frame in frames:
                    if damaged is not None and not frame.key_frame:
                        yield index, None, f"predicted from damaged frame {damaged}"
                    else:
                        damaged = None
                        yield index, frame, None
                    index += 1
            declared = stream.frames
        finally:
            container.close()
        if declared and index < declared:
            raise DecodeError(f"truncated: {declared - index} of {declared} frames missing at the end")

    def frames(self, source: Source, size: int) -> Iterator[DecodedFrame]:
        time_base = None
        for index, frame, error in self._slots(source):
            if frame is None:
                yield DecodedFrame(index, None, b"", error=error)
                continue
            try:
                small = frame.reformat(width=size, height=size, format="rgb24", interpolation="AREA")  # type: ignore[attr-defined]
                pixels = small.to_ndarray()
                digest = _frame_digest(frame)
            except Exception as exc:
                yield DecodedFrame(index, None, b"", error=f"cannot convert frame: {_reason(exc)}")
                continue
            pts = frame.pts  # type: ignore[attr-defined]
            time_base = frame.time_base or time_base  # type: ignore[attr-defined]
            seconds = float(pts * time_base) if pts is not None and time_base else None
            yield DecodedFrame(index, pixels, digest, pts, seconds)

    def read(self, source: Source, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = set(indices)
        if not wanted:
            return
        last = max(wanted)
        for index, frame, _ in self._slots(source):
            if frame is not None and index in wanted:
                yield index, frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
            if index >= last:
                return


_PLANAR_8BIT = ("yuv420p", "yuvj420p")  # to_ndarray() stacks Y, U, V rows: verified byte-equal


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


def _load_rgb(path) -> np.ndarray:  # type: ignore[no-untyped-def]
    with Image.open(path) as image:
        image.load()
        return np.asarray(image_to_rgb(image))


class ImageDecoder:
    """Frame folders and loose images through Pillow; each file is one frame."""

    name = "pillow"

    def frames(self, source: Source, size: int) -> Iterator[DecodedFrame]:
        for index, path in enumerate(source.files):
            try:
                rgb = _load_rgb(path)
            except Exception as exc:
                yield DecodedFrame(index, None, b"", error=f"cannot decode image: {_reason(exc)}")
                continue
            small = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))
            header = f"rgb24:{rgb.shape[1]}x{rgb.shape[0]}".encode()
            yield DecodedFrame(index, small, _digest(header, rgb.data))

    def read(self, source: Source, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        for index in sorted(set(indices)):
            yield index, _load_rgb(source.files[index])


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__module__.startswith("av") and getattr(exc, "strerror", None):
        text = str(exc.strerror)  # type: ignore[attr-defined]  # FFmpeg's words, without errno noise
    return text.splitlines()[0][:300]


DECODERS: dict[str, type] = {"pyav": PyAVDecoder, "pillow": ImageDecoder}


def decoder_for(source: Source) -> Decoder:
    """The backend that reads this kind of source."""
    if source.kind == "video":
        return PyAVDecoder()
    return ImageDecoder()
