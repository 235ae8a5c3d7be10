"""The write stage's own parts: the PNG writer, the one-pass dump, and dump errors."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import framepick
import framepick.write as write_module
from framepick import OutputError, load_config
from framepick._png import DEFLATE, encode_png
from framepick.discover import dumped_name, scan_input
from framepick.thumbnails import Thumbnails
from framepick.write import dump_frames
from media import FakeEmbedder, decode_all, scene_frame, scene_video


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
    import framepick.thumbnails as thumbnails  # where the report's thumbnails are read back from the sources

    root = tmp_path / "in"
    root.mkdir()
    for i in range(8):  # loose JPEG images: a source each
        Image.fromarray(scene_frame(("checker", "circles")[i % 2], i, 120, 160)).save(root / f"img_{i}.jpg")

    def no_second_read(source):  # type: ignore[no-untyped-def]
        raise AssertionError("the write stage read the images again")

    monkeypatch.setattr(thumbnails, "decoder_for", no_second_read)
    config = load_config(
        overrides={"input_dir": str(root), "output_dir": str(tmp_path / "out"), "stopping_condition.n_samples": 3}
    )
    result = framepick.run(config, embedder=FakeEmbedder())
    assert sorted(result.thumbnails) == [(i, 0) for i in range(8)]
    page = json.loads((tmp_path / "out/report.json").read_text())["page"]["thumbnails"]
    assert page["count"] == 8 and page["failed_sources"] == {}
    assert all(uri.startswith("data:image/jpeg;base64,") for uri in result.thumbnails.values())


# --- the dumped files' format (issue #19): each file's bytes are in the format its name says ----

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
_IMPORT_FILES = {"manifest.jsonl", "label_studio_tasks.json", "samples.json"}


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A video, frame folders of RGB and grayscale JPEG, PNG and BMP, EXIF-rotated JPEG frames
    (40 wide, 30 high, shown turned: 30 wide) and loose JPEG images."""
    root = tmp_path_factory.mktemp("mixed")
    scene_video(root / "clip.mp4", ["checker", "stripes"], 6)
    scenes = ("gradient", "circles", "diagonal")
    folders = (("rgb", ".jpg", "RGB"), ("gray", ".jpg", "L"), ("png", ".png", "RGB"), ("bmp", ".bmp", "RGB"))
    for k, (folder, ext, mode) in enumerate(folders):
        (root / folder).mkdir()
        for i in range(4):  # t differs in every folder: no frame is another's exact duplicate
            frame = scene_frame(scenes[i % 3], 4 * k + i, 48, 64)
            Image.fromarray(frame).convert(mode).save(root / folder / f"f{i}{ext}")
    (root / "rotated").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to display
    for i in range(2):
        Image.fromarray(scene_frame(scenes[i], i, 30, 40)).save(root / "rotated" / f"r{i}.jpg", exif=exif)
    for i in range(2):
        Image.fromarray(scene_frame(scenes[i], 9, 40, 40)).convert("L" if i else "RGB").save(root / f"loose{i}.jpeg")
    return root


def _mixed_run(mixed_input: Path, out: Path, image_format: str) -> framepick.RunResult:
    """Every frame selected (sequences of one frame), dumped, with every labeling tool's file."""
    config = load_config(
        overrides={
            "input_dir": str(mixed_input),
            "output_dir": str(out),
            "selected_sequence_length": 1,
            "stopping_condition.n_samples": 1000,
            "dump_dataset": True,
            "output_image_format": image_format,
            "export_format": "cvat,label_studio,fiftyone",
        }
    )
    return framepick.run(config, embedder=FakeEmbedder())


@pytest.fixture(scope="module")
def mixed_out(mixed_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The output folder of the run with an output_image_format, run once when first asked for."""
    outs: dict[str, Path] = {}

    def out(image_format: str) -> Path:
        if image_format not in outs:  # kept once the run succeeded
            folder = tmp_path_factory.mktemp(f"dump-{image_format}") / "out"
            _mixed_run(mixed_input, folder, image_format)
            outs[image_format] = folder
        return outs[image_format]

    return out


def _selected(out: Path) -> list[tuple[str, str]]:
    """(source, frame name) of every selected frame, from report.json."""
    report = json.loads((out / "report.json").read_text())
    return [(seq["video_name"], name) for seq in report["sequences"] for name in seq["frame_names"]]


def _dumped(out: Path) -> list[Path]:
    sampled = out / "data/sampled"
    return sorted(p for p in sampled.rglob("*") if p.is_file() and p.name not in _IMPORT_FILES)


@pytest.mark.parametrize("image_format", ["png", "jpg"])
def test_frames_of_folders_and_loose_images_are_dumped_byte_for_byte(
    mixed_input: Path, mixed_out: Callable[[str], Path], image_format: str
) -> None:
    """JPEG (grayscale too), PNG and BMP frames and loose images: the dumped file is the source
    file, under its own name, whatever output_image_format says (it is for video frames)."""
    out = mixed_out(image_format)
    images = [name for source, name in _selected(out) if source != "clip.mp4"]
    assert {name.split("/")[0] for name in images} == {
        "rgb",
        "gray",
        "png",
        "bmp",
        "rotated",
        "loose0.jpeg",
        "loose1.jpeg",
    }
    assert len(images) == 4 * 4 + 2 + 2  # every frame: none of these is decoded for the dump
    for name in images:
        assert (out / "data/sampled" / name).read_bytes() == (mixed_input / name).read_bytes(), name
    with Image.open(out / "data/sampled/gray/f0.jpg") as gray:
        assert (gray.format, gray.mode) == ("JPEG", "L")  # not re-encoded as RGB PNG (issue #19)
    with Image.open(out / "data/sampled/rotated/r0.jpg") as rotated:
        assert rotated.getexif()[0x0112] == 6 and rotated.size == (40, 30)  # EXIF kept: shown turned


@pytest.mark.parametrize(("image_format", "magic"), [("png", b"\x89PNG\r\n\x1a\n"), ("jpg", b"\xff\xd8\xff")])
def test_video_frames_are_encoded_as_output_image_format(
    mixed_input: Path, mixed_out: Callable[[str], Path], image_format: str, magic: bytes
) -> None:
    out = mixed_out(image_format)
    report = json.loads((out / "report.json").read_text())
    frames = [(seq["frame_names"][0], seq["frame_indices"][0]) for seq in report["sequences"]]
    frames = [(name, index) for name, index in frames if name.startswith("clip-")]
    assert len(frames) == 12
    reference = decode_all(mixed_input / "clip.mp4")
    for name, index in frames:
        dumped = out / "data/sampled" / f"{name.rsplit('.', 1)[0]}.{image_format}"
        assert dumped.read_bytes().startswith(magic), dumped.name
        pixels = np.asarray(Image.open(dumped)).astype(int)
        tolerance = 0 if image_format == "png" else 8  # PNG lossless, JPEG at quality 95
        assert np.abs(pixels - reference[index]).mean() <= tolerance, dumped.name


@pytest.mark.parametrize("image_format", ["png", "jpg"])
def test_every_dumped_file_is_in_the_format_its_extension_names(
    mixed_out: Callable[[str], Path], image_format: str
) -> None:
    out = mixed_out(image_format)
    files = _dumped(out)
    assert len(files) == len(_selected(out)) == 12 + 20  # one file a selected frame, nothing else
    for path in files:
        with Image.open(path) as image:
            assert image.format == _FORMATS[path.suffix.lower()], path.relative_to(out)


@pytest.mark.parametrize("image_format", ["png", "jpg"])
def test_labeling_tools_are_handed_the_dumped_files_as_they_are(
    mixed_out: Callable[[str], Path], image_format: str
) -> None:
    """CVAT's manifest, Label Studio's tasks and FiftyOne's samples name every dumped file, with
    its real extension (the tools take the mime type from it) and, for CVAT, its size as shown:
    an EXIF-rotated frame has width and height swapped, as CVAT's own manifest tool has them."""
    out = mixed_out(image_format)
    sampled = out / "data/sampled"
    on_disk = {p.relative_to(sampled).as_posix() for p in _dumped(out)}
    lines = [json.loads(line) for line in (sampled / "manifest.jsonl").read_text().splitlines()[2:]]
    assert {line["name"] + line["extension"] for line in lines} == on_disk
    for line in lines:
        with Image.open(sampled / (line["name"] + line["extension"])) as image:
            assert _FORMATS[line["extension"]] == image.format
            shown = ImageOps.exif_transpose(image).size
        assert (line["width"], line["height"]) == shown, line["name"]
    rotated = [line for line in lines if line["name"].startswith("rotated/")]
    assert [(line["width"], line["height"]) for line in rotated] == [(30, 40), (30, 40)]
    tasks = json.loads((sampled / "label_studio_tasks.json").read_text())
    prefix = "/data/local-files/?d=data/sampled/"
    assert {task["data"]["image"].removeprefix(prefix) for task in tasks} == on_disk
    samples = json.loads((sampled / "samples.json").read_text())["samples"]
    assert {sample["filepath"] for sample in samples} == on_disk


def test_thumbnails_of_copied_frames_still_come_from_the_dump_pass(mixed_out: Callable[[str], Path]) -> None:
    """Copied frames are decoded for the report only; every source gives its thumbnails."""
    for out in map(mixed_out, ("png", "jpg")):
        page = json.loads((out / "report.json").read_text())["page"]["thumbnails"]
        assert page["count"] > 0 and page["failed_sources"] == {}
        assert (out / "report.html").read_text().count("data:image/jpeg;base64,") >= page["count"]


def test_dumped_name_keeps_a_files_name_and_names_video_frames_by_format() -> None:
    assert dumped_name("shots/a.jpg", "shots", "png") == "shots/a.jpg"
    assert dumped_name("shots/a.png", "shots", "jpg") == "shots/a.png"
    assert dumped_name("photo.bmp", "photo.bmp", "jpg") == "photo.bmp"
    assert dumped_name("clip-07-mp4.png", "clip.mp4", "png") == "clip-07-mp4.png"
    assert dumped_name("clip-07-mp4.png", "clip.mp4", "jpg") == "clip-07-mp4.jpg"
    assert dumped_name("in/clip-07-mp4.png", "in/clip.mp4", "jpg") == "in/clip-07-mp4.jpg"
