"""A tiny framepick run with every option that adds a key to report.json (strategies, metadata
and scores files, a datapool, dumped frames, clips, exports, training), in seconds: tests/test_reference.py
holds report.json's declared keys and its reference table against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import framepick

# The sample run: small model settings as the tests use (tests/conftest.py's FAST), and every
# option that adds a section to report.json.
_STRATEGIES = [
    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
    {"input": {"type": "SCORES", "task": "t", "score": "s"}, "strategy": {"type": "WEIGHTS", "strength": 1.0}},
    {
        "input": {"type": "METADATA", "key": "lightly.sharpness"},
        "strategy": {"type": "THRESHOLD", "threshold": 0, "operation": "BIGGER_EQUAL"},
    },
    {"input": {"type": "METADATA", "key": "weather"}, "strategy": {"type": "BALANCE", "target": {"sunny": 0.5}}},
]
_SETTINGS: dict[str, Any] = {
    "model.input_size": 64,
    "model.batch_size": 16,
    "selected_sequence_length": 2,
    "stopping_condition.n_samples": 4,
    "dump_dataset": True,
    "export_clips": True,
    "export_format": "cvat,label_studio,fiftyone",
    "cache_dir": None,
    "selection": {"strategies": _STRATEGIES},
    # the training section: one epoch of two tiny batches (the given embedder still embeds)
    "enable_training": True,
    "training_max_frames": 8,
    "lightly": {"loader": {"batch_size": 4}, "trainer": {"max_epochs": 1}, "collate": {"input_size": 32}},
}


class GridColours:
    """A stand-in for the model (framepick.run's ``embedder``): each frame's colours on a 4×4 grid.
    report.json's keys do not depend on the model, and this keeps the sample run to seconds."""

    name = "grid-colours"
    dim = 48
    input_size = 32
    signature = "grid-colours/32"

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        x = np.asarray(pixels, np.float32) / 255.0
        return np.ascontiguousarray(x.reshape(len(x), 4, 8, 4, 8, 3).mean(axis=(2, 4)).reshape(len(x), self.dim))


def _frame(scene: int, t: int, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    rgb = np.stack([(xx * 8 * (scene + 1)) % 256, (yy * 8) % 256, np.full_like(xx, 60 * scene)], axis=-1)
    rgb[t : t + 6, t : t + 6] = 255  # a moving square: no two frames are equal
    return rgb.astype(np.uint8)


def _sample_input(folder: Path) -> Path:
    """A video (12 frames, a timestamp gap), a frame folder (4 frames), a loose image; metadata, scores beside."""
    import av
    from PIL import Image

    inp = folder / "in"
    (inp / "folder").mkdir(parents=True)
    with av.open(str(inp / "a.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv444p"
        for t in range(12):
            frame = av.VideoFrame.from_ndarray(_frame(t // 6, t), format="rgb24")
            frame.pts = t if t < 6 else t + 1  # one frame slot skipped: a timestamp gap before frame 6
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    for t in range(4):
        Image.fromarray(_frame(2, t)).save(inp / "folder" / f"f{t}.png")
    Image.fromarray(_frame(3, 0)).save(inp / "loose.png")
    names = [f"a-{t:02d}-mp4.png" for t in range(12)]
    weather = "".join(f"{name},{('sunny', 'rainy')[t % 2]}\n" for t, name in enumerate(names))
    (folder / "metadata.csv").write_text("filenames,weather\n" + weather + "not-a-frame.png,sunny\n")
    (folder / "scores.csv").write_text("filenames,s\n" + "".join(f"{n},{t / 12}\n" for t, n in enumerate(names)))
    return inp


def sample_report(folder: Path, inputs: Path | None = None, **extra: Any) -> tuple[dict[str, Any], framepick.RunResult]:
    """Run framepick on a tiny generated input in ``folder`` with every option that adds a section
    (strategies, metadata and scores files, a datapool, dumped frames, clips, exports), and the
    ``extra`` settings. Returns its report.json, as read back from the file, and the run's result.

    ``inputs``: the folder of an earlier sample run, whose input files this run reads (the same
    bytes: a video encoded again after a run in the same process came out with other pixels)."""
    inputs = inputs or folder
    inp = inputs / "in" if inputs is not folder else _sample_input(folder)
    settings = {
        **_SETTINGS,
        "input_dir": str(inp),
        "output_dir": str(folder / "out"),
        "metadata": str(inputs / "metadata.csv"),
        "scores": str(inputs / "scores.csv"),
        "datapool": str(folder / "pool"),
        **extra,
    }
    result = framepick.run(framepick.load_config(overrides=settings), embedder=GridColours())
    report = json.loads((folder / "out" / "report.json").read_text(encoding="utf-8"))
    return report, result
