"""Stage 6 with Lightly's selection strategies: frame values, sequence rules and the combined pick.

The configuration names are Lightly's (``selection.strategies``: ``{input: ..., strategy: ...}``).
How they combine, as Lightly documents it: every THRESHOLD filters first; then one greedy
loop picks, each time, the candidate with the highest product of each strategy's objective
raised to its strength (:func:`framepick._strategies.combined_greedy`):

* DIVERSITY: the distance to the selection (the datapool's items included);
* WEIGHTS: the value;
* SIMILARITY: the closeness to the nearest query, ``1 / (1 + distance)``;
* BALANCE: 1 for candidates of the value furthest below its target share, else 0.

Candidates are sequences. A sequence's number is the mean of its frames' values; a
THRESHOLD keeps a sequence only if *every* frame passes; a categorical value is the value most
of its frames have (ties: the earliest frame's). A frame without a value leaves its sequence
out of the selection whenever a strategy reads that key, and those are counted.

What each type does is its class's (:mod:`framepick.strategy_types`); this module runs them:
it reads the value files (:mod:`framepick.values`), combines the strategies' terms into the
kernel's inputs (:class:`Plan`), and starts and stops the selection as :func:`~framepick.select.select`
does (:func:`~framepick.select.prepare`, :func:`~framepick.select.stop_reason`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._linalg import min_sq_distances
from ._log import logger
from ._strategies import Balance as Indicator
from ._strategies import combined_greedy
from .discover import scan_input
from .embed import Embedder, embed_sources
from .embeddings_csv import read_embeddings_csv
from .errors import ConfigError, NoCandidatesError
from .select import Selection, prepare, stop_reason
from .sequences import Sequences
from .strategy_types import DEFAULT_STRATEGIES, Picked, PlanInputs, Similarity, Strategy, Term
from .values import BUILTIN_METADATA, Column, FrameValues, read_value_csv, read_value_file

__all__ = [
    "Column",
    "FrameValues",
    "Plan",
    "StrategyOutcome",
    "check_value_files",
    "frame_values",
    "query_embeddings",
    "read_value_csv",
    "select_with_strategies",
]


def check_value_files(strategies: Sequence[Strategy] | None, metadata: str | None, scores: str | None) -> None:
    """Before any decoding: each strategy's column in its value file (:meth:`Strategy.check_file`);
    each file is read once, by the reader the run uses (:func:`framepick.values.read_value_file`)."""
    files = {"metadata": metadata, "scores": scores}
    tables: dict[str, dict[str, Column]] = {}
    for strategy in strategies or ():
        kind = strategy.input.kind.file
        path = None if kind is None else files.get(kind)
        if kind is None or path is None:
            continue
        if kind not in tables:
            tables[kind] = read_value_file(path, kind).columns()
        strategy.check_file(tables[kind], path)


def frame_values(
    names: Sequence[str],
    video_names: Sequence[str],
    builtin: np.ndarray,
    metadata: str | None = None,
    scores: str | None = None,
) -> FrameValues:
    """The built-in keys (``builtin``: (N, 3) sharpness, luminance, contrast) and the CSV columns."""
    values = FrameValues()
    for j, key in enumerate(BUILTIN_METADATA[:3]):
        values.metadata[key] = Column.from_numbers(builtin[:, j])
    values.metadata["video_name"] = Column.from_strings(list(video_names))
    if metadata is not None:
        columns, report = read_value_csv(metadata, names, "metadata")
        values.metadata.update(columns)  # a column of the file wins over a built-in key of the same name
        values.unmatched["metadata"] = report
    if scores is not None:
        values.scores, values.unmatched["scores"] = read_value_csv(scores, names, "scores")
    return values


# ----------------------------------------------------------------------------- the selection


@dataclass
class StrategyOutcome:
    """The selection, and what each strategy did (``report.json["strategies"]``)."""

    selection: Selection
    strategies: list[dict[str, Any]]
    excluded: dict[str, int]  # candidates left out before the greedy loop, by why
    candidates_allowed: np.ndarray  # (M,) bool


@dataclass(eq=False)
class Plan:
    """The kernel's inputs, combined from the strategies' terms in configuration order."""

    allowed: np.ndarray  # (M,) bool: not left out
    excluded: dict[str, int] = field(default_factory=dict)  # candidates left out, by why (zeros kept)
    static: np.ndarray | None = None  # sum of the terms' static objectives, in order
    indicators: list[Indicator] = field(default_factory=list)
    diversity: float = 0.0  # DIVERSITY's strength; 0 without one
    min_distance: float | None = None  # the stop distance: DIVERSITY's own, else the global one

    def drop(self, mask: np.ndarray, why: str) -> None:
        """Leave the candidates in ``mask`` out, counting those still in."""
        self.excluded[why] = self.excluded.get(why, 0) + int((mask & self.allowed).sum())
        self.allowed &= ~mask

    def add(self, term: Term) -> None:
        for exclusion in term.exclusions:
            self.drop(exclusion.mask, exclusion.why)
        if term.static is not None:
            self.static = term.static if self.static is None else self.static + term.static
        if term.indicator is not None:
            self.indicators.append(term.indicator)
        if term.diversity is not None:
            self.diversity = term.diversity
        if term.min_distance is not None:
            self.min_distance = term.min_distance


def _terms(
    x: np.ndarray,
    seqs: Sequences,
    values: FrameValues,
    strategies: Sequence[Strategy],
    queries: Mapping[int, np.ndarray],
) -> list[Term]:
    """Each strategy's term, in configuration order (its errors in that order too)."""
    terms = []
    for i, strategy in enumerate(strategies):
        terms.append(strategy.plan(PlanInputs(x, seqs.rows, values, queries.get(i))))
    return terms


def _combine(terms: Sequence[Term], m: int, in_pool: np.ndarray | None, min_distance: float | None) -> Plan:
    plan = Plan(np.ones(m, bool), min_distance=min_distance)
    if in_pool is not None:
        plan.drop(in_pool, "already in the datapool")
    for term in terms:
        plan.add(term)
    return plan


def _permuted(indicator: Indicator, order: np.ndarray) -> Indicator:
    return Indicator(indicator.categories[order], indicator.target, indicator.strength)


def _greedy(
    xs: np.ndarray, ps: np.ndarray | None, plan: Plan, k: int, first: int, order: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The kernel on the plan; with ``order`` (no diversity), on candidates in that seeded order."""
    if order is None:
        picks, radii, by_distance = combined_greedy(
            xs,
            k,
            diversity=plan.diversity,
            static=plan.static,
            allowed=None if plan.allowed.all() else plan.allowed,
            balances=plan.indicators,
            pool=ps,
            first=first,
            min_distance=-1.0 if plan.min_distance is None else float(plan.min_distance),
        )
        return picks, radii, by_distance
    picks, radii, by_distance = combined_greedy(
        xs[order],
        k,
        diversity=plan.diversity,
        static=None if plan.static is None else plan.static[order],
        allowed=None if plan.allowed.all() else plan.allowed[order],
        balances=[_permuted(b, order) for b in plan.indicators],
        pool=ps,
        first=int(np.argsort(order)[first]),
        min_distance=-1.0 if plan.min_distance is None else float(plan.min_distance),
    )
    return order[picks], radii, by_distance


def select_with_strategies(
    embeddings: np.ndarray,
    seqs: Sequences,
    values: FrameValues,
    strategies: Sequence[Strategy] | None,
    *,
    n_samples: int | float | None,
    min_distance: float | None,
    seed: int = 0,
    selection_dim: int | str = -1,
    queries: Mapping[int, np.ndarray] | None = None,
    pool: np.ndarray | None = None,
    in_pool: np.ndarray | None = None,
) -> StrategyOutcome:
    """Select sequences by ``strategies`` (None: DIVERSITY on EMBEDDINGS), continuing from ``pool``.

    ``embeddings``: one row per candidate sequence (as :func:`framepick.select.select` takes);
    ``queries``: the query embeddings of each SIMILARITY entry, by its position in
    ``strategies``; ``pool``: embeddings already selected by earlier runs; ``in_pool``: the
    candidates that hold a frame already in the pool (never picked again). ``n_samples``
    counts new frames. Called with a validated :class:`~framepick.Config`'s values.
    """
    strategies = tuple(strategies or DEFAULT_STRATEGIES)
    prep = prepare(embeddings, n_samples, seqs.length, seed, selection_dim)
    m = len(prep.x)
    terms = _terms(prep.x, seqs, values, strategies, queries or {})
    plan = _combine(terms, m, in_pool, min_distance)
    n_allowed = int(plan.allowed.sum())
    if n_allowed == 0:
        why = "; ".join(f"{n} {reason}" for reason, n in plan.excluded.items() if n)
        raise NoCandidatesError(f"no candidate is left to select from: of {m} candidate sequences, {why}")
    k = prep.count(n_allowed)
    xs, ps = prep.space(pool if pool is not None and len(pool) else None)
    first = prep.first(plan.allowed)
    # Without diversity, candidates with equal objectives tie; the kernel takes the lowest index,
    # i.e. the first video's first sequences. A seeded shuffle makes such ties a random draw.
    order = prep.rng.permutation(m) if plan.diversity == 0 else None
    picks, radii, by_distance = _greedy(xs, ps, plan, k, first, order)
    reason = stop_reason(by_distance, len(picks), n_allowed)
    start = _pool_radius(xs, ps, plan.allowed)
    selection = Selection(
        picks.astype(np.int64),
        radii.astype(np.float64),
        reason,
        prep.requested,
        int(xs.shape[1]),
        start,
        min_distance=plan.min_distance,
    )
    picked = Picked(
        selection.indices,
        plan.allowed,
        radius_before=None if ps is None else start,
        radius_after=selection.radius if len(picks) or ps is not None else None,
    )
    report = [strategy.report(term, picked) for strategy, term in zip(strategies, terms)]
    return StrategyOutcome(selection, report, plan.excluded, plan.allowed)


def _pool_radius(xs: np.ndarray, pool: np.ndarray | None, allowed: np.ndarray) -> float:
    """The covering radius of the allowed candidates by the datapool alone (inf without one)."""
    if pool is None or len(pool) == 0:
        return math.inf
    return float(np.sqrt(min_sq_distances(xs[allowed], pool).max())) if allowed.any() else 0.0


# ----------------------------------------------------------------------------- SIMILARITY queries


def query_embeddings(
    strategies: Sequence[Strategy] | None,
    embedder: Callable[[], Embedder | None],
    *,
    dim: int,
    normalize: bool,
    batch_size: int = 32,
) -> dict[int, np.ndarray]:
    """The query embeddings of each SIMILARITY entry, by position: a Lightly ``embeddings.csv``
    as it is, or a folder of images (and videos) embedded with the run's model (``embedder()``,
    None when the run has no model: precomputed embeddings)."""
    out: dict[int, np.ndarray] = {}
    for i, strategy in enumerate(strategies or ()):
        path = strategy.input.query
        if not isinstance(strategy, Similarity) or path is None:
            continue
        where = f"selection.strategies[{i}].input.query"
        if Path(path).is_file():
            vectors = np.stack(list(read_embeddings_csv(path).values())) if path else np.zeros((0, dim))
        elif Path(path).is_dir():
            model = embedder()
            if model is None:
                raise ConfigError(
                    f"{where}: query images need the model, and this run has none (embeddings=); "
                    "give the queries as an embeddings.csv"
                )
            found = scan_input(path)
            results = embed_sources(found.sources, model, batch_size=batch_size)
            rows = [r.embeddings[np.asarray(r.embedded, bool)] for r in results]
            vectors = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
        else:
            raise ConfigError(f"{where}: '{path}' does not exist; give a folder of query images or an embeddings.csv")
        if len(vectors) == 0:
            raise ConfigError(f"{where}: '{path}' holds no query (no image could be embedded, or no row)")
        if vectors.shape[1] != dim:
            raise ConfigError(f"{where}: the queries have {vectors.shape[1]} dimensions, this run's embeddings {dim}")
        vectors = np.asarray(vectors, np.float32)
        if normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        out[i] = vectors
        logger.info("%d query embeddings from %s", len(vectors), path)
    return out
