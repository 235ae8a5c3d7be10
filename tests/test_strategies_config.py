"""selection.strategies, metadata=, scores= and datapool= as configuration: Lightly's names, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from framepick import ConfigError, load_config
from framepick.config import BUILTIN_METADATA, Strategy, config_to_yaml

BASE = {"input_dir": "in", "output_dir": "out", "stopping_condition": {"n_samples": 10}}

LIGHTLY = """
input_dir: in
output_dir: out
stopping_condition:
  n_samples: 10
selection:
  strategies:
    - input: {type: EMBEDDINGS}
      strategy: {type: DIVERSITY, stopping_condition_minimum_distance: 0.2}
    - input: {type: SCORES, task: my_detector, score: uncertainty_entropy}
      strategy: {type: WEIGHTS, strength: 2.0}
    - input: {type: METADATA, key: lightly.sharpness}
      strategy: {type: THRESHOLD, threshold: 100, operation: BIGGER_EQUAL}
    - input: {type: METADATA, key: weather}
      strategy: {type: BALANCE, target: {sunny: 0.5, rainy: 0.3}}
    - input: {type: EMBEDDINGS, query: failures/}
      strategy: {type: SIMILARITY, strength: 0.5}
metadata: meta.csv
scores: scores.csv
"""


def _with(strategies: object, **extra: object) -> dict[str, object]:
    return {**BASE, "selection": {"strategies": strategies}, **extra}


def test_lightly_config_loads_with_every_strategy(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(LIGHTLY)
    cfg = load_config(path)
    kinds = [(s.input.type, s.type) for s in cfg.selection.strategies]
    assert kinds == [
        ("EMBEDDINGS", "DIVERSITY"),
        ("SCORES", "WEIGHTS"),
        ("METADATA", "THRESHOLD"),
        ("METADATA", "BALANCE"),
        ("EMBEDDINGS", "SIMILARITY"),
    ]
    diversity, weights, threshold, balance, similarity = cfg.selection.strategies
    assert diversity.min_distance == 0.2 and cfg.selection.diversity is diversity
    assert (
        weights.strength == 2.0 and weights.input.score == "uncertainty_entropy" and weights.input.task == "my_detector"
    )
    assert (threshold.threshold, threshold.operation, threshold.input.key) == (
        100.0,
        "BIGGER_EQUAL",
        "lightly.sharpness",
    )
    assert balance.target == (("sunny", 0.5), ("rainy", 0.3))
    assert similarity.input.query == "failures/" and similarity.strength == 0.5
    # config.yaml writes the same list back, and it loads into an equal Config
    again = load_config(overrides=yaml.safe_load(config_to_yaml(cfg)))
    assert again == cfg
    assert yaml.safe_load(config_to_yaml(cfg))["selection"]["strategies"][3]["strategy"]["target"] == {
        "sunny": 0.5,
        "rainy": 0.3,
    }


def test_absent_strategies_is_todays_selection() -> None:
    cfg = load_config(overrides=BASE)
    assert cfg.selection.strategies is None and cfg.selection.diversity is None
    assert cfg.metadata is None and cfg.scores is None and cfg.datapool is None


def test_names_are_case_insensitive_and_built_in_keys_need_no_file() -> None:
    cfg = load_config(
        overrides=_with(
            [
                {"input": {"type": "metadata", "key": key}, "strategy": {"type": "weights"}}
                for key in BUILTIN_METADATA[:3]
            ]
            + [
                {
                    "input": {"type": "METADATA", "key": "video_name"},
                    "strategy": {"type": "BALANCE", "target": {"a.mp4": 1}},
                }
            ]
        )
    )
    assert [s.type for s in cfg.selection.strategies] == ["WEIGHTS"] * 3 + ["BALANCE"]


def test_diversity_minimum_distance_is_a_stopping_condition() -> None:
    cfg = load_config(
        overrides={
            "input_dir": "in",
            "output_dir": "out",
            "selection": {
                "strategies": [
                    {
                        "input": {"type": "EMBEDDINGS"},
                        "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.5},
                    }
                ]
            },
        }
    )
    assert cfg.n_samples is None and cfg.selection.diversity.min_distance == 0.5


BAD = [
    (
        [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "BALANCE", "target": {"a": 1}}}],
        "BALANCE cannot take the input EMBEDDINGS",
    ),
    (
        [{"input": {"type": "METADATA", "key": "lightly.luminance"}, "strategy": {"type": "DIVERSITY"}}],
        "DIVERSITY cannot take",
    ),
    ([{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "SIMILARITY"}}], "with a query"),
    ([{"input": {"type": "EMBEDDINGS", "query": "q"}, "strategy": {"type": "DIVERSITY"}}], "without a query"),
    (
        [{"input": {"type": "SCORES", "score": "s"}, "strategy": {"type": "BALANCE", "target": {"a": 1}}}],
        "BALANCE cannot take",
    ),
    (
        [{"input": {"type": "METADATA", "key": "lightly.contrast"}, "strategy": {"type": "THRESHOLD", "threshold": 1}}],
        "operation': missing",
    ),
    (
        [
            {
                "input": {"type": "METADATA", "key": "lightly.contrast"},
                "strategy": {"type": "THRESHOLD", "threshold": 1, "operation": "EQUAL"},
            }
        ],
        "allowed: BIGGER, SMALLER",
    ),
    (
        [
            {
                "input": {"type": "METADATA", "key": "video_name"},
                "strategy": {"type": "BALANCE", "target": {"a": 0.7, "b": 0.7}},
            }
        ],
        "add up to 1.4",
    ),
    ([{"input": {"type": "METADATA", "key": "video_name"}, "strategy": {"type": "BALANCE"}}], "BALANCE needs a target"),
    ([{"input": {"type": "METADATA"}, "strategy": {"type": "WEIGHTS"}}], "input.key': missing"),
    ([{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "strength": -1}}], "strength"),
    ([{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "threshold": 3}}], "not a key of DIVERSITY"),
    ([{"input": {"type": "PREDICTIONS"}, "strategy": {"type": "DIVERSITY"}}], "allowed: EMBEDDINGS, METADATA, SCORES"),
    ([{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}] * 2, "at most one DIVERSITY"),
    ([{"input": {"type": "METADATA", "key": "weather"}, "strategy": {"type": "WEIGHTS"}}], "give metadata=PATH"),
    ([{"input": {"type": "SCORES", "score": "u"}, "strategy": {"type": "WEIGHTS"}}], "SCORES need scores=PATH"),
    ([{"strategy": {"type": "DIVERSITY"}}], "input': missing"),
    ([], "allowed: a list"),
    ("DIVERSITY", "allowed: a list"),
]


@pytest.mark.parametrize(("strategies", "message"), BAD)
def test_invalid_strategies_are_one_line_config_errors(strategies: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=_with(strategies))
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("invalid value for 'selection.strategies")


def test_random_method_does_not_combine_with_strategies_or_pool() -> None:
    with pytest.raises(ConfigError, match="method=random cannot be combined"):
        load_config(overrides={**BASE, "method": "random", "datapool": "pool"})


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(_with([{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "BALANCE", "target": {"a": 1}}}]))
    )
    (tmp_path / "in").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "framepick.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "BALANCE cannot take the input EMBEDDINGS" in lines[0]


def test_strategy_objects_are_accepted_as_they_are() -> None:
    cfg = load_config(overrides=_with([{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]))
    again = load_config(overrides={**BASE, "selection": {"strategies": cfg.selection.strategies}})
    assert again == cfg and isinstance(again.selection.strategies[0], Strategy)


def test_strategies_on_the_command_line_as_a_yaml_list() -> None:
    cfg = load_config(
        overrides=[
            "input_dir=in",
            "output_dir=out",
            "stopping_condition.n_samples=4",
            "selection.strategies=[{input: {type: EMBEDDINGS}, strategy: {type: DIVERSITY}}]",
        ]
    )
    assert cfg.selection.strategies[0].type == "DIVERSITY"
