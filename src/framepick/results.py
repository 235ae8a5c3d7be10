"""The typed results of a run: ``report.json`` as the sections the stages return, and the candidates.

Each stage returns its own frozen section, and ``report.json`` is serialised once, at the
end, from all of them (:meth:`RunReport.to_json`):

- :class:`RunSummary`, what the run learnt, made once the selection is done: :class:`RunInfo`
  (version, folders, timings, configuration), :class:`DiscoverySection` (sources, what the scan
  skipped), :class:`Counts`, :class:`ChecksSection` (corrupt, left out, duplicates, timestamp
  gaps), :class:`Stopping`, :class:`RunMetrics`, the :class:`SelectedSequence` list,
  :class:`StrategyResults` and :class:`DatapoolSection`. It is what the report is built from.
- :class:`ReportSection`, the report stage's: coverage numbers, the page, each source's
  candidate counts.
- :class:`WriteSection`, the write stage's: the clips (:class:`Clip`) and the labeling tools'
  import files.

Every key is declared once, here, with its description (:func:`doc`, in the fields'
metadata): the order of ``report.json`` (:data:`LAYOUT`, and where the later stages' keys go),
:meth:`RunReport.from_json` (which ``framepick report`` reads back) and the reference table of
its keys (:func:`declared_keys`, rendered by :mod:`framepick.report_keys`) all come from these
declarations.

:class:`Candidates`: one row per candidate sequence (source, first frame, embedding, rank in
the selection), saved as ``data/candidates.npz`` (``data/candidates.csv`` is its readable
twin). ``framepick report`` loads it instead of re-deriving anything from ``embeddings.csv``.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, Union, get_args, get_origin, get_type_hints

import numpy as np

from ._fsutil import atomic_open
from .errors import OutputError

__all__ = [
    "CANDIDATES_NPZ",
    "LAYOUT",
    "Candidates",
    "ChecksSection",
    "Clip",
    "Counts",
    "DatapoolSection",
    "DeclaredKey",
    "DiscoverySection",
    "Doc",
    "ReportSection",
    "RunInfo",
    "RunMetrics",
    "RunReport",
    "RunSummary",
    "SelectedSequence",
    "ShotsSection",
    "SourceCounts",
    "SourceInfo",
    "Stopping",
    "StrategyResults",
    "TrainingSection",
    "WriteSection",
    "about",
    "declared_keys",
]

CANDIDATES_NPZ = "data/candidates.npz"

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_D = TypeVar("_D", bound="DataclassInstance")


# ----------------------------------------------------------------------------- declaring keys


@dataclass(frozen=True)
class Doc:
    """A report.json key inside a free-form section (a dict such as ``page``): what it means,
    and its own keys where they are described one by one (else it is described as a whole)."""

    what: str
    members: Mapping[str, str | Doc] = field(default_factory=dict)


def about(
    what: str,
    *,
    members: Mapping[str, str | Doc] | None = None,
    stage: str | None = None,
    at: str = "",
    merged: bool = False,
    omit_none: bool = False,
    rare: bool = False,
    json: bool = True,
) -> dict[str, Any]:
    """A section field's metadata: its report.json key, described (the reference table is made of these).

    ``members``: the described keys of a dict value (of each entry for a list). ``stage``: what
    writes it (on :class:`RunSummary`'s, :class:`RunReport`'s fields). ``at``: for a later
    stage's key, the object it goes into ("" the top level, ``metrics``); ``merged``: its
    entries' keys go into the entries of the list ``at`` instead. ``omit_none``: None leaves
    the key out (else it is ``null``). ``rare``: written only when something failed.
    ``json=False``: not written at all (in memory only).
    """
    return {
        "what": what,
        "members": {k: v if isinstance(v, Doc) else Doc(v) for k, v in (members or {}).items()},
        "stage": stage,
        "at": at,
        "merged": merged,
        "omit_none": omit_none,
        "rare": rare,
        "json": json,
    }


def _section(stage: str) -> dict[str, Any]:
    """The metadata of a field holding a section whose own fields are keys of report.json's top level."""
    return about("", stage=stage)


def _json(value: Any) -> Any:
    """A section value as report.json holds it: dataclasses as objects in field order (their
    ``to_json`` where they have one), tuples and lists as lists, anything else as it is."""
    to_json = getattr(value, "to_json", None)
    if to_json is not None and not isinstance(value, type):
        return to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return _fields_json(value)
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


def _fields_json(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if not f.metadata.get("json", True) or (value is None and f.metadata.get("omit_none")):
            continue
        out[f.name] = _json(value)
    return out


def _load(cls: type[_D], data: Mapping[str, Any]) -> _D:
    """A section dataclass from its report.json object; keys it lacks keep their defaults."""
    hints = get_type_hints(cls)
    return cls(**{f.name: _value(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data})


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type of a value or of each of its entries, whether it is a list), ``X | None`` as X."""
    if get_origin(hint) in (Union, types.UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    if get_origin(hint) in (list, tuple):
        return get_args(hint)[0], True
    return hint, False


def _is_section(hint: Any) -> TypeGuard[type[DataclassInstance]]:
    return isinstance(hint, type) and is_dataclass(hint)


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    item, many = _unwrap(hint)
    if many:
        entries = [_load(item, v) if _is_section(item) else v for v in value]
        return tuple(entries) if get_origin(_strip_none(hint)) is tuple else entries
    if _is_section(item):
        return _load(item, value)
    return dict(value) if isinstance(value, dict) else value


def _strip_none(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        return next(arg for arg in get_args(hint) if arg is not type(None))
    return hint


# ----------------------------------------------------------------------------- the run's sections


@dataclass(frozen=True)
class RunInfo:
    """The run itself: what wrote it, where, how long each stage took, with which settings."""

    framepick_version: str = field(metadata=about("the version that wrote it"))
    input_dir: str = field(metadata=about("the input folder of the run"))
    output_dir: str = field(metadata=about("the output folder of the run"))
    timings_sec: dict[str, float] = field(
        metadata=about(
            "seconds per stage. The write stage is not among them, since report.json is written inside it: its time "
            "is logged on the console and is in `result.timings` in Python",
            members={
                "discover": "scanning `input_dir`",
                "train": "with `enable_training=true`: sampling the frames and training (the `training` section has "
                "both parts)",
                "decode_embed": "decoding and embedding every source not in the cache, and reading the cached ones",
                "checks": "the corruptness and duplicate checks",
                "sequences": "forming the candidate sequences and their embeddings",
                "select": "the selection",
            },
        )
    )
    config: dict[str, Any] = field(
        metadata=about("the resolved configuration, as in `config.yaml` (the keys above; off is `-1`)")
    )


@dataclass(frozen=True)
class SourceInfo:
    """One source as the scan found it."""

    name: str = field(
        metadata=about("the source's name: its path relative to `input_dir` ([Frame names](#frame-names))")
    )
    kind: str = field(metadata=about("`video`, `frames` (a frame folder) or `image` (a loose image)"))
    frames: int = field(metadata=about("its frames"))


@dataclass(frozen=True)
class DiscoverySection:
    """The discover stage's: the sources in input order, and what the scan did not read."""

    sources: tuple[SourceInfo, ...] = field(metadata=about("one object per source, in input order"))
    skipped: dict[str, str] = field(
        default_factory=dict,
        metadata=about(
            "path → reason, for what the scan of `input_dir` did not read: link loops, second links to a folder, "
            "broken links, folders that cannot be listed",
        ),
    )


@dataclass(frozen=True)
class Counts:
    """How many of everything; ``report.json["counts"]``."""

    sources: int = field(metadata=about("sources found (videos, frame folders, loose images)"))
    sources_corrupt: int = field(
        metadata=about(
            "sources named in `corrupt`: a file that does not open, a truncated file, an undecodable loose image "
            "(0 with `enable_corruptness_check` off)"
        )
    )
    frames: int = field(metadata=about("frames found in all sources, usable or not"))
    frames_corrupt: int = field(
        metadata=about(
            "frames left out as corrupt: undecodable, and damaged ones with `enable_corruptness_check` on "
            "(`corrupt_filenames.txt`)"
        )
    )
    frames_undecodable: int = field(
        metadata=about("frames the decoder could not produce (always left out, listed in `left_out`)")
    )
    frames_damaged: int = field(
        metadata=about(
            "frames that decoded but are damaged (FFmpeg flagged them, a packet before them failed, or H.264 reference "
            "frames before them are missing), whether or not the check left them out"
        )
    )
    frames_duplicate: int = field(metadata=about("frames removed as exact duplicates of an earlier frame"))
    frames_usable: int = field(metadata=about("frames neither corrupt nor duplicate"))
    sequence_length: int = field(metadata=about("frames per sequence (`selected_sequence_length`)"))
    sequences_complete: int = field(metadata=about("complete runs of `sequence_length` frames, usable or not"))
    sequences_dropped_invalid: int = field(
        metadata=about("complete sequences dropped for a corrupt or duplicate frame")
    )
    sequence_candidates: int = field(metadata=about("candidate sequences (complete and usable)"))
    candidate_frames: int = field(metadata=about("frames in the candidate sequences"))
    incomplete_tails: int = field(metadata=about("sources whose last frames do not fill a sequence"))
    tail_frames_dropped: int = field(metadata=about("frames in those incomplete tails"))
    selected_sequences: int = field(metadata=about("sequences selected"))
    selected_frames: int = field(metadata=about("frames selected (`selected_sequences` × `sequence_length`)"))
    sources_from_cache: int = field(
        default=0, metadata=about("sources whose frames came from the embedding cache (not decoded)")
    )
    frames_from_cache: int = field(default=0, metadata=about("frames of those sources"))
    frames_decoded: int = field(default=0, metadata=about("frames decoded by this run"))
    frames_embedded: int = field(default=0, metadata=about("frames this run put through the model"))

    def left_out_line(self, corruptness_check: bool, n_problems: int) -> str | None:
        """The run's closing line about what did not take part, or None when everything did."""
        damaged_out = self.frames_damaged if corruptness_check else 0
        parts = []
        if self.frames_undecodable:
            parts.append(f"{self.frames_undecodable} could not be decoded")
        if damaged_out:
            parts.append(f"{damaged_out} damaged (corruptness check)")
        if self.frames_duplicate:
            parts.append(f"{self.frames_duplicate} exact duplicates")
        total = self.frames_undecodable + damaged_out + self.frames_duplicate
        if not (total or self.frames_damaged or n_problems):
            return None
        line = f"{total} of {self.frames} frames left out" + (f": {', '.join(parts)}" if parts else "")
        if self.frames_damaged and not damaged_out:
            line += f"; {self.frames_damaged} damaged frames kept (enable_corruptness_check=false)"
        if n_problems:
            line += f"; {n_problems} files or frames with problems, reasons in report.json 'left_out'"
        return line


@dataclass(frozen=True)
class ChecksSection:
    """The checks stage's: what was left out, and why; what was found but not held against a frame."""

    corrupt: dict[str, str] = field(
        metadata=about("frame or file name → reason, for everything in `corrupt_filenames.txt`")
    )
    left_out: dict[str, str] = field(
        default_factory=dict,
        metadata=about(
            "frame or file name → reason, for every frame and file that could not take part whatever "
            "`enable_corruptness_check` says: undecodable frames and images, files that do not open, truncated files "
            "([`decoding.md`](decoding.md))"
        ),
    )
    duplicates: dict[str, str] = field(
        default_factory=dict, metadata=about("duplicate frame name → the earlier frame it equals")
    )
    timestamp_gaps: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata=about(
            "video name → the gaps in its timestamps (information, not damage: "
            "[`decoding.md`](decoding.md#what-is-damaged)): `count`, `slots_skipped` (frame slots skipped in all) and "
            "`before` (the frame after each gap → the slots skipped before it); only videos with gaps are listed",
        ),
    )


@dataclass(frozen=True)
class Stopping:
    """Why selection stopped; ``report.json["stopping"]``."""

    reason: str = field(metadata=about("`n_samples`, `min_distance` or `all_candidates`"))
    message: str = field(metadata=about("one line saying why selection stopped (the command prints it)"))
    n_samples: int | float = field(metadata=about("the `stopping_condition.n_samples` setting (`-1`: off)"))
    min_distance: float = field(metadata=about("the `stopping_condition.min_distance` setting (`-1`: off)"))
    requested_frames: int | None = field(
        metadata=about("the frames `n_samples` asks for, in whole sequences; `null` when it is off")
    )
    all_candidates_selected: bool = field(metadata=about("whether every candidate sequence was selected"))


@dataclass(frozen=True)
class RunMetrics:
    """The selection's own numbers; ``report.json["metrics"]`` (the report stage adds ``coverage``)."""

    covering_radius: float = field(
        metadata=about(
            "largest distance from any candidate to its nearest selected candidate (datapool items included), after "
            "the last pick, in the space selection ran in"
        )
    )
    covering_radius_first_pick: float | None = field(
        metadata=about("the same after the first pick (`null` when nothing was picked)")
    )
    embedding_dim: int = field(metadata=about("dimension of the frame embeddings"))
    selection_dim: int = field(
        metadata=about("dimension selection ran in (`selection_dim`: principal components, or the full dimension)")
    )
    frames_with_embedding: int = field(metadata=about("rows of `data/embeddings.csv`"))


@dataclass(frozen=True)
class SelectedSequence:
    """One selected sequence, as ``data/sequence_information.json`` has it (timestamps for videos only)."""

    video_name: str = field(metadata=about("the source's name"))
    frame_names: list[str] = field(metadata=about("the frames' names, in order"))
    frame_indices: list[int] = field(metadata=about("the frames' indices in the source"))
    frame_timestamps_pts: list[int | None] | None = field(
        default=None,
        metadata=about(
            "videos only: each frame's timestamp in the stream's time base (`null` where unknown)",
            omit_none=True,
        ),
    )
    frame_timestamps_sec: list[float | None] | None = field(
        default=None, metadata=about("videos only: the same in seconds", omit_none=True)
    )
    shot: int | None = field(
        default=None,
        metadata=about(
            "with `sequence_boundaries=shots`: the shot of the source the sequence lies in (counted from 0 within "
            "the source, as in `data/shots.csv`)",
            omit_none=True,
        ),
    )

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True)
class StrategyResults:
    """What the selection strategies did (empty without ``selection.strategies`` and a datapool)."""

    strategies: list[dict[str, Any]] = field(
        default_factory=list,
        metadata=about(
            "with `selection.strategies` or a datapool: one object per strategy, in configuration order (else empty)",
            members={
                "label": "how the report names it, e.g. `DIVERSITY on EMBEDDINGS`",
                "input": "its `input`, as configured",
                "strategy": "its `strategy`, as configured",
                "objective": "`measure` (what is measured), `before` over the candidates, `after` over the selection; "
                "for BALANCE also `values` and `target`, with shares per value. DIVERSITY's is the covering radius "
                "(`before` is `null` without a datapool)",
                "histogram": "WEIGHTS, THRESHOLD and SIMILARITY (distance to the nearest query): the distribution of "
                "its input, `edges` and the `candidates` and `selected` counts per bin",
                "bars": "BALANCE: `values`, and the `candidates` and `selected` counts per value",
                "reached": "BALANCE: whether the selection reached its target",
                "message": "BALANCE: one line on how close it came (the command prints it when the target is missed)",
            },
        ),
    )
    candidates_excluded: dict[str, int] = field(
        default_factory=dict,
        metadata=about(
            "reason → candidate sequences left out before the greedy loop (a THRESHOLD failed, a frame has no value "
            "for a key a strategy reads, already in the datapool)",
        ),
    )
    value_files: dict[str, Any] = field(
        default_factory=dict,
        metadata=about(
            "the `metadata` and `scores` files, when given (else empty)",
            members={
                "metadata": "its `file`, `rows_matched`, and the rows that name no frame of the input: `unmatched` "
                "(a count) and `unmatched_examples` (the first few names)",
                "scores": "the same for the scores file",
            },
        ),
    )


@dataclass(frozen=True)
class DatapoolSection:
    """The datapool a run continued (``datapool=``)."""

    folder: str = field(metadata=about("the datapool folder"))
    signature: str = field(metadata=about("the embedding space it holds"))
    items_before: int = field(metadata=about("its items before this run"))
    new_items: int = field(metadata=about("this run's picks, added to it"))
    items_after: int = field(metadata=about("its items after this run"))


@dataclass(frozen=True)
class TrainingSection:
    """With ``enable_training=true``: what the training stage did (framepick.train)."""

    method: str = field(
        metadata=about("the self-supervised method (`SimCLR`, the lightly package's loss, head and augmentations)")
    )
    device: str = field(metadata=about("where it trained: `cpu` or `cuda`"))
    mixed_precision: bool = field(metadata=about("whether it trained in mixed precision (float16 autocast, on CUDA)"))
    frames_usable: int = field(
        metadata=about("usable frames found (undecodable, damaged and duplicate frames left out as the checks do)")
    )
    frames_trained: int = field(metadata=about("frames trained on: a seeded sample of at most `training_max_frames`"))
    epochs: int = field(metadata=about("epochs (`lightly.trainer.max_epochs`)"))
    steps: int = field(metadata=about("optimizer steps in all"))
    batch_size: int = field(metadata=about("frames per batch (`lightly.loader.batch_size`); two views each"))
    input_size: int = field(metadata=about("training resolution (`lightly.collate.input_size`)"))
    lr: float = field(metadata=about("learning rate (`lightly.optimizer.lr`)"))
    seed: int = field(metadata=about("the seed of the sample, the shuffles and the augmentations"))
    loss: list[float] = field(metadata=about("mean NT-Xent loss per epoch (`plots/training_loss.png` draws it)"))
    final_loss: float = field(metadata=about("the last epoch's mean loss"))
    sample_sec: float = field(metadata=about("seconds spent decoding and sampling the frames"))
    train_sec: float = field(metadata=about("seconds spent training"))
    frames_per_sec: float | None = field(metadata=about("frames trained per second (two views each)"))
    checkpoint: str = field(metadata=about("the checkpoint, relative to `output_dir` (give it as `checkpoint=`)"))
    onnx: str = field(
        metadata=about("the trained network as an ONNX file `model.path` takes, relative to `output_dir`")
    )
    weights_sha256: str = field(
        metadata=about("SHA-256 of the trained backbone's weights: the model's identity for the cache and the datapool")
    )


@dataclass(frozen=True)
class ShotsSection:
    """The shots the run found (``sequence_boundaries=shots``); ``data/shots.csv`` lists each."""

    shots: int = field(metadata=about("shots in all sources (a source without a cut is one shot)"))
    cuts: int = field(metadata=about("cuts found (`shots` − sources with a frame)"))
    shots_shorter_than_sequence: int = field(
        metadata=about("shots shorter than `selected_sequence_length`: they hold no candidate")
    )
    rule: dict[str, float] = field(
        metadata=about(
            "when a step between consecutive frames is a cut",
            members={
                "window": "neighbouring steps on each side a step is compared with",
                "ratio": "a cut's step is at least this many times its neighbours' mean ...",
                "min_score": "... and at least this cosine distance",
                "hard_score": "a step of at least this cosine distance is a cut whatever its neighbours",
            },
        )
    )
    cuts_by_source: dict[str, list[int]] = field(
        metadata=about("per source with a cut, the first frame index of each shot after its first")
    )


# report.json's keys, top to bottom, up to the later stages' (which go where their `at` says):
# (key, the RunSummary field holding it: a section with a field of that name, or "" for the
# RunSummary field of that name itself).
LAYOUT: tuple[tuple[str, str], ...] = (
    ("framepick_version", "run"),
    ("input_dir", "run"),
    ("output_dir", "run"),
    ("counts", ""),
    ("stopping", ""),
    ("metrics", ""),
    ("timings_sec", "run"),
    ("sources", "discovery"),
    ("corrupt", "checks"),
    ("left_out", "checks"),
    ("sequences", ""),
    ("config", "run"),
    ("duplicates", "checks"),
    ("skipped", "discovery"),
    ("timestamp_gaps", "checks"),
    ("strategies", "strategies"),
    ("candidates_excluded", "strategies"),
    ("value_files", "strategies"),
    ("datapool", ""),
    ("training", ""),
    ("shots", ""),
)


def _omitted_when_none(key: str) -> bool:
    """Whether RunSummary's top-level ``key`` is left out of report.json when it is None."""
    found = [f for f in fields(RunSummary) if f.name == key]
    return bool(found and found[0].metadata.get("omit_none"))


@dataclass(frozen=True)
class RunSummary:
    """What a run learnt, from discovery to the selection: the report is built from it."""

    run: RunInfo = field(metadata=_section("run"))
    discovery: DiscoverySection = field(metadata=_section("discover"))
    counts: Counts = field(metadata=about("how many of everything", stage="run"))
    checks: ChecksSection = field(metadata=_section("checks"))
    stopping: Stopping = field(metadata=about("why selection stopped", stage="select"))
    metrics: RunMetrics = field(metadata=about("the selection's numbers", stage="select"))
    sequences: tuple[SelectedSequence, ...] = field(
        metadata=about(
            "the selected sequences in selection order, as in `data/sequence_information.json`", stage="select"
        )
    )
    strategies: StrategyResults = field(metadata=_section("select"))
    datapool: DatapoolSection | None = field(
        metadata=about("with `datapool=`: the datapool; `null` without", stage="select")
    )
    training: TrainingSection | None = field(
        default=None, metadata=about("with `enable_training=true`: the training; `null` without", stage="train")
    )
    shots: ShotsSection | None = field(
        default=None,
        metadata=about(
            "with `sequence_boundaries=shots`: the shots found; left out without", stage="sequences", omit_none=True
        ),
    )

    @property
    def selected_frame_names(self) -> list[str]:
        return [name for seq in self.sequences for name in seq.frame_names]

    def closing_lines(self) -> list[str]:
        """What the command prints at the end of a run (the CLI adds its prefix)."""
        c = self.counts
        lines = [
            f"{c.selected_sequences} sequences ({c.selected_frames} frames) selected from {c.frames} frames "
            f"of {c.sources} sources; {self.stopping.message}"
        ]
        corruptness_check = bool(self.run.config.get("enable_corruptness_check", True))
        left_out = c.left_out_line(corruptness_check, len(self.checks.left_out))
        if left_out:
            lines.append(left_out)
        if self.datapool is not None:
            pool = self.datapool
            lines.append(
                f"datapool {pool.folder}: {pool.items_before} earlier picks, {pool.new_items} new, "
                f"{pool.items_after} in all"
            )
        if self.shots is not None:
            short = self.shots.shots_shorter_than_sequence
            lines.append(
                f"{self.shots.shots} shots ({self.shots.cuts} cuts); no selected sequence holds a cut"
                + (f"; {short} shots shorter than a sequence give no candidate" if short else "")
            )
        strategies = self.strategies.strategies
        lines.extend(f"{s['label']}: {s['message']}" for s in strategies if s.get("reached") is False)
        return lines

    def to_json(self) -> dict[str, Any]:
        """The summary's keys of ``report.json``, in its order (plain JSON types)."""
        out = {key: _json(getattr(self._holder(attr), key)) for key, attr in LAYOUT}
        return {key: value for key, value in out.items() if value is not None or not _omitted_when_none(key)}

    def _holder(self, attr: str) -> Any:
        return self if not attr else getattr(self, attr)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        """Read ``report.json`` back (the later stages' keys are :class:`RunReport`'s); keys an older
        run did not write keep their defaults."""
        hints = get_type_hints(cls)
        parts: dict[str, dict[str, Any]] = {}
        whole: dict[str, Any] = {}
        for key, attr in LAYOUT:
            if attr:
                parts.setdefault(attr, {})[key] = data[key] if key in data else MISSING
            elif key in data:
                whole[key] = _value(hints[key], data[key])
        sections = {
            attr: _load(_unwrap(hints[attr])[0], {k: v for k, v in values.items() if v is not MISSING})
            for attr, values in parts.items()
        }
        return cls(**sections, **whole)


# ----------------------------------------------------------------------------- the later stages' sections


@dataclass(frozen=True)
class SourceCounts:
    """One source's candidates and selected sequences (the report stage adds them to its entry)."""

    candidates: int = field(metadata=about("its candidate sequences"))
    selected_sequences: int = field(metadata=about("its selected sequences"))


_COVERAGE = {
    "distance": "what the distances are (text)",
    "candidates": "candidate sequences",
    "selected": "selected sequences",
    "radius_before": "largest distance from any candidate to the mean of all candidates",
    "radius_before_definition": "that definition, as text",
    "radius_after": "largest distance from any candidate to its nearest selected candidate",
    "radius_after_definition": "that definition, as text",
    "mean_distance_to_selection": "mean distance from a candidate to its nearest selected candidate",
    "random": "the same two numbers for a seeded random selection of the same size (`seed`, `definition`, "
    "`radius_after`, `mean_distance_to_selection`)",
    "distance_to_selection": "histogram of each candidate's distance to the selection and to the random one "
    "(`bin_edges`, `selected`, `random` counts), as `plots/distance_distr_after.png` draws it",
    "nearest_neighbour": "nearest-neighbour distances among all candidates, the selected ones and the random "
    "ones (`all`, `selected`, `random`: `points`, `queries`, `sampled`, `min`, `median`, `mean`, `max`, "
    "`counts`; `bin_edges`, and the `sample_cap` and `sample_seed` of the queries)",
}
_MAP = {
    "candidates": "candidates (one point each)",
    "points": "points drawn",
    "selected_points": "selected points drawn",
    "sampled": "whether the points are a seeded sample of the candidates",
    "seed": "that sample's seed",
    "projections": "the maps drawn: `pca`, and `umap` when umap-learn is installed",
    "pca_variance_ratio": "the variance share of the PCA's two axes",
    "umap": "`ok` when UMAP is drawn, else why not",
    "hover_thumbnails": "points with a thumbnail on hover",
    "datapool": "with a datapool: its `items`, the `points` drawn for them and whether they are `sampled`",
}
_FRAME_MAP = {
    "points": "frames drawn",
    "frames": "embedded frames of the selected sequences",
    "sequences": "sequences drawn",
    "selected_sequences": "selected sequences",
    "candidate_frames": "embedded frames of all candidate sequences, what the PCA is of",
    "fit_frames": "the frames the PCA was fitted on (a seeded sample of at most 1,000)",
    "pca_variance_ratio": "the variance share of its two axes",
}
_PAGE: dict[str, str | Doc] = {
    "rebuilt": "whether `framepick report` made it (not the run)",
    "plots": "the files drawn under `plots/`",
    "map": Doc("the embedding map", _MAP),
    "thumbnails": "the page's thumbnails: `available`, `count`, `bytes`, `size_px`, `jpeg_quality`, `filmstrips`, "
    "`filmstrip_frame_offsets`, `hover_only`, the `budget_bytes` they may take and whether it was "
    "`budget_reached`, and `failed_sources` (source → why it gave none)",
    "selected_listed": "selected sequences listed on the page (filmstrips included)",
    "timeline_sources": "sources on the page's timeline",
    "timeline_png_sources": "sources in `plots/video_sampling_timeline.png`",
    "example_pairs": "the first selected items next to their nearest unselected candidate: `rank`, `selected`, "
    "`neighbour` (labels) and their `distance`",
    "limits": "the page's bounds: `map_points`, `nn_sample`, `filmstrips`, `listed`, `hover_thumbnails`, "
    "`timeline_sources`, `thumbnail_budget_bytes`",
    "notes": "what the page says it left out or sampled, and why",
    "frame_map": Doc(
        "the frame map (the selected sequences' frames on the PCA of all candidate frames); `null` when it is not "
        "drawn",
        _FRAME_MAP,
    ),
    "strategies": "when `strategies` is not empty: how many strategies the page shows",
    "html_bytes": "size of `report.html`",
    "build_sec": "seconds the page took",
}


@dataclass(frozen=True)
class ReportSection:
    """The report stage's: its numbers and what the page shows (``framepick report`` makes it anew).

    When the page could not be built, ``page`` is only its ``error``, and the numbers the
    report did not get to are None (their keys are left out).
    """

    coverage: dict[str, Any] | None = field(
        metadata=about(
            "the report's coverage numbers, in the full embedding space",
            members=_COVERAGE,
            at="metrics",
            omit_none=True,
        )
    )
    sources: tuple[SourceCounts, ...] | None = field(
        metadata=about("each source's counts, in its entry", at="sources", merged=True, omit_none=True)
    )
    page: dict[str, Any] = field(
        default_factory=dict,
        metadata=about(
            "what `report.html` shows and how it sampled big runs; only `error` when the page could not be built",
            members=_PAGE,
        ),
    )


@dataclass(frozen=True)
class Clip:
    """One selected sequence's clip (``export_clips``); ``rank`` ties it to its sequence."""

    path: str = field(metadata=about("the clip's path from `output_dir`"))
    source: str = field(metadata=about("the source's name"))
    first: int = field(metadata=about("its first frame's index in the source"))
    last: int = field(metadata=about("its last frame's index"))
    frames: int = field(metadata=about("its frames"))
    method: str | None = field(
        metadata=about(
            "`copy` (the source's packets) or `encode`; `null` for a clip that could not be made, which has an `error` "
            "instead and no file"
        )
    )
    codec: str | None = field(default=None, metadata=about("the video codec"))
    crf: int | None = field(default=None, metadata=about("the encoder's CRF (`null` for a copy)"))
    pix_fmt: str | None = field(default=None, metadata=about("its pixel format"))
    fps: float | None = field(default=None, metadata=about("its frame rate"))
    psnr_db: float | None = field(
        default=None,
        metadata=about("the worst frame's PSNR against its source frame (`null` when every frame is identical)"),
    )
    error: str | None = field(
        default=None,
        metadata=about(
            "why the clip could not be made (then `method` is `null`, there is no file and the fields after `method` "
            "are left out)",
            omit_none=True,
            rare=True,
        ),
    )
    shot: int | None = field(
        default=None,
        metadata=about("with `sequence_boundaries=shots`: the shot its sequence lies in", omit_none=True),
    )
    # its sequence's place in the selection (1: picked first); not in report.json, where the
    # clips are in selection order, one per selected sequence
    rank: int = field(default=0, metadata=about("the rank of its sequence", json=False))

    def to_json(self) -> dict[str, Any]:
        out = _fields_json(self)
        if self.error is not None:  # no file: nothing to describe
            for key in ("codec", "crf", "pix_fmt", "fps", "psnr_db"):
                del out[key]
        return out


@dataclass(frozen=True)
class WriteSection:
    """The write stage's: the clips and the labeling tools' import files."""

    clips: tuple[Clip, ...] | None = field(
        default=None,
        metadata=about(
            "with `export_clips=true`: one object per selected sequence, in selection order; absent without",
            omit_none=True,
        ),
    )
    exports: dict[str, dict[str, str]] | None = field(
        default=None,
        metadata=about(
            'with `export_format`: tool → `{"frames": path, "clips": path}`, the import file written for each (paths '
            "from `output_dir`; `{}` for a tool when no clip could be made); CVAT's `frames` is "
            "`data/cvat/manifest.jsonl`, the upload's manifest, and its `frames_share` `data/sampled/manifest.jsonl`; "
            "absent without",
            omit_none=True,
        ),
    )


@dataclass(frozen=True)
class RunReport:
    """``report.json``: the run's summary and what the report and write stages added to it."""

    summary: RunSummary
    report: ReportSection = field(metadata=_section("report"))
    written: WriteSection = field(metadata=_section("write"))

    def to_json(self) -> dict[str, Any]:
        """The ``report.json`` dictionary: the summary's keys in their order, each later stage's
        keys where its declaration puts them (``metrics.coverage``, each source's counts, then
        ``page``, ``clips``, ``exports``)."""
        out = self.summary.to_json()
        for section in (self.report, self.written):
            for f in fields(section):
                value = getattr(section, f.name)
                if value is None and f.metadata["omit_none"]:
                    continue
                parent = out[f.metadata["at"]] if f.metadata["at"] else out
                if f.metadata["merged"]:
                    for entry, item in zip(parent, value, strict=True):
                        entry.update(_json(item))
                else:
                    parent[f.name] = _json(value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunReport:
        """Read a whole ``report.json`` back; ``framepick report`` keeps its summary and clips."""
        return cls(RunSummary.from_json(data), _later(ReportSection, data), _later(WriteSection, data))


def _later(cls: type[_D], data: Mapping[str, Any]) -> _D:
    """A later stage's section from report.json: each key read where its declaration put it."""
    hints = get_type_hints(cls)
    found: dict[str, Any] = {}
    for f in fields(cls):
        parent = data.get(f.metadata["at"]) if f.metadata["at"] else data
        item, _ = _unwrap(hints[f.name])
        if f.metadata["merged"]:
            names = [g.name for g in fields(item)]
            entries = parent if isinstance(parent, list) else []
            if entries and all(all(n in e for n in names) for e in entries):
                found[f.name] = tuple(item(**{n: e[n] for n in names}) for e in entries)
        elif isinstance(parent, Mapping) and f.name in parent:
            found[f.name] = _value(hints[f.name], parent[f.name])
    if found.get("clips") is not None:  # in selection order: the rank is the place
        found["clips"] = tuple(replace(clip, rank=i) for i, clip in enumerate(found["clips"], start=1))
    return cls(**found)


# ----------------------------------------------------------------------------- the declared keys


@dataclass(frozen=True)
class DeclaredKey:
    """One key of report.json as declared: its path (``[]`` for each entry of a list), what
    writes it, what it means, and whether only a failure writes it."""

    path: str
    stage: str
    what: str
    rare: bool = False


def declared_keys() -> list[DeclaredKey]:
    """Every described key of report.json, in its order (the reference table's rows)."""
    hints = get_type_hints(RunSummary)
    summary_fields = {f.name: f for f in fields(RunSummary)}
    later = _later_fields()
    out: list[DeclaredKey] = []
    for key, attr in LAYOUT:
        holder = summary_fields[attr or key]
        stage = holder.metadata["stage"]
        if attr:
            section = _unwrap(hints[attr])[0]
            f = next(g for g in fields(section) if g.name == key)
            _declare(out, key, f, get_type_hints(section)[key], stage, later)
        else:
            _declare(out, key, holder, hints[key], stage, later)
    for f, hint, stage in later.get("", []):
        _declare(out, f.name, f, hint, stage, later)
    return out


_Later = dict[str, list[tuple[Field[Any], Any, str]]]


def _later_fields() -> _Later:
    """The later stages' fields by the object they go into ("" the top level)."""
    out: _Later = {}
    for holder in fields(RunReport)[1:]:
        section = get_type_hints(RunReport)[holder.name]
        hints = get_type_hints(section)
        for f in fields(section):
            out.setdefault(f.metadata["at"], []).append((f, hints[f.name], holder.metadata["stage"]))
    return out


def _declare(out: list[DeclaredKey], path: str, f: Field[Any], hint: Any, stage: str, later: _Later) -> None:
    out.append(DeclaredKey(path, stage, f.metadata.get("what", ""), bool(f.metadata.get("rare"))))
    item, many = _unwrap(hint)
    below = path + ("[]." if many else ".")
    if is_dataclass(item):
        item_hints = get_type_hints(item)
        for g in fields(item):
            if g.metadata.get("json", True):
                _declare(out, below + g.name, g, item_hints[g.name], stage, later)
    for name, member in f.metadata.get("members", {}).items():
        out.extend(_members(below + name, member, stage))
    for g, g_hint, g_stage in later.get(path, []):
        if g.metadata["merged"]:  # its entries' keys go into each entry of this list
            entry = _unwrap(g_hint)[0]
            out.extend(DeclaredKey(f"{below}{h.name}", g_stage, h.metadata.get("what", "")) for h in fields(entry))
        else:
            _declare(out, below + g.name, g, g_hint, g_stage, later)


def _members(path: str, member: Doc, stage: str) -> Iterator[DeclaredKey]:
    yield DeclaredKey(path, stage, member.what)
    for name, sub in member.members.items():
        yield from _members(f"{path}.{name}", sub if isinstance(sub, Doc) else Doc(sub), stage)


@dataclass(frozen=True)
class Candidates:
    """Every candidate sequence of a run; row ``i`` of each array is candidate ``i``."""

    length: int  # frames per sequence
    source: np.ndarray  # (M,) int64, index into the run's sources
    start: np.ndarray  # (M,) int64, frame index of the first frame
    first_names: list[str]  # the first frame's name
    embeddings: np.ndarray  # (M, D) float32, the mean of the sequence's embedded frames
    rank: np.ndarray  # (M,) int64: 0 not selected, else 1 + position in the selection order
    embeddings_row: np.ndarray  # (M,) int64, row of the first frame in data/embeddings.csv
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))  # covering radius after each pick
    pool_embeddings: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), np.float32)
    )  # datapool items before the run
    # (M,) int64: each candidate's shot within its source (sequence_boundaries=shots); empty otherwise
    shot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.source)

    @property
    def selected(self) -> np.ndarray:
        """Candidate indices in selection order."""
        chosen = np.flatnonzero(self.rank > 0)
        return chosen[np.argsort(self.rank[chosen], kind="stable")].astype(np.int64)

    def save(self, path: str | Path) -> None:
        with atomic_open(path, "wb") as fh:
            np.savez(
                fh,
                meta=np.array(json.dumps({"length": self.length, "version": 1})),
                source=self.source.astype(np.int64),
                start=self.start.astype(np.int64),
                first_names=np.array(self.first_names, dtype=str),
                embeddings=np.asarray(self.embeddings, np.float32),
                rank=self.rank.astype(np.int64),
                embeddings_row=self.embeddings_row.astype(np.int64),
                radii=np.asarray(self.radii, np.float64),
                pool_embeddings=np.asarray(self.pool_embeddings, np.float32),
                shot=np.asarray(self.shot, np.int64),
            )

    @classmethod
    def load(cls, path: str | Path) -> Candidates:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                names = data["first_names"]
                return cls(
                    length=int(meta["length"]),
                    source=data["source"],
                    start=data["start"],
                    first_names=[str(n) for n in names.tolist()] if names.size else [],
                    embeddings=data["embeddings"],
                    rank=data["rank"],
                    embeddings_row=data["embeddings_row"],
                    radii=data["radii"],
                    pool_embeddings=data["pool_embeddings"]
                    if "pool_embeddings" in data
                    else np.zeros((0, 0), np.float32),
                    shot=data["shot"] if "shot" in data else np.zeros(0, np.int64),  # older runs: none
                )
        except FileNotFoundError:
            raise OutputError(f"'{path}' is missing: rerun the selection with this framepick version") from None
        except (OSError, ValueError, KeyError) as exc:
            raise OutputError(f"'{path}' is not a framepick candidates file ({type(exc).__name__}: {exc})") from exc
