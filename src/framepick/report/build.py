"""Build the report into an output folder: numbers, plots, thumbnails, then the page.

The steps that decide (:func:`~.layout.plan_layout`, :func:`~.page.plan_page`) and compute
(:mod:`.metrics`, :mod:`.projections`) are pure; this module does the reading and writing
between them, so the order of work is visible in one short function.
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._fsutil import atomic_write
from .._log import logger
from ..results import ReportSection, SourceCounts
from ..thumbnails import Thumbnails, ThumbnailSource
from . import plots
from .data import ReportInputs
from .layout import Layout, plan_layout
from .page import Drawn, plan_page
from .projections import FrameMap
from .render import render_page
from .stats import REPORT_STATS_NPZ, ReportStats, compute_stats

__all__ = ["CANDIDATES_PNG", "FRAMES_PNG", "build_report", "count_per_source", "make_stats"]


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def count_per_source(inputs: ReportInputs) -> tuple[SourceCounts, ...]:
    """Each source's candidate and selected-sequence counts (report.json adds them to its entry)."""
    selected = inputs.source[inputs.selected]
    return tuple(
        SourceCounts(int((inputs.source == i).sum()), int((selected == i).sum()))
        for i in range(len(inputs.report["sources"]))
    )


FRAMES_PNG = "scatter_pca.png"  # the frame map
CANDIDATES_PNG = "scatter_pca_candidates.png"  # the candidates' map


def _draw(plots_dir: Path, inputs: ReportInputs, layout: Layout, stats: ReportStats) -> Drawn:
    """Every file under plots/, from the statistics (nothing here computes from embeddings)."""
    seed, shown, is_selected = layout.seed, layout.shown, layout.is_selected
    n, k = len(inputs), len(inputs.selected)
    frames, frames_note = _frame_map(inputs, stats)
    names = _draw_frames(plots_dir / FRAMES_PNG, inputs, frames)
    distances = plots.plot_distances(plots_dir, stats.coverage, stats.arrays)
    xy_all, ratio = stats.pca_xy, stats.pca_ratio
    pool_xy, pool_note = _pool_xy(inputs, stats)
    title = f"PCA of candidate embeddings: {k} selected of {n} (outlined)"  # the legend counts the datapool
    axes = (f"PC 1 ({ratio[0]:.0%} of variance)", f"PC 2 ({ratio[1]:.0%})")
    plots.plot_scatter(
        plots_dir / CANDIDATES_PNG, xy_all, inputs.source, is_selected, inputs.source_names, title, axes, seed, pool_xy
    )
    names += [CANDIDATES_PNG, *distances]
    projections = {"pca": xy_all[shown]}
    if stats.umap_xy is not None:
        projections["umap"] = stats.umap_xy
        title = f"UMAP of candidate embeddings: {k} selected of {len(shown)} shown (outlined)"
        plots.plot_scatter(
            plots_dir / "scatter_umap.png",
            stats.umap_xy,
            inputs.source[shown],
            is_selected[shown],
            inputs.source_names,
            title,
            ("UMAP 1", "UMAP 2"),
            seed=seed,
        )
        names.append("scatter_umap.png")
    else:
        (plots_dir / "scatter_umap.png").unlink(missing_ok=True)
    timeline_sources = plots.plot_timeline(plots_dir / "video_sampling_timeline.png", inputs)
    names.append("video_sampling_timeline.png")
    uris = (_png_uri(plots_dir / distances[0]), _png_uri(plots_dir / distances[1]))
    shown_pool = pool_xy[layout.pool_shown] if len(pool_xy) else pool_xy
    training, training_uri = inputs.report.get("training"), ""
    if training:
        plots.plot_training_loss(plots_dir / plots.TRAINING_PNG, training)
        names.append(plots.TRAINING_PNG)
        training_uri = _png_uri(plots_dir / plots.TRAINING_PNG)
    else:
        (plots_dir / plots.TRAINING_PNG).unlink(missing_ok=True)
    return Drawn(
        projections, ratio, stats.umap_note, names, timeline_sources, uris, shown_pool, pool_note, frames, frames_note,
        training_uri,
    )  # fmt: skip


def _frame_map(inputs: ReportInputs, stats: ReportStats) -> tuple[FrameMap | None, str]:
    """The saved frame map when it belongs to this selection, and why it is not drawn otherwise."""
    frames = stats.frames
    if frames is None:
        return None, stats.frames_note or "the run's statistics have no frame map"
    if len(frames) and (
        int(frames.sequence.max()) >= len(inputs.selected) or int(frames.offset.max()) >= inputs.length
    ):
        return None, f"its points in {REPORT_STATS_NPZ} do not belong to this selection (delete it and rerun)"
    return frames, ""


def _draw_frames(path: Path, inputs: ReportInputs, frames: FrameMap | None) -> list[str]:
    """plots/scatter_pca.png: the selected sequences' frames as trails on the PCA of all candidate
    frames. Returns its name; without a frame map, none (and an older file is removed)."""
    if frames is None:
        path.unlink(missing_ok=True)
        return []
    k, length = len(inputs.selected), inputs.length
    if length == 1:
        what = f"the {len(frames):,} selected frames"
    else:
        embedded = "" if len(frames) == k * length else " embedded"
        what = f"the {len(frames):,}{embedded} frames of the {k:,} selected sequences"
    ratio = frames.ratio
    plots.plot_trails(
        path,
        frames.xy,
        frames.sequence,
        inputs.source[inputs.selected[frames.sequence]],
        inputs.source,
        inputs.source_names,
        f"PCA of candidate frames: {what}",
        (f"PC 1 ({ratio[0]:.0%} of the candidate frames' variance)", f"PC 2 ({ratio[1]:.0%})"),
    )
    return [path.name]


def _pool_xy(inputs: ReportInputs, stats: ReportStats) -> tuple[np.ndarray, str]:
    """The datapool's map coordinates, and why they are missing when the saved statistics lack them
    (a rebuild draws what was saved and projects nothing)."""
    if len(stats.pool_xy) == inputs.pool_count:
        return np.asarray(stats.pool_xy, np.float64).reshape(-1, 2), ""
    note = (
        f"The {inputs.pool_count:,} datapool items are not on the map: {REPORT_STATS_NPZ} holds "
        f"{len(stats.pool_xy):,} datapool coordinates (delete it and rerun framepick report to project them)."
    )
    return np.zeros((0, 2)), note


def make_stats(out_dir: Path, inputs: ReportInputs, layout: Layout | None = None) -> ReportStats:
    """Compute the run's embedding statistics and save them to ``data/report_stats.npz``.

    ``layout``: the page's plan (:func:`~.layout.plan_layout`), when the caller has made it.
    """
    layout = layout if layout is not None else plan_layout(inputs, inputs.seed)
    stats = compute_stats(inputs, layout.shown, inputs.seed)
    stats.save(out_dir / REPORT_STATS_NPZ)
    return stats


def build_report(
    out_dir: Path,
    inputs: ReportInputs,
    thumbnails: ThumbnailSource | None,
    reader_note: str,
    rebuilt: bool,
    stats: ReportStats,
    layout: Layout | None = None,
) -> ReportSection:
    """Write plots/ and report.html into ``out_dir``; returns the report's numbers and what the page shows.

    ``thumbnails`` makes the thumbnails of the frames the page shows (None: the sources are
    gone, and ``reader_note`` says why). ``stats``: the embedding statistics (:func:`make_stats` in a
    run, :meth:`ReportStats.load` in a rebuild). ``layout``: the page's plan, when the caller has made it.
    """
    started = time.perf_counter()
    layout = layout if layout is not None else plan_layout(inputs, inputs.seed)
    counts = count_per_source(inputs)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    # Thumbnails are read in a second thread while the plots are drawn: decoding runs in
    # FFmpeg without the GIL, drawing is Python, so on two or more cores the two overlap.
    with ThreadPoolExecutor(1, thread_name_prefix="framepick-thumbnails") as pool:
        reading = pool.submit(thumbnails, layout.wanted()) if thumbnails is not None else None
        drawn = _draw(plots_dir, inputs, layout, stats)
        thumbs: Thumbnails | None = reading.result() if reading is not None else None
    model = plan_page(inputs, layout, drawn, thumbs, reader_note, rebuilt, stats.coverage, counts)
    page = dict(model.summary)
    html_text = render_page(model)
    page["html_bytes"] = len(html_text.encode("utf-8"))
    page["build_sec"] = round(time.perf_counter() - started, 4)
    atomic_write(out_dir / "report.html", html_text)
    n_thumbs = page["thumbnails"]["count"]
    logger.info(
        "report: %d points on the map, %d thumbnails, %.1f MB", len(layout.shown), n_thumbs, page["html_bytes"] / 1e6
    )
    return ReportSection(coverage=stats.coverage, sources=counts, page=page)
