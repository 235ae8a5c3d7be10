"""One typed, validated configuration object, declared once.

Each key is declared once, as a field of the frozen dataclasses below: its type (the
annotation), its default, its :class:`Rule` (what it accepts, enforced and described by the
same object) and its help text (``field(metadata=...)``). :data:`KEYS`, ``framepick config``
(:func:`describe_keys`), ``config/config.yaml`` (:func:`config_to_yaml`) and the keys table of
``docs/reference.md`` (:func:`keys_markdown`) are all derived from those fields, so they cannot
disagree.

Every :class:`Config` is validated when it is built, however it is built (:func:`load_config`,
:meth:`Config.from_dict` or ``Config(...)`` directly), and a bad value raises
:class:`~framepick.errors.ConfigError` with one line naming the key; inner code trusts a
:class:`Config`.

``None`` means "off" in Python (``stopping_condition.n_samples``, ``stopping_condition.min_distance``,
``cache_dir``, ``embeddings``). Lightly's ``-1`` is accepted for the two stopping conditions
everywhere and becomes ``None``; files framepick writes (``config.yaml``, ``report.json``) spell
off as ``-1`` for them, as Lightly does, so existing parsers keep working.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

import yaml

from ._accept import is_int as _is_int
from ._accept import is_number as _is_number
from ._accept import shown as _shown
from ._accept import word as _word
from .engines import ENGINE_NAMES, engine_help
from .errors import ConfigError
from .strategy_types import STRATEGIES_KEY, Diversity, Strategy, StrategyInput, check_input_files, parse_strategies
from .values import BUILTIN_METADATA

__all__ = [
    "BUILTIN_METADATA",
    "KEYS",
    "Config",
    "Key",
    "LightlyConfig",
    "ModelConfig",
    "RayConfig",
    "Rule",
    "SelectionConfig",
    "StoppingCondition",
    "Strategy",
    "StrategyInput",
    "check_stopping",
    "config_to_dict",
    "config_to_yaml",
    "describe_keys",
    "keys_markdown",
    "load_config",
    "parse_overrides",
    "validate_key",
    "with_keys_table",
]

_LIMIT = 2**31 - 1

# ----------------------------------------------------------------------------- rules


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid value for '{key}': {_shown(value)}; allowed: {allowed}")


_REJECT: Any = object()  # what an accept function returns for a value its rule does not allow


@dataclass(frozen=True)
class Rule:
    """What one key accepts: ``allowed`` is both the error message's and the docs' wording of
    what ``accept`` lets through, so the two cannot drift apart."""

    allowed: str
    accept: Callable[[Any], Any]  # the clean value, or _REJECT
    dump: Callable[[Any], Any] | None = None  # the clean value as files spell it (None: as it is)

    def __call__(self, key: str, value: Any) -> Any:
        clean = self.accept(value)
        if clean is _REJECT:
            raise _fail(key, value, self.allowed)
        return clean


def _path(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        return _REJECT
    return value


def _optional_path(value: Any) -> Any:
    """A path, or None for null or the word ``none`` (the feature is off)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return _path(value)


def _ints(low: int, high: int) -> Rule:
    return Rule(f"an integer in [{low}, {high}]", lambda v: int(v) if _is_int(v) and low <= v <= high else _REJECT)


def _choice(*options: str) -> Rule:
    def accept(value: Any) -> Any:
        return value.lower() if isinstance(value, str) and value.lower() in options else _REJECT

    return Rule(" or ".join(repr(o) for o in options), accept)


def _bool(value: Any) -> Any:
    return value if isinstance(value, bool) else _REJECT


DEFAULT_INPUT_SIZE = 224


def _optional_int(low: int, high: int) -> Callable[[Any], Any]:
    def accept(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        return int(value) if _is_int(value) and low <= value <= high else _REJECT

    return accept


def _floats(low: float, high: float, *, open_low: bool = False) -> Rule:
    """A number in [low, high] (``open_low``: above ``low``)."""
    left = "(" if open_low else "["

    def accept(value: Any) -> Any:
        if not _is_number(value) or value > high or value < low or (open_low and value == low):
            return _REJECT
        return float(value)

    return Rule(f"a number in {left}{low}, {high}]", accept)


_PROB = _floats(0.0, 1.0)


def _gpus(value: Any) -> Any:
    if _is_number(value) and (value >= 0 or value == -1):
        return float(value)
    return _REJECT


def _selection_dim(value: Any) -> Any:
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    if _is_int(value) and (value >= 1 or value == -1) and value <= 65536:
        return int(value)
    return _REJECT


def _n_samples(value: Any) -> Any:
    if value is None or (_is_int(value) and value == -1):
        return None  # off
    if _is_int(value) and 1 <= value <= _LIMIT:
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and 0.0 < value <= 1.0:
        return float(value)
    return _REJECT


def _min_distance(value: Any) -> Any:
    if value is None or (_is_number(value) and value == -1):
        return None  # off
    return float(value) if _is_number(value) and value > 0 else _REJECT


def _triple(positive: bool) -> Callable[[Any], Any]:
    def accept(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        if isinstance(value, str):  # "0.5,0.5,0.5" on the command line
            parts = [p.strip() for p in value.strip("[]() ").split(",")]
            try:
                value = [float(p) for p in parts]
            except ValueError:
                return _REJECT
        if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_is_number(v) for v in value):
            return _REJECT
        if positive and not all(v > 0 for v in value):
            return _REJECT
        return tuple(float(v) for v in value)

    return accept


class _TripleRule(Rule):
    def with_positive(self) -> Rule:
        return Rule("three numbers > 0, e.g. [0.229, 0.224, 0.225], or none", _triple(True), dump=list)


RGB_TRIPLE = _TripleRule("three numbers, e.g. [0.485, 0.456, 0.406], or none", _triple(False), dump=list)


def _formats(value: Any) -> Any:
    """``export_format``: tool names, comma-separated or a list; the clean value is a comma-joined string."""
    words = value if isinstance(value, (list, tuple)) else str(value).split(",") if isinstance(value, str) else None
    if words is None or not all(isinstance(w, str) for w in words):
        return _REJECT
    clean = [w.strip().lower() for w in words if w.strip()]
    if not clean or any(w not in EXPORT_FORMATS for w in clean):
        return _REJECT
    if "none" in clean:
        return "none" if len(clean) == 1 else _REJECT
    return ",".join(dict.fromkeys(clean))


EXPORT_FORMATS = ("cvat", "label_studio", "fiftyone", "none")

PATH = Rule("a non-empty path", _path)
OPTIONAL_PATH = Rule("a non-empty path, or none (off)", _optional_path)
BOOL = Rule("true or false", _bool)


def _about(rule: Rule, help: str, *, off: Any = None) -> dict[str, Any]:
    """Field metadata of a key: its rule, its help text and, where Python's ``None`` (off) is
    written differently in files (Lightly's ``-1``), that spelling."""
    return {"rule": rule, "help": help, "off": off}


# ----------------------------------------------------------------------------- selection strategies
# The strategy types are classes in one registry (framepick.strategy_types); this key holds instances of them.


def _strategies(value: Any) -> Any:
    """``selection.strategies``: a non-empty list of entries, at most one DIVERSITY."""
    if value is None:
        return None
    if isinstance(value, tuple) and all(isinstance(v, Strategy) for v in value):
        items = [v.to_dict() for v in value]
    elif isinstance(value, list) and value:
        items = value
    else:
        return _REJECT
    return parse_strategies(items)


STRATEGIES = Rule(
    "a list of {input: {type: ...}, strategy: {type: ...}} entries (Lightly's selection strategies), or none",
    _strategies,
    dump=lambda parsed: [s.to_dict() for s in parsed],
)


# ----------------------------------------------------------------------------- the declaration


def _check_fields(obj: Any, prefix: str) -> None:
    """Validate and normalise every field of a frozen config dataclass in place."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        group = f.metadata.get("group")
        if group is not None:
            clean = _group(prefix + f.name, value, group)
        else:
            clean = f.metadata["rule"](prefix + f.name, value)
        if clean is not value:
            object.__setattr__(obj, f.name, clean)


@dataclass(frozen=True)
class StoppingCondition:
    """When selection stops; ``None`` is off. With both on, whichever is reached first."""

    n_samples: int | float | None = field(
        default=None,
        metadata=_about(
            Rule(f"an integer in [1, {_LIMIT}] (frames), a fraction in (0, 1], or -1 (off)", _n_samples),
            "frames to select: an integer (a multiple of selected_sequence_length), or a fraction of the "
            "candidate frames (rounded up to whole sequences); -1: off",
            off=-1,
        ),
    )
    min_distance: float | None = field(
        default=None,
        metadata=_about(
            Rule("a number > 0, or -1 (off)", _min_distance),
            "stop once every candidate is closer than this to the selection; -1: off",
            off=-1.0,
        ),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "stopping_condition.")


@dataclass(frozen=True)
class SelectionConfig:
    """Lightly's selection strategies; absent, selection is DIVERSITY on EMBEDDINGS (``method``)."""

    strategies: tuple[Strategy, ...] | None = field(
        default=None,
        metadata=_about(
            STRATEGIES,
            "selection strategies, combined as Lightly combines them (THRESHOLDs filter, then one greedy loop "
            "maximises the product of the objectives raised to their strengths); give the list in the --config "
            "file; none: DIVERSITY on EMBEDDINGS",
        ),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "selection.")

    @property
    def diversity(self) -> Diversity | None:
        """The DIVERSITY entry (implied when no strategy is given)."""
        if self.strategies is None:
            return None
        return next((s for s in self.strategies if isinstance(s, Diversity)), None)


@dataclass(frozen=True)
class ModelConfig:
    """The embedding model and how it runs."""

    name: str = field(default="efficientnet-lite0", metadata=_about(_choice("efficientnet-lite0"), "embedding model"))
    input_size: int | None = field(
        default=None,
        metadata=_about(
            Rule("an integer in [32, 1024], or none", _optional_int(32, 1024)),
            "square resolution frames are resized to for the model; none: 224 for the built-in model, a "
            "model.path model's own fixed size (a model with a dynamic input size needs it set)",
        ),
    )
    batch_size: int = field(default=32, metadata=_about(_ints(1, 4096), "frames per inference batch"))
    device: str = field(
        default="auto", metadata=_about(_choice("auto", "cpu", "cuda"), "auto uses CUDA when available")
    )
    engine: str = field(
        default="auto", metadata=_about(_choice("auto", *ENGINE_NAMES), engine_help())
    )  # the engines are declared once, in framepick.engines

    path: str | None = field(
        default=None,
        metadata=_about(
            OPTIONAL_PATH,
            "your own embedding model instead of name: an ONNX file (one NCHW float input, one 2-D output) or a "
            "TorchScript file; its input size is read from the model when fixed, else model.input_size; none: "
            "the built-in model",
        ),
    )
    mean: tuple[float, float, float] | None = field(
        default=None,
        metadata=_about(
            RGB_TRIPLE,
            "per-channel mean subtracted from 0-1 RGB before a model.path model; none: ImageNet's "
            "[0.485, 0.456, 0.406] (the built-in model has its own preprocessing)",
        ),
    )
    std: tuple[float, float, float] | None = field(
        default=None,
        metadata=_about(
            RGB_TRIPLE.with_positive(),
            "per-channel standard deviation 0-1 RGB is divided by before a model.path model; none: ImageNet's "
            "[0.229, 0.224, 0.225]",
        ),
    )

    @property
    def size(self) -> int:
        """The built-in model's input size: ``input_size``, 224 when none is given."""
        return self.input_size if self.input_size is not None else DEFAULT_INPUT_SIZE

    def __post_init__(self) -> None:
        _check_fields(self, "model.")
        if self.path is None and (self.mean is not None or self.std is not None):
            raise ConfigError(
                "model.mean and model.std apply to a model.path model only: the built-in model has its own "
                "preprocessing; remove them or set model.path"
            )


@dataclass(frozen=True)
class RayConfig:
    """Where and how ``executor=ray`` runs decoding and embedding (pip install "framepick[ray]")."""

    address: str | None = field(
        default=None,
        metadata=_about(
            Rule("auto, ray://HOST:PORT, HOST:PORT, or none", _optional_path),
            "the Ray cluster to join: auto (the one started with 'ray start'), ray://HOST:PORT, or none: "
            "start a local Ray with this machine's CPUs and GPUs",
        ),
    )
    num_cpus_per_task: int = field(default=1, metadata=_about(_ints(1, 1024), "CPUs each decoding task reserves"))
    num_gpus_per_embedder: float = field(
        default=-1.0,
        metadata=_about(
            Rule("a number >= 0, or -1 (auto: 1 where the cluster has GPUs, else 0)", _gpus),
            "GPUs each embedding actor reserves; -1: 1 where the cluster has GPUs, else 0",
        ),
    )
    max_in_flight: int = field(
        default=0,
        metadata=_about(
            _ints(0, 1_000_000),
            "decoding tasks submitted at once (bounds memory); 0: twice the cluster's CPUs",
        ),
    )
    chunk_frames: int = field(
        default=1_500,
        metadata=_about(
            _ints(1, _LIMIT),
            "frames per decoding task: a long video is split at keyframes into chunks of about this many frames",
        ),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "ray.")


# ----------------------------------------------------------------------------- training (Lightly's lightly.* block)
# Lightly's names and, where they suit a CPU, its defaults (docs/training.md lists both).


@dataclass(frozen=True)
class LoaderConfig:
    """lightly.loader: how frames are batched for training."""

    batch_size: int = field(
        default=16,
        metadata=_about(_ints(2, 4096), "frames per training batch (two augmented views each; Lightly's default 16)"),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "lightly.loader.")


@dataclass(frozen=True)
class TrainerConfig:
    """lightly.trainer: how long training runs."""

    max_epochs: int = field(
        default=3,
        metadata=_about(
            _ints(1, 100_000),
            "training epochs over the frame sample (Lightly: 100, from scratch; framepick: 3, fine-tuning from "
            "ImageNet weights in minutes on a laptop CPU)",
        ),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "lightly.trainer.")


@dataclass(frozen=True)
class OptimizerConfig:
    """lightly.optimizer: SGD with momentum 0.9."""

    lr: float = field(
        default=0.001,
        metadata=_about(
            _floats(0.0, 10.0, open_low=True),
            "SGD learning rate (Lightly: 1.0, training from scratch; framepick: 0.001, since 0.01 already erased the "
            "ImageNet features it starts from in benchmarks/bench_training.py)",
        ),
    )
    weight_decay: float = field(
        default=1e-5, metadata=_about(_floats(0.0, 1.0), "SGD weight decay (L2 penalty; Lightly's default)")
    )

    def __post_init__(self) -> None:
        _check_fields(self, "lightly.optimizer.")


@dataclass(frozen=True)
class CriterionConfig:
    """lightly.criterion: the NT-Xent loss."""

    temperature: float = field(
        default=0.5,
        metadata=_about(_floats(0.0, 100.0, open_low=True), "NT-Xent temperature (Lightly's default)"),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "lightly.criterion.")


@dataclass(frozen=True)
class CollateConfig:
    """lightly.collate: the training resolution and the augmentations (SimCLR's)."""

    input_size: int = field(
        default=64,
        metadata=_about(_ints(32, 1024), "square training resolution of the augmented crops (Lightly's default)"),
    )
    cj_prob: float = field(default=0.8, metadata=_about(_PROB, "probability of colour jitter"))
    cj_strength: float = field(
        default=1.0, metadata=_about(_floats(0.0, 10.0), "scales the four colour jitter strengths below")
    )
    cj_bright: float = field(default=0.7, metadata=_about(_floats(0.0, 10.0), "colour jitter: brightness"))
    cj_contrast: float = field(default=0.7, metadata=_about(_floats(0.0, 10.0), "colour jitter: contrast"))
    cj_sat: float = field(default=0.7, metadata=_about(_floats(0.0, 10.0), "colour jitter: saturation"))
    cj_hue: float = field(default=0.2, metadata=_about(_floats(0.0, 0.5), "colour jitter: hue"))
    min_scale: float = field(
        default=0.15,
        metadata=_about(_floats(0.0, 1.0, open_low=True), "smallest random crop, as a share of the frame's area"),
    )
    random_gray_scale: float = field(default=0.2, metadata=_about(_PROB, "probability of turning a view grey"))
    gaussian_blur: float = field(default=0.5, metadata=_about(_PROB, "probability of Gaussian blur"))
    vf_prob: float = field(default=0.0, metadata=_about(_PROB, "probability of a vertical flip"))
    hf_prob: float = field(default=0.5, metadata=_about(_PROB, "probability of a horizontal flip"))
    rr_prob: float = field(default=0.0, metadata=_about(_PROB, "probability of a random 90-degree rotation"))

    def __post_init__(self) -> None:
        _check_fields(self, "lightly.collate.")


@dataclass(frozen=True)
class LightlyConfig:
    """Lightly's ``lightly`` block: training settings, read with ``enable_training=true``."""

    loader: LoaderConfig = field(default_factory=LoaderConfig, metadata={"group": LoaderConfig})
    trainer: TrainerConfig = field(default_factory=TrainerConfig, metadata={"group": TrainerConfig})
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig, metadata={"group": OptimizerConfig})
    criterion: CriterionConfig = field(default_factory=CriterionConfig, metadata={"group": CriterionConfig})
    collate: CollateConfig = field(default_factory=CollateConfig, metadata={"group": CollateConfig})

    def __post_init__(self) -> None:
        _check_fields(self, "lightly.")


@dataclass(frozen=True)
class Config:
    """A whole run's settings, validated when built; field order is the order keys are listed in."""

    input_dir: str = field(
        metadata=_about(PATH, "folder of videos, frame folders and images to read, recursively (never written)")
    )
    output_dir: str = field(metadata=_about(PATH, "folder to write the results to"))
    selected_sequence_length: int = field(
        default=1, metadata=_about(_ints(1, _LIMIT), "frames per selected sequence; 1 is plain frame selection")
    )
    sequence_boundaries: str = field(
        default="fixed",
        metadata=_about(
            _choice("fixed", "shots"),
            "fixed: sequences follow each other from a source's first frame; shots: cuts are found from the "
            "frames' embeddings and each shot is split on its own, so no sequence holds a cut (data/shots.csv)",
        ),
    )
    stopping_condition: StoppingCondition = field(
        default_factory=StoppingCondition, metadata={"group": StoppingCondition}
    )
    method: str = field(
        default="coreset", metadata=_about(_choice("coreset", "random"), "coreset (diverse, greedy k-center) or random")
    )
    selection: SelectionConfig = field(default_factory=SelectionConfig, metadata={"group": SelectionConfig})
    enable_corruptness_check: bool = field(
        default=True,
        metadata=_about(BOOL, "list damaged files and frames and drop every sequence that touches one"),
    )
    remove_exact_duplicates: bool = field(
        default=True,
        metadata=_about(BOOL, "drop frames whose decoded pixels equal an earlier frame's (JPEG files: whose bytes do)"),
    )
    normalize_embeddings: bool = field(
        default=True, metadata=_about(BOOL, "L2-normalise frame embeddings before averaging them per sequence")
    )
    dump_dataset: bool = field(
        default=False, metadata=_about(BOOL, "write the selected frames as images to data/sampled/")
    )
    output_image_format: str = field(
        default="png",
        metadata=_about(
            _choice("png", "jpg"),
            "image format of the dumped video frames; frames of frame folders and loose images are copied as they are",
        ),
    )
    seed: int = field(
        default=0,
        metadata=_about(_ints(0, 2**32 - 1), "seed of every random choice (same input + config = same output)"),
    )
    selection_dim: int | str = field(
        default="auto",
        metadata=_about(
            Rule(
                "'auto', an integer in [1, 65536] (principal components), or -1 (full embedding dimension)",
                _selection_dim,
            ),
            "select in this many principal components; -1: full dimension; auto: full up to 50,000 candidates, "
            "64 above",
        ),
    )
    embedding_frame_stride: int = field(
        default=1,
        metadata=_about(
            _ints(1, _LIMIT),
            "embed only every s-th frame of each sequence (all frames are still decoded and checked); "
            "2 is a good first speed-up for sequences",
        ),
    )
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"group": ModelConfig})
    executor: str = field(
        default="local",
        metadata=_about(
            _choice("local", "ray"),
            "local: this process; ray: decode and embed as Ray tasks and actors (ray.* keys; "
            'pip install "framepick[ray]")',
        ),
    )
    ray: RayConfig = field(default_factory=RayConfig, metadata={"group": RayConfig})
    enable_training: bool = field(
        default=False,
        metadata=_about(
            BOOL,
            "fine-tune the embedding model on a sample of the input's frames (SimCLR, lightly.* keys) before "
            'embedding, and embed with it; writes checkpoints/ (pip install "framepick[train]")',
        ),
    )
    checkpoint: str | None = field(
        default=None,
        metadata=_about(
            OPTIONAL_PATH,
            "a checkpoints/lightly_epoch_N.ckpt of an earlier training run: embed with its weights (with "
            "enable_training: train on from them); none: the ImageNet weights",
        ),
    )
    training_max_frames: int = field(
        default=2_000,
        metadata=_about(
            _ints(1, _LIMIT),
            "frames training samples (seeded, spread over the whole input) at most; every frame is still decoded "
            "once for the sample",
        ),
    )
    lightly: LightlyConfig = field(default_factory=LightlyConfig, metadata={"group": LightlyConfig})
    cache_dir: str | None = field(
        default="auto",
        metadata=_about(
            OPTIONAL_PATH,
            "embedding cache and ONNX export folder; auto: $FRAMEPICK_CACHE_DIR, else $XDG_CACHE_HOME/framepick, "
            "else ~/.cache/framepick; none: no cache, nothing written",
        ),
    )
    embeddings: str | None = field(
        default=None,
        metadata=_about(
            OPTIONAL_PATH, "a Lightly-format embeddings.csv to use instead of running the model; none: compute"
        ),
    )
    export_clips: bool = field(
        default=False,
        metadata=_about(
            BOOL, "write each selected sequence as an H.264 clip to data/clips/{source}-{first}-{last}.mp4"
        ),
    )
    export_format: str = field(
        default="none",
        metadata=_about(
            Rule("cvat, label_studio, fiftyone (several comma-separated), or none", _formats),
            "import files for labeling tools, written next to the dumped frames and clips",
        ),
    )
    metadata: str | None = field(
        default=None,
        metadata=_about(
            OPTIONAL_PATH,
            "CSV of frame metadata for METADATA strategies: a filenames column (frame names as in embeddings.csv) "
            "and one column per key, numeric or categorical; none: built-in keys only",
        ),
    )
    scores: str | None = field(
        default=None,
        metadata=_about(
            OPTIONAL_PATH, "CSV of per-frame scores for SCORES strategies: a filenames column and one column per score"
        ),
    )
    datapool: str | None = field(
        default=None,
        metadata=_about(
            OPTIONAL_PATH,
            "folder that remembers every earlier selection: its items count as selected, n_samples counts new "
            "frames, and the new picks are added at the end; none: off",
        ),
    )

    def __post_init__(self) -> None:
        _check_fields(self, "")
        check_stopping(self.stopping_condition, self.selected_sequence_length, self.selection.diversity)
        _check_strategy_files(self)
        if self.export_formats and not (self.dump_dataset or self.export_clips):
            raise ConfigError(
                f"export_format={self.export_format} needs something to hand over: set dump_dataset=true "
                "(the frames) and/or export_clips=true (the clips)"
            )
        _check_training(self)
        if self.sequence_boundaries == "shots" and self.embedding_frame_stride > 1:
            raise ConfigError(
                f"sequence_boundaries=shots finds cuts from every frame's embedding, but embedding_frame_stride="
                f"{self.embedding_frame_stride} embeds only some: set embedding_frame_stride=1 or "
                "sequence_boundaries=fixed"
            )
        if self.method == "random" and (self.selection.strategies is not None or self.datapool is not None):
            raise ConfigError(
                "method=random cannot be combined with selection.strategies or datapool: "
                "remove method=random (strategies and the datapool select with the greedy coreset)"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """Validate a (possibly nested) mapping; raises ConfigError on the first bad key."""
        return _build(_flatten(values))

    def to_dict(self) -> dict[str, Any]:
        """The values as Python holds them (``None`` is off); see :func:`config_to_dict` for files."""
        return asdict(self)

    # Shortcuts the pipeline reads.
    @property
    def n_samples(self) -> int | float | None:
        return self.stopping_condition.n_samples

    @property
    def min_distance(self) -> float | None:
        return self.stopping_condition.min_distance

    @property
    def export_formats(self) -> tuple[str, ...]:
        """The labeling tools to write import files for (empty for none)."""
        return () if self.export_format == "none" else tuple(self.export_format.split(","))


def check_stopping(stop: StoppingCondition, length: int, diversity: Diversity | None = None) -> None:
    """The rules that tie the stopping conditions to the sequence length (and each other);
    a DIVERSITY strategy's ``stopping_condition_minimum_distance`` counts as a stopping condition."""
    if stop.n_samples is None and stop.min_distance is None and (diversity is None or diversity.min_distance is None):
        raise ConfigError(
            "no stopping condition: set stopping_condition.n_samples (e.g. 100) and/or stopping_condition.min_distance"
        )
    n_samples = stop.n_samples
    if _is_int(n_samples) and n_samples % length:
        lower = (n_samples // length) * length
        options = [v for v in (lower, lower + length) if v >= length]
        raise ConfigError(
            f"invalid value for 'stopping_condition.n_samples': {n_samples} is not a multiple of "
            f"selected_sequence_length={length}; nearest valid values: " + " or ".join(str(v) for v in options)
        )


def _check_training(config: Config) -> None:
    """Training and checkpoints are the built-in network's; precomputed embeddings run no model."""
    trained = "enable_training=true" if config.enable_training else "checkpoint" if config.checkpoint else None
    if trained is None:
        return
    if config.model.path is not None:
        raise ConfigError(
            f"{trained} trains or loads the built-in EfficientNet-Lite0, not model.path: remove one of them "
            "(a trained model's ONNX file is itself a model.path)"
        )
    if config.embeddings is not None:
        raise ConfigError(f"{trained} needs a model to run, but embeddings= gives precomputed ones: remove one of them")


def _check_strategy_files(config: Config) -> None:
    """Every METADATA key that is not built in needs ``metadata=``, every SCORES input ``scores=``."""
    check_input_files(config.selection.strategies, {"metadata": config.metadata, "scores": config.scores})


def _group(key: str, value: Any, cls: type) -> Any:
    """A nested group given as its dataclass, or as a mapping of its keys (built and validated)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        flat = _flatten(value, key + ".")
        for name in flat:
            if name not in _BY_NAME:
                raise _unknown(name)
        return _construct(cls, flat, key + ".")
    raise _fail(key, value, f"a {cls.__name__} or a mapping of its keys")


def _construct(cls: type, flat: Mapping[str, Any], prefix: str) -> Any:
    """Build ``cls`` from the dotted keys under ``prefix`` (absent keys keep their defaults)."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        group = f.metadata.get("group")
        if group is not None:
            kwargs[f.name] = _construct(group, flat, f"{prefix}{f.name}.")
        elif prefix + f.name in flat:
            kwargs[f.name] = flat[prefix + f.name]
    return cls(**kwargs)


# ----------------------------------------------------------------------------- derived from the declaration


@dataclass(frozen=True)
class Key:
    """One configuration key, read off its dataclass field."""

    name: str  # dotted, e.g. "stopping_condition.n_samples"
    type: str  # the annotation, e.g. "int | float | None"
    default: Any  # the Python default; dataclasses.MISSING for a required key
    rule: Rule
    help: str
    off: Any  # how files spell None (off) when not null, e.g. -1

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def written(self, value: Any) -> Any:
        """``value`` as files framepick writes spell it (off as ``-1`` where Lightly does)."""
        if value is None:
            return self.off if self.off is not None else None
        return self.rule.dump(value) if self.rule.dump is not None else value


def _keys(cls: type, prefix: str = "") -> list[Key]:
    out: list[Key] = []
    for f in fields(cls):
        group = f.metadata.get("group")
        if group is not None:
            out.extend(_keys(group, f"{prefix}{f.name}."))
        else:
            out.append(_key(f, prefix))
    return out


def _key(f: Field[Any], prefix: str) -> Key:
    meta = f.metadata
    return Key(f"{prefix}{f.name}", str(f.type), f.default, meta["rule"], meta["help"], meta["off"])


KEYS: tuple[Key, ...] = tuple(_keys(Config))
"""Every configuration key, in the order ``framepick config`` and the docs list them."""

_BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}
_REQUIRED = tuple(k.name for k in KEYS if k.required)


def validate_key(name: str, value: Any) -> Any:
    """Check one value as the configuration does (same rule, same message); returns it clean."""
    return _BY_NAME[name].rule(name, value)


def describe_keys() -> list[tuple[str, Any, str]]:
    """(key, default as written in YAML or on the command line, description) for every key;
    the default is None for a required key."""
    return [(k.name, None if k.required else k.written(k.default), k.help) for k in KEYS]


def config_to_dict(config: Config) -> dict[str, Any]:
    """The nested mapping config.yaml and report.json hold: off is ``-1`` where Lightly writes it."""
    return _written(config, "")


def _written(obj: Any, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        name = prefix + f.name
        out[f.name] = _written(value, name + ".") if f.metadata.get("group") else _BY_NAME[name].written(value)
    return out


def config_to_yaml(config: Config) -> str:
    """config/config.yaml: loads back with :func:`load_config` into an equal :class:`Config`."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def keys_markdown() -> str:
    """The keys table of docs/reference.md (between its ``keys:begin``/``keys:end`` markers)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for k in KEYS:
        default = "required" if k.required else f"`{_word(k.written(k.default))}`"
        lines.append(f"| `{k.name}` | {default} | {cell(k.rule.allowed)} | {cell(k.help)} |")
    return "\n".join(lines) + "\n"


KEYS_BEGIN = "<!-- keys:begin -->"
KEYS_END = "<!-- keys:end -->"


def with_keys_table(text: str) -> str:
    """``text`` (a Markdown page) with the part between the keys markers replaced by :func:`keys_markdown`."""
    begin, end = text.find(KEYS_BEGIN), text.find(KEYS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no {KEYS_BEGIN} ... {KEYS_END} block")
    return text[: begin + len(KEYS_BEGIN)] + "\n" + keys_markdown() + text[end:]


# ----------------------------------------------------------------------------- reading settings


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ConfigError(f"invalid configuration key {_shown(key)}: keys are strings")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and any(k.startswith(full + ".") for k in _BY_NAME):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(_BY_NAME), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else "; run 'framepick config' to list the keys"
    shown = f"'{key}'" if key.isprintable() and len(key) <= 60 else _shown(key)
    return ConfigError(f"unknown configuration key {shown}{hint}")


def _build(flat: Mapping[str, Any]) -> Config:
    """Unknown keys first, then missing ones, then each value in declaration order."""
    for key in flat:
        if key not in _BY_NAME:
            raise _unknown(key)
    for key in _REQUIRED:
        if flat.get(key) is None:
            raise ConfigError(f"missing required key '{key}': pass {key}=PATH")
    clean = {k.name: k.rule(k.name, flat[k.name]) for k in KEYS if k.name in flat}
    config: Config = _construct(Config, clean, "")
    return config


def _parse_scalar(key: str, text: str) -> Any:
    if not text.strip():
        return text  # ``key=`` is an empty value (rejected by every key), not YAML's null
    try:
        value = yaml.safe_load(text)
    except Exception:  # not YAML (or a number Python refuses to hold): the words themselves
        return text
    if isinstance(value, (dict, list)) and key not in (STRATEGIES_KEY, "model.mean", "model.std", "export_format"):
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
        if key not in _BY_NAME:
            raise _unknown(key)  # before the value: the key is the first thing wrong
        out[key] = _parse_scalar(key, text)
    return out


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
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
    config_file: str | os.PathLike[str] | None = None,
    *,
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
