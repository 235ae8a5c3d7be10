from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from framepick import InputError, discover
from framepick.discover import Source


def _touch_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)


def test_sources_sorted_and_classified(tmp_path: Path) -> None:
    (tmp_path / "z.MP4").write_bytes(b"x")
    (tmp_path / "drive").mkdir()
    (tmp_path / "drive" / "cam0.mkv").write_bytes(b"x")
    _touch_image(tmp_path / "drive" / "frames" / "b.png")
    _touch_image(tmp_path / "drive" / "frames" / "a.jpg")
    _touch_image(tmp_path / "loose.png")
    (tmp_path / "notes.txt").write_text("ignored")
    _touch_image(tmp_path / ".hidden" / "x.png")
    sources = discover(tmp_path)
    assert [(s.kind, s.name) for s in sources] == [
        ("video", "drive/cam0.mkv"),
        ("frames", "drive/frames"),
        ("image", "loose.png"),
        ("video", "z.MP4"),
    ]
    frames = sources[1]
    assert [f.name for f in frames.files] == ["a.jpg", "b.png"]
    assert frames.frame_name(0, 2) == "drive/frames/a.jpg"
    assert sources[2].frame_name(0, 1) == "loose.png"


@pytest.mark.parametrize(
    ("n", "index", "name"), [(1000, 42, "drive/cam0-0042-mp4.png"), (9, 3, "drive/cam0-3-mp4.png")]
)
def test_lightly_frame_names(n: int, index: int, name: str) -> None:
    source = Source("video", Path("/x/drive/cam0.mp4"), "drive/cam0.mp4")
    assert source.frame_name(index, n) == name


def test_output_inside_input_is_skipped(tmp_path: Path) -> None:
    _touch_image(tmp_path / "out" / "data" / "x.png")
    _touch_image(tmp_path / "a.png")
    assert [s.name for s in discover(tmp_path, exclude=tmp_path / "out")] == ["a.png"]


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        discover(tmp_path / "nope")


def test_symlinked_folders_are_followed_and_loops_reported(tmp_path: Path) -> None:
    from framepick.discover import scan_input

    data = tmp_path / "elsewhere" / "dataset"
    _touch_image(data / "seq1" / "000.png")
    _touch_image(data / "seq1" / "001.png")
    (data / "clip.mp4").write_bytes(b"x")
    root = tmp_path / "in"
    root.mkdir()
    (root / "linked").symlink_to(data, target_is_directory=True)  # a dataset linked in: read
    (root / "again").symlink_to(data, target_is_directory=True)  # the same folder twice: once
    (data / "seq1" / "loop").symlink_to(data, target_is_directory=True)  # a loop: reported, not followed
    (root / "gone").symlink_to(tmp_path / "missing")  # a broken link: reported
    found = scan_input(root)
    assert [(s.kind, s.name) for s in found.sources] == [
        ("video", "again/clip.mp4"),
        ("frames", "again/seq1"),
    ]
    assert [p.name for p in found.sources[1].files] == ["000.png", "001.png"]
    assert found.skipped == {
        "again/seq1/loop": "symbolic link loop: points back to 'again', which holds it",
        "gone": f"broken symbolic link to '{tmp_path / 'missing'}'",
        "linked": "same folder as 'again', already read",
    }


def test_nothing_found_names_what_was_skipped(tmp_path: Path) -> None:
    import framepick

    root = tmp_path / "in"
    root.mkdir()
    (root / "cams").symlink_to(tmp_path / "unmounted", target_is_directory=True)
    config = framepick.load_config(
        input_dir=str(root), output_dir=str(tmp_path / "out"), stopping_condition={"n_samples": 1}
    )
    with pytest.raises(InputError, match=r"no videos or images found .*skipped 1 paths \(cams: broken symbolic link"):
        framepick.run(config)
