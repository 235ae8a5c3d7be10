"""How many CPUs this process may really use, for sizing thread pools and engine threads.

``os.cpu_count()`` counts the machine's CPUs. A process pinned with ``taskset`` or
``docker --cpuset-cpus``, or throttled by a CPU quota (``docker --cpus``, a Kubernetes CPU
limit), gets fewer; sizing inference threads by the machine's count then runs more threads
than cores, and they wait on each other (ONNX Runtime with 2 threads on 1 core: half speed).
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path

__all__ = ["cap_torch_threads", "usable_cpus"]

_CGROUP = Path("/sys/fs/cgroup")


def _affinity() -> int:
    """CPUs in this process's affinity mask (``taskset``, cpusets)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _quota(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = _CGROUP) -> float | None:
    """The tightest CPU quota on this process's cgroup and its ancestors, in CPUs (None: no
    quota, or no cgroups).

    cgroup v2 (line ``0::PATH``) writes ``cpu.max`` as "QUOTA PERIOD" or "max PERIOD"; v1
    (the line that names the ``cpu`` controller) has ``cpu.cfs_quota_us`` (-1: none) and
    ``cpu.cfs_period_us``. Inside a container the paths are often the host's while the
    mount is the container's own, so directories that do not exist are skipped and the
    mount's root is read too."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    found: list[float] = []
    for line in lines:
        hierarchy, controllers, path = [*line.split(":", 2), "", ""][:3]
        if hierarchy == "0" and not controllers:
            bases, read = [root, root / "unified"], _v2_quota
        elif "cpu" in controllers.split(","):
            bases, read = [root / controllers, root / "cpu"], _v1_quota
        else:
            continue
        for base in bases:
            for folder in _ancestors(base, path):
                quota = read(folder)
                if quota is not None:
                    found.append(quota)
    return min(found, default=None)


def _ancestors(base: Path, path: str) -> list[Path]:
    """``base/path`` and each folder above it up to ``base``, those that exist."""
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    folders = [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return [f for f in dict.fromkeys(folders) if _is_dir(f)]


def _is_dir(folder: Path) -> bool:
    try:
        return folder.is_dir()
    except OSError:  # not readable (before Python 3.14 is_dir raises on EACCES)
        return False


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        cpus, every = int(quota), int(period)
    except (OSError, ValueError):
        return None
    return cpus / every if cpus > 0 and every > 0 else None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


@cache
def usable_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota
    (rounded up: a 2.5-CPU quota keeps 3 threads busy part of the time), at least 1."""
    cpus = _affinity()
    quota = _quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cap_torch_threads() -> None:
    """Lower PyTorch's intra-op threads to :func:`usable_cpus` where a CPU quota leaves fewer
    than PyTorch counts (it follows the affinity mask, not quotas). Process-wide, so only
    ever lowered, never raised."""
    import torch

    if torch.get_num_threads() > usable_cpus():
        torch.set_num_threads(usable_cpus())
