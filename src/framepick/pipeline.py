"""The run: discover, decode+embed, check, make sequences, select, write, in that order."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._linalg import row_blocks
from ._log import capture_log, logger
from ._version import __version__
from .cache import CachedExecutor, resolve_cache_dir
from .checks import CheckResult, run_checks
from .clips import write_clips
from .config import Config, config_to_dict, config_to_yaml
from .datapool import Datapool, open_datapool, run_record
from .discover import Discovery, Source, scan_input
from .embed import Embedder, LocalExecutor, SourceFrames
from .embeddings_csv import embeddings_for_table
from .errors import InputError, NoCandidatesError
from .export import write_exports
from .models.resolved import ModelSpec, ResolvedModel, resolve_model
from .report import CandidateFrames, ReportInputs, plan_layout, plots, write_report
from .results import (
    CANDIDATES_NPZ,
    Candidates,
    Counts,
    DatapoolSection,
    DiscoverySection,
    RunInfo,
    RunMetrics,
    RunReport,
    RunSummary,
    SelectedSequence,
    ShotsSection,
    SourceInfo,
    Stopping,
    StrategyResults,
    WriteSection,
)
from .scan import Executor, ScanRequest
from .select import Selection, select
from .sequences import SequenceLayout, Sequences, make_sequences, sequence_embeddings
from .shots import CutRule, Shots, detect_shots
from .strategies import (
    FrameValues,
    StrategyOutcome,
    check_value_files,
    frame_values,
    query_embeddings,
    select_with_strategies,
)
from .table import FrameTable, build_table
from .thumbnails import ScannedFirst, source_thumbnails
from .train import TRAINING_PREFIX, TrainedFiles
from .write import (
    DumpPass,
    short_gil_slices,
    write_embeddings_csv,
    write_embeddings_npy,
    write_json,
    write_lines,
    write_metadata_csv,
    write_shots_csv,
    write_staged,
)

__all__ = ["RunResult", "run"]

Progress = Callable[[str, int, int | None], None]
"""progress(stage, advance, total): called as work is done; total is None when unknown."""


@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything a run computed, made once it is done; ``report`` is ``report.json`` as written."""

    config: Config
    sources: list[Source]
    table: FrameTable
    checks: CheckResult
    sequences: Sequences
    sequence_embeddings: np.ndarray
    selection: Selection
    record: RunReport  # report.json as the stages' sections: the summary, the report's, the write stage's
    report: dict[str, Any]  # report.json, serialised once from ``record``
    candidates: Candidates  # every candidate sequence (data/candidates.npz)
    timings: dict[str, float]  # seconds per stage, the write stage included
    thumbnails: dict[tuple[int, int], str]  # (source, frame) -> made while scanning
    strategies: _Chosen | None  # what the selection strategies did
    pool: Datapool | None  # the datapool the run continued from (new picks are added at the end)
    shots: Shots | None = None  # with sequence_boundaries=shots: the shots found (data/shots.csv)

    @property
    def summary(self) -> RunSummary:
        """What the run learnt, up to the selection (most of report.json)."""
        return self.record.summary

    @property
    def selected_sequences(self) -> list[dict[str, Any]]:
        return self.report["sequences"]

    @property
    def selected_frame_names(self) -> list[str]:
        return self.summary.selected_frame_names


@dataclass(frozen=True, eq=False)
class _Staged:
    """What the stages up to the selection computed: the write stage's and the summary's input.

    Facts several outputs need are computed once, when it is made (``embedding_rows``, ``selected_rows``).
    """

    config: Config
    sources: list[Source]
    table: FrameTable
    checks: CheckResult
    sequences: Sequences
    sequence_embeddings: np.ndarray
    strategies: _Chosen  # the select stage's result
    pool: Datapool | None
    thumbnails: dict[tuple[int, int], str]  # (source, frame) -> made while scanning
    embedding_rows: np.ndarray  # the frame-table rows data/embeddings.csv holds, in order
    selected_rows: np.ndarray  # (K, length): the frame-table rows of the selected sequences, in selection order
    shots: Shots | None  # with sequence_boundaries=shots

    @property
    def selection(self) -> Selection:
        return self.strategies.selection

    def result(
        self, record: RunReport, report: dict[str, Any], candidates: Candidates, timings: dict[str, float]
    ) -> RunResult:
        """The run's result, once report.json is written."""
        return RunResult(
            self.config, self.sources, self.table, self.checks, self.sequences, self.sequence_embeddings,
            self.selection, record, report, candidates, timings, self.thumbnails, self.strategies, self.pool,
            self.shots,
        )  # fmt: skip


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
    initial = _start_checkpoint(config)
    if embedder is not None and (config.enable_training or config.checkpoint is not None):
        logger.warning("the embedder given to run() embeds, not trained weights (training still writes checkpoints/)")
    timings: dict[str, float] = {}
    with capture_log() as log_lines:
        with _timed(timings, "discover"):
            found = _discover(config, input_dir, output_dir)
        sources = found.sources
        check_value_files(config.selection.strategies, config.metadata, config.scores)  # before hours of decoding
        with _training(config, sources, output_dir, timings, progress, initial) as trained:
            checkpoint = str(trained.checkpoint) if trained is not None else config.checkpoint
            pool = (
                open_datapool(config.datapool, _pool_signature(config, embedder, checkpoint))
                if config.datapool
                else None
            )
            with _timed(timings, "decode_embed"):
                tick = (lambda n: progress("embed", n, None)) if progress else None
                results, dim, work, used = _decode_and_embed(config, sources, tick, embedder, checkpoint)
                table = build_table(sources, results, dim)
            with _timed(timings, "checks"):
                checks = _checks(config, sources, results, table)
            with _timed(timings, "sequences"):
                shots = _shots(config, sources, table)
                sequences, seq_emb = _sequences(config, sources, table, checks, shots)
            with _timed(timings, "select"):
                chosen = _select(config, sources, table, sequences, seq_emb, pool, lambda: _model(used))
            staged = _stage(config, sources, table, checks, sequences, seq_emb, chosen, pool, results, shots)
            summary = _summarize(staged, timings, work, found, trained)
            candidates = _candidates(staged)
            logger.info(summary.stopping.message)
            with _timed(timings, "write"):  # inside the training block: it copies the checkpoint
                record, report = write_staged(
                    output_dir, lambda out: _write_files(out, staged, summary, candidates, log_lines, trained)
                )
                _add_to_pool(staged, summary)
    return staged.result(record, report, candidates, timings)


def _start_checkpoint(config: Config) -> dict[str, Any] | None:
    """``checkpoint=`` read and checked before anything else (a ModelError line when it is not a
    framepick checkpoint); its backbone's weights, where training goes on from them."""
    if config.checkpoint is None:
        return None
    from .models.checkpoint import read_checkpoint

    checked = read_checkpoint(config.checkpoint)
    return checked.backbone if config.enable_training else None


@contextmanager
def _training(
    config: Config,
    sources: list[Source],
    output_dir: Path,
    timings: dict[str, float],
    progress: Progress | None,
    initial: dict[str, Any] | None = None,
) -> Iterator[TrainedFiles | None]:
    """With ``enable_training``: train before embedding (framepick.train) into a hidden folder of
    ``output_dir`` that the write stage copies to ``checkpoints/``; the folder goes when the run
    ends, however it ends (an interrupted run leaves nothing that looks finished)."""
    if not config.enable_training:
        yield None
        return
    from .train import train

    work = output_dir / f"{TRAINING_PREFIX}{os.getpid()}"
    try:
        with _timed(timings, "train"):
            trained = train(config, sources, work, progress, initial)
        yield trained
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _discover(config: Config, input_dir: Path, output_dir: Path) -> Discovery:
    """The sources under ``input_dir`` (never the output folder), with what was skipped logged."""
    found = scan_input(input_dir, exclude=output_dir)
    for name, reason in found.skipped.items():
        logger.warning("skipped %s: %s", name, reason)
    if not found.sources:
        raise InputError(_nothing_found(config, found.skipped))
    logger.info("%d sources", len(found.sources))
    return found


def _checks(config: Config, sources: list[Source], results: list[SourceFrames], table: FrameTable) -> CheckResult:
    """The corruptness and duplicate checks; then the table's embeddings as selection reads them
    (precomputed ``embeddings`` joined by frame name, normalised when configured)."""
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
    return checks


def _shots(config: Config, sources: list[Source], table: FrameTable) -> Shots | None:
    """With ``sequence_boundaries=shots``, every source's shots, found from the gathered embeddings
    (so the executor and the cache do not matter; see :mod:`framepick.shots`)."""
    if config.sequence_boundaries != "shots":
        return None
    shots = detect_shots(table.source, table.index, table.embeddings, table.embedded_mask, CutRule())
    longest = shots.longest()
    logger.info("%d shots in %d sources (%d cuts)", len(shots), len(longest), len(shots) - len(longest))
    length = config.selected_sequence_length
    frames = np.bincount(table.source, minlength=len(longest))
    for source, most in longest.items():
        if most < length <= frames[source]:  # long enough for a sequence, but cut too often
            logger.warning(
                "%s (%d frames): %d shots, the longest %d frames: no sequence of %d frames "
                "fits in a shot, so it gives no candidate (sequence_boundaries=shots)",
                sources[source].name, int(frames[source]), int((shots.source == source).sum()), most, length,
            )  # fmt: skip
    return shots


def _sequences(
    config: Config, sources: list[Source], table: FrameTable, checks: CheckResult, shots: Shots | None
) -> tuple[Sequences, np.ndarray]:
    """The candidate sequences and their mean embeddings (strided: over the embedded frames)."""
    length = config.selected_sequence_length
    frame_shot = shots.frame_shot if shots is not None else None
    sequences = make_sequences(table.source, table.index, checks.usable, length, frame_shot)
    if shots is not None and not len(sequences) and int(shots.frames.max(initial=0)) < length:
        raise NoCandidatesError(_no_shot_long_enough(sources, shots, length))
    strided = _layout(config).strided
    return sequences, sequence_embeddings(table.embeddings, sequences, embedded=table.embedded if strided else None)


def _stage(
    config: Config,
    sources: list[Source],
    table: FrameTable,
    checks: CheckResult,
    sequences: Sequences,
    seq_emb: np.ndarray,
    chosen: _Chosen,
    pool: Datapool | None,
    results: list[SourceFrames],
    shots: Shots | None,
) -> _Staged:
    """What the summary and the write stage read, each fact computed once."""
    scanned = {(i, k): uri for i, r in enumerate(results) for k, uri in r.thumbnails.items()}
    return _Staged(
        config, sources, table, checks, sequences, seq_emb, chosen, pool, scanned,
        embedding_rows=table.csv_rows(checks.usable),
        selected_rows=sequences.rows[chosen.selection.indices],
        shots=shots,
    )  # fmt: skip


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


def _pool_signature(config: Config, embedder: Embedder | None, checkpoint: str | None = None) -> str:
    """The embedding space a datapool is tied to: the model and its input size (not the engine:
    every engine computes the same model), or the precomputed embeddings. A model.path file
    is its hash, input size and mean/std, so a pool made with one file refuses another."""
    if config.embeddings is not None:
        space = "precomputed embeddings"
    elif embedder is not None:
        space = ResolvedModel.of_embedder(embedder).space
    else:
        space = ModelSpec.from_config(config.model, checkpoint=checkpoint).space
    return space if config.normalize_embeddings else space + ", not normalised"


def _add_to_pool(run: _Staged, summary: RunSummary) -> None:
    """Append the new picks to the datapool, once every output is written (atomic: all or nothing)."""
    pool = run.pool
    if pool is None:
        return
    before = len(pool)
    digests = run.table.digests
    items = [
        (e.frame_names, e.video_name, [digests[r].hex() for r in row])
        for e, row in zip(summary.sequences, run.selected_rows)
    ]
    record = run_record(str(run.config.input_dir), str(run.config.output_dir))
    pool.append(run.sequence_embeddings[run.selection.indices], items, record)
    logger.info("datapool %s: %d items before, %d added", pool.folder, before, len(pool) - before)


def _layout(config: Config) -> SequenceLayout:
    return SequenceLayout(config.selected_sequence_length, config.embedding_frame_stride)


def _decode_and_embed(
    config: Config,
    sources: list[Source],
    tick: Callable[[int], None] | None,
    given: Embedder | None = None,
    checkpoint: str | None = None,
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
    model = _resolve(config, given, request, executor, cache_root, checkpoint)
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
    config: Config,
    given: Embedder | None,
    request: ScanRequest,
    executor: Executor,
    cache_root: Path | None,
    checkpoint: str | None = None,
) -> ResolvedModel | None:
    """The run's model, resolved once before any cache lookup (the rule:
    :mod:`framepick.models.resolved`); None with precomputed embeddings."""
    if config.embeddings is not None:
        return None
    if given is not None:
        return ResolvedModel.of_embedder(given)
    spec = ModelSpec.from_config(config.model, cache_root, checkpoint)
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


def _sequence_entries(run: _Staged) -> tuple[SelectedSequence, ...]:
    table, seqs = run.table, run.sequences
    entries = []
    for s, rows in zip(run.selection.indices, run.selected_rows):
        source = run.sources[int(seqs.source[s])]
        names = [table.names[r] for r in rows]
        indices = [int(table.index[r]) for r in rows]
        shot = None if seqs.shot is None else int(seqs.shot[s])
        if source.kind != "video":
            entries.append(SelectedSequence(source.name, names, indices, shot=shot))
            continue
        seconds = [None if np.isnan(table.seconds[r]) else float(table.seconds[r]) for r in rows]
        entries.append(SelectedSequence(source.name, names, indices, [table.pts[r] for r in rows], seconds, shot))
    return tuple(entries)


def _shots_section(run: _Staged) -> ShotsSection | None:
    shots = run.shots
    if shots is None:
        return None
    cuts = {run.sources[i].name: found for i, found in shots.cuts().items()}
    return ShotsSection(
        shots=len(shots),
        cuts=int((shots.shot > 0).sum()),
        shots_shorter_than_sequence=int((shots.frames < run.config.selected_sequence_length).sum()),
        rule=CutRule().to_json(),
        cuts_by_source=cuts,
    )


def _no_shot_long_enough(sources: list[Source], shots: Shots, length: int) -> str:
    """Why no candidate exists when every shot is shorter than a sequence (a slideshow, a flicker)."""
    longest = int(shots.frames.max(initial=0))
    return (
        f"no candidate sequence: sequence_boundaries=shots found {len(shots)} shots in {len(sources)} sources "
        f"and none is {length} frames long (the longest has {longest}; a source that cuts at "
        "nearly every frame, such as a slideshow, has no shot to take a sequence from); "
        f"lower selected_sequence_length (at most {longest}) or set sequence_boundaries=fixed"
    )


def _stopping(config: Config, seqs: Sequences, sel: Selection, chosen: _Chosen | None = None) -> Stopping:
    n_selected, length = len(sel.indices), seqs.length
    requested_frames = None if sel.requested is None else sel.requested * length
    outcome = chosen.outcome if chosen is not None else None
    limit = sel.min_distance  # the stop distance the selection ran with (DIVERSITY's own wins)
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


def _counts(run: _Staged, work: dict[str, int]) -> Counts:
    table, checks, seqs, n_selected = run.table, run.checks, run.sequences, len(run.selection.indices)
    return Counts(
        sources=len(run.sources),
        sources_corrupt=sum(1 for s in run.sources if s.name in checks.corrupt_reasons),
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


def _summarize(
    run: _Staged, timings: dict[str, float], work: dict[str, int], found: Discovery, trained: TrainedFiles | None = None
) -> RunSummary:
    """The run's summary, from each stage's section, once the selection is done."""
    cfg, table, sel = run.config, run.table, run.selection
    frames = np.bincount(table.source, minlength=len(run.sources))
    sources = tuple(SourceInfo(s.name, s.kind, int(frames[i])) for i, s in enumerate(run.sources))
    strategy = _strategy_sections(run)
    pool = strategy.pop("datapool", None)
    return RunSummary(
        # the write stage is not timed yet: report.json is written inside it; off is -1 in config
        run=RunInfo(__version__, str(cfg.input_dir), str(cfg.output_dir), dict(timings), config_to_dict(cfg)),
        discovery=DiscoverySection(sources, found.skipped),
        counts=_counts(run, work),
        checks=run.checks.section(),
        stopping=_stopping(cfg, run.sequences, sel, run.strategies),
        metrics=RunMetrics(
            covering_radius=sel.radius,
            covering_radius_first_pick=float(sel.radii[0]) if len(sel.radii) else None,
            embedding_dim=int(table.embeddings.shape[1]),
            selection_dim=sel.dim,
            frames_with_embedding=len(run.embedding_rows),
        ),
        sequences=_sequence_entries(run),
        strategies=StrategyResults(**strategy),
        datapool=DatapoolSection(**pool) if pool is not None else None,
        training=trained.section if trained is not None else None,
        shots=_shots_section(run),
    )


def _strategy_sections(result: _Staged) -> dict[str, Any]:
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


def _candidates(run: _Staged) -> Candidates:
    table, seqs, sel = run.table, run.sequences, run.selection
    first_rows = seqs.rows[:, 0] if len(seqs) else np.zeros(0, np.int64)
    rank = np.zeros(len(seqs), np.int64)
    rank[sel.indices] = np.arange(1, len(sel.indices) + 1)
    return Candidates(
        length=seqs.length,
        source=seqs.source.astype(np.int64),
        start=seqs.start.astype(np.int64),
        first_names=[table.names[r] for r in first_rows],
        embeddings=np.asarray(run.sequence_embeddings, np.float32),
        rank=rank,
        embeddings_row=np.searchsorted(run.embedding_rows, first_rows).astype(np.int64),
        radii=np.asarray(sel.radii, np.float64),
        pool_embeddings=run.pool.embeddings if run.pool is not None else np.zeros((0, 0), np.float32),
        shot=np.zeros(0, np.int64) if seqs.shot is None else seqs.shot.astype(np.int64),
    )


def _write_tables(out: Path, run: _Staged, summary: RunSummary, candidates: Candidates) -> None:
    """config/, the CSV and JSON files under data/, and filenames/."""
    cfg, table, checks = run.config, run.table, run.checks
    (out / "config").mkdir()
    (out / "config" / "config.yaml").write_text(config_to_yaml(cfg), encoding="utf-8")
    kept = run.embedding_rows
    write_embeddings_csv(out / "data" / "embeddings.csv", [table.names[r] for r in kept], table.embeddings, rows=kept)
    write_embeddings_npy(out / "data" / "embeddings.npy", table.embeddings, rows=kept)
    selected_rows = run.selected_rows.reshape(-1)
    embedded_rows = selected_rows[table.embedded_mask[selected_rows]]
    write_embeddings_csv(
        out / "data" / "selected_embeddings.csv",
        [table.names[r] for r in embedded_rows],
        table.embeddings[embedded_rows],
    )
    write_metadata_csv(out / "data" / "metadata.csv", table.names, table.video_names(run.sources), table.metadata)
    write_json(out / "data" / "sequence_information.json", [seq.to_json() for seq in summary.sequences])
    if run.shots is not None:
        write_shots_csv(out / "data" / "shots.csv", run.shots, [source.name for source in run.sources])
    candidates.save(out / CANDIDATES_NPZ)
    write_lines(out / "filenames" / "sampled_filenames.txt", summary.selected_frame_names)
    write_lines(out / "filenames" / "corrupt_filenames.txt", checks.corrupt_names)
    write_lines(out / "filenames" / "duplicate_filenames.txt", checks.duplicate_names)


def _write_files(
    out: Path,
    run: _Staged,
    summary: RunSummary,
    candidates: Candidates,
    log_lines: list[str],
    trained: TrainedFiles | None = None,
) -> tuple[RunReport, dict[str, Any]]:
    """Every output into ``out`` (the staging folder), report.json last, serialised once from the
    stages' sections; returns them and it.

    With dump_dataset, a second thread reads the selected frames back (and the report's
    thumbnails with them, see :class:`~framepick.write.DumpPass`) from the start, while this
    one writes the tables and draws the plots.
    """
    cfg, rows = run.config, run.sequences.rows
    frames = CandidateFrames(run.table.embeddings, rows, np.arange(rows.shape[1]), run.table.embedded_mask)
    inputs = ReportInputs.from_candidates(summary.to_json(), candidates, frames)  # the report reads the summary
    layout = plan_layout(inputs, inputs.seed)
    dump = (
        DumpPass(out, run.sources, run.table, run.selected_rows, cfg.output_image_format) if cfg.dump_dataset else None
    )
    rest = dump.thumbnails if dump is not None else source_thumbnails(run.sources, pts=run.table.pts_of)
    thumbnails = ScannedFirst(run.thumbnails, rest)
    with ThreadPoolExecutor(1, thread_name_prefix="framepick-dump") as pool, short_gil_slices():
        if dump is not None:
            dump.start(pool, thumbnails.missing(layout.wanted()))
        _write_tables(out, run, summary, candidates)
        report = write_report(out, inputs, thumbnails, layout)
        if dump is not None:
            dump.finish()
    shot = run.sequences.shot
    shots = None if shot is None else shot[run.selection.indices].tolist()
    clips = write_clips(out, run.sources, run.table, run.selected_rows, shots) if cfg.export_clips else None
    exports = write_exports(
        out, cfg, summary.sequences, run.selection.indices.tolist(), clips
    )  # after the frames and clips
    if trained is not None:
        (out / "checkpoints").mkdir()
        for path in (trained.checkpoint, trained.onnx):
            shutil.copyfile(path, out / "checkpoints" / path.name)
    write_lines(out / "log.txt", log_lines)
    record = RunReport(summary, report, WriteSection(clips, exports))
    written = record.to_json()
    write_json(out / "report.json", written)
    return record, written
