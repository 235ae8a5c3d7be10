"""Bad input, faults and reruns (issue #4): corrupt files, duplicates, atomic outputs, cache."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import framepick
from framepick import load_config
from framepick.cli import main
from framepick.decode import image_to_rgb
from media import FakeEmbedder, decode_all, frame_folder, scene_frame
from processes import start_killable, wait_for

L = 5  # sequence length of these tests


def encode(path: Path, frames: list[np.ndarray], gop: int | None = None, faststart: bool = False) -> Path:
    """Lossless H.264; ``gop`` puts a key frame every ``gop`` frames; ``faststart`` puts the index first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {}) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv444p"
        options = {"qp": "0", "preset": "ultrafast"}
        if gop:
            options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        stream.options = options
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def scene_frames(scenes: tuple[str, ...], per_scene: int, size: int) -> list[np.ndarray]:
    return [scene_frame(s, t, size, size) for s in scenes for t in range(per_scene)]


def packets(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size]


def damage_packet(path: Path, index: int) -> None:
    """Overwrite the middle half of packet ``index`` with seeded garbage."""
    data = bytearray(path.read_bytes())
    pos, size = packets(path)[index]
    garbage = np.random.default_rng(0).integers(0, 256, size // 2, dtype=np.uint8).tobytes()
    data[pos + size // 4 : pos + size // 4 + size // 2] = garbage
    path.write_bytes(bytes(data))


def truncate(path: Path, fraction: float) -> int:
    """Cut the file at ``fraction`` of its bytes; returns how many packets are still complete."""
    complete = [pos + size for pos, size in packets(path)]
    cut = int(path.stat().st_size * fraction)
    path.write_bytes(path.read_bytes()[:cut])
    return sum(end <= cut for end in complete)


def cfg(input_dir: Path, out: Path, cache: Path | None, **kw: object) -> framepick.Config:
    values: dict[str, object] = {
        "input_dir": str(input_dir),
        "output_dir": str(out),
        "selected_sequence_length": L,
        "stopping_condition.n_samples": 1.0,
        "model.input_size": 64,
        "model.batch_size": 16,
        "cache_dir": str(cache) if cache is not None else None,
    }
    values.update(kw)
    return load_config(overrides=values)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ------------------------------------------------------------------------------ corrupt input


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """One of each kind of bad input next to a good video; returns the folder and expectations."""
    root = tmp_path_factory.mktemp("bad")
    refs: dict[str, object] = {}
    encode(root / "good.mp4", scene_frames(("checker", "stripes"), 10, 96))
    # key frames at 0, 5, 10, 15; packet 7 damaged: 7 fails, 8 and 9 are predicted from it
    encode(root / "damaged.mp4", scene_frames(("noise", "gradient"), 10, 88), gop=5)
    refs["damaged"] = decode_all(root / "damaged.mp4")
    damage_packet(root / "damaged.mp4", 7)
    (root / "fake.mp4").write_text("this is a text file, not a video\n")
    (root / "empty.mp4").write_bytes(b"")
    (root / "link.mp4").symlink_to(root / "missing.mp4")
    # index at the end (default mp4): any cut loses the index, nothing decodes
    encode(root / "tail_index.mp4", scene_frames(("circles",), 20, 80))
    truncate(root / "tail_index.mp4", 0.9)
    # index first (faststart): every packet before the cut decodes
    for percent, size in ((10, 72), (50, 64), (90, 56)):
        path = encode(root / f"cut{percent}.mp4", scene_frames(("diagonal", "circles"), 10, size), faststart=True)
        refs[f"cut{percent}"] = decode_all(path)
        refs[f"cut{percent}_complete"] = truncate(path, percent / 100)
    # a frame folder of 15 with a truncated PNG (3), a truncated JPEG (6), a broken link (8)
    folder = frame_folder(root / "frames", ["stripes"], 15, size=40)
    png = folder / "frame_003.png"
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])
    (folder / "frame_006.png").unlink()
    Image.fromarray(scene_frame("gradient", 6, 40, 40)).save(folder / "frame_006.jpg", quality=90)
    jpg = folder / "frame_006.jpg"
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    (folder / "frame_008.png").unlink()
    (folder / "frame_008.png").symlink_to(folder / "gone.png")
    return root, refs


@pytest.fixture(scope="module")
def bad_run(bad_input, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root, refs = bad_input
    out = tmp_path_factory.mktemp("badrun") / "out"
    result = framepick.run(cfg(root, out, None, dump_dataset=True), embedder=FakeEmbedder())
    return result, out, refs


def test_corrupt_files_listed_with_reasons(bad_run) -> None:  # type: ignore[no-untyped-def]
    _, out, refs = bad_run
    listed = read_lines(out / "filenames/corrupt_filenames.txt")
    report = json.loads((out / "report.json").read_text())
    reasons = report["corrupt"]
    assert set(listed) == set(reasons)
    assert listed == list(dict.fromkeys(listed)), "each name once"

    # only the frame whose data was damaged: FFmpeg conceals it, frames predicted from it decode
    assert [n for n in listed if n.startswith("damaged")] == ["damaged-07-mp4.png"]
    assert reasons["damaged-07-mp4.png"].startswith("damaged: FFmpeg flagged")
    for name in ("fake.mp4", "empty.mp4", "link.mp4", "tail_index.mp4"):
        assert name in listed and reasons[name].startswith("cannot open video"), name
    assert "No such file" in reasons["link.mp4"]
    for name in ("frames/frame_003.png", "frames/frame_006.jpg", "frames/frame_008.png"):
        assert reasons[name].startswith("cannot decode image"), name
    for percent in (10, 50, 90):
        complete = refs[f"cut{percent}_complete"]
        # the packet cut in half yields no frame: only complete packets are frames, none listed
        assert not [n for n in listed if n.startswith(f"cut{percent}-")]
        reason = reasons[f"cut{percent}.mp4"]
        if complete:
            assert reason.startswith(f"truncated: the stream ends at {complete / 10:.3f} s of 2.000 s declared"), reason
            assert f"about {20 - complete} frames" in reason
        else:
            assert reason.startswith("no frame could be decoded"), reason
    assert not any(n.startswith("good") for n in listed)
    # listed by name: fake, empty, link, tail_index, cut10, cut50, cut90; damaged.mp4 and
    # frames/ only have corrupt frames
    assert report["counts"]["sources_corrupt"] == 7


def test_frames_before_damage_survive_and_sequences_touching_it_drop(bad_run) -> None:  # type: ignore[no-untyped-def]
    result, out, refs = bad_run
    info = json.loads((out / "data/sequence_information.json").read_text())
    starts: dict[str, list[int]] = {}
    for entry in info:
        starts.setdefault(entry["video_name"], []).append(entry["frame_indices"][0])
    starts = {name: sorted(found) for name, found in starts.items()}
    assert starts["good.mp4"] == [0, 5, 10, 15]
    assert starts["damaged.mp4"] == [0, 10, 15]  # 5..9 touches frames 7, 8, 9
    assert starts["frames"] == [10]  # 0..4 holds frame 3, 5..9 frames 6 and 8
    for percent in (10, 50, 90):
        complete = refs[f"cut{percent}_complete"]
        assert starts.get(f"cut{percent}.mp4", []) == list(range(0, complete - complete % L, L))
    for name in ("fake.mp4", "empty.mp4", "link.mp4", "tail_index.mp4"):
        assert name not in starts
    counts = result.report["counts"]
    assert counts["sequences_dropped_invalid"] == 1 + 2  # damaged 5..9; frames 0..4, 5..9
    # every frame that decoded is dumped with the pixels of the undamaged original
    for entry in info:
        stem = entry["video_name"].rsplit(".", 1)[0]
        reference = refs.get(stem)
        if not isinstance(reference, list):
            continue
        for index, name in zip(entry["frame_indices"], entry["frame_names"]):
            dumped = np.asarray(Image.open(out / "data/sampled" / name))
            np.testing.assert_array_equal(dumped, reference[index])


def test_corruptness_check_off_keeps_damaged_frames_and_still_tells(  # type: ignore[no-untyped-def]
    bad_input, bad_run, tmp_path: Path, caplog, capsys
) -> None:
    root, _ = bad_input
    caplog.set_level("WARNING", logger="framepick")
    out = tmp_path / "out"
    words = [
        f"input_dir={root}", f"output_dir={out}", f"cache_dir={tmp_path / 'cache'}", f"selected_sequence_length={L}",
        "stopping_condition.n_samples=1.0", "model.input_size=64", "enable_corruptness_check=false",
    ]  # fmt: skip
    code = main(["run", *words])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert read_lines(out / "filenames/corrupt_filenames.txt") == []
    assert report["corrupt"] == {}
    # what could not be decoded at all is listed whatever the switch says, with its reason
    on = json.loads((bad_run[1] / "report.json").read_text())
    assert report["left_out"] == on["left_out"]
    assert set(report["left_out"]) == {
        "frames/frame_003.png", "frames/frame_006.jpg", "frames/frame_008.png",
        "fake.mp4", "empty.mp4", "link.mp4", "tail_index.mp4", "cut10.mp4", "cut50.mp4", "cut90.mp4",
    }  # fmt: skip
    assert "cannot decode image" in report["left_out"]["frames/frame_003.png"]
    assert "frames/frame_003.png: cannot decode image" in caplog.text
    assert "enable_corruptness_check=false: 1 damaged frames" in caplog.text
    # the damaged frame is selectable now (FFmpeg concealed it with frame 6's pixels, so the
    # duplicate check is what drops it here); undecodable frames never are
    assert report["duplicates"] == {"damaged-07-mp4.png": "damaged-06-mp4.png"}
    starts = {(e["video_name"], e["frame_indices"][0]) for e in report["sequences"]}
    assert ("frames", 0) not in starts and ("good.mp4", 0) in starts
    assert report["counts"]["frames_damaged"] == 1 and report["counts"]["frames_undecodable"] == 3
    # the summary says how many frames were left out and why
    printed = capsys.readouterr().out
    assert "framepick: 4 of 80 frames left out: 3 could not be decoded, 1 exact duplicates;" in printed
    assert "1 damaged frames kept (enable_corruptness_check=false)" in printed
    assert "10 files or frames with problems" in printed


def test_nothing_usable_fails_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.mp4").write_bytes(b"")
    (src / "b.mov").write_text("not a video")
    (src / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code = main(["run", f"input_dir={src}", f"output_dir={tmp_path / 'out'}", "stopping_condition.n_samples=1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "nothing usable" in err and "a.mp4 (cannot open video" in err
    assert not (tmp_path / "out" / "report.json").exists()


def _unprivileged_prefix() -> list[str]:
    """Root reads any file; drop the capabilities that let it, so mode 0 really denies access."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: cannot make a file unreadable")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def test_unreadable_file_is_corrupt(tmp_path: Path) -> None:
    src = tmp_path / "in"
    encode(src / "ok.mp4", scene_frames(("checker",), 10, 64))
    encode(src / "locked.mp4", scene_frames(("stripes",), 10, 64))
    frame_folder(src / "f", ["noise"], 5, size=32)
    (src / "locked.mp4").chmod(0)
    (src / "f/frame_002.png").chmod(0)
    out = tmp_path / "out"
    words = [
        "run", f"input_dir={src}", f"output_dir={out}", f"cache_dir={tmp_path / 'cache'}",
        f"selected_sequence_length={L}", "stopping_condition.n_samples=1.0", "model.input_size=64",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(framepick.__file__).parents[1])}
    try:
        proc = subprocess.run(
            [*_unprivileged_prefix(), sys.executable, "-m", "framepick.cli", *words],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
    finally:
        (src / "locked.mp4").chmod(0o644)
        (src / "f/frame_002.png").chmod(0o644)
    assert proc.returncode == 0, proc.stderr
    assert read_lines(out / "filenames/corrupt_filenames.txt") == ["f/frame_002.png", "locked.mp4"]
    report = json.loads((out / "report.json").read_text())
    assert "ermission" in report["corrupt"]["locked.mp4"]
    assert "ermission" in report["corrupt"]["f/frame_002.png"]
    assert report["counts"]["frames_usable"] == 10 + 4


# ------------------------------------------------------------------------------ duplicates


@pytest.fixture(scope="module")
def dup_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dup")
    frames = scene_frames(("checker", "stripes"), 10, 64)
    frames[5] = frames[6] = frames[7] = frames[4]  # frozen camera
    black = np.zeros_like(frames[0])
    frames[12] = frames[13] = frames[14] = black  # black frames: 12 is kept
    encode(root / "cam.mp4", frames)
    other = scene_frames(("circles", "noise"), 10, 48)
    encode(root / "copy_a.mp4", other)
    encode(root / "copy_b.mp4", other, gop=3)  # same pixels, different bytes
    assert (root / "copy_a.mp4").read_bytes() != (root / "copy_b.mp4").read_bytes()
    return root


def test_exact_duplicates_inside_and_across_videos(dup_input: Path, tmp_path: Path) -> None:
    result = framepick.run(cfg(dup_input, tmp_path / "out", tmp_path / "cache"), embedder=FakeEmbedder())
    listed = read_lines(tmp_path / "out/filenames/duplicate_filenames.txt")
    assert listed == [
        *(f"cam-{i:02d}-mp4.png" for i in (5, 6, 7, 13, 14)),
        *(f"copy_b-{i:02d}-mp4.png" for i in range(20)),
    ]
    dup_of = result.report["duplicates"]
    assert dup_of["cam-07-mp4.png"] == "cam-04-mp4.png"
    assert dup_of["cam-14-mp4.png"] == "cam-12-mp4.png"
    assert dup_of["copy_b-03-mp4.png"] == "copy_a-03-mp4.png"
    starts = sorted((e["video_name"], e["frame_indices"][0]) for e in result.report["sequences"])
    assert starts == [("cam.mp4", 0), ("cam.mp4", 15), *(("copy_a.mp4", s) for s in (0, 5, 10, 15))]
    assert result.report["counts"]["frames_duplicate"] == 25
    embedded = [row[0] for row in csv.reader(open(tmp_path / "out/data/embeddings.csv"))][1:]
    assert "cam-12-mp4.png" in embedded and "cam-13-mp4.png" not in embedded

    fake = FakeEmbedder()
    off = framepick.run(
        cfg(dup_input, tmp_path / "out2", tmp_path / "cache", remove_exact_duplicates=False), embedder=fake
    )
    assert fake.calls == 0
    assert read_lines(tmp_path / "out2/filenames/duplicate_filenames.txt") == []
    assert len(off.report["sequences"]) == 12
    assert off.report["counts"]["frames_embedded"] == 0, "the cache holds every frame already"


# ------------------------------------------------------------------------------ image modes


def test_frame_folder_with_mixed_sizes_and_modes(tmp_path: Path) -> None:
    folder = tmp_path / "in" / "shots"
    folder.mkdir(parents=True)
    base = scene_frame("gradient", 0, 30, 40)  # 30 high, 40 wide
    expected: dict[str, np.ndarray] = {}
    rgba = np.dstack([base, np.full(base.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "a_rgba.png")
    expected["a_rgba.png"] = base
    gray = base[..., 0]
    Image.fromarray(gray, "L").save(folder / "b_gray.png")
    expected["b_gray.png"] = np.dstack([gray] * 3)
    gray2 = scene_frame("stripes", 3, 25, 35)[..., 2]
    deep = (gray2.astype(np.uint32) * 257).astype(np.uint16)  # 16-bit, the full range
    Image.fromarray(deep).save(folder / "c_16bit.png")
    expected["c_16bit.png"] = np.dstack([gray2] * 3)
    Image.fromarray(scene_frame("checker", 1, 50, 20)).convert("CMYK").save(folder / "d_cmyk.jpg", quality=100)
    expected["d_cmyk.jpg"] = scene_frame("checker", 1, 50, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(base).save(folder / "e_rotated.jpg", quality=100, exif=exif)
    expected["e_rotated.jpg"] = np.rot90(base, k=-1)
    Image.fromarray(scene_frame("circles", 2, 17, 23)).convert("P").save(folder / "f_palette.png")
    expected["f_palette.png"] = np.asarray(
        Image.fromarray(scene_frame("circles", 2, 17, 23)).convert("P").convert("RGB")
    )
    result = framepick.run(
        cfg(
            tmp_path / "in",
            tmp_path / "out",
            tmp_path / "cache",
            selected_sequence_length=1,
            **{"stopping_condition.n_samples": 6, "dump_dataset": True},
        )
    )
    assert result.report["counts"]["frames_usable"] == 6
    assert read_lines(tmp_path / "out/filenames/corrupt_filenames.txt") == []
    for name, want in expected.items():
        dumped = tmp_path / "out/data/sampled/shots" / name
        assert dumped.read_bytes() == (folder / name).read_bytes(), name  # copied: mode, depth and EXIF kept
        with Image.open(dumped) as image:
            got = np.asarray(image_to_rgb(image))  # upright RGB, as the run and the viewers see it
        assert got.dtype == np.uint8 and got.shape == want.shape, name
        lossy = name.endswith(".jpg")
        assert np.abs(got.astype(int) - want.astype(int)).mean() < (8 if lossy else 0.5), name


# ------------------------------------------------------------------------------ atomic outputs


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_read_only_input_and_output_inside_input(scenes_input: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "ro"
    shutil.copytree(scenes_input, src)
    before = {k: v for k, v in _tree(src).items()}
    modes = []
    for path in [src, *src.rglob("*")]:
        modes.append((path, path.stat().st_mode))
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        framepick.run(cfg(src, tmp_path / "out", tmp_path / "cache", **{"stopping_condition.n_samples": 10}))
        assert _tree(src) == before
        assert sorted(p.name for p in src.iterdir()) == ["a.mp4", "b.mp4", "folder"]
        code = main(["run", f"input_dir={src}", f"output_dir={src / 'out'}", "stopping_condition.n_samples=10"])
    finally:
        for path, mode in reversed(modes):
            path.chmod(mode)
    err = capsys.readouterr().err
    assert code == 1 and "inside input_dir" in err and err.count("\n") == 1
    assert not (src / "out").exists()


def test_failure_at_any_step_of_the_move_leaves_no_result(
    scenes_input: Path, tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    import framepick.write as write  # the staged output folder and its move into place

    out = tmp_path / "out"
    cache = tmp_path / "cache"
    first = framepick.run(
        cfg(scenes_input, out, cache, **{"stopping_condition.n_samples": 10}), embedder=FakeEmbedder()
    )
    real_replace = os.replace
    for k in range(len(write.OUTPUTS)):  # fail the k-th move
        calls = {"n": 0}

        def failing(a, b, k=k, calls=calls):  # type: ignore[no-untyped-def]
            if Path(b).parent != out:  # a write inside the staging folder, not a move into place
                return real_replace(a, b)
            if calls["n"] == k:
                raise OSError("disk full (simulated)")
            calls["n"] += 1
            return real_replace(a, b)

        monkeypatch.setattr(write.os, "replace", failing)
        with pytest.raises(framepick.OutputError, match="simulated") as failure:
            framepick.run(
                cfg(scenes_input, out, cache, **{"stopping_condition.n_samples": 20}), embedder=FakeEmbedder()
            )
        assert isinstance(failure.value.__cause__, OSError)
        monkeypatch.setattr(write.os, "replace", real_replace)
        now = _tree(out)
        assert not [p for p in out.iterdir() if p.name.startswith(".framepick-partial")]
        # the old report.json goes before anything moves: no result, never a mixed one
        assert "report.json" not in now, k
    # the command line reports it as a runtime failure in one line, not an internal error
    monkeypatch.setattr(write.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(28, "No space left")))
    words = [f"input_dir={scenes_input}", f"output_dir={out}", f"cache_dir={cache}", "stopping_condition.n_samples=10"]
    capsys.readouterr()
    assert main(["run", *words, f"selected_sequence_length={L}", "model.input_size=64"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("framepick: error: cannot write the results to") and "No space left" in err, err
    monkeypatch.setattr(write.os, "replace", real_replace)
    # and a clean rerun is complete again, from the cache
    fake = FakeEmbedder()
    again = framepick.run(cfg(scenes_input, out, cache, **{"stopping_condition.n_samples": 10}), embedder=fake)
    assert again.selected_frame_names == first.selected_frame_names
    assert again.report["counts"]["frames_embedded"] == 0 and fake.calls == 0


# ------------------------------------------------------------------------------ cache and reruns


def test_rerun_with_other_selection_settings_decodes_and_embeds_nothing(scenes_input: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake = FakeEmbedder()
    first = framepick.run(
        cfg(scenes_input, tmp_path / "o1", cache, **{"stopping_condition.n_samples": 10}), embedder=fake
    )
    counts = first.report["counts"]
    assert counts["frames_decoded"] == counts["frames"] == 125
    assert counts["frames_embedded"] == 125 and counts["frames_from_cache"] == 0
    calls = fake.calls
    for i, change in enumerate(
        [
            {"stopping_condition.n_samples": 20},
            {"selected_sequence_length": 1, "stopping_condition.n_samples": 7, "method": "random"},
            {"stopping_condition.n_samples": -1, "stopping_condition.min_distance": 0.5},
            {"normalize_embeddings": False},  # the cache holds raw embeddings
        ]
    ):
        again = framepick.run(cfg(scenes_input, tmp_path / f"r{i}", cache, **change), embedder=fake)
        c = again.report["counts"]
        assert (c["frames_decoded"], c["frames_embedded"], c["frames_from_cache"]) == (0, 0, 125), change
        assert c["sources_from_cache"] == 3
        assert fake.calls == calls, "a fully cached rerun must not run the model"
    # same settings: same embeddings as computed, bit for bit
    same = framepick.run(
        cfg(scenes_input, tmp_path / "same", cache, **{"stopping_condition.n_samples": 10}), embedder=fake
    )
    np.testing.assert_array_equal(same.table.embeddings, first.table.embeddings)
    assert same.selected_frame_names == first.selected_frame_names


def test_fully_cached_rerun_never_loads_the_model(scenes_input: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from framepick.models.resolved import ModelEmbedder

    cache = tmp_path / "cache"
    framepick.run(cfg(scenes_input, tmp_path / "o1", cache, **{"stopping_condition.n_samples": 10}))

    def no_model(*args: object, **kw: object) -> None:
        raise AssertionError("a fully cached rerun must not load the model")

    monkeypatch.setattr(ModelEmbedder, "__init__", no_model)
    again = framepick.run(cfg(scenes_input, tmp_path / "o2", cache, **{"stopping_condition.n_samples": 20}))
    assert again.report["counts"]["frames_from_cache"] == 125


def test_changed_file_and_model_settings_are_embedded_again(scenes_input: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    shutil.copytree(scenes_input, src)
    cache = tmp_path / "cache"
    framepick.run(cfg(src, tmp_path / "o1", cache, **{"stopping_condition.n_samples": 10}))
    st = (src / "b.mp4").stat()
    os.utime(src / "b.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    (src / "folder/frame_003.png").write_bytes((src / "folder/frame_004.png").read_bytes())
    again = framepick.run(cfg(src, tmp_path / "o2", cache, **{"stopping_condition.n_samples": 10}))
    c = again.report["counts"]
    assert (c["frames_decoded"], c["frames_from_cache"]) == (45 + 20, 60)
    assert again.report["duplicates"] == {"folder/frame_004.png": "folder/frame_003.png"}
    other_model = framepick.run(
        cfg(src, tmp_path / "o3", cache, **{"stopping_condition.n_samples": 10, "model.input_size": 32})
    )
    assert other_model.report["counts"]["frames_embedded"] == 125


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_cache_off_and_cache_dir_default(
    scenes_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    from framepick.cache import default_cache_dir, resolve_cache_dir

    monkeypatch.delenv("FRAMEPICK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir("auto") == default_cache_dir() == tmp_path / "xdg" / "framepick"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "framepick"
    assert resolve_cache_dir(None) is None
    assert (
        load_config(input_dir="i", output_dir="o", stopping_condition={"n_samples": 5}, cache_dir="none").cache_dir
        is None
    )
    # cache_dir=none writes nothing to any cache folder, the ONNX export included
    monkeypatch.setenv("FRAMEPICK_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for _ in range(2):
        settings = {"stopping_condition.n_samples": 10, "model.engine": engine}
        off = framepick.run(cfg(scenes_input, tmp_path / "out", None, **settings))
        assert off.report["counts"]["frames_embedded"] == 125
    written = [p for p in tmp_path.rglob("*") if "framepick" in p.name or p.suffix in (".onnx", ".npz")]
    assert not (tmp_path / "env").exists() and [p for p in written if tmp_path / "out" not in p.parents] == []


def test_precomputed_embeddings_csv(scenes_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = framepick.run(
        cfg(scenes_input, tmp_path / "o1", tmp_path / "c1", **{"stopping_condition.n_samples": 20}),
        embedder=FakeEmbedder(),
    )
    csv_path = tmp_path / "o1/data/embeddings.csv"
    again = framepick.run(
        cfg(
            scenes_input,
            tmp_path / "o2",
            tmp_path / "c2",
            embeddings=str(csv_path),
            **{"stopping_condition.n_samples": 20},
        )
    )
    assert again.report["counts"]["frames_embedded"] == 0
    assert again.report["counts"]["frames_decoded"] == 125
    assert again.selected_frame_names == first.selected_frame_names
    np.testing.assert_allclose(again.table.embeddings, first.table.embeddings, atol=1e-6)

    lines = csv_path.read_text().splitlines()
    broken = tmp_path / "missing.csv"
    broken.write_text("\n".join(line for line in lines if not line.startswith("b-17-mp4.png")) + "\n")
    argv = ["run", f"input_dir={scenes_input}", f"output_dir={tmp_path / 'o3'}", "stopping_condition.n_samples=10"]
    assert main([*argv, f"embeddings={broken}", "cache_dir=none"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no row for 1 of the 125 usable frames, e.g. 'b-17-mp4.png'" in err
    broken.write_text(lines[0] + "\nb-17-mp4.png,0.5,x,0\n")
    assert main([*argv, f"embeddings={broken}", "cache_dir=none"]) == 1
    assert "line 2" in capsys.readouterr().err
    assert main([*argv, f"embeddings={tmp_path / 'nope.csv'}", "cache_dir=none"]) == 1
    assert "cannot read embeddings file" in capsys.readouterr().err
    assert not (tmp_path / "o3/report.json").exists()


# ------------------------------------------------------------------------------ kills, Ctrl-C


@pytest.fixture(scope="module")
def six_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("six")
    for i, scene in enumerate(("checker", "stripes", "noise", "gradient", "circles", "diagonal")):
        encode(root / f"v{i}.mp4", scene_frames((scene,), 10, 48 + 4 * i))
    return root


def _args(input_dir: Path, out: Path, cache: Path, n_samples: int = 10) -> list[str]:
    return [
        f"input_dir={input_dir}",
        f"output_dir={out}",
        f"cache_dir={cache}",
        f"stopping_condition.n_samples={n_samples}",
        f"selected_sequence_length={L}",
        "model.input_size=64",
        "model.batch_size=4",
    ]


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.npz"))


def test_sigkill_during_embedding_resumes_from_finished_sources(six_videos: Path, tmp_path: Path) -> None:
    out, cache, marker = tmp_path / "out", tmp_path / "cache", tmp_path / "marker"
    proc = start_killable("embed", marker, *_args(six_videos, out, cache))
    wait_for(lambda: len(_entries(cache)) >= 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_entries(cache))
    assert 1 <= done < 6, "killed while sources were still being embedded"
    assert not (out / "report.json").exists()
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".framepick-partial")]

    assert main(["run", *_args(six_videos, out, cache)]) == 0
    counts = json.loads((out / "report.json").read_text())["counts"]
    assert counts["sources_from_cache"] == done
    assert counts["frames_from_cache"] == 10 * done
    assert counts["frames_decoded"] == counts["frames_embedded"] == 60 - 10 * done
    assert len(_entries(cache)) == 6


def test_sigkill_during_writing_leaves_previous_result_or_none(six_videos: Path, tmp_path: Path) -> None:
    out, cache, marker = tmp_path / "out", tmp_path / "cache", tmp_path / "marker"
    # no previous result: killed with everything staged -> still no result
    proc = start_killable("write", marker, *_args(six_videos, out, cache, 10))
    wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [p.name for p in out.iterdir()] == [Path(marker.read_text()).name]
    assert Path(marker.read_text()).name.startswith(".framepick-partial-")

    # the rerun cleans the stale staging folder and only selects: all frames from the cache
    assert main(["run", *_args(six_videos, out, cache, 10)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["counts"]["frames_decoded"], report["counts"]["frames_from_cache"]) == (0, 60)
    assert not [p for p in out.iterdir() if p.name.startswith(".framepick-partial")]
    previous = _tree(out)

    # a previous result: killed while writing a new one -> the previous one, untouched
    marker.unlink()
    proc = start_killable("write", marker, *_args(six_videos, out, cache, 20))
    wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    staged = [p.name for p in out.iterdir() if p.name.startswith(".framepick-partial")]
    assert staged == [Path(marker.read_text()).name]  # killed: only the hidden staging folder is new
    assert {k: v for k, v in _tree(out).items() if not k.startswith(".framepick-partial")} == previous
    assert len(read_lines(out / "filenames/sampled_filenames.txt")) == 10


@pytest.mark.parametrize("mode", ["embed", "write"])
def test_ctrl_c_exits_130_and_leaves_no_partial_result(six_videos: Path, tmp_path: Path, mode: str) -> None:
    out, cache, marker = tmp_path / "out", tmp_path / "cache", tmp_path / "marker"
    proc = start_killable(mode, marker, *_args(six_videos, out, cache))
    wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "framepick: interrupted; no partial result was left behind"
    assert "Traceback" not in err
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == [], left
