"""Shots: where each source cuts, found from the frames' embeddings (``sequence_boundaries=shots``).

A cut between frames ``i-1`` and ``i`` is a large step in embedding space: the cosine
distance between their embeddings (the *score*) is far above the scores around it. The rule
follows the idea of PySceneDetect's adaptive detector, which works on pixel differences: a
frame's score is compared with the mean score of its ``window`` neighbours on each side
(the *ratio*), so that motion, which raises every score of a stretch, is not read as a cut,
while a minimum score keeps a still scene's noise from being one. A step above
``hard_score`` is a cut whatever its neighbours: back-to-back cuts (a slideshow) raise the
neighbours' mean as much as the cut itself.

Detection runs on the driver over the gathered embeddings of a whole source, so every
executor (local, Ray in chunks, the cache) gives the same shots, and the cache keeps all it
needs: changing ``sequence_boundaries`` decodes nothing again. It needs every decoded frame's
embedding (``embedding_frame_stride=1``, which the configuration enforces); frames that did
not decode are skipped (the step is taken to the next decoded frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._linalg import row_blocks

__all__ = ["CutRule", "Shots", "cut_scores", "detect_shots", "find_cuts", "match_cuts"]


@dataclass(frozen=True)
class CutRule:
    """When a step between two consecutive frames is a cut (see the module's docstring).

    The defaults were set on the built-in model (efficientnet-lite0, L2-normalised) and the
    generated footage of benchmarks/bench_shots.py: within a shot the median step is about
    0.03 and the largest seen 0.22, cuts are 0.5 to 0.85 with a ratio of 5.7 or more, and
    PySceneDetect's ratio of 3 let through motion steps of ratio 3 to 3.8 (docs/shots.md).
    """

    window: int = 2  # neighbours on each side whose mean score a step is compared with
    ratio: float = 5.0  # a cut's score is at least this many times its neighbours' mean ...
    min_score: float = 0.05  # ... and at least this (cosine distance)
    hard_score: float = 0.4  # a step this large is a cut whatever its neighbours

    def to_json(self) -> dict[str, float]:
        return {"window": self.window, "ratio": self.ratio, "min_score": self.min_score, "hard_score": self.hard_score}


@dataclass(frozen=True)
class Shots:
    """The shots of a run's sources, in table order: row ``j`` is one shot.

    ``shot`` counts from 0 within each source; ``score``/``ratio`` are those of the cut that
    starts the shot (NaN for a source's first shot).
    """

    source: np.ndarray  # int32 (S,)
    shot: np.ndarray  # int32 (S,)
    first: np.ndarray  # int32 (S,), frame index of the first frame
    last: np.ndarray  # int32 (S,), frame index of the last frame
    score: np.ndarray  # float64 (S,)
    ratio: np.ndarray  # float64 (S,)
    frame_shot: np.ndarray  # int32 (N,): every frame-table row's shot within its source

    def __len__(self) -> int:
        return len(self.source)

    @property
    def frames(self) -> np.ndarray:
        """Each shot's length in frames (``last - first + 1``)."""
        return self.last - self.first + 1

    def cuts_of(self, source: int) -> list[int]:
        """The first frame of every shot of ``source`` but its first."""
        mine = (self.source == source) & (self.shot > 0)
        return [int(f) for f in self.first[mine]]

    def cuts(self) -> dict[int, list[int]]:
        """{source: its cuts (as :meth:`cuts_of`)} for every source with a cut, in one pass."""
        out: dict[int, list[int]] = {}
        for source, first in zip(self.source[self.shot > 0].tolist(), self.first[self.shot > 0].tolist()):
            out.setdefault(source, []).append(first)
        return out

    def longest(self) -> dict[int, int]:
        """{source: frames in its longest shot} for every source with a frame."""
        out: dict[int, int] = {}
        for source, frames in zip(self.source.tolist(), self.frames.tolist()):
            out[source] = max(out.get(source, 0), frames)
        return out


def cut_scores(source: np.ndarray, embeddings: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Per frame-table row, the cosine distance of its embedding to the previous decoded frame's
    of the same source (NaN for a source's first decoded frame and for undecoded frames).

    Computed in row blocks: no second (N, D) array.
    """
    n = len(source)
    scores = np.full(n, np.nan)
    rows = np.flatnonzero(decoded)
    if len(rows) < 2:
        return scores
    later = rows[1:][source[rows[1:]] == source[rows[:-1]]]  # a decoded frame with one before it
    before = rows[np.searchsorted(rows, later) - 1]
    for block in row_blocks(len(later)):
        a = np.asarray(embeddings[before[block]], np.float64)
        b = np.asarray(embeddings[later[block]], np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        dots = np.einsum("ij,ij->i", a, b)
        cosine = np.divide(dots, norms, out=np.ones_like(dots), where=norms > 0)
        scores[later[block]] = 1.0 - np.clip(cosine, -1.0, 1.0)
    return scores


def find_cuts(scores: np.ndarray, rule: CutRule) -> tuple[np.ndarray, np.ndarray]:
    """Which steps of one source are cuts, and each step's ratio to its neighbours' mean.

    ``scores`` are one source's steps in frame order (NaN where there is no step); the
    neighbours of a step are the ``rule.window`` steps on each side that exist.
    """
    n = len(scores)
    valid = ~np.isnan(scores)
    value = np.where(valid, scores, 0.0)
    # sums and counts over [i-w, i+w] by prefix sums, minus the step itself
    w = rule.window
    csum = np.r_[0.0, np.cumsum(value)]
    ccount = np.r_[0, np.cumsum(valid)]
    lo = np.clip(np.arange(n) - w, 0, n)
    hi = np.clip(np.arange(n) + w + 1, 0, n)
    total = csum[hi] - csum[lo] - value
    count = ccount[hi] - ccount[lo] - valid
    mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
    ratio = np.divide(value, mean, out=np.full(n, np.inf), where=mean > 0)
    ratio[~valid] = np.nan
    with np.errstate(invalid="ignore"):
        cut = valid & (value >= rule.min_score) & ((ratio >= rule.ratio) | (value >= rule.hard_score))
    return cut, ratio


def detect_shots(
    source: np.ndarray,
    index: np.ndarray,
    embeddings: np.ndarray,
    decoded: np.ndarray,
    rule: CutRule | None = None,
) -> Shots:
    """Split every source into shots at the cuts :func:`find_cuts` finds.

    ``source``/``index``/``decoded``/``embeddings`` are frame-table columns (each source's
    frames contiguous, index 0..n-1). A source without a cut is one shot.
    """
    rule = rule or CutRule()
    scores = cut_scores(source, embeddings, decoded)
    starts = np.r_[0, np.flatnonzero(np.diff(source)) + 1] if len(source) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(source)]
    cut = np.zeros(len(source), bool)
    ratio = np.full(len(source), np.nan)
    for begin, end in zip(starts, ends):
        cut[begin:end], ratio[begin:end] = find_cuts(scores[begin:end], rule)
    first_row = cut.copy()
    first_row[starts] = True
    shot_start = np.flatnonzero(first_row)
    frame_shot = (np.cumsum(first_row) - 1).astype(np.int64)
    # per-source numbering: subtract the global number of the source's first shot
    frame_shot -= frame_shot[starts][np.searchsorted(starts, np.arange(len(source)), side="right") - 1]
    last_row = np.r_[shot_start[1:], len(source)] - 1
    return Shots(
        source=source[shot_start].astype(np.int32),
        shot=frame_shot[shot_start].astype(np.int32),
        first=index[shot_start].astype(np.int32),
        last=index[last_row].astype(np.int32),
        score=np.where(cut[shot_start], scores[shot_start], np.nan),
        ratio=np.where(cut[shot_start], ratio[shot_start], np.nan),
        frame_shot=frame_shot.astype(np.int32),
    )


def match_cuts(found: list[int], truth: list[int], tolerance: int = 1) -> tuple[float, float]:
    """(precision, recall) of ``found`` cuts against ``truth``: a found cut is right when a true
    cut lies within ``tolerance`` frames and no other found cut took it (matched in order).

    With nothing to find, recall is 1; with nothing found, precision is 1.
    """
    taken: set[int] = set()
    hits = 0
    truth = sorted(truth)
    for cut in sorted(found):
        match = next((t for t in truth if abs(t - cut) <= tolerance and t not in taken), None)
        if match is not None:
            taken.add(match)
            hits += 1
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    return precision, recall
