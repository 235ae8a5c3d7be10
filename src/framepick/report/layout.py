"""What the page will show, decided before anything is read or drawn (pure; no I/O).

:func:`plan_layout` picks the map's points, the filmstrips, the example pairs and the frames
whose thumbnails are wanted, in priority order; :func:`allocate_thumbnails` then keeps the
thumbnails that fit the page's byte budget. Keeping this apart from the reading and drawing
makes the bounds (:data:`MAP_POINTS`, :data:`FILMSTRIPS`, ...) testable without a video.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .._linalg import nearest_rows
from .data import ReportInputs

__all__ = [
    "FILMSTRIPS",
    "FILMSTRIP_FRAMES",
    "HOVER_THUMBS",
    "LISTED",
    "MAP_POINTS",
    "PAIRS",
    "THUMB_BUDGET_BYTES",
    "TIMELINE_SOURCES",
    "Layout",
    "Pair",
    "allocate_thumbnails",
    "plan_layout",
    "pool_sample",
]

# Bounds that keep report.html small (well under 20 MB) for runs of 100,000+ frames.
MAP_POINTS = 20_000  # points on the interactive map: all selected first, then a seeded sample
FILMSTRIPS = 200  # selected sequences shown as filmstrips (in selection order)
FILMSTRIP_FRAMES = 5  # frames per filmstrip: evenly spaced, first and last included
LISTED = 2_000  # selected sequences listed on the page in all (filmstrips included)
HOVER_THUMBS = 1_500  # further map points that carry a hover thumbnail
PAIRS = 6  # example pairs: selected item next to its nearest non-selected candidate
TIMELINE_SOURCES = 200  # sources drawn in the page's timeline
THUMB_BUDGET_BYTES = 12_000_000  # all thumbnails together, as data URIs

Key = tuple[int, int]  # (source, frame index): how thumbnails are keyed


@dataclass(frozen=True)
class Pair:
    """A selected candidate next to its nearest candidate that was not selected."""

    rank: int
    selected: int  # candidate index
    neighbour: int  # candidate index
    distance: float


@dataclass(frozen=True, eq=False)
class Layout:
    """The page's choices of what to show; candidate indices throughout."""

    seed: int
    rank: np.ndarray  # (M,) selection rank from 1, 0 when not selected
    shown: np.ndarray  # candidates on the map, ascending
    strip_cands: tuple[int, ...]  # candidates shown as filmstrips, in selection order
    positions: tuple[int, ...]  # frame offsets in a filmstrip
    mid: int  # the offset of the frame that stands for a sequence (pairs, hover)
    pairs: tuple[Pair, ...]
    strip_keys: tuple[Key, ...]
    pair_keys: tuple[Key, ...]
    hover_keys: tuple[Key, ...]
    pool_shown: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # datapool rows on the map

    @property
    def is_selected(self) -> np.ndarray:
        return self.rank > 0

    def wanted_keys(self) -> tuple[Key, ...]:
        """Every wanted thumbnail in priority order (filmstrips, pairs, hover), without repeats."""
        return tuple(dict.fromkeys(self.strip_keys + self.pair_keys + self.hover_keys))

    def wanted(self) -> dict[int, set[int]]:
        """The wanted frames by source: what the thumbnail reader is asked for."""
        out: dict[int, set[int]] = {}
        for src, index in self.wanted_keys():
            out.setdefault(src, set()).add(index)
        return out


def filmstrip_positions(length: int) -> list[int]:
    """Frame offsets shown in a filmstrip: evenly spaced, first and last included."""
    count = min(length, FILMSTRIP_FRAMES)
    return sorted({round(v) for v in np.linspace(0, length - 1, count)})


def map_sample(inputs: ReportInputs, is_selected: np.ndarray, seed: int) -> np.ndarray:
    """Every candidate up to MAP_POINTS; beyond, the selected ones (selection order first) and a sample."""
    n = len(inputs)
    if n <= MAP_POINTS:
        return np.arange(n)
    sel_part = inputs.selected[:MAP_POINTS]
    rest = np.flatnonzero(~is_selected)
    fill = MAP_POINTS - len(sel_part)
    extra = np.random.default_rng(seed).choice(rest, min(fill, len(rest)), replace=False) if fill > 0 else rest[:0]
    return np.sort(np.concatenate([sel_part, np.asarray(extra, np.int64)]))


def pool_sample(count: int, seed: int) -> np.ndarray:
    """Datapool items drawn on the map: all up to MAP_POINTS, beyond that a seeded sample, so a
    pool grown over many runs cannot bury the candidates nor swell the page."""
    if count <= MAP_POINTS:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, MAP_POINTS, replace=False))


def example_pairs(inputs: ReportInputs, rank: np.ndarray) -> tuple[Pair, ...]:
    """The first selected items next to their nearest non-selected candidate."""
    others = np.flatnonzero(rank == 0)
    firsts = inputs.selected[:PAIRS] if len(others) else inputs.selected[:0]
    if not len(firsts):
        return ()
    near, dist = nearest_rows(inputs.embeddings[firsts], inputs.embeddings[others])
    return tuple(Pair(int(rank[cand]), int(cand), int(others[j]), float(d)) for cand, j, d in zip(firsts, near, dist))


def _hover_candidates(
    inputs: ReportInputs, rank: np.ndarray, shown: np.ndarray, strips: set[int], seed: int
) -> list[int]:
    """Map points that get a hover thumbnail: selected ones without a filmstrip, then a seeded sample."""
    shown_set = set(shown.tolist())
    pool = [int(c) for c in inputs.selected if int(c) not in strips and int(c) in shown_set]
    rest_shown = shown[rank[shown] == 0]
    order = np.random.default_rng(seed).permutation(len(rest_shown))[:HOVER_THUMBS]
    return (pool + [int(rest_shown[i]) for i in order])[:HOVER_THUMBS]


def plan_layout(inputs: ReportInputs, seed: int) -> Layout:
    """Decide what the page shows; the thumbnails wanted come in priority order."""
    k = len(inputs.selected)
    rank = np.zeros(len(inputs), np.int64)
    rank[inputs.selected] = np.arange(1, k + 1)
    shown = map_sample(inputs, rank > 0, seed)
    positions = filmstrip_positions(inputs.length)
    mid = positions[len(positions) // 2]
    strip_cands = tuple(int(c) for c in inputs.selected[:FILMSTRIPS])
    pairs = example_pairs(inputs, rank)
    hover = _hover_candidates(inputs, rank, shown, set(strip_cands), seed)
    return Layout(
        seed=seed,
        rank=rank,
        shown=shown,
        strip_cands=strip_cands,
        positions=tuple(positions),
        mid=mid,
        pairs=pairs,
        strip_keys=tuple(inputs.frame_key(c, p) for c in strip_cands for p in positions),
        pair_keys=tuple(inputs.frame_key(c, mid) for p in pairs for c in (p.selected, p.neighbour)),
        hover_keys=tuple(inputs.frame_key(c, mid) for c in hover),
        pool_shown=pool_sample(inputs.pool_count, seed),
    )


def allocate_thumbnails(layout: Layout, uris: Mapping[Key, str]) -> tuple[dict[Key, str], int, bool]:
    """The thumbnails the page carries, in priority order within THUMB_BUDGET_BYTES.

    Returns (thumbnail by key, their bytes, whether some were left out for the budget).
    """
    used: dict[Key, str] = {}
    total = 0
    budget_hit = False
    for key in layout.wanted_keys():
        uri = uris.get(key)
        if uri is None:
            continue
        if total + len(uri) > THUMB_BUDGET_BYTES:
            budget_hit = True
            continue
        used[key] = uri
        total += len(uri)
    return used, total, budget_hit
