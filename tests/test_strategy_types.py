"""The strategy registry: every type round-trips (parse -> plan -> report -> page), the registry
is the only list of the type names, and the selection paths share their start and stop rules."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from framepick import ConfigError, NoCandidatesError, load_config
from framepick.report.strategy_views import plan_strategies
from framepick.select import select, stop_reason
from framepick.sequences import make_sequences
from framepick.strategies import check_value_files, select_with_strategies
from framepick.strategy_types import (
    INPUT_TYPES,
    OPERATIONS,
    STRATEGY_TYPES,
    PlanInputs,
    Strategy,
    Term,
    entry_view,
)
from framepick.values import Column, FrameValues

SRC = Path(__file__).resolve().parents[1] / "src" / "framepick"
BASE = {"input_dir": "in", "output_dir": "out", "stopping_condition": {"n_samples": 8}}

# One entry of every registered type, as a Lightly config writes it (and framepick writes it back).
EXAMPLES: dict[str, dict[str, Any]] = {
    "DIVERSITY": {
        "input": {"type": "EMBEDDINGS"},
        "strategy": {"type": "DIVERSITY", "strength": 0.5, "stopping_condition_minimum_distance": 0.01},
    },
    "WEIGHTS": {
        "input": {"type": "SCORES", "score": "u", "task": "t"},
        "strategy": {"type": "WEIGHTS", "strength": 2.0},
    },
    "THRESHOLD": {
        "input": {"type": "METADATA", "key": "lightly.sharpness"},
        "strategy": {"type": "THRESHOLD", "threshold": 0.3, "operation": "BIGGER_EQUAL"},
    },
    "BALANCE": {
        "input": {"type": "METADATA", "key": "weather"},
        "strategy": {"type": "BALANCE", "strength": 1.0, "target": {"day": 0.5, "night": 0.25}},
    },
    "SIMILARITY": {
        "input": {"type": "EMBEDDINGS", "query": "q.csv"},
        "strategy": {"type": "SIMILARITY", "strength": 1.5},
    },
}
CHART = {
    "DIVERSITY": "",
    "WEIGHTS": "histogram",
    "THRESHOLD": "histogram",
    "BALANCE": "bars",
    "SIMILARITY": "histogram",
}
N = 120


def _config(*entries: dict[str, Any]) -> tuple[Strategy, ...]:
    cfg = load_config(
        overrides={**BASE, "selection": {"strategies": list(entries)}, "metadata": "m.csv", "scores": "s.csv"}
    )
    assert cfg.selection.strategies is not None
    return cfg.selection.strategies


def _data() -> tuple[np.ndarray, FrameValues, np.ndarray]:
    rng = np.random.default_rng(11)
    values = FrameValues(
        metadata={
            "lightly.sharpness": Column.from_numbers(rng.random(N)),
            "weather": Column.from_strings(list(rng.choice(["day", "night", "dusk"], N))),
        },
        scores={"u": Column.from_numbers(rng.random(N))},
    )
    return rng.standard_normal((N, 6)).astype(np.float32), values, rng.standard_normal((2, 6)).astype(np.float32)


def test_every_registered_type_has_an_example_here() -> None:
    assert list(EXAMPLES) == list(STRATEGY_TYPES)


@pytest.mark.parametrize("name", list(STRATEGY_TYPES))
def test_every_type_round_trips_parse_plan_report_page(name: str) -> None:
    (strategy,) = _config(EXAMPLES[name])
    assert type(strategy) is STRATEGY_TYPES[name] and strategy.type == name
    assert strategy.to_dict() == EXAMPLES[name]  # parsed, then written as configured
    assert _config(strategy.to_dict()) == (strategy,)

    x, values, queries = _data()
    seqs = make_sequences(np.zeros(N, np.int32), np.arange(N, dtype=np.int32), np.ones(N, bool), 1)
    term = strategy.plan(PlanInputs(x, seqs.rows, values, queries))
    assert isinstance(term, Term)
    outcome = select_with_strategies(x, seqs, values, (strategy,), n_samples=8, min_distance=None, queries={0: queries})
    assert len(outcome.selection.indices) == 8 and outcome.candidates_allowed.any()

    (entry,) = outcome.strategies
    assert entry["label"] == strategy.label and {k: entry[k] for k in ("input", "strategy")} == EXAMPLES[name]
    assert {"measure", "before", "after"} <= set(entry["objective"])
    written = json.loads(json.dumps(entry))  # plain JSON: no array left in the report
    assert written == entry

    assert entry_view(written).chart == CHART[name]
    section = plan_strategies({"strategies": [written]})
    assert section is not None
    (view,) = section.strategies
    assert (view.kind, view.label) == (name, strategy.label)
    assert (view.chart is None) == (CHART[name] == "")
    if view.chart is not None:
        assert view.chart.kind == CHART[name] and view.chart.bars


def test_each_type_reports_what_it_did() -> None:
    x, values, queries = _data()
    seqs = make_sequences(np.zeros(N, np.int32), np.arange(N, dtype=np.int32), np.ones(N, bool), 1)
    strategies = _config(*EXAMPLES.values())
    outcome = select_with_strategies(x, seqs, values, strategies, n_samples=8, min_distance=None, queries={4: queries})
    picks = outcome.selection.indices
    diversity, weights, threshold, balance, similarity = outcome.strategies
    assert diversity["objective"]["after"] == pytest.approx(outcome.selection.radius)
    sharp = values.metadata["lightly.sharpness"].numeric
    assert sharp is not None and (sharp[picks] >= 0.3).all()
    assert threshold["objective"]["after"] == 1.0 and threshold["objective"]["before"] == pytest.approx(
        (sharp >= 0.3).mean()
    )
    u = values.scores["u"].numeric
    assert u is not None and weights["objective"]["after"] == pytest.approx(u[picks].mean())
    assert balance["bars"]["values"] == ["day", "night", "(other values)"] and sum(balance["bars"]["selected"]) == 8
    nearest = np.min(np.linalg.norm(x[:, None] - queries[None], axis=2), axis=1)
    assert similarity["objective"]["after"] == pytest.approx(nearest[picks].mean(), rel=1e-5)
    assert outcome.excluded == {
        "no value for u": 0,
        "no value for lightly.sharpness": 0,
        "THRESHOLD on lightly.sharpness": int((sharp < 0.3).sum()),
        "no value for weather": 0,
    }


def test_config_validation_lists_the_registry() -> None:
    with pytest.raises(ConfigError) as info:
        _config({"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "NOPE"}})
    assert str(info.value).endswith("allowed: " + ", ".join(STRATEGY_TYPES))
    with pytest.raises(ConfigError) as info:
        _config({"input": {"type": "NOPE"}, "strategy": {"type": "DIVERSITY"}})
    assert str(info.value).endswith("allowed: " + ", ".join(INPUT_TYPES))
    # every type's keys, in registry order (no longer a set's order, which varied between runs)
    options = dict.fromkeys(name for cls in STRATEGY_TYPES.values() for name in cls.options)
    with pytest.raises(ConfigError) as info:
        _config({"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "bogus": 1}})
    assert str(info.value).endswith("unknown key; allowed: type, " + ", ".join(options))
    assert ", ".join(options) == "strength, stopping_condition_minimum_distance, threshold, operation, target"


@dataclass(frozen=True)
class _Constant(Strategy):
    """A made-up type: the same objective for every candidate (so DIVERSITY alone decides)."""

    type: ClassVar[str] = "CONSTANT"
    inputs: ClassVar[tuple[str, ...]] = ("EMBEDDINGS",)

    def plan(self, inputs: PlanInputs) -> Term:
        return Term(static=np.full(len(inputs.x), self.strength))


def test_a_new_type_is_one_class_and_one_registry_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STRATEGY_TYPES, "CONSTANT", _Constant)
    strategies = _config(
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "constant", "strength": 2}},
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
    )
    assert isinstance(strategies[0], _Constant) and strategies[0].strength == 2.0
    x, values, _ = _data()
    seqs = make_sequences(np.zeros(N, np.int32), np.arange(N, dtype=np.int32), np.ones(N, bool), 1)
    got = select_with_strategies(x, seqs, values, strategies, n_samples=8, min_distance=None, seed=5)
    np.testing.assert_array_equal(got.selection.indices, select(x, n_samples=8, seed=5).indices)
    assert got.strategies[0] == {"label": "CONSTANT on EMBEDDINGS", **strategies[0].to_dict()}
    section = plan_strategies({"strategies": got.strategies})
    assert section is not None and section.strategies[0].kind == "CONSTANT"


def test_type_names_are_written_only_in_the_registry_module() -> None:
    """No other module branches on a type's name: string constants equal to a strategy type,
    input type or operation name occur in framepick.strategy_types alone."""
    names = set(STRATEGY_TYPES) | set(INPUT_TYPES) | set(OPERATIONS)
    found = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    }
    assert found == {"strategy_types.py"}


# ----------------------------------------------------------------------------- shared start and stop


@pytest.mark.parametrize(
    ("n_samples", "min_distance", "dim"), [(10, None, -1), (None, 2.5, -1), (30, 2.0, 3), (10**4, None, "auto")]
)
def test_plain_and_strategy_paths_start_and_stop_alike(
    n_samples: int | None, min_distance: float | None, dim: int | str
) -> None:
    x = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    seqs = make_sequences(np.zeros(300, np.int32), np.arange(300, dtype=np.int32), np.ones(300, bool), 1)
    plain = select(x, n_samples=n_samples, min_distance=min_distance, seed=7, selection_dim=dim)
    got = select_with_strategies(
        x, seqs, FrameValues(), None, n_samples=n_samples, min_distance=min_distance, seed=7, selection_dim=dim
    ).selection
    np.testing.assert_array_equal(got.indices, plain.indices)
    np.testing.assert_array_equal(got.radii, plain.radii)
    assert (got.stop_reason, got.requested, got.dim, got.min_distance) == (
        plain.stop_reason,
        plain.requested,
        plain.dim,
        plain.min_distance,
    )


def test_diversity_min_distance_wins_and_is_carried_by_the_selection() -> None:
    x = np.random.default_rng(4).standard_normal((200, 4)).astype(np.float32)
    seqs = make_sequences(np.zeros(200, np.int32), np.arange(200, dtype=np.int32), np.ones(200, bool), 1)
    own = _config(
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": 1.5}}
    )
    got = select_with_strategies(x, seqs, FrameValues(), own, n_samples=None, min_distance=0.5).selection
    assert got.min_distance == 1.5 and got.stop_reason == "min_distance"
    assert got.radius < 1.5 <= got.radii[-2]
    plain = select_with_strategies(x, seqs, FrameValues(), None, n_samples=None, min_distance=0.5).selection
    assert plain.min_distance == 0.5 and plain.radius < 0.5 <= plain.radii[-2]


@pytest.mark.parametrize(
    ("by_distance", "picked", "open_", "reason"),
    [
        (True, 5, 10, "min_distance"),
        (True, 0, 10, "min_distance"),  # a datapool that covers every candidate already
        (False, 10, 10, "all_candidates"),
        (False, 4, 10, "n_samples"),
    ],
)
def test_stop_reason(by_distance: bool, picked: int, open_: int, reason: str) -> None:
    assert stop_reason(by_distance, picked, open_) == reason


def test_asking_for_more_than_is_left_selects_all_candidates() -> None:
    x = np.random.default_rng(5).standard_normal((40, 4)).astype(np.float32)
    seqs = make_sequences(np.zeros(40, np.int32), np.arange(40, dtype=np.int32), np.ones(40, bool), 1)
    sharp = np.r_[np.ones(30), np.zeros(10)]  # 30 pass
    values = FrameValues(metadata={"lightly.sharpness": Column.from_numbers(sharp)})
    only_sharp = _config(
        {
            "input": {"type": "METADATA", "key": "lightly.sharpness"},
            "strategy": {"type": "THRESHOLD", "threshold": 0.5, "operation": "BIGGER"},
        }
    )
    for n_samples, reason in ((30, "all_candidates"), (31, "all_candidates"), (29, "n_samples")):
        got = select_with_strategies(x, seqs, values, only_sharp, n_samples=n_samples, min_distance=None).selection
        assert (len(got.indices), got.stop_reason, got.requested) == (min(n_samples, 30), reason, n_samples)
    assert (
        select(x, n_samples=40).stop_reason == "all_candidates" and select(x, n_samples=39).stop_reason == "n_samples"
    )


def test_no_candidate_is_the_same_error_on_both_paths() -> None:
    empty = np.zeros((0, 4), np.float32)
    seqs = make_sequences(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, bool), 1)
    with pytest.raises(NoCandidatesError) as plain:
        select(empty, n_samples=2)
    with pytest.raises(NoCandidatesError) as strategies:
        select_with_strategies(empty, seqs, FrameValues(), None, n_samples=2, min_distance=None)
    assert str(plain.value) == str(strategies.value) and "lower selected_sequence_length" in str(plain.value)


# ----------------------------------------------------------------------------- one value-file reader


def test_a_malformed_value_file_is_refused_before_decoding(tmp_path: Path) -> None:
    """The check before decoding reads the file by the run's own policy: a row with another
    number of fields fails now, not after hours of decoding."""
    path = tmp_path / "m.csv"
    path.write_text("filenames,speed\na.png,1\nb.png,2,3\n")
    strategies = _config({"input": {"type": "METADATA", "key": "speed"}, "strategy": {"type": "WEIGHTS"}})
    with pytest.raises(Exception, match=r"line 3: 3 fields, the header has 2"):
        check_value_files(strategies, str(path), None)


def test_the_check_and_the_run_read_a_file_alike(tmp_path: Path) -> None:
    """BOM, stripped header and cells, NaN tokens, blank lines: the same columns either way."""
    from framepick.values import read_value_csv, read_value_file

    path = tmp_path / "s.csv"
    path.write_bytes("\ufeff filenames , u \n\na.png, 1.5\nb.png,NaN\nzz.png,4\n\nc.png,n/a\n".encode())
    strategies = _config(
        {
            "input": {"type": "SCORES", "score": "u"},
            "strategy": {"type": "THRESHOLD", "threshold": 1, "operation": "BIGGER"},
        }
    )
    check_value_files(strategies, None, str(path))  # numbers, despite the tokens
    every = read_value_file(path, "scores").columns()["u"]
    assert every.numeric is not None
    np.testing.assert_array_equal(every.numeric, [1.5, np.nan, 4.0, np.nan])
    columns, report = read_value_csv(path, ["a.png", "b.png", "c.png"], "scores")
    assert columns["u"].numeric is not None
    np.testing.assert_array_equal(columns["u"].numeric, [1.5, np.nan, np.nan])
    assert report == {"file": str(path), "rows_matched": 3, "unmatched": 1, "unmatched_examples": ["zz.png"]}
