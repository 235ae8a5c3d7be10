"""Benchmark 4: peak memory (RSS) of a 100,000-frame run.

The input is 100,000 frames of small generated H.264 clips (160x90: decoding cost is not
the point here), run end to end in a child process at ``model.input_size=32`` so it takes
minutes, not hours; the embeddings, the frame table, the CSV files and the selection are
full size (1280-d per frame) whatever the input size, and they are what grows with N.
Peak RSS is the child's ``ru_maxrss``. Target: < 2 GB.

    PYTHONPATH=src python3 benchmarks/bench_memory.py
    PYTHONPATH=src python3 benchmarks/bench_memory.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

CHILD = r"""
import json, resource, sys, time
from framepick import load_config, run
words = json.loads(sys.argv[1])
start = time.perf_counter()
result = run(load_config(overrides=words))
print(json.dumps({
    "frames": len(result.table),
    "sec": time.perf_counter() - start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "timings_sec": result.timings,
}))
"""


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--frames", type=int, default=5000, help="frames per clip")
    ap.add_argument("--size", type=int, default=32, help="model.input_size")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.smoke:
        args.clips, args.frames = 2, 30
    input_dir = common.make_input("small", args.clips, args.frames, 160, 90)
    with tempfile.TemporaryDirectory(prefix="framepick-mem-") as work:
        words = {
            "input_dir": str(input_dir),
            "output_dir": str(Path(work) / "out"),
            "stopping_condition.n_samples": 1000 if not args.smoke else 10,
            "model.input_size": args.size,
            "cache_dir": None,  # measure the full decode + embed, never a cached rerun
        }
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(common.HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(words)], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        csv_mb = (Path(work) / "out" / "data" / "embeddings.csv").stat().st_size / 2**20
    child["wall_sec"] = time.perf_counter() - start
    child["embeddings_csv_mb"] = csv_mb
    child["model_input_size"] = args.size
    print(
        common.table(
            [(child["frames"], child["peak_rss_mb"], child["sec"], child["timings_sec"].get("write", 0.0))],
            ("frames", "peak RSS MB", "run s", "write s"),
        )
    )
    path = common.save("memory" if not args.smoke else "memory-smoke", child, args.out)
    print(f"\nwritten {path}")
    return child


if __name__ == "__main__":
    main()
