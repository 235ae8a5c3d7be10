"""Your own embedding model (``model.path``): an ONNX or TorchScript file, run as it is, no download.

The file is recognised by its content (a TorchScript file is a zip archive with a ``code/``
folder; anything else must parse as an ONNX ``ModelProto``), and everything that can be
known without loading it is read here, cheaply: its sha256 (part of the cache key and of
the datapool's embedding space), its kind, and for ONNX the input and output shapes, read by
walking the protobuf wire format (importing the ``onnx`` package costs about a second, and
a fully cached run loads no runtime at all). Loading the model and one dummy inference then
check what only running can tell (an output that is not 2-D).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._cpus import cap_torch_threads, usable_cpus
from ..errors import ModelError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelFile",
    "OwnModel",
    "OwnModelEmbedder",
    "describe_own_model",
    "read_model_file",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Triple = tuple[float, float, float]
Runner = Callable[[np.ndarray], np.ndarray]

# ONNX TensorProto.DataType values framepick can feed (it casts its float32 batch).
_ONNX_FLOATS = {1: np.float32, 10: np.float16, 11: np.float64}
_WRITE_IT = (
    "give model.path an ONNX file (torch.onnx.export) or a TorchScript file (torch.jit.script or "
    "torch.jit.trace, then .save)"
)


@dataclass(frozen=True)
class ModelFile:
    """What a model file is, read without loading it: ``batch``/``height``/``width`` are the ONNX
    input's fixed sizes (None: dynamic, or a TorchScript file, whose shapes are not recorded)."""

    path: Path
    kind: str  # "onnx" or "torchscript"
    digest: str  # first 16 hex digits of the file's sha256
    batch: int | None = None
    height: int | None = None
    width: int | None = None
    dtype: str = "float32"  # what the model's input takes; framepick casts to it


class _NotProtobuf(ValueError):
    """The bytes are not a protobuf message."""


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _NotProtobuf
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of one protobuf message: an int for varints, the bytes of
    length-delimited fields (fixed-width fields are skipped); _NotProtobuf when it is not one."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire in (1, 5):
            value, i = 0, i + (8 if wire == 1 else 4)
        else:
            raise _NotProtobuf
        if number == 0 or i > len(buf):
            raise _NotProtobuf
        yield number, value


def _messages(buf: memoryview, number: int) -> Iterator[memoryview]:
    for n, value in _fields(buf):
        if n == number and isinstance(value, memoryview):
            yield value


def _value_info(buf: memoryview) -> tuple[str, int, list[int | None] | None]:
    """An ONNX ValueInfoProto: (name, element type, dims or None when no shape is recorded)."""
    name, elem, dims = "", 0, None
    for n, value in _fields(buf):
        if n == 1 and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8", "replace")
        elif n == 2 and isinstance(value, memoryview):
            for tensor in _messages(value, 1):  # TypeProto.tensor_type
                for m, part in _fields(tensor):
                    if m == 1 and isinstance(part, int):
                        elem = part
                    elif m == 2 and isinstance(part, memoryview):  # TensorShapeProto
                        dims = [_dim(d) for d in _messages(part, 1)]
    return name, elem, dims


def _dim(buf: memoryview) -> int | None:
    """A fixed dimension's size, or None for a named (dynamic) or unknown one."""
    for n, value in _fields(buf):
        if n == 1 and isinstance(value, int) and 0 < value < 2**63:
            return value
    return None


def _onnx_io(data: bytes) -> tuple[list, list]:  # type: ignore[type-arg]
    """The graph's real inputs (initializers excluded) and outputs, as :func:`_value_info` tuples."""
    model = memoryview(data)
    graph = next(_messages(model, 7), None)  # ModelProto.graph
    if graph is None:
        raise _NotProtobuf
    initializers = set()
    for tensor in _messages(graph, 5):  # TensorProto, its name is field 8
        initializers |= {bytes(v).decode("utf-8", "replace") for n, v in _fields(tensor) if n == 8}
    for sparse in _messages(graph, 15):
        for values in _messages(sparse, 1):
            initializers |= {bytes(v).decode("utf-8", "replace") for n, v in _fields(values) if n == 8}
    inputs = [v for v in map(_value_info, _messages(graph, 11)) if v[0] not in initializers]
    outputs = [_value_info(v) for v in _messages(graph, 12)]
    if not any(n == 1 for n, _ in _fields(graph)) or not inputs or not outputs:  # no node, input or output
        raise _NotProtobuf
    return inputs, outputs


def _onnx_file(path: Path, digest: str, data: bytes) -> ModelFile:
    """An ONNX file's input sizes, checked against what framepick feeds: one NCHW float batch."""
    name = path.name
    try:
        inputs, outputs = _onnx_io(data)
    except _NotProtobuf:
        raise ModelError(f"model.path '{path}' is neither an ONNX nor a TorchScript model; {_WRITE_IT}") from None
    if len(inputs) != 1:
        listed = ", ".join(i[0] for i in inputs)
        raise ModelError(
            f"model '{name}' has {len(inputs)} inputs ({listed}); framepick feeds one NCHW image batch: "
            "export a model with a single image input"
        )
    if len(outputs) != 1:
        raise ModelError(
            f"model '{name}' has {len(outputs)} outputs; framepick needs one (batch, features) output: "
            "export the model with only its embedding as output"
        )
    _, elem, dims = inputs[0]
    if elem not in _ONNX_FLOATS:
        raise ModelError(
            f"model '{name}' takes ONNX element type {elem}, not float; framepick feeds float32 NCHW "
            "pixels: export the model with a float input (normalisation is model.mean and model.std)"
        )
    if dims is not None and (len(dims) != 4 or dims[1] not in (3, None)):
        hint = " (NHWC? framepick feeds NCHW)" if dims and dims[-1] == 3 else ""
        raise ModelError(
            f"model '{name}' takes input shape {_shape(dims)}{hint}; framepick feeds (batch, 3, height, width) "
            "RGB: export the model with an NCHW image input"
        )
    out_dims = outputs[0][2]
    if out_dims is not None and len(out_dims) != 2:
        raise ModelError(_not_2d(name, f"shape {_shape(out_dims)}"))
    batch, height, width = (dims[0], dims[2], dims[3]) if dims is not None else (None, None, None)
    return ModelFile(path, "onnx", digest, batch, height, width, np.dtype(_ONNX_FLOATS[elem]).name)


def _shape(dims: list[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _not_2d(name: str, what: str) -> str:
    return (
        f"model '{name}' outputs {what}; framepick needs one 2-D (batch, features) output: "
        "flatten or pool the features inside the model before exporting it"
    )


def _zip_kind(path: Path, data: bytes) -> str:
    """``torchscript`` for a TorchScript archive; a ModelError for any other zip (a torch.save checkpoint)."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        names = []
    if any("/code/" in n for n in names):
        return "torchscript"
    raise ModelError(
        f"model.path '{path}' is a zip archive but not a TorchScript model (a torch.save checkpoint holds "
        f"weights, not the network); {_WRITE_IT}"
    )


@functools.lru_cache(maxsize=8)
def _read(path: Path, identity: tuple[int, ...]) -> ModelFile:
    """The file read once per identity (size, times, inode; the cache keys media files likewise):
    a run asks for it up to three times (cache key, datapool, model)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model.path '{path}': {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()[:16]
    if data[:4] == b"PK\x03\x04":
        return ModelFile(path, _zip_kind(path, data), digest)
    return _onnx_file(path, digest, data)


def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """The model file at ``path``, kind told by content (not the extension); ModelError says what is wrong."""
    file = Path(path).expanduser().absolute()
    try:
        st = file.stat()
    except OSError:
        raise ModelError(f"model.path '{path}' does not exist; give an ONNX or TorchScript file") from None
    if not file.is_file():
        raise ModelError(f"model.path '{path}' is not a file; give an ONNX or TorchScript file")
    return _read(file, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))


@dataclass(frozen=True)
class OwnModel:
    """A model file and how it runs: input size, normalisation, engine (``compute``: what the
    engine computes in, e.g. ``onnxruntime-fp32``)."""

    file: ModelFile
    input_size: int
    mean: Triple
    std: Triple
    engine: str
    compute: str

    @property
    def signature(self) -> str:
        """The cache key part: the file's hash, the input size, mean/std and the engine."""
        f, norm = self.file, f"mean={list(self.mean)}/std={list(self.std)}"
        return f"own-{f.kind}/sha256:{f.digest}/{self.input_size}/{norm}/{self.compute}"

    @property
    def space(self) -> str:
        """The embedding space a datapool is tied to (the engine is not part of it)."""
        f = self.file
        return (
            f"model file {f.path.name} sha256:{f.digest} at {self.input_size} px, "
            f"mean {list(self.mean)}, std {list(self.std)}"
        )


def describe_own_model(
    file: ModelFile, input_size: int | None, mean: Triple | None, std: Triple | None, *, engine: str, compute: str
) -> OwnModel:
    """``file`` at its input size: the model's own when fixed (square only: the decoders make
    square frames), else ``input_size``; ImageNet mean/std when not given."""
    height, width = file.height, file.width
    if height is not None and width is not None and height != width:
        raise ModelError(
            f"model '{file.path.name}' takes {height}x{width} (height x width) frames; framepick makes square "
            "frames: export the model with a square or dynamic input size"
        )
    size = height or width or input_size
    if size is None:
        raise ModelError(
            f"model '{file.path.name}' takes frames of any size (a dynamic input): set model.input_size "
            "to the size it expects, e.g. model.input_size=224"
        )
    return OwnModel(file, size, mean or IMAGENET_MEAN, std or IMAGENET_STD, engine, compute)


class OwnModelEmbedder:
    """``model.path``'s model behind the :class:`~framepick.embed.Embedder` protocol.

    Frames are normalised here (uint8 RGB -> 0-1 -> (x - mean) / std -> NCHW float32) and
    run by ONNX Runtime, OpenVINO (``engine`` openvino, openvino-bf16) or PyTorch
    (TorchScript; torch, torch-bf16, torch-fp16). A model with a fixed batch size gets
    batches of exactly that size (the last one padded). One dummy inference at creation
    finds the output width (``dim``) and refuses an output that is not 2-D, before any
    frame is decoded.
    """

    def __init__(
        self, model: OwnModel, device: str = "auto", threads: int | None = None, cache_dir: Path | None = None
    ) -> None:
        self.model = model
        self.name = model.engine
        self.input_size = model.input_size
        self.signature = model.signature
        self.space = model.space
        std = np.asarray(model.std, np.float32)
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._shift = (np.asarray(model.mean, np.float32) / std).astype(np.float32)
        self._dtype = np.dtype(model.file.dtype)
        threads = threads or usable_cpus()
        if model.file.kind == "torchscript":
            self._run, self._batch = _torchscript_runner(model, device)
        elif model.engine.startswith("openvino"):
            self._run, self._batch = _openvino_runner(model, threads, cache_dir)
        else:
            self._run, self._batch = _onnxruntime_runner(model, threads)
        self.dim = 0  # not known until the probe has run
        dummy = np.zeros((self._batch or 1, 3, self.input_size, self.input_size), self._dtype)
        try:
            probe = self._run(dummy)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"model '{model.file.path.name}' fails on a {dummy.shape} batch ({_cause(exc)}); "
                "set model.input_size to the input size the model takes"
            ) from None
        self.dim = int(self._checked(probe, len(probe)).shape[1])

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, 3, S, S) in the model's float type: (x / 255 - mean) / std."""
        x = np.asarray(pixels, np.uint8).astype(np.float32)
        x *= self._scale  # x / (255 std) - mean / std: the same, in two passes over the batch
        x -= self._shift
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=self._dtype)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        x = self.preprocess(pixels)
        if self._batch is None or len(x) == 0:
            out = self._forward(x) if len(x) else np.zeros((0, self.dim), np.float32)
        else:
            parts = []
            for begin in range(0, len(x), self._batch):
                chunk = x[begin : begin + self._batch]
                if len(chunk) < self._batch:  # a fixed batch size: pad the last chunk
                    padding = np.zeros((self._batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
                    chunk = np.concatenate([chunk, padding])
                parts.append(self._checked(self._forward(chunk), self._batch)[: len(x) - begin])
            out = np.concatenate(parts)
        return np.ascontiguousarray(self._checked(out, len(x)), dtype=np.float32)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return self._run(x)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"model '{self.model.file.path.name}' failed on a frame batch: {_cause(exc)}") from exc

    def _checked(self, out: np.ndarray, rows: int) -> np.ndarray:
        out = np.asarray(out)
        if out.ndim != 2 or len(out) != rows:
            raise ModelError(_not_2d(self.model.file.path.name, f"shape {tuple(out.shape)}"))
        if self.dim and out.shape[1] != self.dim:
            raise ModelError(f"model '{self.model.file.path.name}' changed its output width to {out.shape[1]}")
        return out


def _cause(exc: BaseException) -> str:
    """The telling line of a runtime's error: the last (a TorchScript error ends with the cause)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def _onnxruntime_runner(model: OwnModel, threads: int) -> tuple[Runner, int | None]:
    """An ONNX Runtime session on the CPU (settings as for the built-in model)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(str(model.file.path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"ONNX Runtime cannot load model '{model.file.path.name}': {_cause(exc)}") from None
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: x})[0])

    return run, model.file.batch


def _openvino_runner(model: OwnModel, threads: int, cache_dir: Path | None) -> tuple[Runner, int | None]:
    """OpenVINO on the CPU, one frame at a time in latency mode (as the built-in model: faster
    than batches on a few cores); a model with a fixed batch size keeps it."""
    import openvino as ov

    file, size = model.file, model.input_size
    precision = "bf16" if model.engine == "openvino-bf16" else "f32"  # asked for: OpenVINO would pick bf16 itself
    core = ov.Core()
    if cache_dir is not None:  # compiled blobs kept: a later run loads instead of compiling
        core.set_property({"CACHE_DIR": str(cache_dir / "openvino")})
    batch = file.batch or 1
    try:
        graph = core.read_model(str(file.path))
        if graph.input(0).get_partial_shape().is_dynamic:
            graph.reshape([batch, 3, size, size])
        settings = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        settings["INFERENCE_NUM_THREADS"] = threads  # type: ignore[assignment]
        request = core.compile_model(graph, "CPU", settings).create_infer_request()
    except Exception as exc:
        raise ModelError(
            f"OpenVINO cannot compile model '{file.path.name}': {_cause(exc)}; try model.engine=onnx"
        ) from None

    def run(x: np.ndarray) -> np.ndarray:
        request.infer({0: x})
        return np.array(request.get_output_tensor(0).data)  # a copy: the request reuses its buffer

    return run, batch


def _torchscript_runner(model: OwnModel, device: str) -> tuple[Runner, int | None]:
    """A TorchScript module on the CPU or CUDA, in fp32 or under autocast (torch-bf16, torch-fp16)."""
    import torch

    name = model.file.path.name
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("model.device=cuda but PyTorch sees no CUDA device; use model.device=cpu")
    if model.engine == "torch-fp16" and device != "cuda":
        raise ModelError("fp16 inference needs CUDA; use model.engine=torch or torch-bf16 on a CPU")
    if device == "cpu":
        cap_torch_threads()
    try:
        with warnings.catch_warnings():  # PyTorch deprecates TorchScript, which still loads and runs
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            module = torch.jit.load(str(model.file.path), map_location=device).eval()
    except Exception as exc:
        raise ModelError(f"PyTorch cannot load TorchScript model '{name}': {_cause(exc)}") from None
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:
        needed = [a.name for a in schema.arguments[1:] if not a.has_default_value()]
        if len(needed) != 1:
            raise ModelError(
                f"model '{name}' takes {len(needed)} inputs ({', '.join(needed)}); framepick feeds one NCHW "
                "image batch: script or trace a model whose forward takes a single image tensor"
            )
    dtype = {"torch-bf16": torch.bfloat16, "torch-fp16": torch.float16}.get(model.engine)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.from_numpy(x).to(device)
            if dtype is None:
                y = module(batch)
            else:
                with torch.autocast(torch.device(device).type, dtype=dtype):
                    y = module(batch)
            if not isinstance(y, torch.Tensor):
                raise ModelError(_not_2d(name, f"a {type(y).__name__}, not a tensor"))
            return y.float().cpu().numpy()

    return run, None
