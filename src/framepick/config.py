"""One typed, validated configuration object.

Every value enters through :func:`load_config` (or :meth:`Config.from_dict`), which validates
it once and raises :class:`~framepick.errors.ConfigError` with one clear line; inner code
trusts a :class:`Config`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = [
    "Config",
    "ModelConfig",
    "StoppingCondition",
    "describe_keys",
    "load_config",
    "parse_overrides",
]


@dataclass(frozen=True)
class StoppingCondition:
    n_samples: int | float = -1
    min_distance: float = -1.0


@dataclass(frozen=True)
class ModelConfig:
    name: str = "efficientnet-lite0"
    input_size: int = 224
    batch_size: int = 32
    device: str = "auto"
    engine: str = "auto"


@dataclass(frozen=True)
class Config:
    input_dir: str
    output_dir: str
    selected_sequence_length: int = 1
    stopping_condition: StoppingCondition = field(default_factory=StoppingCondition)
    method: str = "coreset"
    enable_corruptness_check: bool = True
    remove_exact_duplicates: bool = True
    normalize_embeddings: bool = True
    dump_dataset: bool = False
    output_image_format: str = "png"
    seed: int = 0
    selection_dim: int | str = "auto"
    embedding_frame_stride: int = 1
    model: ModelConfig = field(default_factory=ModelConfig)
    cache_dir: str | None = "auto"
    embeddings: str | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """Validate a (possibly nested) mapping; raises ConfigError on the first bad key."""
        return _build(_flatten(values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # Derived values the pipeline needs, computed from validated fields only.
    @property
    def n_samples(self) -> int | float:
        return self.stopping_condition.n_samples

    @property
    def min_distance(self) -> float:
        return self.stopping_condition.min_distance


# ----------------------------------------------------------------------------- validators

Validator = Callable[[str, Any], Any]


def _shown(value: Any, limit: int = 60) -> str:
    """A short, one-line repr of any value (even ints too long for repr)."""
    try:
        text = repr(value)
    except Exception:  # e.g. ValueError: an int with more digits than Python prints
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid value for '{key}': {_shown(value)}; allowed: {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _path(key: str, value: Any) -> str:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _fail(key, value, "a non-empty path")
    return value


def _optional_path(key: str, value: Any) -> str | None:
    """A path, or None for YAML null or the word ``none`` (the feature is off)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return _path(key, value)


def _int_at_least(low: int, high: int | None = None) -> Validator:
    def check(key: str, value: Any) -> int:
        if not _is_int(value) or value < low or (high is not None and value > high):
            bound = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
            raise _fail(key, value, bound)
        return int(value)

    return check


def _choice(*options: str) -> Validator:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in options:
            raise _fail(key, value, " or ".join(repr(o) for o in options))
        return value.lower()

    return check


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def _selection_dim(key: str, value: Any) -> int | str:
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    if _is_int(value) and (value >= 1 or value == -1) and value <= 65536:
        return int(value)
    raise _fail(key, value, "'auto', an integer in [1, 65536] (principal components), or -1 (full embedding dimension)")


def _n_samples(key: str, value: Any) -> int | float:
    if _is_int(value) and (1 <= value <= _LIMIT or value == -1):
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and 0.0 < value <= 1.0:
        return float(value)
    raise _fail(key, value, f"an integer in [1, {_LIMIT}] (frames), a fraction in (0, 1], or -1 (off)")


def _min_distance(key: str, value: Any) -> float:
    if _is_number(value) and (value > 0 or value == -1):
        return float(value)
    raise _fail(key, value, "a number > 0, or -1 (off)")


_LIMIT = 2**31 - 1

# key -> (default, validator, one-line description). Order is the order `framepick config` prints.
_SCHEMA: dict[str, tuple[Any, Validator, str]] = {
    "input_dir": (None, _path, "folder of videos, frame folders and images to read (never written)"),
    "output_dir": (None, _path, "folder to write the results to"),
    "selected_sequence_length": (1, _int_at_least(1, _LIMIT), "frames per selected sequence"),
    "stopping_condition.n_samples": (
        -1,
        _n_samples,
        "frames to select (int, a multiple of the sequence length), fraction of candidates, or -1",
    ),
    "stopping_condition.min_distance": (
        -1.0,
        _min_distance,
        "stop once every candidate is closer than this to the selection; -1 is off",
    ),
    "method": ("coreset", _choice("coreset", "random"), "coreset (diverse, k-center) or random"),
    "enable_corruptness_check": (True, _bool, "detect and exclude corrupt files and frames"),
    "remove_exact_duplicates": (True, _bool, "exclude frames whose pixels equal an earlier frame"),
    "normalize_embeddings": (True, _bool, "L2-normalise frame embeddings before averaging"),
    "dump_dataset": (False, _bool, "write the selected frames as images to data/sampled/"),
    "output_image_format": ("png", _choice("png", "jpg"), "image format of dumped frames"),
    "seed": (0, _int_at_least(0, 2**32 - 1), "seed of every random choice"),
    "selection_dim": (
        "auto",
        _selection_dim,
        "select in this many principal components (-1: full dimension; auto: full up to 50,000 candidates, else 64)",
    ),
    "embedding_frame_stride": (
        1,
        _int_at_least(1, _LIMIT),
        "embed only every s-th frame of each sequence (all frames are still decoded and checked)",
    ),
    "model.name": ("efficientnet-lite0", _choice("efficientnet-lite0"), "embedding model"),
    "model.input_size": (224, _int_at_least(32, 1024), "square input resolution of the model"),
    "model.batch_size": (32, _int_at_least(1, 4096), "frames per inference batch"),
    "model.device": ("auto", _choice("auto", "cpu", "cuda"), "auto uses CUDA when available"),
    "model.engine": (
        "auto",
        _choice("auto", "torch", "torch-bf16", "torch-fp16", "onnx"),
        "inference engine; auto picks the fastest available (torch-bf16 on bf16 CPUs, else onnx, else torch)",
    ),
    "cache_dir": (
        "auto",
        _optional_path,
        "embedding cache folder; auto: $FRAMEPICK_CACHE_DIR, $XDG_CACHE_HOME/framepick or ~/.cache/framepick; "
        "none: no cache",
    ),
    "embeddings": (
        None,
        _optional_path,
        "a Lightly-format embeddings.csv to use instead of running the model; none: compute",
    ),
}

_REQUIRED = ("input_dir", "output_dir")


def describe_keys() -> list[tuple[str, Any, str]]:
    """(key, default, description) for every configuration key."""
    return [(key, default, text) for key, (default, _, text) in _SCHEMA.items()]


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ConfigError(f"invalid configuration key {_shown(key)}: keys are strings")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and any(k.startswith(full + ".") for k in _SCHEMA):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(_SCHEMA), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else "; run 'framepick config' to list the keys"
    shown = f"'{key}'" if key.isprintable() and len(key) <= 60 else _shown(key)
    return ConfigError(f"unknown configuration key {shown}{hint}")


def _build(flat: Mapping[str, Any]) -> Config:
    for key in flat:
        if key not in _SCHEMA:
            raise _unknown(key)
    for key in _REQUIRED:
        if flat.get(key) is None:
            raise ConfigError(f"missing required key '{key}': pass {key}=PATH")
    clean = {key: _SCHEMA[key][1](key, flat[key]) for key in _SCHEMA if key in flat}
    value = {key: clean.get(key, _SCHEMA[key][0]) for key in _SCHEMA}

    length = value["selected_sequence_length"]
    n_samples = value["stopping_condition.n_samples"]
    if n_samples == -1 and value["stopping_condition.min_distance"] == -1:
        raise ConfigError(
            "no stopping condition: set stopping_condition.n_samples (e.g. 100) and/or stopping_condition.min_distance"
        )
    if _is_int(n_samples) and n_samples != -1 and n_samples % length:
        lower = (n_samples // length) * length
        options = [v for v in (lower, lower + length) if v >= length]
        raise ConfigError(
            f"invalid value for 'stopping_condition.n_samples': {n_samples} is not a multiple of "
            f"selected_sequence_length={length}; nearest valid values: " + " or ".join(str(v) for v in options)
        )

    def group(prefix: str) -> dict[str, Any]:
        return {k[len(prefix) :]: v for k, v in value.items() if k.startswith(prefix)}

    top = {k: v for k, v in value.items() if "." not in k}
    return Config(
        **top,
        stopping_condition=StoppingCondition(**group("stopping_condition.")),
        model=ModelConfig(**group("model.")),
    )


def _parse_scalar(key: str, text: str) -> Any:
    if not text.strip():
        return text  # ``key=`` is an empty value (rejected by every key), not YAML's null
    try:
        value = yaml.safe_load(text)
    except Exception:  # not YAML (or a number Python refuses to hold): the words themselves
        return text
    if isinstance(value, (dict, list)):
        raise ConfigError(f"invalid value for '{key}': {text!r}; give a single value, not a YAML collection")
    return value


def parse_overrides(words: Iterable[str]) -> dict[str, Any]:
    """Turn ``key=value`` words into a flat mapping (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"invalid argument {_shown(word)}: expected key=value (e.g. input_dir=videos/)")
        if key not in _SCHEMA:
            raise _unknown(key)  # before the value: the key is the first thing wrong
        out[key] = _parse_scalar(key, text)
    return out


def _read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from None
    try:
        data = yaml.safe_load(text)
    except Exception as exc:  # YAMLError, or e.g. ValueError for an int too long to hold
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ConfigError(f"config file '{path}' is not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file '{path}' must be a YAML mapping of key: value, got {type(data).__name__}")
    return _flatten(data)


def load_config(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    **kwargs: Any,
) -> Config:
    """Merge a YAML file, ``key=value`` words or a mapping, and keyword arguments (last wins)."""
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(_read_yaml(config_file))
    if overrides is not None:
        merged.update(_flatten(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides))
    merged.update(_flatten(kwargs))
    return _build(merged)


def config_to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
