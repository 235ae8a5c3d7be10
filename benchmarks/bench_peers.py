"""framepick against fastdup on the same generated frames, in one run: time and quality.

Input (generated, cached under benchmarks/.data): ``--scenes`` scenes of ``--scene-len``
frames, each a virtual camera moving over a real photograph (see ``_common``), written
twice: as loose JPEG files (768x576, quality 90) in one folder, and as one H.264 clip of
the same frames. Scene boundaries are known, so quality has a ground truth.

Each tool runs as a fresh process, the way a user runs it, picking ``--picks`` frames:

* framepick: ``framepick run input_dir=IN output_dir=OUT stopping_condition.n_samples=K``
  at default settings (report, plots and thumbnails included), with an empty embedding
  cache every time; the ONNX export of the model, made once per machine, is kept.
* fastdup: ``fastdup.run_kmeans(num_clusters=K)`` with its bundled model, then the frame
  nearest each centroid. fastdup is optional: give its interpreter with ``--fastdup-python``
  (it pins its own NumPy, so it lives best in its own virtual environment); without it the
  fastdup rows are skipped.

The runs alternate between the tools and the best of ``--repeat`` counts. Quality, for
both tools: the share of ground-truth scenes that hold at least one pick, and the covering
radius of the picks (the largest distance from any frame to its nearest pick) in
framepick's reference space (EfficientNet-Lite0, fp32 PyTorch, 224 px from fully decoded
frames, L2-normalised), relative to the reference k-center selection's radius. The reference
sees the pixels framepick saw before the speed levers of issue #13: JPEG files fully
decoded and resized by Pillow, video frames through FFmpeg's scaler.

    PYTHONPATH=src python3 benchmarks/bench_peers.py --fastdup-python /path/to/venv/bin/python
    PYTHONPATH=src python3 benchmarks/bench_peers.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

_FASTDUP = """
import csv, sys, fastdup
inp, work, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
if fastdup.run_kmeans(input_dir=inp, work_dir=work, num_clusters=k, verbose=False) not in (0, None):
    sys.exit("fastdup failed")
best = {}
with open(work + "/kmeans_assignments.csv", newline="") as fh:
    for row in csv.DictReader(fh):
        c, d = int(row["cluster"]), float(row["distance"])
        if c not in best or d < best[c][0]:
            best[c] = (d, row["filename"])
print("\\n".join(name for _, name in sorted(best.values(), key=lambda t: t[1])))
"""


def make_scenes(n_scenes: int, scene_len: int, width: int, height: int, seed: int = 11) -> Path:
    """``frames/`` (loose JPEG files), ``video/scenes.mp4`` and ``labels.json`` (scene of each frame)."""
    import av
    from PIL import Image

    root = common.DATA / f"peers-{n_scenes}x{scene_len}-{width}x{height}-s{seed}"
    if (root / "labels.json").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / "frames").mkdir(parents=True)
    (root / "video").mkdir()
    rng = np.random.default_rng(seed)
    photos = common._photos()
    labels: list[int] = []
    with av.open(str(root / "video" / "scenes.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        stream.codec_context.thread_count = 1  # the same bytes every time (see _common.make_clip)
        for scene in range(n_scenes):
            photo = photos[(scene + int(rng.integers(len(photos)))) % len(photos)]
            for rgb in common._scene_frames(photo, scene_len, width, height, rng):
                Image.fromarray(rgb).save(root / "frames" / f"frame_{len(labels):05d}.jpg", quality=90)
                labels.append(scene)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    (root / "labels.json").write_text(json.dumps(labels))
    return root


def reference_embeddings(root: Path, kind: str, size: int) -> np.ndarray:
    """Every frame through the fp32 PyTorch model, L2-normalised: the pixels as framepick saw
    them before this benchmark's levers (images fully decoded and resized by Pillow, video
    frames through FFmpeg's scaler as framepick decodes them)."""
    from PIL import Image

    from framepick.decode import PyAVDecoder
    from framepick.discover import discover
    from framepick.embed import TorchEmbedder

    if kind == "frames":
        files = sorted((root / "frames").iterdir())
        frames = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)) for p in files]
    else:
        (source,) = discover(root / "video")
        frames = [f.pixels for f in PyAVDecoder().frames(source, size) if f.pixels is not None]
    model = TorchEmbedder(size, "cpu")
    emb = np.concatenate([model.embed(np.stack(frames[i : i + 32])) for i in range(0, len(frames), 32)])
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _index(name: str) -> int:
    """A frame's index from a picked name: ``frame_00042.jpg``, ``scenes-0042-mp4.png``, ..."""
    video = re.search(r"-(\d+)-[A-Za-z0-9]+\.png$", name)  # Lightly's name of a video frame
    if video:
        return int(video.group(1))
    numbers = re.findall(r"\d+", Path(name).name)
    if not numbers:
        raise ValueError(f"no frame number in {name!r}")
    return int(numbers[-1])


def _run_framepick(inp: Path, k: int, cache: Path) -> tuple[float, list[int]]:
    from framepick.cache import CACHE_VERSION

    shutil.rmtree(cache / f"v{CACHE_VERSION}", ignore_errors=True)  # no embeddings from an earlier run
    with tempfile.TemporaryDirectory(prefix="peers-fp-") as tmp:
        words = [f"input_dir={inp}", f"output_dir={tmp}/out", f"stopping_condition.n_samples={k}"]
        env = dict(os.environ, FRAMEPICK_CACHE_DIR=str(cache))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "framepick.cli", "run", *words], env=env, check=True, capture_output=True)
        sec = time.perf_counter() - start
        names = (Path(tmp) / "out/filenames/sampled_filenames.txt").read_text().split()
    return sec, [_index(n) for n in names]


def _run_fastdup(python: str, inp: Path, k: int) -> tuple[float, list[int]]:
    with tempfile.TemporaryDirectory(prefix="peers-fd-") as tmp:
        env = dict(os.environ, SENTRY_OPT_OUT="1")
        start = time.perf_counter()
        cmd = [python, "-c", _FASTDUP, str(inp.resolve()), f"{tmp}/work", str(k)]
        # run in the temporary folder: fastdup writes an error.msg log where it runs
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        sec = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr or proc.stdout).strip().splitlines()[-1] if proc.stderr else "failed")
    names = [line for line in proc.stdout.splitlines() if line.strip() and not line.startswith("fastdup")]
    return sec, [_index(n) for n in names]


def _quality(picks: list[int], labels: np.ndarray, ref: np.ndarray, ref_radius: float) -> dict[str, Any]:
    from framepick.select import covering_radius

    picked = np.asarray(sorted(set(picks)), dtype=np.int64)
    radius = covering_radius(ref, picked)
    return {
        "picks": len(picked),
        "scenes_covered": float(len(set(labels[picked].tolist())) / len(set(labels.tolist()))),
        "radius": float(radius),
        "radius_ratio": float(radius / ref_radius),
    }


def _prepare_framepick(cache: Path) -> float:
    """The one-time ONNX export into ``cache`` (kept between runs, timed on its own)."""
    from framepick.embed import OnnxEmbedder

    start = time.perf_counter()
    OnnxEmbedder.export(224, cache / "onnx")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--scene-len", type=int, default=30)
    ap.add_argument("--picks", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fastdup-python", help="an interpreter that imports fastdup (default: skip fastdup)")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    width, height = 768, 576
    if args.smoke:
        args.scenes, args.scene_len, args.picks, args.repeat, width, height = 3, 4, 3, 1, 192, 144
    from framepick.select import covering_radius, select

    root = make_scenes(args.scenes, args.scene_len, width, height)
    labels = np.asarray(json.loads((root / "labels.json").read_text()))
    cache = Path(tempfile.mkdtemp(prefix="peers-cache-"))
    export_sec = _prepare_framepick(cache)
    tools = {"framepick": lambda inp: _run_framepick(inp, args.picks, cache)}
    if args.fastdup_python:
        tools["fastdup"] = lambda inp: _run_fastdup(args.fastdup_python, inp, args.picks)
    rows, results = [], []
    for kind, inp in (("frames", root / "frames"), ("video", root / "video")):
        ref = reference_embeddings(root, kind, 224 if not args.smoke else 64)
        ref_radius = covering_radius(ref, select(ref, n_samples=args.picks).indices)
        best: dict[str, float] = {}
        quality: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):  # alternate the tools, keep the best time of each
            for tool, run in tools.items():
                try:
                    sec, picks = run(inp)
                except Exception as exc:  # e.g. a tool that cannot read this input
                    quality[tool] = {"error": str(exc)[:300]}
                    continue
                best[tool] = min(sec, best.get(tool, float("inf")))
                quality[tool] = _quality(picks, labels, ref, ref_radius)
        for tool in tools:
            q = quality.get(tool, {})
            entry = {"input": kind, "tool": tool, "seconds": best.get(tool), **q}
            if "fastdup" in best and tool in best:
                entry["speedup_vs_fastdup"] = best["fastdup"] / best[tool]
            results.append(entry)
            rows.append(
                (
                    kind,
                    tool,
                    best.get(tool, float("nan")),
                    entry.get("speedup_vs_fastdup", float("nan")),
                    q.get("scenes_covered", float("nan")),
                    q.get("radius_ratio", float("nan")),
                    q.get("error", ""),
                )
            )
    shutil.rmtree(cache, ignore_errors=True)
    print(common.table(rows, ("input", "tool", "best s", "x fastdup", "scenes covered", "radius / ref", "error")))
    fig = {
        "input": {"scenes": args.scenes, "scene_len": args.scene_len, "size": [width, height], "picks": args.picks},
        "repeat": args.repeat,
        "framepick_onnx_export_once_sec": export_sec,
        "results": results,
    }
    path = common.save("peers" if not args.smoke else "peers-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
