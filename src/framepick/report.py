"""Stage 7: the report (``report.json``, ``report.html``) and its static plots.

The report is built from :class:`ReportInputs`: the candidate sequences (one embedding each,
the mean of its frames' embeddings), which of them were selected and in which order, and
the run's summary (the ``report.json`` dictionary). A run makes them from memory
(:func:`write_report`); ``framepick report OUTPUT_DIR`` makes the same from the run's files
(:func:`rebuild_report`), so both give the same page and the same numbers.

Every number the page shows is added to ``report.json``: coverage metrics under
``metrics.coverage``, what the page drew and sampled under ``page``.

Distances are Euclidean distances between candidate embeddings (the space the selection
works in). Nothing here builds an N×N matrix: distances are computed in row blocks, and
the nearest-neighbour histograms use a seeded sample of at most :data:`NN_SAMPLE` query
points (each against *all* points) when there are more.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._log import logger
from .errors import OutputError
from .thumbnails import JPEG_QUALITY, THUMB_SIZE, FrameReader, Thumbnails, make_thumbnails, source_reader

if TYPE_CHECKING:
    from .pipeline import RunResult

__all__ = [
    "ReportInputs",
    "coverage_metrics",
    "inputs_from_result",
    "nearest_distances",
    "nn_distances",
    "pca_2d",
    "plot_scatter_pca",
    "read_inputs",
    "rebuild_report",
    "write_report",
]

# Bounds that keep report.html small (well under 20 MB) for runs of 100,000+ frames.
MAP_POINTS = 20_000  # points on the interactive map: all selected first, then a seeded sample
NN_SAMPLE = 5_000  # query points for the nearest-neighbour histograms
FILMSTRIPS = 200  # selected sequences shown as filmstrips (in selection order)
FILMSTRIP_FRAMES = 5  # frames per filmstrip: evenly spaced, first and last included
LISTED = 2_000  # selected sequences listed on the page in all (filmstrips included)
HOVER_THUMBS = 1_500  # further map points that carry a hover thumbnail
PAIRS = 6  # example pairs: selected item next to its nearest non-selected candidate
TIMELINE_SOURCES = 200  # sources drawn in the page's timeline
TIMELINE_PNG_SOURCES = 40  # sources drawn in plots/video_sampling_timeline.png
THUMB_BUDGET_BYTES = 12_000_000  # all thumbnails together, as data URIs
_MAX_PLOT_POINTS = 50_000
_BLOCK_ELEMENTS = 8_000_000  # float64 elements per distance block (64 MB)
_ROWS = 8_192  # rows per block of row-wise passes (8,192 x 1280 float64 = 84 MB)

CANDIDATES_CSV = "data/candidates.csv"
_CANDIDATE_FIELDS = (
    "candidate",
    "video_name",
    "first_frame",
    "last_frame",
    "first_frame_name",
    "embeddings_row",
    "selected_rank",
)


# ----------------------------------------------------------------------------- inputs


@dataclass
class ReportInputs:
    """What the report is built from; candidate ``i`` is row ``i`` of every array."""

    report: dict[str, Any]  # the report.json dictionary (counts, stopping, sources, sequences, config)
    embeddings: np.ndarray  # (M, D) float32, candidate sequence embeddings
    source: np.ndarray  # (M,) int, index into report["sources"]
    start: np.ndarray  # (M,) int, frame index of the first frame
    names: list[str]  # name of each candidate's first frame
    length: int  # frames per sequence
    selected: np.ndarray  # (K,) int, candidate indices in selection order
    embeddings_row: np.ndarray  # (M,) int, row of the first frame in data/embeddings.csv

    def __len__(self) -> int:
        return len(self.source)

    @property
    def source_names(self) -> list[str]:
        return [s["name"] for s in self.report["sources"]]

    def label(self, cand: int) -> str:
        """How the page names a candidate: its frame, or its source and frame range."""
        if self.length == 1:
            return self.names[cand]
        first = int(self.start[cand])
        name = self.report["sources"][int(self.source[cand])]["name"]
        return f"{name} [{first}–{first + self.length - 1}]"


def inputs_from_result(result: RunResult) -> ReportInputs:
    """The report's inputs from a finished run in memory."""
    table, seqs = result.table, result.sequences
    kept = table.csv_rows(result.checks.usable)
    first_rows = seqs.rows[:, 0] if len(seqs) else np.zeros(0, np.int64)
    return ReportInputs(
        report=result.report,
        embeddings=np.asarray(result.sequence_embeddings, np.float32),
        source=seqs.source.astype(np.int64),
        start=seqs.start.astype(np.int64),
        names=[table.names[r] for r in first_rows],
        length=seqs.length,
        selected=np.asarray(result.selection.indices, np.int64),
        embeddings_row=np.searchsorted(kept, first_rows).astype(np.int64),
    )


def write_candidates_csv(path: Path, inputs: ReportInputs) -> None:
    """``data/candidates.csv``: one row per candidate sequence, what a rebuild needs besides embeddings.csv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rank = np.zeros(len(inputs), np.int64)
    rank[inputs.selected] = np.arange(1, len(inputs.selected) + 1)
    names = inputs.source_names
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_CANDIDATE_FIELDS)
        for i in range(len(inputs)):
            first = int(inputs.start[i])
            writer.writerow(
                [
                    i,
                    names[int(inputs.source[i])],
                    first,
                    first + inputs.length - 1,
                    inputs.names[i],
                    int(inputs.embeddings_row[i]),
                    int(rank[i]),
                ]
            )


def _read_embeddings_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Names and embeddings from a Lightly-format CSV (values are the last fields before ``labels``)."""
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader([fh.readline()]))
        dim = len(header) - 2
        names: list[str] = []
        rows: list[np.ndarray] = []
        for line in fh:
            if not line.strip():
                continue
            head, *values, _label = line.rstrip("\r\n").rsplit(",", dim + 1)
            names.append(next(csv.reader([head]))[0] if head.startswith('"') else head)
            rows.append(np.array(values, dtype=np.float32))
    matrix = np.vstack(rows) if rows else np.zeros((0, dim), np.float32)
    return names, matrix


def read_inputs(out_dir: str | Path) -> ReportInputs:
    """The report's inputs from a finished run's files (``report.json``, ``data/``)."""
    out = Path(out_dir)
    report_path = out / "report.json"
    if not out.is_dir():
        raise OutputError(f"'{out_dir}' is not a folder")
    if not report_path.is_file():
        raise OutputError(f"'{out_dir}' is not a finished framepick run: it has no report.json")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        length = int(report["counts"]["sequence_length"])
        source_index = {s["name"]: i for i, s in enumerate(report["sources"])}
        if not isinstance(report["config"], dict):
            raise TypeError("config is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"'{report_path}' is not a framepick report.json ({type(exc).__name__}: {exc})") from exc
    cand_path, emb_path = out / CANDIDATES_CSV, out / "data" / "embeddings.csv"
    for path in (cand_path, emb_path):
        if not path.is_file():
            raise OutputError(f"'{out_dir}' lacks {path.relative_to(out)}: rerun the selection with this framepick")
    with open(cand_path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    try:
        source = np.array([source_index[r["video_name"]] for r in rows], np.int64)
        start = np.array([int(r["first_frame"]) for r in rows], np.int64)
        emb_row = np.array([int(r["embeddings_row"]) for r in rows], np.int64)
        rank = np.array([int(r["selected_rank"]) for r in rows], np.int64)
        names = [r["first_frame_name"] for r in rows]
    except (KeyError, ValueError) as exc:
        raise OutputError(f"'{cand_path}' is malformed ({type(exc).__name__}: {exc})") from exc
    _, frame_emb = _read_embeddings_csv(emb_path)
    # embeddings.csv holds the embedded frames only: with embedding_frame_stride s, the
    # positions 0, s, 2s, ... of each sequence, in consecutive rows.
    stride = int(report["config"].get("embedding_frame_stride", 1)) if length > 1 else 1
    per_sequence = len(range(0, length, max(stride, 1)))
    if len(emb_row) and int(emb_row.max()) + per_sequence > len(frame_emb):
        raise OutputError(f"'{cand_path}' does not match data/embeddings.csv: rerun the selection")
    # The same arithmetic as framepick.sequences.sequence_embeddings: float64 sum in frame order.
    total = np.zeros((len(rows), frame_emb.shape[1]), np.float64)
    for j in range(per_sequence):
        total += frame_emb[emb_row + j]
    chosen = np.flatnonzero(rank > 0)
    return ReportInputs(
        report=report,
        embeddings=(total / per_sequence).astype(np.float32),
        source=source,
        start=start,
        names=names,
        length=length,
        selected=chosen[np.argsort(rank[chosen], kind="stable")].astype(np.int64),
        embeddings_row=emb_row,
    )


# ----------------------------------------------------------------------------- distances


def _min_sq_distances(a: np.ndarray, b: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """For each row of ``a``, the smallest squared distance to a row of ``b``.

    ``exclude[i]`` is a row of ``b`` that row ``i`` of ``a`` must not be matched with (its own
    copy), or -1. Both sides are taken in blocks and converted to float64 block by block, so
    memory stays bounded (about ``_BLOCK_ELEMENTS`` float64 values per block product) however
    large ``a`` and ``b`` are.
    """
    out = np.full(len(a), np.inf)
    if len(a) == 0 or len(b) == 0:
        return out
    a_step = max(1, min(len(a), 4096, _BLOCK_ELEMENTS // 2))
    b_step = max(1, _BLOCK_ELEMENTS // a_step)
    b_blocks = [(begin, b[begin : begin + b_step]) for begin in range(0, len(b), b_step)]
    whole = [(begin, blk.astype(np.float64)) for begin, blk in b_blocks] if len(b_blocks) == 1 else None
    for a_begin in range(0, len(a), a_step):
        ab = np.asarray(a[a_begin : a_begin + a_step], np.float64)
        a_sq = np.einsum("ij,ij->i", ab, ab)
        best = np.full(len(ab), np.inf)
        for b_begin, blk in whole or b_blocks:
            bb = np.asarray(blk, np.float64)
            d = a_sq[:, None] - 2.0 * (ab @ bb.T) + np.einsum("ij,ij->i", bb, bb)[None, :]
            if exclude is not None:
                own = exclude[a_begin : a_begin + len(ab)] - b_begin
                hit = np.flatnonzero((own >= 0) & (own < len(bb)))
                d[hit, own[hit]] = np.inf
            np.minimum(best, d.min(axis=1), out=best)
        out[a_begin : a_begin + len(ab)] = best
    return np.maximum(out, 0.0)


def nearest_distances(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Distance from every row of ``x`` to its nearest row among ``x[centers]`` (float64, blocked)."""
    if len(centers) == 0:
        return np.full(len(x), np.inf)
    return np.sqrt(_min_sq_distances(x, x[np.asarray(centers, np.int64)]))


def nn_distances(x: np.ndarray, queries: np.ndarray | None = None) -> np.ndarray:
    """For each query row of ``x``, the distance to its nearest *other* row of ``x`` (blocked)."""
    queries = np.arange(len(x)) if queries is None else np.asarray(queries, np.int64)
    if len(x) < 2:
        return np.zeros(0)
    return np.sqrt(_min_sq_distances(x[queries], x, exclude=queries))


def _blocked_mean(x: np.ndarray) -> np.ndarray:
    total = np.zeros(x.shape[1])
    for begin in range(0, len(x), _ROWS):
        total += np.asarray(x[begin : begin + _ROWS], np.float64).sum(axis=0)
    return total / len(x)


def _max_sq_distance_to(x: np.ndarray, point: np.ndarray) -> float:
    worst = 0.0
    for begin in range(0, len(x), _ROWS):
        diff = np.asarray(x[begin : begin + _ROWS], np.float64) - point
        worst = max(worst, float(np.einsum("ij,ij->i", diff, diff).max()))
    return worst


def _sample(n: int, cap: int, seed: int) -> tuple[np.ndarray, bool]:
    if n <= cap:
        return np.arange(n), False
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False)), True


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {"min": None, "median": None, "mean": None, "max": None}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def _edges(*arrays: np.ndarray, bins: int = 30) -> np.ndarray:
    top = max((float(a.max()) for a in arrays if len(a)), default=1.0)
    return np.linspace(0.0, top if top > 0 else 1.0, bins + 1)


def coverage_metrics(x: np.ndarray, selected: np.ndarray, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """How well ``selected`` covers the candidates ``x``, against a random selection of the same size.

    Returns (numbers for report.json, arrays for the plots). The random selection is the
    first ``len(selected)`` indices of ``numpy.random.default_rng(seed).permutation(len(x))``,
    i.e. what :func:`framepick.select.random_order` picks with that seed.
    """
    selected = np.asarray(selected, np.int64)
    n, k = len(x), len(selected)
    random_sel = np.random.default_rng(seed).permutation(n)[:k]
    to_sel = nearest_distances(x, selected)
    to_rand = nearest_distances(x, random_sel)
    radius_before = 0.0
    if n:
        radius_before = float(np.sqrt(_max_sq_distance_to(x, _blocked_mean(x))))

    q_all, s_all = _sample(n, NN_SAMPLE, seed)
    q_sel, s_sel = _sample(k, NN_SAMPLE, seed)
    nn_all = nn_distances(x, q_all)
    nn_sel = nn_distances(x[selected], q_sel)
    nn_rand = nn_distances(x[random_sel], q_sel)
    nn_edges = _edges(nn_all, nn_sel, nn_rand)
    cov_edges = _edges(to_sel, to_rand)

    def nn_entry(values: np.ndarray, pool: int, queries: int, sampled: bool) -> dict[str, Any]:
        return {
            "points": pool,
            "queries": queries,
            "sampled": sampled,
            **_stats(values),
            "counts": np.histogram(values, nn_edges)[0].tolist(),
        }

    numbers = {
        "distance": "Euclidean distance between candidate embeddings (a sequence's embedding is its frames' mean)",
        "candidates": n,
        "selected": k,
        "radius_before": radius_before,
        "radius_before_definition": "largest distance from any candidate to the mean of all candidates",
        "radius_after": float(to_sel.max()) if n and k else None,
        "radius_after_definition": "largest distance from any candidate to its nearest selected candidate",
        "mean_distance_to_selection": float(to_sel.mean()) if n and k else None,
        "random": {
            "seed": seed,
            "definition": "first k of numpy.random.default_rng(seed).permutation(candidates)",
            "radius_after": float(to_rand.max()) if n and k else None,
            "mean_distance_to_selection": float(to_rand.mean()) if n and k else None,
        },
        "distance_to_selection": {
            "bin_edges": cov_edges.tolist(),
            "selected": np.histogram(to_sel, cov_edges)[0].tolist(),
            "random": np.histogram(to_rand, cov_edges)[0].tolist(),
        },
        "nearest_neighbour": {
            "bin_edges": nn_edges.tolist(),
            "sample_cap": NN_SAMPLE,
            "sample_seed": seed,
            "all": nn_entry(nn_all, n, len(q_all), s_all),
            "selected": nn_entry(nn_sel, k, len(q_sel), s_sel),
            "random": nn_entry(nn_rand, k, len(q_sel), s_sel),
        },
    }
    arrays = {
        "to_selected": to_sel,
        "to_random": to_rand,
        "nn_all": nn_all,
        "nn_selected": nn_sel,
        "nn_random": nn_rand,
        "nn_edges": nn_edges,
        "cov_edges": cov_edges,
    }
    return numbers, arrays


# ----------------------------------------------------------------------------- projections


def pca_2d_with_ratio(x: np.ndarray, fit_rows: int = 20_000, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """:func:`pca_2d` and the share of the variance each of the two components explains."""
    if len(x) == 0:
        return np.zeros((0, 2)), [0.0, 0.0]
    mean = _blocked_mean(x)
    fit_rows_idx, _ = _sample(len(x), fit_rows, seed)
    # Principal axes from the covariance of the fit sample, accumulated in blocks (D x D),
    # not an SVD of the sample: the same axes without a float64 copy of the sample.
    cov = np.zeros((x.shape[1], x.shape[1]))
    for begin in range(0, len(fit_rows_idx), _ROWS):
        block = np.asarray(x[fit_rows_idx[begin : begin + _ROWS]], np.float64) - mean
        cov += block.T @ block
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    sv = np.sqrt(np.maximum(eigval[order], 0.0))
    vt = eigvec[:, order].T
    comps = vt[:2]
    if len(comps) < 2:
        comps = np.vstack([comps, np.zeros((2 - len(comps), x.shape[1]))])
    # Fix the sign so the picture does not flip between equivalent runs.
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    comps = comps * signs[:, None]
    out = np.empty((len(x), 2))
    for begin in range(0, len(x), _ROWS):  # blocks: no float64 copy of all rows
        out[begin : begin + _ROWS] = (np.asarray(x[begin : begin + _ROWS], np.float64) - mean) @ comps.T
    var = sv**2
    total = float(var.sum())
    ratio = [float(var[j] / total) if total > 0 and j < len(var) else 0.0 for j in range(2)]
    return out, ratio


def pca_2d(x: np.ndarray, fit_rows: int = 20_000, seed: int = 0) -> np.ndarray:
    """Project rows onto their first two principal components (fit on a seeded sample)."""
    return pca_2d_with_ratio(x, fit_rows, seed)[0]


def _umap_2d(x: np.ndarray, seed: int) -> tuple[np.ndarray | None, str]:
    """UMAP of ``x`` when umap-learn is installed; (None, why not) otherwise."""
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        return None, "umap-learn is not installed (pip install umap-learn)"
    if len(x) < 5:
        return None, "too few points for UMAP"
    try:
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed)
        return np.asarray(reducer.fit_transform(np.asarray(x, np.float32)), np.float64), "ok"
    except Exception as exc:  # UMAP is optional: a failure costs the plot, not the report
        return None, f"UMAP failed: {type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------- static plots


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = np.arange(len(xy))
    if len(shown) > _MAX_PLOT_POINTS:
        rest = np.flatnonzero(~selected)
        keep = np.random.default_rng(seed).choice(rest, min(len(rest), _MAX_PLOT_POINTS), replace=False)
        shown = np.union1d(keep, np.flatnonzero(selected))
    cmap = plt.get_cmap("tab10" if len(np.unique(source)) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
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
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_scatter_pca(
    path: Path,
    points: np.ndarray,
    source: np.ndarray,
    selected: np.ndarray,
    source_names: Sequence[str],
    seed: int = 0,
) -> None:
    """PCA scatter of embeddings, coloured by source; selected points large and outlined."""
    title = f"PCA of candidate embeddings: {int(selected.sum())} selected of {len(points)} (outlined)"
    plot_scatter(path, pca_2d(points, seed=seed), source, selected, source_names, title, seed=seed)


def _plot_distances(path: Path, cov: dict[str, Any], arr: dict[str, Any], after: bool) -> None:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    nn = cov["nearest_neighbour"]
    edges = arr["nn_edges"]
    fmt = lambda v: "n/a" if v is None else f"{v:.4g}"  # noqa: E731
    if not after:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        ax.hist(arr["nn_all"], edges, color="#888888")
        sampled = f", {nn['all']['queries']} sampled" if nn["all"]["sampled"] else ""
        ax.set_title(f"Nearest-neighbour distance among all {cov['candidates']} candidates{sampled}")
        ax.set_xlabel(f"distance (radius before: {fmt(cov['radius_before'])}, largest distance to the mean)")
        ax.set_ylabel("candidates")
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), dpi=110)
        ax1.hist(arr["nn_selected"], edges, alpha=0.7, label="selected", color="#1f77b4")
        ax1.hist(arr["nn_random"], edges, alpha=0.5, label="random, same size", color="#ff7f0e")
        ax1.set_title(f"Nearest-neighbour distance among the {cov['selected']} selected")
        ax1.set_xlabel("distance")
        ax1.set_ylabel("items")
        ax1.legend(fontsize=8)
        c_edges = arr["cov_edges"]
        ax2.hist(arr["to_selected"], c_edges, alpha=0.7, label="selected", color="#1f77b4")
        ax2.hist(arr["to_random"], c_edges, alpha=0.5, label="random, same size", color="#ff7f0e")
        for value, colour in ((cov["radius_after"], "#1f77b4"), (cov["random"]["radius_after"], "#ff7f0e")):
            if value is not None:
                ax2.axvline(value, color=colour, linestyle="--", linewidth=1)
        ax2.set_title(
            f"Each candidate's distance to the nearest selected item\n"
            f"covering radius: selected {fmt(cov['radius_after'])}, random {fmt(cov['random']['radius_after'])}"
        )
        ax2.set_xlabel("distance")
        ax2.set_ylabel("candidates")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_timeline(path: Path, inputs: ReportInputs) -> int:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = inputs.report["sources"]
    shown = min(len(sources), TIMELINE_PNG_SOURCES)
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.32 * shown), dpi=110)
    cmap = plt.get_cmap("tab10")
    sel_by_src: dict[int, list[int]] = {}
    for cand in inputs.selected:
        sel_by_src.setdefault(int(inputs.source[cand]), []).append(int(inputs.start[cand]))
    for row in range(shown):
        frames = max(int(sources[row]["frames"]), 1)
        y = shown - 1 - row
        ax.broken_barh([(0, 1.0)], (y - 0.3, 0.6), color="#dddddd")
        starts = sel_by_src.get(row, [])
        bars = [(s / frames, inputs.length / frames) for s in starts]
        ax.broken_barh(bars, (y - 0.3, 0.6), color=cmap(row % 10))
    ax.set_yticks(range(shown))
    ax.set_yticklabels([s["name"][-40:] for s in sources[:shown]][::-1], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("position in source (fraction of its frames)")
    more = f" (first {shown} of {len(sources)} sources)" if shown < len(sources) else ""
    ax.set_title(f"Selected sequences by position{more}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return shown


# ----------------------------------------------------------------------------- building


def _positions(length: int) -> list[int]:
    """Frame offsets shown in a filmstrip: evenly spaced, first and last included."""
    count = min(length, FILMSTRIP_FRAMES)
    return sorted({round(v) for v in np.linspace(0, length - 1, count)})


def _middle(length: int) -> int:
    pos = _positions(length)
    return pos[len(pos) // 2]


def _frame_reader_for(inputs: ReportInputs, out_dir: Path) -> tuple[FrameReader | None, str]:
    """A reader over the run's input_dir as it is now, and a note on what is unavailable."""
    from .discover import discover

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
    return source_reader(sources), note


def _build(
    out_dir: Path,
    inputs: ReportInputs,
    reader: FrameReader | None,
    reader_note: str,
    rebuilt: bool,
) -> None:
    """Write plots/ and report.html into ``out_dir`` and add the report's numbers to ``inputs.report``."""
    from ._report_page import render_page

    started = time.perf_counter()
    report = inputs.report
    seed = int(report["config"].get("seed", 0))
    n, k = len(inputs), len(inputs.selected)
    is_selected = np.zeros(n, bool)
    is_selected[inputs.selected] = True
    rank = np.zeros(n, np.int64)
    rank[inputs.selected] = np.arange(1, k + 1)
    n_sources = len(report["sources"])
    for i, entry in enumerate(report["sources"]):
        entry["candidates"] = int((inputs.source == i).sum())
        entry["selected_sequences"] = int((inputs.source[inputs.selected] == i).sum())

    # Coverage numbers and histograms.
    cov, arrays = coverage_metrics(inputs.embeddings, inputs.selected, seed)
    report.setdefault("metrics", {})["coverage"] = cov
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    _plot_distances(plots / "distance_distr_before.png", cov, arrays, after=False)
    _plot_distances(plots / "distance_distr_after.png", cov, arrays, after=True)

    # Map: every candidate up to MAP_POINTS; selected ones always (selection order first).
    if n <= MAP_POINTS:
        shown = np.arange(n)
    else:
        sel_part = inputs.selected[:MAP_POINTS]
        rest = np.flatnonzero(~is_selected)
        fill = MAP_POINTS - len(sel_part)
        extra = np.random.default_rng(seed).choice(rest, min(fill, len(rest)), replace=False) if fill > 0 else []
        shown = np.sort(np.concatenate([sel_part, np.asarray(extra, np.int64)]))
    xy_all, ratio = pca_2d_with_ratio(inputs.embeddings, seed=seed)
    plot_scatter(
        plots / "scatter_pca.png",
        xy_all,
        inputs.source,
        is_selected,
        inputs.source_names,
        f"PCA of candidate embeddings: {k} selected of {n} (outlined)",
        (f"PC 1 ({ratio[0]:.0%} of variance)", f"PC 2 ({ratio[1]:.0%})"),
        seed=seed,
    )
    projections: dict[str, np.ndarray] = {"pca": xy_all[shown]}
    umap_xy, umap_note = _umap_2d(inputs.embeddings[shown], seed)
    plot_names = ["scatter_pca.png", "distance_distr_before.png", "distance_distr_after.png"]
    if umap_xy is not None:
        projections["umap"] = umap_xy
        plot_scatter(
            plots / "scatter_umap.png",
            umap_xy,
            inputs.source[shown],
            is_selected[shown],
            inputs.source_names,
            f"UMAP of candidate embeddings: {k} selected of {len(shown)} shown (outlined)",
            ("UMAP 1", "UMAP 2"),
            seed=seed,
        )
        plot_names.append("scatter_umap.png")
    else:
        (plots / "scatter_umap.png").unlink(missing_ok=True)
    timeline_png_sources = _plot_timeline(plots / "video_sampling_timeline.png", inputs)
    plot_names.append("video_sampling_timeline.png")

    # Example pairs: the first selected items next to their nearest non-selected candidate.
    pairs: list[dict[str, Any]] = []
    others = np.flatnonzero(~is_selected)
    firsts = inputs.selected[:PAIRS] if len(others) else inputs.selected[:0]
    if len(firsts):
        q = np.asarray(inputs.embeddings[firsts], np.float64)
        best_d = np.full(len(firsts), np.inf)
        best_j = np.zeros(len(firsts), np.int64)
        for begin in range(0, len(others), 8_192):  # blocks: no float64 copy of all candidates
            chunk = np.asarray(inputs.embeddings[others[begin : begin + 8_192]], np.float64)
            d = np.stack([np.linalg.norm(chunk - row, axis=1) for row in q])
            j = d.argmin(axis=1)
            better = d[np.arange(len(q)), j] < best_d
            best_d[better] = d[np.arange(len(q)), j][better]
            best_j[better] = begin + j[better]
        for cand, dist, j in zip(firsts, best_d, best_j):
            pairs.append(
                {
                    "rank": int(rank[cand]),
                    "selected": inputs.label(int(cand)),
                    "neighbour": inputs.label(int(others[j])),
                    "distance": float(dist),
                    "_cands": (int(cand), int(others[j])),
                }
            )

    # Thumbnails: filmstrips, then pairs, then hover samples, within a byte budget.
    positions = _positions(inputs.length)
    mid = _middle(inputs.length)
    strip_cands = [int(c) for c in inputs.selected[:FILMSTRIPS]]
    strip_keys = [(int(inputs.source[c]), int(inputs.start[c]) + p) for c in strip_cands for p in positions]
    pair_keys = [(int(inputs.source[c]), int(inputs.start[c]) + mid) for p in pairs for c in p["_cands"]]
    strip_set = set(strip_cands)
    shown_set = set(shown.tolist())
    hover_pool = [int(c) for c in inputs.selected if int(c) not in strip_set and int(c) in shown_set]
    rest_shown = shown[~is_selected[shown]]
    order = np.random.default_rng(seed).permutation(len(rest_shown))[:HOVER_THUMBS]
    hover_pool = (hover_pool + [int(rest_shown[i]) for i in order])[:HOVER_THUMBS]
    hover_keys = [(int(inputs.source[c]), int(inputs.start[c]) + mid) for c in hover_pool]

    thumbs = Thumbnails()
    if reader is not None:
        wanted: dict[int, set[int]] = {}
        for src, idx in strip_keys + pair_keys + hover_keys:
            wanted.setdefault(src, set()).add(idx)
        thumbs = make_thumbnails(wanted, reader)
    used: dict[tuple[int, int], str] = {}
    budget_hit = False
    total = 0
    for key in dict.fromkeys(strip_keys + pair_keys + hover_keys):  # priority order, no repeats
        uri = thumbs.get(*key)
        if uri is None:
            continue
        if total + len(uri) > THUMB_BUDGET_BYTES:
            budget_hit = True
            continue
        used[key] = uri
        total += len(uri)

    notes: list[str] = []
    if n > MAP_POINTS:
        notes.append(
            f"The map shows {len(shown):,} of {n:,} candidates: all selected ones"
            f"{'' if k <= MAP_POINTS else f' (the first {MAP_POINTS:,} in selection order)'} "
            f"and a random sample (seed {seed}) of the others."
        )
    nn = cov["nearest_neighbour"]
    for key, what in (("all", "candidates"), ("selected", "selected items")):
        if nn[key]["sampled"]:
            notes.append(
                f"Nearest-neighbour distances among {what} use a random sample of {nn[key]['queries']:,} "
                f"of the {nn[key]['points']:,} {what} (seed {seed}), each against all of them."
            )
    if k > len(strip_cands):
        notes.append(
            f"Filmstrips are shown for the first {len(strip_cands):,} of {k:,} selected sequences; "
            f"the next {max(0, min(k, LISTED) - len(strip_cands)):,} are listed without images"
            f"{'' if k <= LISTED else f'; all {k:,} are in data/sequence_information.json'}."
        )
    hover_with = sum(1 for key in dict.fromkeys(hover_keys) if key in used)
    n_hover_thumbs = len({(int(inputs.source[c]), int(inputs.start[c]) + mid) for c in shown} & set(used))
    if n_hover_thumbs < len(shown):
        notes.append(
            f"{n_hover_thumbs:,} of the {len(shown):,} map points show a thumbnail when hovered "
            f"(selected ones first, then a random sample, seed {seed}); the others show their name only."
        )
    if budget_hit:
        notes.append(f"Some thumbnails were left out to keep the page under {THUMB_BUDGET_BYTES // 1_000_000} MB.")
    if n_sources > TIMELINE_SOURCES:
        notes.append(f"The timeline shows the first {TIMELINE_SOURCES:,} of {n_sources:,} sources.")
    if reader is None or reader_note:
        notes.append(reader_note)
    if thumbs.failed:
        names = inputs.source_names
        notes.append(
            "No thumbnails for "
            + ", ".join(f"{names[s]} ({why})" for s, why in list(thumbs.failed.items())[:5])
            + ("" if len(thumbs.failed) <= 5 else f" and {len(thumbs.failed) - 5} more")
        )
    if umap_xy is None:
        notes.append(f"UMAP map not drawn: {umap_note}.")

    page = {
        "rebuilt": rebuilt,
        "plots": [f"plots/{p}" for p in plot_names],
        "map": {
            "candidates": n,
            "points": len(shown),
            "selected_points": int(is_selected[shown].sum()),
            "sampled": bool(len(shown) < n),
            "seed": seed,
            "projections": list(projections),
            "pca_variance_ratio": ratio,
            "umap": umap_note,
            "hover_thumbnails": n_hover_thumbs,
        },
        "thumbnails": {
            "available": reader is not None,
            "count": len(used),
            "bytes": total,
            "size_px": THUMB_SIZE,
            "jpeg_quality": JPEG_QUALITY,
            "filmstrips": len(strip_cands),
            "filmstrip_frame_offsets": positions,
            "hover_only": hover_with,
            "budget_bytes": THUMB_BUDGET_BYTES,
            "budget_reached": budget_hit,
            "failed_sources": {inputs.source_names[s]: why for s, why in thumbs.failed.items()},
        },
        "selected_listed": min(k, LISTED),
        "timeline_sources": min(n_sources, TIMELINE_SOURCES),
        "timeline_png_sources": timeline_png_sources,
        "example_pairs": [{key: v for key, v in p.items() if not key.startswith("_")} for p in pairs],
        "limits": {
            "map_points": MAP_POINTS,
            "nn_sample": NN_SAMPLE,
            "filmstrips": FILMSTRIPS,
            "listed": LISTED,
            "hover_thumbnails": HOVER_THUMBS,
            "timeline_sources": TIMELINE_SOURCES,
            "thumbnail_budget_bytes": THUMB_BUDGET_BYTES,
        },
        "notes": [note for note in notes if note],
    }
    report["page"] = page
    html_text = render_page(
        inputs=inputs,
        shown=shown,
        projections=projections,
        rank=rank,
        thumbs=used,
        strip_cands=strip_cands,
        positions=positions,
        mid=mid,
        pairs=pairs,
        plots_dir=plots,
    )
    page["html_bytes"] = len(html_text.encode("utf-8"))
    page["build_sec"] = round(time.perf_counter() - started, 4)
    _write_text_atomic(out_dir / "report.html", html_text)
    logger.info("report: %d points on the map, %d thumbnails, %.1f MB", len(shown), len(used), page["html_bytes"] / 1e6)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(out_dir: Path, result: RunResult) -> None:
    """Called by the run: ``data/candidates.csv``, ``plots/*``, ``report.html``; adds numbers to ``result.report``.

    ``report.json`` itself is written by the caller, after this. A failure while drawing the
    page does not throw the selection away: it is logged, recorded in ``report["page"]["error"]``
    and ``report.html`` says so (``framepick report OUTPUT_DIR --debug`` retries with a traceback).
    """
    inputs = inputs_from_result(result)
    write_candidates_csv(out_dir / CANDIDATES_CSV, inputs)
    try:
        _build(out_dir, inputs, source_reader(result.sources), "", rebuilt=False)
    except Exception as exc:
        if logger.isEnabledFor(logging.DEBUG):
            logger.exception("report: building report.html failed")
        message = f"{type(exc).__name__}: {exc}"
        logger.error("report: building report.html failed (%s); the selection is complete", message)
        result.report["page"] = {"error": message}
        (out_dir / "plots").mkdir(parents=True, exist_ok=True)
        _write_text_atomic(
            out_dir / "report.html",
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>framepick report</title>"
            "<link rel='icon' href='data:,'></head><body><h1>framepick report</h1>"
            f"<p>{html_escape(result.report['stopping']['message'])}</p>"
            f"<p>The report page could not be built: {html_escape(message)}. The selection itself is "
            "complete (see data/ and filenames/); rerun <code>framepick report OUTPUT_DIR --debug</code>.</p>"
            "</body></html>\n",
        )


def rebuild_report(out_dir: str | Path) -> dict[str, Any]:
    """``framepick report OUTPUT_DIR``: rebuild report.html, plots/ and report.json from a finished run."""
    out = Path(out_dir)
    inputs = read_inputs(out)
    reader, note = _frame_reader_for(inputs, out.resolve())
    _build(out, inputs, reader, note, rebuilt=True)
    tmp = out / f".report.json.tmp-{os.getpid()}"
    from .write import write_json

    write_json(tmp, inputs.report)
    os.replace(tmp, out / "report.json")
    return inputs.report
