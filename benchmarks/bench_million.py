"""Benchmark: the selection-side stages of a run at a million candidates (issue 23).

One million candidates of 64 dimensions (``video_like`` points of bench_select.py: smooth
walks, as a run's sequence embeddings are), each stage in its own process so that its peak
resident memory (``ru_maxrss``) is its own:

* ``select``: ``framepick.select.kcenter_greedy`` (the pipeline's call), k = 10,000;
* ``write_csv``: ``write_embeddings_csv`` of the million rows with frame names as a run
  names them (``clipNNNN.mp4/frame_NNNNNN``), against the disk's own speed (a 1 GiB write of
  raw bytes with fsync, the same folder), each with the file synced to disk before the clock
  stops; ``write_csv_numpy``: the same file by the vectorised NumPy formatter that wrote it
  before the compiled rows (``format_floats`` and NumPy row assembly, one thread);
* ``write_csv_10m``: ten million rows (the million points ten times over, through the
  ``rows`` argument, as a run of 10-frame sequences writes a frame per row): the file at the
  size the issue names, streamed, with its peak memory, against ``disk_csv_10m`` (the 1M
  file's bytes written ten times with fsync, no formatting: what the disk takes for this
  file, right before) and ``disk_10g`` (10 GiB of random bytes with fsync: a 1 GiB write
  overstates the sustained speed where the host caches writes, and the host's speed for
  text and for random bytes differs); ``write_csv_10m_null``: the same rows to /dev/null,
  what formatting alone costs;
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
import filecmp
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


def _write_csv_numpy(path: Path, names: list[str], x: np.ndarray, block: int = 512) -> None:
    """embeddings.csv as framepick wrote it before the compiled rows: NumPy formatting of a
    block into a NUL-padded byte matrix, the NULs stripped (the reference of the speed-up)."""
    from framepick.write import format_floats

    with open(path, "wb") as fh:
        fh.write((",".join(["filenames", *(f"embedding_{i}" for i in range(x.shape[1])), "labels"]) + "\n").encode())
        for begin in range(0, len(names), block):
            fields = [name.encode() + b"," for name in names[begin : begin + block]]
            body = format_floats(x[begin : begin + block])
            width = max(map(len, fields))
            rows = np.zeros((len(fields), width + body.shape[1] + 2), np.uint8)
            rows[:, :width] = np.array(fields, dtype=f"S{width}").view(np.uint8).reshape(len(fields), width)
            rows[:, width : width + body.shape[1]] = body
            rows[:, -2:] = np.frombuffer(b"0\n", np.uint8)
            fh.write(rows.tobytes().replace(b"\x00", b""))


def stage(name: str, folder: Path, read_rows: int) -> dict[str, Any]:
    """Run one stage in this process; its figures (seconds, bytes, peak RSS)."""
    from framepick.embeddings_csv import read_embeddings_csv
    from framepick.select import kcenter_greedy
    from framepick.write import write_embeddings_csv, write_embeddings_npy

    x = np.load(folder / "points.npy")
    names = _names(len(x)) if name in ("write_csv", "write_csv_numpy") else []
    out: dict[str, Any] = {}
    if name.startswith("write_csv"):  # loading the compiled kernel (and the NumPy tables), once a process
        start = time.perf_counter()
        (_write_csv_numpy if name == "write_csv_numpy" else write_embeddings_csv)(Path(os.devnull), ["a"], x[:1])
        out["warm_up_sec"] = time.perf_counter() - start
    start = time.perf_counter()
    if name == "select":
        picks = kcenter_greedy(x, K, 0)[0]
        out["picks"] = len(picks)
    elif name == "write_csv":
        write_embeddings_csv(folder / "embeddings.csv", names, x)
        os.sync()
        out["bytes"] = (folder / "embeddings.csv").stat().st_size
    elif name == "write_csv_numpy":
        _write_csv_numpy(folder / "embeddings-numpy.csv", names, x)
        os.sync()
        out["bytes"] = (folder / "embeddings-numpy.csv").stat().st_size
        out["identical_to_compiled"] = filecmp.cmp(folder / "embeddings-numpy.csv", folder / "embeddings.csv", False)
    elif name in ("write_csv_10m", "write_csv_10m_null"):
        names = _names(10 * len(x))
        target = folder / "embeddings-10m.csv" if name == "write_csv_10m" else Path(os.devnull)
        start = time.perf_counter()
        write_embeddings_csv(target, names, x, rows=np.arange(10 * len(x)) % len(x))
        os.sync()
        if name == "write_csv_10m":
            out["bytes"] = target.stat().st_size
            (folder / "csv-10m-bytes.txt").write_text(str(out["bytes"]))
        else:  # the bytes written to /dev/null: those of the same file on disk
            out["bytes"] = int((folder / "csv-10m-bytes.txt").read_text())
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
    elif name == "disk_csv_10m":
        data = (folder / "embeddings.csv").read_bytes()
        start = time.perf_counter()
        with open(folder / "raw-csv.bin", "wb") as fh:
            for _ in range(10):
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        out["bytes"] = (folder / "raw-csv.bin").stat().st_size
    elif name in ("disk", "disk_10g"):
        block = np.random.default_rng(0).integers(0, 255, 1 << 30, dtype=np.uint8).tobytes()
        start = time.perf_counter()
        with open(folder / "raw.bin", "wb") as fh:
            for _ in range(1 if name == "disk" else 10):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        out["bytes"] = (folder / "raw.bin").stat().st_size
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
    stages = (
        "disk,select,write_csv,write_csv_numpy,disk_csv_10m,write_csv_10m,write_csv_10m_null,disk_10g,"
        "write_npy,load_npy,read_csv"
    )
    help_stages = "in order: write_csv before write_csv_numpy and disk_csv_10m, _10m before _10m_null"
    ap.add_argument("--stages", default=stages, help=help_stages)
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
        for name in args.stages.split(","):
            cmd = [sys.executable, __file__, "--stage", name, "--dir", str(args.dir)]
            cmd += ["--read-rows", str(args.read_rows)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ)
            figures["stages"][name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, figures["stages"][name], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    st = figures["stages"]
    if "read_csv" in st:
        figures["read_csv_sec_per_million_rows"] = st["read_csv"]["sec"] * 1e6 / st["read_csv"]["rows"]
    if "write_csv" in st:
        figures["csv_bytes_per_row"] = st["write_csv"]["bytes"] / N
        figures["csv_10m_frames_gb"] = figures["csv_bytes_per_row"] * 10 * N / 1e9
    if "write_csv_numpy" in st:
        figures["csv_compiled_speedup"] = st["write_csv_numpy"]["sec"] / st["write_csv"]["sec"]
    for key, disk in (("write_csv", "disk"), ("write_csv_10m", "disk_10g"), ("write_csv_10m", "disk_csv_10m")):
        if key in st and disk in st:
            figures[f"{key}_share_of_{disk}_speed"] = st[key]["mb_per_s"] / st[disk]["mb_per_s"]
    figures["load_after"] = os.getloadavg()
    print(common.save("million", figures))


if __name__ == "__main__":
    main()
