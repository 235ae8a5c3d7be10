"""Training stage: fine-tune the embedding network on the run's own frames (``enable_training``).

SimCLR (Chen et al., 2020) with the ``lightly`` package's NT-Xent loss, projection head and
augmentations, on EfficientNet-Lite0 starting from its ImageNet weights. SimCLR because it
needs nothing but pairs of augmented views of the same frame (no labels, no momentum
encoder, no queue to tune), its loss is well understood at small batch sizes with a
pretrained start, and it is the method Lightly's own training uses by default. The projection
head has no batch norm: one would remove the batch mean, so the loss could not see a component
common to every frame, which then grows and crowds the backbone's embeddings together.

Frames: a seeded reservoir sample of at most ``training_max_frames`` frames over every
source, decoded through the same decode path and at the same size as the embed stage, with
the same rules (undecodable frames never, damaged ones not with the corruptness check, exact
duplicates once). Batch norms keep their ImageNet statistics (eval mode) while their scale
and shift train: batches of 16 give noisy statistics, and the embed stage runs at another
input size than training. The same seed gives the same weights on the same machine: the
frame sample, the shuffles and the augmentations draw from seeded generators (the global
ones are restored afterwards), data is prepared in this thread, and PyTorch runs with
deterministic algorithms.

The result is a checkpoint (Lightly's layout: ``checkpoints/lightly_epoch_N.ckpt``) and an
ONNX file that ``model.path`` takes; the pipeline embeds with the trained weights through the
same engines as the built-in model.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._log import logger
from .config import Config
from .discover import Source
from .errors import TrainingError
from .models.checkpoint import BACKBONE, save_checkpoint
from .results import TrainingSection
from .scan import FrameRules, SourceScan

__all__ = ["TRAINING_PREFIX", "TrainedFiles", "sample_frames", "train", "training_device"]

TRAINING_PREFIX = ".framepick-training-"  # the hidden folder in output_dir training writes to, until the write stage

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class TrainedFiles:
    """What training wrote (into ``folder``) and what report.json records of it."""

    checkpoint: Path  # lightly_epoch_N.ckpt
    onnx: Path  # the same network for model.path
    digest: str  # sha256 of the backbone's weights
    section: TrainingSection


def training_device(config: Config) -> str:
    """``model.device`` for training: auto is CUDA when PyTorch sees a GPU."""
    import torch

    device = config.model.device
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def sample_frames(
    sources: Sequence[Source],
    size: int,
    limit: int,
    seed: int,
    *,
    corruptness_check: bool = True,
    remove_duplicates: bool = True,
    tick: Callable[[int], None] | None = None,
) -> tuple[list[np.ndarray], int]:
    """A seeded reservoir sample of at most ``limit`` usable frames over all ``sources`` (in
    input order), decoded at ``size``; returns the frames and how many usable frames there were.
    Memory stays at ``limit`` frames however long the input is."""
    rng = np.random.default_rng(seed)
    rules = FrameRules(size)
    kept: list[np.ndarray] = []
    seen: set[bytes] = set()
    usable = 0
    for source in sources:
        scan = SourceScan(source, rules)
        for frame in scan:
            if tick is not None:
                tick(1)
            if frame.error is not None or frame.pixels is None:
                continue
            if corruptness_check and frame.suspect is not None:
                continue
            if remove_duplicates:
                if frame.digest in seen:
                    continue
                seen.add(frame.digest)
            usable += 1
            if len(kept) < limit:
                kept.append(frame.pixels)
            else:
                j = int(rng.integers(usable))
                if j < limit:
                    kept[j] = frame.pixels
    return kept, usable


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global generators the augmentations draw from (torchvision: torch's; lightly's
    blur and rotation: NumPy's; Python's), deterministic algorithms on; restore all afterwards."""
    import torch

    np_state, py_state = np.random.get_state(), random.getstate()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            np.random.set_state(np_state)
            random.setstate(py_state)


def _transform(config: Config) -> Any:
    from lightly.transforms.simclr_transform import SimCLRTransform

    c = config.lightly.collate
    return SimCLRTransform(
        input_size=c.input_size,
        cj_prob=c.cj_prob,
        cj_strength=c.cj_strength,
        cj_bright=c.cj_bright,
        cj_contrast=c.cj_contrast,
        cj_sat=c.cj_sat,
        cj_hue=c.cj_hue,
        min_scale=c.min_scale,
        random_gray_scale=c.random_gray_scale,
        gaussian_blur=c.gaussian_blur,
        vf_prob=c.vf_prob,
        hf_prob=c.hf_prob,
        rr_prob=c.rr_prob,
        # EfficientNet-Lite0's own normalisation, (x - 127) / 128 on 0-255 pixels
        normalize={"mean": [127 / 255] * 3, "std": [128 / 255] * 3},
    )


def _model(initial: dict[str, Any] | None) -> Any:
    """Lite0 (ImageNet weights, or ``initial``) and SimCLR's projection head."""
    import torch
    from lightly.models.modules import SimCLRProjectionHead

    from .models.efficientnet_lite import FEATURE_DIM, EfficientNetLite0, load_pretrained

    class SimCLR(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if initial is None:
                self.backbone = load_pretrained()
            else:
                self.backbone = EfficientNetLite0()
                self.backbone.load_state_dict(initial, strict=True)
            self.projection_head = SimCLRProjectionHead(FEATURE_DIM, 512, 128, batch_norm=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.projection_head(self.backbone(x))

        def train(self, mode: bool = True) -> SimCLR:
            super().train(mode)
            for module in self.backbone.modules():  # frozen statistics: see the module's docstring
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.eval()
            return self

    return SimCLR()


def train(
    config: Config,
    sources: Sequence[Source],
    folder: Path,
    progress: Progress | None = None,
    initial: dict[str, Any] | None = None,
) -> TrainedFiles:
    """Fine-tune on a sample of the sources' frames; write the checkpoint and the ONNX file into
    ``folder``. ``initial``: start from these backbone weights (``checkpoint=`` with training).
    A TrainingError when fewer usable frames than one batch exist."""
    try:
        import torch
        from lightly.loss import NTXentLoss
        from PIL import Image
    except ImportError as exc:
        raise TrainingError(
            f'enable_training needs the lightly package ({exc.name} is missing): pip install "framepick[train]"'
        ) from None
    lc = config.lightly
    batch, epochs = lc.loader.batch_size, lc.trainer.max_epochs
    device = training_device(config)
    start = time.perf_counter()
    tick = (lambda n: progress("train: sample frames", n, None)) if progress else None
    frames, usable = sample_frames(
        sources,
        config.model.size,
        config.training_max_frames,
        config.seed,
        corruptness_check=config.enable_corruptness_check,
        remove_duplicates=config.remove_exact_duplicates,
        tick=tick,
    )
    if len(frames) < batch:
        raise TrainingError(
            f"training needs at least one batch of usable frames: found {len(frames)}, "
            f"lightly.loader.batch_size={batch}; lower lightly.loader.batch_size or set enable_training=false"
        )
    sampled_sec = time.perf_counter() - start
    logger.info("training on %d of %d usable frames, %d epochs, on %s", len(frames), usable, epochs, device)
    steps = len(frames) // batch  # drop_last, as Lightly's loader
    losses: list[float] = []
    epoch_sec: list[float] = []
    with _seeded(config.seed):
        transform = _transform(config)
        model = _model(initial).to(device)
        criterion = NTXentLoss(temperature=lc.criterion.temperature)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=lc.optimizer.lr, momentum=0.9, weight_decay=lc.optimizer.weight_decay
        )
        scaler = torch.amp.GradScaler("cuda", enabled=device == "cuda")
        order_rng = np.random.default_rng(config.seed)
        images = [Image.fromarray(f) for f in frames]
        model.train()
        for epoch in range(epochs):
            t0, total = time.perf_counter(), 0.0
            order = order_rng.permutation(len(images))
            for step in range(steps):
                views = [transform(images[i]) for i in order[step * batch : (step + 1) * batch]]
                x0 = torch.stack([v[0] for v in views]).to(device)
                x1 = torch.stack([v[1] for v in views]).to(device)
                with torch.autocast("cuda", dtype=torch.float16, enabled=device == "cuda"):
                    loss = criterion(model(x0), model(x1))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total += float(loss.detach())
                if progress is not None:
                    progress(f"train: epoch {epoch + 1}/{epochs}", batch, steps * batch)
            seconds = time.perf_counter() - t0
            losses.append(total / steps)
            epoch_sec.append(seconds)
            logger.info(
                "training epoch %d/%d: loss %.4f, %.1f frames/s",
                epoch + 1,
                epochs,
                losses[-1],
                steps * batch / seconds if seconds > 0 else float("inf"),
            )
    if not np.isfinite(losses[-1]):
        raise TrainingError(
            f"training diverged (loss {losses[-1]}); lower lightly.optimizer.lr (now {lc.optimizer.lr})"
        )
    state = {f"{BACKBONE}{k}": v for k, v in model.backbone.state_dict().items()}
    state.update({f"projection_head.{k}": v for k, v in model.projection_head.state_dict().items()})
    section = TrainingSection(
        method="SimCLR",
        device=device,
        mixed_precision=device == "cuda",
        frames_usable=usable,
        frames_trained=len(frames),
        epochs=epochs,
        steps=steps * epochs,
        batch_size=batch,
        input_size=lc.collate.input_size,
        lr=lc.optimizer.lr,
        seed=config.seed,
        loss=[round(v, 6) for v in losses],
        final_loss=round(losses[-1], 6),
        sample_sec=round(sampled_sec, 3),
        train_sec=round(sum(epoch_sec), 3),
        frames_per_sec=round(steps * batch * epochs / sum(epoch_sec), 2) if sum(epoch_sec) > 0 else None,
        checkpoint="",
        onnx="",
        weights_sha256="",
    )
    return _save(folder, state, epochs, steps * epochs, section, config)


def _save(
    folder: Path, state: dict[str, Any], epochs: int, steps: int, section: TrainingSection, config: Config
) -> TrainedFiles:
    """The checkpoint, then the ONNX file for ``model.path`` (exported from the checkpoint as read back)."""
    from dataclasses import asdict, replace

    from .models.sources import TrainedModel

    folder.mkdir(parents=True, exist_ok=True)
    name = f"lightly_epoch_{epochs}"
    ckpt = folder / f"{name}.ckpt"
    info = {"settings": asdict(config.lightly), "seed": config.seed, "loss": list(section.loss)}
    digest = save_checkpoint(ckpt, state, epochs, steps, info)
    onnx = folder / f"{name}.onnx"
    onnx.write_bytes(TrainedModel.read(ckpt, config.model.size).model_path_onnx())
    section = replace(section, checkpoint=f"checkpoints/{ckpt.name}", onnx=f"checkpoints/{onnx.name}",
                      weights_sha256=digest)  # fmt: skip
    return TrainedFiles(ckpt, onnx, digest, section)
