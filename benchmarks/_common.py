"""Shared helpers for the benchmark scripts: deterministic input, timing, JSON + table output.

The input is generated, never downloaded: 720p H.264 clips in which a virtual camera pans,
zooms and rotates over real photographs shipped with scikit-image (a "scene"), cutting to
another photograph and trajectory every ``scene_len`` frames, with a moving object on top.
Everything derives from the seed, so every run of a benchmark sees the same pixels.
Clips are cached under ``benchmarks/.data`` (or ``$FRAMEPICK_BENCH_DATA``), keyed by their
parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("FRAMEPICK_BENCH_DATA", HERE / ".data"))
RESULTS = HERE / "results"

_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def _photos() -> list[np.ndarray]:
    import skimage.data

    return [np.ascontiguousarray(getattr(skimage.data, name)()[..., :3]) for name in _PHOTOS]


def _scene_frames(photo: np.ndarray, n: int, width: int, height: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    from PIL import Image

    img = Image.fromarray(photo)
    ph, pw = photo.shape[:2]
    # camera path: centre, zoom and angle move smoothly between two random states
    c0, c1 = rng.uniform(0.3, 0.7, 2), rng.uniform(0.3, 0.7, 2)
    z0, z1 = rng.uniform(0.35, 0.9, 2)
    a0, a1 = rng.uniform(-0.3, 0.3, 2)
    obj = rng.integers(0, 256, 3)
    for t in range(n):
        s = t / max(n - 1, 1)
        cx, cy = (c0 + (c1 - c0) * s) * (pw, ph)
        zoom = z0 + (z1 - z0) * s
        ang = a0 + (a1 - a0) * s
        # output pixel (u, v) -> photo pixel: scale so that the view covers `zoom` of the photo height
        scale = zoom * ph / height
        cos, sin = np.cos(ang) * scale, np.sin(ang) * scale
        u0, v0 = width / 2, height / 2
        coeffs = (cos, -sin, cx - cos * u0 + sin * v0, sin, cos, cy - sin * u0 - cos * v0)
        frame = np.asarray(img.transform((width, height), Image.AFFINE, coeffs, resample=Image.BILINEAR)).copy()
        # a moving object, so consecutive frames differ beyond the camera motion
        oy = int((0.2 + 0.6 * s) * height)
        ox = int((0.5 + 0.4 * np.sin(6.28 * s)) * width)
        frame[max(oy - 40, 0) : oy + 40, max(ox - 60, 0) : ox + 60] = obj
        yield frame


def make_clip(
    path: Path, n_frames: int, width: int = 1280, height: int = 720, scene_len: int = 120, seed: int = 0
) -> Path:
    """A deterministic H.264 clip (yuv420p, CRF 23, 30 fps) with camera motion and scene cuts.

    Encoded on one thread: libx264 on several (FFmpeg's default) wrote different pixels from
    run to run, so the same seed did not give the same clip.
    """
    import av

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = _photos()
    tmp = path.with_suffix(".partial" + path.suffix)
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        stream.codec_context.thread_count = 1  # x264 with threads here gave other bytes each time
        done = 0
        while done < n_frames:
            n = min(scene_len, n_frames - done)
            photo = photos[int(rng.integers(len(photos)))]
            for rgb in _scene_frames(photo, n, width, height, rng):
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            done += n
        for packet in stream.encode():
            container.mux(packet)
    tmp.rename(path)
    return path


def make_input(name: str, n_clips: int, frames_per_clip: int, width: int = 1280, height: int = 720) -> Path:
    """A folder of ``n_clips`` clips (cached); returns the folder."""
    folder = DATA / f"{name}-{n_clips}x{frames_per_clip}-{width}x{height}"
    for i in range(n_clips):
        make_clip(folder / f"clip{i:02d}.mp4", frames_per_clip, width, height, seed=1000 + i)
    return folder


@contextmanager
def timer(store: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    store[key] = time.perf_counter() - start


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = Path("/proc/cpuinfo").read_text()
        features = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "avx2") if f" {f}" in flags]
    except OSError:
        features = []
    import torch

    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "features": features,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save(name: str, figures: dict[str, Any], out: str | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {"benchmark": name, "machine": machine(), **figures}
    path.write_text(json.dumps(figures, indent=2, default=float) + "\n")
    return path


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    cells = [tuple(_fmt(c) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


# ---------------------------------------------------------------------------- wall and CPU time


def clock() -> tuple[float, float]:
    """Wall time and the process's CPU time (all threads), for :func:`since`."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """Wall and CPU seconds since ``start`` (a :func:`clock` reading)."""
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def best_round(rounds: list[tuple[float, float]], frames: int) -> dict[str, Any]:
    """frames/s and CPU ms a frame of the fastest round (wall), with every round kept."""
    wall, cpu = min(rounds)
    return {
        "fps": frames / wall,
        "wall_ms_per_frame": 1e3 * wall / frames,
        "cpu_ms_per_frame": 1e3 * cpu / frames,
        "rounds_fps": [frames / w for w, _ in rounds],
    }


def mem_available() -> int:
    """Bytes of memory available now (/proc/meminfo; 0 where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------------------- the scaling input


@dataclass(frozen=True)
class ClipInput:
    """The clips the scaling benchmarks decode and run on (the throughput benchmark's)."""

    clips: int
    frames: int  # per clip
    size: int  # model.input_size
    width: int = 1280
    height: int = 720

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ClipInput:
        """From :func:`add_clip_arguments`'s flags; ``--smoke``: one clip of 24 frames, 320x180, 64 px."""
        if args.smoke:
            return cls(clips=1, frames=24, size=64, width=320, height=180)
        return cls(clips=args.clips, frames=args.frames, size=args.size)

    def folder(self) -> Path:
        return make_input("clips", self.clips, self.frames, self.width, self.height)

    def describe(self) -> dict[str, Any]:
        return {"clips": self.clips, "frames_per_clip": self.frames, "resolution": f"{self.width}x{self.height}"}


def add_clip_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=700, help="frames per clip")
    ap.add_argument("--size", type=int, default=224)
