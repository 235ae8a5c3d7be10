"""Configuration fuzzing: any bad configuration is one line on stderr and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framepick.cli import main
from framepick.config import describe_keys

KEYS = [key for key, _, _ in describe_keys()]
PATH_KEYS = {"input_dir", "output_dir"}
OPTIONAL_PATH_KEYS = {
    "cache_dir",
    "embeddings",
    "metadata",
    "scores",
    "datapool",
    "model.path",
    "ray.address",
    "checkpoint",
}
# keys whose values are numbers with bounds (the training's lightly.* rates and strengths)
NUMBER_KEYS = {key for key, default, _ in describe_keys() if key.startswith("lightly.") and isinstance(default, float)}

# Values no key accepts, as YAML text on the command line.
# For path keys: YAML that is not a string (any string may be a folder name).
path_junk = st.sampled_from(
    [".nan", ".inf", "[1, 2]", "{a: 1}", "[]", "''", '""', "5", "-3", "true", "2.5", "2020-01-01"]
)
junk = st.sampled_from(
    [".nan", ".inf", "-.inf", ".NaN", "[1, 2]", "{a: 1}", "[]", "1e400", "9" * 5000, "-" + "9" * 40, "''", '""']
)


def _bad_values(key: str) -> st.SearchStrategy[str]:
    """YAML words that are invalid for ``key``."""
    numbers = st.one_of(st.integers(-(10**30), -2), st.integers(2**32, 10**30), st.just("-1.5")).map(str)
    if key in PATH_KEYS:
        return st.one_of(path_junk, st.sampled_from(["", "  ", "null", "~"]))
    if key in OPTIONAL_PATH_KEYS:
        return st.one_of(path_junk, st.sampled_from(["", "  "]))
    if key == "model.input_size":  # none is allowed (the model's own size)
        return st.one_of(junk, numbers, st.sampled_from(["", "true", "false", "3.0", "1.5", "0x", "-1", "31", "1025"]))
    if key == "ray.num_gpus_per_embedder":
        return st.one_of(junk, st.sampled_from(["", "true", "null", "-2", "-0.5", "abc"]))
    if key in NUMBER_KEYS:  # every such key's bounds lie within [0, 100]
        return st.one_of(junk, st.sampled_from(["", "true", "null", "abc", "-0.5", "1e9", "[0.1]"]))
    if key in (
        "method",
        "output_image_format",
        "model.name",
        "model.device",
        "model.engine",
        "executor",
        "sequence_boundaries",
    ):
        return st.one_of(junk, numbers, st.sampled_from(["", "true", "null", "CoreSet2", "gif", "tpu"]))
    if key in ("model.mean", "model.std"):  # three numbers (and only with model.path, which the fuzz never sets)
        return st.one_of(junk, st.sampled_from(["1,2", "[1, 2, 3, 4]", "a,b,c", "[.nan, 1, 1]", "true"]))
    if key == "export_format":
        return st.one_of(junk, numbers, st.sampled_from(["", "gif", "cvat,gif", "none,cvat", "true", "null", ","]))
    if key in (
        "enable_corruptness_check",
        "remove_exact_duplicates",
        "normalize_embeddings",
        "dump_dataset",
        "export_clips",
        "enable_training",
    ):
        return st.one_of(junk, numbers, st.sampled_from(["", "0", "1", "maybe", "null", "2.0"]))
    if key == "stopping_condition.n_samples":
        return st.one_of(junk, st.sampled_from(["0", "-2", "1.5", "0.0", "true", "", "-1.0", str(2**31)]))
    if key == "stopping_condition.min_distance":
        return st.one_of(junk, st.sampled_from(["0", "-2", "-0.5", "true", "", "none", "abc"]))
    if key == "selection.strategies":  # a YAML list of {input, strategy} mappings
        entries = st.sampled_from(
            [
                "[{input: {type: EMBEDDINGS}}]",
                "[{input: {type: EMBEDDINGS}, strategy: {type: BALANCE, target: {a: 1}}}]",
                "[{input: {type: METADATA, key: k}, strategy: {type: DIVERSITY}}]",
                "[{input: {type: SCORES, score: s}, strategy: {type: WEIGHTS}}]",
                "[{input: {type: X}, strategy: {type: DIVERSITY}}]",
                "[{input: {type: EMBEDDINGS}, strategy: {type: DIVERSITY, strength: .nan}}]",
                "[{input: {type: EMBEDDINGS}, strategy: {type: DIVERSITY}, extra: 1}]",
            ]
        )
        return st.one_of(junk.filter(lambda v: v not in ("''", '""')), entries, st.sampled_from(["", "true", "5"]))
    if key == "selection_dim":  # -1 means full dimension here
        return st.one_of(junk, numbers, st.sampled_from(["", "true", "null", "0", "-2", "65537", "1.5"]))
    # integer keys
    return st.one_of(junk, numbers, st.sampled_from(["", "true", "false", "null", "3.0", "1.5", "0x", "-1"]))


def _assert_config_error(code: int, capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("framepick: configuration error: ")
    assert "Traceback" not in captured.err
    return captured.err


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(KEYS), data=st.data())
def test_every_key_with_bad_values(key: str, data: st.DataObject, capsys, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    value = data.draw(_bad_values(key))
    words = {"input_dir": "/nonexistent/in", "output_dir": "/nonexistent/out", "stopping_condition.n_samples": "10"}
    words[key] = value
    code = main(["run", *(f"{k}={v}" for k, v in words.items())])
    err = _assert_config_error(code, capsys)
    assert len(err) < 400


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text(min_size=0, max_size=30).filter(lambda w: not w.startswith(("--", "-h"))), max_size=5))
def test_arbitrary_words_without_paths(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    words = [w for w in words if "input_dir" not in w]
    code = main(["run", *words])
    _assert_config_error(code, capsys)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.text(min_size=1, max_size=20).filter(
        lambda k: k.strip() not in KEYS and "=" not in k and not k.startswith("-")
    ),
    value=st.text(max_size=10),
)
def test_unknown_keys(key: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "input_dir=/x", "output_dir=/y", "stopping_condition.n_samples=5", f"{key}={value}"])
    err = _assert_config_error(code, capsys)
    assert "unknown configuration key" in err or "invalid argument" in err or "invalid configuration key" in err


yaml_documents = st.one_of(
    st.sampled_from(
        ["- a\n- b\n", "just text\n", "42\n", "3.5\n", "true\n", "[1, {a: 2}]\n", "{1: 2}\n", "{null: 1}\n"]
    ),
    st.sampled_from(["{a: [\n", "key: value\n  bad indent: x\n", "\t- tab\n", "!!python/object:os.system x\n"]),
    st.sampled_from(
        ["seed: .nan\n", "model: 5\n", "model: {input_size: [1]}\n", "stopping_condition: {n_samples: 0}\n"]
    ),
    st.sampled_from([f"seed: {'9' * 5000}\n", "input_dir: ''\n", "cache_dir: 7\n", "selected_sequence_length: -3\n"]),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=yaml_documents)
def test_yaml_files_that_are_not_valid_configurations(document: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(document, encoding="latin-1")
    try:
        data = yaml.safe_load(document)
    except Exception:
        data = None
    if isinstance(data, dict) and data and all(isinstance(k, str) for k in data) and "input_dir" in data:
        return  # may be valid up to the paths; not this test's business
    code = main(["run", "--config", str(path)])
    _assert_config_error(code, capsys)
