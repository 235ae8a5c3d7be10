from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml

from framepick import Config, ConfigError, ModelConfig, StoppingCondition, load_config
from framepick.config import KEYS, config_to_dict, config_to_yaml, describe_keys, parse_overrides

BASE = {"input_dir": "in", "output_dir": "out", "stopping_condition.n_samples": 10}


def test_defaults_match_spec() -> None:
    cfg = load_config(overrides=BASE)
    assert cfg.selected_sequence_length == 1
    assert cfg.method == "coreset"
    assert cfg.enable_corruptness_check is True
    assert cfg.remove_exact_duplicates is True
    assert cfg.normalize_embeddings is True
    assert cfg.dump_dataset is False
    assert cfg.output_image_format == "png"
    assert cfg.seed == 0
    assert cfg.min_distance is None and cfg.n_samples == 10
    assert cfg.model.input_size is None and cfg.model.size == 224


def test_words_are_yaml_scalars_and_nested_keys() -> None:
    words = ["input_dir=a", "output_dir=b", "stopping_condition.n_samples=0.25", "dump_dataset=True", "seed=7"]
    cfg = load_config(overrides=words)
    assert cfg.n_samples == 0.25 and isinstance(cfg.n_samples, float)
    assert cfg.dump_dataset is True
    assert cfg.seed == 7


def test_yaml_file_and_words_win(tmp_path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("input_dir: a\noutput_dir: b\nstopping_condition:\n  n_samples: 20\nselected_sequence_length: 10\n")
    cfg = load_config(f, overrides=["stopping_condition.n_samples=30"])
    assert cfg.n_samples == 30 and cfg.selected_sequence_length == 10


@pytest.mark.parametrize(
    ("n_samples", "length", "expected"),
    [(25, 10, "nearest valid values: 20 or 30"), (5, 10, "nearest valid values: 10"), (7, 3, "6 or 9")],
)
def test_n_samples_must_be_multiple_of_length(n_samples: int, length: int, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides={**BASE, "stopping_condition.n_samples": n_samples, "selected_sequence_length": length})
    assert "not a multiple of selected_sequence_length" in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("selected_sequence_length", 0, "selected_sequence_length"),
        ("selected_sequence_length", 2.5, "selected_sequence_length"),
        ("selected_sequence_length", True, "selected_sequence_length"),
        ("stopping_condition.n_samples", 0, "n_samples"),
        ("stopping_condition.n_samples", 1.5, "n_samples"),
        ("stopping_condition.n_samples", math.nan, "n_samples"),
        ("stopping_condition.n_samples", True, "n_samples"),
        ("stopping_condition.min_distance", -3, "min_distance"),
        ("stopping_condition.min_distance", math.inf, "min_distance"),
        ("method", "kmeans", "method"),
        ("dump_dataset", "yes please", "dump_dataset"),
        ("output_image_format", "gif", "output_image_format"),
        ("seed", -1, "seed"),
        ("input_dir", "", "input_dir"),
    ],
)
def test_bad_values_name_the_key(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides={**BASE, key: value})
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert "allowed" in message


def test_unknown_key_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match="did you mean 'selected_sequence_length'"):
        load_config(overrides={**BASE, "selected_sequence_lenght": 3})


def test_stopping_condition_required() -> None:
    with pytest.raises(ConfigError, match="no stopping condition"):
        load_config(overrides={"input_dir": "a", "output_dir": "b"})


def test_min_distance_alone_is_enough() -> None:
    cfg = load_config(overrides={"input_dir": "a", "output_dir": "b", "stopping_condition.min_distance": 0.2})
    assert cfg.min_distance == 0.2 and cfg.n_samples is None


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError, match="missing required key 'output_dir'"):
        load_config(overrides={"input_dir": "a", "stopping_condition.n_samples": 1})


def test_yaml_not_a_mapping(tmp_path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(f)


def test_bad_word() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["input_dir"])


def test_every_key_is_described() -> None:
    keys = {k for k, _, _ in describe_keys()}
    assert {"input_dir", "output_dir", "stopping_condition.n_samples", "seed", "method"} <= keys
    assert all(text for _, _, text in describe_keys())


# ------------------------------------------------------------------ one declaration, validated on construction


def test_config_built_directly_is_validated() -> None:
    """Config(...) goes through the same rules and messages as load_config."""
    with pytest.raises(ConfigError, match=r"^invalid value for 'stopping_condition.n_samples': 0; allowed: "):
        Config("in", "out", stopping_condition=StoppingCondition(n_samples=0))
    with pytest.raises(ConfigError, match=r"^invalid value for 'model.input_size': 8; allowed: an integer in"):
        ModelConfig(input_size=8)
    with pytest.raises(ConfigError, match=r"^invalid value for 'method': 'kmeans'; allowed: 'coreset' or 'random'$"):
        Config("in", "out", method="kmeans", stopping_condition=StoppingCondition(n_samples=10))
    with pytest.raises(ConfigError, match="no stopping condition"):
        Config("in", "out")
    with pytest.raises(ConfigError, match="nearest valid values: 20 or 30"):
        Config("in", "out", selected_sequence_length=10, stopping_condition=StoppingCondition(n_samples=25))
    with pytest.raises(ConfigError, match=r"^invalid value for 'input_dir': ''"):
        Config("", "out", stopping_condition=StoppingCondition(n_samples=10))
    good = Config("in", "out", stopping_condition=StoppingCondition(n_samples=10))
    with pytest.raises(ConfigError, match="'seed'"):
        dataclasses.replace(good, seed=-1)


def test_config_built_directly_normalises_like_load_config() -> None:
    direct = Config(Path("in"), "out", method="Random", stopping_condition={"n_samples": 10}, model={"device": "CPU"})  # type: ignore[arg-type]
    assert direct == load_config(overrides={**BASE, "method": "random", "model.device": "cpu"})
    assert direct.input_dir == "in" and isinstance(direct.stopping_condition, StoppingCondition)
    with pytest.raises(ConfigError, match=r"unknown configuration key 'model\.devise'; did you mean 'model\.device'"):
        Config("in", "out", stopping_condition={"n_samples": 10}, model={"devise": "cpu"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^invalid value for 'model': 5; allowed: a ModelConfig"):
        Config("in", "out", stopping_condition={"n_samples": 10}, model=5)  # type: ignore[arg-type]


def test_none_is_off_in_python_and_minus_one_still_works() -> None:
    assert StoppingCondition() == StoppingCondition(None, None) == StoppingCondition(-1, -1.0)
    assert StoppingCondition(n_samples=-1, min_distance=-1).n_samples is None
    python = load_config(input_dir="a", output_dir="b", stopping_condition={"n_samples": None, "min_distance": 0.5})
    words = load_config(
        overrides=["input_dir=a", "output_dir=b", "stopping_condition.n_samples=-1"],
        **{"stopping_condition.min_distance": 0.5},
    )
    assert python == words and words.n_samples is None and words.min_distance == 0.5
    assert python.to_dict()["stopping_condition"] == {"n_samples": None, "min_distance": 0.5}


def test_minus_one_and_null_from_yaml(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("input_dir: a\noutput_dir: b\nstopping_condition:\n  n_samples: -1\n  min_distance: null\n")
    with pytest.raises(ConfigError, match="no stopping condition"):
        load_config(f)
    cfg = load_config(f, overrides=["stopping_condition.min_distance=-1", "stopping_condition.n_samples=4"])
    assert (cfg.n_samples, cfg.min_distance) == (4, None)


def test_written_config_spells_off_as_minus_one_and_loads_back(tmp_path: Path) -> None:
    cfg = load_config(overrides={**BASE, "cache_dir": "none", "selection_dim": -1})
    written = config_to_dict(cfg)
    assert written["stopping_condition"] == {"n_samples": 10, "min_distance": -1.0}
    assert written["cache_dir"] is None and written["selection_dim"] == -1
    text = config_to_yaml(cfg)
    assert "min_distance: -1.0" in text and yaml.safe_load(text) == written
    f = tmp_path / "config.yaml"
    f.write_text(text)
    assert load_config(f) == cfg == Config.from_dict(written) == Config.from_dict(cfg.to_dict())


def test_keys_are_the_dataclass_fields() -> None:
    """One declaration: KEYS, describe_keys and the dataclass defaults agree by construction."""
    names = [k.name for k in KEYS]
    assert names[:3] == ["input_dir", "output_dir", "selected_sequence_length"]
    assert len(names) == len(set(names)) == len(describe_keys())
    defaults = Config("in", "out", stopping_condition={"n_samples": 10}).to_dict()  # type: ignore[arg-type]
    for k in KEYS:
        if k.required:
            continue
        value: object = defaults
        for part in k.name.split("."):
            value = value[part]  # type: ignore[index]
        if k.name != "stopping_condition.n_samples":
            assert value == k.default, k.name
        assert k.rule.allowed and k.help and "\n" not in k.help
    described = {key: default for key, default, _ in describe_keys()}
    assert described["stopping_condition.n_samples"] == -1 and described["input_dir"] is None
