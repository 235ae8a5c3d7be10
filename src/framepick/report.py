"""Stage 7: the report (``report.json``, ``report.html``) and its static plots."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["pca_2d", "plot_scatter_pca", "write_report_html"]

_MAX_PLOT_POINTS = 50_000


def pca_2d(x: np.ndarray, fit_rows: int = 20_000, seed: int = 0) -> np.ndarray:
    """Project rows onto their first two principal components (fit on a seeded sample)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.zeros((0, 2))
    mean = x.mean(axis=0)
    fit = x
    if len(x) > fit_rows:
        fit = x[np.random.default_rng(seed).choice(len(x), fit_rows, replace=False)]
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    comps = vt[:2]
    if len(comps) < 2:
        comps = np.vstack([comps, np.zeros((2 - len(comps), x.shape[1]))])
    # Fix the sign so the picture does not flip between equivalent runs.
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    return (x - mean) @ (comps * signs[:, None]).T


def plot_scatter_pca(
    path: Path,
    points: np.ndarray,
    source: np.ndarray,
    selected: np.ndarray,
    source_names: Sequence[str],
    seed: int = 0,
) -> None:
    """PCA scatter of frame embeddings, coloured by source; selected frames large and outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    xy = pca_2d(points, seed=seed)
    shown = np.arange(len(xy))
    if len(shown) > _MAX_PLOT_POINTS:
        rest = np.flatnonzero(~selected)
        keep = np.random.default_rng(seed).choice(rest, _MAX_PLOT_POINTS, replace=False)
        shown = np.union1d(keep, np.flatnonzero(selected))
    cmap = plt.get_cmap("tab10" if len(np.unique(source)) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    present = np.unique(source[shown]) if len(shown) else np.zeros(0, int)
    for k, src in enumerate(present):
        colour = cmap(k % 20)
        mask = shown[(source[shown] == src) & ~selected[shown]]
        ax.scatter(xy[mask, 0], xy[mask, 1], s=10, color=colour, alpha=0.35, linewidths=0)
        chosen = shown[(source[shown] == src) & selected[shown]]
        label = source_names[src] if len(present) <= 20 else None
        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=28, color=colour, edgecolors="black", linewidths=0.6, label=label)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"PCA of frame embeddings: {int(selected.sum())} selected of {len(xy)} (outlined)")
    if 0 < len(present) <= 20:
        ax.legend(fontsize=7, loc="best", markerscale=0.8, title="selected, by source", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report_html(path: Path, report: dict[str, Any]) -> None:
    """A plain summary page (the report issue makes it interactive)."""
    counts = report["counts"]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in counts.items())
    stopping = html.escape(report["stopping"]["message"])
    config = html.escape(json.dumps(report["config"], indent=2))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>framepick report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em}}
th{{text-align:left;padding-right:1em}}pre{{background:#f4f4f4;padding:1em}}</style></head>
<body><h1>framepick report</h1><p>{stopping}</p><table>{rows}</table>
<h2>Configuration</h2><pre>{config}</pre></body></html>
"""
    path.write_text(page, encoding="utf-8")
