"""The static plots under ``plots/`` (PNG, drawn with matplotlib's Agg renderer).

matplotlib is imported inside :func:`_figure`, when something is drawn: importing
:mod:`framepick` or :mod:`framepick.report` never loads it. Figures are made without
``pyplot``, so drawing neither switches the caller's matplotlib backend nor touches its
global figure list.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .page import PALETTE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .data import ReportInputs

__all__ = [
    "MAX_PLOT_POINTS",
    "TIMELINE_PNG_SOURCES",
    "plot_distances",
    "plot_scatter",
    "plot_timeline",
    "plot_trails",
    "plot_training_loss",
    "preload",
    "source_colours",
]

MAX_PLOT_POINTS = 50_000  # points drawn in a static scatter plot: all selected, a seeded sample of the rest
TIMELINE_PNG_SOURCES = 40  # sources drawn in plots/video_sampling_timeline.png
_DPI = 110


def _import_matplotlib() -> None:
    import matplotlib.backends.backend_agg  # savefig's canvas
    import matplotlib.figure  # noqa: F401


def preload() -> threading.Thread:
    """Import matplotlib in a background thread, to overlap its import with other work.

    The import is about 0.7 s of Python on a 2-core AVX2 machine; a run starts it while its
    frames are decoded and embedded (work in FFmpeg and ONNX Runtime, outside the GIL), so
    the write stage does not pay it. Importing a module that is being imported elsewhere
    waits for it, so callers need not join the thread.
    """
    thread = threading.Thread(target=_import_matplotlib, name="framepick-preload", daemon=True)
    thread.start()
    return thread


def _figure(
    width: float, height: float, columns: int = 1, *, left: float = 0.75, right: float = 0.2, top: float = 0.45
) -> tuple[Figure, Any]:
    """A new Agg figure and its axes (one, or a row of ``columns``), with fixed margins in inches.

    Fixed margins instead of ``tight_layout``: measuring the text costs a whole extra draw
    of each figure (about a tenth of a second), and every label here has a known size.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    bottom = 0.55
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height, wspace=0.22
    )
    return fig, fig.subplots(1, columns)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def _title(ax: Any, text: str) -> None:
    """A title at a fixed height above the axes: matplotlib's automatic placement measures
    every tick label first (a fifth of the drawing time of these plots)."""
    ax.set_title(text, y=1.0, pad=6)


def _hist(ax: Any, values: np.ndarray, edges: np.ndarray, **style: Any) -> None:
    """A filled histogram drawn as one outline (``stepfilled``): one patch, not one per bin."""
    ax.hist(values, edges, histtype="stepfilled", **style)


_PALETTE_RGBA = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] + [1.0] for c in PALETTE])


def source_colours(source: np.ndarray | Sequence[int]) -> np.ndarray:
    """RGBA (n x 4) of each source index: the page's colour of that source
    (:func:`.page.colour`, ``PALETTE[src % 20]``), so a source has one colour in every plot and
    on the page, whichever sources have candidates or are drawn. Only sources 20 apart share one."""
    return _PALETTE_RGBA[np.asarray(source, dtype=np.int64).reshape(-1) % len(_PALETTE_RGBA)]


def plot_scatter(
    path: Path,
    xy: np.ndarray,
    source: np.ndarray,
    selected: np.ndarray,
    source_names: Sequence[str],
    title: str,
    axes: tuple[str, str] = ("PC 1", "PC 2"),
    seed: int = 0,
    pool_xy: np.ndarray | None = None,
) -> None:
    """2-D scatter coloured by source; selected points large and outlined.

    ``pool_xy``: a datapool's items from earlier runs (same axes), drawn as black crosses under
    the selected points, at most MAX_PLOT_POINTS of them (a seeded sample beyond).
    """
    shown = np.arange(len(xy))
    if len(shown) > MAX_PLOT_POINTS:
        rest = np.flatnonzero(~selected)
        keep = np.random.default_rng(seed).choice(rest, min(len(rest), MAX_PLOT_POINTS), replace=False)
        shown = np.union1d(keep, np.flatnonzero(selected))
    present = np.unique(source[shown]) if len(shown) else np.zeros(0, int)
    pool = np.zeros((0, 2)) if pool_xy is None else np.asarray(pool_xy)
    legend = 0 < len(present) <= 20 or len(pool) > 0
    fig, ax = _figure(8, 6, right=1.9 if legend else 0.2)
    # One call for the rest and one for the selected (drawn on top), coloured per point:
    # a call per source costs milliseconds each, and runs of loose images have thousands.
    colours = source_colours(source[shown])
    rest, chosen = ~selected[shown], selected[shown]
    faded = colours[rest].copy()
    faded[:, 3] = 0.35
    ax.scatter(xy[shown[rest], 0], xy[shown[rest], 1], s=10, c=faded, linewidths=0)
    pool_label = ""
    if len(pool):
        drawn = pool
        if len(pool) > MAX_PLOT_POINTS:
            drawn = pool[np.sort(np.random.default_rng(seed).choice(len(pool), MAX_PLOT_POINTS, replace=False))]
        capped = f" ({len(drawn):,} drawn)" if len(drawn) < len(pool) else ""
        pool_label = f"datapool (earlier runs): {len(pool):,}{capped}"
        ax.scatter(drawn[:, 0], drawn[:, 1], s=14, c="black", marker="x", linewidths=0.7, alpha=0.6)
    ax.scatter(xy[shown[chosen], 0], xy[shown[chosen], 1], s=28, c=colours[chosen], edgecolors="black", linewidths=0.6)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    _title(ax, title)
    if legend:
        _scatter_legend(ax, present if len(present) <= 20 else present[:0], source_names, pool_label)
    _save(fig, path)


def plot_trails(
    path: Path,
    xy: np.ndarray,
    sequence: np.ndarray,
    point_source: np.ndarray,
    candidate_source: np.ndarray,
    source_names: Sequence[str],
    title: str,
    axes: tuple[str, str],
) -> None:
    """Points coloured by source, each run of equal ``sequence`` joined in order by a thin line.

    The frame map: a selected sequence's frames become one short trail, so how far a sequence
    travels in embedding space and how the sequences spread are both visible. Whole sequences are
    drawn, in order, up to MAX_PLOT_POINTS points (the title says so beyond). Colours are the
    sources' own (:func:`source_colours`), as in plots/scatter_pca_candidates.png and on the page;
    ``candidate_source`` (every candidate's source), which used to pick them, is no longer needed.
    """
    from matplotlib.collections import LineCollection

    if len(xy) > MAX_PLOT_POINTS:  # whole sequences only: cut where the first one beyond the cap starts
        end = int(np.searchsorted(sequence, sequence[MAX_PLOT_POINTS], side="left"))
        xy, sequence, point_source = xy[:end], sequence[:end], point_source[:end]
        title += f" (the first {len(np.unique(sequence)):,} drawn: {end:,} frames)"
    present = np.unique(point_source) if len(point_source) else np.zeros(0, int)
    legend = 0 < len(present) <= 20
    fig, ax = _figure(8, 6, right=1.9 if legend else 0.2, top=0.6)
    colours = source_colours(point_source) if len(xy) else np.zeros((0, 4))
    # One collection of all trails and one scatter of all points: a call per sequence costs
    # milliseconds each, and big runs select thousands.
    starts = np.flatnonzero(np.r_[True, sequence[1:] != sequence[:-1]]) if len(sequence) else np.zeros(0, int)
    bounds = np.r_[starts, len(sequence)]
    runs = [(a, b) for a, b in itertools.pairwise(bounds.tolist()) if b - a > 1]
    trails, trail_colours = [xy[a:b] for a, b in runs], [colours[a] for a, _ in runs]
    if trails:
        ax.add_collection(LineCollection(trails, colors=trail_colours, linewidths=0.8, alpha=0.7))
    ax.scatter(xy[:, 0], xy[:, 1], s=12, c=colours, edgecolors="black", linewidths=0.25)
    if len(xy):
        ax.update_datalim(xy)  # collections alone do not widen the axes
        ax.autoscale_view()
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    _title(ax, title)
    if legend:
        _scatter_legend(ax, present, source_names, "")
    _save(fig, path)


def _scatter_legend(ax: Any, present: np.ndarray, source_names: Sequence[str], pool_label: str) -> None:
    """The scatter's legend beside the axes: the sources' colours, and the datapool's crosses."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=5,
            markerfacecolor=tuple(colour),
            markeredgecolor="black",
            markeredgewidth=0.6,
            label=source_names[src],
        )
        for src, colour in zip(present, source_colours(present))
    ]
    if pool_label:
        handles.append(Line2D([], [], linestyle="", marker="x", markersize=5, color="black", label=pool_label))
    # Beside the axes: "best" placement tests every point, which is slow for big runs.
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="selected, by source",
        title_fontsize=7,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _plot_before(path: Path, cov: dict[str, Any], arr: dict[str, Any]) -> None:
    nn = cov["nearest_neighbour"]
    fig, ax = _figure(7, 4)
    _hist(ax, arr["nn_all"], arr["nn_edges"], color="#888888")
    sampled = f", {nn['all']['queries']} sampled" if nn["all"]["sampled"] else ""
    _title(ax, f"Nearest-neighbour distance among all {cov['candidates']} candidates{sampled}")
    ax.set_xlabel(f"distance (radius before: {_fmt(cov['radius_before'])}, largest distance to the mean)")
    ax.set_ylabel("candidates")
    _save(fig, path)


def _plot_after(path: Path, cov: dict[str, Any], arr: dict[str, Any]) -> None:
    fig, (ax1, ax2) = _figure(12, 4, columns=2, top=0.6)
    _hist(ax1, arr["nn_selected"], arr["nn_edges"], alpha=0.7, label="selected", color="#1f77b4")
    _hist(ax1, arr["nn_random"], arr["nn_edges"], alpha=0.5, label="random, same size", color="#ff7f0e")
    _title(ax1, f"Nearest-neighbour distance among the {cov['selected']} selected")
    ax1.set_xlabel("distance")
    ax1.set_ylabel("items")
    ax1.legend(fontsize=8)
    _hist(ax2, arr["to_selected"], arr["cov_edges"], alpha=0.7, label="selected", color="#1f77b4")
    _hist(ax2, arr["to_random"], arr["cov_edges"], alpha=0.5, label="random, same size", color="#ff7f0e")
    for value, colour in ((cov["radius_after"], "#1f77b4"), (cov["random"]["radius_after"], "#ff7f0e")):
        if value is not None:
            ax2.axvline(value, color=colour, linestyle="--", linewidth=1)
    _title(
        ax2,
        f"Each candidate's distance to the nearest selected item\n"
        f"covering radius: selected {_fmt(cov['radius_after'])}, random {_fmt(cov['random']['radius_after'])}",
    )
    ax2.set_xlabel("distance")
    ax2.set_ylabel("candidates")
    ax2.legend(fontsize=8)
    _save(fig, path)


def plot_distances(plots: Path, cov: dict[str, Any], arrays: dict[str, Any]) -> list[str]:
    """``distance_distr_before.png`` and ``distance_distr_after.png``; returns their names."""
    _plot_before(plots / "distance_distr_before.png", cov, arrays)
    _plot_after(plots / "distance_distr_after.png", cov, arrays)
    return ["distance_distr_before.png", "distance_distr_after.png"]


TRAINING_PNG = "training_loss.png"


def plot_training_loss(path: Path, training: dict[str, Any]) -> None:
    """The training's mean loss per epoch (report.json's ``training.loss``)."""
    loss = list(training["loss"])
    fig, ax = _figure(7, 3.5)
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, marker="o", color="#1f77b4")
    _title(
        ax,
        f"{training['method']} training loss: {training['frames_trained']:,} frames, batch {training['batch_size']}, "
        f"{training['input_size']} px, {training['train_sec']:.0f} s on {training['device']}",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean NT-Xent loss")
    ax.set_xticks(epochs if len(loss) <= 20 else np.linspace(1, len(loss), 10).round())
    _save(fig, path)


def plot_timeline(path: Path, inputs: ReportInputs) -> int:
    """Selected sequences by position in their source, one row per source; returns the rows drawn."""
    sources = inputs.report["sources"]
    shown = min(len(sources), TIMELINE_PNG_SOURCES)
    labels = [s["name"][-40:] for s in sources[:shown]]
    longest = max((len(label) for label in labels), default=0)
    fig, ax = _figure(10, 1.3 + 0.32 * shown, left=0.25 + 0.055 * longest, top=0.4)
    sel_by_src: dict[int, list[int]] = {}
    for cand in inputs.selected:
        sel_by_src.setdefault(int(inputs.source[cand]), []).append(int(inputs.start[cand]))
    # Two collections (tracks, selected sequences) of rectangles: a patch per bar costs
    # milliseconds each, and big runs select thousands of sequences.
    from matplotlib.collections import PolyCollection

    def boxes(y: np.ndarray, left: np.ndarray, width: np.ndarray) -> Any:  # (n, 4, 2): matplotlib's stubs want a list
        x0, x1, y0, y1 = left, left + width, y - 0.3, y + 0.3
        return np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1), np.stack([x1, y1], 1), np.stack([x1, y0], 1)], 1)

    rows = np.arange(shown, dtype=float)
    ax.add_collection(PolyCollection(boxes(shown - 1 - rows, np.zeros(shown), np.ones(shown)), facecolors="#dddddd"))
    y, left, width, colour = [], [], [], []
    palette = source_colours(np.arange(shown))  # a row is its source: the page's timeline colours
    for row in range(shown):
        frames = max(int(sources[row]["frames"]), 1)
        for start in sel_by_src.get(row, []):
            y.append(shown - 1 - row)
            left.append(start / frames)
            width.append(inputs.length / frames)
            colour.append(palette[row])
    if y:
        bars = boxes(np.asarray(y, float), np.asarray(left, float), np.asarray(width, float))
        ax.add_collection(PolyCollection(bars, facecolors=colour, linewidths=0))
    cuts = (inputs.report.get("shots") or {}).get("cuts_by_source", {})
    ticks = []  # sequence_boundaries=shots: a dark tick at each cut
    for row in range(shown):
        frames, y0 = max(int(sources[row]["frames"]), 1), shown - 1 - row
        ticks += [((c / frames, y0 - 0.4), (c / frames, y0 + 0.4)) for c in cuts.get(sources[row]["name"], [])]
    if ticks:
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(ticks, colors="#222222", linewidths=0.6))
    ax.set_yticks(range(shown))
    ax.set_yticklabels(labels[::-1], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, shown - 0.4)
    ax.set_xlabel("position in source (fraction of its frames)")
    more = f" (first {shown} of {len(sources)} sources)" if shown < len(sources) else ""
    _title(ax, f"Selected sequences by position{more}" + (" (dark ticks: cuts)" if ticks else ""))
    _save(fig, path)
    return shown
