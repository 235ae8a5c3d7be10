"""Stage 3: decode and embed, in this process: the local executor, and the model API.

:class:`LocalExecutor` is the streaming heart of a local run: one background thread decodes
(FFmpeg releases the GIL), the calling thread runs the model on full batches, and only a
bounded number of model-sized frames is in memory at any time. :func:`embed_sources` is the
same for a list of sources and an embedder object.

The model layer lives in :mod:`framepick.models` (sources, runtime adapters, the resolved
model) and the engine declaration in :mod:`framepick.engines`; the names here are the public
API around them: :func:`create_embedder`, :func:`create_own_embedder`, and the built-in model
per runtime (:class:`TorchEmbedder`, :class:`OnnxEmbedder`, :class:`OpenVinoEmbedder`).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from . import engines
from ._cpus import usable_cpus
from ._framestats import Stats
from ._log import logger
from .decode import DecodedFrame
from .discover import Source
from .engines import available_engines, cpu_has_bf16
from .models.resolved import Embedder, ModelEmbedder, ModelSpec, ResolvedModel, own_model, resolve_model
from .models.sources import BuiltinModel, Triple
from .scan import FrameRules, Progress, ScanRequest, SourceDone, SourceFrames, SourceScan

__all__ = [
    "Embedder",
    "LocalExecutor",
    "ModelEmbedder",
    "OnnxEmbedder",
    "OpenVinoEmbedder",
    "SourceFrames",
    "TorchEmbedder",
    "available_engines",
    "cpu_has_bf16",
    "create_embedder",
    "create_own_embedder",
    "embed_sources",
    "own_model",
    "resolve_engine",
]


def __getattr__(name: str) -> object:
    if name == "ENGINES":  # the engines available here, probed on first use
        return available_engines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve_engine(name: str = "auto", device: str = "auto") -> str:
    """The engine ``auto`` stands for on this machine before any load is tried, or ``name`` itself."""
    if name != "auto":
        return name
    present = engines.available_engines()
    return next(e for e in engines.auto_order(device) if e in present)


def create_embedder(
    name: str = "auto", input_size: int = 224, device: str = "auto", *, export_dir: Path | None = None
) -> Embedder:
    """The built-in model run by an engine (``auto``: the fastest available here that loads).

    ``export_dir``: where an engine that converts the model (ONNX) may keep the result;
    None writes nothing anywhere.
    """
    return resolve_model(ModelSpec(name, input_size, device, export_dir)).embedder()


def create_own_embedder(
    path: str | os.PathLike[str],
    input_size: int | None = None,
    engine: str = "auto",
    device: str = "auto",
    *,
    mean: Triple | None = None,
    std: Triple | None = None,
    cache_dir: Path | None = None,
) -> ModelEmbedder:
    """Your own ONNX or TorchScript model as an embedder (see :mod:`framepick.models.sources`).

    ``input_size`` is used when the model's own is not fixed; ``mean``/``std`` (0-1 RGB)
    default to ImageNet's; ``cache_dir``: where OpenVINO may keep compiled blobs.
    """
    spec = ModelSpec(engine, input_size, device, cache_dir, os.fspath(path), mean, std)
    return cast(ModelEmbedder, resolve_model(spec).embedder())  # a spec's model is always framepick's


class TorchEmbedder(ModelEmbedder):
    """EfficientNet-Lite0 in PyTorch (batch norms folded, channels_last), CPU or CUDA.

    ``precision``: ``fp32``; ``bf16`` (autocast; fast on CPUs with AVX-512 BF16/AMX);
    ``fp16`` (autocast, CUDA only).
    """

    def __init__(self, input_size: int = 224, device: str = "auto", precision: str = "fp32") -> None:
        name = "torch" if precision == "fp32" else f"torch-{precision}"
        super().__init__(ResolvedModel(BuiltinModel(input_size), name, device))


class OnnxEmbedder(ModelEmbedder):
    """EfficientNet-Lite0 exported to ONNX, run by ONNX Runtime on the CPU.

    The exported graph takes the uint8 NHWC batch directly (normalisation inside), has a
    dynamic batch axis and a fixed input size. With ``export_dir`` the export is kept there
    (see :meth:`export`); without, it lives in memory only and nothing is written.
    """

    def __init__(
        self, input_size: int = 224, device: str = "auto", threads: int | None = None, export_dir: Path | None = None
    ) -> None:
        super().__init__(ResolvedModel(BuiltinModel(input_size), "onnx", device, export_dir), threads)

    @staticmethod
    def export(input_size: int, folder: Path) -> Path:
        """The ONNX file for ``input_size`` in ``folder``, exported now if missing (OSError if unwritable)."""
        return BuiltinModel(input_size).export(folder)


class OpenVinoEmbedder(ModelEmbedder):
    """The same ONNX export, compiled by OpenVINO for the CPU: 1.4-1.7x ONNX Runtime's speed
    on a 2-core AVX2 machine, with the same numbers (docs/performance.md). ``precision``
    ``"bf16"`` (engine ``openvino-bf16``, CPUs with AVX-512 BF16 or AMX only) is about twice
    as fast again, with the same quality cost as PyTorch's bf16 (docs/performance.md).
    """

    def __init__(
        self,
        input_size: int = 224,
        device: str = "auto",
        threads: int | None = None,
        export_dir: Path | None = None,
        precision: str = "f32",
    ) -> None:
        name = "openvino" if precision == "f32" else f"openvino-{precision}"
        super().__init__(ResolvedModel(BuiltinModel(input_size), name, device, export_dir), threads)


@dataclass(frozen=True)
class _Frame:
    """Queue message: one scanned frame of source ``src``."""

    src: int
    frame: DecodedFrame


@dataclass(frozen=True)
class _SourceEnd:
    """Queue message: source ``src`` is scanned; ``error`` is its source-level problem."""

    src: int
    error: str | None


@dataclass(frozen=True)
class _Failed:
    """Queue message: the scanning thread failed; the consumer re-raises ``exc``."""

    exc: BaseException


@dataclass(frozen=True)
class _Done:
    """Queue message: the scanning thread has finished."""


_Message = _Frame | _SourceEnd | _Failed | _Done


_PREFETCH_THREADS = 4  # loose images decoded ahead at once (Pillow releases the GIL)


def _scan_all(sources: Sequence[Source], rules: FrameRules, out: queue.Queue[Any], stop: threading.Event) -> None:
    """Producer thread: every frame of every source, then the source's end, in order.

    Loose images (a source each) are decoded a few sources ahead in a thread pool: one at a
    time, a folder of 600 loose JPEG files would keep one core idle. Videos and frame
    folders stream in this thread (frame folders thread inside their decoder).
    """
    workers = max(1, min(_PREFETCH_THREADS, usable_cpus()))
    ahead: dict[int, Future[tuple[list[DecodedFrame], str | None]]] = {}
    submitted = 0
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="framepick-prefetch") as pool:
            for i, source in enumerate(sources):
                while submitted < min(len(sources), i + 2 * workers):
                    if sources[submitted].kind == "image":
                        ahead[submitted] = pool.submit(SourceScan(sources[submitted], rules).all)
                    submitted += 1
                if stop.is_set():
                    return
                if i in ahead:
                    frames, error = ahead.pop(i).result()
                    for frame in frames:
                        out.put(_Frame(i, frame))
                    out.put(_SourceEnd(i, error))
                    continue
                scan = SourceScan(source, rules)
                for frame in scan:
                    if stop.is_set():
                        return
                    out.put(_Frame(i, frame))
                out.put(_SourceEnd(i, scan.error))
    except BaseException as exc:  # surfaced in the consumer
        out.put(_Failed(exc))
    finally:
        out.put(_Done())


def _messages(out: queue.Queue[Any]) -> Iterator[_Frame | _SourceEnd]:
    while True:
        item: _Message = out.get()
        if isinstance(item, _Done):
            return
        if isinstance(item, _Failed):
            raise item.exc
        yield item


class _Batcher:
    """Collects per-source rows and runs the model on full batches."""

    def __init__(
        self,
        n_sources: int,
        embedder: Embedder | None,
        rules: FrameRules,
        batch_size: int,
        progress: Progress | None,
        on_source_done: SourceDone | None,
    ) -> None:
        self.embedder, self.rules, self.batch_size, self.progress, self.on_source_done = (
            embedder, rules, batch_size, progress, on_source_done,
        )  # fmt: skip
        self.dim = embedder.dim if embedder is not None else 0
        self.results = [SourceFrames.empty(self.dim) for _ in range(n_sources)]
        self.rows: list[list[np.ndarray | None]] = [[] for _ in range(n_sources)]
        self.masks: list[list[bool]] = [[] for _ in range(n_sources)]
        self.stats: list[list[Stats]] = [[] for _ in range(n_sources)]
        self.pending: list[tuple[int, int, np.ndarray]] = []  # (source, row, pixels)
        self.waiting: list[int] = []  # ended sources with frames still in ``pending``

    def add(self, src: int, frame: DecodedFrame) -> None:
        self.stats[src].append(self.results[src].record(frame))
        embed = self.embedder is not None and self.rules.to_model(frame)
        self.masks[src].append(embed)
        if not embed:
            self.rows[src].append(np.zeros(self.dim, np.float32))
            if self.progress is not None:
                self.progress(1)
            return
        self.rows[src].append(None)
        self.pending.append((src, len(self.rows[src]) - 1, frame.pixels))  # type: ignore[arg-type]
        if len(self.pending) >= self.batch_size:
            self.flush()

    def end(self, src: int, error: str | None) -> None:
        self.results[src].error = error
        if error:
            logger.debug("%s", error)  # the checks report it
        if any(p[0] == src for p in self.pending):
            self.waiting.append(src)
        else:
            self._finish(src)

    def flush(self) -> None:
        if self.pending and self.embedder is not None:
            vectors = self.embedder.embed(np.stack([pixels for _, _, pixels in self.pending]))
            for (src, row, _), vector in zip(self.pending, vectors):
                self.rows[src][row] = vector
            if self.progress is not None:
                self.progress(len(self.pending))
            self.pending.clear()
        for src in self.waiting:
            self._finish(src)
        self.waiting.clear()

    def _finish(self, src: int) -> None:
        result = self.results[src]
        result.complete(self.rows[src], self.masks[src], self.stats[src])  # type: ignore[arg-type]
        self.rows[src], self.masks[src], self.stats[src] = [], [], []
        if self.on_source_done is not None:
            self.on_source_done(src, result)


def _stream(
    request: ScanRequest,
    model: ResolvedModel | None,
    on_source_done: SourceDone | None,
    progress: Progress | None,
) -> list[SourceFrames]:
    """Scan the request's sources in a background thread, embed in this one (see :class:`LocalExecutor`)."""
    sources, batch_size, rules = request.sources, request.batch_size, request.rules(model)
    embedder = model.embedder() if model is not None else None
    batcher = _Batcher(len(sources), embedder, rules, batch_size, progress, on_source_done)
    out: queue.Queue[Any] = queue.Queue(maxsize=4 * batch_size)
    stop = threading.Event()
    worker = threading.Thread(target=_scan_all, args=(sources, rules, out, stop), daemon=True)
    worker.start()
    try:
        for message in _messages(out):
            if isinstance(message, _SourceEnd):
                batcher.end(message.src, message.error)
            else:
                batcher.add(message.src, message.frame)
        batcher.flush()
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    return batcher.results


class LocalExecutor:
    """The executor of ``executor=local``: scanning runs in a background thread (FFmpeg releases
    the GIL), the calling thread runs the model on full batches, and only a bounded number of
    model-sized frames is in memory. The model is loaded here, when the first source is to be
    embedded (:meth:`ResolvedModel.embedder`)."""

    loads_here = True

    def scan(
        self,
        request: ScanRequest,
        model: ResolvedModel | None,
        on_source_done: SourceDone | None = None,
        progress: Progress | None = None,
    ) -> list[SourceFrames]:
        if model is not None:
            embedder = model.embedder()
            logger.info("embedding engine: %s (%s)", embedder.name, embedder.signature)
        return _stream(request, model, on_source_done, progress)


def embed_sources(
    sources: Sequence[Source],
    embedder: Embedder | None,
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    on_source_done: Callable[[int, SourceFrames], None] | None = None,
    embed_frame: Callable[[int], bool] | None = None,
    thumbnails: bool = False,
    decode_size: int | None = None,
) -> list[SourceFrames]:
    """Scan every frame of every source (digest, timestamps, damage) and embed the masked ones:
    :class:`LocalExecutor` for a list of sources and an embedder object.

    ``embed_frame(frame_index)`` false, or ``embedder`` None (precomputed embeddings): the
    frame is scanned but not run through the model; its row stays zero and
    ``result.embedded`` says so. ``on_source_done(i, result)`` is called as soon as source
    ``i`` is complete, e.g. to cache it while later sources are still being scanned.
    ``thumbnails``: keep the report's thumbnail of every frame whose decoder makes one on the
    way (``result.thumbnails``; images only). Every decoded frame's statistics land in
    ``result.metadata`` whether or not a model runs (the decoders compute them).
    ``decode_size``: the size frames are decoded for when no model runs, so that JPEG files
    decode at the same reduced scale (and get the same statistics) as with the model.
    """
    limit = sys.maxsize if thumbnails else 0
    request = ScanRequest(sources, decode_size, embed_frame, thumbnail_limit=limit, batch_size=batch_size)
    model = ResolvedModel.of_embedder(embedder) if embedder is not None else None
    return _stream(request, model, on_source_done, progress)
