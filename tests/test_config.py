from __future__ import annotations

import math

import pytest

from framepick import ConfigError, load_config
from framepick.config import describe_keys, parse_overrides

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
    assert cfg.min_distance == -1.0
    assert cfg.model.input_size == 224


def test_words_are_yaml_scalars_and_nested_keys() -> None:
    words = ["input_dir=a", "output_dir=b", "stopping_condition.n_samples=0.25", "dump_dataset=True", "seed=7"]
    cfg = load_config(overrides=words)
    assert cfg.n_samples == 0.25 and isinstance(cfg.n_samples, float)
    assert cfg.dump_dataset is True
    assert cfg.seed == 7


def test_yaml_file_and_words_win(tmp_path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("input_dir: a\noutput_dir: b\nstopping_condition:\n  n_samples: 20\nselected_sequence_length: 10\n")
    cfg = load_config(f, ["stopping_condition.n_samples=30"])
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
    assert cfg.min_distance == 0.2 and cfg.n_samples == -1


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
