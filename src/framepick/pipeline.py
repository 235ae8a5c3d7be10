"""The run: discover, decode+embed, check, make sequences, select, write, in that order."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._linalg import row_blocks
from ._log import logger
from .cache import EmbeddingCache, resolve_cache_dir
from .checks import CheckResult, run_checks
from .config import Config, config_to_yaml
from .discover import Source, scan_input
from .embed import Embedder, SourceFrames, create_embedder, embed_sources, embedder_signature
from .embeddings_csv import embeddings_for_table
from .errors import InputError, NoCandidatesError
from .report import write_report
from .select import Selection, select
from .sequences import Sequences, make_sequences, sequence_embeddings
from .table import FrameTable, build_table
from .write import dump_frames, write_embeddings_csv, write_json, write_lines

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
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def selected_sequences(self) -> list[dict[str, Any]]:
        return self.report["sequences"]

    @property
    def selected_frame_names(self) -> list[str]:
        return [name for seq in self.report["sequences"] for name in seq["frame_names"]]


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


def _frame_filter(config: Config) -> Callable[[int], bool] | None:
    """``embedding_frame_stride``: embed frame positions 0, s, 2s, ... of each sequence."""
    length, stride = config.selected_sequence_length, config.embedding_frame_stride
    if stride <= 1 or length <= 1:
        return None
    return lambda index: (index % length) % stride == 0


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

        with _timed(timings, "decode_embed"):
            tick = (lambda n: progress("embed", n, None)) if progress else None
            results, dim, work = _decode_and_embed(config, sources, tick, embedder)
            table = build_table(sources, results, dim)

        with _timed(timings, "checks"):
            checks = run_checks(
                sources, results, table, config.enable_corruptness_check, config.remove_exact_duplicates
            )
        if not checks.usable.any():
            raise NoCandidatesError(_nothing_usable(config, sources, results))
        if config.embeddings is not None:
            table.embeddings = embeddings_for_table(config.embeddings, table.names, checks.usable)
        if config.normalize_embeddings:
            _normalize(table.embeddings)

        with _timed(timings, "sequences"):
            sequences = make_sequences(table.source, table.index, checks.usable, config.selected_sequence_length)
            seq_emb = sequence_embeddings(
                table.embeddings, sequences, table.embedded if config.embedding_frame_stride > 1 else None
            )

        with _timed(timings, "select"):
            selection = select(
                seq_emb,
                n_samples=config.n_samples,
                min_distance=config.min_distance,
                method=config.method,
                length=config.selected_sequence_length,
                seed=config.seed,
                selection_dim=config.selection_dim,
            )
        result = RunResult(config, sources, table, checks, sequences, seq_emb, selection)
        result.report = _build_report(result, timings)
        result.report["counts"].update(work)
        result.report["duplicates"] = checks.duplicate_of
        result.report["skipped"] = found.skipped
        logger.info(result.report["stopping"]["message"])

        with _timed(timings, "write"):
            _write_outputs(result, output_dir, log_lines)
    return result


class _DecodeOnly:
    """The engine of a run with ``embeddings=PATH``: decodes (names, checks), embeds nothing."""

    name = "decode-only"
    dim = 0
    input_size = 16
    signature = "decode-only"

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        return np.zeros((len(pixels), 0), np.float32)


def _decode_and_embed(
    config: Config, sources: list[Source], tick: Callable[[int], None] | None, given: Embedder | None = None
) -> tuple[list[SourceFrames], int, dict[str, int]]:
    """Per-source results from the cache where possible, decoding and embedding the rest.

    The model is only loaded when some source is not cached. Returns the results, the
    embedding dimension and the work counts for report.json.
    """
    engine, size, device = config.model.engine, config.model.input_size, config.model.device
    embed_frame = _frame_filter(config) if config.embeddings is None else None
    cache_root = resolve_cache_dir(config.cache_dir)
    export_dir = cache_root / "onnx" if cache_root is not None else None
    embedder: Embedder | None = _DecodeOnly() if config.embeddings is not None else given
    signature = embedder.signature if embedder is not None else embedder_signature(engine, size, device)
    if signature is None:  # an engine that only knows its signature once built
        embedder = create_embedder(engine, size, device, export_dir=export_dir)
        signature = embedder.signature
    if embed_frame is not None:  # which frames carry embeddings depends on stride and length
        signature += f"/stride{config.embedding_frame_stride}of{config.selected_sequence_length}"
    cache = EmbeddingCache(cache_root, signature) if cache_root is not None else None

    results: list[SourceFrames | None] = [cache.load(s) if cache else None for s in sources]
    if embed_frame is not None:  # the cache keeps no skip list: derive it again
        for result in results:
            if result is not None:
                result.skipped = [
                    i for i in range(result.n_frames) if i not in result.frame_errors and not embed_frame(i)
                ]
    todo = [i for i, r in enumerate(results) if r is None]
    work = {
        "sources_from_cache": len(sources) - len(todo),
        "frames_from_cache": sum(r.n_frames for r in results if r is not None),
        "frames_decoded": 0,
        "frames_embedded": 0,
    }
    if cache is not None:
        logger.info("cache %s: %d of %d sources cached", cache.root, work["sources_from_cache"], len(sources))
    if todo:
        if embedder is None:
            embedder = create_embedder(engine, size, device, export_dir=export_dir)

        def done(j: int, result: SourceFrames) -> None:
            work["frames_decoded"] += result.n_frames
            work["frames_embedded"] += result.n_frames - len(result.frame_errors) - len(result.skipped)
            if cache is not None:
                cache.store(sources[todo[j]], result)

        if embedder.name != "decode-only":
            logger.info("embedding engine: %s (%s)", embedder.name, embedder.signature)
        fresh = embed_sources([sources[i] for i in todo], embedder, config.model.batch_size, tick, done, embed_frame)
        for i, result in zip(todo, fresh):
            results[i] = result
    final = [r for r in results if r is not None]
    dim = embedder.dim if embedder is not None else int(final[0].embeddings.shape[1])
    if config.embeddings is not None:
        work["frames_embedded"] = 0
    return final, dim, work


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


def _sequence_entries(result: RunResult) -> list[dict[str, Any]]:
    table, seqs = result.table, result.sequences
    entries = []
    for s in result.selection.indices:
        rows = seqs.rows[s]
        source = result.sources[int(seqs.source[s])]
        entry: dict[str, Any] = {
            "video_name": source.name,
            "frame_names": [table.names[r] for r in rows],
            "frame_indices": [int(table.index[r]) for r in rows],
        }
        if source.kind == "video":
            entry["frame_timestamps_pts"] = [table.pts[r] for r in rows]
            entry["frame_timestamps_sec"] = [
                None if np.isnan(table.seconds[r]) else float(table.seconds[r]) for r in rows
            ]
        entries.append(entry)
    return entries


def _build_report(result: RunResult, timings: dict[str, float]) -> dict[str, Any]:
    cfg, table, checks, seqs, sel = result.config, result.table, result.checks, result.sequences, result.selection
    n_selected = len(sel.indices)
    length = seqs.length
    requested_frames = None if sel.requested is None else sel.requested * length
    if sel.stop_reason == "min_distance":
        message = (
            f"stopped by min_distance: every candidate is within {sel.radius:.4g} "
            f"< {cfg.min_distance} of the {n_selected} selected sequences"
        )
    elif sel.stop_reason == "all_candidates":
        asked = f"{requested_frames} frames were asked for but only " if requested_frames else ""
        message = (
            f"selected all candidates: {asked}{len(seqs)} candidate sequences ({seqs.n_candidate_frames} frames) exist"
        )
    else:
        message = f"stopped by n_samples: {n_selected} sequences of {length} frames = {n_selected * length} frames"
    corrupt_sources = sum(1 for s in result.sources if s.name in checks.corrupt_reasons)
    return {
        "framepick_version": __version__,
        "input_dir": str(cfg.input_dir),
        "output_dir": str(cfg.output_dir),
        "counts": {
            "sources": len(result.sources),
            "sources_corrupt": corrupt_sources,
            "frames": len(table),
            "frames_corrupt": int(checks.corrupt.sum()),
            "frames_undecodable": int((~table.decoded).sum()),
            "frames_damaged": checks.n_damaged,
            "frames_duplicate": int(checks.duplicate.sum()),
            "frames_usable": int(checks.usable.sum()),
            "sequence_length": length,
            "sequences_complete": seqs.n_complete,
            "sequences_dropped_invalid": seqs.n_dropped_invalid,
            "sequence_candidates": len(seqs),
            "candidate_frames": seqs.n_candidate_frames,
            "incomplete_tails": seqs.n_tails,
            "tail_frames_dropped": seqs.n_tail_frames,
            "selected_sequences": n_selected,
            "selected_frames": n_selected * length,
        },
        "stopping": {
            "reason": sel.stop_reason,
            "message": message,
            "n_samples": cfg.n_samples,
            "min_distance": cfg.min_distance,
            "requested_frames": requested_frames,
            "all_candidates_selected": n_selected == len(seqs),
        },
        "metrics": {
            "covering_radius": sel.radius,
            "covering_radius_first_pick": float(sel.radii[0]) if len(sel.radii) else None,
            "embedding_dim": int(table.embeddings.shape[1]),
            "selection_dim": sel.dim,
            "frames_with_embedding": len(table.csv_rows(checks.usable)),  # rows of embeddings.csv
        },
        "timings_sec": timings,
        "sources": [
            {"name": s.name, "kind": s.kind, "frames": int((table.source == i).sum())}
            for i, s in enumerate(result.sources)
        ],
        "corrupt": checks.corrupt_reasons,
        "left_out": checks.left_out,
        "sequences": _sequence_entries(result),
        "config": cfg.to_dict(),
    }


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


def _write_files(result: RunResult, out: Path, log_lines: list[str]) -> None:
    cfg, table, checks, seqs = result.config, result.table, result.checks, result.sequences
    (out / "config").mkdir()
    (out / "config" / "config.yaml").write_text(config_to_yaml(cfg), encoding="utf-8")

    kept = table.csv_rows(checks.usable)
    write_embeddings_csv(out / "data" / "embeddings.csv", [table.names[r] for r in kept], table.embeddings, rows=kept)
    entries = result.report["sequences"]
    selected_rows = seqs.rows[result.selection.indices].reshape(-1)
    embedded_rows = selected_rows[table.embedded_mask[selected_rows]]
    write_embeddings_csv(
        out / "data" / "selected_embeddings.csv",
        [table.names[r] for r in embedded_rows],
        table.embeddings[embedded_rows],
    )
    write_json(out / "data" / "sequence_information.json", entries)
    write_lines(out / "filenames" / "sampled_filenames.txt", result.selected_frame_names)
    write_lines(out / "filenames" / "corrupt_filenames.txt", checks.corrupt_names)
    write_lines(out / "filenames" / "duplicate_filenames.txt", checks.duplicate_names)

    if cfg.dump_dataset:
        wanted: dict[int, dict[int, str]] = {}
        for r in selected_rows:
            wanted.setdefault(int(table.source[r]), {})[int(table.index[r])] = table.names[r]
        (out / "data" / "sampled").mkdir(parents=True, exist_ok=True)
        dump_frames(out / "data" / "sampled", result.sources, wanted, cfg.output_image_format)

    write_report(out, result)  # data/candidates.csv, plots/, report.html; adds its numbers to result.report
    write_lines(out / "log.txt", log_lines)
    write_json(out / "report.json", result.report)
