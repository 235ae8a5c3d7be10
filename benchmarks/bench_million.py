"""Benchmark: the selection-side stages of a run at a million candidates (issue 23).

One million candidates of 64 dimensions (``video_like`` points of bench_select.py: smooth
walks, as a run's sequence embeddings are), each stage in its own process so that its peak
resident memory (``ru_maxrss``) is its own:

* ``select``: ``framepick.select.kcenter_greedy`` (the pipeline's call), k = 10,000;
* ``write_csv``: ``write_embeddings_csv`` of the million rows with frame names as a run
  names them (``clipNNNN.mp4/frame_NNNNNN``), against the disk's own speed (a 1 GiB write of
  raw bytes with fsync, the same folder);
* ``write_npy`` / ``load_npy``: ``write_embeddings_npy`` and ``np.load`` of data/embeddings.npy;
* ``read_csv``: ``read_embeddings_csv`` (what ``embeddings=`` and an older report rebuild
  read), on the first ``--read-rows`` rows of the CSV (the parse is per row: its time scales
  with the rows; the JSON says how many were read).

Decoding and embedding 10M frames are not part of this script (docs/scaling.md has their
per-frame costs). Files go to ``--dir`` (default /tmp/framepick-million) and are deleted at
the end unless ``--keep``.

    PYTHONPATH=src python3 benchmarks/bench_million.py          # ~5 minutes on 2 cores
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

N, DIM, K = 1_000_000, 64, 10_000


def _names(n: int) -> list[str]:
    return [f"clip{i // 10_000:04d}.mp4/frame_{i % 10_000:06d}" for i in range(n)]


def stage(name: str, folder: Path, read_rows: int) -> dict[str, Any]:
    """Run one stage in this process; its figures (seconds, bytes, peak RSS)."""
    from framepick.embeddings_csv import read_embeddings_csv
    from framepick.select import kcenter_greedy
    from framepick.write import write_embeddings_csv, write_embeddings_npy

    x = np.load(folder / "points.npy")
    out: dict[str, Any] = {}
    start = time.perf_counter()
    if name == "select":
        picks = kcenter_greedy(x, K, 0)[0]
        out["picks"] = len(picks)
    elif name == "write_csv":
        write_embeddings_csv(folder / "embeddings.csv", _names(len(x)), x)
        os.sync()
        out["bytes"] = (folder / "embeddings.csv").stat().st_size
    elif name == "write_npy":
        write_embeddings_npy(folder / "embeddings.npy", x, rows=np.arange(len(x)))
        os.sync()
        out["bytes"] = (folder / "embeddings.npy").stat().st_size
    elif name == "load_npy":
        back = np.load(folder / "embeddings.npy")
        out["identical"] = bool(np.array_equal(back, x))
    elif name == "read_csv":
        with open(folder / "embeddings.csv", "rb") as src, open(folder / "part.csv", "wb") as dst:
            for _ in range(read_rows + 1):
                dst.write(src.readline())
        start = time.perf_counter()
        rows = read_embeddings_csv(folder / "part.csv")
        out["rows"] = len(rows)
        out["identical"] = bool(np.array_equal(np.stack(list(rows.values())), x[: len(rows)]))
    elif name == "disk":
        block = np.random.default_rng(0).integers(0, 255, 1 << 30, dtype=np.uint8).tobytes()
        start = time.perf_counter()
        with open(folder / "raw.bin", "wb") as fh:
            fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        out["bytes"] = len(block)
    out["sec"] = time.perf_counter() - start
    if "bytes" in out:
        out["mb_per_s"] = out["bytes"] / out["sec"] / 1e6
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/framepick-million"))
    ap.add_argument("--read-rows", type=int, default=100_000)
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, args.dir, args.read_rows)))
        return
    import _common as common
    from bench_select import video_like

    args.dir.mkdir(parents=True, exist_ok=True)
    np.save(args.dir / "points.npy", video_like(N, DIM, seed=0))
    figures: dict[str, Any] = {"n": N, "dim": DIM, "k": K, "load_before": os.getloadavg(), "stages": {}}
    try:
        for name in ("disk", "select", "write_csv", "write_npy", "load_npy", "read_csv"):
            cmd = [sys.executable, __file__, "--stage", name, "--dir", str(args.dir)]
            cmd += ["--read-rows", str(args.read_rows)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ)
            figures["stages"][name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, figures["stages"][name], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    st = figures["stages"]
    figures["read_csv_sec_per_million_rows"] = st["read_csv"]["sec"] * 1e6 / st["read_csv"]["rows"]
    figures["csv_bytes_per_row"] = st["write_csv"]["bytes"] / N
    figures["csv_10m_frames_gb"] = figures["csv_bytes_per_row"] * 10 * N / 1e9
    figures["csv_10m_frames_sec_at_measured_rate"] = 10 * st["write_csv"]["sec"]
    figures["load_after"] = os.getloadavg()
    print(common.save("million", figures))


if __name__ == "__main__":
    main()
