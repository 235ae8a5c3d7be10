"""Built-in frame metadata: sharpness, luminance and contrast, computed while decoding.

The kernel against its float64 definition, what the numbers do on real pictures (blur,
brightness, flat frames) through both decoders, the video luma path, NaN for frames that did
not decode, the cache, and ``data/metadata.csv`` of a whole run.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter

import framepick
import framepick._framestats as fs
from framepick import load_config
from framepick._framestats import FRAME_METADATA, frame_stats, frame_stats_reference
from framepick.cache import CACHE_VERSION, EmbeddingCache
from framepick.decode import ImageDecoder, PyAVDecoder, image_to_rgb, video_luma
from framepick.discover import scan_input
from framepick.embed import embed_sources
from framepick.write import write_metadata_csv
from media import FakeEmbedder, scene_frame, write_video

REL = 1e-9


def same(a: tuple[float, ...] | np.ndarray, b: tuple[float, ...] | np.ndarray, rel: float = REL) -> bool:
    """Equal within ``rel`` (relative, absolute near 0), NaN where the other is NaN."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=rel, atol=rel)))


def sharp_picture(size: int = 96) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (size, size, 3), dtype=np.uint8)


def blurred(rgb: np.ndarray, radius: float = 2.0) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))


def luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


# ------------------------------------------------------------------------------ the kernel


@pytest.mark.parametrize(
    "shape", [(3, 3), (4, 7), (17, 1283), (257, 259), (300, 1000), (720, 1280), (1080, 1920), (1000, 3)]
)
def test_kernel_equals_reference_uint8(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    noise = rng.integers(0, 256, shape, dtype=np.uint8)
    natural = np.clip(rng.normal(128, 30, shape), 0, 255).astype(np.uint8)
    for x in (noise, natural):
        assert same(frame_stats(x), frame_stats_reference(x)), shape


def test_kernel_equals_reference_with_strides_and_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A padded plane (rows longer than the picture) and many blocks with a short last one."""
    rng = np.random.default_rng(5)
    padded = rng.integers(0, 256, (61, 128), dtype=np.uint8)[:, :100]
    expected = frame_stats_reference(padded)
    assert same(frame_stats(padded), expected)
    monkeypatch.setattr(fs, "_BLOCK", 7 * 100)  # 7 rows a block: 59 interior rows = 8 blocks + 3 rows
    assert same(frame_stats(padded), expected)
    monkeypatch.setattr(fs, "_vecdot", None)  # numpy 1.x: row dots through matmul
    assert same(frame_stats(padded), expected)
    wide = rng.integers(0, 1024, (40, 50), dtype=np.uint16)
    assert same(frame_stats(wide, 10), frame_stats_reference(wide, 10))


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_kernel_equals_reference_wide(bits: int) -> None:
    """Deeper luma (10-bit video) on the 8-bit scale: values / 2**(bits - 8)."""
    x = np.random.default_rng(bits).integers(0, 2**bits, (130, 211), dtype=np.uint16)
    assert same(frame_stats(x, bits), frame_stats_reference(x, bits))
    eight = np.random.default_rng(1).integers(0, 256, (50, 60), dtype=np.uint8)
    assert same(frame_stats(eight.astype(np.uint16) << (bits - 8), bits), frame_stats(eight))


def test_kernel_flat_bright_and_tiny() -> None:
    flat = np.full((40, 50), 77, np.uint8)
    assert frame_stats(flat) == (0.0, 77.0, 0.0)
    dark = np.clip(np.random.default_rng(0).normal(60, 20, (64, 64)), 0, 255).astype(np.uint8)
    bright = dark + np.uint8(100)
    assert frame_stats(bright)[1] == pytest.approx(frame_stats(dark)[1] + 100)
    assert frame_stats(bright)[0] == frame_stats(dark)[0]  # an offset changes no difference
    tiny = np.array([[0, 255]], np.uint8)  # no interior pixel: no Laplacian
    sharpness, mean, contrast = frame_stats(tiny)
    assert math.isnan(sharpness) and mean == 127.5 and contrast == 127.5
    assert all(math.isnan(v) for v in frame_stats(np.zeros((0, 5), np.uint8)))
    with pytest.raises(ValueError):
        frame_stats(np.zeros((4, 4), np.float32))


def test_blur_lowers_sharpness_keeps_luminance() -> None:
    sharp = luma(sharp_picture())
    soft = luma(blurred(sharp_picture()))
    assert frame_stats(soft)[0] < 0.2 * frame_stats(sharp)[0]
    assert frame_stats(soft)[1] == pytest.approx(frame_stats(sharp)[1], abs=3)
    assert frame_stats(soft)[2] < frame_stats(sharp)[2]


# ------------------------------------------------------------------------------ video


@pytest.fixture(scope="module")
def stats_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lossless frames: sharp noise, the same blurred, a dark and a bright checkerboard, flat grey."""
    checker = scene_frame("checker", 0)
    frames = [
        sharp_picture(),
        blurred(sharp_picture()),
        (checker // 3).astype(np.uint8),
        np.clip(checker.astype(int) // 3 + 120, 0, 255).astype(np.uint8),
        np.full((96, 96, 3), 128, np.uint8),
    ]
    return write_video(tmp_path_factory.mktemp("stats") / "in" / "clip.mp4", frames)


def test_video_frames_carry_stats(stats_video: Path) -> None:
    (source,) = scan_input(stats_video.parent).sources
    stats = [f.stats for f in PyAVDecoder().frames(source, None)]
    assert len(stats) == 5 and all(s is not None for s in stats)
    sharp, soft, dark, bright, flat = stats  # type: ignore[misc]
    assert soft[0] < 0.2 * sharp[0]
    assert bright[1] > dark[1] + 100
    assert flat[0] == 0.0 and flat[2] == 0.0
    assert flat[1] == pytest.approx(16 + 128 * 219 / 255, abs=1)  # limited-range Y as stored
    # the same numbers as the kernel on the Y plane as FFmpeg hands it out (yuv444p: planes stacked)
    with av.open(str(stats_video)) as container:
        planes = [f.to_ndarray() for f in container.decode(video=0)]
    for got, y in zip(stats, planes):
        assert same(got, frame_stats_reference(np.ascontiguousarray(y[0] if y.shape[0] == 3 else y[..., 0])))


def _frame(rgb: np.ndarray, fmt: str) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)


def test_video_luma_is_the_y_plane_as_stored() -> None:
    """yuv420p: a zero-copy view of Y, padding skipped; its range as stored (gray conversion would stretch it)."""
    rgb = np.random.default_rng(2).integers(0, 256, (66, 70, 3), dtype=np.uint8)
    frame = _frame(rgb, "yuv420p")
    assert frame.planes[0].line_size > 70  # padded rows: the view must skip the padding
    y, bits = video_luma(frame)
    assert bits == 8 and y.shape == (66, 70)
    assert np.shares_memory(y, np.frombuffer(frame.planes[0], np.uint8))
    assert np.array_equal(y, frame.to_ndarray()[:66])  # to_ndarray stacks Y, then U and V rows
    stretched = frame.to_ndarray(format="gray").astype(float)  # FFmpeg maps 16-235 to 0-255
    assert np.abs(stretched - (y.astype(float) - 16) * 255 / 219).max() <= 1.0
    # full-range (yuvj420p) Y is what the gray conversion gives
    full = _frame(rgb, "yuvj420p")
    assert np.array_equal(video_luma(full)[0], full.to_ndarray(format="gray"))


@pytest.mark.parametrize("fmt", ["yuv420p10le", "p010le", "yuyv422", "nv12", "yuv444p"])
def test_video_luma_other_layouts_match_8bit_y(fmt: str) -> None:
    """Deeper and packed layouts give the same luma, to the rounding of the conversions."""
    rgb = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    y8 = video_luma(_frame(rgb, "yuv420p"))[0].astype(float)
    y, bits = video_luma(_frame(rgb, fmt))
    assert np.abs(y / 2 ** (bits - 8) - y8).max() <= 1.0
    assert same(frame_stats(y, bits)[1:], frame_stats(y8.astype(np.uint8))[1:], rel=0.01)


def test_video_luma_rgb_frames_use_bt601() -> None:
    rgb = np.random.default_rng(6).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    y, bits = video_luma(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
    assert bits == 8 and np.abs(y.astype(int) - luma(rgb).astype(int)).max() <= 1


# ------------------------------------------------------------------------------ images


def test_image_frames_carry_stats(tmp_path: Path) -> None:
    """PNG decodes at full size: the stats are those of the file's luma."""
    folder = tmp_path / "in" / "shots"
    folder.mkdir(parents=True)
    pictures = [sharp_picture(), blurred(sharp_picture()), np.full((96, 96, 3), 200, np.uint8)]
    for i, rgb in enumerate(pictures):
        Image.fromarray(rgb).save(folder / f"{i}.png")
    (folder / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (source,) = scan_input(tmp_path / "in").sources
    frames = list(ImageDecoder().frames(source, 32))
    for frame, rgb in zip(frames, pictures):
        assert frame.stats == frame_stats(luma(rgb))
    assert frames[1].stats[0] < 0.2 * frames[0].stats[0]  # type: ignore[index]
    assert frames[2].stats == (0.0, 200.0, 0.0)
    assert frames[3].error is not None and frames[3].stats is None


def test_jpeg_stats_are_of_the_reduced_decode(tmp_path: Path) -> None:
    """JPEG is decoded at a reduced DCT scale (>= model size) and the stats come from that picture."""
    folder = tmp_path / "in" / "shots"
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:512, 0:512]
    checker = ((((yy // 32) + (xx // 32)) % 2) * 200 + 20).astype(np.uint8)
    rgb = np.dstack([checker] * 3)
    Image.fromarray(rgb).save(folder / "a_sharp.jpg", quality=95)
    Image.fromarray(blurred(rgb, 8)).save(folder / "b_soft.jpg", quality=95)
    (source,) = scan_input(tmp_path / "in").sources
    frames = list(ImageDecoder().frames(source, 64))
    for frame, path in zip(frames, sorted(folder.iterdir())):
        with Image.open(path) as image:
            image.draft(None, (64, 64))
            image.load()
            assert image.size == (64, 64)  # 1/8 scale
            reduced = frame_stats(np.asarray(image_to_rgb(image).convert("L")))
        with Image.open(path) as image:
            full = frame_stats(np.asarray(image_to_rgb(image).convert("L")))
        assert frame.stats == reduced and not same(frame.stats, full, rel=0.01)  # type: ignore[arg-type]
    assert frames[1].stats[0] < 0.5 * frames[0].stats[0]  # type: ignore[index]


# ------------------------------------------------------------------------------ collected, cached


def test_embed_sources_collects_metadata_without_a_model(stats_video: Path, tmp_path: Path) -> None:
    """embedder=None (precomputed embeddings): nothing is embedded, every frame has its numbers."""
    folder = stats_video.parent / "shots"
    folder.mkdir(exist_ok=True)
    Image.fromarray(sharp_picture()).save(folder / "0.png")
    (folder / "1.png").write_bytes(b"broken")
    sources = scan_input(stats_video.parent).sources
    results = embed_sources(sources, None)
    video, images = (results[i] for i in np.argsort([s.kind != "video" for s in sources]))
    assert video.metadata.shape == (5, 3) and np.isfinite(video.metadata).all()
    assert not video.embedded.any()
    assert images.metadata.shape == (2, 3)
    assert same(images.metadata[0], frame_stats(luma(sharp_picture())))
    assert np.isnan(images.metadata[1]).all(), "a frame that did not decode has no numbers"

    cache = EmbeddingCache(tmp_path / "cache", "scan-only")
    assert cache.root.name == f"v{CACHE_VERSION}"
    for source, result in zip(sources, results):
        assert cache.store(source, result)
        loaded = cache.load(source)
        assert loaded is not None and loaded.metadata.dtype == np.float64
        assert np.array_equal(loaded.metadata, result.metadata, equal_nan=True)


# ------------------------------------------------------------------------------ data/metadata.csv


def test_write_metadata_csv_format(tmp_path: Path) -> None:
    names = ["a.png", 'odd, "name".png', "c.png"]
    values = np.array([[1234.56789012, 0.5, 1e-7], [np.nan, np.nan, np.nan], [0.0, 255.0, 3.0]])
    path = tmp_path / "data" / "metadata.csv"
    write_metadata_csv(path, names, ["v,1", "v,1", "w"], values)
    text = path.read_text()
    assert text.splitlines()[0] == "filenames,video_name,lightly.sharpness,lightly.luminance,lightly.contrast"
    assert text.splitlines()[2] == '"odd, ""name"".png","v,1",,,'
    rows = list(csv.reader(text.splitlines()))
    assert [r[:2] for r in rows[1:]] == [["a.png", "v,1"], ['odd, "name".png', "v,1"], ["c.png", "w"]]
    assert rows[1][2:] == ["1.23456789e+03", "5.00000000e-01", "1.00000000e-07"]
    assert [float(v) for v in rows[3][2:]] == [0.0, 255.0, 3.0]
    with pytest.raises(ValueError):
        write_metadata_csv(path, names, ["v"] * 3, values[:2])


def test_run_writes_metadata_csv(scenes_input: Path, tmp_path: Path) -> None:
    """Every frame of the table, in table order, named as in embeddings.csv; the same numbers with
    precomputed embeddings (no model runs) as with the model."""
    settings = {
        "input_dir": str(scenes_input),
        "selected_sequence_length": 10,
        "stopping_condition.n_samples": 20,
        "model.input_size": 64,
        "cache_dir": str(tmp_path / "cache"),
    }
    out = tmp_path / "out"
    result = framepick.run(load_config(overrides={**settings, "output_dir": str(out)}), embedder=FakeEmbedder())
    table = result.table
    with open(out / "data" / "metadata.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["filenames", "video_name", *FRAME_METADATA]
    body = rows[1:]
    assert len(body) == len(table) == 125  # 60 + 45 video frames, 20 images
    assert [r[0] for r in body] == table.names
    assert [r[1] for r in body] == [result.sources[i].name for i in table.source]
    written = np.array([[float(v) if v else np.nan for v in r[2:]] for r in body])
    assert np.isfinite(table.metadata).all()
    assert same(written, table.metadata, rel=1e-8)
    embedded = {r[0] for r in csv.reader(open(out / "data" / "embeddings.csv"))}
    assert embedded - {"filenames"} <= set(table.names)
    # sharp checkerboard frames of a.mp4 beat the smooth gradient of b.mp4
    first = {name: row for name, row in zip(table.names, table.metadata)}
    assert first["a-00-mp4.png"][0] > first["b-00-mp4.png"][0]

    again = tmp_path / "again"
    rerun = framepick.run(
        load_config(
            overrides={**settings, "output_dir": str(again), "embeddings": str(out / "data" / "embeddings.csv")}
        )
    )
    assert rerun.report["counts"]["frames_embedded"] == 0
    assert np.array_equal(rerun.table.metadata, table.metadata)
    assert (again / "data" / "metadata.csv").read_bytes() == (out / "data" / "metadata.csv").read_bytes()
