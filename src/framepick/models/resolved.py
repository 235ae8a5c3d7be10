"""The model a run really uses: the configuration resolved once, before any cache lookup.

:class:`ModelSpec` is what the configuration asks for (``model.engine`` may be ``auto``);
:func:`resolve_model` turns it into a :class:`ResolvedModel`: the source, the engine that will
really run (``auto``'s choice after its fall-through), and so the signature that keys the
cache and the space that ties a datapool. Every cache entry, datapool and Ray actor of a run
carries that one identity, so a run never mixes two engines' embeddings.

**The rule for ``auto``.** Its candidates are the engines of the model's ``auto`` order
(fastest first) that are available here, probed without loading anything (an installed
runtime, the hardware). They are taken in order: the first candidate under which every source
is already cached is the model, and nothing is loaded (a fully cached rerun loads no model);
otherwise the candidate is loaded, and if it loads it is the model; if it fails to load, with
a warning, the next candidate is asked the same. So a rerun on a machine where the first
engine never loads finds its sources cached under the engine that did run. Where models load
elsewhere (Ray actors) nothing is loaded here: the first candidate is the model, and every
actor must load exactly it (:meth:`ResolvedModel.check_here`).

:class:`ModelEmbedder` is a resolved model loaded in this process: its source run by the
adapter of its engine's runtime, behind the :class:`Embedder` protocol.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .. import engines
from .._cpus import usable_cpus
from .._log import logger
from ..errors import ModelError
from .custom import error_cause, not_2d
from .runtimes import Runner, load_runner
from .sources import BuiltinModel, ModelSource, TrainedModel, Triple, own_source

if TYPE_CHECKING:
    from ..config import ModelConfig

__all__ = ["Embedder", "ModelEmbedder", "ModelSpec", "ResolvedModel", "resolve_model"]


class Embedder(Protocol):
    """An embedding engine: uint8 RGB batches in, float32 feature rows out."""

    name: str
    dim: int
    input_size: int
    signature: str  # identifies the embeddings this engine produces (a cache key part)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, dim) float32."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """The model the configuration asks for, as picklable settings (``engine`` may be ``auto``)."""

    engine: str = "auto"
    input_size: int | None = 224  # None: a model.path model's own fixed size
    device: str = "auto"
    export_dir: Path | None = None  # where ONNX exports and compiled blobs may be kept
    path: str | None = None  # model.path: your own model file
    mean: Triple | None = None
    std: Triple | None = None
    checkpoint: str | None = None  # checkpoint=: the built-in network with trained weights

    @classmethod
    def from_config(
        cls, model: ModelConfig, cache_root: Path | None = None, checkpoint: str | None = None
    ) -> ModelSpec:
        """The ``model.*`` keys (and ``checkpoint``), exports kept under ``cache_root/onnx`` (None:
        nowhere). Paths are absolute: Ray actors do not run in the driver's working directory."""
        export_dir = cache_root.resolve() / "onnx" if cache_root is not None else None
        path = None if model.path is None else str(Path(model.path).expanduser().resolve())
        size = model.input_size if path is not None else model.size  # own models: none means the model's own
        ckpt = None if checkpoint is None else str(Path(checkpoint).expanduser().resolve())
        return cls(model.engine, size, model.device, export_dir, path, model.mean, model.std, ckpt)

    def source(self) -> ModelSource:
        """The network asked for (a model file or checkpoint is read, not loaded: its problems are
        ModelErrors now)."""
        if self.checkpoint is not None:
            return TrainedModel.read(self.checkpoint, self.input_size or 224)
        if self.path is None:
            return BuiltinModel(self.input_size or 224)
        return own_source(self.path, self.input_size, self.mean, self.std)

    @property
    def space(self) -> str:
        """The embedding space, the same whichever engine ``auto`` becomes."""
        return self.source().space

    def candidates(self) -> list[ResolvedModel]:
        """What the spec may resolve to, in order: the engine asked for, or ``auto``'s engines
        that are available here (probed, not loaded)."""
        source = self.source()
        if self.engine != "auto":
            source.check_engine(engines.engine(self.engine), self.device)  # an unknown name: a ModelError
            return [ResolvedModel(source, self.engine, self.device, self.export_dir)]
        present = engines.available_engines()
        choices = tuple(e for e in source.auto_order(self.device) if e in present)
        if not choices:
            raise ModelError(f"no embedding engine that runs {source.label} is available here")
        return [ResolvedModel(source, e, self.device, self.export_dir, choices) for e in choices]


class ResolvedModel:
    """The model a run really uses: ``source`` run by ``engine``, or an embedder object given to
    ``framepick.run(embedder=...)`` (``given``). Its :attr:`signature` keys the cache, its
    :attr:`space` the datapool. Picklable, for Ray actors: the loaded embedder stays in the
    process that loaded it (a given object travels with it). ``choices``: for ``auto``, the
    engines it was chosen from, in order.
    """

    def __init__(
        self,
        source: ModelSource | None,
        engine: str,
        device: str = "auto",
        export_dir: Path | None = None,
        choices: tuple[str, ...] = (),
        given: Embedder | None = None,
    ) -> None:
        self.source, self.engine, self.device, self.export_dir = source, engine, device, export_dir
        self.choices, self.given = choices, given
        self._embedder: Embedder | None = given

    @classmethod
    def of_embedder(cls, embedder: Embedder) -> ResolvedModel:
        """An embedder object as a run's model: framepick's own keep their identity (a Ray actor
        loads the same engine), any other is its own identity (and is pickled to actors)."""
        if isinstance(embedder, ModelEmbedder):
            model = copy.copy(embedder.model)
            model._embedder = embedder
            return model
        return cls(None, embedder.name, given=embedder)

    @property
    def name(self) -> str:
        return self.engine

    @property
    def signature(self) -> str:
        """The cache key part: the model's identity and what the engine computes in."""
        if self.source is None:
            return self.given.signature  # type: ignore[union-attr]
        return f"{self.source.identity}/{engines.engine(self.engine).compute}"

    @property
    def space(self) -> str:
        """The embedding space (the engine is not part of it: every engine computes the same model)."""
        if self.source is not None:
            return self.source.space
        e = self.given
        return getattr(e, "space", None) or f"embedder {e.name} at {e.input_size} px"  # type: ignore[union-attr]

    @property
    def input_size(self) -> int:
        return self.source.input_size if self.source is not None else int(self.given.input_size)  # type: ignore[union-attr]

    @property
    def loaded(self) -> Embedder | None:
        """The embedder, where it is loaded in this process (or given)."""
        return self._embedder

    def embedder(self) -> Embedder:
        """The embedder, loaded here on first use."""
        if self._embedder is None:
            self._embedder = self.load()
        return self._embedder

    def load(self, threads: int | None = None) -> ModelEmbedder:
        """Load exactly this engine (a ModelError where it is not available here)."""
        if self.source is None:
            raise ModelError(f"the embedder {self.engine} was given as an object and cannot be loaded")
        return ModelEmbedder(self, threads)

    def check_here(self) -> None:
        """Where a Ray actor embeds: refuse to run if ``auto`` would choose another engine on this
        machine than it did where the run started, or the model file here is another one."""
        if self.source is None:
            return
        self.source.check_here()
        if not self.choices:
            return
        present = engines.available_engines()
        here = next((e for e in self.source.auto_order(self.device) if e in present), None)
        if here != self.engine:
            raise ModelError(
                f"model.engine=auto is {self.engine} on the machine that runs the command (of "
                f"{', '.join(self.choices)}), but would be {here or 'no engine'} on this Ray worker: set "
                "model.engine (and model.device) to an engine every machine runs, so that one run never mixes two"
            )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_embedder"] = self.given  # a loaded runtime does not pickle; a given object does
        return state

    def __repr__(self) -> str:
        return f"ResolvedModel({self.signature!r})"


def resolve_model(
    spec: ModelSpec, needs_model: Callable[[ResolvedModel], bool] | None = None, *, load: bool = True
) -> ResolvedModel:
    """The model a run uses, decided before any cache lookup (the rule: the module's docstring).

    ``needs_model(candidate)``: whether something is left to embed under that candidate's
    identity (None: always); ``load`` False: models load elsewhere (Ray), take the first
    candidate. A failure to load is raised as it is when there is nothing to fall through to.
    """
    candidates = spec.candidates()
    failures: list[str] = []
    for model in candidates:
        if not load or (needs_model is not None and not needs_model(model)):
            return model
        try:
            model.embedder()
            return model
        except Exception as exc:  # any failure of a runtime to load: try the next one
            if len(candidates) == 1:
                raise
            failures.append(f"{model.engine}: {exc}")
            logger.warning("engine %s could not load (%s); trying the next one", model.engine, exc)
    raise ModelError("no embedding engine could load: " + "; ".join(failures))


class ModelEmbedder:
    """A resolved model loaded in this process, behind the :class:`Embedder` protocol.

    Frames are preprocessed as the source says, then run by the runtime adapter; a model with a
    fixed batch size gets batches of exactly that size (the last one padded). Where the source
    does not know its output width, one dummy inference at creation finds it (``dim``) and
    refuses an output that is not 2-D, before any frame is decoded.
    """

    def __init__(self, model: ResolvedModel, threads: int | None = None) -> None:
        source = model.source
        if source is None:
            raise ModelError("a given embedder object is not loaded")
        row = engines.available_engine(model.engine)
        # a copy that holds no embedder: no reference cycle, so the native runtime is freed as soon
        # as the run drops it, never later by the cycle collector in whatever thread it then runs
        self.model, self.source = copy.copy(model), source
        self.name, self.signature, self.space = row.name, model.signature, model.space
        self.input_size = source.input_size
        self.preprocess = source.preprocessing
        self.runner: Runner = load_runner(source, row, model.device, threads or usable_cpus(), model.export_dir)
        self.dim = source.dim or 0
        if not self.dim:
            self.dim = self._probe()

    @property
    def path(self) -> Path | None:
        """The model file the runtime read (an ONNX export kept on disk, a model.path file); None: from memory."""
        return self.runner.path

    def _probe(self) -> int:
        dummy = self.preprocess(np.zeros((self.runner.batch or 1, self.input_size, self.input_size, 3), np.uint8))
        try:
            probe = self.runner(dummy)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"{self.source.label} fails on a {dummy.shape} batch ({error_cause(exc)}); "
                "set model.input_size to the input size the model takes"
            ) from None
        return int(self._checked(probe, len(probe)).shape[1])

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        x = self.preprocess(pixels)
        batch = self.runner.batch
        if len(x) == 0:
            return np.zeros((0, self.dim), np.float32)
        if batch is None:
            out = self._forward(x)
        else:
            parts = []
            for begin in range(0, len(x), batch):
                chunk = x[begin : begin + batch]
                if len(chunk) < batch:  # a fixed batch size: pad the last chunk
                    padding = np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
                    chunk = np.concatenate([chunk, padding])
                parts.append(self._checked(self._forward(chunk), batch)[: len(x) - begin])
            out = np.concatenate(parts)
        return np.ascontiguousarray(self._checked(out, len(x)), dtype=np.float32)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return self.runner(x)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{self.source.label} failed on a frame batch: {error_cause(exc)}") from exc

    def _checked(self, out: np.ndarray, rows: int) -> np.ndarray:
        out = np.asarray(out)
        if out.ndim != 2 or len(out) != rows:
            raise ModelError(not_2d(self.source.label, f"shape {tuple(out.shape)}"))
        if self.dim and out.shape[1] != self.dim:
            raise ModelError(f"{self.source.label} changed its output width to {out.shape[1]}")
        return out


def own_model(
    path: str | os.PathLike[str],
    input_size: int | None = None,
    engine: str = "auto",
    device: str = "auto",
    mean: Triple | None = None,
    std: Triple | None = None,
    export_dir: Path | None = None,
) -> ResolvedModel:
    """A model.path file resolved without loading it: its cache signature and datapool space
    are known, and every problem with the file or the engine is a ModelError, before decoding."""
    spec = ModelSpec(engine, input_size, device, export_dir, os.fspath(path), mean, std)
    return resolve_model(spec, load=False)
