"""The page as data: :func:`plan_page` turns the run's numbers and what was drawn and read into
a :class:`PageModel` (frozen dataclasses, no I/O, no HTML); :mod:`.render` writes it out.

Everything the page says is decided here: which rows, which notes, which thumbnail goes
where, where each map point and timeline mark lies. ``PageModel.summary`` is what
``report.json`` records under ``page``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from ..results import SourceCounts
from ..thumbnails import JPEG_QUALITY, THUMB_SIZE, Thumbnails
from .data import ReportInputs
from .layout import (
    FILMSTRIPS,
    HOVER_THUMBS,
    LISTED,
    MAP_POINTS,
    THUMB_BUDGET_BYTES,
    TIMELINE_SOURCES,
    Key,
    Layout,
    allocate_thumbnails,
)
from .metrics import NN_SAMPLE
from .projections import FrameMap
from .strategy_views import StrategiesSection, plan_strategies

__all__ = [
    "MAP_H",
    "MAP_W",
    "TIMELINE_W",
    "Circle",
    "Drawn",
    "FrameMapView",
    "MapView",
    "PageModel",
    "PairView",
    "Strip",
    "Thumb",
    "TimelineRow",
    "Trail",
    "plan_page",
]

PALETTE = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf "
    "#aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5 #c49c94 #f7b6d2 #c7c7c7 #dbdb8d #9edae5"
).split()
MAP_W, MAP_H, MAP_PAD = 720.0, 460.0, 12.0
TIMELINE_W = 640.0
SOURCE_ROWS = 500  # sources listed in the summary table
FRAME_MAP_POINTS = MAP_POINTS  # frames on the page's frame map: whole sequences, in selection order

_COUNT_LABELS = {
    "sources": "sources",
    "sources_corrupt": "corrupt sources",
    "frames": "frames",
    "frames_corrupt": "corrupt frames",
    "frames_duplicate": "duplicate frames (removed)",
    "frames_usable": "usable frames",
    "sequence_length": "frames per sequence",
    "sequences_complete": "complete sequences",
    "sequences_dropped_invalid": "sequences dropped (corrupt/duplicate frame)",
    "sequence_candidates": "candidate sequences",
    "candidate_frames": "candidate frames",
    "incomplete_tails": "incomplete tails dropped",
    "tail_frames_dropped": "frames in dropped tails",
    "selected_sequences": "selected sequences",
    "selected_frames": "selected frames",
}


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True, eq=False)
class Drawn:
    """What was computed and drawn before planning: the maps and the plots."""

    projections: dict[str, np.ndarray]  # name -> (len(layout.shown), 2) coordinates
    pca_variance_ratio: list[float]
    umap_note: str
    plot_names: list[str]  # under plots/
    timeline_png_sources: int
    distance_plots: tuple[str, str]  # data URIs of the before and after distance plots
    pool_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # layout.pool_shown on the PCA map
    pool_note: str = ""  # why the datapool is not on the map, when it is not
    frames: FrameMap | None = None  # the frame map (plots/scatter_pca.png); None: not drawn
    frames_note: str = ""  # why not
    training_plot: str = ""  # data URI of plots/training_loss.png ("": the run did not train)


@dataclass(frozen=True)
class Thumb:
    """One frame image on the page (``uri`` None: shown as "no image")."""

    key: str  # "source:index", as the page's script knows it
    index: int
    uri: str | None
    caption: str


@dataclass(frozen=True)
class Circle:
    """One map point: ``i`` is its position in the page's point list."""

    i: int
    x: float
    y: float
    selected: bool
    colour: str


@dataclass(frozen=True)
class MapView:
    name: str
    circles: tuple[Circle, ...]  # in drawing order: selected ones last, on top
    pool: tuple[tuple[float, float], ...] = ()  # datapool items (x, y), drawn under the selected points


@dataclass(frozen=True)
class Trail:
    """One selected sequence on the frame map: its frames' points in frame order, in SVG pixels."""

    rank: int
    colour: str
    points: tuple[tuple[float, float], ...]
    title: str


@dataclass(frozen=True)
class FrameMapView:
    """The frame map: the selected sequences' frames on the PCA of all candidate frames."""

    trails: tuple[Trail, ...]  # in selection order
    frames: int  # points drawn
    selected: int  # selected sequences
    length: int  # frames per sequence
    candidate_frames: int  # the frames the PCA is of
    ratio: tuple[float, float]  # their variance along each axis


@dataclass(frozen=True)
class SourceRow:
    name: str
    kind: str
    frames: int
    candidates: int
    selected: int
    problem: str


@dataclass(frozen=True)
class TimelineRow:
    """One source's bar; x positions are in pixels of a TIMELINE_W wide bar."""

    name: str
    frames: int
    selected: int
    colour: str
    candidate_runs: tuple[tuple[float, float], ...]  # (x, width)
    marks: tuple[tuple[float, float, str], ...]  # (x0, x1, title)
    cuts: tuple[tuple[float, str], ...] = ()  # sequence_boundaries=shots: (x, title) of each cut


@dataclass(frozen=True)
class Strip:
    rank: int
    label: str
    span: str
    times: str
    point: int | None  # map point of this candidate, if it is on the map
    frames: tuple[Thumb, ...]


@dataclass(frozen=True)
class ListedRow:
    rank: int
    source: str
    frames: str
    time: str


@dataclass(frozen=True)
class PairView:
    rank: int
    distance: float
    selected: Thumb
    neighbour: Thumb


@dataclass(frozen=True, eq=False)
class PageModel:
    """Everything report.html shows, ready to be written out."""

    summary: dict[str, Any]  # report.json's "page" (without html_bytes and build_sec)
    header: dict[str, Any]  # version, input_dir, output_dir, rebuilt, selected, candidates
    stopping: tuple[str, str]  # reason, message
    counts: tuple[tuple[str, Any], ...]  # (label, value)
    timings: tuple[tuple[str, float], ...]
    notes: tuple[str, ...]
    sources: tuple[SourceRow, ...]
    sources_more: int
    unit: str  # what one map point is
    maps: tuple[MapView, ...]
    legend: tuple[tuple[str, str], ...]  # (source name, colour)
    legend_more: int
    points: list[list[Any]]  # per map point: label, thumbnail key or "", rank, source
    hover_thumbs: dict[str, str]  # thumbnails only the hover tooltip shows
    source_names: list[str]
    coverage: Mapping[str, Any]  # report.json's metrics.coverage
    distance_plots: tuple[str, str]
    timeline: tuple[TimelineRow, ...]
    strips: tuple[Strip, ...]
    listed: tuple[ListedRow, ...]
    pairs: tuple[PairView, ...]
    config_text: str
    pool_legend: str = ""  # the map legend's datapool entry ("" without a datapool on the map)
    datapool: str = ""  # the header's line on the datapool ("" without one)
    strategies: StrategiesSection | None = None  # the "Selection strategies" section (None: no section)
    frame_map: FrameMapView | None = None  # the frame map (None: not drawn, the notes say why)
    training: Mapping[str, Any] | None = None  # report.json's training section (None: the run did not train)
    training_plot: str = ""  # its loss curve as a data URI


# ----------------------------------------------------------------------------- planning


def colour(src: int) -> str:
    return PALETTE[src % len(PALETTE)]


def _key(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


def _scale(xy: np.ndarray) -> np.ndarray:
    """Map coordinates into the SVG box (y upwards), each axis stretched to fill it."""
    out = np.zeros_like(xy, dtype=np.float64)
    for j, size in enumerate((MAP_W, MAP_H)):
        lo, hi = (float(xy[:, j].min()), float(xy[:, j].max())) if len(xy) else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        v = (xy[:, j] - lo) / span
        out[:, j] = MAP_PAD + (v if j == 0 else 1.0 - v) * (size - 2 * MAP_PAD)
    return out


def _map_view(name: str, xy: np.ndarray, inputs: ReportInputs, layout: Layout, pool_xy: np.ndarray) -> MapView:
    """One map; ``pool_xy`` (datapool items) share the box, so the candidates move over to make room."""
    pts = _scale(np.vstack([xy, pool_xy]) if len(pool_xy) else xy)
    pool = tuple((float(x), float(y)) for x, y in pts[len(xy) :])
    shown = layout.shown
    order = np.argsort(layout.rank[shown] > 0, kind="stable")  # selected drawn last, on top
    circles = []
    for i in order:
        cand = int(shown[i])
        circles.append(
            Circle(
                int(i),
                float(pts[i, 0]),
                float(pts[i, 1]),
                bool(layout.rank[cand] > 0),
                colour(int(inputs.source[cand])),
            )
        )
    return MapView(name, tuple(circles), pool)


def _frame_cut(frames: FrameMap, cap: int) -> int:
    """How many of the frame map's points to draw: whole sequences, in selection order, up to ``cap``."""
    if len(frames) <= cap:
        return len(frames)
    return int(np.searchsorted(frames.sequence, frames.sequence[cap], side="left"))


def _frame_map_view(inputs: ReportInputs, frames: FrameMap) -> FrameMapView:
    """The frame map's trails, one per selected sequence (its frames joined in order)."""
    end = _frame_cut(frames, FRAME_MAP_POINTS)
    pts, seq = _scale(frames.xy[:end]), frames.sequence[:end]
    bounds = np.r_[np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]]) if end else np.zeros(0, int), end]
    trails = []
    for a, b in itertools.pairwise(bounds.tolist()):
        cand = int(inputs.selected[int(seq[a])])
        missing = f" · {b - a} of its {inputs.length} frames have an embedding" if b - a < inputs.length else ""
        trails.append(
            Trail(
                rank=int(seq[a]) + 1,
                colour=colour(int(inputs.source[cand])),
                points=tuple((float(x), float(y)) for x, y in pts[a:b]),
                title=f"#{int(seq[a]) + 1} {inputs.label(cand)}{missing}",
            )
        )
    ratio = (float(frames.ratio[0]), float(frames.ratio[1]))
    return FrameMapView(tuple(trails), end, len(inputs.selected), inputs.length, frames.candidate_frames, ratio)


def _frame_parts(
    inputs: ReportInputs, drawn: Drawn, seed: int
) -> tuple[FrameMapView | None, dict[str, Any] | None, list[str]]:
    """The frame map's view, report.json's ``page.frame_map`` and its notes (what it leaves out, and why)."""
    frames = drawn.frames
    if frames is None:
        return None, None, [f"plots/scatter_pca.png and the frame map are not drawn: {drawn.frames_note}."]
    view = _frame_map_view(inputs, frames)
    k, length = len(inputs.selected), inputs.length
    notes = []
    if len(frames) < k * length:
        stride = int(inputs.report["config"].get("embedding_frame_stride") or 1)
        why = f" (embedding_frame_stride={stride})" if stride > 1 else ""
        notes.append(
            f"{k * length - len(frames):,} of the {k * length:,} selected frames have no embedding{why}: "
            "they are not on the frame map nor in plots/scatter_pca.png."
        )
    if frames.fit_frames < frames.candidate_frames:
        notes.append(
            f"The frame map's PCA is fitted on a random sample of {frames.fit_frames:,} of the "
            f"{frames.candidate_frames:,} candidate frames (seed {seed})."
        )
    if view.frames < len(frames):
        notes.append(
            f"The frame map shows the first {len(view.trails):,} of the {k:,} selected sequences "
            f"({view.frames:,} of {len(frames):,} frames)."
        )
    summary = {
        "points": view.frames,
        "frames": len(frames),
        "sequences": len(view.trails),
        "selected_sequences": k,
        "candidate_frames": frames.candidate_frames,
        "fit_frames": frames.fit_frames,
        "pca_variance_ratio": list(view.ratio),
    }
    return view, summary, notes


def _times(entry: dict[str, Any] | None) -> str:
    if not entry:
        return ""
    secs = [s for s in entry.get("frame_timestamps_sec") or [] if s is not None]
    if not secs:
        return ""
    if len(secs) == 1 or secs[0] == secs[-1]:
        return f" · {secs[0]:.2f} s"
    return f" · {secs[0]:.2f}–{secs[-1]:.2f} s"


def _candidate_runs(starts: list[int], length: int, px: float) -> tuple[tuple[float, float], ...]:
    """Candidate stretches of one source, merged where they touch, as (x, width) pixels."""
    runs: list[list[int]] = []
    for start in sorted(starts):
        if runs and start <= runs[-1][1]:
            runs[-1][1] = start + length
        else:
            runs.append([start, start + length])
    return tuple((a * px, max((b - a) * px, 0.5)) for a, b in runs)


def _marks(selected: list[tuple[int, int]], length: int, px: float) -> tuple[tuple[float, float, str], ...]:
    """Selected sequences of one source, merged where they touch at this resolution: (x0, x1, title)."""
    marks: list[list[Any]] = []
    for start, r in sorted(selected):
        x0, x1 = start * px, max((start + length) * px, start * px + 2.0)
        if marks and x0 <= marks[-1][1]:
            marks[-1][1] = max(marks[-1][1], x1)
            marks[-1][2].append((r, start))
        else:
            marks.append([x0, x1, [(r, start)]])
    out = []
    for x0, x1, items in marks:
        if len(items) == 1:
            r, start = items[0]
            title = f"#{r}: frames {start}–{start + length - 1}"
        else:
            title = f"{len(items)} selected sequences: frames {items[0][1]}–{items[-1][1] + length - 1}"
        out.append((x0, x1, title))
    return tuple(out)


def _timeline(inputs: ReportInputs, limit: int) -> tuple[TimelineRow, ...]:
    cand_by_src: dict[int, list[int]] = {}
    for c in range(len(inputs)):
        cand_by_src.setdefault(int(inputs.source[c]), []).append(int(inputs.start[c]))
    sel_by_src: dict[int, list[tuple[int, int]]] = {}
    for r, c in enumerate(inputs.selected, start=1):
        sel_by_src.setdefault(int(inputs.source[c]), []).append((int(inputs.start[c]), r))
    cuts_by_source = (inputs.report.get("shots") or {}).get("cuts_by_source", {})
    rows = []
    for s, entry in enumerate(inputs.report["sources"][:limit]):
        frames = max(int(entry["frames"]), 1)
        px = TIMELINE_W / frames
        cuts = cuts_by_source.get(entry["name"], [])
        rows.append(
            TimelineRow(
                name=entry["name"],
                frames=frames,
                selected=len(sel_by_src.get(s, [])),
                colour=colour(s),
                candidate_runs=_candidate_runs(cand_by_src.get(s, []), inputs.length, px),
                marks=_marks(sel_by_src.get(s, []), inputs.length, px),
                cuts=tuple((c * px, f"cut: shot {k} starts at frame {c}") for k, c in enumerate(cuts, start=1)),
            )
        )
    return tuple(rows)


def _thumb(used: Mapping[Key, str], key: Key, caption: str) -> Thumb:
    return Thumb(_key(key), key[1], used.get(key), caption)


def _strips(inputs: ReportInputs, layout: Layout, used: Mapping[Key, str]) -> tuple[Strip, ...]:
    seq_entries = inputs.report.get("sequences", [])
    point_of = {int(c): i for i, c in enumerate(layout.shown)}
    length = inputs.length
    strips = []
    for r, c in enumerate(layout.strip_cands, start=1):
        src, first = inputs.frame_key(c, 0)
        entry = seq_entries[r - 1] if r - 1 < len(seq_entries) else None
        strips.append(
            Strip(
                rank=r,
                label=inputs.names[c] if length == 1 else inputs.source_names[src],
                span=f"frame {first}" if length == 1 else f"frames {first}–{first + length - 1}",
                times=_times(entry),
                point=point_of.get(c),
                frames=tuple(_thumb(used, (src, first + p), f"{first + p}") for p in layout.positions),
            )
        )
    return tuple(strips)


def _listed(inputs: ReportInputs, layout: Layout, listed: int) -> tuple[ListedRow, ...]:
    """Selected sequences after the filmstrips, up to ``listed`` in all, without images."""
    seq_entries = inputs.report.get("sequences", [])
    rows = []
    for r in range(len(layout.strip_cands) + 1, min(len(inputs.selected), listed) + 1):
        c = int(inputs.selected[r - 1])
        src, first = inputs.frame_key(c, 0)
        entry = seq_entries[r - 1] if r - 1 < len(seq_entries) else None
        frames = f"{first}–{first + inputs.length - 1}"
        rows.append(ListedRow(r, inputs.source_names[src], frames, _times(entry).lstrip(" ·")))
    return tuple(rows)


def _pairs(inputs: ReportInputs, layout: Layout, used: Mapping[Key, str]) -> tuple[PairView, ...]:
    views = []
    for p in layout.pairs:
        a = _thumb(used, inputs.frame_key(p.selected, layout.mid), f"#{p.rank} {inputs.label(p.selected)}")
        b = _thumb(used, inputs.frame_key(p.neighbour, layout.mid), f"not selected: {inputs.label(p.neighbour)}")
        views.append(PairView(p.rank, p.distance, a, b))
    return tuple(views)


def _hover(inputs: ReportInputs, layout: Layout, used: Mapping[Key, str]) -> tuple[list[list[Any]], dict[str, str]]:
    """Per map point (label, thumbnail key, rank, source), and the thumbnails only hovering shows."""
    points = []
    for c in layout.shown:
        key = inputs.frame_key(int(c), layout.mid)
        points.append([inputs.label(int(c)), _key(key) if key in used else "", int(layout.rank[c]), key[0]])
    on_page = set(layout.strip_keys) | set(layout.pair_keys)
    return points, {_key(key): uri for key, uri in used.items() if key not in on_page}


def _sampling_notes(inputs: ReportInputs, layout: Layout, coverage: Mapping[str, Any]) -> list[str]:
    """What the map, the histograms and the filmstrips left out, and how they chose."""
    n, k, seed = len(inputs), len(inputs.selected), layout.seed
    notes = []
    if n > MAP_POINTS:
        notes.append(
            f"The map shows {len(layout.shown):,} of {n:,} candidates: all selected ones"
            f"{'' if k <= MAP_POINTS else f' (the first {MAP_POINTS:,} in selection order)'} "
            f"and a random sample (seed {seed}) of the others."
        )
    nn = coverage["nearest_neighbour"]
    for key, what in (("all", "candidates"), ("selected", "selected items")):
        if nn[key]["sampled"]:
            notes.append(
                f"Nearest-neighbour distances among {what} use a random sample of {nn[key]['queries']:,} "
                f"of the {nn[key]['points']:,} {what} (seed {seed}), each against all of them."
            )
    strips = len(layout.strip_cands)
    if k > strips:
        notes.append(
            f"Filmstrips are shown for the first {strips:,} of {k:,} selected sequences; "
            f"the next {max(0, min(k, LISTED) - strips):,} are listed without images"
            f"{'' if k <= LISTED else f'; all {k:,} are in data/sequence_information.json'}."
        )
    return notes


def _thumbnail_notes(inputs: ReportInputs, layout: Layout, hover_thumbs: int, budget_hit: bool) -> list[str]:
    notes = []
    if hover_thumbs < len(layout.shown):
        notes.append(
            f"{hover_thumbs:,} of the {len(layout.shown):,} map points show a thumbnail when hovered "
            f"(selected ones first, then a random sample, seed {layout.seed}); the others show their name only."
        )
    if budget_hit:
        notes.append(f"Some thumbnails were left out to keep the page under {THUMB_BUDGET_BYTES // 1_000_000} MB.")
    n_sources = len(inputs.report["sources"])
    if n_sources > TIMELINE_SOURCES:
        notes.append(f"The timeline shows the first {TIMELINE_SOURCES:,} of {n_sources:,} sources.")
    return notes


def _failure_notes(inputs: ReportInputs, thumbs: Thumbnails, reader_note: str, drawn: Drawn) -> list[str]:
    notes = [reader_note]
    if thumbs.failed:
        names = inputs.source_names
        notes.append(
            "No thumbnails for "
            + ", ".join(f"{names[s]} ({why})" for s, why in list(thumbs.failed.items())[:5])
            + ("" if len(thumbs.failed) <= 5 else f" and {len(thumbs.failed) - 5} more")
        )
    if "umap" not in drawn.projections:
        notes.append(f"UMAP map not drawn: {drawn.umap_note}.")
    return notes


def _summary(
    inputs: ReportInputs,
    layout: Layout,
    drawn: Drawn,
    thumbs: Thumbnails | None,
    thumb_numbers: dict[str, Any],
    rebuilt: bool,
) -> dict[str, Any]:
    """report.json's ``page``: what the page drew and sampled (notes are added by the caller)."""
    n, shown, n_sources = len(inputs), layout.shown, len(inputs.report["sources"])
    failed = {} if thumbs is None else thumbs.failed
    return {
        "rebuilt": rebuilt,
        "plots": [f"plots/{p}" for p in drawn.plot_names],
        "map": {
            "candidates": n,
            "points": len(shown),
            "selected_points": int(layout.is_selected[shown].sum()),
            "sampled": bool(len(shown) < n),
            "seed": layout.seed,
            "projections": list(drawn.projections),
            "pca_variance_ratio": drawn.pca_variance_ratio,
            "umap": drawn.umap_note,
            "hover_thumbnails": thumb_numbers["hover_thumbnails"],
        },
        "thumbnails": {
            "available": thumbs is not None,
            "count": thumb_numbers["count"],
            "bytes": thumb_numbers["bytes"],
            "size_px": THUMB_SIZE,
            "jpeg_quality": JPEG_QUALITY,
            "filmstrips": len(layout.strip_cands),
            "filmstrip_frame_offsets": list(layout.positions),
            "hover_only": thumb_numbers["hover_only"],
            "budget_bytes": THUMB_BUDGET_BYTES,
            "budget_reached": thumb_numbers["budget_reached"],
            "failed_sources": {inputs.source_names[s]: why for s, why in failed.items()},
        },
        "selected_listed": min(len(inputs.selected), LISTED),
        "timeline_sources": min(n_sources, TIMELINE_SOURCES),
        "timeline_png_sources": drawn.timeline_png_sources,
        "example_pairs": [
            {
                "rank": p.rank,
                "selected": inputs.label(p.selected),
                "neighbour": inputs.label(p.neighbour),
                "distance": p.distance,
            }
            for p in layout.pairs
        ],
        "limits": {
            "map_points": MAP_POINTS,
            "nn_sample": NN_SAMPLE,
            "filmstrips": FILMSTRIPS,
            "listed": LISTED,
            "hover_thumbnails": HOVER_THUMBS,
            "timeline_sources": TIMELINE_SOURCES,
            "thumbnail_budget_bytes": THUMB_BUDGET_BYTES,
        },
    }


def _thumbnail_numbers(
    inputs: ReportInputs, layout: Layout, used: Mapping[Key, str], total: int, hit: bool
) -> dict[str, Any]:
    on_map = {inputs.frame_key(int(c), layout.mid) for c in layout.shown}
    return {
        "count": len(used),
        "bytes": total,
        "hover_only": sum(1 for key in dict.fromkeys(layout.hover_keys) if key in used),
        "hover_thumbnails": len(on_map & set(used)),
        "budget_reached": hit,
    }


def _source_rows(report: Mapping[str, Any], counts: Sequence[SourceCounts]) -> tuple[SourceRow, ...]:
    return tuple(
        SourceRow(
            s["name"],
            s["kind"],
            s["frames"],
            counts[i].candidates if i < len(counts) else 0,
            counts[i].selected_sequences if i < len(counts) else 0,
            report.get("corrupt", {}).get(s["name"]) or report.get("left_out", {}).get(s["name"], ""),
        )
        for i, s in enumerate(report["sources"][:SOURCE_ROWS])
    )


@dataclass(frozen=True)
class _PoolParts:
    """What the page says about a datapool: notes, report.json's ``page.map.datapool``, legend, header."""

    notes: tuple[str, ...] = ()
    summary: Mapping[str, Any] | None = None
    legend: str = ""
    header: str = ""


def _pool_parts(inputs: ReportInputs, layout: Layout, drawn: Drawn) -> _PoolParts:
    """The datapool's items on the map (PCA only: UMAP is fitted on this run's candidates) and in the header."""
    entry = inputs.report.get("datapool")
    total, on_map = inputs.pool_count, len(drawn.pool_xy)
    if not isinstance(entry, Mapping) and not total:
        return _PoolParts()
    notes = [drawn.pool_note]
    if on_map < total and not drawn.pool_note:
        notes.append(f"The map shows {on_map:,} of the {total:,} datapool items: a random sample (seed {layout.seed}).")
    if on_map and "umap" in drawn.projections:
        notes.append("Datapool items are drawn on the PCA map only (UMAP is fitted on this run's candidates).")
    header = ""
    if isinstance(entry, Mapping):
        before, new = int(entry.get("items_before", total)), int(entry.get("new_items", len(inputs.selected)))
        header = (
            f"Datapool {entry.get('folder', '')}: {before:,} earlier picks in the datapool, {new:,} new "
            f"({int(entry.get('items_after', before + new)):,} after this run)"
        )
    capped = f" ({on_map:,} drawn)" if on_map < total else ""
    return _PoolParts(
        notes=tuple(n for n in notes if n),
        summary={"items": total, "points": on_map, "sampled": bool(on_map < total)},
        legend=f"datapool (earlier runs): {total:,}{capped}" if on_map else "",
        header=header,
    )


def plan_page(
    inputs: ReportInputs,
    layout: Layout,
    drawn: Drawn,
    thumbs: Thumbnails | None,
    reader_note: str,
    rebuilt: bool,
    coverage: Mapping[str, Any],
    source_counts: Sequence[SourceCounts] = (),
) -> PageModel:
    """The whole page as data. ``coverage``: the report's coverage numbers (report.json's
    ``metrics.coverage``); ``source_counts``: each source's candidates and selected sequences;
    ``thumbs`` is None when the sources could not be read at all."""
    report = inputs.report
    got = thumbs if thumbs is not None else Thumbnails()
    used, total, budget_hit = allocate_thumbnails(layout, got.uris)
    numbers = _thumbnail_numbers(inputs, layout, used, total, budget_hit)
    pool = _pool_parts(inputs, layout, drawn)
    frame_map, frame_summary, frame_notes = _frame_parts(inputs, drawn, layout.seed)
    notes = (
        _sampling_notes(inputs, layout, coverage)
        + frame_notes
        + _thumbnail_notes(inputs, layout, numbers["hover_thumbnails"], budget_hit)
        + _failure_notes(inputs, got, reader_note, drawn)
        + list(pool.notes)
    )
    summary = _summary(inputs, layout, drawn, thumbs, numbers, rebuilt) | {"notes": [n for n in notes if n]}
    summary["frame_map"] = frame_summary
    if pool.summary is not None:
        summary["map"]["datapool"] = dict(pool.summary)
    strategies = plan_strategies(report)
    if strategies is not None:
        summary["strategies"] = len(strategies.strategies)
    points, hover_thumbs = _hover(inputs, layout, used)
    present = sorted({int(s) for s in inputs.source[layout.shown]})
    counts = report["counts"]
    return PageModel(
        summary=summary,
        header={
            "version": str(report.get("framepick_version", "")),
            "input_dir": str(report.get("input_dir", "")),
            "output_dir": str(report.get("output_dir", "")),
            "rebuilt": rebuilt,
            "selected": counts["selected_sequences"],
            "candidates": counts["sequence_candidates"],
        },
        stopping=(report["stopping"]["reason"], report["stopping"]["message"]),
        counts=tuple((_COUNT_LABELS.get(key, key), value) for key, value in counts.items()),
        timings=tuple((stage, float(sec)) for stage, sec in report.get("timings_sec", {}).items()),
        notes=tuple(summary["notes"]),
        sources=_source_rows(report, source_counts),
        sources_more=max(0, len(report["sources"]) - SOURCE_ROWS),
        unit="frame" if inputs.length == 1 else f"sequence of {inputs.length} frames",
        maps=tuple(
            _map_view(name, xy, inputs, layout, drawn.pool_xy if name == "pca" else drawn.pool_xy[:0])
            for name, xy in drawn.projections.items()
        ),
        legend=tuple((inputs.source_names[s], colour(s)) for s in present[:30]),
        legend_more=max(0, len(present) - 30),
        points=points,
        hover_thumbs=hover_thumbs,
        source_names=inputs.source_names,
        coverage=coverage,
        distance_plots=drawn.distance_plots,
        timeline=_timeline(inputs, summary["timeline_sources"]),
        strips=_strips(inputs, layout, used),
        listed=_listed(inputs, layout, summary["selected_listed"]),
        pairs=_pairs(inputs, layout, used),
        config_text=yaml.safe_dump(report["config"], sort_keys=False, allow_unicode=True),
        pool_legend=pool.legend,
        datapool=pool.header,
        strategies=strategies,
        frame_map=frame_map,
        training=report.get("training"),
        training_plot=drawn.training_plot,
    )
