from __future__ import annotations

import math

import numpy as np
import pytest

from framepick import ConfigError, NoCandidatesError, SelectionError, covering_radius, kcenter_greedy, select
from framepick.select import target_count


def _brute_greedy(x: np.ndarray, k: int, first: int) -> list[int]:
    """Textbook farthest-point selection with full distance recomputation."""
    chosen = [first]
    while len(chosen) < k:
        d = np.sqrt(((x[:, None, :] - x[None, chosen, :]) ** 2).sum(-1)).min(axis=1)
        d[chosen] = -1
        chosen.append(int(np.argmax(d)))
    return chosen


def _clusters(n_clusters: int = 8, per: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, 16)) * 10
    return np.concatenate([c + rng.normal(size=(per, 16)) * 0.3 for c in centers]).astype(np.float32)


def test_greedy_matches_brute_force() -> None:
    x = np.random.default_rng(1).normal(size=(300, 12)).astype(np.float32)
    picked, radii, _ = kcenter_greedy(x, 25, first=17)
    assert picked.tolist() == _brute_greedy(x.astype(np.float64), 25, 17)
    assert radii[-1] == pytest.approx(covering_radius(x, picked), rel=1e-4)
    assert np.all(np.diff(radii) <= 1e-6)  # covering radius never grows


def test_coreset_covers_every_cluster() -> None:
    x = _clusters()
    sel = select(x, n_samples=8, method="coreset")
    assert sorted(set((sel.indices // 50).tolist())) == list(range(8))


def test_coreset_radius_beats_random_on_clustered_data() -> None:
    x = _clusters(n_clusters=12, per=40)
    core = select(x, n_samples=12, method="coreset", seed=3)
    rand = [covering_radius(x, select(x, n_samples=12, method="random", seed=s).indices) for s in range(10)]
    assert covering_radius(x, core.indices) < 0.5 * min(rand)


def test_deterministic_under_seed() -> None:
    x = np.random.default_rng(2).normal(size=(200, 8)).astype(np.float32)
    for method in ("coreset", "random"):
        a = select(x, n_samples=20, method=method, seed=5).indices
        b = select(x, n_samples=20, method=method, seed=5).indices
        c = select(x, n_samples=20, method=method, seed=6).indices
        assert a.tolist() == b.tolist()
        assert a.tolist() != c.tolist()


def test_min_distance_stops_when_all_candidates_are_close() -> None:
    x = _clusters(n_clusters=5, per=30)
    sel = select(x, min_distance=3.0)
    assert sel.stop_reason == "min_distance"
    assert len(sel.indices) == 5
    assert covering_radius(x, sel.indices) < 3.0
    assert covering_radius(x, sel.indices[:-1]) >= 3.0  # one fewer would not have been enough


def test_both_conditions_first_reached_wins() -> None:
    x = _clusters(n_clusters=5, per=30)
    assert select(x, n_samples=3, min_distance=3.0).stop_reason == "n_samples"
    assert select(x, n_samples=20, min_distance=3.0).stop_reason == "min_distance"


def test_more_than_candidates_selects_all() -> None:
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    sel = select(x, n_samples=30, length=3)
    assert sorted(sel.indices.tolist()) == list(range(7))
    assert sel.stop_reason == "all_candidates" and sel.requested == 10


def test_duplicates_never_picked_twice() -> None:
    x = np.zeros((10, 3), np.float32)
    sel = select(x, n_samples=10)
    assert sorted(sel.indices.tolist()) == list(range(10))


@pytest.mark.parametrize(
    ("n_samples", "length", "n_candidates", "expected"),
    [
        (0.5, 10, 7, 4),  # 35 frames -> 4 sequences (40 frames, rounded up)
        (0.1, 1, 95, 10),  # 9.5 -> 10
        (0.3, 1, 10, 3),  # exactly 3, float noise must not round up to 4
        (1.0, 5, 3, 3),
        (0.01, 10, 3, 1),
        (40, 10, 100, 4),
        (None, 10, 100, None),
    ],
)
def test_target_count_rounding(n_samples: float | None, length: int, n_candidates: int, expected: int | None) -> None:
    assert target_count(n_samples, length, n_candidates) == expected


def test_fraction_selects_rounded_up_sequences() -> None:
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    assert len(select(x, n_samples=0.5, length=10).indices) == math.ceil(0.5 * 70 / 10)


def test_validation() -> None:
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(ConfigError, match="multiple"):
        select(x, n_samples=5, length=2)
    with pytest.raises(NoCandidatesError):
        select(np.zeros((0, 2), np.float32), n_samples=2)
    with pytest.raises(SelectionError, match="NaN"):
        select(np.full((3, 2), np.nan, np.float32), n_samples=1)


def test_settings_are_checked_by_the_configuration_rules() -> None:
    """select() is public, so it checks its settings, with the configuration's own messages."""
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    with pytest.raises(ConfigError, match="no stopping condition"):
        select(x)
    with pytest.raises(ConfigError, match=r"^invalid value for 'stopping_condition.n_samples': 0; allowed"):
        select(x, n_samples=0)
    with pytest.raises(ConfigError, match=r"^invalid value for 'stopping_condition.min_distance'"):
        select(x, n_samples=2, min_distance=-3.0)
    with pytest.raises(ConfigError, match=r"^invalid value for 'method': 'kmeans'"):
        select(x, n_samples=2, method="kmeans")
    with pytest.raises(ConfigError, match=r"^invalid value for 'selection_dim'"):
        select(x, n_samples=2, selection_dim=0)
    with pytest.raises(SelectionError, match="2-D"):
        select(x[0], n_samples=2)


def test_lightly_minus_one_is_off_like_none() -> None:
    x = np.random.default_rng(1).normal(size=(20, 4)).astype(np.float32)
    off = select(x, n_samples=None, min_distance=0.5)
    minus_one = select(x, n_samples=-1, min_distance=0.5)
    np.testing.assert_array_equal(off.indices, minus_one.indices)
    assert off.requested is None and minus_one.requested is None
    by_count = select(x, n_samples=5, min_distance=None)
    assert by_count.stop_reason == "n_samples" and len(by_count.indices) == 5
    np.testing.assert_array_equal(select(x, n_samples=5, min_distance=-1).indices, by_count.indices)
