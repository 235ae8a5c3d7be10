"""usable_cpus: thread pools and engine threads follow the CPUs a process may really use
(affinity from taskset or cpusets, a cgroup CPU quota), not the machine's count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framepick import _cpus

needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs and affinity"
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _proc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


def test_v2_quota_is_the_tightest_on_the_path(tmp_path: Path) -> None:
    """A quota on a parent cgroup limits the children; the tightest one counts."""
    root = _tree(
        tmp_path / "cg",
        {
            "cpu.max": "max 100000\n",
            "kube/cpu.max": "250000 100000\n",  # 2.5 CPUs on the parent
            "kube/pod/cpu.max": "max 100000\n",
        },
    )
    assert _cpus._quota(_proc(tmp_path, "0::/kube/pod\n"), root) == 2.5
    assert _cpus._quota(_proc(tmp_path, "0::/\n"), root) is None  # "max": no quota


def test_v2_container_view(tmp_path: Path) -> None:
    """In a container the path is often the host's while the mount is the container's own:
    the missing folders are skipped and the mount's root is read."""
    root = _tree(tmp_path / "cg", {"cpu.max": "400000 100000\n"})
    assert _cpus._quota(_proc(tmp_path, "0::/docker/0123abcd\n"), root) == 4.0


def test_v1_hybrid_layout(tmp_path: Path) -> None:
    """cgroup v1 (as on hybrid hosts): the cpu controller's cfs quota, -1 meaning none."""
    root = _tree(
        tmp_path / "cg",
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            "cpu,cpuacct/job/cpu.cfs_quota_us": "150000\n",
            "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
        },
    )
    text = "4:memory:/job\n2:cpu,cpuacct:/job\n0::/job\n"
    assert _cpus._quota(_proc(tmp_path, text), root) == 1.5
    assert _cpus._quota(_proc(tmp_path, "2:cpu,cpuacct:/\n0::/\n"), root) is None


def test_odd_cgroup_files(tmp_path: Path) -> None:
    """A zero period or quota, text that is not a number, a colon in the path, and the v1
    mount named ``cpu`` only (no ``cpu,cpuacct``): no crash, and no quota made up."""
    root = _tree(
        tmp_path / "cg",
        {
            "zero/cpu.max": "100000 0\n",
            "neg/cpu.max": "-5 100000\n",
            "text/cpu.max": "lots\n",
            "a:b/cpu.max": "200000 100000\n",
            "cpu/job/cpu.cfs_quota_us": "300000\n",
            "cpu/job/cpu.cfs_period_us": "100000\n",
        },
    )
    for path in ("zero", "neg", "text"):
        assert _cpus._quota(_proc(tmp_path, f"0::/{path}\n"), root) is None, path
    assert _cpus._quota(_proc(tmp_path, "0::/a:b\n"), root) == 2.0
    assert _cpus._quota(_proc(tmp_path, "3:cpu,cpuacct:/job\n"), root) == 3.0


def test_cap_torch_threads_only_lowers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota below PyTorch's own count lowers it (PyTorch sees affinity, not quotas); a
    larger one never raises it, since the setting is the whole process's."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(_cpus, "usable_cpus", lambda: before + 8)
        _cpus.cap_torch_threads()
        assert torch.get_num_threads() == before
        monkeypatch.setattr(_cpus, "usable_cpus", lambda: 1)
        _cpus.cap_torch_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_no_cgroups(tmp_path: Path) -> None:
    assert _cpus._quota(tmp_path / "missing", tmp_path) is None
    assert _cpus._quota(_proc(tmp_path, "garbage\n\n"), tmp_path) is None


def test_quota_rounds_up_and_caps_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cpus, "_affinity", lambda: 16)
    for quota, want in ((None, 16), (2.5, 3), (0.2, 1), (64.0, 16)):
        monkeypatch.setattr(_cpus, "_quota", lambda q=quota: q)
        _cpus.usable_cpus.cache_clear()
        try:
            assert _cpus.usable_cpus() == want, quota
        finally:
            _cpus.usable_cpus.cache_clear()


_PINNED = """
import os, sys
os.sched_setaffinity(0, {{0}})
from framepick._cpus import usable_cpus
from framepick.embed import create_embedder
import torch
e = create_embedder({engine!r}, 32)
threads = {threads}
print("usable", usable_cpus(), "engine", e.name, "threads", threads, "torch", torch.get_num_threads())
"""


@needs_affinity
@pytest.mark.parametrize(
    ("engine", "threads"),
    [
        ("onnx", "e.runner.session.get_session_options().intra_op_num_threads"),
        ("openvino", "e.runner.request.get_compiled_model().get_property('INFERENCE_NUM_THREADS')"),
        ("torch", "torch.get_num_threads()"),
    ],
)
def test_pinned_process_runs_one_thread_per_core(engine: str, threads: str) -> None:
    """A process pinned to one core (as ``taskset -c 0``) runs its engine on one thread,
    not on as many as the machine has cores."""
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino", "torch": "torch"}[engine])
    code = _PINNED.format(engine=engine, threads=threads)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"usable 1 engine {engine} threads 1 torch 1" in proc.stdout, proc.stdout
