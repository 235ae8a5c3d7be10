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
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._linalg import fit_pca, min_sq_distances, row_blocks
from ._log import logger
from ._strategies import Balance, combined_greedy
from .config import BUILTIN_METADATA, Strategy, StrategyInput
from .discover import scan_input
from .embed import Embedder, embed_sources
from .embeddings_csv import read_embeddings_csv
from .errors import ConfigError, InputError, NoCandidatesError, SelectionError
from .select import Selection, resolve_selection_dim, target_count
from .sequences import Sequences

__all__ = [
    "Column",
    "FrameValues",
    "StrategyOutcome",
    "check_value_files",
    "frame_values",
    "query_embeddings",
    "read_value_csv",
    "select_with_strategies",
]

DEFAULT_STRATEGIES = (Strategy(StrategyInput("EMBEDDINGS"), "DIVERSITY"),)
_EXAMPLES = 5  # unmatched names shown in messages and report.json
_BINS = 20  # histogram bins of numeric inputs in report.json
_ZERO_PENALTY = -1e6  # log of an objective of 0: below any real log-objective (|log| < 100), still finite
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none"})  # cells that mean "no value" (any case)


@dataclass
class Column:
    """One key's per-frame values: numbers (NaN: none) where every value is a number, and
    always the values as categories (``codes`` into ``categories``, -1: none)."""

    codes: np.ndarray  # (N,) int32
    categories: list[str]
    numeric: np.ndarray | None = None  # (N,) float64

    @classmethod
    def from_strings(cls, values: Sequence[str]) -> Column:
        """Cells as written; empty, NaN, NA, N/A, null and none (any case) are no value."""
        values = ["" if v.strip().lower() in _MISSING else v for v in values]
        present = [v for v in values if v != ""]
        categories = sorted(set(present))
        lookup = {c: i for i, c in enumerate(categories)}
        codes = np.array([lookup.get(v, -1) for v in values], np.int32)
        numeric = None
        try:
            numbers = np.array([float(v) if v != "" else math.nan for v in values], np.float64)
            if np.isfinite(numbers[codes >= 0]).all():
                numeric = numbers
        except ValueError:
            pass  # a value is not a number: categorical only
        return cls(codes, categories, numeric)

    @classmethod
    def from_numbers(cls, values: np.ndarray) -> Column:
        numbers = np.asarray(values, np.float64)
        return cls(np.where(np.isnan(numbers), -1, 0).astype(np.int32), [], numbers)


@dataclass
class FrameValues:
    """The per-frame values strategies can read: ``METADATA`` keys (built-in and ``metadata=``
    columns) and ``SCORES`` columns, one row per frame of the frame table."""

    metadata: dict[str, Column] = field(default_factory=dict)
    scores: dict[str, Column] = field(default_factory=dict)
    unmatched: dict[str, dict[str, Any]] = field(default_factory=dict)  # file kind -> {count, examples}

    def column(self, given: StrategyInput, label: str) -> Column:
        table, kind = (self.metadata, "metadata") if given.type == "METADATA" else (self.scores, "scores")
        name = given.column
        assert name is not None
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(f"{label}: no {kind} column '{name}'; the {kind} keys of this run are: {known}")
        return table[name]


def read_value_csv(path: str | Path, names: Sequence[str], what: str) -> tuple[dict[str, Column], dict[str, Any]]:
    """A ``metadata=``/``scores=`` CSV as columns aligned with ``names`` (the frame table's).

    The file has a ``filenames`` column of frame names (as ``data/embeddings.csv`` names
    them) and one column per key. Names that match no frame are returned as
    ``{count, examples}`` (and logged): never silently ignored. Frames the file does not
    mention have no value.
    """
    index = {name: i for i, name in enumerate(names)}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:  # -sig: files saved by Excel start with a BOM
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            if "filenames" not in header:
                raise InputError(
                    f"{what} file '{path}' has no 'filenames' column: its first line must name the columns"
                )
            at = header.index("filenames")
            keys = [(i, h) for i, h in enumerate(header) if i != at]
            values = {h: [""] * len(names) for _, h in keys}
            seen: set[int] = set()
            unmatched: list[str] = []
            for line, record in enumerate(reader, start=2):
                if not record:
                    continue
                if len(record) != len(header):
                    raise InputError(
                        f"{what} file '{path}' line {line}: {len(record)} fields, the header has {len(header)}"
                    )
                row = index.get(record[at])
                if row is None:
                    unmatched.append(record[at])
                    continue
                if row in seen:
                    raise InputError(f"{what} file '{path}' line {line}: frame '{record[at]}' appears twice")
                seen.add(row)
                for i, h in keys:
                    values[h][row] = record[i].strip()
    except OSError as exc:
        raise InputError(f"cannot read {what} file '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} file '{path}' is not a UTF-8 text file") from None
    if unmatched:
        logger.warning(
            "%s file '%s': %d names match no frame of this input, e.g. %s",
            what, path, len(unmatched), ", ".join(repr(n) for n in unmatched[:_EXAMPLES]),
        )  # fmt: skip
    report = {"file": str(path), "rows_matched": len(seen), "unmatched": len(unmatched)}
    report["unmatched_examples"] = unmatched[:_EXAMPLES]
    return {h: Column.from_strings(v) for h, v in values.items()}, report


def check_value_files(strategies: Sequence[Strategy] | None, metadata: str | None, scores: str | None) -> None:
    """Before any decoding: every column a strategy names exists in its file, and holds numbers
    where the strategy needs numbers (a wrong key would otherwise surface after hours of decoding)."""
    files = {"METADATA": metadata, "SCORES": scores}
    tables: dict[str, dict[str, Column]] = {}
    for strategy in strategies or ():
        given = strategy.input
        path = files.get(given.type)
        builtin = given.type == "METADATA" and given.column in BUILTIN_METADATA
        if path is None:
            continue
        if given.type not in tables:
            tables[given.type] = _all_columns(path, given.type.lower())
        column = tables[given.type].get(given.column or "")
        if column is None and not builtin:
            known = ", ".join(sorted(tables[given.type])) or "none"
            raise ConfigError(f"{strategy.label}: '{path}' has no column '{given.column}'; its columns: {known}")
        if column is not None and strategy.type in ("WEIGHTS", "THRESHOLD"):
            _numbers(column, strategy, f"{given.type} {given.column}")


def _all_columns(path: str, what: str) -> dict[str, Column]:
    """Every column of a value file, over all its rows (names not matched yet)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"cannot read {what} file '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} file '{path}' is not a UTF-8 text file") from None
    header = [h.strip() for h in rows[0]] if rows else []
    if "filenames" not in header:
        raise InputError(f"{what} file '{path}' has no 'filenames' column: its first line must name the columns")
    body = [r for r in rows[1:] if len(r) == len(header)]
    return {h: Column.from_strings([r[i].strip() for r in body]) for i, h in enumerate(header) if h != "filenames"}


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


# ----------------------------------------------------------------------------- per sequence


def sequence_numbers(frame: np.ndarray, seqs: Sequences) -> np.ndarray:
    """Mean of each sequence's frame values (NaN when a frame has none)."""
    if len(seqs) == 0:
        return np.zeros(0)
    return frame[seqs.rows].mean(axis=1)


def sequence_categories(codes: np.ndarray, seqs: Sequences) -> np.ndarray:
    """The value most of a sequence's frames have (ties: the earliest frame's); -1 when a frame has none."""
    if len(seqs) == 0:
        return np.zeros(0, np.int32)
    block = codes[seqs.rows]  # (M, L)
    m, length = block.shape
    # per (sequence, value): how many frames have it and the first frame that does, from one
    # stable sort of each row; O(M·L log L) time and O(M·L) memory, whatever the number of values
    order = np.argsort(block, axis=1, kind="stable")
    ranked = np.take_along_axis(block, order, axis=1)
    starts = np.ones((m, length), bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    run_id = np.cumsum(starts, axis=1) - 1  # index of each position's run of equal values
    flat = (np.arange(m)[:, None] * length + run_id).ravel()
    counts = np.bincount(flat, minlength=m * length).reshape(m, length)
    first = np.full(m * length, length, np.int64)
    np.minimum.at(first, flat, order.ravel())  # earliest frame holding each run's value
    first = first.reshape(m, length)
    key = counts * (length + 1) - np.minimum(first, length)  # most frames, then the earliest frame
    best_run = key.argmax(axis=1)
    best_pos = first[np.arange(m), best_run]
    best = block[np.arange(m), np.minimum(best_pos, length - 1)]
    return np.where((block < 0).any(axis=1), -1, best).astype(np.int32)


_OPERATIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "BIGGER": np.greater,
    "SMALLER": np.less,
    "BIGGER_EQUAL": np.greater_equal,
    "SMALLER_EQUAL": np.less_equal,
}


def sequence_passes(frame: np.ndarray, seqs: Sequences, operation: str, threshold: float) -> np.ndarray:
    """Whether *every* frame of each sequence passes the THRESHOLD (a frame without a value does not)."""
    with np.errstate(invalid="ignore"):
        ok = _OPERATIONS[operation](frame, threshold) & ~np.isnan(frame)
    return ok[seqs.rows].all(axis=1) if len(seqs) else np.zeros(0, bool)


# ----------------------------------------------------------------------------- the selection


@dataclass
class StrategyOutcome:
    """The selection, and what each strategy did (``report.json["strategies"]``)."""

    selection: Selection
    strategies: list[dict[str, Any]]
    excluded: dict[str, int]  # candidates left out before the greedy loop, by why
    candidates_allowed: np.ndarray  # (M,) bool


@dataclass
class _Plan:
    """The kernel's inputs, built strategy by strategy."""

    m: int
    allowed: np.ndarray
    static: np.ndarray | None = None
    balances: list[Balance] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def drop(self, mask: np.ndarray, why: str) -> None:
        """Leave the candidates in ``mask`` out, counting those still in."""
        self.excluded[why] = self.excluded.get(why, 0) + int((mask & self.allowed).sum())
        self.allowed &= ~mask

    def add_static(self, strength: float, objective: np.ndarray) -> None:
        """``strength * log(objective)``, with an objective of 0 as a large finite penalty instead of
        -inf: a zero weight ranks a candidate below every positive one, and among such
        candidates the other objectives (diversity) still decide, instead of the file order."""
        if strength == 0:
            return
        positive = np.where(np.isnan(objective), 0.0, objective) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            term = strength * np.where(positive, np.log(np.where(positive, objective, 1.0)), _ZERO_PENALTY)
        self.static = term if self.static is None else self.static + term


def _numbers(column: Column, strategy: Strategy, where: str) -> np.ndarray:
    if column.numeric is None:
        example = next((c for c in column.categories if c), "")
        raise ConfigError(
            f"{strategy.label}: {strategy.type} needs numbers, but {where} holds categories (e.g. {example!r})"
        )
    return column.numeric


def _balance_codes(column: Column, seqs: Sequences, strategy: Strategy) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Kernel categories: one per target value, then one for every other value (the share left over)."""
    if not column.categories:
        raise ConfigError(f"{strategy.label}: BALANCE needs categories, but this key holds numbers")
    assert strategy.target is not None
    named = [value for value, _ in strategy.target]
    unknown = [value for value in named if value not in set(column.categories)]
    if unknown:
        logger.warning(
            "%s: no frame has the value %s (values here: %s)",
            strategy.label, ", ".join(repr(v) for v in unknown), ", ".join(repr(c) for c in column.categories[:10]),
        )  # fmt: skip
    lookup = {value: j for j, value in enumerate(named)}
    remap = np.array([lookup.get(c, len(named)) for c in column.categories] + [-1], np.int32)
    per_seq = sequence_categories(column.codes, seqs)
    cats = remap[per_seq]  # -1 stays -1 (index -1 of remap)
    shares = [share for _, share in strategy.target]
    target = np.array([*shares, max(0.0, 1.0 - sum(shares))], np.float64)
    return cats, target, [*named, "(other values)"]


def _plan(
    x: np.ndarray,
    seqs: Sequences,
    values: FrameValues,
    strategies: Sequence[Strategy],
    queries: Mapping[int, np.ndarray],
    in_pool: np.ndarray | None,
) -> _Plan:
    plan = _Plan(len(seqs), np.ones(len(seqs), bool))
    if in_pool is not None:
        plan.drop(in_pool, "already in the datapool")
    for i, strategy in enumerate(strategies):
        given = strategy.input
        entry: dict[str, Any] = {"strategy": strategy.to_dict(), "label": strategy.label}
        plan.entries.append(entry)
        if given.type == "EMBEDDINGS":
            if strategy.type == "SIMILARITY":
                distance = np.sqrt(min_sq_distances(x, queries[i]))
                entry["values"] = distance  # the report's "input": distance to the nearest query
                plan.add_static(strategy.strength, 1.0 / (1.0 + distance))
            continue
        column = values.column(given, strategy.label)
        if strategy.type == "BALANCE":
            cats, target, names = _balance_codes(column, seqs, strategy)
            plan.drop(cats < 0, f"no value for {given.column}")
            entry.update(categories=cats, target=target, category_names=names)
            if strategy.strength > 0:
                plan.balances.append(Balance(np.maximum(cats, 0), target, strategy.strength))
            continue
        frame = _numbers(column, strategy, f"{given.type} {given.column}")
        per_seq = sequence_numbers(frame, seqs)
        entry["values"] = per_seq
        plan.drop(np.isnan(per_seq), f"no value for {given.column}")
        if strategy.type == "THRESHOLD":
            assert strategy.operation is not None and strategy.threshold is not None
            passes = sequence_passes(frame, seqs, strategy.operation, strategy.threshold)
            entry["passes"] = passes
            plan.drop(~passes, f"THRESHOLD on {given.column}")
        else:  # WEIGHTS
            if (per_seq[~np.isnan(per_seq)] < 0).any():
                raise ConfigError(
                    f"{strategy.label}: WEIGHTS needs values >= 0, but {given.column} goes down to "
                    f"{np.nanmin(per_seq):g}; shift the column or use THRESHOLD"
                )
            plan.add_static(strategy.strength, per_seq)
    return plan


def _permuted(balance: Balance, order: np.ndarray) -> Balance:
    return Balance(balance.categories[order], balance.target, balance.strength)


def _reduced(x: np.ndarray, pool: np.ndarray | None, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Candidates (and the pool, in the same axes) in ``dim`` principal components fitted on the candidates."""
    if dim <= 0 or dim >= x.shape[1] or len(x) <= 1:
        return x, pool
    pca = fit_pca(x, dim, sample=8192, seed=seed, center="sample", solver="covariance")
    reduced_pool = None if pool is None else pca.transform(pool, None, dtype=np.float32)
    return pca.transform(x, None, dtype=np.float32), reduced_pool


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
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    m = len(x)
    if m == 0:
        raise NoCandidatesError("no candidate sequence: lower selected_sequence_length")
    if not all(np.isfinite(x[rows]).all() for rows in row_blocks(m)):
        raise SelectionError("embeddings contain NaN or infinite values")
    plan = _plan(x, seqs, values, strategies, queries or {}, in_pool)
    n_allowed = int(plan.allowed.sum())
    if n_allowed == 0:
        why = "; ".join(f"{n} {reason}" for reason, n in plan.excluded.items() if n)
        raise NoCandidatesError(f"no candidate is left to select from: of {m} candidate sequences, {why}")
    diversity = next((s for s in strategies if s.type == "DIVERSITY"), None)
    distance = diversity.min_distance if diversity is not None and diversity.min_distance is not None else min_distance
    requested = target_count(n_samples, seqs.length, m)
    k = n_allowed if requested is None else min(requested, n_allowed)
    rng = np.random.default_rng(seed)  # drawn as select() draws it: the same first pick
    dim = resolve_selection_dim(selection_dim, m)
    xs, ps = _reduced(x, pool if pool is not None and len(pool) else None, dim, seed)
    first = int(rng.integers(m))
    if not plan.allowed[first]:
        choices = np.flatnonzero(plan.allowed)
        first = int(choices[rng.integers(len(choices))])
    strength = diversity.strength if diversity is not None else 0.0
    # Without diversity, candidates with equal objectives tie; the kernel takes the lowest index,
    # i.e. the first video's first sequences. A seeded shuffle makes such ties a random draw.
    order = rng.permutation(m) if strength == 0 else None
    picks, radii, by_distance = combined_greedy(
        xs if order is None else xs[order],
        k,
        diversity=strength,
        static=plan.static if order is None or plan.static is None else plan.static[order],
        allowed=None if plan.allowed.all() else plan.allowed if order is None else plan.allowed[order],
        balances=plan.balances if order is None else [_permuted(b, order) for b in plan.balances],
        pool=ps,
        first=first if order is None else int(np.argsort(order)[first]),
        min_distance=-1.0 if distance is None else float(distance),
    )
    if order is not None:
        picks = order[picks]
    if by_distance:
        reason = "min_distance"
    elif len(picks) == n_allowed and (requested is None or requested >= n_allowed):
        reason = "all_candidates"
    else:
        reason = "n_samples"
    start = _pool_radius(xs, ps, plan.allowed)
    selection = Selection(picks.astype(np.int64), radii.astype(np.float64), reason, requested, int(xs.shape[1]), start)
    report = [_entry_report(entry, picks, plan.allowed) for entry in plan.entries]
    for entry, strategy in zip(report, strategies):
        if strategy.type == "DIVERSITY":  # the covering radius of the allowed candidates, before and after
            before = None if ps is None else start
            entry["objective"] = {
                "measure": "covering radius of the candidates",
                "before": before,
                "after": selection.radius if len(picks) or ps is not None else None,
            }
    return StrategyOutcome(selection, report, plan.excluded, plan.allowed)


def _pool_radius(xs: np.ndarray, pool: np.ndarray | None, allowed: np.ndarray) -> float:
    """The covering radius of the allowed candidates by the datapool alone (inf without one)."""
    if pool is None or len(pool) == 0:
        return math.inf
    return float(np.sqrt(min_sq_distances(xs[allowed], pool).max())) if allowed.any() else 0.0


# ----------------------------------------------------------------------------- what each strategy did


def _histogram(all_values: np.ndarray, chosen: np.ndarray) -> dict[str, Any]:
    finite = all_values[np.isfinite(all_values)]
    if len(finite) == 0:
        return {"edges": [], "candidates": [], "selected": []}
    low, high = float(finite.min()), float(finite.max())
    edges = np.linspace(low, high if high > low else low + 1.0, _BINS + 1)
    return {
        "edges": [float(e) for e in edges],
        "candidates": np.histogram(finite, edges)[0].tolist(),
        "selected": np.histogram(chosen[np.isfinite(chosen)], edges)[0].tolist(),
    }


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def _entry_report(entry: dict[str, Any], picks: np.ndarray, allowed: np.ndarray) -> dict[str, Any]:
    """Before (over the candidates) and after (over the selection) for one strategy."""
    kind = entry["strategy"]["strategy"]["type"]
    out = {"label": entry["label"], **entry["strategy"]}
    if "categories" in entry:
        cats, target, names = entry["categories"], entry["target"], entry["category_names"]
        before = np.bincount(cats[cats >= 0], minlength=len(names)) if (cats >= 0).any() else np.zeros(len(names))
        after = np.bincount(cats[picks], minlength=len(names)) if len(picks) else np.zeros(len(names), np.int64)
        shares = after / max(len(picks), 1)
        gap = np.abs(after - target * len(picks))
        out["objective"] = {
            "measure": "share of each value (target, candidates, selection)",
            "values": names,
            "target": [float(t) for t in target],
            "before": [float(b) for b in before / max(before.sum(), 1)],
            "after": [float(s) for s in shares],
        }
        out["bars"] = {"values": names, "candidates": before.tolist(), "selected": after.tolist()}
        reached = bool((gap <= 1.0 + 1e-9).all())
        short = [names[j] for j in np.flatnonzero(gap > 1.0 + 1e-9)]
        out["reached"] = reached
        out["message"] = (
            "reached its target within one sequence"
            if reached
            else "could not reach its target: too few candidates of " + ", ".join(repr(s) for s in short)
        )
        if not reached and entry["strategy"]["strategy"].get("strength", 1.0) > 0:
            logger.warning("%s %s", entry["label"], out["message"])
        return out
    if kind == "THRESHOLD":
        passes = entry["passes"]
        out["objective"] = {
            "measure": "share of sequences passing",
            "before": float(passes.mean()) if len(passes) else None,
            "after": float(passes[picks].mean()) if len(picks) else None,
        }
    if "values" in entry:
        values = entry["values"]
        measure = "mean distance to the nearest query" if kind == "SIMILARITY" else "mean value"
        before, after = _mean(values[allowed]), _mean(values[picks]) if len(picks) else None
        out.setdefault("objective", {"measure": measure, "before": before, "after": after})
        out["histogram"] = _histogram(values, values[picks])
    return out


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
        if strategy.type != "SIMILARITY" or path is None:
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
