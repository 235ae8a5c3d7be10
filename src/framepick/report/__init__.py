"""Stage 7: the report (``report.json``, ``report.html``) and its static plots.

The report is built from :class:`ReportInputs`: the candidate sequences (one embedding each,
the mean of its frames' embeddings), which of them were selected and in which order, and
the run's summary (the ``report.json`` dictionary). A run makes them from memory
(:func:`write_report`); ``framepick report OUTPUT_DIR`` makes the same from the run's files
(:func:`rebuild_report`), so both give the same page and the same numbers.

Every number the page shows is added to ``report.json``: coverage metrics under
``metrics.coverage``, what the page drew and sampled under ``page``.

``plots/scatter_pca.png`` and the page's frame map show the selected sequences' frames on the PCA
of all candidate frames (one trail per sequence); ``plots/scatter_pca_candidates.png`` and the
page's embedding map one point per candidate. The frame map is computed by the run from the frame
embeddings in memory and saved in ``data/report_stats.npz``; a rebuild of a run saved before it
existed computes it once from ``data/embeddings.csv`` and adds it to that file.

The package: :mod:`.data` (inputs and their files), :mod:`.metrics` (coverage numbers),
:mod:`.projections` (PCA, UMAP), :mod:`.plots` (matplotlib, imported only when drawing),
:mod:`.layout`, :mod:`.page` and :mod:`.strategy_views` (what the page shows, as data),
:mod:`.render` (the HTML template), :mod:`.build` (the order of work). Importing it does not
import matplotlib.
"""

from __future__ import annotations

import dataclasses
import logging
from html import escape as html_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fsutil import atomic_write
from .._log import logger
from ..thumbnails import ThumbnailSource, from_reader, source_reader
from .build import build_report, make_stats
from .data import (
    CANDIDATES_CSV,
    EMBEDDINGS_CSV,
    ReportInputs,
    frames_from_csv,
    inputs_from_result,
    read_inputs,
    write_candidates_csv,
)
from .layout import FILMSTRIPS, LISTED, MAP_POINTS, plan_layout
from .metrics import NN_SAMPLE, coverage_metrics, nearest_distances, nn_distances
from .stats import REPORT_STATS_NPZ, ReportStats, frame_map

if TYPE_CHECKING:
    from ..pipeline import RunResult

__all__ = [
    "CANDIDATES_CSV",
    "FILMSTRIPS",
    "LISTED",
    "MAP_POINTS",
    "NN_SAMPLE",
    "ReportInputs",
    "build_report",
    "coverage_metrics",
    "inputs_from_result",
    "make_stats",
    "nearest_distances",
    "nn_distances",
    "read_inputs",
    "rebuild_report",
    "thumbnail_frames",
    "write_candidates_csv",
    "write_report",
]


def _failure_page(message: str, stopping: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>framepick report</title>"
        "<link rel='icon' href='data:,'></head><body><h1>framepick report</h1>"
        f"<p>{html_escape(stopping)}</p>"
        f"<p>The report page could not be built: {html_escape(message)}. The selection itself is "
        "complete (see data/ and filenames/); rerun <code>framepick report OUTPUT_DIR --debug</code>.</p>"
        "</body></html>\n"
    )


def thumbnail_frames(result: RunResult) -> dict[int, set[int]]:
    """The frames whose thumbnails the run's page shows, by source: a run reads them early."""
    inputs = inputs_from_result(result)
    return plan_layout(inputs, int(inputs.report["config"].get("seed", 0))).wanted()


def write_report(out_dir: Path, result: RunResult, thumbnails: ThumbnailSource | None = None) -> None:
    """Called by the run: ``data/candidates.csv``, ``plots/*``, ``report.html``; adds numbers to ``result.report``.

    ``thumbnails``: how the page's thumbnails are made (default: read from ``result.sources``).

    ``report.json`` itself is written by the caller, after this. A failure while drawing the
    page does not throw the selection away: it is logged, recorded in ``report["page"]["error"]``
    and ``report.html`` says so (``framepick report OUTPUT_DIR --debug`` retries with a traceback).
    """
    inputs = inputs_from_result(result)
    write_candidates_csv(out_dir / CANDIDATES_CSV, inputs)
    try:
        stats = make_stats(out_dir, inputs)
        if thumbnails is None:
            thumbnails = from_reader(source_reader(result.sources))
        build_report(out_dir, inputs, thumbnails, "", rebuilt=False, stats=stats)
    except Exception as exc:
        if logger.isEnabledFor(logging.DEBUG):
            logger.exception("report: building report.html failed")
        message = f"{type(exc).__name__}: {exc}"
        logger.error("report: building report.html failed (%s); the selection is complete", message)
        result.report["page"] = {"error": message}
        (out_dir / "plots").mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / "report.html", _failure_page(message, result.report["stopping"]["message"]))


def _thumbnails_for(inputs: ReportInputs, out_dir: Path) -> tuple[ThumbnailSource | None, str]:
    """A reader over the run's input_dir as it is now, and a note on what is unavailable."""
    from ..discover import discover

    input_dir = Path(str(inputs.report["config"].get("input_dir", "")))
    if not input_dir.is_dir():
        return None, f"input_dir '{input_dir}' is gone: the report has no thumbnails"
    try:
        found = {s.name: s for s in discover(input_dir, exclude=out_dir)}
    except Exception as exc:
        return None, f"input_dir '{input_dir}' cannot be read ({exc}): the report has no thumbnails"
    sources = []
    missing = []
    for entry in inputs.report["sources"]:
        src = found.get(entry["name"])
        if src is not None and src.kind != "video" and len(src.files) != int(entry["frames"]):
            src = None
        if src is None:
            missing.append(entry["name"])
        sources.append(src)
    note = ""
    if missing:
        note = f"{len(missing)} source(s) changed or gone since the run, shown without thumbnails: " + ", ".join(
            missing[:5]
        )
    return from_reader(source_reader(sources)), note


def _saved_stats(out: Path, inputs: ReportInputs) -> ReportStats:
    """data/report_stats.npz as saved; what it lacks is computed once and saved with it.

    Missing altogether (the run's report failed before saving it): every statistic. Saved by a
    framepick without the frame map: that map, from the frame embeddings in data/embeddings.csv
    (with one frame per sequence, from the candidates). Neither changes a number already saved.
    """
    path = out / REPORT_STATS_NPZ
    stats = ReportStats.load(path) if path.is_file() else None
    csv_note = ""
    if (stats is None or stats.frames is None) and inputs.length > 1:
        logger.info("report: reading %s for the frame map", EMBEDDINGS_CSV)
        inputs.frames, csv_note = frames_from_csv(out, inputs)
    if stats is None:
        logger.info("report: %s is missing; computing the statistics", REPORT_STATS_NPZ)
        stats = make_stats(out, inputs)
    elif stats.frames is None:
        frames, _ = frame_map(inputs, int(inputs.report["config"].get("seed", 0)))
        if frames is not None:
            logger.info("report: adding the frame map to %s", REPORT_STATS_NPZ)
            stats = dataclasses.replace(stats, frames=frames)
            stats.save(path)
    if stats.frames is None and csv_note:
        stats = dataclasses.replace(
            stats, frames_note=f"{REPORT_STATS_NPZ} has no frame map and {EMBEDDINGS_CSV} cannot give it ({csv_note})"
        )
    return stats


def rebuild_report(out_dir: str | Path) -> dict[str, Any]:
    """``framepick report OUTPUT_DIR``: rebuild report.html, plots/ and report.json from a finished run.

    Everything computed from embeddings is loaded (data/candidates.npz, data/report_stats.npz,
    report.json's coverage numbers); only the page, the plots and the thumbnails are made again
    (but for statistics an older or failed run did not save: see :func:`_saved_stats`).
    """
    from ..write import write_json

    out = Path(out_dir)
    inputs = read_inputs(out)
    stats = _saved_stats(out, inputs)
    thumbnails, note = _thumbnails_for(inputs, out.resolve())
    build_report(out, inputs, thumbnails, note, rebuilt=True, stats=stats)
    write_json(out / "report.json", inputs.report)  # atomic
    return inputs.report
