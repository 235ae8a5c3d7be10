from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framepick.decode import DECODERS, ImageDecoder, PyAVDecoder, image_to_rgb
from framepick.discover import discover
from media import decode_all, frame_folder, scene_frame, write_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dec")
    # B-frames and frame threading: the classic case where the last frames get lost.
    frames = [scene_frame("checker" if t < 17 else "noise", t, 64, 80) for t in range(37)]
    write_video(root / "v.mp4", frames, lossless=False)
    frame_folder(root / "f", ["stripes", "gradient"], 4, size=40)
    return root


def _source(root: Path, kind: str):  # type: ignore[no-untyped-def]
    return next(s for s in discover(root) if s.kind == kind)


@pytest.mark.parametrize("threads", [True, False])
def test_video_every_frame_once_in_order(inputs: Path, threads: bool) -> None:
    source = _source(inputs, "video")
    frames = list(PyAVDecoder(threads=threads).frames(source, 32))
    assert [f.index for f in frames] == list(range(37))
    reference = decode_all(source.path)
    assert len(reference) == 37
    # timestamps increase, pixels are model-sized RGB
    seconds = [f.seconds for f in frames]
    assert seconds == sorted(seconds) and seconds[0] == 0.0
    assert all(f.pixels is not None and f.pixels.shape == (32, 32, 3) for f in frames)


def test_threaded_and_plain_decoding_agree(inputs: Path) -> None:
    source = _source(inputs, "video")
    a = [f.digest for f in PyAVDecoder(threads=True).frames(source, 16)]
    b = [f.digest for f in PyAVDecoder(threads=False).frames(source, 16)]
    assert a == b and len(set(a)) == 37


@pytest.mark.parametrize("kind", ["video", "frames"])
def test_contract_read_matches_reference(inputs: Path, kind: str) -> None:
    """Every backend: read() returns the full-resolution RGB of exactly the asked frames."""
    source = _source(inputs, kind)
    decoder = PyAVDecoder() if kind == "video" else ImageDecoder()
    assert type(decoder) in DECODERS.values()
    n = len(list(decoder.frames(source, 16)))
    wanted = [n - 1, 0, 3]
    got = dict(decoder.read(source, wanted))
    assert sorted(got) == sorted(wanted)
    if kind == "video":
        reference = decode_all(source.path)
        for i in wanted:
            np.testing.assert_array_equal(got[i], reference[i])
    else:
        from PIL import Image

        for i in wanted:
            np.testing.assert_array_equal(got[i], np.asarray(Image.open(source.files[i]).convert("RGB")))


def test_image_decoder_flags_broken_file_and_goes_on(tmp_path: Path) -> None:
    folder = frame_folder(tmp_path / "f", ["checker"], 3, size=32)
    (folder / "frame_001.png").write_bytes(b"not a png")
    source = discover(tmp_path)[0]
    frames = list(ImageDecoder().frames(source, 16))
    assert [f.error is not None for f in frames] == [False, True, False]
    assert frames[1].pixels is None and frames[2].pixels is not None


def test_image_to_rgb_modes() -> None:
    from PIL import Image

    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    assert image_to_rgb(rgba).getpixel((0, 0)) == (10, 20, 30)
    gray16 = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert image_to_rgb(gray16).getpixel((0, 0)) == (255, 255, 255)
    cmyk = Image.new("CMYK", (4, 4), (0, 0, 0, 0))
    assert image_to_rgb(cmyk).mode == "RGB"
