"""Stage 3: embed frames with a neural network, behind a small engine interface.

:func:`embed_sources` is the streaming heart of a run: one background thread decodes (FFmpeg
releases the GIL), the calling thread runs the model on full batches, and only a bounded
number of model-sized frames is in memory at any time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import queue
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ._cpus import cap_torch_threads, usable_cpus
from ._framestats import FRAME_METADATA, NO_STATS, Stats
from ._fsutil import atomic_write
from ._log import logger
from .decode import DecodedFrame, decoder_for
from .discover import Source
from .errors import DecodeError, ModelError
from .models.custom import OwnModel, OwnModelEmbedder, describe_own_model, read_model_file

__all__ = [
    "Embedder",
    "OnnxEmbedder",
    "OpenVinoEmbedder",
    "OwnModel",
    "OwnModelEmbedder",
    "SourceFrames",
    "TorchEmbedder",
    "available_engines",
    "cpu_has_bf16",
    "create_embedder",
    "create_own_embedder",
    "embed_sources",
    "embedder_signature",
    "own_model",
    "resolve_engine",
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


# What each engine computes in; part of the cache key, since the embeddings differ slightly.
_SIGNATURE_SUFFIX = {
    "torch": "torch-fp32",
    "torch-bf16": "torch-bf16",
    "torch-fp16": "torch-fp16",
    "onnx": "onnxruntime-fp32",
    "openvino": "openvino-fp32",
    "openvino-bf16": "openvino-bf16",
}


def _signature(engine: str, input_size: int) -> str:
    return f"efficientnet-lite0/{input_size}/{_SIGNATURE_SUFFIX[engine]}"


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


def _preprocessing_model(input_size: int):  # type: ignore[no-untyped-def]
    """Lite0 (batch norms folded) taking uint8 NHWC pixels, normalising inside the graph."""
    import torch

    from .models.efficientnet_lite import load_pretrained

    class Preprocessed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = load_pretrained().fuse()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # NHWC uint8 -> NCHW float (a channels_last view: no copy)
            x = (x.permute(0, 3, 1, 2).float() - _MEAN) / _STD
            return self.net(x)

    return Preprocessed().eval()


class TorchEmbedder:
    """EfficientNet-Lite0 in PyTorch (batch norms folded, channels_last), CPU or CUDA.

    ``precision``: ``fp32``; ``bf16`` (autocast; fast on CPUs with AVX-512 BF16/AMX);
    ``fp16`` (autocast, CUDA only).
    """

    name = "torch"

    def __init__(self, input_size: int = 224, device: str = "auto", precision: str = "fp32") -> None:
        import torch

        from .models.weights import FEATURE_DIM

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("model.device=cuda but PyTorch sees no CUDA device; use model.device=cpu")
        if precision == "fp16" and device != "cuda":
            raise ModelError("fp16 inference needs CUDA; use the torch-bf16 or onnx engine on a CPU")
        if device == "cpu":
            cap_torch_threads()
        self.device = torch.device(device)
        self.precision = precision
        self.dim = FEATURE_DIM
        self.input_size = input_size
        self._torch = torch
        self._model = _preprocessing_model(input_size).to(self.device).to(memory_format=torch.channels_last)
        self._dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.name = "torch" if precision == "fp32" else f"torch-{precision}"
        self.signature = _signature(self.name, input_size)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device)
            if self._dtype is None:
                y = self._model(x)
            else:
                with torch.autocast(self.device.type, dtype=self._dtype):
                    y = self._model(x)
            return y.float().cpu().numpy()


def _bf16_embedder(input_size: int = 224, device: str = "auto") -> TorchEmbedder:
    return TorchEmbedder(input_size, device, precision="bf16")


def _fp16_embedder(input_size: int = 224, device: str = "auto") -> TorchEmbedder:
    return TorchEmbedder(input_size, "cuda" if device == "auto" else device, precision="fp16")


class OnnxEmbedder:
    """EfficientNet-Lite0 exported to ONNX, run by ONNX Runtime on the CPU.

    The exported graph takes the uint8 NHWC batch directly (normalisation inside), has a
    dynamic batch axis and a fixed input size. With ``export_dir`` the export is kept there
    (file name: input size and a hash of the weights, exporter and framepick versions, so a
    stale export is never reused); without, it lives in memory only and nothing is written.
    """

    name = "onnx"

    def __init__(
        self, input_size: int = 224, device: str = "auto", threads: int | None = None, export_dir: Path | None = None
    ) -> None:
        import onnxruntime as ort

        from .models.weights import FEATURE_DIM

        if device == "cuda":
            raise ModelError("the onnx engine runs on the CPU; use model.engine=torch for CUDA")
        self.dim = FEATURE_DIM
        self.input_size = input_size
        self.path, model = _onnx_model(input_size, export_dir)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or usable_cpus()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.signature = _signature(self.name, input_size)

    @staticmethod
    def export(input_size: int, folder: Path) -> Path:
        """The ONNX file for ``input_size`` in ``folder``, exported now if missing (OSError if unwritable)."""
        from ._version import __version__
        from .models.weights import torch_version, weights_path

        weights = weights_path()
        stat = weights.stat()
        key = f"{__version__}|{torch_version()}|{weights.name}|{stat.st_size}|{input_size}|v1"
        digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        path = Path(folder) / f"efficientnet-lite0-{input_size}-{digest}.onnx"
        if path.exists():
            return path
        logger.info("exporting EfficientNet-Lite0 at %d px to %s", input_size, path)
        atomic_write(path, _export_bytes(input_size))
        return path

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        out = self._session.run(None, {self._input: np.ascontiguousarray(pixels, dtype=np.uint8)})[0]
        return np.asarray(out, dtype=np.float32)


def _onnx_model(input_size: int, export_dir: Path | None) -> tuple[Path | None, str | bytes]:
    """The exported model: its file in ``export_dir`` (exported there once), or bytes in memory."""
    if export_dir is not None:
        try:
            path = OnnxEmbedder.export(input_size, export_dir)
            return path, str(path)
        except OSError as exc:  # an unwritable cache costs an export per run, never the run
            logger.warning("cannot keep the ONNX export in %s (%s); exporting in memory", export_dir, exc)
    return None, _export_bytes(input_size)


class OpenVinoEmbedder:
    """The same ONNX export, compiled by OpenVINO for the CPU: 1.4-1.7x ONNX Runtime's speed
    on a 2-core AVX2 machine, with the same numbers (docs/performance.md).

    The compiled model takes one frame at a time in latency mode (faster here than batches,
    which only add memory traffic). ``precision`` is asked for explicitly: OpenVINO would
    otherwise switch to bf16 by itself on CPUs that have it. ``"bf16"`` (engine
    ``openvino-bf16``, CPUs with AVX-512 BF16 or AMX only) is about twice as fast again, with
    the same quality cost as ``torch-bf16`` (docs/performance.md).
    """

    name = "openvino"

    def __init__(
        self,
        input_size: int = 224,
        device: str = "auto",
        threads: int | None = None,
        export_dir: Path | None = None,
        precision: str = "f32",
    ) -> None:
        import openvino as ov

        from .models.weights import FEATURE_DIM

        if device == "cuda":
            raise ModelError("the openvino engine runs on the CPU; use model.engine=torch for CUDA")
        self.dim = FEATURE_DIM
        self.input_size = input_size
        self.path, model = _onnx_model(input_size, export_dir)
        core = ov.Core()
        if self.path is not None:  # compiled blobs beside the export: a later run loads instead of compiling
            core.set_property({"CACHE_DIR": str(self.path.parent / "openvino")})
        graph = core.read_model(model)
        graph.reshape([1, input_size, input_size, 3])
        settings = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": threads or usable_cpus(),
        }
        self._request = core.compile_model(graph, "CPU", settings).create_infer_request()
        if precision != "f32":
            self.name = f"openvino-{precision}"
        self.signature = _signature(self.name, input_size)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        out = np.empty((len(pixels), self.dim), np.float32)
        for i in range(len(pixels)):
            self._request.infer({0: pixels[i : i + 1]})
            out[i] = self._request.get_output_tensor(0).data[0]
        return out


def _export_bytes(input_size: int) -> bytes:
    """The preprocessing model at ``input_size`` as an ONNX graph, in memory."""
    import torch

    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _preprocessing_model(input_size),
                (torch.zeros(1, input_size, input_size, 3, dtype=torch.uint8),),
                buffer,
                input_names=["pixels"],
                output_names=["features"],
                dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        raise ModelError(f"cannot export the model to ONNX: {exc}") from exc
    return buffer.getvalue()


def _onnx_embedder(input_size: int = 224, device: str = "auto", export_dir: Path | None = None) -> OnnxEmbedder:
    return OnnxEmbedder(input_size, device, export_dir=export_dir)


def _openvino_embedder(input_size: int = 224, device: str = "auto", export_dir: Path | None = None) -> OpenVinoEmbedder:
    return OpenVinoEmbedder(input_size, device, export_dir=export_dir)


def _openvino_bf16_embedder(
    input_size: int = 224, device: str = "auto", export_dir: Path | None = None
) -> OpenVinoEmbedder:
    return OpenVinoEmbedder(input_size, device, export_dir=export_dir, precision="bf16")


@functools.cache
def available_engines() -> dict[str, Callable[..., Embedder]]:
    """The engines whose libraries import and whose hardware is present (probed once, lazily)."""
    engines: dict[str, Callable[..., Embedder]] = {"torch": TorchEmbedder}
    if cpu_has_bf16():
        engines["torch-bf16"] = _bf16_embedder
    if _cuda_available():
        engines["torch-fp16"] = _fp16_embedder
    if importlib.util.find_spec("onnx") is not None:  # both export through ONNX
        if importlib.util.find_spec("onnxruntime") is not None:
            engines["onnx"] = _onnx_embedder
        if importlib.util.find_spec("openvino") is not None:
            engines["openvino"] = _openvino_embedder
            if cpu_has_bf16():
                engines["openvino-bf16"] = _openvino_bf16_embedder
    return engines


def __getattr__(name: str) -> object:
    if name == "ENGINES":  # the registry, built on first use (it imports torch)
        return available_engines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ``model.engine=auto`` on the CPU, fastest first (docs/performance.md, "Embedding engines"):
# bf16 only where the CPU has it in hardware (OpenVINO's bf16 about 4x PyTorch's there);
# OpenVINO beats ONNX Runtime, which beats eager fp32.
_CPU_PREFERENCE = ("openvino-bf16", "torch-bf16", "openvino", "onnx", "torch")


def _no_cuda_driver() -> bool:
    """True where CUDA cannot be present: Linux without NVIDIA's kernel driver, or macOS.

    Asking PyTorch costs its import (about 2 s) and a driver probe; a run on a CPU machine
    whose ONNX export is cached needs neither.
    """
    if sys.platform.startswith("linux"):
        return not os.path.exists("/proc/driver/nvidia/version")
    return sys.platform == "darwin"


@functools.cache
def _cuda_available() -> bool:
    if _no_cuda_driver():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def resolve_engine(name: str = "auto", device: str = "auto") -> str:
    """The engine ``auto`` stands for on this machine, or ``name`` itself."""
    if name != "auto":
        return name
    engines = available_engines()
    if device == "cuda" or (device == "auto" and _cuda_available()):
        return "torch-fp16" if "torch-fp16" in engines else "torch"
    return next(e for e in _CPU_PREFERENCE if e in engines)


def create_embedder(
    name: str = "auto", input_size: int = 224, device: str = "auto", *, export_dir: Path | None = None
) -> Embedder:
    """An engine by name (``auto``: the fastest one available here).

    ``export_dir``: where an engine that converts the model (ONNX) may keep the result;
    None writes nothing anywhere.
    """
    if name == "auto" and device != "cuda" and not (device == "auto" and _cuda_available()):
        return _first_that_loads(input_size, device, export_dir)
    name = resolve_engine(name, device)
    engines = available_engines()
    try:
        factory = engines[name]
    except KeyError:
        raise ModelError(
            f"embedding engine '{name}' is not available here; available: auto, {', '.join(engines)}"
        ) from None
    if name in ("onnx", "openvino", "openvino-bf16"):
        return factory(input_size=input_size, device=device, export_dir=export_dir)
    return factory(input_size=input_size, device=device)


def _first_that_loads(input_size: int, device: str, export_dir: Path | None) -> Embedder:
    """``auto`` on the CPU: the fastest engine present that also loads. An installed runtime
    that fails to start (a broken OpenVINO, a CPU plugin it refuses) falls through to the next,
    with a warning, instead of failing the run."""
    engines = available_engines()
    failures: list[str] = []
    for name in (e for e in _CPU_PREFERENCE if e in engines):
        try:
            return create_embedder(name, input_size, device, export_dir=export_dir)
        except Exception as exc:  # any failure of a runtime to load: try the next one
            failures.append(f"{name}: {exc}")
            logger.warning("engine %s could not load (%s); trying the next one", name, exc)
    raise ModelError("no embedding engine could load: " + "; ".join(failures))


def embedder_signature(name: str, input_size: int, device: str = "auto") -> str | None:
    """The signature the engine ``name`` (``auto`` resolved) would have, without loading a model."""
    resolved = resolve_engine(name, device)
    return _signature(resolved, input_size) if resolved in _SIGNATURE_SUFFIX else None


# The engines that can run each kind of model.path file (the first: model.engine=auto's fallback).
_OWN_ENGINES = {"onnx": ("onnx", "openvino", "openvino-bf16"), "torchscript": ("torch", "torch-bf16", "torch-fp16")}


def _own_engine(kind: str, engine: str, device: str) -> str:
    """The engine that runs a model.path file of ``kind``: ``auto`` is OpenVINO fp32 for ONNX
    (faster than ONNX Runtime on the CPU, same numbers), else ONNX Runtime; PyTorch fp32 for
    TorchScript. Never bf16/fp16 by itself: a foreign model's tolerance for them is unknown."""
    allowed = _OWN_ENGINES[kind]
    label = "an ONNX" if kind == "onnx" else "a TorchScript"
    if kind == "onnx" and device == "cuda":
        raise ModelError(
            "an ONNX model.path runs on the CPU (ONNX Runtime or OpenVINO); use model.device=cpu or auto, "
            "or give a TorchScript file to run on CUDA"
        )
    if engine == "auto":
        if kind == "torchscript":
            return "torch"
        return "openvino" if importlib.util.find_spec("openvino") is not None else "onnx"
    if engine not in allowed:
        raise ModelError(f"model.engine={engine} cannot run {label} model.path; use auto or {', '.join(allowed)}")
    if engine not in available_engines():
        available = ", ".join(e for e in allowed if e in available_engines())
        raise ModelError(f"embedding engine '{engine}' is not available here; available: auto, {available}")
    return engine


def own_model(
    path: str | os.PathLike[str],
    input_size: int | None = None,
    engine: str = "auto",
    device: str = "auto",
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> OwnModel:
    """A model.path file described without loading it: its cache signature and datapool space
    are known, and every problem with the file or the engine is a ModelError, before decoding."""
    file = read_model_file(path)
    resolved = _own_engine(file.kind, engine, device)
    return describe_own_model(file, input_size, mean, std, engine=resolved, compute=_SIGNATURE_SUFFIX[resolved])


def create_own_embedder(
    path: str | os.PathLike[str],
    input_size: int | None = None,
    engine: str = "auto",
    device: str = "auto",
    *,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    cache_dir: Path | None = None,
) -> OwnModelEmbedder:
    """Your own ONNX or TorchScript model as an embedder (see :mod:`framepick.models.custom`).

    ``input_size`` is used when the model's own is not fixed; ``mean``/``std`` (0-1 RGB)
    default to ImageNet's; ``cache_dir``: where OpenVINO may keep compiled blobs.
    """
    return OwnModelEmbedder(own_model(path, input_size, engine, device, mean, std), device, cache_dir=cache_dir)


@dataclass
class SourceFrames:
    """Everything scanning and embedding learnt about one source, one row per frame."""

    embeddings: np.ndarray  # (n, dim) float32; zero rows where ``embedded`` is False
    digests: list[bytes]
    pts: list[int | None]
    seconds: list[float | None]
    frame_errors: dict[int, str] = field(default_factory=dict)  # not decoded at all
    frame_suspects: dict[int, str] = field(default_factory=dict)  # decoded, but damaged
    error: str | None = None
    embedded: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # went through the model
    thumbnails: dict[int, str] = field(default_factory=dict)  # made while scanning (not cached)
    # (n, 3) float64 sharpness, luminance, contrast (FRAME_METADATA); NaN rows where not decoded
    metadata: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FRAME_METADATA))))

    @property
    def n_frames(self) -> int:
        return len(self.digests)

    def record(self, frame: DecodedFrame) -> Stats:
        """Add what the scan learnt of ``frame`` (every executor fills results the same way);
        returns its statistics (NaN where it did not decode)."""
        self.digests.append(frame.digest)
        self.pts.append(frame.pts)
        self.seconds.append(frame.seconds)
        if frame.suspect is not None:
            self.frame_suspects[frame.index] = frame.suspect
        if frame.error is not None:
            self.frame_errors[frame.index] = frame.error
        if frame.thumbnail is not None:
            self.thumbnails[frame.index] = frame.thumbnail
        return NO_STATS if frame.stats is None or frame.error is not None else frame.stats

    def complete(self, rows: list[np.ndarray], embedded: list[bool], stats: list[Stats]) -> None:
        """Set the per-frame arrays from what was gathered frame by frame (one row, flag and
        statistics per :meth:`record`), as every executor finishes a source."""
        if rows:
            self.embeddings = np.vstack(rows).astype(np.float32, copy=False)
        self.embedded = np.array(embedded, bool)
        self.metadata = np.array(stats, np.float64).reshape(-1, len(FRAME_METADATA))


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


def _scan_one(source: Source, size: int | None, thumbnails: bool) -> tuple[list[DecodedFrame], str | None]:
    """A whole (one-image) source: its frames and its source-level error."""
    frames: list[DecodedFrame] = []
    try:
        frames.extend(decoder_for(source).frames(source, size, thumbnails=thumbnails))
    except DecodeError as exc:
        return frames, str(exc)
    return frames, None


def _scan_all(
    sources: Sequence[Source], size: int | None, out: queue.Queue, stop: threading.Event, thumbnails: bool = False
) -> None:
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
                        ahead[submitted] = pool.submit(_scan_one, sources[submitted], size, thumbnails)
                    submitted += 1
                if stop.is_set():
                    return
                if i in ahead:
                    frames, error = ahead.pop(i).result()
                    for frame in frames:
                        out.put(_Frame(i, frame))
                    out.put(_SourceEnd(i, error))
                    continue
                error = None
                try:
                    for frame in decoder_for(source).frames(source, size, thumbnails=thumbnails):
                        if stop.is_set():
                            return
                        out.put(_Frame(i, frame))
                except DecodeError as exc:
                    error = str(exc)
                out.put(_SourceEnd(i, error))
    except BaseException as exc:  # surfaced in the consumer
        out.put(_Failed(exc))
    finally:
        out.put(_Done())


def _messages(out: queue.Queue) -> Iterator[_Frame | _SourceEnd]:
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
        batch_size: int,
        progress: Callable[[int], None] | None,
        on_source_done: Callable[[int, SourceFrames], None] | None,
    ) -> None:
        self.embedder, self.batch_size, self.progress, self.on_source_done = (
            embedder, batch_size, progress, on_source_done,
        )  # fmt: skip
        self.dim = embedder.dim if embedder is not None else 0
        self.results = [SourceFrames(np.zeros((0, self.dim), np.float32), [], [], []) for _ in range(n_sources)]
        self.rows: list[list[np.ndarray | None]] = [[] for _ in range(n_sources)]
        self.masks: list[list[bool]] = [[] for _ in range(n_sources)]
        self.stats: list[list[Stats]] = [[] for _ in range(n_sources)]
        self.pending: list[tuple[int, int, np.ndarray]] = []  # (source, row, pixels)
        self.waiting: list[int] = []  # ended sources with frames still in ``pending``

    def add(self, src: int, frame: DecodedFrame, embed: bool) -> None:
        self.stats[src].append(self.results[src].record(frame))
        embed = embed and frame.error is None and self.embedder is not None and frame.pixels is not None
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
    """Scan every frame of every source (digest, timestamps, damage) and embed the masked ones.

    Scanning runs in a background thread (FFmpeg releases the GIL); the calling thread runs
    the model on full batches, and only a bounded number of model-sized frames is in memory.
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
    size = embedder.input_size if embedder is not None else decode_size
    batcher = _Batcher(len(sources), embedder, batch_size, progress, on_source_done)
    out: queue.Queue = queue.Queue(maxsize=4 * batch_size)
    stop = threading.Event()
    worker = threading.Thread(target=_scan_all, args=(sources, size, out, stop, thumbnails), daemon=True)
    worker.start()
    try:
        for message in _messages(out):
            if isinstance(message, _SourceEnd):
                batcher.end(message.src, message.error)
            else:
                index = message.frame.index
                batcher.add(message.src, message.frame, embed_frame is None or embed_frame(index))
        batcher.flush()
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    return batcher.results
