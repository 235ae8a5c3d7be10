"""The frame table: every decoded frame of a run in input order, one row each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._framestats import FRAME_METADATA
from .discover import Source
from .embed import SourceFrames

__all__ = ["FRAME_METADATA", "FrameTable", "build_table"]


@dataclass
class FrameTable:
    """All decoded frames of a run in input order, one row each (columnar)."""

    names: list[str]
    source: np.ndarray  # int32, index into the run's sources
    index: np.ndarray  # int32, frame index within its source
    pts: list[int | None]
    seconds: np.ndarray  # float64, NaN where unknown
    digests: list[bytes]
    embeddings: np.ndarray  # float32 (N, D); zeros for frames that did not decode
    decoded: np.ndarray  # bool: the frame's pixels were decoded
    embedded: np.ndarray | None = None  # bool: the frame went through the model (None: every decoded frame)
    # float64 (N, 3): the FRAME_METADATA columns (sharpness, luminance, contrast), NaN where unknown;
    # left out, every row is NaN
    metadata: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FRAME_METADATA))))

    def __post_init__(self) -> None:
        if len(self.metadata) != len(self.names):
            if len(self.metadata):
                raise ValueError(f"{len(self.metadata)} metadata rows for {len(self.names)} frames")
            self.metadata = np.full((len(self.names), len(FRAME_METADATA)), np.nan)

    @property
    def embedded_mask(self) -> np.ndarray:
        return self.decoded if self.embedded is None else self.embedded

    def csv_rows(self, usable: np.ndarray) -> np.ndarray:
        """The rows ``data/embeddings.csv`` holds, in order: usable frames that went through the model."""
        return np.flatnonzero(usable & self.embedded_mask)

    def __len__(self) -> int:
        return len(self.names)

    def video_names(self, sources: Sequence[Source]) -> list[str]:
        """Each frame's source name, in table order: the ``video_name`` column of the outputs."""
        names = [source.name for source in sources]
        return [names[i] for i in self.source.tolist()]

    def pts_of(self, src: int, indices: Iterable[int]) -> dict[int, int] | None:
        """{frame index: pts} of the wanted frames of source ``src``, for decoders that seek to them.

        None unless every frame of the source has a timestamp, each a different one:
        elsewhere a timestamp does not name one frame, and the decoder reads forward.
        """
        start, end = np.searchsorted(self.source, [src, src + 1])
        stamps = self.pts[int(start) : int(end)]
        if None in stamps or len(set(stamps)) != len(stamps):
            return None
        return {int(i): int(stamps[int(i)]) for i in indices}  # type: ignore[arg-type]


def build_table(sources: Sequence[Source], results: Sequence[SourceFrames], dim: int) -> FrameTable:
    """Concatenate per-source results and name every frame (:meth:`Source.frame_name`)."""
    names: list[str] = []
    src_col: list[np.ndarray] = []
    idx_col: list[np.ndarray] = []
    pts: list[int | None] = []
    seconds: list[float | None] = []
    digests: list[bytes] = []
    total = sum(result.n_frames for result in results)
    # one (N, D) array filled source by source; each result then holds a view of its rows,
    # so its own copy is freed at once (peak memory ~1x the embeddings, not 2x)
    all_embeddings = np.empty((total, dim), np.float32)
    row = 0
    decoded: list[np.ndarray] = []
    embedded: list[np.ndarray] = []
    metadata = np.full((total, len(FRAME_METADATA)), np.nan)
    for i, (source, result) in enumerate(zip(sources, results)):
        n = result.n_frames
        names.extend(source.frame_name(j, n) for j in range(n))
        src_col.append(np.full(n, i, np.int32))
        idx_col.append(np.arange(n, dtype=np.int32))
        pts.extend(result.pts)
        seconds.extend(result.seconds)
        digests.extend(result.digests)
        all_embeddings[row : row + n] = result.embeddings
        result.embeddings = all_embeddings[row : row + n]
        if len(result.metadata) == n:  # else (a result made without them) the rows stay NaN
            metadata[row : row + n] = result.metadata
        row += n
        ok = np.ones(n, bool)
        ok[list(result.frame_errors)] = False
        decoded.append(ok)
        embedded.append(np.asarray(result.embedded, bool) & ok)

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return FrameTable(
        names=names,
        source=cat(src_col, np.int32),
        index=cat(idx_col, np.int32),
        pts=pts,
        seconds=np.array([np.nan if s is None else s for s in seconds], np.float64),
        digests=digests,
        embeddings=all_embeddings,
        decoded=cat(decoded, bool),
        embedded=cat(embedded, bool),
        metadata=metadata,
    )
