"""The write stage's own parts: the PNG writer, the one-pass dump, and dump errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import framepick
import framepick.write as write_module
from framepick import OutputError, load_config
from framepick._png import DEFLATE, encode_png
from framepick.discover import scan_input
from framepick.thumbnails import Thumbnails
from framepick.write import dump_frames
from media import FakeEmbedder, decode_all, scene_frame


def _decode_png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGB" and image.format == "PNG"
    return np.asarray(image)


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 5, 3), (7, 1, 3), (61, 97, 3), (240, 320, 3)])
def test_png_round_trips_exactly(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    noise = rng.integers(0, 256, shape, dtype=np.uint8)  # every "Up" difference wraps somewhere
    smooth = np.broadcast_to(np.linspace(0, 255, shape[1], dtype=np.uint8)[None, :, None], shape).copy()
    for image in (noise, smooth, np.full(shape, 255, np.uint8)):
        np.testing.assert_array_equal(_decode_png(encode_png(image)), image)


def test_png_of_a_strided_view_and_a_real_frame() -> None:
    frame = scene_frame("circles", 3, 120, 160)
    view = frame[::2, ::-1]  # not contiguous: encoded as the pixels it shows
    np.testing.assert_array_equal(_decode_png(encode_png(view)), view)
    assert DEFLATE in ("isal", "zlib")
    assert len(encode_png(frame)) < frame.nbytes / 2  # it compresses: a smooth frame


@pytest.mark.parametrize("shape", [(4, 4), (4, 4, 4), (0, 4, 3), (4, 0, 3)])
def test_png_refuses_what_is_not_an_rgb_image(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected an"):
        encode_png(np.zeros(shape, np.uint8))


def test_dump_reads_each_source_once_and_hands_every_decoded_frame_to_visit(
    scenes_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Video frames are decoded once and encoded; a folder's frames are copied, decoded only when shown."""
    sources = {s.name: s for s in scan_input(scenes_input).sources}
    order = sorted(sources)
    a, folder = order.index("a.mp4"), order.index("folder")
    listed = [sources[name] for name in order]
    wanted = {a: {3: "a-03-mp4.png", 41: "a-41-mp4.png"}, folder: {0: "folder/first.png", 2: "folder/third.png"}}
    also = {a: [3, 10], order.index("b.mp4"): [5], folder: [2, 5]}
    reads: list[tuple[str, list[int]]] = []
    real_decoder_for = write_module.decoder_for

    def counting_decoder_for(source):  # type: ignore[no-untyped-def]
        decoder = real_decoder_for(source)
        read = decoder.read

        class Counting:
            def read(self, src, indices, size=None, pts=None):  # type: ignore[no-untyped-def]
                reads.append((src.name, sorted(indices)))
                return read(src, indices, size, pts=pts)

        return Counting()

    monkeypatch.setattr(write_module, "decoder_for", counting_decoder_for)
    seen: dict[tuple[int, int], np.ndarray] = {}
    written = dump_frames(
        tmp_path, listed, wanted, also_read=also, visit=lambda src, i, rgb: seen.__setitem__((src, i), rgb)
    )

    assert written == 4
    # one pass per source; the folder's dumped-only frame 0 is never decoded, only the shown 2 and 5
    assert sorted(reads) == [("a.mp4", [3, 10, 41]), ("b.mp4", [5]), ("folder", [2, 5])]
    assert set(seen) == {(a, 3), (a, 10), (a, 41), (order.index("b.mp4"), 5), (folder, 2), (folder, 5)}
    reference = decode_all(scenes_input / "a.mp4")
    for index, name in wanted[a].items():
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name)), reference[index])
        np.testing.assert_array_equal(seen[(a, index)], reference[index])
    for index, name in wanted[folder].items():
        assert (tmp_path / name).read_bytes() == sources["folder"].files[index].read_bytes()
    assert not (tmp_path / "a-10-mp4.png").exists()  # read for visit only
    thumbs = Thumbnails()
    thumbs.add(a, 10, seen[(a, 10)])
    assert thumbs.get(a, 10).startswith("data:image/jpeg;base64,")


def _dump_run(scenes_input: Path, out: Path, dump: bool = True) -> framepick.RunResult:
    config = load_config(
        overrides={
            "input_dir": str(scenes_input),
            "output_dir": str(out),
            "selected_sequence_length": 10,
            "stopping_condition.n_samples": 20,
            "dump_dataset": dump,
        }
    )
    return framepick.run(config, embedder=FakeEmbedder())


def test_dump_run_shows_thumbnails_from_the_same_pass(scenes_input: Path, tmp_path: Path) -> None:
    pages = {}
    for dump in (True, False):
        out = tmp_path / f"dump-{dump}"
        _dump_run(scenes_input, out, dump)
        pages[dump] = json.loads((out / "report.json").read_text())["page"]["thumbnails"]
        html = (out / "report.html").read_text()
        assert html.count("data:image/jpeg;base64,") >= pages[dump]["count"]
    assert pages[True]["count"] == pages[False]["count"] > 0  # the same thumbnails, read either way
    assert pages[True]["failed_sources"] == {}


def test_a_failed_dump_fails_the_run_and_keeps_the_previous_result(
    scenes_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _dump_run(scenes_input, out)
    before = (out / "report.json").read_bytes()

    def full_disk(rgb: np.ndarray, target: Path, image_format: str) -> None:
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(write_module, "_save_frame", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        _dump_run(scenes_input, out)
    assert (out / "report.json").read_bytes() == before  # the report did not swallow the error
    assert not list(out.glob(".framepick-partial-*"))


def test_image_thumbnails_come_from_the_scan_not_a_second_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import framepick.pipeline as pipeline

    root = tmp_path / "in"
    root.mkdir()
    for i in range(8):  # loose JPEG images: a source each
        Image.fromarray(scene_frame(("checker", "circles")[i % 2], i, 120, 160)).save(root / f"img_{i}.jpg")

    def no_second_read(sources):  # type: ignore[no-untyped-def]
        raise AssertionError("the write stage read the images again")

    monkeypatch.setattr(pipeline, "source_reader", no_second_read)
    config = load_config(
        overrides={"input_dir": str(root), "output_dir": str(tmp_path / "out"), "stopping_condition.n_samples": 3}
    )
    result = framepick.run(config, embedder=FakeEmbedder())
    assert sorted(result.thumbnails) == [(i, 0) for i in range(8)]
    page = json.loads((tmp_path / "out/report.json").read_text())["page"]["thumbnails"]
    assert page["count"] == 8 and page["failed_sources"] == {}
    assert all(uri.startswith("data:image/jpeg;base64,") for uri in result.thumbnails.values())
