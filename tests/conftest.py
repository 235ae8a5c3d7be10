from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from media import frame_folder, normal_scheduling, scene_frame, scene_video, write_video

# The Ctrl-C tests send SIGINT to child processes, which inherit an ignored SIGINT (a suite
# started in the background by a shell without job control, or under nohup, has one): give
# the children Python's own handler back, so those tests test framepick, not how pytest started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Small model input keeps CPU tests fast; the model test and the real-media tests use 224.
FAST = {"model.input_size": 64, "model.batch_size": 16}


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Never touch the user's cache: embeddings and exported models of the session go to a
    temporary folder.

    Subprocesses inherit it through the environment. Tests that count cache hits pass their
    own ``cache_dir``.
    """

    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("FRAMEPICK_CACHE_DIR")
    os.environ["FRAMEPICK_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("FRAMEPICK_CACHE_DIR", None)
    else:
        os.environ["FRAMEPICK_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _normal_scheduling() -> Iterator[None]:
    yield
    normal_scheduling()


@pytest.fixture(scope="session")
def scenes_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two videos and a frame folder with known scenes.

    - a.mp4: checker, stripes, noise (20 frames each: 60 frames)
    - b.mp4: gradient, circles (20 frames each) + 5 extra circles frames (45: a 5-frame tail at L=10)
    - folder/: diagonal (20 frames)
    """
    root = tmp_path_factory.mktemp("scenes")
    scene_video(root / "a.mp4", ["checker", "stripes", "noise"], 20)
    frames = [scene_frame(s, t) for s in ("gradient", "circles") for t in range(20)]
    frames += [scene_frame("circles", 20 + t) for t in range(5)]
    write_video(root / "b.mp4", frames)
    frame_folder(root / "folder", ["diagonal"], 20)
    return root


@pytest.fixture
def fast() -> dict[str, object]:
    return dict(FAST)
