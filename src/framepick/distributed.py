"""``executor=ray``: decoding in Ray tasks, embedding in Ray actors, everything else on the driver.

:class:`RayExecutor` returns exactly what :class:`framepick.embed.LocalExecutor` returns
(one :class:`~framepick.scan.SourceFrames` per source, same order, same fields), so the
driver's checks, selection and writing do not know which executor ran.

Where the work runs, and why:

- **Decoding runs in Ray tasks**, so every CPU of a cluster decodes. Decoding is the
  CPU-heavy part (about 2-5 ms a frame on one core) and a GPU embeds faster than a few cores
  can decode for it; decoding inside the embedding actors would leave the other nodes idle.
  A task returns the frames' metadata (digest, timestamps, damage, statistics: well under
  1 kB a frame) to the driver and the model-sized pixels, one uint8 ``(n, S, S, 3)`` array,
  to the object store: ``S*S*3`` bytes a frame, 150 kB at 224 px, against about 5 kB for
  its embedding. The pixels go from the task straight to an actor and never through the
  driver; on one node the object store is shared memory and the actor reads them without a
  copy, across nodes they cross the network once (at 10 Gbit/s about 8,000 frames a
  second at 224 px, more than one GPU embeds). Only the frames that go through the model
  are shipped (``embedding_frame_stride``).
- **Embedding runs in actors** that load the model once: one per GPU (``ray.num_gpus_per_embedder``;
  -1: one GPU each where the cluster has GPUs), else one per node, whose engine uses that
  node's cores as locally. The driver sends the run's resolved model
  (:class:`~framepick.models.resolved.ResolvedModel`: the source and the engine ``auto``
  became on the driver) and each actor loads exactly that engine; an actor on whose node
  ``auto`` would be another engine, or that loads another signature, fails the run instead
  of mixing two engines' embeddings. An embedder object given to
  ``framepick.run(embedder=...)`` is pickled to them (its class by value when it comes from a
  module that is not installed, such as a script or a test helper, so the workers need not
  have it). An actor reserves
  one CPU, less where its node would then have no room for a decoding task beside its
  actors (a 1-CPU Ray: none), so that decoding can start on every node that has actors.
- **Planning**: a long video is split at keyframes into chunks of about ``ray.chunk_frames``
  frames (:mod:`framepick.chunks`). Finding the keyframes is a demux pass that reads the
  whole file, so it runs as one task per video, near the data, not on the driver; frame
  folders are split by file ranges on the driver (nothing is read for that), and loose
  images are grouped, so that neither a task nor a model batch holds a single frame.
- **Selection, the cache and every output stay on the driver**: the embedding cache is
  written there (``on_source_done``) from the results it receives, so workers need no
  shared or writable filesystem; they only need to read ``input_dir`` at the same path.

Results equal the local executor's: a chunk whose frames cannot be shown to be the single
pass's (``ChunkMismatch``) makes the driver decode that whole source again in one task; a
source's own :class:`~framepick.errors.DecodeError` (truncated, unreadable) is met by its
last (or only) piece and reported with the frames before it, so a damaged source reports
exactly the frames and message a local run reports. A worker that dies is
retried by Ray (tasks: ``max_retries``; actors: ``max_restarts``, ``max_task_retries``).
At most ``ray.max_in_flight`` decoding tasks are outstanding (a task counts until its
pixels are embedded), which bounds the object store to about ``max_in_flight *
chunk_frames * S*S*3`` bytes. An interrupt (Ctrl-C) cancels the tasks, kills the actors
and shuts down a Ray that framepick started; one joined through ``ray.address`` is only
disconnected from.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import sysconfig
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import numpy as np

from ._log import logger
from .chunks import Chunk, ChunkDecodeError, ChunkMismatch, merge_chunks, plan_chunks, scan_chunk
from .config import RayConfig
from .decode import DecodedFrame
from .discover import Source
from .errors import ConfigError, DecodeError, ModelError
from .models.resolved import Embedder, ModelSpec, ResolvedModel, resolve_model
from .scan import FrameRules, Progress, ScanRequest, SourceDone, SourceFrames, SourceScan

__all__ = ["ModelInfo", "ModelSpec", "RayExecutor", "embed_sources_ray"]

_RETRIES = 3  # attempts after a worker died (tasks) or an actor was lost


@dataclass(frozen=True)
class ModelInfo:
    """What an actor's loaded model says about itself (the cache is keyed by ``signature``)."""

    name: str
    dim: int
    input_size: int
    signature: str


# --- the work items --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """Part ``part`` of source ``src``: the whole source, a video chunk, or a range of files."""

    src: int
    gen: int  # the source's plan generation (a source decoded whole again has a new one)
    part: int
    source: Source
    chunk: Chunk | None = None  # a video chunk (None: the whole source)
    first: int = 0  # frame folders: the first file's index (``source`` holds the range)


_FRAME_FIELDS = [f for f in dataclasses.fields(DecodedFrame) if f.name != "pixels"]


@dataclass
class _Shipped(DecodedFrame):
    """A frame as a decoding task returns it to the driver: no pixels; ``job`` and ``row``
    locate its pixels in that task's pixel array, and so its embedding (-1: not embedded).
    Plain ints: a NumPy marker per frame cost the driver an out-of-band pickle buffer a frame
    (about half of its Python time in a profile; docs/scaling.md, section 2)."""

    job: int = -1
    row: int = -1

    @property
    def shipped(self) -> bool:
        return self.row >= 0


@dataclass
class _PieceResult:
    """A piece's frames, as :class:`_Shipped` frames."""

    src: int
    gen: int
    part: int
    frames: list[_Shipped]
    error: str | None = None  # the source's own DecodeError (its last or only piece)
    redo: bool = False  # a chunk that could not be decoded as such: decode the whole source


def _decoded(piece: _Piece, rules: FrameRules) -> tuple[list[DecodedFrame], str | None, bool]:
    """A piece's frames, its source-level error and whether the whole source must be decoded instead."""
    if piece.chunk is not None:
        try:
            return scan_chunk(piece.source, piece.chunk, rules.size, thumbnails=rules.thumbnails), None, False
        except ChunkDecodeError as exc:  # the source's own error, met by its last chunk: as the single pass
            return exc.frames, str(exc), False
        except (ChunkMismatch, DecodeError) as exc:
            logger.debug("%s, chunk %d: %s; decoding it whole", piece.source.name, piece.part, exc)
            return [], None, True
    frames, error = SourceScan(piece.source, rules, piece.first).all()  # as every executor scans a source
    return frames, error, False


def _decode_job(job: int, pieces: list[_Piece], rules: FrameRules) -> tuple[list[_PieceResult], np.ndarray]:
    """The body of a decoding task: the pieces' frames for the driver, their pixels for an actor.

    A frame whose pixels go to the model keeps, instead of them, ``job`` and its ``row`` in
    the returned pixel array (and so in the embeddings the actor returns for it);
    :func:`merge_chunks` passes frames through as they are, marker included.
    """
    results: list[_PieceResult] = []
    pixels: list[np.ndarray] = []
    for piece in pieces:
        frames, error, redo = _decoded(piece, rules)
        shipped: list[_Shipped] = []
        for frame in frames:
            fields = {f.name: getattr(frame, f.name) for f in _FRAME_FIELDS}
            if rules.to_model(frame):
                pixels.append(frame.pixels)  # type: ignore[arg-type]
                shipped.append(_Shipped(**fields, pixels=None, job=job, row=len(pixels) - 1))
            else:
                shipped.append(_Shipped(**fields, pixels=None))
            frame.pixels = None  # the pixels live on only in ``pixels`` (skipped frames' are freed)
        results.append(_PieceResult(piece.src, piece.gen, piece.part, shipped, error, redo))
    side = rules.size or 0
    stacked = np.stack(pixels) if pixels else np.zeros((0, side, side, 3), np.uint8)
    return results, stacked


def _plan_job(source: Source, chunk_frames: int) -> list[Chunk]:
    """The body of a planning task: the video's chunks (none: decode it whole)."""
    try:
        return plan_chunks(source, chunk_frames)
    except Exception as exc:  # an unreadable file: the whole-source decode reports it as locally
        logger.debug("cannot plan chunks of %s (%s); decoding it whole", source.name, exc)
        return []


class _EmbedActor:
    """The run's resolved model, loaded once per actor (and again by Ray after a restart):
    exactly the engine the driver resolved, or a failure where this node would resolve
    ``auto`` otherwise or loads another signature."""

    def __init__(self, model: bytes | ResolvedModel, batch_size: int) -> None:
        self.batch_size = batch_size
        self.failure: Exception | None = None
        try:
            if isinstance(model, bytes):
                from ray import cloudpickle

                model = cast(ResolvedModel, cloudpickle.loads(model))
            model.check_here()
            self.embedder = model.embedder()
            if self.embedder.signature != model.signature:
                raise ModelError(
                    f"a Ray actor loaded {self.embedder.signature}, not the run's {model.signature}; "
                    "set model.engine explicitly"
                )
        except Exception as exc:  # raised by info(): the driver then fails with it, as a local run would
            self.failure = exc

    def info(self) -> ModelInfo:
        if self.failure is not None:
            raise self.failure
        e = self.embedder
        return ModelInfo(e.name, int(e.dim), int(e.input_size), e.signature)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """Rows for a pixel array (read-only from the object store: batches are copied out)."""
        out = np.zeros((len(pixels), self.embedder.dim), np.float32)
        for start in range(0, len(pixels), self.batch_size):
            batch = np.array(pixels[start : start + self.batch_size])
            out[start : start + len(batch)] = self.embedder.embed(batch)
        return out


# --- Ray: import, connect, remote wrappers -----------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "executor=ray needs Ray, which is not installed: pip install 'framepick[ray]' (or use executor=local)"
        ) from None
    return ray


@contextmanager
def _connected(ray: Any, settings: RayConfig) -> Iterator[bool]:
    """Ray for the run: the one already initialised in this process, else a new local one
    (``ray.address`` none) or the cluster at ``ray.address``; what this opened it closes.
    Yields whether this run started the Ray it uses (its shutdown then stops every worker)."""
    if ray.is_initialized():
        yield False
        return
    if settings.address is None:
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)  # never a `ray start` one
        logger.info("started a local Ray: %s", _describe(ray.cluster_resources()))
    else:
        ray.init(address=settings.address, logging_level=logging.WARNING)
        logger.info("joined the Ray cluster at %s: %s", settings.address, _describe(ray.cluster_resources()))
    try:
        yield settings.address is None
    finally:
        ray.shutdown()  # a local Ray stops; a joined cluster only loses this driver


def _describe(resources: dict[str, float]) -> str:
    return f"{int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs"


@cache
def _remote(ray: Any) -> tuple[Any, Any, Any]:
    """The remote versions of the task bodies and the actor (made once, after Ray is imported)."""
    return ray.remote(_plan_job), ray.remote(_decode_job), ray.remote(_EmbedActor)


def _local(module: ModuleType) -> bool:
    """Whether a module is not part of an installed package (a script, a test helper), so the
    workers may not have it: framepick's and installed packages' modules are imported there."""
    name, file = module.__name__, getattr(module, "__file__", None)
    if name in ("__main__", "builtins") or name.split(".")[0] == "framepick" or file is None:
        return False  # __main__ is pickled by value anyway
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}
    return not any(Path(file).resolve().is_relative_to(Path(r).resolve()) for r in roots)


def _ship(model: ResolvedModel) -> bytes | ResolvedModel:
    """The run's model as actors receive it: a resolved source and engine as they are (the
    loaded runtime stays here: each actor loads the same engine), an embedder object given to
    the run pickled, with the classes it is made of by value where their modules are not
    installed, so workers need not have those modules."""
    embedder = model.given
    if embedder is None:
        return model
    from ray import cloudpickle as untyped

    cloudpickle: Any = untyped  # ray's copy of cloudpickle has no type hints
    found = (sys.modules.get(cls.__module__) for cls in type(embedder).__mro__)
    registered = set(cloudpickle.list_registry_pickle_by_value())  # the caller's own: left as they are
    local = {m for m in found if m is not None and m.__name__ not in registered and _local(m)}
    for module in local:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(model)
    except Exception as exc:
        raise ModelError(
            f"executor=ray sends the embedder to its actors by pickling it, and {type(embedder).__name__} "
            f"cannot be pickled ({exc}); pass a picklable embedder, or none to load the configured model there"
        ) from exc
    finally:
        for module in local:
            cloudpickle.unregister_pickle_by_value(module)


# --- the driver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Queue item: find the chunks of video ``src`` (a planning task)."""

    src: int


@dataclass
class _State:
    """The driver's view of one source while its pieces are out."""

    gen: int = 0
    parts: int | None = None  # pieces in the current generation (None: not planned yet)
    chunks: list[Chunk] | None = None  # the video chunks of the current generation (None: not chunked)
    got: dict[int, _PieceResult] = field(default_factory=dict)
    jobs: set[int] = field(default_factory=set)  # decoding jobs whose embeddings it still needs
    reported: int = 0  # frames counted by the progress callback so far
    done: bool = False


class _Driver:
    """Submits planning and decoding tasks, hands pixels to the actors, assembles the results.

    Everything here runs in the calling thread; ``waiting`` maps each outstanding object
    reference to what to do with its value.
    """

    def __init__(
        self,
        ray: Any,
        request: ScanRequest,
        model: ResolvedModel | None,
        settings: RayConfig,
        on_source_done: SourceDone | None,
        progress: Progress | None,
    ) -> None:
        self.ray, self.sources, self.settings = ray, request.sources, settings
        self.rules, self.batch_size = request.rules(model), request.batch_size
        self.on_source_done, self.progress = on_source_done, progress
        self.expected = model.signature if model is not None else None  # what every actor must load
        self.shipped = _ship(model) if model is not None else None  # what each actor gets
        sources = self.sources
        self.plan_task, self.decode_task, self.actor_class = _remote(ray)
        self.states = [_State() for _ in sources]
        self.results: list[SourceFrames | None] = [None] * len(sources)
        self.queue: deque[_Plan | _Piece] = deque()
        self.waiting: dict[Any, Callable[[Any], None]] = {}
        self.tasks: set[Any] = set()  # outstanding task references (cancelled on an interrupt)
        self.actors: list[Any] = []
        self.load: list[int] = []  # outstanding embedding calls per actor
        self.rows: dict[int, np.ndarray] = {}  # job -> its embeddings
        self.users: dict[int, int] = {}  # job -> unfinished sources that need its embeddings
        self.jobs, self.in_flight, self.remaining = 0, 0, len(sources)
        self.chunked, self.chunks, self.redone = 0, 0, 0  # for the log
        self.info: ModelInfo | None = None
        self.owned = False  # this run started the Ray it uses
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.limit = settings.max_in_flight or max(1, 2 * cpus)

    def run(self) -> list[SourceFrames]:
        try:
            self._start_actors()
            self._queue_sources()
            self._submit(plans_only=True)  # the keyframe scans overlap loading the model
            self._await_model()
            while self.remaining:
                self._submit()
                self._wait()
            logger.info(
                "Ray: %d decoding tasks, %d videos cut into %d chunks, %d sources decoded whole again",
                self.jobs, self.chunked, self.chunks, self.redone,
            )  # fmt: skip
            return [r for r in self.results if r is not None]
        finally:
            self._stop()

    # -- setup and teardown

    def _start_actors(self) -> None:
        if self.shipped is None:
            return
        count, gpus, cpus = _actor_layout(self.ray, self.settings)
        options = {
            "num_cpus": cpus,
            "num_gpus": gpus,
            "max_restarts": _RETRIES,
            "max_task_retries": _RETRIES,
            "scheduling_strategy": "SPREAD",
        }
        self.actors = [self.actor_class.options(**options).remote(self.shipped, self.batch_size) for _ in range(count)]
        self.load = [0] * count

    def _await_model(self) -> None:
        if not self.actors:
            return
        infos: list[ModelInfo] = [self._get(a.info.remote()) for a in self.actors]
        other = sorted({i.signature for i in infos} - {self.expected})
        if other:  # never one run with two engines' embeddings (actors check this themselves too)
            raise ModelError(
                f"the embedding actors loaded {', '.join(other)}, not the run's {self.expected}; "
                "set model.engine explicitly"
            )
        self.info = infos[0]
        logger.info(
            "embedding engine: %s (%s) in %d Ray actor(s)", self.info.name, self.info.signature, len(self.actors)
        )

    def _stop(self) -> None:
        """Cancel what is still out and kill the actors: after an interrupt or a failure nothing
        keeps running (a finished run has no tasks left, only its actors). A Ray this run
        started is not cancelled task by task: its shutdown stops every worker, and Ray 2.60's
        driver can abort on a forced cancel that races a task's completion ("Tried to complete
        task that was not pending"), which turned a clean Ctrl-C into a crash."""
        for ref in self.tasks if not self.owned else ():
            with suppress(Exception):
                self.ray.cancel(ref, force=True)
        for actor in self.actors:
            with suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        self.tasks.clear()
        self.waiting.clear()

    def _get(self, ref: Any) -> Any:
        """``ray.get``, re-raising a task's own exception as itself."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, self.ray.exceptions.RayError):
                raise cause from exc
            raise

    # -- planning

    def _queue_sources(self) -> None:
        chunk = self.settings.chunk_frames
        for i, source in enumerate(self.sources):
            state = self.states[i]
            if source.kind == "video":
                self.queue.append(_Plan(i))
                continue
            starts = range(0, max(1, len(source.files)), chunk)
            state.parts = len(starts)
            if len(starts) == 1:
                self.queue.append(_Piece(i, 0, 0, source))
                continue
            for part, first in enumerate(starts):
                files = source.files[first : first + chunk]
                self.queue.append(_Piece(i, 0, part, dataclasses.replace(source, files=files), first=first))

    def _planned(self, src: int, chunks: list[Chunk]) -> None:
        self.in_flight -= 1
        state, source = self.states[src], self.sources[src]
        if len(chunks) <= 1:
            pieces = [_Piece(src, state.gen, 0, source)]
        else:
            state.chunks = chunks
            self.chunked, self.chunks = self.chunked + 1, self.chunks + len(chunks)
            pieces = [_Piece(src, state.gen, c.part, source, chunk=c) for c in chunks]
        state.parts = len(pieces)
        self.queue.extendleft(reversed(pieces))  # decoded before the sources behind them

    def _redo(self, src: int) -> None:
        """Decode source ``src`` whole, in one task: its chunks did not give the plain decode."""
        state = self.states[src]
        state.gen += 1
        self.redone += 1
        state.parts, state.chunks = 1, None
        state.got.clear()
        for job in state.jobs:
            self._release(job)
        state.jobs.clear()
        self.queue.appendleft(_Piece(src, state.gen, 0, self.sources[src]))

    # -- decoding and embedding

    def _submit(self, plans_only: bool = False) -> None:
        """Start queued work while fewer than ``limit`` tasks are out (a decoding task counts
        until its pixels are embedded: that is what bounds the object store)."""
        options = {"num_cpus": self.settings.num_cpus_per_task, "max_retries": _RETRIES}
        while self.queue and self.in_flight < self.limit:
            item = self.queue[0]
            if isinstance(item, _Plan):
                self.queue.popleft()
                ref = self.plan_task.options(**options).remote(self.sources[item.src], self.settings.chunk_frames)
                self._track(ref, partial(self._planned, item.src), task=True)
            elif plans_only:
                return
            else:
                job, pieces = self.jobs, self._next_pieces()
                self.jobs += 1
                meta, pixels = self.decode_task.options(num_returns=2, **options).remote(job, pieces, self.rules)
                self._track(meta, partial(self._decoded, job, pixels), task=True)
            self.in_flight += 1

    def _next_pieces(self) -> list[_Piece]:
        """The next decoding task's pieces: a video's chunk alone, else files up to ``chunk_frames``
        (loose images and frame folder ranges together, so no task holds a single small image)."""
        first = self.queue.popleft()
        assert isinstance(first, _Piece)
        if first.source.kind == "video":
            return [first]
        pieces, files = [first], len(first.source.files)
        while self.queue:
            item = self.queue[0]
            if not isinstance(item, _Piece) or item.source.kind == "video":
                break
            if files + len(item.source.files) > self.settings.chunk_frames:
                break
            pieces.append(item)
            files += len(item.source.files)
            self.queue.popleft()
        return pieces

    def _track(self, ref: Any, then: Callable[[Any], None], task: bool = False) -> None:
        self.waiting[ref] = then
        if task:
            self.tasks.add(ref)

    def _wait(self) -> None:
        if not self.waiting:
            raise RuntimeError("the Ray executor has sources left but nothing running")  # a bug, never input
        ready, _ = self.ray.wait(list(self.waiting), num_returns=1, timeout=1.0)
        for ref in ready:
            then = self.waiting.pop(ref)
            self.tasks.discard(ref)
            then(self._get(ref))

    def _decoded(self, job: int, pixels: Any, results: list[_PieceResult]) -> None:
        """A decoding task is done: keep its pieces, and send its pixels to the least busy actor."""
        needed = False
        for piece in results:
            state = self.states[piece.src]
            if state.done or piece.gen != state.gen:
                continue  # from before the source was sent to be decoded whole
            if piece.redo:
                self._redo(piece.src)
                continue
            state.got[piece.part] = piece
            if any(frame.shipped for frame in piece.frames):
                if job not in state.jobs:
                    state.jobs.add(job)
                    self.users[job] = self.users.get(job, 0) + 1
                needed = True
        if not needed:
            self._job_done(results)
            return
        actor = min(range(len(self.actors)), key=self.load.__getitem__)
        self.load[actor] += 1
        self._track(self.actors[actor].embed.remote(pixels), partial(self._embedded, job, actor, results))

    def _embedded(self, job: int, actor: int, results: list[_PieceResult], rows: np.ndarray) -> None:
        self.load[actor] -= 1
        if self.users.get(job):
            self.rows[job] = rows
        self._job_done(results)

    def _job_done(self, results: list[_PieceResult]) -> None:
        """A decoding task's frames are all in: count them, and finish the sources they complete."""
        self.in_flight -= 1
        for piece in results:
            state = self.states[piece.src]
            if state.done or piece.gen != state.gen or piece.redo:
                continue
            n = len(piece.frames) if piece.gen == 0 else max(0, len(piece.frames) - state.reported)
            state.reported += n
            if n and self.progress is not None:
                self.progress(n)
        for src in dict.fromkeys(piece.src for piece in results):
            state = self.states[src]
            complete = state.parts is not None and len(state.got) == state.parts
            if not state.done and complete and all(job in self.rows for job in state.jobs):
                self._finish(src)

    def _release(self, job: int) -> None:
        self.users[job] -= 1
        if not self.users[job]:
            del self.users[job]
            self.rows.pop(job, None)

    def _finish(self, src: int) -> None:
        """Source ``src`` is complete: merge its pieces into one result and hand it on."""
        state, source = self.states[src], self.sources[src]
        parts = [state.got[p].frames for p in range(state.parts or 0)]
        if state.chunks is not None:
            try:
                frames = merge_chunks(source, state.chunks, parts)
            except ChunkMismatch as exc:
                logger.debug("%s: chunks do not line up (%s); decoding it whole", source.name, exc)
                self._redo(src)
                return
        else:
            frames = [frame for part in parts for frame in part]
        error = next((p.error for p in state.got.values() if p.error), None)
        result = self._assemble(frames, error)
        state.done, state.got = True, {}
        self.remaining -= 1
        for job in state.jobs:
            self._release(job)
        state.jobs.clear()
        self.results[src] = result
        if error:
            logger.debug("%s", error)  # the checks report it
        if self.on_source_done is not None:
            self.on_source_done(src, result)

    def _assemble(self, frames: list[_Shipped], error: str | None) -> SourceFrames:
        """The source's :class:`SourceFrames`, exactly as the local executor fills it."""
        dim = self.info.dim if self.info is not None else 0
        result = SourceFrames.empty(dim, error)
        rows: list[np.ndarray] = []
        mask: list[bool] = []
        stats = []
        for frame in frames:
            stats.append(result.record(frame))
            mask.append(frame.shipped)
            rows.append(self.rows[frame.job][frame.row] if frame.shipped else np.zeros(dim, np.float32))
        result.complete(rows, mask, stats)
        return result


def _nodes(ray: Any) -> list[tuple[float, float]]:
    """The (CPUs, GPUs) of each live node."""
    found = []
    for node in ray.nodes():
        if node.get("Alive"):
            resources = node.get("Resources", {})
            found.append((float(resources.get("CPU", 0)), float(resources.get("GPU", 0))))
    return found


def _check_fits(ray: Any, settings: RayConfig, can_grow: bool) -> None:
    """A ``num_cpus_per_task`` that no node has: Ray would queue the tasks for ever. Refused
    on a Ray this run started (it cannot grow); on a joined cluster only a warning, since an
    autoscaler may add such a node (a head with no CPUs and workers yet to come is common)."""
    largest = max((cpus for cpus, _ in _nodes(ray)), default=0.0)
    if settings.num_cpus_per_task <= largest:
        return
    what = (
        f"ray.num_cpus_per_task={settings.num_cpus_per_task}, but the largest node of the Ray cluster "
        f"has {largest:g} CPUs"
    )
    if not can_grow:
        raise ConfigError(f"{what}: no decoding task could start; lower ray.num_cpus_per_task")
    logger.warning("%s: decoding waits until the cluster has such a node", what)


def _actor_layout(ray: Any, settings: RayConfig) -> tuple[int, float, float]:
    """How many embedding actors, and the GPUs and CPUs each reserves: one per GPU share where
    the cluster has GPUs (``num_gpus_per_embedder`` -1) or where asked, else one per node.

    An actor reserves one CPU (its engine's threads work there), but never the CPUs a
    decoding task needs beside the actors of a node: on the tightest node the actors share
    what is left after one task, down to none (on a 1-CPU Ray a reserving actor would hold
    the only CPU and no decoding task could ever start; unreserved, they share the core).
    """
    nodes = _nodes(ray)
    per_task = settings.num_cpus_per_task
    gpus = sum(g for _, g in nodes)
    each = settings.num_gpus_per_embedder
    if each < 0:
        each = min(1.0, gpus)
    if each > 0:
        if gpus < each:
            raise ConfigError(f"ray.num_gpus_per_embedder={each:g}, but the Ray cluster has {gpus:g} GPUs")
        count = max(1, int(gpus // each))
        room = [(c - per_task) / max(1, int(g // each)) for c, g in nodes if g >= each]
    else:
        count = max(1, sum(1 for c, _ in nodes if c > 0))
        room = [c - per_task for c, _ in nodes if c > 0]
    return count, each, max(0.0, min(1.0, min(room, default=0.0)))


class RayExecutor:
    """The executor of ``executor=ray`` (see the module's docstring for where what runs, and why).

    ``settings``: the ``ray.*`` keys. Models load in the actors, never here (``loads_here`` is
    false): each actor loads exactly the run's resolved model. ``progress(n)`` is called as
    each task's frames are in, and ``on_source_done`` in the order sources complete, which is
    not necessarily theirs.
    """

    loads_here = False

    def __init__(self, settings: RayConfig | None = None) -> None:
        self.settings = settings if settings is not None else RayConfig()

    def scan(
        self,
        request: ScanRequest,
        model: ResolvedModel | None,
        on_source_done: SourceDone | None = None,
        progress: Progress | None = None,
    ) -> list[SourceFrames]:
        ray = _import_ray()
        if not request.sources:
            return []
        with _connected(ray, self.settings) as owned:
            _check_fits(ray, self.settings, can_grow=not owned)
            driver = _Driver(ray, request, model, self.settings, on_source_done, progress)
            driver.owned = owned
            return driver.run()


def embed_sources_ray(
    sources: Sequence[Source],
    model: Embedder | ModelSpec | ResolvedModel | None,
    settings: RayConfig | None = None,
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    on_source_done: Callable[[int, SourceFrames], None] | None = None,
    embed_frame: Callable[[int], bool] | None = None,
    thumbnails: bool = False,
    decode_size: int | None = None,
) -> list[SourceFrames]:
    """:func:`framepick.embed.embed_sources` on Ray: :class:`RayExecutor` for a list of sources.

    ``model``: the settings of the model (resolved here, on the driver, and loaded exactly so
    by the actors), a resolved model, an embedder object (pickled to the actors), or None
    (precomputed embeddings: frames are scanned, nothing is embedded). The other arguments
    are ``embed_sources``'s.
    """
    if isinstance(model, ModelSpec):
        resolved: ResolvedModel | None = resolve_model(model, load=False)
    elif model is None or isinstance(model, ResolvedModel):
        resolved = model
    else:
        resolved = ResolvedModel.of_embedder(model)
    limit = sys.maxsize if thumbnails else 0
    request = ScanRequest(sources, decode_size, embed_frame, thumbnail_limit=limit, batch_size=batch_size)
    return RayExecutor(settings).scan(request, resolved, on_source_done, progress)
