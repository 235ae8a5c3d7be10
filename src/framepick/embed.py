"""Stage 3: embed frames with a neural network, behind a small engine interface.

:func:`embed_sources` is the streaming heart of a run: one background thread decodes (FFmpeg
releases the GIL), the calling thread runs the model on full batches, and only a bounded
number of model-sized frames is in memory at any time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ._log import logger
from .decode import DecodedFrame, decoder_for
from .discover import Source
from .errors import DecodeError, ModelError

__all__ = [
    "ENGINES",
    "Embedder",
    "SourceFrames",
    "TorchEmbedder",
    "create_embedder",
    "embed_sources",
    "embedder_signature",
]

# EfficientNet-Lite was trained on (x - 127) / 128 (TF reference preprocessing).
_MEAN, _STD = 127.0, 128.0


class Embedder(Protocol):
    """An embedding engine: uint8 RGB batches in, float32 feature rows out."""

    name: str
    dim: int
    input_size: int
    signature: str  # identifies the embeddings this engine produces (a cache key part)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, dim) float32."""
        ...


class TorchEmbedder:
    """EfficientNet-Lite0 in PyTorch (batch norms folded), CPU or CUDA."""

    name = "torch"

    def __init__(self, input_size: int = 224, device: str = "auto") -> None:
        import torch

        from .models.efficientnet_lite import FEATURE_DIM, load_pretrained

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("model.device=cuda but PyTorch sees no CUDA device; use model.device=cpu")
        self.device = torch.device(device)
        self.dim = FEATURE_DIM
        self.input_size = input_size
        self._torch = torch
        self._model = load_pretrained().fuse().to(self.device)
        self.signature = self.signature_for(input_size, device)

    @staticmethod
    def signature_for(input_size: int, device: str = "auto") -> str:
        """The signature an engine built with these settings has, without loading the model."""
        return f"efficientnet-lite0/{input_size}/torch-fp32"

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device)
            x = (x.permute(0, 3, 1, 2).float() - _MEAN) / _STD
            return self._model(x).float().cpu().numpy()


ENGINES: dict[str, Callable[..., Embedder]] = {"torch": TorchEmbedder}


def create_embedder(name: str = "torch", input_size: int = 224, device: str = "auto") -> Embedder:
    """An engine from :data:`ENGINES` by name."""
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ModelError(f"unknown embedding engine '{name}'; available: {', '.join(ENGINES)}") from None
    return factory(input_size=input_size, device=device)


def embedder_signature(name: str, input_size: int, device: str = "auto") -> str | None:
    """An engine's signature known without building it (``signature_for``), else None."""
    signature_for = getattr(ENGINES.get(name), "signature_for", None)
    return signature_for(input_size, device) if signature_for is not None else None


@dataclass
class SourceFrames:
    """Everything decoding and embedding learnt about one source, one row per frame."""

    embeddings: np.ndarray
    digests: list[bytes]
    pts: list[int | None]
    seconds: list[float | None]
    frame_errors: dict[int, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def n_frames(self) -> int:
        return len(self.digests)


_END = object()


def _decode_all(sources: Sequence[Source], size: int, out: queue.Queue, stop: threading.Event) -> None:
    """Producer thread: (source index, frame) items, then (source index, error or None)."""
    try:
        for i, source in enumerate(sources):
            error: str | None = None
            try:
                for frame in decoder_for(source).frames(source, size):
                    if stop.is_set():
                        return
                    out.put((i, frame))
            except DecodeError as exc:
                error = str(exc)
            out.put((i, error))
    except BaseException as exc:  # surfaced in the consumer
        out.put(exc)
    finally:
        out.put(_END)


def _iter_queue(out: queue.Queue) -> Iterator[object]:
    while True:
        item = out.get()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def embed_sources(
    sources: Sequence[Source],
    embedder: Embedder,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    on_source_done: Callable[[int, SourceFrames], None] | None = None,
) -> list[SourceFrames]:
    """Decode and embed every frame of every source, in order; one result per source.

    ``on_source_done(i, result)`` is called as soon as source ``i`` is complete (all its
    frames embedded), e.g. to cache it while later sources are still being decoded.
    """
    size = embedder.input_size
    results = [SourceFrames(np.zeros((0, embedder.dim), np.float32), [], [], []) for _ in sources]
    rows: list[list[np.ndarray | None]] = [[] for _ in sources]
    pending: list[tuple[int, int, np.ndarray]] = []  # (source, row, pixels)
    waiting: list[int] = []  # ended sources with frames still in ``pending``

    def finish(src: int) -> None:
        if rows[src]:
            results[src].embeddings = np.vstack(rows[src]).astype(np.float32, copy=False)  # type: ignore[arg-type]
        rows[src] = []
        if on_source_done is not None:
            on_source_done(src, results[src])

    def flush() -> None:
        if pending:
            vectors = embedder.embed(np.stack([pixels for _, _, pixels in pending]))
            for (src, row, _), vector in zip(pending, vectors):
                rows[src][row] = vector
            if progress is not None:
                progress(len(pending))
            pending.clear()
        for src in waiting:
            finish(src)
        waiting.clear()

    out: queue.Queue = queue.Queue(maxsize=4 * batch_size)
    stop = threading.Event()
    worker = threading.Thread(target=_decode_all, args=(sources, size, out, stop), daemon=True)
    worker.start()
    try:
        for item in _iter_queue(out):
            src, payload = item  # type: ignore[misc]
            if not isinstance(payload, DecodedFrame):
                results[src].error = payload  # type: ignore[assignment]
                if payload:
                    logger.warning("%s: %s", sources[src].name, payload)
                if any(p[0] == src for p in pending):
                    waiting.append(src)
                else:
                    finish(src)
                continue
            result = results[src]
            result.digests.append(payload.digest)
            result.pts.append(payload.pts)
            result.seconds.append(payload.seconds)
            if payload.pixels is None:
                result.frame_errors[payload.index] = payload.error or "cannot decode"
                rows[src].append(np.zeros(embedder.dim, np.float32))
                if progress is not None:
                    progress(1)
                continue
            rows[src].append(None)
            pending.append((src, len(rows[src]) - 1, payload.pixels))
            if len(pending) >= batch_size:
                flush()
        flush()
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    return results
