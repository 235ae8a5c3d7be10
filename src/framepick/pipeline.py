"""The run: discover, decode+embed, check, make sequences, select, write, in that order."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._linalg import row_blocks
from ._log import logger
from ._version import __version__
from .cache import CachedExecutor, resolve_cache_dir
from .checks import CheckResult, run_checks
from .clips import write_clips
from .config import Config, config_to_dict, config_to_yaml
from .datapool import Datapool, open_datapool, run_record
from .discover import Discovery, Source, scan_input
from .embed import Embedder, LocalExecutor, SourceFrames
from .embeddings_csv import embeddings_for_table
from .errors import InputError, NoCandidatesError, OutputError
from .export import write_exports
from .models.resolved import ModelSpec, ResolvedModel, resolve_model
from .report import plots, thumbnail_frames, write_report
from .results import (
    CANDIDATES_NPZ,
    Candidates,
    Counts,
    RunMetrics,
    RunSummary,
    SelectedSequence,
    SourceInfo,
    Stopping,
)
from .scan import Executor, ScanRequest
from .select import Selection, select
from .sequences import SequenceLayout, Sequences, make_sequences, sequence_embeddings
from .strategies import (
    FrameValues,
    StrategyOutcome,
    check_value_files,
    frame_values,
    query_embeddings,
    select_with_strategies,
)
from .table import FrameTable, build_table
from .thumbnails import Thumbnails, from_reader, source_reader
from .write import dump_frames, write_embeddings_csv, write_json, write_lines, write_metadata_csv

__all__ = ["RunResult", "run"]

Progress = Callable[[str, int, int | None], None]
"""progress(stage, advance, total): called as work is done; total is None when unknown."""


@dataclass
class RunResult:
    """Everything a run computed; ``report`` is what ``report.json`` holds."""

    config: Config
    sources: list[Source]
    table: FrameTable
    checks: CheckResult
    sequences: Sequences
    sequence_embeddings: np.ndarray
    selection: Selection
    summary: RunSummary | None = None  # most of report.json (set once the selection is done)
    candidates: Candidates | None = None  # every candidate sequence (data/candidates.npz)
    report: dict[str, Any] = field(default_factory=dict)  # report.json: the summary plus the report's sections
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, the write stage included
    thumbnails: dict[tuple[int, int], str] = field(default_factory=dict)  # (source, frame) -> made while scanning
    strategies: _Chosen | None = None  # what the selection strategies did
    pool: Datapool | None = None  # the datapool the run continued from (new picks are added at the end)

    @property
    def selected_sequences(self) -> list[dict[str, Any]]:
        return self.report["sequences"]

    @property
    def selected_frame_names(self) -> list[str]:
        return self.summary.selected_frame_names if self.summary is not None else []


def _check_paths(config: Config) -> tuple[Path, Path]:
    input_dir = Path(config.input_dir).resolve()
    output_dir = Path(config.output_dir).resolve()
    if not input_dir.is_dir():
        raise InputError(f"input_dir '{config.input_dir}' does not exist or is not a folder")
    if output_dir == input_dir or input_dir in output_dir.parents:
        raise InputError(
            f"output_dir '{config.output_dir}' is inside input_dir '{config.input_dir}': "
            "framepick never writes into its input; choose an output folder outside it"
        )
    return input_dir, output_dir


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    logger.info("%s ...", stage)
    yield
    timings[stage] = round(time.perf_counter() - start, 4)
    logger.info("%s done in %.2f s", stage, timings[stage])


def _normalize(embeddings: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place (in blocks: no second N×D copy); zero rows stay zero."""
    for rows in row_blocks(len(embeddings)):
        block = embeddings[rows]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        np.divide(block, norms, out=block, where=norms > 0)
    return embeddings


def run(config: Config, progress: Progress | None = None, *, embedder: Embedder | None = None) -> RunResult:
    """Run a whole selection as configured and write its outputs to ``config.output_dir``.

    ``embedder``: any object with the :class:`~framepick.embed.Embedder` protocol, used
    instead of the configured model (its ``signature`` keys the cache).
    """
    input_dir, output_dir = _check_paths(config)
    timings: dict[str, float] = {}
    with _run_log() as log_lines:
        with _timed(timings, "discover"):
            found = scan_input(input_dir, exclude=output_dir)
            sources = found.sources
        for name, reason in found.skipped.items():
            logger.warning("skipped %s: %s", name, reason)
        if not sources:
            raise InputError(_nothing_found(config, found.skipped))
        logger.info("%d sources", len(sources))

        check_value_files(config.selection.strategies, config.metadata, config.scores)  # before hours of decoding
        pool = open_datapool(config.datapool, _pool_signature(config, embedder)) if config.datapool else None
        with _timed(timings, "decode_embed"):
            tick = (lambda n: progress("embed", n, None)) if progress else None
            results, dim, work, used = _decode_and_embed(config, sources, tick, embedder)
            table = build_table(sources, results, dim)

        with _timed(timings, "checks"):
            checks = run_checks(
                sources,
                results,
                table,
                corruptness_check=config.enable_corruptness_check,
                remove_duplicates=config.remove_exact_duplicates,
            )
        if not checks.usable.any():
            raise NoCandidatesError(_nothing_usable(config, sources, results))
        if config.embeddings is not None:
            table.embeddings = embeddings_for_table(config.embeddings, table.names, checks.usable)
            table.embedded = table.decoded.copy()  # every decoded frame has its row from the file
        if config.normalize_embeddings:
            _normalize(table.embeddings)

        with _timed(timings, "sequences"):
            sequences = make_sequences(table.source, table.index, checks.usable, config.selected_sequence_length)
            strided = _layout(config).strided
            seq_emb = sequence_embeddings(table.embeddings, sequences, embedded=table.embedded if strided else None)

        with _timed(timings, "select"):
            chosen = _select(config, sources, table, sequences, seq_emb, pool, lambda: _model(used))
        result = RunResult(config, sources, table, checks, sequences, seq_emb, chosen.selection)
        result.strategies, result.pool = chosen, pool
        result.thumbnails = {(i, k): uri for i, r in enumerate(results) for k, uri in r.thumbnails.items()}
        result.timings = timings  # filled on: the write stage adds its own time when it is done
        result.summary = _summarize(result, timings, work, found)
        result.candidates = _candidates(result)
        result.report = result.summary.to_json()  # report.json; the report stage adds its sections
        logger.info(result.summary.stopping.message)

        with _timed(timings, "write"):
            _write_outputs(result, output_dir, log_lines)
            _add_to_pool(result)
    return result


@dataclass
class _Chosen:
    """The select stage's result: the selection, and what the strategies did (None: plain selection)."""

    selection: Selection
    outcome: StrategyOutcome | None = None
    values: FrameValues | None = None


def _select(
    config: Config,
    sources: list[Source],
    table: FrameTable,
    seqs: Sequences,
    seq_emb: np.ndarray,
    pool: Datapool | None,
    embedder: Callable[[], Embedder | None],
) -> _Chosen:
    """Plain selection (``method``) unless strategies or a datapool are configured."""
    if config.selection.strategies is None and pool is None:
        selection = select(
            seq_emb,
            n_samples=config.n_samples,
            min_distance=config.min_distance,
            method=config.method,
            length=config.selected_sequence_length,
            seed=config.seed,
            selection_dim=config.selection_dim,
        )
        return _Chosen(selection)
    dim = int(seq_emb.shape[1])
    if pool is not None:
        pool.check_dim(dim)
    values = frame_values(table.names, table.video_names(sources), table.metadata, config.metadata, config.scores)
    queries = query_embeddings(
        config.selection.strategies,
        embedder,
        dim=dim,
        normalize=config.normalize_embeddings,
        batch_size=config.model.batch_size,
    )
    in_pool = None
    if pool is not None and len(pool):
        known = pool.frame_digests()
        framed = np.fromiter((d.hex() in known for d in table.digests), bool, len(table.digests))
        in_pool = framed[seqs.rows].any(axis=1)
    outcome = select_with_strategies(
        seq_emb,
        seqs,
        values,
        config.selection.strategies,
        n_samples=config.n_samples,
        min_distance=config.min_distance,
        seed=config.seed,
        selection_dim=config.selection_dim,
        queries=queries,
        pool=pool.embeddings if pool is not None and len(pool) else None,
        in_pool=in_pool,
    )
    return _Chosen(outcome.selection, outcome, values)


def _model(model: ResolvedModel | None) -> Embedder | None:
    """The run's model for query images: the one the run resolved (and so the engine its
    embeddings came from), loaded now if the scan did not (a fully cached run); None when the
    run uses precomputed embeddings."""
    return model.embedder() if model is not None else None


def _pool_signature(config: Config, embedder: Embedder | None) -> str:
    """The embedding space a datapool is tied to: the model and its input size (not the engine:
    every engine computes the same model), or the precomputed embeddings. A model.path file
    is its hash, input size and mean/std, so a pool made with one file refuses another."""
    if config.embeddings is not None:
        space = "precomputed embeddings"
    elif embedder is not None:
        space = ResolvedModel.of_embedder(embedder).space
    else:
        space = ModelSpec.from_config(config.model).space
    return space if config.normalize_embeddings else space + ", not normalised"


def _add_to_pool(result: RunResult) -> None:
    """Append the new picks to the datapool, once every output is written (atomic: all or nothing)."""
    pool = result.pool
    if pool is None:
        return
    before = len(pool)
    rows = result.sequences.rows[result.selection.indices]
    entries = result.summary.sequences  # type: ignore[union-attr]
    digests = result.table.digests
    items = [(e.frame_names, e.video_name, [digests[r].hex() for r in row]) for e, row in zip(entries, rows)]
    record = run_record(str(result.config.input_dir), str(result.config.output_dir))
    pool.append(result.sequence_embeddings[result.selection.indices], items, record)
    logger.info("datapool %s: %d items before, %d added", pool.folder, before, len(pool) - before)


def _layout(config: Config) -> SequenceLayout:
    return SequenceLayout(config.selected_sequence_length, config.embedding_frame_stride)


def _decode_and_embed(
    config: Config, sources: list[Source], tick: Callable[[int], None] | None, given: Embedder | None = None
) -> tuple[list[SourceFrames], int, dict[str, int], ResolvedModel | None]:
    """Per-source results: resolve the model (before any cache lookup), build the scan request,
    and have the executor (behind the cache) scan what is not cached.

    With ``executor=ray`` the model is loaded by the Ray actors, not here. Returns the
    results, the embedding dimension, the work counts and the resolved model (None with
    precomputed ``embeddings``: no model runs).
    """
    cache_root = resolve_cache_dir(config.cache_dir)
    executor = _executor(config, cache_root)
    request = _scan_request(config, sources)
    model = _resolve(config, given, request, executor, cache_root)
    if not isinstance(executor, CachedExecutor) or executor.missing(request, model):
        plots.preload()  # the report's matplotlib import overlaps decoding and embedding
    fresh: dict[int, SourceFrames] = {}
    final = executor.scan(request, model, fresh.__setitem__, tick)
    work = {
        "sources_from_cache": len(sources) - len(fresh),
        "frames_from_cache": sum(r.n_frames for i, r in enumerate(final) if i not in fresh),
        "frames_decoded": sum(r.n_frames for r in fresh.values()),
        "frames_embedded": sum(int(r.embedded.sum()) for r in fresh.values()),
    }
    loaded = model.loaded if model is not None else None
    dim = 0 if model is None else loaded.dim if loaded is not None else final[0].embeddings.shape[1]
    return final, int(dim), work, model


def _executor(config: Config, cache_root: Path | None) -> Executor:
    """The configured executor, behind the embedding cache when there is one."""
    if config.executor == "ray":
        from .distributed import RayExecutor

        inner: Executor = RayExecutor(config.ray)
    else:
        inner = LocalExecutor()
    return CachedExecutor(inner, cache_root) if cache_root is not None else inner


def _scan_request(config: Config, sources: list[Source]) -> ScanRequest:
    layout = _layout(config)
    return ScanRequest(
        sources,
        decode_size=config.model.size,
        embed_frame=layout.embeds if layout.strided else None,
        embed_key=layout.key,
        thumbnail_limit=_SCAN_THUMBNAILS,
        batch_size=config.model.batch_size,
    )


def _resolve(
    config: Config, given: Embedder | None, request: ScanRequest, executor: Executor, cache_root: Path | None
) -> ResolvedModel | None:
    """The run's model, resolved once before any cache lookup (the rule:
    :mod:`framepick.models.resolved`); None with precomputed embeddings."""
    if config.embeddings is not None:
        return None
    if given is not None:
        return ResolvedModel.of_embedder(given)
    spec = ModelSpec.from_config(config.model, cache_root)
    if isinstance(executor, CachedExecutor):
        cached = executor
        return resolve_model(spec, lambda m: bool(cached.missing(request, m)), load=executor.loads_here)
    return resolve_model(spec, load=executor.loads_here)


# The scan keeps every image frame's thumbnail up to this many image frames (about 3 kB each):
# the report shows one for every candidate up to its hover limit, and making it from the
# decoded picture costs far less than reading the file again in the write stage.
_SCAN_THUMBNAILS = 2_000


def _nothing_found(config: Config, skipped: dict[str, str]) -> str:
    message = f"no videos or images found under '{config.input_dir}'"
    if skipped:
        shown = "; ".join(f"{name}: {reason}" for name, reason in list(skipped.items())[:3])
        message += f"; skipped {len(skipped)} paths ({shown})"
    return message


def _nothing_usable(config: Config, sources: list[Source], results: list[SourceFrames]) -> str:
    problems = []
    for source, result in zip(sources, results):
        reason = result.error or next(iter(result.frame_errors.values()), None)
        if reason:
            problems.append(f"{source.name} ({reason})")
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return f"nothing usable: none of the {len(sources)} sources under '{config.input_dir}' gave a usable frame" + (
        f": {shown}" if shown else ""
    )


@contextmanager
def _run_log() -> Iterator[list[str]]:
    """Collect this run's INFO log lines for log.txt without touching the application's handlers."""
    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = _Collect(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _sequence_entries(result: RunResult) -> list[SelectedSequence]:
    table, seqs = result.table, result.sequences
    entries = []
    for s in result.selection.indices:
        rows = seqs.rows[s]
        source = result.sources[int(seqs.source[s])]
        names = [table.names[r] for r in rows]
        indices = [int(table.index[r]) for r in rows]
        if source.kind != "video":
            entries.append(SelectedSequence(source.name, names, indices))
            continue
        seconds = [None if np.isnan(table.seconds[r]) else float(table.seconds[r]) for r in rows]
        entries.append(SelectedSequence(source.name, names, indices, [table.pts[r] for r in rows], seconds))
    return entries


def _stopping(config: Config, seqs: Sequences, sel: Selection, chosen: _Chosen | None = None) -> Stopping:
    n_selected, length = len(sel.indices), seqs.length
    requested_frames = None if sel.requested is None else sel.requested * length
    outcome = chosen.outcome if chosen is not None else None
    diversity = config.selection.diversity
    limit = (
        diversity.min_distance if diversity is not None and diversity.min_distance is not None else config.min_distance
    )
    n_open = len(seqs) if outcome is None else int(outcome.candidates_allowed.sum())
    if sel.stop_reason == "min_distance":
        message = (
            f"stopped by min_distance: every candidate is within {sel.radius:.4g} "
            f"< {limit} of the {n_selected} selected sequences"
        )
    elif sel.stop_reason == "all_candidates":
        asked = f"{requested_frames} frames were asked for but only " if requested_frames else ""
        left = (
            ""
            if n_open == len(seqs)
            else f" after {len(seqs) - n_open} were left out by the strategies or the datapool"
        )
        message = f"selected all candidates: {asked}{n_open} candidate sequences ({n_open * length} frames) exist{left}"
    else:
        message = f"stopped by n_samples: {n_selected} sequences of {length} frames = {n_selected * length} frames"
    written = config_to_dict(config)["stopping_condition"]  # off is -1 in report.json, as in Lightly's files
    return Stopping(
        reason=sel.stop_reason,
        message=message,
        n_samples=written["n_samples"],
        min_distance=written["min_distance"],
        requested_frames=requested_frames,
        all_candidates_selected=n_selected == len(seqs),
    )


def _counts(result: RunResult, work: dict[str, int]) -> Counts:
    table, checks, seqs, n_selected = result.table, result.checks, result.sequences, len(result.selection.indices)
    return Counts(
        sources=len(result.sources),
        sources_corrupt=sum(1 for s in result.sources if s.name in checks.corrupt_reasons),
        frames=len(table),
        frames_corrupt=int(checks.corrupt.sum()),
        frames_undecodable=int((~table.decoded).sum()),
        frames_damaged=checks.n_damaged,
        frames_duplicate=int(checks.duplicate.sum()),
        frames_usable=int(checks.usable.sum()),
        sequence_length=seqs.length,
        sequences_complete=seqs.n_complete,
        sequences_dropped_invalid=seqs.n_dropped_invalid,
        sequence_candidates=len(seqs),
        candidate_frames=seqs.n_candidate_frames,
        incomplete_tails=seqs.n_tails,
        tail_frames_dropped=seqs.n_tail_frames,
        selected_sequences=n_selected,
        selected_frames=n_selected * seqs.length,
        **work,
    )


def _summarize(result: RunResult, timings: dict[str, float], work: dict[str, int], found: Discovery) -> RunSummary:
    cfg, table, checks, sel = result.config, result.table, result.checks, result.selection
    return RunSummary(
        framepick_version=__version__,
        input_dir=str(cfg.input_dir),
        output_dir=str(cfg.output_dir),
        counts=_counts(result, work),
        stopping=_stopping(cfg, result.sequences, sel, result.strategies),
        metrics=RunMetrics(
            covering_radius=sel.radius,
            covering_radius_first_pick=float(sel.radii[0]) if len(sel.radii) else None,
            embedding_dim=int(table.embeddings.shape[1]),
            selection_dim=sel.dim,
            frames_with_embedding=len(table.csv_rows(checks.usable)),
        ),
        timings_sec=dict(timings),  # the write stage is not done yet: report.json is written inside it
        sources=[SourceInfo(s.name, s.kind, int((table.source == i).sum())) for i, s in enumerate(result.sources)],
        corrupt=checks.corrupt_reasons,
        left_out=checks.left_out,
        sequences=_sequence_entries(result),
        config=config_to_dict(cfg),  # off is -1 here too
        duplicates=checks.duplicate_of,
        skipped=found.skipped,
        timestamp_gaps={
            name: {"count": len(at), "slots_skipped": sum(at.values()), "before": at}
            for name, at in checks.gaps.items()
        },
        **_strategy_sections(result),
    )


def _strategy_sections(result: RunResult) -> dict[str, Any]:
    """report.json's strategies, exclusions, value files and datapool sections."""
    chosen, pool = result.strategies, result.pool
    out: dict[str, Any] = {}
    if chosen is not None and chosen.outcome is not None:
        out["strategies"] = chosen.outcome.strategies
        out["candidates_excluded"] = chosen.outcome.excluded
    if chosen is not None and chosen.values is not None:
        out["value_files"] = chosen.values.unmatched
    if pool is not None:
        new = len(result.selection.indices)
        out["datapool"] = {
            "folder": str(pool.folder),
            "signature": pool.signature,
            "items_before": len(pool),
            "new_items": new,
            "items_after": len(pool) + new,
        }
    return out


def _candidates(result: RunResult) -> Candidates:
    table, seqs, sel = result.table, result.sequences, result.selection
    first_rows = seqs.rows[:, 0] if len(seqs) else np.zeros(0, np.int64)
    rank = np.zeros(len(seqs), np.int64)
    rank[sel.indices] = np.arange(1, len(sel.indices) + 1)
    return Candidates(
        length=seqs.length,
        source=seqs.source.astype(np.int64),
        start=seqs.start.astype(np.int64),
        first_names=[table.names[r] for r in first_rows],
        embeddings=np.asarray(result.sequence_embeddings, np.float32),
        rank=rank,
        embeddings_row=np.searchsorted(table.csv_rows(result.checks.usable), first_rows).astype(np.int64),
        radii=np.asarray(sel.radii, np.float64),
        pool_embeddings=result.pool.embeddings if result.pool is not None else np.zeros((0, 0), np.float32),
    )


# Names written by a run; report.json goes last, so a result missing it is visibly incomplete.
_OUTPUTS = ("config", "data", "filenames", "plots", "report.html", "log.txt", "report.json")


_STAGING_PREFIX = ".framepick-partial-"


def _remove_stale_staging(output_dir: Path) -> None:
    """Remove staging folders left by killed runs (their process no longer exists)."""
    for path in output_dir.glob(f"{_STAGING_PREFIX}*"):
        pid_text = path.name[len(_STAGING_PREFIX) :]
        if pid_text.isdigit() and int(pid_text) != os.getpid():
            try:
                os.kill(int(pid_text), 0)
                continue  # a live run writes there
            except ProcessLookupError:
                pass
            except OSError:
                continue  # exists but not ours to signal: leave it
        logger.info("removing %s left by an interrupted run", path.name)
        shutil.rmtree(path, ignore_errors=True)


def _write_outputs(result: RunResult, output_dir: Path, log_lines: list[str]) -> None:
    """Assemble the outputs in a hidden folder inside ``output_dir``, then move them into place."""
    try:
        _stage_and_move(result, output_dir, log_lines)
    except OSError as exc:
        where = exc.filename or output_dir
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write the results to '{where}': {reason}; check output_dir's space and permissions"
        ) from exc


def _stage_and_move(result: RunResult, output_dir: Path, log_lines: list[str]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(output_dir)
    staging = output_dir / f"{_STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_files(result, staging, log_lines)
        old = output_dir / "report.json"
        if old.exists():
            old.unlink()  # from here on the previous result no longer looks finished
        for name in _OUTPUTS:
            target = output_dir / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_thumbnails(result: RunResult, wanted: Mapping[int, Iterable[int]]) -> Thumbnails:
    """Thumbnails read back from the sources, videos seeking by the scan's timestamps."""
    return from_reader(source_reader(result.sources, pts=result.table.pts_of))(wanted)


class _DumpPass:
    """``data/sampled/`` (``dump_dataset``) and the report's thumbnails, in one decoding pass.

    :meth:`start` begins reading in a background thread as soon as the write stage begins;
    the report takes its thumbnails from :meth:`thumbnails` once its plots are drawn. A dump
    error is kept and raised by :meth:`finish`, so the report cannot swallow it.
    """

    def __init__(self, result: RunResult, out: Path) -> None:
        table, seqs = result.table, result.sequences
        self.wanted: dict[int, dict[int, str]] = {}
        for r in seqs.rows[result.selection.indices].reshape(-1):
            self.wanted.setdefault(int(table.source[r]), {})[int(table.index[r])] = table.names[r]
        self.result, self.path = result, out / "data" / "sampled"
        self.shown: dict[int, set[int]] = {}
        self.thumbs = Thumbnails()
        self.future: Future[None] | None = None

    def start(self, pool: ThreadPoolExecutor, shown: Mapping[int, Iterable[int]]) -> None:
        """Dump, and make thumbnails of the ``shown`` frames ({source: indices}) on the way."""
        self.shown = {src: set(map(int, indices)) for src, indices in shown.items()}
        self.future = pool.submit(self._run)

    def _run(self) -> None:
        def visit(src: int, index: int, rgb: np.ndarray) -> None:
            if index in self.shown.get(src, ()):
                self.thumbs.add(src, index, rgb)

        self.path.mkdir(parents=True, exist_ok=True)
        image_format = self.result.config.output_image_format
        pts = self.result.table.pts_of
        dump_frames(
            self.path, self.result.sources, self.wanted, image_format, also_read=self.shown, visit=visit, pts=pts
        )

    def thumbnails(self, wanted: Mapping[int, Iterable[int]]) -> Thumbnails:
        """The report's thumbnail source: waits for the pass (a failed pass gives none)."""
        assert self.future is not None
        if self.future.exception() is not None:
            return Thumbnails()
        missing = {s: [i for i in idx if i not in self.shown.get(s, ())] for s, idx in wanted.items()}
        if any(missing.values()):  # the report asked for frames the pass did not read: read them now
            more = _read_thumbnails(self.result, missing)
            self.thumbs.uris.update(more.uris)
            self.thumbs.failed.update(more.failed)
        return self.thumbs

    def finish(self) -> None:
        assert self.future is not None
        self.future.result()


@contextmanager
def _short_gil_slices(seconds: float = 0.001) -> Iterator[None]:
    """Hand the GIL over more often while the write stage's threads share it.

    The report draws in Python while the dump's thread decodes in FFmpeg; at the default
    5 ms switch interval each of the decoder's many brief returns to Python waits out a
    whole slice of the drawing thread, and decoding slows severalfold. The interval is
    restored afterwards.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _not_scanned(result: RunResult, wanted: Mapping[int, Iterable[int]]) -> dict[int, list[int]]:
    """The wanted frames whose thumbnails the scan did not make."""
    missing = {src: [int(i) for i in idx if (src, int(i)) not in result.thumbnails] for src, idx in wanted.items()}
    return {src: indices for src, indices in missing.items() if indices}


class _ScannedFirst:
    """The run's thumbnail source: the scan's thumbnails, the rest read back (by the dump pass
    when there is one, else straight from the sources)."""

    def __init__(self, result: RunResult, dump: _DumpPass | None) -> None:
        self.result, self.dump = result, dump

    def __call__(self, wanted: Mapping[int, Iterable[int]]) -> Thumbnails:
        missing = _not_scanned(self.result, wanted)
        if self.dump is not None:
            thumbs = self.dump.thumbnails(missing)
        elif missing:
            thumbs = _read_thumbnails(self.result, missing)
        else:
            thumbs = Thumbnails()
        for src, indices in wanted.items():
            for index in indices:
                known = self.result.thumbnails.get((src, int(index)))
                if known is not None:
                    thumbs.uris[(src, int(index))] = known
        return thumbs


def _write_tables(result: RunResult, out: Path) -> None:
    """config/, the CSV and JSON files under data/, and filenames/."""
    cfg, table, checks, seqs = result.config, result.table, result.checks, result.sequences
    (out / "config").mkdir()
    (out / "config" / "config.yaml").write_text(config_to_yaml(cfg), encoding="utf-8")
    kept = table.csv_rows(checks.usable)
    write_embeddings_csv(out / "data" / "embeddings.csv", [table.names[r] for r in kept], table.embeddings, rows=kept)
    selected_rows = seqs.rows[result.selection.indices].reshape(-1)
    embedded_rows = selected_rows[table.embedded_mask[selected_rows]]
    write_embeddings_csv(
        out / "data" / "selected_embeddings.csv",
        [table.names[r] for r in embedded_rows],
        table.embeddings[embedded_rows],
    )
    write_metadata_csv(out / "data" / "metadata.csv", table.names, table.video_names(result.sources), table.metadata)
    write_json(out / "data" / "sequence_information.json", result.report["sequences"])
    assert result.candidates is not None
    result.candidates.save(out / CANDIDATES_NPZ)
    write_lines(out / "filenames" / "sampled_filenames.txt", result.selected_frame_names)
    write_lines(out / "filenames" / "corrupt_filenames.txt", checks.corrupt_names)
    write_lines(out / "filenames" / "duplicate_filenames.txt", checks.duplicate_names)


def _write_files(result: RunResult, out: Path, log_lines: list[str]) -> None:
    # With dump_dataset, a second thread reads the selected frames back (and the report's
    # thumbnails with them, see _DumpPass) from the start, while this one writes the tables
    # and draws the plots.
    dump = _DumpPass(result, out) if result.config.dump_dataset else None
    with ThreadPoolExecutor(1, thread_name_prefix="framepick-dump") as pool, _short_gil_slices():
        if dump is not None:
            dump.start(pool, _not_scanned(result, thumbnail_frames(result)))
        _write_tables(result, out)
        write_report(out, result, _ScannedFirst(result, dump))  # adds its numbers to result.report
        if dump is not None:
            dump.finish()
    if result.config.export_clips:
        result.report["clips"] = write_clips(
            out, result.sources, result.table, result.sequences.rows[result.selection.indices]
        )
    write_exports(out, result.config, result.report, result.selection.indices)  # after the frames and clips
    write_lines(out / "log.txt", log_lines)
    write_json(out / "report.json", result.report)
