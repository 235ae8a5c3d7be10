"""Stage 6: choose a diverse subset of sequence embeddings.

:func:`select` is the validated public entry point; :func:`kcenter_greedy` and
:func:`random_order` are the unvalidated kernels. Both keep only a running vector of each
point's distance to its nearest selected point (O(N) memory, never an N×N or k×N matrix).

:func:`prepare` (the checks, the target count, the seeded draws, the PCA step) and
:func:`stop_reason` are shared with the selection by strategies
(:func:`framepick.strategies.select_with_strategies`), so both paths start and stop by
the same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._kcenter import kcenter_fast
from ._linalg import Pca, fit_pca, min_sq_distances, row_blocks
from .config import StoppingCondition, check_stopping, validate_key
from .errors import NoCandidatesError, SelectionError

# selection_dim=auto: full dimension up to this many candidates, AUTO_DIM components above
AUTO_FULL_MAX = 50_000
AUTO_DIM = 64

__all__ = [
    "AUTO_DIM",
    "AUTO_FULL_MAX",
    "Prepared",
    "Selection",
    "covering_radius",
    "kcenter_greedy",
    "prepare",
    "random_order",
    "reduce_dim",
    "resolve_selection_dim",
    "select",
    "stop_reason",
    "target_count",
]


@dataclass
class Selection:
    """Selected rows in selection order, and why selection stopped."""

    indices: np.ndarray  # int64, rows of the input, in the order they were picked
    radii: np.ndarray  # float64, covering radius after each pick
    stop_reason: str  # "n_samples", "min_distance" or "all_candidates"
    requested: int | None  # sequences asked for by n_samples (None: unbounded)
    dim: int  # dimension selection ran in (radii are distances in that space)
    initial_radius: float = math.inf  # before the first pick: inf, or the datapool's covering radius
    min_distance: float | None = None  # the stop distance it ran with (DIVERSITY's own wins); None: off

    @property
    def radius(self) -> float:
        """Largest distance from any input point to its nearest selected point (datapool items included)."""
        return float(self.radii[-1]) if len(self.radii) else self.initial_radius


def target_count(n_samples: int | float | None, length: int, n_candidates: int) -> int | None:
    """Sequences to select for ``n_samples`` frames, before capping.

    An integer is a frame count (a multiple of ``length``); a fraction of the candidate
    frames is rounded up to a whole number of sequences; None (off) means no count limit.
    """
    if n_samples is None:
        return None
    if isinstance(n_samples, float):
        frames = math.ceil(n_samples * n_candidates * length - 1e-9)
        return max(1, math.ceil(frames / length))
    return int(n_samples) // length


def kcenter_greedy(
    x: np.ndarray, k: int, first: int = 0, min_distance: float | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Greedy farthest-point selection (2-approximate k-center).

    Starts at ``first``; each next point is the one farthest from the selection (lowest
    index on ties); ``min_distance`` None (or <= 0) is off. Returns (indices, covering
    radius after each pick, stopped by ``min_distance``). Runs the pruned kernel
    :func:`framepick._kcenter.kcenter_fast`, which returns exactly what the plain reference
    :func:`framepick._kcenter.kcenter_reference` does.
    """
    return kcenter_fast(x, k, first, _threshold(min_distance))


def random_order(
    x: np.ndarray, k: int, seed: int = 0, min_distance: float | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Uniform random selection in a seeded order, tracking the covering radius the same way."""
    order = np.random.default_rng(seed).permutation(len(x))
    return kcenter_fast(x, k, min_distance=_threshold(min_distance), order=order)


def _threshold(min_distance: float | None) -> float:
    """The kernels' spelling of ``min_distance``: any value <= 0 is off."""
    return -1.0 if min_distance is None else float(min_distance)


def resolve_selection_dim(selection_dim: int | str, n_candidates: int) -> int:
    """``auto`` -> -1 (full) up to :data:`AUTO_FULL_MAX` candidates, else :data:`AUTO_DIM`."""
    if selection_dim == "auto":
        return -1 if n_candidates <= AUTO_FULL_MAX else AUTO_DIM
    return int(selection_dim)


def reduce_dim(
    x: np.ndarray, dim: int, seed: int = 0, sample: int = 8192, rows: np.ndarray | None = None
) -> np.ndarray:
    """Project rows (``x[rows]``, without copying ``x``) onto their top ``dim`` principal
    components (float32).

    The components are fitted on a seeded sample of at most ``sample`` rows, so the cost is
    O(sample·D²) + O(N·D·dim) whatever N is. ``dim <= 0`` or ``dim >= D`` returns the rows.
    """
    x = np.asarray(x, dtype=np.float32)
    pca = _fit(x, dim, seed, sample, rows)
    if pca is None:
        return x if rows is None else x[np.asarray(rows)]
    return pca.transform(x, None if rows is None else np.asarray(rows), dtype=np.float32)


def _fit(x: np.ndarray, dim: int, seed: int, sample: int = 8192, rows: np.ndarray | None = None) -> Pca | None:
    """The ``dim`` principal components of ``x[rows]``; None when ``dim`` asks for no reduction."""
    n, d = (len(x) if rows is None else len(rows)), x.shape[1]
    if dim <= 0 or dim >= d or n <= 1:
        return None
    # The D×D covariance solver and float32 projection: the selection stays bit-identical to
    # what it was before the PCA moved to framepick._linalg.
    return fit_pca(x, dim, sample=sample, seed=seed, rows=rows, center="sample", solver="covariance")


def covering_radius(x: np.ndarray, selected: np.ndarray) -> float:
    """Largest distance from a row of ``x`` to its nearest row in ``selected`` (blocked, O(N) memory)."""
    if len(selected) == 0:
        return math.inf
    if len(x) == 0:
        return 0.0
    return math.sqrt(float(min_sq_distances(x, x[np.asarray(selected)]).max()))


def select(
    embeddings: np.ndarray,
    n_samples: int | float | None = None,
    min_distance: float | None = None,
    method: str = "coreset",
    length: int = 1,
    seed: int = 0,
    selection_dim: int | str = -1,
) -> Selection:
    """Select sequences by ``method`` until ``n_samples`` frames or ``min_distance`` is reached.

    ``embeddings`` has one row per candidate sequence; ``n_samples`` counts frames, so an
    integer must be a multiple of ``length``; None (or Lightly's -1) is off, for either
    condition. Selecting more than there are candidates selects all of them
    (``stop_reason == "all_candidates"``). ``selection_dim > 0`` selects in that many
    principal components (:func:`reduce_dim`; ``"auto"``: see :func:`resolve_selection_dim`);
    radii are then in that space.

    This is a public entry point, so it checks its settings with the configuration's own
    rules (the same :class:`~framepick.ConfigError` messages; a :class:`~framepick.Config`'s
    values always pass) and its embeddings (:class:`~framepick.SelectionError`).
    """
    stop = StoppingCondition(n_samples=n_samples, min_distance=min_distance)
    method = validate_key("method", method)
    length = validate_key("selected_sequence_length", length)
    seed = validate_key("seed", seed)
    selection_dim = validate_key("selection_dim", selection_dim)
    check_stopping(stop, length)
    n_samples, min_distance = stop.n_samples, stop.min_distance
    prep = prepare(embeddings, n_samples, length, seed, selection_dim)
    n = len(prep.x)
    k = prep.count(n)
    x, _ = prep.space()
    if method == "coreset":
        indices, radii, by_distance = kcenter_greedy(x, k, prep.first(), min_distance)
    else:
        indices, radii, by_distance = random_order(x, k, int(prep.rng.integers(2**32)), min_distance)
    reason = stop_reason(by_distance, len(indices), n)
    return Selection(
        indices.astype(np.int64),
        radii.astype(np.float64),
        reason,
        prep.requested,
        int(x.shape[1]),
        min_distance=min_distance,
    )


@dataclass(eq=False)
class Prepared:
    """Checked candidates, and what every selection path draws from them, in one order:
    the target count, the seeded generator (the first pick is its first draw), the PCA step."""

    x: np.ndarray  # (N, D) float32, C-contiguous: the candidates, full dimension
    requested: int | None  # sequences asked for by n_samples (None: unbounded)
    rng: np.random.Generator
    dim: int  # the resolved selection_dim: <= 0 is the full dimension
    seed: int

    def count(self, n_open: int) -> int:
        """Sequences to pick from ``n_open`` candidates that may be picked."""
        return n_open if self.requested is None else min(self.requested, n_open)

    def space(self, pool: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The candidates (and ``pool``, in the same axes) in the space selection runs in:
        ``dim`` principal components fitted on the candidates, or as they are."""
        pca = _fit(self.x, self.dim, self.seed)
        if pca is None:
            return self.x, pool
        reduced_pool = None if pool is None else pca.transform(pool, None, dtype=np.float32)
        return pca.transform(self.x, None, dtype=np.float32), reduced_pool

    def first(self, allowed: np.ndarray | None = None) -> int:
        """The seeded first pick; where it is not ``allowed``, a seeded draw among the allowed."""
        first = int(self.rng.integers(len(self.x)))
        if allowed is not None and not allowed[first]:
            choices = np.flatnonzero(allowed)
            first = int(choices[self.rng.integers(len(choices))])
        return first


def prepare(
    embeddings: np.ndarray, n_samples: int | float | None, length: int, seed: int, selection_dim: int | str
) -> Prepared:
    """The candidates checked (2-D, finite, at least one) and the selection's common start,
    from validated settings."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise SelectionError(f"embeddings must be 2-D, got shape {x.shape}")
    if not all(np.isfinite(x[rows]).all() for rows in row_blocks(len(x))):
        raise SelectionError("embeddings contain NaN or infinite values")
    n = len(x)
    if n == 0:
        raise NoCandidatesError(
            "no candidate sequence: every source is shorter than selected_sequence_length "
            "or every sequence holds a corrupt or duplicate frame; lower selected_sequence_length"
        )
    requested = target_count(n_samples, length, n)
    return Prepared(x, requested, np.random.default_rng(seed), resolve_selection_dim(selection_dim, n), seed)


def stop_reason(by_distance: bool, n_picked: int, n_open: int) -> str:
    """Why selection stopped: ``min_distance`` (the kernel said so), ``all_candidates`` (every
    candidate that may be picked is: no more were left, whatever was asked for) or
    ``n_samples``. A kernel picks at most :meth:`Prepared.count` of the ``n_open``."""
    if by_distance:
        return "min_distance"
    return "all_candidates" if n_picked == n_open else "n_samples"
