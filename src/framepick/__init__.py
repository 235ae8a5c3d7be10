"""framepick: pick diverse frames or sequences of frames from video collections, offline.

The whole run is :func:`run`; each stage is public too, so the library can be used piece
by piece: :func:`discover` (or :func:`scan_input`, which also lists what it skipped),
:func:`embed_sources`, :func:`build_table`, :func:`run_checks`, :func:`make_sequences`,
:func:`sequence_embeddings`, :func:`select`.
"""

from __future__ import annotations

from ._version import __version__
from .checks import CheckResult, run_checks
from .config import Config, ModelConfig, StoppingCondition, describe_keys, load_config
from .discover import Discovery, Source, discover, scan_input
from .embed import Embedder, SourceFrames, create_embedder, embed_sources
from .errors import (
    ConfigError,
    DecodeError,
    FramepickError,
    InputError,
    ModelError,
    NoCandidatesError,
    OutputError,
    SelectionError,
)
from .pipeline import RunResult, run
from .select import Selection, covering_radius, kcenter_greedy, select
from .sequences import Sequences, make_sequences, sequence_embeddings
from .table import FrameTable, build_table

__all__ = [
    "CheckResult",
    "Config",
    "ConfigError",
    "DecodeError",
    "Discovery",
    "Embedder",
    "FrameTable",
    "FramepickError",
    "InputError",
    "ModelConfig",
    "ModelError",
    "NoCandidatesError",
    "OutputError",
    "RunResult",
    "Selection",
    "SelectionError",
    "Sequences",
    "Source",
    "SourceFrames",
    "StoppingCondition",
    "__version__",
    "build_table",
    "covering_radius",
    "create_embedder",
    "describe_keys",
    "discover",
    "embed_sources",
    "kcenter_greedy",
    "load_config",
    "make_sequences",
    "run",
    "run_checks",
    "scan_input",
    "select",
    "sequence_embeddings",
]
