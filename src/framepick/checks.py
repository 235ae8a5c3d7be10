"""Stage 4: the corruptness and exact-duplicate checks, on the frame table.

Two kinds of bad frames, told apart because the switch treats them differently:

- *undecodable*: the decoder could not produce the frame at all (an unreadable image, a
  video frame that could not be converted). It has no pixels, so it is never usable, and it
  is always reported (``left_out`` in report.json, the log), whatever the switch says.
- *damaged*: the frame decoded, but the decoder shows damage there: FFmpeg flagged its data
  as broken, a packet before it could not be decoded, or reference frames before it are
  missing from the bitstream (H.264 ``frame_num``). ``enable_corruptness_check`` decides
  whether such frames may be selected: on, they are listed in ``corrupt_filenames.txt`` and
  every sequence touching one is dropped; off, they are usable and only counted.

A gap in a video's timestamps is neither: intact files have them (AVI drop frames, paused
screen recordings). Gaps are reported per source (``timestamp_gaps``), never held against
the frames after them.

Source-level problems (a file that does not open, a truncated file, a demuxer failure) are
reported the same way as undecodable frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._log import logger
from .decode import timestamp_gaps
from .discover import Source
from .embed import SourceFrames
from .results import ChecksSection
from .table import FrameTable

__all__ = ["CheckResult", "run_checks"]


@dataclass
class CheckResult:
    """Which frames are usable, and what the checks found (names in input order)."""

    corrupt: np.ndarray  # bool per frame: left out as corrupt (undecodable, or damaged with the check on)
    duplicate: np.ndarray  # bool per frame: same pixels as an earlier frame
    damaged: np.ndarray | None = None  # bool per frame: decoded but damaged (whatever the switch)
    corrupt_names: list[str] = field(default_factory=list)
    corrupt_reasons: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # undecodable frames and files: always listed
    duplicate_names: list[str] = field(default_factory=list)
    duplicate_of: dict[str, str] = field(default_factory=dict)
    gaps: dict[str, dict[str, int]] = field(default_factory=dict)  # per video: {frame name: slots skipped before it}

    @property
    def usable(self) -> np.ndarray:
        return ~(self.corrupt | self.duplicate)

    @property
    def n_damaged(self) -> int:
        return 0 if self.damaged is None else int(self.damaged.sum())

    def section(self) -> ChecksSection:
        """What report.json says of the checks (each video's gaps counted and summed)."""
        gaps = {
            name: {"count": len(at), "slots_skipped": sum(at.values()), "before": at} for name, at in self.gaps.items()
        }
        return ChecksSection(self.corrupt_reasons, self.left_out, self.duplicate_of, gaps)


def _frame_problems(
    sources: Sequence[Source], results: Sequence[SourceFrames]
) -> tuple[dict[int, str], dict[int, str], dict[str, str]]:
    """Per table row: undecodable reasons and damage reasons; per source: source-level problems."""
    undecodable: dict[int, str] = {}
    damaged: dict[int, str] = {}
    source_problems: dict[str, str] = {}
    row = 0
    for source, result in zip(sources, results):
        for j, reason in result.frame_errors.items():
            undecodable[row + j] = reason
        for j, reason in result.frame_suspects.items():
            if j not in result.frame_errors:
                damaged[row + j] = reason
        if result.error is not None:
            source_problems[source.name] = result.error
        row += result.n_frames
    return undecodable, damaged, source_problems


def run_checks(
    sources: Sequence[Source],
    results: Sequence[SourceFrames],
    table: FrameTable,
    *,
    corruptness_check: bool = True,
    remove_duplicates: bool = True,
) -> CheckResult:
    """Flag corrupt and duplicate frames.

    Duplicates keep their first occurrence in input order and are found by the digest of
    the decoded pixels, except JPEG files: by the digest of the file's bytes (docs/decoding.md).
    """
    undecodable, damaged_rows, source_problems = _frame_problems(sources, results)
    corrupt = ~table.decoded
    damaged = np.zeros(len(table), bool)
    damaged[list(damaged_rows)] = True
    if corruptness_check:
        corrupt = corrupt | damaged
    check = CheckResult(corrupt, np.zeros(len(table), bool), damaged)
    check.left_out = {table.names[r]: undecodable[r] for r in sorted(undecodable)}
    check.left_out.update(source_problems)
    for name, reason in check.left_out.items():
        logger.warning("%s: %s", name, reason)
    if corruptness_check:
        listed = {**undecodable, **damaged_rows}
        for r in sorted(listed):
            check.corrupt_names.append(table.names[r])
            check.corrupt_reasons[table.names[r]] = listed[r]
        for name, reason in source_problems.items():
            check.corrupt_names.append(name)
            check.corrupt_reasons[name] = reason
        if damaged_rows:
            logger.warning("%d damaged frames are listed in corrupt_filenames.txt and not selected", len(damaged_rows))
    elif damaged_rows:
        logger.warning(
            "enable_corruptness_check=false: %d damaged frames (FFmpeg flagged them, or data is missing before "
            "them) stay selectable; the frames that could not be decoded at all are still left out and listed",
            len(damaged_rows),
        )
    check.gaps = _gaps(sources, results, table)
    if remove_duplicates:
        _flag_duplicates(table, check)
    return check


def _gaps(sources: Sequence[Source], results: Sequence[SourceFrames], table: FrameTable) -> dict[str, dict[str, int]]:
    """Each video's timestamp gaps by the name of the frame after them (information only)."""
    gaps: dict[str, dict[str, int]] = {}
    row = 0
    for source, result in zip(sources, results):
        if source.kind == "video":
            found = timestamp_gaps(result.pts)
            if found:
                gaps[source.name] = {table.names[row + j]: n for j, n in found.items()}
                logger.info(
                    "%s: %d gap(s) in the timestamps (%d frame slots skipped); not damage by itself",
                    source.name, len(found), sum(found.values()),
                )  # fmt: skip
        row += result.n_frames
    return gaps


def _flag_duplicates(table: FrameTable, check: CheckResult) -> None:
    first: dict[bytes, int] = {}
    for row, digest in enumerate(table.digests):
        if check.corrupt[row]:
            continue
        earlier = first.setdefault(digest, row)
        if earlier != row:
            check.duplicate[row] = True
            check.duplicate_names.append(table.names[row])
            check.duplicate_of[table.names[row]] = table.names[earlier]
