"""The static plots under ``plots/`` (PNG, drawn with matplotlib's Agg renderer).

matplotlib is imported inside :func:`_figure`, when something is drawn: importing
:mod:`framepick` or :mod:`framepick.report` never loads it. Figures are made without
``pyplot``, so drawing neither switches the caller's matplotlib backend nor touches its
global figure list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .data import ReportInputs

__all__ = ["MAX_PLOT_POINTS", "TIMELINE_PNG_SOURCES", "plot_distances", "plot_scatter", "plot_timeline"]

MAX_PLOT_POINTS = 50_000  # points drawn in a static scatter plot: all selected, a seeded sample of the rest
TIMELINE_PNG_SOURCES = 40  # sources drawn in plots/video_sampling_timeline.png
_DPI = 110


def _figure(width: float, height: float, columns: int = 1) -> tuple[Figure, Any]:
    """A new Agg figure and its axes (one, or a row of ``columns``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    return fig, fig.subplots(1, columns)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def plot_scatter(
    path: Path,
    xy: np.ndarray,
    source: np.ndarray,
    selected: np.ndarray,
    source_names: Sequence[str],
    title: str,
    axes: tuple[str, str] = ("PC 1", "PC 2"),
    seed: int = 0,
) -> None:
    """2-D scatter coloured by source; selected points large and outlined."""
    shown = np.arange(len(xy))
    if len(shown) > MAX_PLOT_POINTS:
        rest = np.flatnonzero(~selected)
        keep = np.random.default_rng(seed).choice(rest, min(len(rest), MAX_PLOT_POINTS), replace=False)
        shown = np.union1d(keep, np.flatnonzero(selected))
    cmap = _colormap("tab10" if len(np.unique(source)) <= 10 else "tab20")
    fig, ax = _figure(8, 6)
    present = np.unique(source[shown]) if len(shown) else np.zeros(0, int)
    for src in present:
        colour = cmap(int(src) % 20)
        mask = shown[(source[shown] == src) & ~selected[shown]]
        ax.scatter(xy[mask, 0], xy[mask, 1], s=10, color=colour, alpha=0.35, linewidths=0)
        chosen = shown[(source[shown] == src) & selected[shown]]
        label = source_names[src] if len(present) <= 20 else None
        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=28, color=colour, edgecolors="black", linewidths=0.6, label=label)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title)
    if 0 < len(present) <= 20:
        ax.legend(fontsize=7, loc="best", markerscale=0.8, title="selected, by source", title_fontsize=7)
    _save(fig, path)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _plot_before(path: Path, cov: dict[str, Any], arr: dict[str, Any]) -> None:
    nn = cov["nearest_neighbour"]
    fig, ax = _figure(7, 4)
    ax.hist(arr["nn_all"], arr["nn_edges"], color="#888888")
    sampled = f", {nn['all']['queries']} sampled" if nn["all"]["sampled"] else ""
    ax.set_title(f"Nearest-neighbour distance among all {cov['candidates']} candidates{sampled}")
    ax.set_xlabel(f"distance (radius before: {_fmt(cov['radius_before'])}, largest distance to the mean)")
    ax.set_ylabel("candidates")
    _save(fig, path)


def _plot_after(path: Path, cov: dict[str, Any], arr: dict[str, Any]) -> None:
    fig, (ax1, ax2) = _figure(12, 4, columns=2)
    ax1.hist(arr["nn_selected"], arr["nn_edges"], alpha=0.7, label="selected", color="#1f77b4")
    ax1.hist(arr["nn_random"], arr["nn_edges"], alpha=0.5, label="random, same size", color="#ff7f0e")
    ax1.set_title(f"Nearest-neighbour distance among the {cov['selected']} selected")
    ax1.set_xlabel("distance")
    ax1.set_ylabel("items")
    ax1.legend(fontsize=8)
    ax2.hist(arr["to_selected"], arr["cov_edges"], alpha=0.7, label="selected", color="#1f77b4")
    ax2.hist(arr["to_random"], arr["cov_edges"], alpha=0.5, label="random, same size", color="#ff7f0e")
    for value, colour in ((cov["radius_after"], "#1f77b4"), (cov["random"]["radius_after"], "#ff7f0e")):
        if value is not None:
            ax2.axvline(value, color=colour, linestyle="--", linewidth=1)
    ax2.set_title(
        f"Each candidate's distance to the nearest selected item\n"
        f"covering radius: selected {_fmt(cov['radius_after'])}, random {_fmt(cov['random']['radius_after'])}"
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


def plot_timeline(path: Path, inputs: ReportInputs) -> int:
    """Selected sequences by position in their source, one row per source; returns the rows drawn."""
    sources = inputs.report["sources"]
    shown = min(len(sources), TIMELINE_PNG_SOURCES)
    fig, ax = _figure(10, 0.9 + 0.32 * shown)
    cmap = _colormap("tab10")
    sel_by_src: dict[int, list[int]] = {}
    for cand in inputs.selected:
        sel_by_src.setdefault(int(inputs.source[cand]), []).append(int(inputs.start[cand]))
    for row in range(shown):
        frames = max(int(sources[row]["frames"]), 1)
        y = shown - 1 - row
        ax.broken_barh([(0, 1.0)], (y - 0.3, 0.6), color="#dddddd")
        bars = [(s / frames, inputs.length / frames) for s in sel_by_src.get(row, [])]
        ax.broken_barh(bars, (y - 0.3, 0.6), color=cmap(row % 10))
    ax.set_yticks(range(shown))
    ax.set_yticklabels([s["name"][-40:] for s in sources[:shown]][::-1], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("position in source (fraction of its frames)")
    more = f" (first {shown} of {len(sources)} sources)" if shown < len(sources) else ""
    ax.set_title(f"Selected sequences by position{more}")
    _save(fig, path)
    return shown
