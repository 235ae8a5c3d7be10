"""Rewrite the generated tables of docs/reference.md: the configuration keys, from their declaration
in src/framepick/config.py, and report.json's keys, from a real run's report.json and the
descriptions in src/framepick/report_keys.py.

    python scripts/update_reference.py           # rewrite the tables in place
    python scripts/update_reference.py --check   # exit 1 if a table is out of date

tests/test_reference.py fails while a table and its source disagree.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # this checkout's framepick, installed or not

import framepick  # noqa: E402
from framepick.config import with_keys_table  # noqa: E402
from framepick.report_keys import with_report_keys_table  # noqa: E402

PAGES = (ROOT / "docs" / "reference.md",)

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


def sample_report(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run framepick on a tiny generated input in ``folder`` with every option that adds a section
    (strategies, metadata and scores files, a datapool, dumped frames, clips, exports).
    Returns (its report.json, its RunSummary's JSON)."""
    inp = _sample_input(folder)
    settings = {
        **_SETTINGS,
        "input_dir": str(inp),
        "output_dir": str(folder / "out"),
        "metadata": str(folder / "metadata.csv"),
        "scores": str(folder / "scores.csv"),
        "datapool": str(folder / "pool"),
    }
    result = framepick.run(framepick.load_config(overrides=settings), embedder=GridColours())
    assert result.summary is not None
    report = json.loads((folder / "out" / "report.json").read_text(encoding="utf-8"))
    return report, result.summary.to_json()


def main(argv: list[str]) -> int:
    check = "--check" in argv
    with tempfile.TemporaryDirectory(prefix="framepick-reference-") as tmp:
        report, _ = sample_report(Path(tmp))
    stale = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        fresh = with_report_keys_table(with_keys_table(text), report)
        if fresh != text:
            stale.append(page)
            if not check:
                page.write_text(fresh, encoding="utf-8")
    for page in stale:
        print(f"{page.relative_to(ROOT)}: {'out of date' if check else 'rewritten'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
