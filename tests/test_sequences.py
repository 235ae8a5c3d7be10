from __future__ import annotations

import numpy as np
import pytest

from framepick import make_sequences, sequence_embeddings


def _columns(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    source = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
    index = np.concatenate([np.arange(n) for n in lengths])
    return source, index


def test_split_aligned_per_source_with_tails() -> None:
    source, index = _columns([25, 10, 3])
    seqs = make_sequences(source, index, np.ones(38, bool), 10)
    assert len(seqs) == 3
    assert seqs.source.tolist() == [0, 0, 1]
    assert seqs.start.tolist() == [0, 10, 0]
    assert seqs.rows.tolist()[1] == list(range(10, 20))
    assert seqs.rows.tolist()[2] == list(range(25, 35))
    assert (seqs.n_tails, seqs.n_tail_frames) == (2, 5 + 3)
    assert seqs.n_complete == 3 and seqs.n_candidate_frames == 30


def test_sequence_with_unusable_frame_is_dropped() -> None:
    source, index = _columns([30])
    usable = np.ones(30, bool)
    usable[14] = False
    seqs = make_sequences(source, index, usable, 10)
    assert seqs.start.tolist() == [0, 20]
    assert seqs.n_dropped_invalid == 1 and seqs.n_complete == 3


def test_unusable_frame_in_tail_changes_nothing() -> None:
    source, index = _columns([12])
    usable = np.ones(12, bool)
    usable[11] = False
    seqs = make_sequences(source, index, usable, 5)
    assert seqs.start.tolist() == [0, 5] and seqs.n_dropped_invalid == 0


@pytest.mark.parametrize("length", [1, 4])
def test_sequence_embedding_is_mean(length: int) -> None:
    rng = np.random.default_rng(0)
    source, index = _columns([8])
    emb = rng.normal(size=(8, 5)).astype(np.float32)
    seqs = make_sequences(source, index, np.ones(8, bool), length)
    means = sequence_embeddings(emb, seqs)
    expected = emb.reshape(8 // length, length, 5).mean(axis=1)
    np.testing.assert_allclose(means, expected, rtol=1e-6)


def test_sequence_layout_is_the_one_rule_for_strided_embedding() -> None:
    from framepick.sequences import SequenceLayout

    layout = SequenceLayout(length=10, stride=3)
    assert [i for i in range(25) if layout.embeds(i)] == [0, 3, 6, 9, 10, 13, 16, 19, 20, 23]
    assert layout.per_sequence == 4 and layout.key == "/stride3of10" and layout.strided
    for plain in (SequenceLayout(10, 1), SequenceLayout(1, 4)):  # no stride, or single frames
        assert not plain.strided and plain.key == "" and all(plain.embeds(i) for i in range(30))
        assert plain.per_sequence == plain.length
