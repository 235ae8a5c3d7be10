"""The projection of docs/scaling.md sections 3 and 4: arithmetic on measured costs, no timing.

Two pure functions, kept apart from the scripts that measure so that tests can check the
arithmetic on hand-computed cases and a stored results file can be projected again:

* :func:`project`: 1,000 hours of 30 fps video on 1-256 CPU or GPU nodes, from the measured
  per-frame costs (:class:`MeasuredCosts`) and an assumed cluster (:class:`ClusterShape`);
* :func:`project_kcenter`: greedy k-center at 10M and 100M candidates, from the measured
  k-center cases (:class:`KCenterTiming`).

Their results are typed; ``to_json()`` gives the ``projection`` and ``kcenter_projection``
objects of benchmarks/results/scaling.json, key for key. Run as a script, it projects a
results file again without measuring anything::

    PYTHONPATH=src python3 benchmarks/scaling_projection.py                  # results/scaling.json
    PYTHONPATH=src python3 benchmarks/scaling_projection.py other.json --write  # and store them
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

FRAME_BYTES_224 = 224 * 224 * 3  # a model-sized uint8 frame: 150,528 bytes
EMBEDDING_BYTES = 1280 * 4  # one full embedding, float32: 5,120 bytes
REDUCED_BYTES = 64 * 4  # one embedding in 64 principal components, float32: 256 bytes
WORKERS = "workers"  # the name of the workers' limit in :func:`bottleneck`
DRIVER_LOOP = "driver executor loop (one core)"


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ClusterShape:
    """What the projection assumes rather than measures (docs/scaling.md, section 3)."""

    hours: int = 1_000
    video_fps: int = 30
    cores_per_cpu_node: int = 16
    gpu_fps_per_node: tuple[int, ...] = (5_000, 10_000)  # EfficientNet-Lite0 at 224, fp16, one modern GPU
    decode_cores_per_gpu_node: int = 16
    nic_gbit: tuple[int, ...] = (10, 25)  # the first is the links' speed; every one gets link rates
    nodes: tuple[int, ...] = (1, 4, 16, 64, 256)
    candidates: Mapping[str, float] = field(default_factory=lambda: {"L=1": 1.0, "L=10": 0.1})
    n_samples: float = 0.1

    @property
    def frames(self) -> int:
        return self.hours * 3600 * self.video_fps

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {
            k: list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v for k, v in out.items()
        }


@dataclass(frozen=True)
class MeasuredCosts:
    """The measured figures the projection rests on (docs/scaling.md, sections 1 and 2)."""

    decode_cpu_ms: float  # CPU ms (all threads) to decode a frame as a run decodes
    embed_cpu_ms: float  # CPU ms to embed a frame, the fastest batch
    embed_batch: str  # which batch that was ("batch_8")
    per_core_fps: float  # frames/s per core of a measured decode+embed stage
    per_core_from: str  # which stage that was
    driver_cpu_ms: float | None  # the driver's executor loop, CPU ms a frame (None: not measured)
    table_other_bytes: float  # the driver's frame table a frame, besides the embeddings

    @classmethod
    def from_figures(cls, fig: Mapping[str, Any]) -> MeasuredCosts:
        """From a scaling.json (``machine``, ``frame_costs`` and ``runs``). The per-core rate
        is the 2-CPU Ray run's ``embed_sources_ray`` where it was measured, else the local
        run's decode+embed stage; only the Ray run measures the driver's loop."""
        cores = fig["machine"]["cores"] or 2
        costs, runs = fig["frame_costs"], fig["runs"]
        batch = max((k for k in costs["embed"] if k.startswith("batch_")), key=lambda k: costs["embed"][k]["fps"])
        ray2 = runs.get("ray_2cpu", {})
        if ray2.get("measured"):
            per_core, source = ray2["executor_only"]["fps"] / cores, "Ray run, 2 CPUs, decode+embed stage"
            driver_ms = ray2["executor_only"]["driver_cpu_ms_per_frame"]
        else:
            per_core = runs["frames"] / runs["local"]["stage_sec"]["decode_embed"] / cores
            source, driver_ms = "local run, decode+embed stage", None
        return cls(
            decode_cpu_ms=costs["decode"]["threaded"]["cpu_ms_per_frame"],
            embed_cpu_ms=costs["embed"][batch]["cpu_ms_per_frame"],
            embed_batch=batch,
            per_core_fps=per_core,
            per_core_from=source,
            driver_cpu_ms=driver_ms,
            table_other_bytes=runs["local"].get("table_bytes_per_frame", {}).get("other", 0.0),
        )


@dataclass(frozen=True)
class KCenterTiming:
    """One measured k-center case (scaling.json's ``kcenter.cases[i]`` or ``kcenter.long``)."""

    n: int
    k: int
    sec: float  # all k picks
    peak_extra_bytes_per_point: float
    floor_ns_per_point: float  # the O(N) part of one pick, per point
    late_ns_per_point_per_pick: float  # a pick in the last measured segment, per point
    late_picks: tuple[int, int]  # that segment's first and last pick

    @classmethod
    def from_case(cls, case: Mapping[str, Any]) -> KCenterTiming:
        last = case["segments"][-1]
        return cls(
            n=case["n"],
            k=case["k"],
            sec=case["sec"],
            peak_extra_bytes_per_point=case["peak_extra_bytes_per_point"],
            floor_ns_per_point=case["floor_ns_per_point"],
            late_ns_per_point_per_pick=last["ns_per_point_per_pick"],
            late_picks=(last["picks"][0], last["picks"][1]),
        )


# ---------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class CpuNodes:
    """N CPU nodes: the rate (``fps``), what limits it and the hours; field names are JSON keys."""

    fps_without_driver_loop: float
    limit_without_driver_loop: str
    hours_without_driver_loop: float
    workers_fps_low: float
    workers_fps_high: float
    fps: float
    limit: str
    hours: float
    hours_at_low: float
    frame_gbit_per_node_if_all_cross: float
    driver_in_gbit_full: float
    driver_in_gbit_64d: float


@dataclass(frozen=True)
class GpuNodes:
    """N GPU nodes of one assumed GPU rate, decoding on their own cores or fed decoded frames."""

    fps_local_decode: float
    limit_local_decode: str
    hours_local_decode: float
    fps_if_fed: float
    limit_if_fed: str
    hours_if_fed: float
    driver_in_gbit_full_if_fed: float
    fps_if_fed_without_driver_loop: float
    limit_if_fed_without_driver_loop: str
    hours_if_fed_without_driver_loop: float


@dataclass(frozen=True)
class NodeRow:
    nodes: int
    cpu: CpuNodes
    gpu: dict[int, GpuNodes]  # by the GPU's assumed frames/s

    def to_json(self) -> dict[str, Any]:
        gpu = {f"gpu_{g}": dataclasses.asdict(row) for g, row in self.gpu.items()}
        return {"nodes": self.nodes, "cpu": dataclasses.asdict(self.cpu), **gpu}


@dataclass(frozen=True)
class GpuFeed:
    """What one GPU of an assumed rate needs to be kept busy."""

    decode_cores_to_feed: float
    frame_gbit_in_if_fed_remotely: float
    gpu_busy_with_local_decode: float


@dataclass(frozen=True)
class SelectionSize:
    """The candidates of one sequence length over all the video, and what they weigh."""

    candidates: int
    full_embeddings_gb: float
    points_64d_gb: float
    k_at_n_samples: int


@dataclass(frozen=True)
class Projection:
    """:func:`project`'s result; ``to_json()`` is scaling.json's ``projection``."""

    assumptions: ClusterShape
    frames: int
    decode_core_ms_per_frame: float
    embed_core_ms_per_frame: float
    embed_batch_used: str
    measured_fps_per_core: float
    measured_from: str
    cpu_node_fps_low: float
    cpu_node_fps_high: float
    driver_executor_cpu_ms_per_frame: float | None
    driver_executor_fps_limit: float | None
    driver_link_fps_full: dict[int, float]  # by link Gbit/s
    driver_link_fps_64d: dict[int, float]
    node_link_fps_frames: dict[int, float]
    gpu_node_decode_fps: float
    gpu: dict[int, GpuFeed]  # by the GPU's assumed frames/s
    driver_table_bytes_per_frame_besides_embeddings: float
    driver_table_gb_all_frames: dict[str, float]
    rows: list[NodeRow]
    selection: dict[str, SelectionSize]

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["assumptions"] = self.assumptions.to_json()
        for key in ("driver_link_fps_full", "driver_link_fps_64d", "node_link_fps_frames"):
            out[key] = {str(g): v for g, v in out[key].items()}
        out["gpu"] = {str(g): dataclasses.asdict(v) for g, v in self.gpu.items()}
        out["rows"] = [row.to_json() for row in self.rows]
        out["selection"] = {label: dataclasses.asdict(v) for label, v in self.selection.items()}
        return out


@dataclass(frozen=True)
class KCenterAt:
    """Greedy k-center projected to ``n`` candidates."""

    n: int
    points_gb: float
    peak_gb: float
    sec_k1000: float
    k_10_percent: int
    sec_k_10_percent_low: float
    sec_k_10_percent_high: float


@dataclass(frozen=True)
class KCenterProjection:
    """:func:`project_kcenter`'s result; ``to_json()`` is scaling.json's ``kcenter_projection``."""

    c: float
    p: float
    extra_bytes_per_point: float
    floor_ns_per_point_per_pick: float
    late_ns_per_point_per_pick: float
    late_from_n: int
    late_from_picks: tuple[int, int]
    at: list[KCenterAt]
    model: str = "sec(N, k=1000) = c * N**p, least squares in log-log over the measured N"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "c": self.c,
            "p": self.p,
            "extra_bytes_per_point": self.extra_bytes_per_point,
            "floor_ns_per_point_per_pick": self.floor_ns_per_point_per_pick,
            "late_ns_per_point_per_pick": self.late_ns_per_point_per_pick,
            "late_from": {"n": self.late_from_n, "picks": list(self.late_from_picks)},
            "at": [dataclasses.asdict(a) for a in self.at],
        }


# ---------------------------------------------------------------------------- 1,000 hours


def bottleneck(workers_fps: float, driver_fps: float | None, gbit: float) -> tuple[float, str]:
    """The run's rate and what sets it: the workers, the driver's executor loop (one core;
    None: a loop that costs nothing), or the driver's link receiving 1280-d embeddings."""
    limits = {
        WORKERS: workers_fps,
        f"driver link {gbit:g} Gbit/s (1280-d embeddings)": gbit * 1e9 / 8 / EMBEDDING_BYTES,
    }
    if driver_fps:
        limits[DRIVER_LOOP] = driver_fps
    name = min(limits, key=limits.__getitem__)
    return limits[name], name


def _cpu_nodes(n: int, node_high: float, node_low: float, driver_fps: float | None, shape: ClusterShape) -> CpuNodes:
    frames, gbit = shape.frames, shape.nic_gbit[0]
    fps, limit = bottleneck(n * node_high, driver_fps, gbit)
    free_fps, free_limit = bottleneck(n * node_high, None, gbit)  # a driver loop that costs nothing a frame
    return CpuNodes(
        fps_without_driver_loop=free_fps,
        limit_without_driver_loop=free_limit,
        hours_without_driver_loop=frames / free_fps / 3600,
        workers_fps_low=n * node_low,
        workers_fps_high=n * node_high,
        fps=fps,
        limit=limit,
        hours=frames / fps / 3600,
        hours_at_low=frames / min(fps, n * node_low) / 3600,
        frame_gbit_per_node_if_all_cross=node_high * FRAME_BYTES_224 * 8 / 1e9,
        driver_in_gbit_full=n * node_high * EMBEDDING_BYTES * 8 / 1e9,
        driver_in_gbit_64d=n * node_high * REDUCED_BYTES * 8 / 1e9,
    )


def _gpu_nodes(n: int, g: int, gpu_decode_fps: float, driver_fps: float | None, shape: ClusterShape) -> GpuNodes:
    frames, gbit = shape.frames, shape.nic_gbit[0]
    local_fps, local_limit = bottleneck(n * min(g, gpu_decode_fps), driver_fps, gbit)
    fed_fps, fed_limit = bottleneck(n * g, driver_fps, gbit)
    free_fps, free_limit = bottleneck(n * g, None, gbit)
    if local_limit == WORKERS:
        local_limit = "the GPUs" if g <= gpu_decode_fps else "decode on the node's cores"
    return GpuNodes(
        fps_local_decode=local_fps,
        limit_local_decode=local_limit,
        hours_local_decode=frames / local_fps / 3600,
        fps_if_fed=fed_fps,
        limit_if_fed="the GPUs" if fed_limit == WORKERS else fed_limit,
        hours_if_fed=frames / fed_fps / 3600,
        driver_in_gbit_full_if_fed=n * g * EMBEDDING_BYTES * 8 / 1e9,
        fps_if_fed_without_driver_loop=free_fps,
        limit_if_fed_without_driver_loop="the GPUs" if free_limit == WORKERS else free_limit,
        hours_if_fed_without_driver_loop=frames / free_fps / 3600,
    )


def project(costs: MeasuredCosts, shape: ClusterShape | None = None) -> Projection:
    """Throughput, wall time and the limits for ``shape.hours`` of video on each node count.

    A CPU node's rate, two ways: ``high`` from the CPU time a frame of decoding plus
    embedding, every core kept busy (``cores / (decode + embed)``); ``low`` from the measured
    frames/s per core of a decode+embed stage, times the cores. Linear in cores at this
    machine's per-core speed: assumptions. A GPU node embeds at the assumed rate and decodes
    on its own cores at the measured CPU cost, or is fed decoded frames. Every rate is capped
    by the driver's executor loop (``1000 / driver_cpu_ms`` frames/s) and the driver's first
    link receiving full embeddings (:func:`bottleneck`).
    """
    shape = shape or ClusterShape()
    dec, emb = costs.decode_cpu_ms / 1e3, costs.embed_cpu_ms / 1e3  # core-seconds a frame
    driver_fps = 1e3 / costs.driver_cpu_ms if costs.driver_cpu_ms else None
    frames = shape.frames
    node_high = shape.cores_per_cpu_node / (dec + emb)
    node_low = shape.cores_per_cpu_node * costs.per_core_fps
    gpu_decode_fps = shape.decode_cores_per_gpu_node / dec
    rows = [
        NodeRow(
            nodes=n,
            cpu=_cpu_nodes(n, node_high, node_low, driver_fps, shape),
            gpu={g: _gpu_nodes(n, g, gpu_decode_fps, driver_fps, shape) for g in shape.gpu_fps_per_node},
        )
        for n in shape.nodes
    ]
    gpus = {
        g: GpuFeed(
            decode_cores_to_feed=g * dec,
            frame_gbit_in_if_fed_remotely=g * FRAME_BYTES_224 * 8 / 1e9,
            gpu_busy_with_local_decode=min(1.0, gpu_decode_fps / g),
        )
        for g in shape.gpu_fps_per_node
    }
    selection = {}
    for label, share in shape.candidates.items():
        m = int(frames * share)
        selection[label] = SelectionSize(
            candidates=m,
            full_embeddings_gb=m * EMBEDDING_BYTES / 1e9,
            points_64d_gb=m * REDUCED_BYTES / 1e9,
            k_at_n_samples=int(m * shape.n_samples),
        )
    other = costs.table_other_bytes
    return Projection(
        assumptions=shape,
        frames=frames,
        decode_core_ms_per_frame=1e3 * dec,
        embed_core_ms_per_frame=1e3 * emb,
        embed_batch_used=costs.embed_batch,
        measured_fps_per_core=costs.per_core_fps,
        measured_from=costs.per_core_from,
        cpu_node_fps_low=node_low,
        cpu_node_fps_high=node_high,
        driver_executor_cpu_ms_per_frame=costs.driver_cpu_ms,
        driver_executor_fps_limit=driver_fps,
        driver_link_fps_full={g: g * 1e9 / 8 / EMBEDDING_BYTES for g in shape.nic_gbit},
        driver_link_fps_64d={g: g * 1e9 / 8 / REDUCED_BYTES for g in shape.nic_gbit},
        node_link_fps_frames={g: g * 1e9 / 8 / FRAME_BYTES_224 for g in shape.nic_gbit},
        gpu_node_decode_fps=gpu_decode_fps,
        gpu=gpus,
        driver_table_bytes_per_frame_besides_embeddings=other,
        driver_table_gb_all_frames={
            "embeddings_1280": frames * EMBEDDING_BYTES / 1e9,
            "other_columns": frames * other / 1e9,
        },
        rows=rows,
        selection=selection,
    )


# ---------------------------------------------------------------------------- k-center


def fit_power(ns: Sequence[int], secs: Sequence[float]) -> tuple[float, float]:
    """Least squares in log-log: sec = c * n ** p; returns (c, p)."""
    p, logc = np.polyfit(np.log(ns), np.log(secs), 1)
    return float(math.exp(logc)), float(p)


def project_kcenter(
    cases: Sequence[KCenterTiming],
    long_case: KCenterTiming | None = None,
    targets: Sequence[int] = (10_000_000, 100_000_000),
) -> KCenterProjection:
    """k-center at ``targets`` candidates from the measured trend.

    T(N, k=1000) = c * N^p fitted over the measured N; memory = 256 bytes a point (64-d
    float32) plus the largest measured extra bytes a point. For k = 10 % of N: the (k - k0)
    picks after the measured k0 each cost, per point, between the O(N) floor at the largest
    measured N and the cost of a pick in the last measured segment (of ``long_case`` where
    given, scaled by the floor's growth from its N to the largest N; the cost of a pick falls
    towards the floor as the radius shrinks), times N.
    """
    c, p = fit_power([t.n for t in cases], [t.sec for t in cases])
    extra = max(t.peak_extra_bytes_per_point for t in cases)
    largest = max(cases, key=lambda t: t.n)  # the O(N) pass slows per point as arrays outgrow the caches
    floor = largest.floor_ns_per_point
    late_case = long_case or largest
    late = late_case.late_ns_per_point_per_pick
    if late_case.n != largest.n:
        late *= floor / late_case.floor_ns_per_point
    k0 = cases[0].k
    at = []
    for n in targets:
        k = n // 10
        more = (k - k0) * n * 1e-9
        at.append(
            KCenterAt(
                n=n,
                points_gb=n * REDUCED_BYTES / 1e9,
                peak_gb=n * (REDUCED_BYTES + extra) / 1e9,
                sec_k1000=c * n**p,
                k_10_percent=k,
                sec_k_10_percent_low=c * n**p + more * floor,
                sec_k_10_percent_high=c * n**p + more * late,
            )
        )
    return KCenterProjection(
        c=c,
        p=p,
        extra_bytes_per_point=extra,
        floor_ns_per_point_per_pick=floor,
        late_ns_per_point_per_pick=late,
        late_from_n=late_case.n,
        late_from_picks=late_case.late_picks,
        at=at,
    )


def kcenter_projection(cases: Sequence[Mapping[str, Any]], long_case: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`project_kcenter` on scaling.json's ``kcenter`` cases, as its JSON."""
    timings = [KCenterTiming.from_case(c) for c in cases]
    long_timing = KCenterTiming.from_case(long_case) if long_case else None
    return project_kcenter(timings, long_timing).to_json()


# ---------------------------------------------------------------------------- output


def print_projection(proj: Mapping[str, Any]) -> None:
    """The node table of docs/scaling.md section 3, from a ``projection`` JSON object."""
    rows = []
    for r in proj["rows"]:
        g = [v for k, v in r.items() if k.startswith("gpu_")]
        cpu = r["cpu"]
        own, fed = g[0]["hours_local_decode"], g[-1]["hours_if_fed"]
        rows.append((r["nodes"], cpu["fps"], cpu["hours"], cpu["limit"], own, fed, g[-1]["limit_if_fed"]))
    header = ("nodes", "CPU fps", "CPU h", "CPU limit", "GPU h (own decode)", "GPU h (fed)", "GPU limit (fed)")
    print(common.table(rows, header))


def print_kcenter_projection(proj: Mapping[str, Any]) -> None:
    """The projected k-center table of docs/scaling.md section 4."""
    print(f"fit: sec = {proj['c']:.3g} * N^{proj['p']:.3f}")
    rows = [
        (a["n"], a["points_gb"], a["peak_gb"], a["sec_k1000"], a["sec_k_10_percent_low"], a["sec_k_10_percent_high"])
        for a in proj["at"]
    ]
    print(common.table(rows, ("N", "points GB", "peak GB", "1,000 picks s", "k = 10 % low s", "high s")))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", default=str(common.RESULTS / "scaling.json"), help="a scaling.json")
    ap.add_argument("--write", action="store_true", help="store the projections back into the file")
    args = ap.parse_args(argv)
    path = Path(args.results)
    fig: dict[str, Any] = json.loads(path.read_text())
    fig["projection"] = project(MeasuredCosts.from_figures(fig)).to_json()
    if "kcenter" in fig:
        fig["kcenter_projection"] = kcenter_projection(fig["kcenter"]["cases"], fig["kcenter"]["long"])
        print_kcenter_projection(fig["kcenter_projection"])
        print()
    print_projection(fig["projection"])
    if args.write:
        path.write_text(json.dumps(fig, indent=2, default=float) + "\n")
        print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
