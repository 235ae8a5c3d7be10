"""Stage 5: split sources (or their shots) into fixed-length sequences and average their embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SequenceLayout", "Sequences", "make_sequences", "sequence_embeddings"]


@dataclass(frozen=True)
class SequenceLayout:
    """How a source's frames form sequences, and which of them go through the model.

    Sequence ``k`` of a source holds its frames ``k*length .. k*length+length-1`` (an
    incomplete tail is no sequence). With ``stride`` s > 1, only positions 0, s, 2s, ... of
    each sequence are embedded and a sequence's embedding is the mean of those. This is the
    one place that says so: scanning asks :meth:`embeds`, the cache key includes :attr:`key`,
    and the report knows how many embedded rows each sequence has (:attr:`per_sequence`).
    """

    length: int = 1
    stride: int = 1

    @property
    def strided(self) -> bool:
        return self.stride > 1 and self.length > 1

    def embeds(self, index: int) -> bool:
        """Whether frame ``index`` of a source goes through the model."""
        return not self.strided or (index % self.length) % self.stride == 0

    @property
    def per_sequence(self) -> int:
        """Embedded frames per sequence."""
        return len(range(0, self.length, self.stride)) if self.strided else self.length

    @property
    def key(self) -> str:
        """What the set of embedded frames depends on, for cache keys ("" when every frame is embedded)."""
        return f"/stride{self.stride}of{self.length}" if self.strided else ""


@dataclass
class Sequences:
    """Candidate sequences; ``rows[i]`` are the frame-table rows of sequence i, in order."""

    length: int
    rows: np.ndarray  # int64 (M, length)
    source: np.ndarray  # int32 (M,)
    start: np.ndarray  # int32 (M,), frame index of the first frame
    n_complete: int  # complete sequences, candidates or not
    n_dropped_invalid: int  # complete sequences with a corrupt or duplicate frame
    n_tails: int  # sources (shots, when split by shot) whose last frames did not fill a sequence
    n_tail_frames: int  # frames in those incomplete tails
    shot: np.ndarray | None = None  # int32 (M,): each sequence's shot within its source (split by shot only)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_candidate_frames(self) -> int:
        return len(self.rows) * self.length


def make_sequences(
    source: np.ndarray, index: np.ndarray, usable: np.ndarray, length: int, shot: np.ndarray | None = None
) -> Sequences:
    """Split each source into consecutive, non-overlapping runs of ``length`` frames.

    ``source``/``index``/``usable`` are per-frame columns in table order (each source's
    frames contiguous, index 0..n-1). Splits start at each source's first frame; an
    incomplete tail is dropped, and so is any sequence holding an unusable frame.

    ``shot`` (each frame's shot within its source, :class:`framepick.shots.Shots`) splits
    each shot on its own instead, from its first frame, so that no sequence holds a cut; each
    shot's incomplete tail is dropped and counted.
    """
    rows: list[np.ndarray] = []
    n_complete = n_invalid = n_tails = n_tail_frames = 0
    change = np.diff(source) != 0
    if shot is not None:
        change |= np.diff(shot) != 0
    boundaries = np.flatnonzero(change) + 1
    for begin, end in zip(np.r_[0, boundaries], np.r_[boundaries, len(source)]):
        n = int(end - begin)
        full = n // length
        if n % length:
            n_tails += 1
            n_tail_frames += n % length
        if not full:
            continue
        block = begin + np.arange(full * length).reshape(full, length)
        ok = usable[block].all(axis=1)
        n_complete += full
        n_invalid += int(full - ok.sum())
        rows.append(block[ok])
    matrix = np.concatenate(rows) if rows else np.zeros((0, length), np.int64)
    first = matrix[:, 0] if len(matrix) else np.zeros(0, np.int64)
    return Sequences(
        length=length,
        rows=matrix.astype(np.int64),
        source=source[first].astype(np.int32),
        start=index[first].astype(np.int32),
        n_complete=n_complete,
        n_dropped_invalid=n_invalid,
        n_tails=n_tails,
        n_tail_frames=n_tail_frames,
        shot=None if shot is None else shot[first].astype(np.int32),
    )


def sequence_embeddings(
    frame_embeddings: np.ndarray, sequences: Sequences, *, embedded: np.ndarray | None = None
) -> np.ndarray:
    """Mean of each sequence's frame embeddings, (M, D) float32.

    ``embedded`` (bool per frame) limits the mean to the frames that went through the model
    (``embedding_frame_stride``). Computed in blocks of sequences, accumulating in float64,
    so the temporary memory stays small whatever M is.
    """
    dim = frame_embeddings.shape[1]
    out = np.zeros((len(sequences), dim), np.float32)
    if len(sequences) == 0:
        return out
    if sequences.length == 1 and embedded is None:
        rows = sequences.rows[:, 0]
        if len(rows) == len(frame_embeddings) and np.array_equal(rows, np.arange(len(rows))):
            return np.asarray(frame_embeddings, dtype=np.float32)  # every frame: no copy
        return np.ascontiguousarray(frame_embeddings[rows], dtype=np.float32)
    block = max(1, (1 << 22) // max(dim, 1))
    for begin in range(0, len(sequences), block):
        rows = sequences.rows[begin : begin + block]
        total = np.zeros((len(rows), dim), np.float64)
        count = np.zeros(len(rows), np.float64)
        for j in range(sequences.length):
            use = np.ones(len(rows), bool) if embedded is None else embedded[rows[:, j]]
            total[use] += frame_embeddings[rows[use, j]]
            count += use
        out[begin : begin + block] = total / np.maximum(count, 1.0)[:, None]
    return out
