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


def test_timestamp_gaps_only_in_constant_rate_streams() -> None:
    from framepick.decode import timestamp_gaps

    cfr = list(range(0, 30 * 512, 512))
    dropped = cfr[:7] + cfr[8:20] + cfr[22:]  # one frame missing before 7, two before 19
    assert timestamp_gaps(dropped) == {7: 1, 19: 2}
    assert timestamp_gaps(cfr) == {}
    # 29.97 fps in a millisecond time base (mkv): 33/34 ms steps are one rate, not gaps
    ms = [round(i * 1000 / 29.97) for i in range(40)]
    assert timestamp_gaps(ms) == {}
    assert list(timestamp_gaps(ms[:10] + ms[11:])) == [10]
    # variable frame rate: irregular steps say nothing about loss
    rng = np.random.default_rng(0)
    vfr = np.cumsum(rng.choice([1, 2, 3, 5], 60)).tolist()
    assert timestamp_gaps(vfr) == {}
    # a pause that is not a whole number of frames is still a gap (2.6 intervals: about 2 slots skipped)
    assert timestamp_gaps(cfr[:10] + [cfr[9] + 1331 + 512 * i for i in range(20)]) == {10: 2}
    assert timestamp_gaps([None] * 20) == {} and timestamp_gaps(cfr[:5]) == {}


def test_dropped_packets_and_damage_are_flagged_not_lost(tmp_path: Path) -> None:
    """A remux without two packets: FFmpeg decodes on quietly; the timestamps show both gaps, and
    H.264's frame_num shows the lost reference frame."""
    import av

    from framepick.checks import run_checks
    from framepick.embed import embed_sources
    from framepick.table import build_table

    frames = [scene_frame("checker" if t < 20 else "noise", t, 64, 64) for t in range(40)]
    full = write_video(tmp_path / "full.mp4", frames, lossless=False)
    root = tmp_path / "in"
    root.mkdir()
    with av.open(str(full)) as src, av.open(str(root / "dropped.mp4"), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for i, packet in enumerate(src.demux(stream)):
            if packet.dts is None or i in (11, 25):
                continue
            packet.stream = out
            dst.mux(packet)
    source = discover(root)[0]
    decoded = list(PyAVDecoder().frames(source, 16))
    assert len(decoded) == len(decode_all(source.path)) == 38
    assert not any(f.error for f in decoded)

    class Zeros:
        name, dim, input_size, signature = "zeros", 4, 16, "zeros"

        def embed(self, pixels: np.ndarray) -> np.ndarray:
            return np.zeros((len(pixels), 4), np.float32)

    results = embed_sources([source], Zeros())
    table = build_table([source], results, 4)
    check = run_checks([source], results, table)
    # both losses leave a gap in the timestamps; only the lost reference frame damages a picture
    # (a non-reference B-frame is predicted from, not a predictor: losing it costs that frame only)
    assert len(check.gaps["dropped.mp4"]) == 2
    with av.open(str(full)) as src:
        lost = [p.pts for i, p in enumerate(src.demux(src.streams.video[0])) if p.dts is not None and i in (11, 25)]
    kinds = {f.pts: av.video.frame.PictureType(f.pict_type).name for f in av.open(str(full)).decode(video=0)}
    assert [kinds[p] for p in lost] == ["B", "P"], "premise: packet 11 is a B-frame, 25 a P-frame"
    flagged = sorted(check.corrupt_reasons)
    assert len(flagged) == 1 and "reference frame(s) before it are missing" in check.corrupt_reasons[flagged[0]]
    off = run_checks([source], results, table, corruptness_check=False)
    assert off.corrupt_names == [] and not off.corrupt.any() and off.n_damaged == 1


def _jpeg_folder(root: Path, n: int = 12, size: tuple[int, int] = (384, 288)) -> Path:
    from PIL import Image

    folder = root / "cam"
    folder.mkdir(parents=True)
    for i in range(n):
        frame = scene_frame(("checker", "circles", "gradient")[i % 3], i, size[1], size[0])
        Image.fromarray(frame).save(folder / f"frame_{i:03d}.jpg", quality=92)
    return folder


def test_jpeg_frames_decode_at_reduced_scale_close_to_full_decoding(tmp_path: Path) -> None:
    """Equivalence of the fast path (DCT-domain reduction, threads) with a full decode and resize."""
    from PIL import Image

    folder = _jpeg_folder(tmp_path)
    (folder / "frame_005.jpg").write_bytes((folder / "frame_005.jpg").read_bytes()[:2000])  # truncated
    source = discover(tmp_path)[0]
    frames = list(ImageDecoder().frames(source, 96))
    assert [f.index for f in frames] == list(range(12))  # file order, whatever the threads did
    assert [f.error is not None for f in frames] == [i == 5 for i in range(12)]
    for f in frames:
        if f.error is None:
            full = Image.open(source.files[f.index]).convert("RGB").resize((96, 96), Image.BILINEAR)
            assert f.pixels is not None and f.pixels.shape == (96, 96, 3)
            assert np.abs(f.pixels.astype(int) - np.asarray(full, dtype=int)).mean() < 4


def test_jpeg_digest_is_of_the_file_so_only_identical_files_are_duplicates(tmp_path: Path) -> None:
    import shutil

    from PIL import Image

    folder = _jpeg_folder(tmp_path, n=3)
    shutil.copy(folder / "frame_000.jpg", folder / "frame_003.jpg")  # the same file again
    Image.open(folder / "frame_000.jpg").save(folder / "frame_004.jpg", quality=60)  # other bytes, other pixels
    png = folder / "frame_005.png"
    Image.fromarray(scene_frame("checker", 0, 288, 384)).save(png)
    Image.open(png).save(folder / "frame_006.png", compress_level=0)  # other bytes, same pixels
    frames = list(ImageDecoder().frames(discover(tmp_path)[0], 32))
    digests = [f.digest for f in frames]
    assert digests[3] == digests[0] and len({digests[i] for i in (0, 1, 2, 4)}) == 4
    assert digests[5] == digests[6]  # PNG keeps the pixel digest: re-encoded copies still match


def test_jpeg_exif_rotation_applies_on_the_fast_path(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "rot"
    folder.mkdir()
    frame = np.zeros((200, 400, 3), np.uint8)
    frame[:, :200] = 255  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(frame).save(folder / "a.jpg", exif=exif, quality=95)
    (pixels,) = [f.pixels for f in ImageDecoder().frames(discover(tmp_path)[0], 64)]
    assert pixels is not None
    top, bottom = pixels[:32].mean(), pixels[32:].mean()
    assert top > 200 and bottom < 50  # upright: the white half is now on top
