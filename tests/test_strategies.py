"""Selection strategies on candidate sequences: sequence rules, each strategy and operation, combinations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framepick import ConfigError, NoCandidatesError, load_config
from framepick.select import select
from framepick.sequences import Sequences, make_sequences
from framepick.strategies import Column, FrameValues, read_value_csv, select_with_strategies
from framepick.strategy_types import sequence_passes
from framepick.values import sequence_categories, sequence_numbers


def _seqs(n_frames: int, length: int, n_sources: int = 1) -> Sequences:
    source = np.repeat(np.arange(n_sources), n_frames // n_sources).astype(np.int32)
    index = np.concatenate([np.arange(n_frames // n_sources)] * n_sources).astype(np.int32)
    return make_sequences(source, index, np.ones(n_frames, bool), length)


def _strategies(*entries: dict) -> tuple:
    cfg = load_config(
        overrides={
            "input_dir": "in",
            "output_dir": "out",
            "stopping_condition": {"n_samples": 1},
            "selection": {"strategies": list(entries)},
            "metadata": "m.csv",
            "scores": "s.csv",
        }
    )
    return cfg.selection.strategies


def _div(**kw: object) -> dict:
    return {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", **kw}}


def _on(kind: str, key: str, **strategy: object) -> dict:
    given = {"type": "METADATA", "key": key} if kind == "METADATA" else {"type": "SCORES", "score": key}
    return {"input": given, "strategy": strategy}


def _points(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


# ----------------------------------------------------------------------------- sequence rules


def test_sequence_number_is_the_mean_and_missing_frames_make_it_missing() -> None:
    seqs = _seqs(6, 3)
    frame = np.array([1.0, 2.0, 6.0, 4.0, np.nan, 5.0])
    np.testing.assert_array_equal(sequence_numbers(frame, seqs.rows), [3.0, np.nan])


def test_threshold_needs_every_frame_of_the_sequence() -> None:
    seqs = _seqs(9, 3)
    sharp = np.array([9, 9, 9, 9, 1, 9, 9, 9, np.nan], float)  # one blurred frame in sequence 1, a missing one in 2
    np.testing.assert_array_equal(sequence_passes(sharp, seqs.rows, "BIGGER", 5.0), [True, False, False])
    np.testing.assert_array_equal(sequence_passes(sharp, seqs.rows, "SMALLER_EQUAL", 9.0), [True, True, False])


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("BIGGER", [0, 0, 1]), ("BIGGER_EQUAL", [0, 1, 1]), ("SMALLER", [1, 0, 0]), ("SMALLER_EQUAL", [1, 1, 0])],
)
def test_every_threshold_operation_on_single_frames(operation: str, expected: list[int]) -> None:
    passes = sequence_passes(np.array([1.0, 2.0, 3.0]), _seqs(3, 1).rows, operation, 2.0)
    np.testing.assert_array_equal(passes, expected)


def test_categorical_value_of_a_sequence_is_the_majority() -> None:
    seqs = _seqs(12, 4)
    codes = np.array([0, 1, 1, 0, 2, 2, 2, 1, 1, 0, 0, -1], np.int32)
    # [0,1,1,0]: a tie between 0 and 1 goes to the earliest frame's value (0)
    np.testing.assert_array_equal(sequence_categories(codes, seqs.rows), [0, 2, -1])


def test_column_detects_numbers_and_categories() -> None:
    numbers = Column.from_strings(["1", "2.5", "", "-3"])
    assert numbers.numeric is not None and np.isnan(numbers.numeric[2]) and numbers.numeric[3] == -3
    words = Column.from_strings(["day", "night", "", "day"])
    assert words.numeric is None and words.categories == ["day", "night"]
    np.testing.assert_array_equal(words.codes, [0, 1, -1, 0])


def test_value_csv_reports_names_that_match_no_frame(tmp_path: Path) -> None:
    path = tmp_path / "meta.csv"
    path.write_text(
        "filenames,weather,speed\nv-0-mp4.png,day,3\nnope-1.png,night,1\nv-2-mp4.png,night,\ngone.png,day,2\n"
    )
    columns, report = read_value_csv(path, ["v-0-mp4.png", "v-1-mp4.png", "v-2-mp4.png"], "metadata")
    assert report["unmatched"] == 2 and report["unmatched_examples"] == ["nope-1.png", "gone.png"]
    assert report["rows_matched"] == 2
    np.testing.assert_array_equal(columns["weather"].codes, [0, -1, 1])
    np.testing.assert_array_equal(columns["speed"].numeric, [3.0, np.nan, np.nan])


def test_value_csv_without_filenames_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("name,score\na,1\n")
    with pytest.raises(Exception, match="no 'filenames' column"):
        read_value_csv(path, ["a"], "scores")


# ----------------------------------------------------------------------------- strategies, single frames and sequences


@pytest.mark.parametrize("length", [1, 5])
def test_weights_with_strength_zero_is_pure_diversity_exactly(length: int) -> None:
    seqs = _seqs(200, length)
    x = _points(len(seqs))
    values = FrameValues(scores={"u": Column.from_numbers(np.random.default_rng(1).random(200))})
    plain = select(x, n_samples=10 * length, length=length, seed=3)
    strategies = _strategies(_div(), _on("SCORES", "u", type="WEIGHTS", strength=0.0))
    got = select_with_strategies(x, seqs, values, strategies, n_samples=10 * length, min_distance=None, seed=3)
    np.testing.assert_array_equal(got.selection.indices, plain.indices)
    np.testing.assert_array_equal(got.selection.radii, plain.radii)
    # and no strategies at all is the same selection too
    none = select_with_strategies(x, seqs, FrameValues(), None, n_samples=10 * length, min_distance=None, seed=3)
    np.testing.assert_array_equal(none.selection.indices, plain.indices)


@pytest.mark.parametrize("length", [1, 4])
def test_threshold_excludes_exactly_the_failing_candidates(length: int) -> None:
    rng = np.random.default_rng(2)
    seqs = _seqs(400, length)
    sharp = rng.uniform(0, 100, 400)
    values = FrameValues(metadata={"lightly.sharpness": Column.from_numbers(sharp)})
    strategies = _strategies(
        _div(), _on("METADATA", "lightly.sharpness", type="THRESHOLD", threshold=30, operation="BIGGER")
    )
    got = select_with_strategies(_points(len(seqs)), seqs, values, strategies, n_samples=None, min_distance=1e-9)
    passing = (sharp[seqs.rows] > 30).all(axis=1)
    np.testing.assert_array_equal(got.candidates_allowed, passing)
    assert set(got.selection.indices.tolist()) == set(np.flatnonzero(passing).tolist())  # all of them, none other
    assert got.excluded["THRESHOLD on lightly.sharpness"] == int((~passing).sum())
    report = got.strategies[1]
    assert report["objective"]["after"] == 1.0 and report["objective"]["before"] == pytest.approx(passing.mean())


@pytest.mark.parametrize("length", [1, 3])
def test_weights_alone_picks_the_heaviest_first(length: int) -> None:
    seqs = _seqs(300, length)
    weights = np.random.default_rng(4).random(300)
    values = FrameValues(scores={"u": Column.from_numbers(weights)})
    got = select_with_strategies(
        _points(len(seqs)),
        seqs,
        values,
        _strategies(_on("SCORES", "u", type="WEIGHTS")),
        n_samples=5 * length,
        min_distance=None,
    )
    per_seq = weights[seqs.rows].mean(axis=1)
    np.testing.assert_array_equal(got.selection.indices, np.argsort(-per_seq, kind="stable")[:5])
    assert got.strategies[0]["objective"]["after"] > got.strategies[0]["objective"]["before"]


def test_negative_weights_are_refused() -> None:
    values = FrameValues(scores={"u": Column.from_numbers(np.array([1.0, -2.0, 3.0]))})
    with pytest.raises(ConfigError, match="WEIGHTS needs values >= 0"):
        select_with_strategies(
            _points(3),
            _seqs(3, 1),
            values,
            _strategies(_on("SCORES", "u", type="WEIGHTS")),
            n_samples=1,
            min_distance=None,
        )


def test_weights_on_categories_is_a_config_error() -> None:
    values = FrameValues(metadata={"weather": Column.from_strings(["day", "night"])})
    with pytest.raises(ConfigError, match="needs numbers"):
        select_with_strategies(
            _points(2),
            _seqs(2, 1),
            values,
            _strategies(_on("METADATA", "weather", type="WEIGHTS")),
            n_samples=1,
            min_distance=None,
        )


def test_missing_values_leave_candidates_out_and_are_counted() -> None:
    seqs = _seqs(20, 2)
    speed = np.arange(20, dtype=float)
    speed[[3, 10, 11]] = np.nan  # sequences 1 and 5 have a frame without a value
    values = FrameValues(scores={"speed": Column.from_numbers(speed)})
    got = select_with_strategies(
        _points(10),
        seqs,
        values,
        _strategies(_div(), _on("SCORES", "speed", type="WEIGHTS")),
        n_samples=None,
        min_distance=1e-9,
    )
    assert got.excluded["no value for speed"] == 2
    assert sorted(got.selection.indices.tolist()) == [0, 2, 3, 4, 6, 7, 8, 9]


@pytest.mark.parametrize("length", [1, 2])
def test_balance_reaches_its_target_within_one_sequence(length: int) -> None:
    n = 600 * length
    rng = np.random.default_rng(5)
    weather = rng.choice(["day", "night", "dusk"], size=n // length, p=[0.8, 0.15, 0.05]).repeat(length)
    values = FrameValues(metadata={"weather": Column.from_strings(list(weather))})
    seqs = _seqs(n, length)
    strategies = _strategies(_div(), _on("METADATA", "weather", type="BALANCE", target={"day": 0.5, "night": 0.5}))
    got = select_with_strategies(_points(len(seqs)), seqs, values, strategies, n_samples=40 * length, min_distance=None)
    picked = weather[seqs.rows[got.selection.indices, 0]]
    assert len(picked) == 40
    assert abs((picked == "day").sum() - 20) <= 1 and abs((picked == "night").sum() - 20) <= 1
    assert got.strategies[1]["reached"] is True


def test_balance_says_when_the_data_cannot_reach_the_target() -> None:
    weather = ["day"] * 95 + ["night"] * 5
    values = FrameValues(metadata={"weather": Column.from_strings(weather)})
    strategies = _strategies(_div(), _on("METADATA", "weather", type="BALANCE", target={"day": 0.5, "night": 0.5}))
    got = select_with_strategies(_points(100), _seqs(100, 1), values, strategies, n_samples=40, min_distance=None)
    picked = np.array(weather)[got.selection.indices]
    assert (picked == "night").sum() == 5  # every night frame, then days
    entry = got.strategies[1]
    assert entry["reached"] is False and "'night'" in entry["message"]
    assert entry["objective"]["after"][1] == pytest.approx(5 / 40)


def test_balance_spreads_over_sources_with_video_name() -> None:
    names = [f"v{i}.mp4" for i in range(4) for _ in range(50)]
    values = FrameValues(metadata={"video_name": Column.from_strings(names)})
    target = {f"v{i}.mp4": 0.25 for i in range(4)}
    strategies = _strategies(_div(), _on("METADATA", "video_name", type="BALANCE", target=target))
    x = _points(200)
    x[:150] *= 10.0  # v0-v2 far more spread out: pure diversity would neglect v3
    got = select_with_strategies(x, _seqs(200, 1), values, strategies, n_samples=20, min_distance=None)
    np.testing.assert_array_equal(np.bincount(got.selection.indices // 50, minlength=4), [5, 5, 5, 5])


def test_similarity_alone_picks_the_candidates_nearest_the_queries() -> None:
    x = _points(500, 16, seed=6)
    queries = np.stack([x[10] + 0.01, x[200] - 0.01])
    strategies = _strategies({"input": {"type": "EMBEDDINGS", "query": "q.csv"}, "strategy": {"type": "SIMILARITY"}})
    got = select_with_strategies(
        x, _seqs(500, 1), FrameValues(), strategies, n_samples=6, min_distance=None, queries={0: queries}
    )
    nearest = np.min(np.linalg.norm(x[:, None, :] - queries[None], axis=2), axis=1)
    np.testing.assert_array_equal(got.selection.indices, np.argsort(nearest, kind="stable")[:6])
    assert got.selection.indices[:2].tolist() in ([10, 200], [200, 10])


def test_similarity_with_diversity_spreads_over_the_queries() -> None:
    x = _points(400, 8, seed=7)
    queries = np.stack([x[5], x[300]])
    strategies = _strategies(
        _div(), {"input": {"type": "EMBEDDINGS", "query": "q"}, "strategy": {"type": "SIMILARITY", "strength": 3}}
    )
    got = select_with_strategies(
        x, _seqs(400, 1), FrameValues(), strategies, n_samples=2, min_distance=None, queries={1: queries}
    )
    assert sorted(got.selection.indices.tolist()) == [5, 300]  # each query's own point, not two near one


def test_everything_filtered_out_says_why() -> None:
    values = FrameValues(metadata={"lightly.luminance": Column.from_numbers(np.zeros(10))})
    strategies = _strategies(
        _div(), _on("METADATA", "lightly.luminance", type="THRESHOLD", threshold=10, operation="BIGGER")
    )
    with pytest.raises(NoCandidatesError, match=r"10 THRESHOLD on lightly\.luminance"):
        select_with_strategies(_points(10), _seqs(10, 1), values, strategies, n_samples=2, min_distance=None)


def test_unknown_metadata_column_names_the_known_ones() -> None:
    values = FrameValues(metadata={"lightly.contrast": Column.from_numbers(np.ones(3))})
    with pytest.raises(ConfigError, match=r"no metadata column 'weather'.*lightly\.contrast"):
        select_with_strategies(
            _points(3),
            _seqs(3, 1),
            values,
            _strategies(_on("METADATA", "weather", type="WEIGHTS")),
            n_samples=1,
            min_distance=None,
        )


def test_pool_continues_diversity_and_counts_new_picks_only() -> None:
    x = _points(300, 8, seed=8)
    first = select(x[:150], n_samples=10, seed=0)
    pool = x[:150][first.indices]
    # the second run sees all 300; the first run's frames are in the pool
    in_pool = np.zeros(300, bool)
    in_pool[first.indices] = True
    got = select_with_strategies(
        x, _seqs(300, 1), FrameValues(), None, n_samples=10, min_distance=None, pool=pool, in_pool=in_pool
    )
    assert len(got.selection.indices) == 10 and not in_pool[got.selection.indices].any()
    # the same as one greedy run over all 300 whose first centers are the first run's picks
    from framepick._kcenter import sq_dist

    nearest = np.full(300, np.inf, np.float32)
    for c in first.indices:
        nearest = np.minimum(nearest, sq_dist(x, x[c]))
    nearest[first.indices] = -1
    expected = []
    for _ in range(10):
        i = int(np.argmax(nearest))
        expected.append(i)
        nearest = np.minimum(nearest, sq_dist(x, x[i]))
        nearest[i] = -1
    np.testing.assert_array_equal(got.selection.indices, expected)
    assert got.strategies[0]["objective"]["before"] > got.strategies[0]["objective"]["after"]


def test_value_csv_with_a_bom_and_missing_tokens(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefffilenames,u,w\na.png,1.5,x\nb.png,NaN,\nc.png,n/a,y\nd.png,2,NULL\n".encode())
    columns, report = read_value_csv(path, ["a.png", "b.png", "c.png", "d.png"], "scores")
    assert report["rows_matched"] == 4
    np.testing.assert_array_equal(columns["u"].numeric, [1.5, np.nan, np.nan, 2.0])  # still numeric
    np.testing.assert_array_equal(columns["w"].codes, [0, -1, 1, -1])


def test_zero_weights_fall_back_to_diversity_not_file_order() -> None:
    x = _points(400, 8, seed=9)
    weights = np.zeros(400)
    weights[[10, 20]] = 1.0
    values = FrameValues(scores={"u": Column.from_numbers(weights)})
    strategies = _strategies(_div(), _on("SCORES", "u", type="WEIGHTS"))
    got = select_with_strategies(x, _seqs(400, 1), values, strategies, n_samples=12, min_distance=None)
    picks = got.selection.indices.tolist()
    assert set(picks[:2]) == {10, 20}  # the two positive weights first
    rest = picks[2:]
    assert rest != list(range(10)) and max(rest) > 50  # then spread by diversity, not 0, 1, 2, ...
    # each later pick is the farthest remaining point from the selection so far (zero weight ties)
    chosen = picks[:2]
    for p in rest:
        d = np.min(np.linalg.norm(x[:, None] - x[chosen][None], axis=2), axis=1)
        d[chosen] = -1
        assert np.isclose(d[p], d.max(), rtol=1e-5)
        chosen.append(p)


def test_ties_without_diversity_are_a_seeded_draw() -> None:
    sharp = np.full(300, 50.0)
    values = FrameValues(metadata={"lightly.sharpness": Column.from_numbers(sharp)})
    strategies = _strategies(_on("METADATA", "lightly.sharpness", type="THRESHOLD", threshold=10, operation="BIGGER"))
    a = select_with_strategies(_points(300), _seqs(300, 1), values, strategies, n_samples=10, min_distance=None, seed=1)
    b = select_with_strategies(_points(300), _seqs(300, 1), values, strategies, n_samples=10, min_distance=None, seed=1)
    c = select_with_strategies(_points(300), _seqs(300, 1), values, strategies, n_samples=10, min_distance=None, seed=2)
    np.testing.assert_array_equal(a.selection.indices, b.selection.indices)
    assert (
        a.selection.indices.tolist() != list(range(10)) and a.selection.indices.tolist() != c.selection.indices.tolist()
    )


def test_embeddings_with_nan_are_refused() -> None:
    x = _points(10)
    x[3, 2] = np.nan
    with pytest.raises(Exception, match="NaN or infinite"):
        select_with_strategies(x, _seqs(10, 1), FrameValues(), None, n_samples=2, min_distance=None)


def test_value_files_are_checked_before_decoding(tmp_path: Path) -> None:
    from framepick.strategies import check_value_files

    meta = tmp_path / "m.csv"
    meta.write_text("filenames,weather,speed\na.png,day,3\nb.png,night,fast\n")
    ok = _strategies(_on("METADATA", "weather", type="BALANCE", target={"day": 1.0}))
    check_value_files(ok, str(meta), None)
    with pytest.raises(ConfigError, match=r"has no column 'wether'; its columns: speed, weather"):
        check_value_files(_strategies(_on("METADATA", "wether", type="WEIGHTS")), str(meta), None)
    with pytest.raises(ConfigError, match="needs numbers"):
        check_value_files(
            _strategies(_on("METADATA", "speed", type="THRESHOLD", threshold=1, operation="BIGGER")), str(meta), None
        )
    with pytest.raises(Exception, match="cannot read scores file"):
        check_value_files(_strategies(_on("SCORES", "u", type="WEIGHTS")), None, str(tmp_path / "missing.csv"))
