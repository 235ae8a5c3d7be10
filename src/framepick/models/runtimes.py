"""One adapter per runtime (PyTorch, ONNX Runtime, OpenVINO): a model source in, a runner out.

An adapter does everything its runtime needs set up, once for every kind of model: the device
(CUDA or CPU), the threads (:func:`framepick._cpus.usable_cpus`, so a pinned or quota-limited
process does not oversubscribe), the precision of the engine, where compiled blobs are kept.
A :class:`Runner` then maps the preprocessed input batch to the output rows;
:class:`framepick.models.resolved.ModelEmbedder` wraps it into an embedder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._cpus import cap_torch_threads
from ..engines import Engine
from ..errors import ModelError
from .custom import error_cause, not_2d
from .sources import ModelSource

__all__ = ["RUNTIMES", "Runner", "Runtime", "load_runner"]


class Runner(Protocol):
    """A loaded network: the preprocessed batch in, one output row per frame out."""

    batch: int | None  # the number of frames each call must get (None: any)
    path: Path | None  # the model file the runtime read (None: from memory)

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class Runtime(Protocol):
    """How one runtime loads a source (one factory signature for every engine)."""

    name: str

    def load(self, source: ModelSource, engine: Engine, device: str, threads: int, export_dir: Path | None) -> Runner:
        """``source`` ready to run as ``engine`` on ``device`` (``auto``: CUDA where the engine
        can use it) with ``threads`` CPU threads; ``export_dir``: where converted models and
        compiled blobs may be kept (None: nowhere)."""
        ...


def _cpu_only(engine: Engine, device: str) -> None:
    if device == "cuda" and "cuda" not in engine.devices:
        raise ModelError(f"the {engine.name} engine runs on the CPU; use model.engine=torch for CUDA")


class _OrtRunner:
    def __init__(self, session: Any, batch: int | None, path: Path | None) -> None:
        self.session, self.batch, self.path = session, batch, path
        self._input = session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self._input: x})[0])


class OnnxRuntimeAdapter:
    """ONNX Runtime on the CPU: all graph optimisations, one session running sequentially on
    ``threads`` intra-op threads."""

    name = "onnxruntime"

    def load(self, source: ModelSource, engine: Engine, device: str, threads: int, export_dir: Path | None) -> Runner:
        import onnxruntime as ort

        _cpu_only(engine, device)
        path, graph = source.onnx_graph(export_dir)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"ONNX Runtime cannot load {source.label}: {error_cause(exc)}") from None
        return _OrtRunner(session, source.batch, path)


class _OpenVinoRunner:
    batch: int | None
    path: Path | None

    def __init__(self, request: Any, batch: int, path: Path | None) -> None:
        self.request, self.batch, self.path = request, batch, path

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: x})
        return np.array(self.request.get_output_tensor(0).data)  # a copy: the request reuses its buffer


class OpenVinoAdapter:
    """OpenVINO on the CPU, compiled for latency and run one batch of the model's fixed size at
    a time (one frame unless the model fixes more: faster here than batches, which only add
    memory traffic; docs/performance.md). The precision is asked for explicitly: OpenVINO
    would otherwise switch to bf16 by itself on CPUs that have it. Compiled blobs are kept
    beside the model in ``export_dir/openvino``, so a later run loads instead of compiling."""

    name = "openvino"

    def load(self, source: ModelSource, engine: Engine, device: str, threads: int, export_dir: Path | None) -> Runner:
        import openvino as ov

        _cpu_only(engine, device)
        path, graph = source.onnx_graph(export_dir)
        core = ov.Core()
        if path is not None and export_dir is not None:
            core.set_property({"CACHE_DIR": str(export_dir / "openvino")})
        batch = source.batch or 1
        precision = "bf16" if engine.precision == "bf16" else "f32"
        try:
            model = core.read_model(graph)
            if model.input(0).get_partial_shape().is_dynamic:
                model.reshape(list(source.preprocessing.shape(batch)))
            settings: dict[str, Any] = {
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": precision,
                "INFERENCE_NUM_THREADS": threads,
            }
            request = core.compile_model(model, "CPU", settings).create_infer_request()
        except Exception as exc:
            raise ModelError(
                f"OpenVINO cannot compile {source.label}: {error_cause(exc)}; try model.engine=onnx"
            ) from None
        return _OpenVinoRunner(request, batch, path)


class _TorchRunner:
    batch: int | None = None
    path: Path | None = None

    def __init__(self, module: Any, device: Any, dtype: Any, label: str) -> None:
        self.module, self.device, self.dtype, self.label = module, device, dtype, label

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(x).to(self.device)
            if self.dtype is None:
                y = self.module(batch)
            else:
                with torch.autocast(self.device.type, dtype=self.dtype):
                    y = self.module(batch)
            if not isinstance(y, torch.Tensor):
                raise ModelError(not_2d(self.label, f"a {type(y).__name__}, not a tensor"))
            return y.float().cpu().numpy()


class TorchAdapter:
    """PyTorch on the CPU or CUDA, in fp32 or under autocast (bf16, fp16). ``device`` auto is
    CUDA where PyTorch sees it (always for fp16); on the CPU, PyTorch's threads are capped to
    the usable CPUs."""

    name = "torch"

    def load(self, source: ModelSource, engine: Engine, device: str, threads: int, export_dir: Path | None) -> Runner:
        import torch

        if device == "auto":
            device = "cuda" if engine.needs_cuda or torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("model.device=cuda but PyTorch sees no CUDA device; use model.device=cpu")
        if engine.needs_cuda and device != "cuda":
            raise ModelError("fp16 inference needs CUDA; use model.engine=torch or torch-bf16 on a CPU")
        if device == "cpu":
            cap_torch_threads()
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[engine.precision]
        return _TorchRunner(source.torch_module(device), torch.device(device), dtype, source.label)


RUNTIMES: dict[str, Runtime] = {r.name: r for r in (TorchAdapter(), OnnxRuntimeAdapter(), OpenVinoAdapter())}


def load_runner(source: ModelSource, engine: Engine, device: str, threads: int, export_dir: Path | None) -> Runner:
    """``source`` loaded by the adapter of ``engine``'s runtime."""
    source.check_engine(engine, device)
    return RUNTIMES[engine.runtime].load(source, engine, device, threads, export_dir)
