"""Benchmark: the measured costs behind docs/scaling.md (executor=ray and selection at scale).

Runs the three measuring parts, each also a script of its own, and projects from them; writes
benchmarks/results/scaling.json:

1. per-frame costs: decoding, embedding, Ray's object store (bench_scaling_costs.py;
   ``frame_costs``);
2. whole runs, ``executor=local`` against ``executor=ray`` on a local Ray with 1 and 2 CPUs
   (bench_scaling_runs.py; ``ray_measured``, ``runs``);
3. greedy k-center at 1M-10M candidates (bench_scaling_kcenter.py; ``kcenter``,
   ``kcenter_projection``);
4. the projection for 1,000 hours of 30 fps video on 1-256 nodes from these costs and the
   stated assumptions (scaling_projection.py, pure arithmetic; ``projection``), explained in
   docs/scaling.md. ``python3 benchmarks/scaling_projection.py`` projects a stored file again.

    PYTHONPATH=src python3 benchmarks/bench_scaling.py            # about 15 minutes
    PYTHONPATH=src python3 benchmarks/bench_scaling.py --no-ray   # without the Ray parts
    PYTHONPATH=src python3 benchmarks/bench_scaling.py --smoke    # seconds, correctness only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
import bench_scaling_costs as costs_part
import bench_scaling_kcenter as kcenter_part
import bench_scaling_runs as runs_part
import scaling_projection
from bench_scaling_kcenter import _segments, kcenter_case  # noqa: F401  (their old home)
from scaling_projection import fit_power  # noqa: F401  (its old home)


def project(fig: dict[str, Any]) -> dict[str, Any]:
    """scaling.json's ``projection`` from its measured figures (``machine``, ``frame_costs``,
    ``runs``), with the default cluster: :func:`scaling_projection.project` on the JSON."""
    costs = scaling_projection.MeasuredCosts.from_figures(fig)
    return scaling_projection.project(costs).to_json()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_clip_arguments(ap)
    costs_part.add_arguments(ap)
    kcenter_part.add_arguments(ap)
    runs_part.add_arguments(ap)
    ap.add_argument("--no-ray", action="store_true", help="skip every Ray part")
    ap.add_argument("--no-kcenter", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/scaling.json)")
    args = ap.parse_args(argv)
    clips = common.ClipInput.from_args(args)
    repeat, transfer_reps = costs_part.settings(args)
    ray_cpus, stall, timeout = runs_part.settings(args)

    fig: dict[str, Any] = {
        "input": clips.describe(),
        "method": f"best of {repeat} rounds (wall); CPU time is the process's, all threads",
    }
    fig["frame_costs"] = costs_part.measure_costs(clips, repeat, not args.no_ray, transfer_reps)
    frames = fig["frame_costs"]["decode"]["threaded"]["frames"]
    fig.update(runs_part.measure_runs(clips.folder(), clips.size, frames, ray_cpus, stall, timeout, not args.no_ray))
    if not args.no_kcenter:
        fig.update(kcenter_part.measure_from_args(args))
    fig["machine"] = common.machine()
    fig["projection"] = project(fig)

    costs_part.print_costs(fig["frame_costs"])
    print()
    runs_part.print_runs(fig)
    if "kcenter" in fig:
        print()
        kcenter_part.print_kcenter(fig)
    print()
    scaling_projection.print_projection(fig["projection"])
    path = common.save("scaling" if not args.smoke else "scaling-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
