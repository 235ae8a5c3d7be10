"""export_clips: every selected sequence as an MP4 holding exactly its frames (data/clips/).

The inputs are made here so that the copy rule meets each of its cases: sequences that start
on a keyframe and hold a whole closed GOP (copied, H.264 without and with B-frames, HEVC in
Matroska), sequences that start between keyframes, sequences whose last B-frames refer to a
frame after them, an open GOP whose keyframes are followed by leading pictures (all encoded),
a frame folder and a loose image (encoded), and an odd-sized video (copied from its keyframe,
else encoded in 4:4:4). Every clip is decoded and compared with the source: identical pixels
when copied, at least 40 dB per frame when encoded.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

import framepick
import framepick.clips
import framepick.table
from framepick import load_config
from framepick.clips import CLIP_CRF, FOLDER_FPS, MIN_PSNR_DB, clip_relpath, write_clips
from framepick.discover import Source
from media import FakeEmbedder, decode_all, frame_folder, scene_frame, write_video

LENGTH = 10
FPS = 10
HEVC = "libx265" in av.codecs_available

# name -> encoder settings; 40 frames each (four sequences of 10)
VIDEOS: dict[str, dict[str, str]] = {
    # keyframes at 0 and 20, no B-frames: 0-9 and 20-29 are copied, 10-19 and 30-39 encoded
    "gop.mp4": {"x264-params": "keyint=20:min-keyint=20:scenecut=0:bframes=0"},
    # a closed GOP of 10 with B-frames: every sequence is one GOP and is copied
    "bframes.mp4": {"x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=3:b-adapt=0"},
    # GOPs of 20 with B-frames: 0-9 starts on a keyframe, but its frame 9 is a B-frame decoded
    # after frame 12, which the copy would not hold: encoded
    "tail.mkv": {"x264-params": "keyint=20:min-keyint=20:scenecut=0:bframes=3:b-adapt=0"},
    # open GOP: the keyframe at 10 is followed in decoding order by frame 9, a leading picture
    # (so 10-19 is encoded), and 0-9 has that keyframe inside its run (so it is encoded too)
    "opengop.mp4": {"x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=3:b-adapt=0:open-gop=1"},
}
if HEVC:
    VIDEOS["hevc.mkv"] = {"x265-params": "keyint=10:min-keyint=10:scenecut=0:open-gop=0:bframes=2:log-level=error"}

EXPECTED_METHODS = {
    "gop.mp4": ["copy", "encode", "copy", "encode"],
    "bframes.mp4": ["copy"] * 4,
    "tail.mkv": ["encode"] * 4,
    "opengop.mp4": ["encode"] * 4,
    "hevc.mkv": ["copy"] * 4,
    "folder": ["encode"] * 2,
    "odd.mp4": ["copy", "encode"],  # one GOP: 0-9 starts on its keyframe
}


def _frames(n: int, start: int = 0, size: tuple[int, int] = (96, 96)) -> list[np.ndarray]:
    """Smooth scenes (which CRF 12 keeps above 40 dB) and hard-edged ones (which need more);
    ``start`` moves the square, so that no two sources share a frame (duplicates are dropped)."""
    scenes = ("gradient", "circles", "gradient", "checker")
    return [scene_frame(scenes[(i // 10) % 4], start + i, *size) for i in range(n)]


def _video(path: Path, frames: list[np.ndarray], options: dict[str, str]) -> None:
    codec = "libx265" if "x265-params" in options else "libx264"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", **options}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


def _decode_order(path: Path) -> list[tuple[int, bool]]:
    """(frame index, keyframe) of each packet, in decoding order (constant FPS)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (round(float(p.pts * stream.time_base) * FPS), p.is_keyframe)
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]


@pytest.fixture(scope="module")
def clips_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clips_in")
    for k, (name, options) in enumerate(VIDEOS.items()):
        _video(root / name, _frames(40, 40 * k), options)
    frame_folder(root / "folder", ["gradient", "circles"], 10)  # RGB PNGs, no frame rate
    write_video(root / "odd.mp4", _frames(20, 200, (71, 95)), fps=FPS)  # 95x71, yuv444p: 4:2:0 cannot hold it
    return root


@pytest.fixture(scope="module")
def clips_run(clips_input: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[framepick.RunResult, Path]:
    out = tmp_path_factory.mktemp("clips_run") / "out"
    config = load_config(
        overrides={
            "input_dir": str(clips_input),
            "output_dir": str(out),
            "selected_sequence_length": LENGTH,
            "stopping_condition.n_samples": 1.0,  # every sequence: every case of the rule is met
            "export_clips": True,
            "model.input_size": 32,
        }
    )
    return framepick.run(config, embedder=FakeEmbedder()), out


def _entries(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "report.json").read_text())["clips"]


def _psnr(want: np.ndarray, got: np.ndarray) -> float:
    mse = float(np.mean((want.astype(np.float64) - got) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _source_frames(root: Path, name: str) -> list[np.ndarray]:
    if (root / name).is_dir():
        return [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / name).iterdir())]
    return decode_all(root / name)


def test_the_media_meets_each_case_of_the_rule(clips_input: Path) -> None:
    """The premises of EXPECTED_METHODS, read from the packets themselves."""
    gop = _decode_order(clips_input / "gop.mp4")
    assert [i for i, key in gop if key] == [0, 20] and [i for i, _ in gop] == list(range(40))
    tail = [i for i, _ in _decode_order(clips_input / "tail.mkv")]
    assert tail.index(12) < tail.index(9)  # frame 9 needs frame 12
    opengop = _decode_order(clips_input / "opengop.mp4")
    order = [i for i, _ in opengop]
    assert (10, True) in opengop and order.index(9) == order.index(10) + 1  # a leading picture after the keyframe
    assert order.index(10) < order.index(9)
    bframes = [i for i, _ in _decode_order(clips_input / "bframes.mp4")]
    assert bframes != sorted(bframes)  # B-frames: decoding order is not display order
    assert all(sorted(bframes[k : k + 10]) == list(range(k, k + 10)) for k in range(0, 40, 10))


def test_every_sequence_has_its_clip_named_as_clip_relpath(clips_run) -> None:  # type: ignore[no-untyped-def]
    result, out = clips_run
    entries = _entries(out)
    assert entries == result.report["clips"]
    assert len(entries) == len(result.selection.indices) == result.report["counts"]["selected_sequences"]
    sources = {s.name: s for s in result.sources}
    n_frames = {s["name"]: s["frames"] for s in result.report["sources"]}
    for entry, seq in zip(entries, result.report["sequences"]):  # selection order
        assert (entry["source"], entry["first"], entry["last"]) == (
            seq["video_name"],
            seq["frame_indices"][0],
            seq["frame_indices"][-1],
        )
        assert entry["path"] == clip_relpath(
            sources[entry["source"]], entry["first"], entry["last"], n_frames[entry["source"]]
        )
        assert entry["frames"] == LENGTH and "error" not in entry
    assert {e["path"] for e in entries} == {p.relative_to(out).as_posix() for p in (out / "data/clips").rglob("*")}
    paths = {e["path"] for e in entries}
    assert {"data/clips/gop-00-09.mp4", "data/clips/folder-00-09.mp4", "data/clips/odd-10-19.mp4"} <= paths


def test_copy_where_the_rule_allows_it_encode_elsewhere(clips_run) -> None:  # type: ignore[no-untyped-def]
    _, out = clips_run
    got: dict[str, list[str]] = {}
    for entry in sorted(_entries(out), key=lambda e: (e["source"], e["first"])):
        got.setdefault(entry["source"], []).append(entry["method"])
        if entry["method"] == "copy":
            assert entry["crf"] is None and entry["psnr_db"] is None
            assert entry["codec"] == ("hevc" if entry["source"] == "hevc.mkv" else "h264")
        else:
            assert entry["codec"] == "h264" and entry["crf"] in (CLIP_CRF, framepick.clips.RETRY_CRF, 0)
    assert got == {name: EXPECTED_METHODS[name] for name in got}
    assert set(got) == set(VIDEOS) | {"folder", "odd.mp4"}


def test_clips_hold_exactly_the_source_frames(clips_run, clips_input: Path) -> None:  # type: ignore[no-untyped-def]
    """Decoded independently: a copy's pixels equal the source's; an encode's are >= 40 dB."""
    _, out = clips_run
    sources: dict[str, list[np.ndarray]] = {}
    worst = math.inf
    for entry in _entries(out):
        reference = sources.setdefault(entry["source"], _source_frames(clips_input, entry["source"]))
        want = reference[entry["first"] : entry["last"] + 1]
        got = decode_all(out / entry["path"])
        assert len(got) == len(want) == LENGTH, entry["path"]
        psnr = min(_psnr(w, g) for w, g in zip(want, got))
        if entry["method"] == "copy":
            assert psnr == math.inf, entry["path"]
        else:
            assert psnr >= MIN_PSNR_DB, entry
            # None only for an encode whose every frame equals the source's (losslessly, at CRF 0)
            assert entry["psnr_db"] == (None if psnr == math.inf else pytest.approx(psnr, abs=0.01)), entry
            worst = min(worst, psnr)
    assert worst >= MIN_PSNR_DB


def test_clips_run_at_the_source_frame_rate(clips_run) -> None:  # type: ignore[no-untyped-def]
    _, out = clips_run
    for entry in _entries(out):
        rate = Fraction(FOLDER_FPS) if entry["source"] == "folder" else Fraction(FPS)
        with av.open(str(out / entry["path"])) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == rate, entry["path"]
            assert stream.codec_context.name == entry["codec"]
            times = [float(f.time) for f in container.decode(stream)]
        assert times[0] == 0 and np.allclose(np.diff(times), float(1 / rate)), entry["path"]
        assert entry["fps"] == float(rate)


def test_encoded_clips_play_everywhere_where_they_can(clips_run) -> None:  # type: ignore[no-untyped-def]
    """4:2:0 at CRF 12 where that reaches 40 dB (smooth scenes); 4:4:4 only for odd sizes and
    what 4:2:0 cannot hold; BT.709 tags, so players convert back with the matrix used."""
    _, out = clips_run
    encoded = [e for e in _entries(out) if e["method"] == "encode"]
    assert any(e["crf"] == CLIP_CRF and e["pix_fmt"] == "yuv420p" for e in encoded)
    for entry in encoded:
        with av.open(str(out / entry["path"])) as container:
            codec = container.streams.video[0].codec_context
            assert codec.format.name == entry["pix_fmt"] and codec.colorspace == 1
        if entry["source"] == "odd.mp4":
            assert entry["pix_fmt"] == "yuv444p" and (codec.width, codec.height) == (95, 71)


def test_a_source_that_fails_is_listed_and_the_others_are_written(clips_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result, _ = clips_run
    broken = tmp_path / "gop.mp4"
    broken.write_bytes(b"not a video")
    sources = [Source("video", broken, s.name) if s.name == "gop.mp4" else s for s in result.sources]
    rows = result.sequences.rows[result.selection.indices]
    clips = write_clips(tmp_path / "out", sources, result.table, rows)
    assert [c.rank for c in clips] == list(range(1, len(rows) + 1))  # each knows its sequence: one a sequence
    failed = [c for c in clips if c.method is None]
    assert {c.source for c in failed} == {"gop.mp4"} and len(failed) == 4
    assert all(c.error and not (tmp_path / "out" / c.path).exists() for c in failed)
    assert all((tmp_path / "out" / c.path).is_file() for c in clips if c.method is not None)
    assert set(failed[0].to_json()) == {"path", "source", "first", "last", "frames", "method", "error"}


def test_a_failing_clip_does_not_end_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for k, name in enumerate(("a.mp4", "b.mp4")):
        _video(root / name, _frames(20, 20 * k), VIDEOS["gop.mp4"])
    real = framepick.clips._write_clip

    def fail_on_b(target: Path, source: Source, *args: Any) -> dict[str, Any]:
        if source.name == "b.mp4":
            raise OSError("b.mp4 went away")
        return real(target, source, *args)

    monkeypatch.setattr(framepick.clips, "_write_clip", fail_on_b)
    overrides = {"input_dir": str(root), "output_dir": str(tmp_path / "out"), "selected_sequence_length": LENGTH}
    overrides |= {"stopping_condition.n_samples": 1.0, "export_clips": True, "model.input_size": 32}
    framepick.run(load_config(overrides=overrides), embedder=FakeEmbedder())
    entries = _entries(tmp_path / "out")
    assert sorted((e["source"], e["method"]) for e in entries) == [
        ("a.mp4", "copy"),
        ("a.mp4", "encode"),
        ("b.mp4", None),
        ("b.mp4", None),
    ]
    assert all(e["error"] == "b.mp4 went away" for e in entries if e["method"] is None)
    assert "clip data/clips/b-00-09.mp4 not written: b.mp4 went away" in (tmp_path / "out/log.txt").read_text()
    assert sorted(p.name for p in (tmp_path / "out/data/clips").iterdir()) == ["a-00-09.mp4", "a-10-19.mp4"]


def test_no_clips_and_no_clip_work_without_export_clips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "in"
    root.mkdir()
    _video(root / "a.mp4", _frames(20), VIDEOS["gop.mp4"])

    def not_called(*args: Any) -> list[dict[str, Any]]:
        raise AssertionError("write_clips ran without export_clips")

    monkeypatch.setattr("framepick.pipeline.write_clips", not_called)
    overrides = {"input_dir": str(root), "output_dir": str(tmp_path / "out"), "selected_sequence_length": LENGTH}
    overrides |= {"stopping_condition.n_samples": 1.0, "model.input_size": 32}
    framepick.run(load_config(overrides=overrides), embedder=FakeEmbedder())
    assert not (tmp_path / "out/data/clips").exists()
    assert "clips" not in json.loads((tmp_path / "out/report.json").read_text())


def test_a_loose_image_is_a_one_frame_clip_of_its_own_size(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    rgb = scene_frame("circles", 3, 17, 33)  # odd both ways
    Image.fromarray(rgb).save(root / "still.png")
    overrides = {"input_dir": str(root), "output_dir": str(tmp_path / "out"), "selected_sequence_length": 1}
    overrides |= {"stopping_condition.n_samples": 1.0, "export_clips": True, "model.input_size": 32}
    result = framepick.run(load_config(overrides=overrides), embedder=FakeEmbedder())
    [entry] = result.report["clips"]
    assert (entry["path"], entry["method"], entry["pix_fmt"]) == ("data/clips/still-0-0.mp4", "encode", "yuv444p")
    [got] = decode_all(tmp_path / "out" / entry["path"])
    assert got.shape == rgb.shape and _psnr(rgb, got) >= MIN_PSNR_DB
    with av.open(str(tmp_path / "out" / entry["path"])) as container:
        assert container.streams.video[0].average_rate == FOLDER_FPS


def test_frames_of_different_sizes_make_no_clip(tmp_path: Path) -> None:
    """A frame folder may mix sizes (the scan resizes every frame); one clip cannot: it fails alone."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, size in enumerate([(32, 32), (32, 32), (48, 32)]):
        Image.fromarray(scene_frame("gradient", i, *size)).save(folder / f"f{i}.png")
    source = Source("frames", folder, "mixed", tuple(sorted(folder.iterdir())))
    table = framepick.table.FrameTable(
        names=[f"mixed/f{i}.png" for i in range(3)],
        source=np.zeros(3, np.int32),
        index=np.arange(3, dtype=np.int32),
        pts=[None] * 3,
        seconds=np.full(3, np.nan),
        digests=[b""] * 3,
        embeddings=np.zeros((3, 1), np.float32),
        decoded=np.ones(3, bool),
    )
    [first, second] = write_clips(tmp_path / "out", [source], table, np.array([[0, 1], [1, 2]]))
    assert first.method == "encode" and (tmp_path / "out" / first.path).is_file()
    assert second.method is None and second.error == "frame 2 is 32x48, the clip's first 32x32"
    assert not (tmp_path / "out" / second.path).exists()


def test_sources_that_share_a_stem_keep_their_extension() -> None:
    """cam0.mp4, cam0.mkv, the frame folder cam0 and a loose cam0.jpg would all be cam0-{first}-{last}.mp4."""
    root = Path("in")
    sources = [
        Source("video", root / "cam0.mp4", "cam0.mp4"),
        Source("video", root / "Cam0.MKV", "Cam0.MKV"),  # clashes too on case-insensitive file systems
        Source("frames", root / "cam0", "cam0"),
        Source("image", root / "cam0.jpg", "cam0.jpg"),
        Source("video", root / "d/cam1.mp4", "d/cam1.mp4"),
        Source("frames", root / "d/cam1.x", "d/cam1.x"),  # a folder's dot is no extension
    ]
    assert framepick.clips.shared_stems(sources) == {"cam0"}
    names = [clip_relpath(s, 40, 49, 100, keep_extension=True) for s in sources]
    assert names == [
        "data/clips/cam0-mp4-040-049.mp4",
        "data/clips/Cam0-MKV-040-049.mp4",
        "data/clips/cam0-040-049.mp4",
        "data/clips/cam0-jpg-040-049.mp4",
        "data/clips/d/cam1-mp4-040-049.mp4",
        "data/clips/d/cam1.x-040-049.mp4",
    ]
    assert [clip_relpath(s, 40, 49, 100) for s in sources[4:]] == [
        "data/clips/d/cam1-040-049.mp4",
        "data/clips/d/cam1.x-040-049.mp4",
    ]


def test_clips_of_sources_with_one_stem_are_all_written(tmp_path: Path) -> None:
    """Two videos, a frame folder and a loose image named cam0, and a frame folder named like a
    kept extension (cam0-mp4): every clip has its own file, holding its own source's frames."""
    root = tmp_path / "in"
    root.mkdir()
    _video(root / "cam0.mp4", _frames(20, 0), VIDEOS["bframes.mp4"])
    _video(root / "cam0.mkv", _frames(20, 20), VIDEOS["bframes.mp4"])
    for folder, start in (("cam0", 40), ("cam0-mp4", 60)):
        (root / folder).mkdir()
        for i, rgb in enumerate(_frames(10, start)):
            Image.fromarray(rgb).save(root / folder / f"frame_{i:03d}.png")
    Image.fromarray(_frames(1, 80)[0]).save(root / "cam0.jpg")  # one frame: no sequence, still a stem
    out = tmp_path / "out"
    overrides = {"input_dir": str(root), "output_dir": str(out), "selected_sequence_length": LENGTH}
    overrides |= {"stopping_condition.n_samples": 1.0, "export_clips": True, "model.input_size": 32}
    overrides |= {"export_format": "cvat"}
    framepick.run(load_config(overrides=overrides), embedder=FakeEmbedder())
    entries = _entries(out)
    paths = [e["path"] for e in entries]
    assert len(entries) == 6 and len(set(paths)) == 6 and all(e["method"] for e in entries)
    assert set(paths) == {p.relative_to(out).as_posix() for p in (out / "data/clips").glob("*.mp4")}
    by_source = {(e["source"], e["first"]): e["path"].removeprefix("data/clips/") for e in entries}
    # cam0.mp4's frames 0-9 and the folder cam0-mp4 both make cam0-mp4-00-09.mp4: the later one gets -2
    guarded = sorted([by_source.pop(("cam0.mp4", 0)), by_source.pop(("cam0-mp4", 0))])
    assert guarded == ["cam0-mp4-00-09-2.mp4", "cam0-mp4-00-09.mp4"]
    assert by_source == {
        ("cam0.mp4", 10): "cam0-mp4-10-19.mp4",
        ("cam0.mkv", 0): "cam0-mkv-00-09.mp4",
        ("cam0.mkv", 10): "cam0-mkv-10-19.mp4",
        ("cam0", 0): "cam0-00-09.mp4",
    }
    for entry in entries:
        want = _source_frames(root, entry["source"])[entry["first"] : entry["last"] + 1]
        got = decode_all(out / entry["path"])
        assert len(got) == LENGTH and min(_psnr(w, g) for w, g in zip(want, got)) >= MIN_PSNR_DB, entry
    tasks = json.loads((out / "data/clips/cvat_tasks.json").read_text())
    assert sorted(f"data/clips/{t['video']}" for t in tasks) == sorted(paths)
    assert len({t["manifest"] for t in tasks}) == 6
