"""The embedding engines, declared once: one row per engine, and how to tell whether it runs here.

Everything that names engines derives from :data:`ENGINES`: the configuration's ``model.engine``
choices and help text (and so ``framepick config`` and docs/reference.md), the cache signature's
last part (:attr:`Engine.compute`), what :func:`available_engines` finds, and ``auto``'s order.
An engine is one of three runtimes (PyTorch, ONNX Runtime, OpenVINO, each run by one adapter in
:mod:`framepick.models.runtimes`) at one precision. Probing imports no runtime: it asks whether
the runtime's package is installed and whether the hardware is there (CUDA, bf16 in the CPU).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from dataclasses import dataclass

from .errors import ModelError

__all__ = [
    "AUTO_CPU",
    "AUTO_CUDA",
    "ENGINES",
    "ENGINE_NAMES",
    "Engine",
    "auto_order",
    "available_engine",
    "available_engines",
    "cpu_has_bf16",
    "cuda_available",
    "engine",
    "engine_help",
]

# The Python package each runtime needs (find_spec only: probing imports nothing).
_RUNTIME_PACKAGES = {"torch": ("torch",), "onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnx")}


@dataclass(frozen=True)
class Engine:
    """One ``model.engine`` value: the runtime that runs it, in what precision, on what device.

    ``about`` is its help text. The ONNX runtimes also need the ``onnx`` package: the built-in
    model reaches them as an ONNX export.
    """

    name: str
    runtime: str  # "torch", "onnxruntime" or "openvino": the adapter that runs it
    precision: str  # "fp32", "bf16" or "fp16"
    devices: tuple[str, ...]  # where it runs: "cpu", "cuda"
    about: str

    @property
    def compute(self) -> str:
        """What it computes in, the cache signature's last part (the embeddings differ slightly)."""
        return f"{self.runtime}-{self.precision}"

    @property
    def needs_cuda(self) -> bool:
        return self.devices == ("cuda",)

    @property
    def needs_bf16(self) -> bool:
        """A bf16 engine on the CPU: only where the CPU computes bf16 in hardware."""
        return self.precision == "bf16"

    def available(self) -> bool:
        """Whether its runtime is installed and its hardware present (nothing is imported)."""
        if any(importlib.util.find_spec(p) is None for p in _RUNTIME_PACKAGES[self.runtime]):
            return False
        if self.needs_bf16 and not cpu_has_bf16():
            return False
        return not self.needs_cuda or cuda_available()


ENGINES: tuple[Engine, ...] = (
    Engine("torch", "torch", "fp32", ("cpu", "cuda"), "fp32"),
    Engine("torch-bf16", "torch", "bf16", ("cpu",), "CPUs with AVX-512 BF16 or AMX"),
    Engine("torch-fp16", "torch", "fp16", ("cuda",), "CUDA"),
    Engine("onnx", "onnxruntime", "fp32", ("cpu",), "ONNX Runtime"),
    Engine("openvino", "openvino", "fp32", ("cpu",), "OpenVINO fp32, CPU"),
    Engine("openvino-bf16", "openvino", "bf16", ("cpu",), "OpenVINO, CPUs with bf16"),
)
ENGINE_NAMES: tuple[str, ...] = tuple(e.name for e in ENGINES)
_BY_NAME = {e.name: e for e in ENGINES}

# ``model.engine=auto`` for the built-in model, fastest first (docs/performance.md, "Embedding
# engines"): on the CPU bf16 only where the CPU has it in hardware (OpenVINO's bf16 about 4x
# PyTorch's there), OpenVINO before ONNX Runtime before eager fp32; on CUDA half precision.
AUTO_CPU: tuple[str, ...] = ("openvino-bf16", "torch-bf16", "openvino", "onnx", "torch")
AUTO_CUDA: tuple[str, ...] = ("torch-fp16", "torch")


def engine(name: str) -> Engine:
    """The row of engine ``name``; a ModelError naming the engines there are."""
    if name not in _BY_NAME:
        raise _not_here(name)
    return _BY_NAME[name]


def available_engine(name: str) -> Engine:
    """The row of engine ``name`` where it runs here; else a ModelError naming those that do."""
    if name not in available_engines():
        raise _not_here(name)
    return _BY_NAME[name]


def _not_here(name: str) -> ModelError:
    return ModelError(
        f"embedding engine '{name}' is not available here; available: auto, {', '.join(available_engines())}"
    )


@functools.cache
def available_engines() -> dict[str, Engine]:
    """The engines whose runtime is installed and whose hardware is present, in declaration
    order (probed once, lazily: the CUDA probe may import PyTorch)."""
    return {e.name: e for e in ENGINES if e.available()}


def auto_order(device: str = "auto") -> tuple[str, ...]:
    """``auto``'s order for the built-in model on ``device`` (``auto``: CUDA where present)."""
    return AUTO_CUDA if device == "cuda" or (device == "auto" and cuda_available()) else AUTO_CPU


def engine_help() -> str:
    """``model.engine``'s help text, made from the declaration."""
    listed = ", ".join(f"{e.name} ({e.about})" for e in ENGINES)
    order = list(AUTO_CPU)
    bf16 = [i for i, name in enumerate(order) if _BY_NAME[name].needs_bf16]
    if bf16:
        which = "both" if len(bf16) == 2 else "each"
        order[bf16[-1]] += f" ({which} only where the CPU has bf16 in hardware)"
    return (
        f"inference engine: {listed}; auto: on CUDA {AUTO_CUDA[0]}; on a CPU the first that is available "
        f"and loads of {', '.join(order)}"
    )


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware: AVX-512 BF16 or AMX.

    Plain AVX-512 is not enough: oneDNN then emulates bf16 and is slower than fp32 (it still
    reports "bf16 supported", so its answer is not asked). Linux says it in /proc/cpuinfo;
    elsewhere PyTorch's own CPU probe answers.
    """
    flags = _cpu_flags()
    if flags:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    try:
        import torch.cpu

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except Exception:
        return False


def _no_cuda_driver() -> bool:
    """True where CUDA cannot be present: Linux without NVIDIA's kernel driver, or macOS.

    Asking PyTorch costs its import (about 2 s) and a driver probe; a run on a CPU machine
    whose ONNX export is cached needs neither.
    """
    platform: str = sys.platform  # a plain str: the checker would narrow sys.platform to this machine's
    if platform.startswith("linux"):
        return not os.path.exists("/proc/driver/nvidia/version")
    return platform == "darwin"


@functools.cache
def cuda_available() -> bool:
    """Whether PyTorch sees a CUDA device (not asked where no NVIDIA driver is installed)."""
    if _no_cuda_driver():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False
