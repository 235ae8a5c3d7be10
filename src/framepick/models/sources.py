"""Model sources: where a network comes from and how frames are prepared for it.

A :class:`ModelSource` says what a network is (its identity, the cache key's model part, and its
embedding space, the datapool's), how uint8 RGB frames become its input (:class:`Preprocessing`)
and what it can hand to a runtime: a PyTorch module, an ONNX graph, or both. The runtime
adapters (:mod:`framepick.models.runtimes`) run any source on any runtime it can feed; a new
kind of model (a trained checkpoint) is one small subclass here.

The kinds: the built-in EfficientNet-Lite0 (:class:`BuiltinModel`; both forms, the ONNX one
exported from PyTorch), the same network with weights trained on the user's frames
(:class:`TrainedModel`, ``checkpoint=`` or ``enable_training``), an ONNX file (:class:`OnnxFile`)
and a TorchScript file (:class:`TorchScriptFile`), both given as ``model.path``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._fsutil import atomic_write
from .._log import logger
from ..engines import Engine, auto_order
from ..errors import ModelError
from .custom import IMAGENET_MEAN, IMAGENET_STD, ModelFile, error_cause, read_model_file
from .weights import FEATURE_DIM

__all__ = [
    "BuiltinModel",
    "ModelSource",
    "OnnxFile",
    "Preprocessing",
    "TorchScriptFile",
    "TrainedModel",
    "export_onnx",
    "own_source",
]

Triple = tuple[float, float, float]

# EfficientNet-Lite was trained on (x - 127) / 128 (TF reference preprocessing).
_LITE_MEAN, _LITE_STD = 127.0, 128.0


@dataclass(frozen=True)
class Preprocessing:
    """How a uint8 RGB batch ``(N, size, size, 3)`` becomes the network's input.

    ``mean``/``std`` None: the network normalises inside its graph and takes the uint8 NHWC
    batch as it is (the built-in model). Otherwise 0-1 RGB, ``(x - mean) / std``, NCHW, in
    ``dtype`` (what the network's input takes).
    """

    size: int
    mean: Triple | None = None
    std: Triple | None = None
    dtype: str = "float32"

    @property
    def in_graph(self) -> bool:
        return self.mean is None or self.std is None

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        """The network's input shape for ``batch`` frames."""
        s = self.size
        return (batch, s, s, 3) if self.in_graph else (batch, 3, s, s)

    @functools.cached_property
    def _scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        std = np.asarray(self.std, np.float32)
        scale = (1.0 / (255.0 * std)).astype(np.float32)
        return scale, (np.asarray(self.mean, np.float32) / std).astype(np.float32)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if self.in_graph:
            return np.ascontiguousarray(pixels, dtype=np.uint8)
        scale, shift = self._scale_shift
        x = np.asarray(pixels, np.uint8).astype(np.float32)
        x *= scale  # x / (255 std) - mean / std: the same, in two passes over the batch
        x -= shift
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.dtype(self.dtype))


class ModelSource:
    """A network, its identity and its preprocessing: what a runtime adapter runs.

    ``runtimes`` are the runtimes it can feed: ``torch`` needs :meth:`torch_module`, the ONNX
    runtimes (``onnxruntime``, ``openvino``) :meth:`onnx_graph`. Sources are picklable: a Ray
    actor gets the run's source and loads it on its own node.
    """

    runtimes: ClassVar[tuple[str, ...]] = ()
    input_size: int

    @property
    def identity(self) -> str:
        """The model part of the cache signature (the engine's part follows it)."""
        raise NotImplementedError

    @property
    def space(self) -> str:
        """The embedding space a datapool is tied to (the engine is not part of it)."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How messages name the model."""
        raise NotImplementedError

    @property
    def preprocessing(self) -> Preprocessing:
        raise NotImplementedError

    @property
    def dim(self) -> int | None:
        """The output width when known without running (None: a dummy inference finds it)."""
        return None

    @property
    def batch(self) -> int | None:
        """The batch size the network is fixed to (None: any)."""
        return None

    def auto_order(self, device: str) -> tuple[str, ...]:
        """The engines ``model.engine=auto`` tries for this model on ``device``, in order."""
        raise NotImplementedError

    def check_engine(self, engine: Engine, device: str) -> None:
        """A ModelError when ``engine`` cannot run this model (on ``device``) at all."""
        if engine.runtime not in self.runtimes:
            raise ModelError(f"model.engine={engine.name} cannot run {self.label}")

    def check_here(self) -> None:
        """A ModelError when this machine holds another model than the one described (a Ray
        worker whose copy of the model file differs)."""

    def torch_module(self, device: str) -> Any:
        """The network as a PyTorch module on ``device`` (``cpu`` or ``cuda``)."""
        raise ModelError(f"{self.label} cannot run in PyTorch")

    def onnx_graph(self, export_dir: Path | None) -> tuple[Path | None, str | bytes]:
        """The network as an ONNX graph: its file (None: in memory only) and what a runtime reads
        (a path or the bytes). ``export_dir``: where an export may be kept."""
        raise ModelError(f"{self.label} has no ONNX form")


def export_onnx(module: Any, sample: Any) -> bytes:
    """``module`` as an ONNX graph with a dynamic batch axis (input ``pixels``, output
    ``features``), in memory: how a PyTorch source reaches the ONNX runtimes."""
    import torch

    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a file object works too (the stubs name paths only)
            torch.onnx.export(
                module,
                (sample,),
                buffer,  # type: ignore[arg-type]
                input_names=["pixels"],
                output_names=["features"],
                dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        raise ModelError(f"cannot export the model to ONNX: {exc}") from exc
    return buffer.getvalue()


def _lite0(input_size: int, weights: dict[str, Any] | None = None) -> Any:
    """Lite0 (batch norms folded) taking uint8 NHWC pixels, normalising inside the graph;
    ``weights``: a trained state dict instead of the ImageNet weights."""
    import torch

    from .efficientnet_lite import EfficientNetLite0, load_pretrained

    def network() -> Any:
        if weights is None:
            return load_pretrained()
        net = EfficientNetLite0()
        net.load_state_dict(weights, strict=True)
        return net.eval()

    class Preprocessed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = network().fuse()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # NHWC uint8 -> NCHW float (a channels_last view: no copy)
            x = (x.permute(0, 3, 1, 2).float() - _LITE_MEAN) / _LITE_STD
            return self.net(x)

    return Preprocessed().eval()


@dataclass(frozen=True)
class BuiltinModel(ModelSource):
    """EfficientNet-Lite0 with its ImageNet weights (no download), at ``input_size``; the ONNX
    runtimes get it exported once per input size and weights (kept in ``export_dir``)."""

    input_size: int = 224
    name: str = "efficientnet-lite0"
    runtimes: ClassVar[tuple[str, ...]] = ("torch", "onnxruntime", "openvino")

    @property
    def identity(self) -> str:
        return f"{self.name}/{self.input_size}"

    @property
    def space(self) -> str:
        return f"{self.name} at {self.input_size} px"

    @property
    def label(self) -> str:
        return self.name

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(self.input_size)  # (x - 127) / 128 inside the graph

    @property
    def dim(self) -> int:
        return FEATURE_DIM

    def auto_order(self, device: str) -> tuple[str, ...]:
        return auto_order(device)

    def torch_module(self, device: str) -> Any:
        import torch

        net = _lite0(self.input_size, self._weights())
        return net.to(torch.device(device)).to(memory_format=torch.channels_last)

    def _weights(self) -> dict[str, Any] | None:
        """The network's state dict; None: the ImageNet weights the package ships."""
        return None

    def _export_id(self) -> tuple[str, str]:
        """The export's file name stem and what its weights are (part of the name's hash)."""
        from .weights import weights_path

        weights = weights_path()
        return f"{self.name}-{self.input_size}", f"{weights.name}|{weights.stat().st_size}"

    def onnx_graph(self, export_dir: Path | None) -> tuple[Path | None, str | bytes]:
        if export_dir is not None:
            try:
                path = self.export(export_dir)
                return path, str(path)
            except OSError as exc:  # an unwritable cache costs an export per run, never the run
                logger.warning("cannot keep the ONNX export in %s (%s); exporting in memory", export_dir, exc)
        return None, self._export_bytes()

    def export(self, folder: Path) -> Path:
        """The ONNX file in ``folder``, exported now if missing (OSError if unwritable). Its name
        holds the input size and a hash of the weights, exporter and framepick versions, so a
        stale export is never reused."""
        from .._version import __version__
        from .weights import torch_version

        stem, weights = self._export_id()
        key = f"{__version__}|{torch_version()}|{weights}|{self.input_size}|v1"
        digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        path = Path(folder) / f"{stem}-{digest}.onnx"
        if path.exists():
            return path
        logger.info("exporting %s at %d px to %s", self.label, self.input_size, path)
        atomic_write(path, self._export_bytes())
        return path

    def _export_bytes(self) -> bytes:
        import torch

        size = self.input_size
        return export_onnx(_lite0(size, self._weights()), torch.zeros(1, size, size, 3, dtype=torch.uint8))


@dataclass(frozen=True)
class TrainedModel(BuiltinModel):
    """EfficientNet-Lite0 with the weights of a framepick training checkpoint (``checkpoint=``):
    the built-in model's preprocessing, runtimes and engines, its identity the weights' SHA-256,
    so the cache, the datapool and report.json key on the trained weights."""

    checkpoint: str = ""
    digest: str = ""  # sha256 of the backbone's weights (framepick.models.checkpoint.weights_digest)

    @classmethod
    def read(cls, path: str | os.PathLike[str], input_size: int) -> TrainedModel:
        """The checkpoint at ``path``, read and checked now (a ModelError line when it is not
        framepick's EfficientNet-Lite0 checkpoint)."""
        from .checkpoint import read_checkpoint

        ckpt = read_checkpoint(path)
        return cls(input_size, checkpoint=str(ckpt.path), digest=ckpt.digest)

    @property
    def identity(self) -> str:
        return f"{self.name}-trained/sha256:{self.digest}/{self.input_size}"

    @property
    def space(self) -> str:
        return f"{self.name} trained, weights sha256:{self.digest}, at {self.input_size} px"

    @property
    def label(self) -> str:
        return f"checkpoint '{Path(self.checkpoint).name}'"

    def check_here(self) -> None:
        self._weights()

    def _weights(self) -> dict[str, Any]:
        """The checkpoint's backbone, read again here and checked against the digest resolved."""
        from .checkpoint import read_checkpoint

        ckpt = read_checkpoint(self.checkpoint)
        if ckpt.digest != self.digest:
            raise ModelError(
                f"checkpoint '{self.checkpoint}' holds other weights (sha256:{ckpt.digest}) than the run "
                f"resolved (sha256:{self.digest}): give every machine the same file"
            )
        return ckpt.backbone

    def _export_id(self) -> tuple[str, str]:
        return f"{self.name}-trained-{self.input_size}", self.digest  # named by the weights' digest

    def model_path_onnx(self) -> bytes:
        """The trained network as a file ``model.path`` takes with its defaults: NCHW float input
        at ``input_size`` normalised with ImageNet's mean/std (converted to Lite0's own inside)."""
        import torch

        weights = self._weights()

        class FromImageNet(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                net = _lite0(1, weights).net  # the folded network; the size is the export's
                self.net = net
                self.mean: torch.Tensor = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
                self.std: torch.Tensor = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                pixels = (x * self.std + self.mean) * 255.0  # back to 0-255 RGB
                return self.net((pixels - _LITE_MEAN) / _LITE_STD)

        size = self.input_size
        return export_onnx(FromImageNet().eval(), torch.zeros(1, 3, size, size))


@dataclass(frozen=True)
class _ModelFileSource(ModelSource):
    """A ``model.path`` file at its input size, with its normalisation."""

    file: ModelFile
    input_size: int
    mean: Triple = IMAGENET_MEAN
    std: Triple = IMAGENET_STD
    kind: ClassVar[str] = ""
    what: ClassVar[str] = ""  # "an ONNX", "a TorchScript"

    @property
    def identity(self) -> str:
        f, norm = self.file, f"mean={list(self.mean)}/std={list(self.std)}"
        return f"own-{f.kind}/sha256:{f.digest}/{self.input_size}/{norm}"

    @property
    def space(self) -> str:
        f = self.file
        return (
            f"model file {f.path.name} sha256:{f.digest} at {self.input_size} px, "
            f"mean {list(self.mean)}, std {list(self.std)}"
        )

    @property
    def label(self) -> str:
        return f"model '{self.file.path.name}'"

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(self.input_size, self.mean, self.std, self.file.dtype)

    @property
    def batch(self) -> int | None:
        return self.file.batch

    def check_engine(self, engine: Engine, device: str) -> None:
        if engine.runtime not in self.runtimes:
            from ..engines import ENGINES

            allowed = ", ".join(e.name for e in ENGINES if e.runtime in self.runtimes)
            raise ModelError(f"model.engine={engine.name} cannot run {self.what} model.path; use auto or {allowed}")

    def check_here(self) -> None:
        here = read_model_file(self.file.path)
        if here.digest != self.file.digest:
            raise ModelError(
                f"model.path '{self.file.path}' differs on this machine (sha256:{here.digest}, not "
                f"sha256:{self.file.digest}): give every machine the same file"
            )


@dataclass(frozen=True)
class OnnxFile(_ModelFileSource):
    """An ONNX file, run by OpenVINO or ONNX Runtime on the CPU, fed NCHW floats."""

    kind: ClassVar[str] = "onnx"
    what: ClassVar[str] = "an ONNX"
    runtimes: ClassVar[tuple[str, ...]] = ("onnxruntime", "openvino")

    def auto_order(self, device: str) -> tuple[str, ...]:
        """OpenVINO fp32 (faster than ONNX Runtime on the CPU, same numbers), then ONNX Runtime;
        never bf16 by itself: a foreign model's tolerance for it is unknown."""
        self._on_the_cpu(device)
        return ("openvino", "onnx")

    def check_engine(self, engine: Engine, device: str) -> None:
        self._on_the_cpu(device)
        super().check_engine(engine, device)

    @staticmethod
    def _on_the_cpu(device: str) -> None:
        if device == "cuda":
            raise ModelError(
                "an ONNX model.path runs on the CPU (ONNX Runtime or OpenVINO); use model.device=cpu or auto, "
                "or give a TorchScript file to run on CUDA"
            )

    def onnx_graph(self, export_dir: Path | None) -> tuple[Path | None, str | bytes]:
        return self.file.path, str(self.file.path)


@dataclass(frozen=True)
class TorchScriptFile(_ModelFileSource):
    """A TorchScript file, run by PyTorch on the CPU or CUDA, fed NCHW floats."""

    kind: ClassVar[str] = "torchscript"
    what: ClassVar[str] = "a TorchScript"
    runtimes: ClassVar[tuple[str, ...]] = ("torch",)

    def auto_order(self, device: str) -> tuple[str, ...]:
        return ("torch",)  # fp32: never a reduced precision by itself

    def torch_module(self, device: str) -> Any:
        import torch

        name = self.file.path.name
        try:
            with warnings.catch_warnings():  # PyTorch deprecates TorchScript, which still loads and runs
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
                module = torch.jit.load(str(self.file.path), map_location=device).eval()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise ModelError(f"PyTorch cannot load TorchScript model '{name}': {error_cause(exc)}") from None
        schema = getattr(getattr(module, "forward", None), "schema", None)
        if schema is not None:
            needed = [a.name for a in schema.arguments[1:] if not a.has_default_value()]
            if len(needed) != 1:
                raise ModelError(
                    f"model '{name}' takes {len(needed)} inputs ({', '.join(needed)}); framepick feeds one NCHW "
                    "image batch: script or trace a model whose forward takes a single image tensor"
                )
        return module


_FILE_KINDS: dict[str, Callable[..., _ModelFileSource]] = {"onnx": OnnxFile, "torchscript": TorchScriptFile}


def own_source(
    path: str | os.PathLike[str], input_size: int | None, mean: Triple | None = None, std: Triple | None = None
) -> _ModelFileSource:
    """A ``model.path`` file as a source, read without loading it: at the model's own input size
    when fixed (square only: the decoders make square frames), else ``input_size``; ImageNet
    mean/std when not given. Every problem with the file is a ModelError, before decoding."""
    file = read_model_file(path)
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
    return _FILE_KINDS[file.kind](file, size, mean or IMAGENET_MEAN, std or IMAGENET_STD)
