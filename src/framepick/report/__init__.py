"""Stage 7: the report (``report.json``, ``report.html``) and its static plots.

The report is built from :class:`ReportInputs`: the candidate sequences (one embedding each,
the mean of its frames' embeddings), which of them were selected and in which order, and
the run's summary (:class:`~framepick.results.RunSummary`, as ``report.json`` holds it, with
the configuration). A run makes them from memory and calls :func:`write_report`;
``framepick report OUTPUT_DIR`` makes the same from the run's files (:func:`rebuild_report`),
so both give the same page and the same numbers.

Every number the page shows goes into ``report.json``: the report returns them as its
:class:`~framepick.results.ReportSection` (coverage metrics, under ``metrics.coverage``;
each source's counts; what the page drew and sampled, under ``page``), and the caller writes
report.json from all the sections.

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
from typing import Any

from .._fsutil import atomic_write
from .._log import logger
from ..results import ReportSection, RunReport
from ..thumbnails import ThumbnailSource, from_reader, source_reader
from .build import build_report, count_per_source, make_stats
from .data import (
    CANDIDATES_CSV,
    EMBEDDINGS_CSV,
    EMBEDDINGS_NPY,
    CandidateFrames,
    ReportInputs,
    frames_from_csv,
    read_inputs,
    read_run,
    write_candidates_csv,
)
from .layout import FILMSTRIPS, LISTED, MAP_POINTS, Layout, plan_layout
from .metrics import NN_SAMPLE, coverage_metrics, nearest_distances, nn_distances
from .stats import REPORT_STATS_NPZ, ReportStats, frame_map

__all__ = [
    "CANDIDATES_CSV",
    "FILMSTRIPS",
    "LISTED",
    "MAP_POINTS",
    "NN_SAMPLE",
    "CandidateFrames",
    "Layout",
    "ReportInputs",
    "build_report",
    "coverage_metrics",
    "make_stats",
    "nearest_distances",
    "nn_distances",
    "plan_layout",
    "read_inputs",
    "read_run",
    "rebuild_report",
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


def write_report(
    out_dir: Path, inputs: ReportInputs, thumbnails: ThumbnailSource | None, layout: Layout | None = None
) -> ReportSection:
    """Called by the run: ``data/candidates.csv``, ``plots/*``, ``report.html``; returns the report's section.

    ``inputs``: the run's summary and candidates (their frames too); ``thumbnails``: how the
    page's thumbnails are made (None: none); ``layout``: the page's plan, when the run has made
    it (it reads the frames the page shows early).

    ``report.json`` itself is written by the caller, after this. A failure while drawing the
    page does not throw the selection away: it is logged, recorded as the section's page
    ``error`` and ``report.html`` says so (``framepick report OUTPUT_DIR --debug`` retries with a traceback).
    """
    write_candidates_csv(out_dir / CANDIDATES_CSV, inputs)
    coverage = None
    try:
        layout = layout if layout is not None else plan_layout(inputs, inputs.seed)
        stats = make_stats(out_dir, inputs, layout)
        coverage = stats.coverage
        return build_report(out_dir, inputs, thumbnails, "", rebuilt=False, stats=stats, layout=layout)
    except Exception as exc:
        if logger.isEnabledFor(logging.DEBUG):
            logger.exception("report: building report.html failed")
        message = f"{type(exc).__name__}: {exc}"
        logger.error("report: building report.html failed (%s); the selection is complete", message)
        (out_dir / "plots").mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / "report.html", _failure_page(message, inputs.report["stopping"]["message"]))
        counts = count_per_source(inputs) if coverage is not None else None
        return ReportSection(coverage=coverage, sources=counts, page={"error": message})


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


def _saved_stats(out: Path, inputs: ReportInputs, layout: Layout) -> ReportStats:
    """data/report_stats.npz as saved; what it lacks is computed once and saved with it.

    Missing altogether (the run's report failed before saving it): every statistic. Saved by a
    framepick without the frame map: that map, from the frame embeddings in data/embeddings.csv
    (with one frame per sequence, from the candidates). Neither changes a number already saved.
    """
    path = out / REPORT_STATS_NPZ
    stats = ReportStats.load(path) if path.is_file() else None
    csv_note = ""
    if (stats is None or stats.frames is None) and inputs.length > 1:
        logger.info("report: reading %s (or %s) for the frame map", EMBEDDINGS_NPY, EMBEDDINGS_CSV)
        inputs.frames, csv_note = frames_from_csv(out, inputs)
    if stats is None:
        logger.info("report: %s is missing; computing the statistics", REPORT_STATS_NPZ)
        stats = make_stats(out, inputs, layout)
    elif stats.frames is None:
        frames, _ = frame_map(inputs, inputs.seed)
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
    report.json is written anew from its sections, the report's made again, the others as read
    (:meth:`~framepick.results.RunReport.from_json`). Returns it.
    """
    from ..write import write_json

    out = Path(out_dir)
    record, inputs = read_run(out)
    layout = plan_layout(inputs, inputs.seed)
    stats = _saved_stats(out, inputs, layout)
    thumbnails, note = _thumbnails_for(inputs, out.resolve())
    section = build_report(out, inputs, thumbnails, note, rebuilt=True, stats=stats, layout=layout)
    report = RunReport(record.summary, section, record.written).to_json()
    write_json(out / "report.json", report)  # atomic
    return report
