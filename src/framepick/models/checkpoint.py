"""framepick's training checkpoints: what they hold, how they are written, read and checked.

A checkpoint is a PyTorch file laid out as a PyTorch Lightning checkpoint (what Lightly's own
training writes): ``epoch``, ``global_step`` and ``state_dict``, whose ``backbone.*`` entries
are EfficientNet-Lite0's weights (batch norms unfolded) and ``projection_head.*`` the SimCLR
head's; a ``framepick`` entry says that framepick made it, for which architecture, and with
which settings and losses. Only plain types and tensors are stored, so it loads with
``torch.load(weights_only=True)`` (no code in the file runs).

A model's identity is the SHA-256 of its backbone's weights (names, dtypes, shapes and
bytes, in name order), not of the file: the same weights are the same model, however the
file was written, and the cache, the datapool and ``report.json`` key on it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._fsutil import atomic_write
from ..errors import ModelError

__all__ = ["ARCHITECTURE", "FORMAT", "Checkpoint", "read_checkpoint", "save_checkpoint", "weights_digest"]

FORMAT = 1  # the layout of the ``framepick`` entry; a reader refuses other values
ARCHITECTURE = "efficientnet-lite0"
BACKBONE = "backbone."


@dataclass(frozen=True)
class Checkpoint:
    """A checked checkpoint: its file, the backbone's weights and their digest, what framepick wrote about it."""

    path: Path
    digest: str  # sha256 of the backbone's weights
    backbone: dict[str, Any]  # name -> tensor, loadable into EfficientNetLite0 (strict)
    info: dict[str, Any]  # the ``framepick`` entry: format, architecture, version, settings, losses


def weights_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a state dict's tensors in name order (names, dtypes and shapes included)."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        h.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    return h.hexdigest()


def save_checkpoint(path: Path, state_dict: dict[str, Any], epoch: int, global_step: int, info: dict[str, Any]) -> str:
    """Write a checkpoint atomically; returns its backbone's digest."""
    import io

    import torch

    buffer = io.BytesIO()
    payload = {
        "epoch": epoch,
        "global_step": global_step,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "framepick": {"format": FORMAT, "architecture": ARCHITECTURE, **info},
    }
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())
    return weights_digest({k[len(BACKBONE) :]: v for k, v in state_dict.items() if k.startswith(BACKBONE)})


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and check a checkpoint: every way it is not framepick's EfficientNet-Lite0 checkpoint
    is one ModelError line that names the file and says what to do."""
    import torch

    file = Path(path).expanduser()
    shown = f"checkpoint '{file}'"
    if not file.is_file():
        raise ModelError(f"{shown} does not exist or is not a file; give the .ckpt file a training run wrote")
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"{shown} is not a PyTorch checkpoint framepick can read ({first[:200]}); give the "
            "checkpoints/lightly_epoch_N.ckpt file of a framepick training run"
        ) from None
    info = data.get("framepick") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise ModelError(
            f"{shown} was not written by framepick (it has no 'framepick' entry); give the "
            "checkpoints/lightly_epoch_N.ckpt file of a framepick training run"
        )
    if info.get("format") != FORMAT:
        raise ModelError(f"{shown} has checkpoint format {info.get('format')!r}; this framepick reads format {FORMAT}")
    if info.get("architecture") != ARCHITECTURE:
        raise ModelError(
            f"{shown} holds a {info.get('architecture')!r} model; framepick trains and embeds with {ARCHITECTURE}"
        )
    state = data.get("state_dict")
    if not isinstance(state, dict):
        raise ModelError(f"{shown} has no state_dict")
    backbone = {k[len(BACKBONE) :]: v for k, v in state.items() if isinstance(k, str) and k.startswith(BACKBONE)}
    _check_fits(shown, backbone)
    return Checkpoint(file.resolve(), weights_digest(backbone), backbone, info)


def _check_fits(shown: str, backbone: dict[str, Any]) -> None:
    from .efficientnet_lite import EfficientNetLite0

    try:
        EfficientNetLite0().load_state_dict(backbone, strict=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{shown}'s weights do not fit {ARCHITECTURE} ({first[:200]})") from None
