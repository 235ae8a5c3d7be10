"""Gaps in the timestamps are information, not damage (docs/decoding.md, "What is damaged").

Intact files skip timestamp slots all the time: an AVI recorder writes empty chunks for the
frames it dropped, a screen recorder pauses, a camera runs at a variable rate, a 90 kHz
stream has many ticks per frame. Every player plays them without a glitch, so framepick
calls none of their frames damaged; it reports the gaps per source. Damage needs the
decoder's word: a flagged frame, an undecodable packet, or (H.264) a reference counter that
skips pictures, which is what a lost packet leaves.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import framepick
from framepick.checks import run_checks
from framepick.embed import embed_sources
from framepick.table import build_table
from media import FakeEmbedder, normal_scheduling, scene_frame
from test_conformance import decode_to_end, drop_packets, flagged, only_source, plain_decode

# Frame slots with some left out: 30 frames in 33 slots (gaps before frames 1, 8 and 18).
SLOTS = [s for s in range(33) if s not in (1, 9, 20)]
GAPS = {1: 1, 8: 1, 18: 1}


def _write(path: Path, codec: str, pts: list[int], tick: Fraction, pix_fmt: str = "yuv420p", **options: str) -> Path:
    """Encode one moving frame per entry of ``pts`` (in ``tick`` units), exactly at those times."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream(codec, rate=round(1 / tick) if tick >= Fraction(1, 1000) else 30)
        except (av.error.FFmpegError, ValueError) as exc:
            pytest.skip(f"cannot add a {codec} stream here: {exc}")
        stream.width, stream.height, stream.pix_fmt = 96, 64, pix_fmt
        stream.options = dict(options)
        stream.codec_context.time_base = tick
        for i, at in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(scene_frame("checker" if i < 10 else "circles", i, 64, 96), "rgb24")
            frame.pts, frame.time_base = at, tick
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    normal_scheduling()
    return path


def _pause(n: int = 40, at: int = 15, paused: int = 60) -> list[int]:
    """A screen recording at 30 fps that pauses for ``paused`` frame slots after frame ``at``."""
    return [i if i < at else i + paused for i in range(n)]


# name: (codec, ext, pts, tick, pix_fmt, options, gaps expected: {frame index: slots skipped})
INTACT = {
    "avi-drop-frames-cinepak": ("cinepak", "avi", SLOTS, Fraction(1, 15), "rgb24", {}, GAPS),
    "avi-drop-frames-mpeg4": ("mpeg4", "avi", SLOTS, Fraction(1, 15), "yuv420p", {"qscale": "3"}, GAPS),
    "mp4-paused-recording": ("libx264", "mp4", _pause(), Fraction(1, 30), "yuv420p", {"preset": "ultrafast"}, {15: 60}),
    "mkv-paused-recording": ("libx264", "mkv", _pause(), Fraction(1, 30), "yuv420p", {"preset": "ultrafast"}, {15: 60}),
    "mp4-90khz-skipped-slots": (
        "libx264", "mp4", [3003 * s for s in SLOTS], Fraction(1, 90000), "yuv420p", {"preset": "ultrafast"}, GAPS
    ),
    # 15 fps in hundredths of a second: 6 or 7 ticks a frame, a skipped slot is 13 or 14
    "mkv-many-ticks-skipped-slots": (
        "libx264", "mkv", [round(s * 100 / 15) for s in SLOTS], Fraction(1, 100), "yuv420p", {"preset": "ultrafast"},
        GAPS,
    ),
    "mp4-vfr": (
        "libx264", "mp4", np.cumsum(np.random.default_rng(3).choice([1, 2, 3, 5], 40)).tolist(), Fraction(1, 30),
        "yuv420p", {"preset": "ultrafast"}, {},
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gaps")
    return {
        name: _write(root / name / f"clip.{ext}", codec, pts, tick, pix_fmt, **options)
        for name, (codec, ext, pts, tick, pix_fmt, options, _) in INTACT.items()
    }


@pytest.mark.parametrize("name", sorted(INTACT))
def test_intact_file_with_gaps_has_no_damaged_frame(name: str, intact: dict[str, Path]) -> None:
    path = intact[name]
    expected_gaps = INTACT[name][-1]
    reference = plain_decode(path)
    steps = np.diff([f.pts for f in reference])
    assert (steps > 1.5 * np.median(steps)).any() or name == "mp4-vfr", "premise: the timestamps skip slots"

    frames, problem = decode_to_end(only_source(path.parent))
    assert problem is None
    assert [f.index for f in frames] == list(range(len(reference)))
    assert [f.pts for f in frames] == [f.pts for f in reference]
    assert flagged(frames) == [], "an intact file's frame called damaged"

    source = only_source(path.parent)
    results = embed_sources([source], FakeEmbedder())
    check = run_checks([source], results, build_table([source], results, FakeEmbedder.dim))
    assert not check.damaged.any() and check.corrupt_names == []
    names = [f"clip-{i:02d}-{path.suffix[1:]}.png" for i in expected_gaps]
    assert check.gaps == ({source.name: dict(zip(names, expected_gaps.values()))} if expected_gaps else {})


def test_run_over_intact_files_with_gaps_lists_nothing_and_reports_the_gaps(
    intact: dict[str, Path], tmp_path: Path
) -> None:
    """The whole run, check on: nothing corrupt, every frame of a plain decode in embeddings.csv,
    and each gap in report.json's ``timestamp_gaps`` (count, slots skipped, where)."""
    root = tmp_path / "in"
    for name, path in intact.items():
        (root / name).mkdir(parents=True)
        (root / name / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    config = framepick.load_config(
        input_dir=root, output_dir=out, selected_sequence_length=1, stopping_condition={"n_samples": 5},
        enable_corruptness_check=True, remove_exact_duplicates=False,
    )  # fmt: skip
    framepick.run(config, embedder=FakeEmbedder())
    assert (out / "filenames/corrupt_filenames.txt").read_text().strip() == ""
    report = json.loads((out / "report.json").read_text())
    assert report["corrupt"] == {} and report["counts"]["frames_damaged"] == 0
    frames = {s["name"]: s["frames"] for s in report["sources"]}
    assert frames == {f"{name}/{path.name}": len(plain_decode(path)) for name, path in intact.items()}
    rows = (out / "data/embeddings.csv").read_text().splitlines()
    assert len(rows) - 1 == sum(frames.values())
    gaps = report["timestamp_gaps"]
    want = {f"{n}/{intact[n].name}": g[-1] for n, g in INTACT.items() if g[-1]}
    assert sorted(gaps) == sorted(want)
    for source, at in want.items():
        assert gaps[source]["count"] == len(at) and gaps[source]["slots_skipped"] == sum(at.values())
        stem, ext = source.rsplit(".", 1)
        assert gaps[source]["before"] == {f"{stem}-{i:02d}-{ext}.png": n for i, n in at.items()}


@pytest.mark.parametrize(("container", "bframes"), [("mp4", 0), ("mkv", 0), ("avi", 0), ("mp4", 3), ("mov", 3)])
def test_lost_h264_reference_frames_damage_the_repaired_picture(container: str, bframes: int, tmp_path: Path) -> None:
    """Packets of reference frames left out of an H.264 stream: FFmpeg flags nothing and decodes
    on from an invented reference, but ``frame_num`` skips. The picture decoded over the loss is
    damaged (the one whose packet follows the lost one in decode order), nothing else is."""
    params = f"keyint=20:scenecut=0:bframes={bframes}:b-pyramid=none"
    tick = Fraction(1, 25)
    full = _write(tmp_path / f"full.{container}", "libx264", list(range(40)), tick, preset="ultrafast", **{
        "x264-params": params
    })  # fmt: skip
    with av.open(str(full)) as src:
        packets = [(p.pts, p.is_keyframe) for p in src.demux(src.streams.video[0]) if p.dts is not None]
    kind = {f.pts: av.video.frame.PictureType(f.pict_type).name for f in plain_decode(full)}
    # P-frames are the references here (no B-pyramid); one in each GOP, followed by a non-key packet
    refs = [i for i, (pts, key) in enumerate(packets[:-1]) if kind[pts] == "P" and not packets[i + 1][1]]
    dropped = (next(i for i in refs if i > 4), next(i for i in refs if i > 24))
    path = drop_packets(full, tmp_path / "in" / f"lost.{container}", dropped)
    reference = plain_decode(path)
    frames, problem = decode_to_end(only_source(path.parent))
    assert problem is None and [f.index for f in frames] == list(range(len(reference)))
    repaired_pts = [packets[i + 1][0] for i in dropped]  # the next packet in decode order
    by_pts = {f.pts: f for f in frames}
    assert sorted(f.index for f in frames if f.suspect) == sorted(by_pts[p].index for p in repaired_pts)
    assert all("reference frame(s) before it are missing" in (by_pts[p].suspect or "") for p in repaired_pts)


def test_lost_packets_of_other_codecs_are_gaps_not_damage(tmp_path: Path) -> None:
    """VP9 conceals a lost inter frame without a trace (no flag, no error, no counter): framepick
    cannot tell it from a dropped frame slot, so it reports the gap and calls nothing damaged."""
    full = _write(tmp_path / "full.webm", "libvpx-vp9", list(range(40)), Fraction(1, 25), deadline="realtime",
                  **{"cpu-used": "8", "g": "20"})  # fmt: skip
    path = drop_packets(full, tmp_path / "in" / "lost.webm", (7,))
    source = only_source(path.parent)
    results = embed_sources([source], FakeEmbedder())
    check = run_checks([source], results, build_table([source], results, FakeEmbedder.dim))
    assert not check.damaged.any()
    assert check.gaps == {"lost.webm": {"lost-07-webm.png": 1}}
