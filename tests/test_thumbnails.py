"""Thumbnails read the fast way (the decoder shrinks frames, no full-resolution RGB) look like the
ones made the old way (full-resolution RGB, then Pillow), for videos and image folders."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from framepick._resize import fit_within
from framepick.decode import ImageDecoder, PyAVDecoder
from framepick.discover import discover
from framepick.thumbnails import READ_SIZE, THUMB_SIZE, make_thumbnails, source_reader, thumbnail_uri
from media import write_video


def _pixels(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"), np.int16)


def _textured(t: int, height: int, width: int) -> np.ndarray:
    """A camera-like frame: smooth gradients, a few edges, a moving square, a little noise."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy + 4 * t) % 256], axis=-1).astype(np.float64)
    img[(yy // 40 + xx // 40) % 2 == 0] *= 0.6
    img += np.random.default_rng(t).normal(0, 4, img.shape)
    y, x = (t * 7) % (height - 30), (t * 11) % (width - 30)
    img[y : y + 30, x : x + 30] = [250, 240, 30]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("thumbs")
    write_video(root / "wide.mp4", [_textured(t, 180, 320) for t in range(24)], lossless=False)
    write_video(root / "tall.mp4", [_textured(t, 200, 112) for t in range(12)], lossless=False)
    (root / "photos").mkdir()
    for i in range(4):
        Image.fromarray(_textured(i, 300, 400)).save(root / "photos" / f"p{i}.jpg", quality=90)
        Image.fromarray(_textured(i, 90, 60)).save(root / "photos" / f"q{i}.png")
    return root


def _full_size(source, index: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(height, width) of the source's frame ``index`` as stored."""
    if source.kind == "video":
        with av.open(str(source.path)) as container:
            stream = container.streams.video[0]
            return stream.height, stream.width
    with Image.open(source.files[index]) as image:
        return image.height, image.width


def _old_way(source, indices: list[int]) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """How thumbnails were made before: full-resolution RGB from read(), then Pillow."""
    decoder = PyAVDecoder() if source.kind == "video" else ImageDecoder()
    return {i: thumbnail_uri(rgb) for i, rgb in decoder.read(source, indices)}


def test_fast_thumbnails_look_like_the_old_ones(media: Path) -> None:
    sources = discover(media)
    assert sorted(s.kind for s in sources) == ["frames", "video", "video"]
    reader = source_reader(sources)
    for src, source in enumerate(sources):
        n = len(source.files) if source.kind != "video" else (24 if "wide" in source.name else 12)
        wanted = sorted({0, 1, n // 2, n - 1})
        fast = make_thumbnails({src: wanted}, reader)
        assert not fast.failed
        old = _old_way(source, wanted)
        diffs = []
        for i in wanted:
            a, b = _pixels(old[i]), _pixels(fast.uris[(src, i)])
            assert a.shape == b.shape, (source.name, i)  # the same size, to the pixel
            assert max(a.shape[:2]) == min(THUMB_SIZE, max(_full_size(source, i))), (source.name, i, a.shape)
            diffs.append(float(np.abs(a - b).mean()))
        assert np.mean(diffs) < 3.0 and max(diffs) < 4.0, (source.name, diffs)


def test_read_size_shrinks_in_the_decoder(media: Path) -> None:
    """read(size=...) returns frames at fit_within's size: the thumbnail's, never enlarged."""
    video = next(s for s in discover(media) if s.name == "wide.mp4")
    got = dict(PyAVDecoder().read(video, [3, 20], size=READ_SIZE))
    assert sorted(got) == [3, 20] and all(a.shape == (108, 192, 3) for a in got.values())
    assert fit_within(320, 180, 96) == (96, 54) and fit_within(112, 200, 96) == (54, 96)
    assert fit_within(60, 90, 96) == (60, 90)
    photos = next(s for s in discover(media) if s.kind == "frames")
    small = dict(ImageDecoder().read(photos, [0, 4], size=READ_SIZE))
    assert small[0].shape == (144, 192, 3) and small[4].shape == (90, 60, 3)
