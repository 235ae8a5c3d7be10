"""Does training on the input's own frames (``enable_training``) help? Pretrained against fine-tuned.

Generated footage with known structure: ``--scenes`` scenes, each filmed in two shots (two
clips) with different camera paths and different lighting (brightness, contrast and a colour
cast, as day and dusk or two cameras), so a scene's label is known for every frame. Two kinds
of footage:

* ``photos``: the camera moves over real photographs shipped with scikit-image (ImageNet-like
  content: people, a cat, a rocket...), as the other benchmarks' clips;
* ``textures``: the camera moves over generated textures (blobs, stripes, cells of different
  scales, orientations and colours), content ImageNet never labelled, like industrial or
  aerial footage.

Each kind runs framepick twice on the same clips with the same seed, ``cache_dir=none``:
the ImageNet weights, and ``enable_training=true`` (the settings given, default the
defaults). Measured on the embeddings each run writes (``data/embeddings.csv``, L2-normalised):

* kNN accuracy: each frame's label predicted by the majority of its ``--knn`` nearest frames
  *of the other shots* (a frame's own shot is left out, so neighbouring frames of the same
  clip cannot answer for it): does the embedding put a scene's two shots, under different
  light, together and apart from other scenes?
* scene coverage: the run's own k-center selection of ``k = scenes - 2`` frames; how many
  distinct scenes it picked (k is the best possible).

    PYTHONPATH=src python3 benchmarks/bench_training.py
    PYTHONPATH=src python3 benchmarks/bench_training.py --smoke
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

SIZE = 256  # clip width and height
LIGHTS = ((1.0, 1.0, (1.0, 1.0, 1.0)), (0.55, 0.7, (1.15, 0.9, 0.7)))  # (brightness, contrast, RGB cast) per shot


def _texture(rng: np.random.Generator, size: int = 768) -> np.ndarray:
    """A generated world to film: a sum of oriented waves, blobs and cells, in two colours."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = int(rng.integers(3))
    if kind == 0:  # oriented waves
        angle, freq = rng.uniform(0, np.pi), rng.uniform(6, 30)
        field = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq * 2 * np.pi)
        field += 0.5 * np.sin((xx * np.sin(angle) - yy * np.cos(angle)) * freq * 0.37 * 2 * np.pi)
    elif kind == 1:  # blobs
        field = np.zeros_like(xx)
        for _ in range(int(rng.integers(20, 80))):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.01, 0.08)
            field += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        field = np.tanh(field)
    else:  # cells (distance to random points)
        points = rng.uniform(0, 1, (int(rng.integers(15, 60)), 2)).astype(np.float32)
        d = np.min(np.hypot(xx[..., None] - points[:, 0], yy[..., None] - points[:, 1]), axis=-1)
        field = np.cos(d * rng.uniform(20, 60))
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    img = a * field[..., None] + b * (1 - field[..., None])
    img += rng.normal(0, 6, img.shape)  # grain
    return np.clip(img, 0, 255).astype(np.uint8)


def _worlds(kind: str, n: int, seed: int) -> list[np.ndarray]:
    if kind == "photos":
        photos = common._photos()
        if n > len(photos):
            raise SystemExit(f"photos: at most {len(photos)} scenes")
        return photos[:n]
    rng = np.random.default_rng(seed)
    return [_texture(rng) for _ in range(n)]


def _lit(frame: np.ndarray, light: tuple[float, float, tuple[float, float, float]]) -> np.ndarray:
    brightness, contrast, cast = light
    x = frame.astype(np.float32)
    x = (x - 128) * contrast + 128
    x = x * brightness * np.asarray(cast, np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


def make_clips(folder: Path, kind: str, scenes: int, frames: int, seed: int) -> dict[str, int]:
    """Two clips per scene (``s03-shot1.mp4``); returns clip stem -> scene label."""
    import av

    labels: dict[str, int] = {}
    rng = np.random.default_rng(seed + 1)
    for s, world in enumerate(_worlds(kind, scenes, seed)):
        for shot, light in enumerate(LIGHTS):
            name = f"s{s:02d}-shot{shot}"
            labels[name] = s
            with av.open(str(folder / f"{name}.mp4"), "w") as container:
                stream = container.add_stream("libx264", rate=10)
                stream.width = stream.height = SIZE
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "20", "preset": "veryfast"}
                stream.codec_context.thread_count = 1
                for rgb in common._scene_frames(world, frames, SIZE, SIZE, rng):
                    frame = av.VideoFrame.from_ndarray(_lit(rgb, light), format="rgb24")
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
    return labels


def _read(out: Path, labels: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, scene labels, shot ids) of every embedded frame of a run."""
    with open(out / "data" / "embeddings.csv", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    names = [r[0] for r in rows]
    clips = [n.rsplit("-", 2)[0] for n in names]  # s03-shot1-0042-mp4.png -> s03-shot1
    shots = sorted(set(clips))
    emb = np.array([[float(v) for v in r[1:-1]] for r in rows], np.float32)
    return emb, np.array([labels[c] for c in clips]), np.array([shots.index(c) for c in clips])


def knn_accuracy(emb: np.ndarray, label: np.ndarray, shot: np.ndarray, k: int) -> float:
    """Leave-shot-out kNN: each frame's label by majority of its k nearest frames of other shots."""
    sims = emb @ emb.T
    sims[shot[:, None] == shot[None, :]] = -np.inf
    nearest = np.argsort(-sims, axis=1)[:, :k]
    votes = [Counter(label[row].tolist()).most_common(1)[0][0] for row in nearest]
    return float(np.mean(np.asarray(votes) == label))


def _run(inp: Path, out: Path, k: int, seed: int, training: dict[str, Any] | None) -> tuple[dict[str, Any], float]:
    import framepick

    settings: dict[str, Any] = {
        "input_dir": str(inp),
        "output_dir": str(out),
        "stopping_condition.n_samples": k,
        "cache_dir": None,
        "seed": seed,
    }
    if training is not None:
        settings |= {"enable_training": True, **training}
    start = time.perf_counter()
    result = framepick.run(framepick.load_config(overrides=settings))
    return result.report, time.perf_counter() - start


def measure(kind: str, args: argparse.Namespace, training: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        inp = Path(tmp) / "in"
        inp.mkdir()
        labels = make_clips(inp, kind, args.scenes, args.frames, args.seed)
        k = args.scenes - 2
        rows: dict[str, Any] = {}
        for name, settings in (("pretrained", None), ("fine-tuned", training)):
            out = Path(tmp) / name
            report, seconds = _run(inp, out, k, args.seed, settings)
            emb, label, shot = _read(out, labels)
            picked = [n.rsplit("-", 2)[0] for seq in report["sequences"] for n in seq["frame_names"]]
            rows[name] = {
                "knn_accuracy": round(knn_accuracy(emb, label, shot, args.knn), 4),
                "scenes_covered": len({labels[c] for c in picked}),
                "k": k,
                "run_sec": round(seconds, 1),
                "training": report["training"],
            }
            print(f"{kind} {name}: {json.dumps({x: y for x, y in rows[name].items() if x != 'training'})}", flush=True)
        return {"frames": len(labels) * args.frames, "scenes": args.scenes, **rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=7)
    ap.add_argument("--frames", type=int, default=100, help="frames per shot (two shots per scene)")
    ap.add_argument("--knn", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default="photos,textures")
    ap.add_argument("--epochs", type=int, default=None, help="lightly.trainer.max_epochs (default: framepick's)")
    ap.add_argument("--lr", type=float, default=None, help="lightly.optimizer.lr (default: framepick's)")
    ap.add_argument("--smoke", action="store_true", help="a tiny run: checks the script, measures nothing")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    training: dict[str, Any] = {}
    if args.epochs is not None:
        training["lightly.trainer.max_epochs"] = args.epochs
    if args.lr is not None:
        training["lightly.optimizer.lr"] = args.lr
    if args.smoke:
        args.scenes, args.frames = 4, 12
        training |= {"lightly.trainer.max_epochs": 1, "lightly.loader.batch_size": 8, "lightly.collate.input_size": 32}
    figures: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "out"}, "training": training}
    for kind in args.kinds.split(","):
        figures[kind] = measure(kind, args, training)
    if not args.smoke:
        path = common.save("training", figures, args.out)
        print(f"saved {path}")
    return figures


if __name__ == "__main__":
    main()
