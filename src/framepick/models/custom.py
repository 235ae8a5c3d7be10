"""Your own embedding model (``model.path``): an ONNX or TorchScript file, run as it is, no download.

The file is recognised by its content (a TorchScript file is a zip archive with a ``code/``
folder; anything else must parse as an ONNX ``ModelProto``), and everything that can be
known without loading it is read here, cheaply: its sha256 (part of the cache key and of
the datapool's embedding space), its kind, and for ONNX the input and output shapes, read by
walking the protobuf wire format (importing the ``onnx`` package costs about a second, and
a fully cached run loads no runtime at all). Loading the model and one dummy inference then
check what only running can tell (an output that is not 2-D); that, and how the file becomes a
model source, is :mod:`framepick.models.sources`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ModelFile", "error_cause", "not_2d", "read_model_file"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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
        raise ModelError(not_2d(f"model '{name}'", f"shape {_shape(out_dims)}"))
    batch, height, width = (dims[0], dims[2], dims[3]) if dims is not None else (None, None, None)
    return ModelFile(path, "onnx", digest, batch, height, width, np.dtype(_ONNX_FLOATS[elem]).name)


def _shape(dims: list[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def not_2d(label: str, what: str) -> str:
    """The message for a model (``label``: how messages name it) whose output is not one (batch, features) array."""
    return (
        f"{label} outputs {what}; framepick needs one 2-D (batch, features) output: "
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


def error_cause(exc: BaseException) -> str:
    """The telling line of a runtime's error: the last (a TorchScript error ends with the cause)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__
