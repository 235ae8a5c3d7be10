"""Stage 4: the corruptness and exact-duplicate checks, on the frame table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._log import logger
from .discover import Source
from .embed import SourceFrames
from .table import FrameTable

__all__ = ["CheckResult", "run_checks"]


@dataclass
class CheckResult:
    """Which frames are usable, and what the checks found (names in input order)."""

    corrupt: np.ndarray  # bool per frame: did not decode
    duplicate: np.ndarray  # bool per frame: same pixels as an earlier frame
    corrupt_names: list[str] = field(default_factory=list)
    corrupt_reasons: dict[str, str] = field(default_factory=dict)
    duplicate_names: list[str] = field(default_factory=list)
    duplicate_of: dict[str, str] = field(default_factory=dict)

    @property
    def usable(self) -> np.ndarray:
        return ~(self.corrupt | self.duplicate)


def run_checks(
    sources: Sequence[Source],
    results: Sequence[SourceFrames],
    table: FrameTable,
    corruptness_check: bool = True,
    remove_duplicates: bool = True,
) -> CheckResult:
    """Flag corrupt and duplicate frames.

    A frame that did not decode is never usable; with ``corruptness_check`` off it is only
    not *listed*. Duplicates keep their first occurrence in input order and are found by
    the digest of the decoded pixels, never of the file bytes.
    """
    corrupt = ~table.decoded
    duplicate = np.zeros(len(table), bool)
    check = CheckResult(corrupt, duplicate)
    if corruptness_check:
        row = 0
        for source, result in zip(sources, results):
            for j, reason in sorted(result.frame_errors.items()):
                check.corrupt_names.append(table.names[row + j])
                check.corrupt_reasons[table.names[row + j]] = reason
            if result.error is not None:
                check.corrupt_names.append(source.name)
                check.corrupt_reasons[source.name] = result.error
            row += result.n_frames
    n_bad = int(corrupt.sum()) + sum(r.error is not None for r in results)
    if n_bad and not corruptness_check:
        logger.warning(
            "enable_corruptness_check=false: %d frames or files that could not be decoded are skipped, not listed",
            n_bad,
        )
    if remove_duplicates:
        first: dict[bytes, int] = {}
        for row, digest in enumerate(table.digests):
            if corrupt[row]:
                continue
            earlier = first.setdefault(digest, row)
            if earlier != row:
                duplicate[row] = True
                check.duplicate_names.append(table.names[row])
                check.duplicate_of[table.names[row]] = table.names[earlier]
    return check
