"""Benchmark: one whole ``framepick run`` with a million candidates (issue 23).

bench_million.py measures the selection-side stages one by one; this script runs the real
command end to end, so that every stage a user waits for is in the figures: discovering the
files, decoding every frame (the corruptness and exact-duplicate checks stay on, as by
default), joining the precomputed ``embeddings=`` (1M rows of a Lightly ``embeddings.csv``),
the sequences, greedy k-center (k = 10,000), and writing the outputs (``data/embeddings.csv``
and ``data/embeddings.npy`` of all rows, the selection files, report.json and the page).

The input is ``--videos`` small H.264 files of ``--frames`` frames each (64 x 64, distinct
moving content with noise, so that no frame is an exact duplicate of another), and the
embeddings are ``video_like`` points of bench_select.py (smooth walks, as sequence embeddings
are). ``selected_sequence_length=1``: a candidate is a frame, so 1M frames are 1M candidates
(with sequences of 10 frames the same million candidates would be 10M frames to decode; the
per-frame decode cost below scales that).

The run is a child process: its peak resident memory is ``ru_maxrss`` of the children, and
its stage times are report.json's ``timings_sec``. A ``framepick report`` rebuild (which reads
``data/embeddings.npy``) is timed after it.

    PYTHONPATH=src python3 benchmarks/bench_million_run.py             # ~25 minutes on 2 cores
    PYTHONPATH=src python3 benchmarks/bench_million_run.py --videos 2 --frames 500 --k 100  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = 64
DIM = 64
CLI = [sys.executable, "-c", "import sys; from framepick.cli import main; sys.exit(main())"]  # framepick, this Python


def make_video(path: Path, frames: int, seed: int) -> None:
    """``frames`` frames of a moving gradient with per-pixel noise: every frame differs."""
    import av

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    base = rng.uniform(0, 255, 3).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            shift = (i * 0.7 + seed * 13) % SIZE
            img = np.empty((SIZE, SIZE, 3), np.float32)
            for c in range(3):
                img[..., c] = base[c] + 60 * np.sin((x + shift) / (5 + c)) + 40 * np.cos((y - shift) / (7 + c))
            img += rng.normal(0, 12, img.shape).astype(np.float32)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def prepare(folder: Path, videos: int, frames: int) -> dict[str, Any]:
    """The input folder and the precomputed embeddings.csv (names as a run gives them)."""
    from bench_select import video_like

    from framepick.write import write_embeddings_csv

    inputs = folder / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for v in range(videos):
        make_video(inputs / f"clip{v:04d}.mp4", frames, seed=v)
    encode_sec = time.perf_counter() - start
    width = len(str(frames))
    names = [f"clip{v:04d}-{i:0{width}d}-mp4.png" for v in range(videos) for i in range(frames)]
    start = time.perf_counter()
    write_embeddings_csv(folder / "embeddings.csv", names, video_like(len(names), DIM, seed=1))
    return {
        "encode_sec": round(encode_sec, 1),
        "input_bytes": sum(p.stat().st_size for p in inputs.iterdir()),
        "embeddings_csv_write_sec": round(time.perf_counter() - start, 1),
        "embeddings_csv_bytes": (folder / "embeddings.csv").stat().st_size,
    }


def timed_child(cmd: list[str]) -> tuple[float, int]:
    """Seconds and peak resident bytes of one child process (Linux ru_maxrss is in KiB)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def measure(folder: Path, videos: int, frames: int, k: int, keep: bool = False) -> dict[str, Any]:
    """Make the input, run ``framepick run`` and ``framepick report`` on it; the figures."""
    shutil.rmtree(folder, ignore_errors=True)
    setup = prepare(folder, videos, frames)
    out_dir = folder / "out"
    run_cmd = [
        *CLI,
        "run",
        f"input_dir={folder / 'input'}",
        f"output_dir={out_dir}",
        f"embeddings={folder / 'embeddings.csv'}",
        "selected_sequence_length=1",
        f"stopping_condition.n_samples={k}",
        "cache_dir=none",
    ]
    run_sec, run_peak = timed_child(run_cmd)
    report = json.loads((out_dir / "report.json").read_text())
    sizes = {p: (out_dir / p).stat().st_size for p in ("data/embeddings.csv", "data/embeddings.npy", "report.json")}
    rebuild_sec, _ = timed_child([*CLI, "report", str(out_dir)])
    candidates = videos * frames
    result = {
        "videos": videos,
        "frames_per_video": frames,
        "candidates": candidates,
        "k": k,
        "setup": setup,
        "run_sec": round(run_sec, 1),
        "run_peak_rss_gb": round(run_peak / 1e9, 2),
        "timings_sec": report.get("timings_sec"),
        "selected": len(report.get("sequences", [])),
        "output_bytes": sizes,
        "report_rebuild_sec": round(rebuild_sec, 1),
        "per_candidate_us": round(run_sec / candidates * 1e6, 1),
        "load_after": list(os.getloadavg()),
    }
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    from _common import save

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=100)
    ap.add_argument("--frames", type=int, default=10_000, help="frames per video")
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--dir", default="/tmp/framepick-million-run")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    result = measure(Path(args.dir), args.videos, args.frames, args.k, keep=args.keep)
    print(json.dumps(result, indent=2))
    print(save("million-run", result, args.out))


if __name__ == "__main__":
    main()
