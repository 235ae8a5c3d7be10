"""The selection strategy types: one class per Lightly strategy, in one registry.

An entry of ``selection.strategies`` is an instance of its type's class (:class:`Diversity`,
:class:`Weights`, :class:`Threshold`, :class:`Balance`, :class:`Similarity`), and the class
is everything framepick knows about that type, as PySceneDetect's detector classes are:

* :meth:`Strategy.parse`: its ``strategy:`` keys, checked with one-line ConfigErrors;
* :meth:`Strategy.check_file`: its column in the value file, before any decoding;
* :meth:`Strategy.plan`: its :class:`Term` of the combined greedy kernel
  (:func:`framepick._strategies.combined_greedy`): candidates it leaves out, its objective;
* :meth:`Strategy.report`: its ``report.json["strategies"]`` entry, objective before and after;
* :meth:`Strategy.view`: what the report page draws for such an entry (:class:`EntryView`).

:data:`STRATEGY_TYPES` (``{type name: class}``) is the only list of the types: the
configuration's allowed names, the parser and the report page all read it. Adding a
strategy is one class here and one row there. The input types (EMBEDDINGS, METADATA,
SCORES) are rows of :data:`INPUT_TYPES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._accept import is_number, shown, word
from ._linalg import min_sq_distances
from ._log import logger
from ._strategies import Balance as Indicator
from .errors import ConfigError
from .values import BUILTIN_METADATA, Column, FrameValues, sequence_categories, sequence_numbers

__all__ = [
    "DEFAULT_STRATEGIES",
    "INPUT_TYPES",
    "OPERATIONS",
    "STRATEGIES_KEY",
    "STRATEGY_TYPES",
    "Balance",
    "Diversity",
    "EntryView",
    "Exclusion",
    "InputType",
    "Picked",
    "PlanInputs",
    "Shares",
    "Similarity",
    "Strategy",
    "StrategyInput",
    "Term",
    "Threshold",
    "Weights",
    "check_input_files",
    "entry_view",
    "parse_strategies",
    "sequence_passes",
]

STRATEGIES_KEY = "selection.strategies"
_BINS = 20  # histogram bins of numeric inputs in report.json
_ZERO_PENALTY = -1e6  # log of an objective of 0: below any real log-objective (|log| < 100), still finite


def entry_error(where: str, message: str) -> ConfigError:
    """The one-line error of an entry: ``where`` is its place under ``selection.strategies``."""
    return ConfigError(f"invalid value for '{STRATEGIES_KEY}{where}': {message}")


def _fields_of(where: str, value: Any, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Any]:
    """A mapping with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(value, Mapping):
        raise entry_error(where, f"expected a mapping, got {shown(value)}")
    for name in value:
        if name not in allowed:
            raise entry_error(f"{where}.{name}", "unknown key; allowed: " + ", ".join(allowed))
    for name in required:
        if value.get(name) is None:
            raise entry_error(f"{where}.{name}", "missing")
    return dict(value)


def _upper_choice(where: str, value: Any, options: Sequence[str]) -> str:
    if isinstance(value, str) and value.upper() in options:
        return value.upper()
    raise entry_error(where, f"{shown(value)}; allowed: " + ", ".join(options))


def _number(where: str, value: Any, low: float = -math.inf) -> float:
    if not is_number(value) or isinstance(value, bool) or value < low:
        bound = f" >= {low:g}" if low > -math.inf else ""
        raise entry_error(where, f"{shown(value)}; allowed: a number{bound}")
    return float(value)


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise entry_error(where, f"{shown(value)}; allowed: a non-empty string")
    return value


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputType:
    """One ``input.type``: the key naming its column, the value file it reads, what else it takes."""

    name: str
    column: str | None = None  # "key" (METADATA), "score" (SCORES): the input key that names the column
    file: str | None = None  # the configuration key of its value file, also how messages name the file
    builtin: tuple[str, ...] = ()  # columns every run has, without a file
    extra: tuple[str, ...] = ()  # optional keys: SCORES' task (Lightly's prediction task), EMBEDDINGS' query


INPUT_TYPES: dict[str, InputType] = {
    t.name: t
    for t in (
        InputType("EMBEDDINGS", extra=("query",)),
        InputType("METADATA", column="key", file="metadata", builtin=BUILTIN_METADATA),
        InputType("SCORES", column="score", file="scores", extra=("task",)),
    )
}
_INPUT_KEYS = ("key", "score", "task", "query")  # every input key but type, in the order they are checked


@dataclass(frozen=True)
class StrategyInput:
    """What a strategy reads: ``{type: EMBEDDINGS}``, ``{type: METADATA, key: K}``,
    ``{type: SCORES, score: S}`` or ``{type: EMBEDDINGS, query: PATH}``."""

    type: str
    key: str | None = None  # METADATA: a built-in key or a column of metadata=PATH
    score: str | None = None  # SCORES: a column of scores=PATH
    task: str | None = None  # SCORES: Lightly's prediction task name (accepted; scores=PATH holds one table)
    query: str | None = None  # EMBEDDINGS: a folder of query images or a Lightly embeddings.csv (SIMILARITY)

    @property
    def kind(self) -> InputType:
        return INPUT_TYPES[self.type]

    @property
    def column(self) -> str | None:
        """The metadata key or score column the input names."""
        name = self.kind.column
        value: str | None = None if name is None else getattr(self, name)
        return value

    @property
    def label(self) -> str:
        """A short name for messages and the report, e.g. ``METADATA lightly.sharpness``."""
        detail = self.column or (f"query {self.query}" if self.query else None)
        return f"{self.type} {detail}" if detail else self.type

    @classmethod
    def parse(cls, where: str, value: Any) -> StrategyInput:
        raw = _fields_of(where, value, ("type", *_INPUT_KEYS), ("type",))
        kind = INPUT_TYPES[_upper_choice(f"{where}.type", raw["type"], tuple(INPUT_TYPES))]
        needs = kind.column
        if needs is not None and raw.get(needs) is None:
            raise entry_error(f"{where}.{needs}", f"missing: a {kind.name} input names its {needs}")
        for name in _INPUT_KEYS:
            if raw.get(name) is not None and name != needs and name not in kind.extra:
                raise entry_error(f"{where}.{name}", f"not a key of a {kind.name} input")
        clean = {name: _text(f"{where}.{name}", raw[name]) for name in _INPUT_KEYS if raw.get(name)}
        return cls(kind.name, **clean)

    def check_file(self, where: str, files: Mapping[str, str | None]) -> None:
        """A column that is not built in needs its value file (``files``: configuration key -> path)."""
        kind = self.kind
        if kind.file is None or files.get(kind.file) is not None or self.column in kind.builtin:
            return
        if kind.builtin:
            raise entry_error(
                f"{where}.input.{kind.column}",
                f"'{self.column}' is not a built-in key ({', '.join(kind.builtin)}); "
                f"give {kind.file}=PATH, a CSV with a '{self.column}' column",
            )
        raise entry_error(f"{where}.input", f"{kind.name} need {kind.file}=PATH, a CSV with a '{self.column}' column")


# ----------------------------------------------------------------------------- plans and reports


@dataclass(frozen=True, eq=False)
class PlanInputs:
    """What a strategy plans its term from: the candidate sequences and the frames' values."""

    x: np.ndarray  # (M, D) float32: each candidate's embedding, full dimension
    rows: np.ndarray  # (M, L): each candidate's frame-table rows
    values: FrameValues
    query: np.ndarray | None = None  # SIMILARITY: this entry's query embeddings


@dataclass(frozen=True, eq=False)
class Exclusion:
    """Candidates a strategy leaves out before the greedy loop, and why (``candidates_excluded``)."""

    mask: np.ndarray  # (M,) bool
    why: str


@dataclass(frozen=True, eq=False)
class Shares:
    """BALANCE's kernel categories: one per target value, then one for every other value."""

    categories: np.ndarray  # (M,) int32: each candidate's category, -1 without a value
    target: np.ndarray  # (C,) float64: the target share of each
    names: list[str]


@dataclass(frozen=True, eq=False)
class Term:
    """One strategy's part of the combined greedy kernel, and the inputs its report reads."""

    exclusions: tuple[Exclusion, ...] = ()
    static: np.ndarray | None = None  # (M,) strength * log(objective): WEIGHTS, SIMILARITY
    indicator: Indicator | None = None  # BALANCE, when its strength is above 0
    diversity: float | None = None  # DIVERSITY: the strength of the distance objective
    min_distance: float | None = None  # DIVERSITY: its own stop distance, which wins over the global one
    values: np.ndarray | None = None  # (M,) the input per candidate, for the report's histogram
    passes: np.ndarray | None = None  # (M,) THRESHOLD: whether every frame passes
    shares: Shares | None = None  # BALANCE


@dataclass(frozen=True, eq=False)
class Picked:
    """What a report compares: the picks, the candidates left in, the covering radii."""

    picks: np.ndarray  # candidate indices, in pick order
    allowed: np.ndarray  # (M,) bool: candidates not left out
    radius_before: float | None  # by the datapool alone (None without one)
    radius_after: float | None  # by the selection (None when nothing was picked and there is no pool)


@dataclass(frozen=True)
class EntryView:
    """What the page draws for one ``report.json`` strategy entry."""

    chart: str  # "bars": per value, with BALANCE's table; "histogram": the input per candidate; "": none
    subject: str  # what the histogram counts, as its caption names it
    threshold: float | None  # a mark on the histogram


def _log_objective(strength: float, objective: np.ndarray) -> np.ndarray | None:
    """``strength * log(objective)``, with an objective of 0 as a large finite penalty instead of
    -inf: a zero weight ranks a candidate below every positive one, and among such
    candidates the other objectives (diversity) still decide, instead of the file order.
    None when the strength is 0 (the objective is off)."""
    if strength == 0:
        return None
    positive = np.where(np.isnan(objective), 0.0, objective) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        term: np.ndarray = strength * np.where(positive, np.log(np.where(positive, objective, 1.0)), _ZERO_PENALTY)
    return term


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


def _input_report(out: dict[str, Any], values: np.ndarray, picked: Picked, measure: str) -> None:
    """The mean over the allowed candidates and over the selection, unless the entry has its
    objective already; and the histogram of the input."""
    picks = picked.picks
    before, after = _mean(values[picked.allowed]), _mean(values[picks]) if len(picks) else None
    out.setdefault("objective", {"measure": measure, "before": before, "after": after})
    out["histogram"] = _histogram(values, values[picks])


# ----------------------------------------------------------------------------- the strategy types


@dataclass(frozen=True)
class Strategy:
    """One ``{input: ..., strategy: ...}`` entry of ``selection.strategies`` (Lightly's names).

    A subclass per type; its class attributes say what the type takes, its methods what it does.
    """

    input: StrategyInput
    strength: float = 1.0

    type: ClassVar[str] = ""  # the name, as configured and written
    inputs: ClassVar[tuple[str, ...]] = ()  # the input types it takes (Lightly's documented combinations)
    options: ClassVar[tuple[str, ...]] = ("strength",)  # its keys under ``strategy:`` besides type
    needs_query: ClassVar[bool] = False  # takes an EMBEDDINGS input with a query (else without one)
    numbers: ClassVar[bool] = False  # reads numbers: a categorical column is refused before decoding
    unique: ClassVar[bool] = False  # at most one entry of this type

    @property
    def label(self) -> str:
        return f"{self.type} on {self.input.label}"

    def to_dict(self) -> dict[str, Any]:
        """The entry as a Lightly config spells it (and config.yaml writes it)."""
        given = {k: v for k, v in asdict(self.input).items() if v is not None}
        return {"input": given, "strategy": {"type": self.type, **self._settings()}}

    def _settings(self) -> dict[str, Any]:
        """The ``strategy:`` keys it writes besides its type."""
        return {"strength": self.strength}

    @classmethod
    def takes(cls, given: StrategyInput) -> bool:
        return given.type in cls.inputs and (given.query is not None) == cls.needs_query

    @classmethod
    def parse(cls, where: str, given: StrategyInput, spec: Mapping[str, Any]) -> Strategy:
        """The entry at ``where`` from its parsed input and its ``strategy:`` mapping."""
        for name in spec:
            if name != "type" and name not in cls.options:
                raise entry_error(
                    f"{where}.strategy.{name}", f"not a key of {cls.type}; allowed: " + ", ".join(cls.options)
                )
        if not cls.takes(given):
            inputs = " or ".join(cls.inputs)
            queried = any("query" in INPUT_TYPES[t].extra for t in cls.inputs)
            need = " with a query" if cls.needs_query else " without a query" if queried else ""
            raise entry_error(where, f"{cls.type} cannot take the input {given.label}; it needs {inputs}{need}")
        strength = _number(f"{where}.strategy.strength", spec.get("strength", 1.0), 0.0)
        return cls(given, strength, **cls._parse_options(f"{where}.strategy", spec))

    @classmethod
    def _parse_options(cls, where: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Its own keys (``where``: the ``strategy:`` mapping's place), as keyword arguments."""
        return {}

    def check_file(self, columns: Mapping[str, Column], path: str) -> None:
        """Before any decoding: the column it names is in its value file (``columns``, read from
        ``path``), and holds numbers where it needs numbers (a wrong key would otherwise
        surface after hours of decoding)."""
        given = self.input
        column = columns.get(given.column or "")
        if column is None and given.column not in given.kind.builtin:
            known = ", ".join(sorted(columns)) or "none"
            raise ConfigError(f"{self.label}: '{path}' has no column '{given.column}'; its columns: {known}")
        if column is not None and self.numbers:
            self._numbers(column)

    def _column(self, values: FrameValues) -> Column:
        given = self.input
        assert given.kind.file is not None and given.column is not None, given
        return values.column(given.kind.file, given.column, self.label)

    def _numbers(self, column: Column) -> np.ndarray:
        if column.numeric is None:
            example = next((c for c in column.categories if c), "")
            raise ConfigError(
                f"{self.label}: {self.type} needs numbers, but {self.input.type} {self.input.column} holds "
                f"categories (e.g. {example!r})"
            )
        return column.numeric

    def _sequence_numbers(self, inputs: PlanInputs) -> tuple[np.ndarray, np.ndarray, Exclusion]:
        """(each frame's number, each candidate's mean, the candidates without one left out)."""
        frame = self._numbers(self._column(inputs.values))
        per_seq = sequence_numbers(frame, inputs.rows)
        return frame, per_seq, Exclusion(np.isnan(per_seq), f"no value for {self.input.column}")

    def plan(self, inputs: PlanInputs) -> Term:
        """Its term of the combined greedy kernel."""
        raise NotImplementedError

    def report(self, term: Term, picked: Picked) -> dict[str, Any]:
        """Its ``report.json["strategies"]`` entry: the configuration, then what it did."""
        return {"label": self.label, **self.to_dict()}

    @classmethod
    def view(cls, entry: Mapping[str, Any]) -> EntryView:
        """What the page draws for ``entry`` (a report.json entry, possibly hand-edited: read
        from what it holds; this base serves types the registry does not know, too)."""
        strategy = entry.get("strategy") or {}
        given = entry.get("input") or {}
        threshold = strategy.get("threshold")
        numeric = isinstance(threshold, (int, float)) and math.isfinite(threshold)
        columns = [given.get(t.column) for t in INPUT_TYPES.values() if t.column is not None]
        subject = str(next((c for c in columns if c), None) or "value")
        chart = "bars" if "bars" in entry else "histogram" if entry.get("histogram") else ""
        return EntryView(chart, subject, float(threshold) if numeric and threshold is not None else None)


@dataclass(frozen=True)
class Diversity(Strategy):
    """DIVERSITY: the distance to the selection (the datapool's items included)."""

    min_distance: float | None = field(default=None, kw_only=True)  # stopping_condition_minimum_distance

    type: ClassVar[str] = "DIVERSITY"
    inputs: ClassVar[tuple[str, ...]] = ("EMBEDDINGS",)
    options: ClassVar[tuple[str, ...]] = ("strength", "stopping_condition_minimum_distance")
    unique: ClassVar[bool] = True

    def _settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"strength": self.strength}
        if self.min_distance is not None:
            out["stopping_condition_minimum_distance"] = self.min_distance
        return out

    @classmethod
    def _parse_options(cls, where: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        distance = spec.get("stopping_condition_minimum_distance")
        if distance is None or (is_number(distance) and distance == -1):  # -1: off, as Lightly writes it
            return {}
        return {"min_distance": _number(f"{where}.stopping_condition_minimum_distance", distance, 0.0)}

    def plan(self, inputs: PlanInputs) -> Term:
        return Term(diversity=self.strength, min_distance=self.min_distance)

    def report(self, term: Term, picked: Picked) -> dict[str, Any]:
        out = super().report(term, picked)
        out["objective"] = {
            "measure": "covering radius of the candidates",
            "before": picked.radius_before,
            "after": picked.radius_after,
        }
        return out


@dataclass(frozen=True)
class Weights(Strategy):
    """WEIGHTS: the value (numbers >= 0)."""

    type: ClassVar[str] = "WEIGHTS"
    inputs: ClassVar[tuple[str, ...]] = ("METADATA", "SCORES")
    numbers: ClassVar[bool] = True

    def plan(self, inputs: PlanInputs) -> Term:
        _, per_seq, missing = self._sequence_numbers(inputs)
        if (per_seq[~np.isnan(per_seq)] < 0).any():
            raise ConfigError(
                f"{self.label}: WEIGHTS needs values >= 0, but {self.input.column} goes down to "
                f"{np.nanmin(per_seq):g}; shift the column or use THRESHOLD"
            )
        return Term((missing,), static=_log_objective(self.strength, per_seq), values=per_seq)

    def report(self, term: Term, picked: Picked) -> dict[str, Any]:
        out = super().report(term, picked)
        assert term.values is not None
        _input_report(out, term.values, picked, "mean value")
        return out


OPERATIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "BIGGER": np.greater,
    "SMALLER": np.less,
    "BIGGER_EQUAL": np.greater_equal,
    "SMALLER_EQUAL": np.less_equal,
}


def sequence_passes(frame: np.ndarray, rows: np.ndarray, operation: str, threshold: float) -> np.ndarray:
    """Whether *every* frame of each sequence (``rows``: (M, L)) passes the THRESHOLD (a frame
    without a value does not)."""
    with np.errstate(invalid="ignore"):
        ok = OPERATIONS[operation](frame, threshold) & ~np.isnan(frame)
    return ok[rows].all(axis=1) if len(rows) else np.zeros(0, bool)


@dataclass(frozen=True)
class Threshold(Strategy):
    """THRESHOLD: a filter; a sequence passes only if every frame does."""

    threshold: float = field(kw_only=True)
    operation: str = field(kw_only=True)  # a key of OPERATIONS

    type: ClassVar[str] = "THRESHOLD"
    inputs: ClassVar[tuple[str, ...]] = ("METADATA", "SCORES")
    options: ClassVar[tuple[str, ...]] = ("threshold", "operation")
    numbers: ClassVar[bool] = True

    def _settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "operation": self.operation}

    @classmethod
    def _parse_options(cls, where: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        for name in ("threshold", "operation"):
            if spec.get(name) is None:
                raise entry_error(f"{where}.{name}", "missing: THRESHOLD needs threshold and operation")
        return {
            "threshold": _number(f"{where}.threshold", spec["threshold"]),
            "operation": _upper_choice(f"{where}.operation", spec["operation"], tuple(OPERATIONS)),
        }

    def plan(self, inputs: PlanInputs) -> Term:
        frame, per_seq, missing = self._sequence_numbers(inputs)
        passes = sequence_passes(frame, inputs.rows, self.operation, self.threshold)
        failing = Exclusion(~passes, f"THRESHOLD on {self.input.column}")
        return Term((missing, failing), values=per_seq, passes=passes)

    def report(self, term: Term, picked: Picked) -> dict[str, Any]:
        out = super().report(term, picked)
        passes, picks = term.passes, picked.picks
        assert passes is not None and term.values is not None
        out["objective"] = {
            "measure": "share of sequences passing",
            "before": float(passes.mean()) if len(passes) else None,
            "after": float(passes[picks].mean()) if len(picks) else None,
        }
        _input_report(out, term.values, picked, "mean value")
        return out


def _target(where: str, value: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping) or not value:
        raise entry_error(where, f"{shown(value)}; allowed: a mapping of value: share, e.g. {{day: 0.5, night: 0.5}}")
    pairs = []
    for key, share in value.items():
        name = word(key) if isinstance(key, bool) or key is None else str(key)
        pairs.append((name, _number(f"{where}.{name}", share, 0.0)))
    total = sum(share for _, share in pairs)
    if total > 1.0 + 1e-6 or any(share > 1.0 for _, share in pairs):
        raise entry_error(where, f"the shares add up to {total:g}; they must add up to at most 1")
    return tuple(pairs)


@dataclass(frozen=True)
class Balance(Strategy):
    """BALANCE: 1 for candidates of the value furthest below its target share, else 0."""

    target: tuple[tuple[str, float], ...] = field(kw_only=True)  # (value, share) pairs

    type: ClassVar[str] = "BALANCE"
    inputs: ClassVar[tuple[str, ...]] = ("METADATA",)
    options: ClassVar[tuple[str, ...]] = ("target", "strength")

    def _settings(self) -> dict[str, Any]:
        return {"strength": self.strength, "target": dict(self.target)}

    @classmethod
    def _parse_options(cls, where: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        if spec.get("target") is None:
            raise entry_error(f"{where}.target", "missing: BALANCE needs a target, e.g. {day: 0.5, night: 0.5}")
        return {"target": _target(f"{where}.target", spec["target"])}

    def _shares(self, column: Column, rows: np.ndarray) -> Shares:
        """Kernel categories: one per target value, then one for every other value (the share left over)."""
        if not column.categories:
            raise ConfigError(f"{self.label}: BALANCE needs categories, but this key holds numbers")
        named = [value for value, _ in self.target]
        unknown = [value for value in named if value not in set(column.categories)]
        if unknown:
            logger.warning(
                "%s: no frame has the value %s (values here: %s)",
                self.label, ", ".join(repr(v) for v in unknown), ", ".join(repr(c) for c in column.categories[:10]),
            )  # fmt: skip
        lookup = {value: j for j, value in enumerate(named)}
        remap = np.array([lookup.get(c, len(named)) for c in column.categories] + [-1], np.int32)
        cats = remap[sequence_categories(column.codes, rows)]  # -1 stays -1 (index -1 of remap)
        shares = [share for _, share in self.target]
        target = np.array([*shares, max(0.0, 1.0 - sum(shares))], np.float64)
        return Shares(cats, target, [*named, "(other values)"])

    def plan(self, inputs: PlanInputs) -> Term:
        shares = self._shares(self._column(inputs.values), inputs.rows)
        cats = shares.categories
        indicator = Indicator(np.maximum(cats, 0), shares.target, self.strength) if self.strength > 0 else None
        return Term((Exclusion(cats < 0, f"no value for {self.input.column}"),), indicator=indicator, shares=shares)

    def report(self, term: Term, picked: Picked) -> dict[str, Any]:
        out = super().report(term, picked)
        assert term.shares is not None
        cats, target, names = term.shares.categories, term.shares.target, term.shares.names
        picks = picked.picks
        before = np.bincount(cats[cats >= 0], minlength=len(names)) if (cats >= 0).any() else np.zeros(len(names))
        after = np.bincount(cats[picks], minlength=len(names)) if len(picks) else np.zeros(len(names), np.int64)
        gap = np.abs(after - target * len(picks))
        out["objective"] = {
            "measure": "share of each value (target, candidates, selection)",
            "values": names,
            "target": [float(t) for t in target],
            "before": [float(b) for b in before / max(before.sum(), 1)],
            "after": [float(s) for s in after / max(len(picks), 1)],
        }
        out["bars"] = {"values": names, "candidates": before.tolist(), "selected": after.tolist()}
        short = [names[j] for j in np.flatnonzero(gap > 1.0 + 1e-9)]
        out["reached"] = not short
        out["message"] = (
            "reached its target within one sequence"
            if not short
            else "could not reach its target: too few candidates of " + ", ".join(repr(s) for s in short)
        )
        if short and self.strength > 0:
            logger.warning("%s %s", self.label, out["message"])
        return out


@dataclass(frozen=True)
class Similarity(Strategy):
    """SIMILARITY: the closeness to the nearest query, ``1 / (1 + distance)``."""

    type: ClassVar[str] = "SIMILARITY"
    inputs: ClassVar[tuple[str, ...]] = ("EMBEDDINGS",)
    needs_query: ClassVar[bool] = True

    def plan(self, inputs: PlanInputs) -> Term:
        assert inputs.query is not None, "SIMILARITY needs its query embeddings"
        distance = np.sqrt(min_sq_distances(inputs.x, inputs.query))
        return Term(static=_log_objective(self.strength, 1.0 / (1.0 + distance)), values=distance)

    def report(self, term: Term, picked: Picked) -> dict[str, Any]:
        out = super().report(term, picked)
        assert term.values is not None  # the input: the distance to the nearest query
        _input_report(out, term.values, picked, "mean distance to the nearest query")
        return out

    @classmethod
    def view(cls, entry: Mapping[str, Any]) -> EntryView:
        base = super().view(entry)
        return EntryView(base.chart, "distance to the nearest query", base.threshold)


STRATEGY_TYPES: dict[str, type[Strategy]] = {
    cls.type: cls
    for cls in (
        Diversity,
        Weights,
        Threshold,
        Balance,
        Similarity,
    )
}
"""Every strategy type, by its configured name, in the order messages and docs list them."""

DEFAULT_STRATEGIES: tuple[Strategy, ...] = (Diversity(StrategyInput("EMBEDDINGS")),)
"""What selects without ``selection.strategies``: DIVERSITY on EMBEDDINGS."""


def _strategy(where: str, value: Any) -> Strategy:
    raw = _fields_of(where, value, ("input", "strategy"), ("input", "strategy"))
    given = StrategyInput.parse(f"{where}.input", raw["input"])
    options = dict.fromkeys(name for cls in STRATEGY_TYPES.values() for name in cls.options)
    spec = _fields_of(f"{where}.strategy", raw["strategy"], ("type", *options))
    kind = _upper_choice(f"{where}.strategy.type", spec.get("type"), tuple(STRATEGY_TYPES))
    return STRATEGY_TYPES[kind].parse(where, given, spec)


def parse_strategies(items: Sequence[Any]) -> tuple[Strategy, ...]:
    """``selection.strategies``' entries (mappings, as Lightly writes them), checked."""
    parsed = tuple(_strategy(f"[{i}]", item) for i, item in enumerate(items))
    for cls in STRATEGY_TYPES.values():
        if cls.unique and sum(type(s) is cls for s in parsed) > 1:
            raise entry_error("", f"at most one {cls.type} strategy")
    return parsed


def check_input_files(strategies: Sequence[Strategy] | None, files: Mapping[str, str | None]) -> None:
    """Every column that is not built in has its value file (``files``: ``metadata``/``scores`` -> path)."""
    for i, strategy in enumerate(strategies or ()):
        strategy.input.check_file(f"[{i}]", files)


def entry_view(entry: Mapping[str, Any]) -> EntryView:
    """What the page draws for a ``report.json`` strategy entry, by its type's class."""
    kind = str((entry.get("strategy") or {}).get("type", ""))
    return STRATEGY_TYPES.get(kind, Strategy).view(entry)
