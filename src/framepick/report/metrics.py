"""The report's coverage numbers (``report.json`` ``metrics.coverage``), in plain numpy.

Distances are Euclidean distances between candidate embeddings (the space the selection
works in). Nothing here builds an N×N matrix (the kernels in :mod:`framepick._linalg` work in
row blocks), and the nearest-neighbour histograms use a seeded sample of at most
:data:`NN_SAMPLE` query points (each against *all* points) when there are more.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._linalg import blocked_mean, max_sq_distance_to, nearest_distances, nn_distances, sample_rows

__all__ = ["NN_SAMPLE", "coverage_metrics", "nearest_distances", "nn_distances"]

NN_SAMPLE = 5_000  # query points for the nearest-neighbour histograms


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {"min": None, "median": None, "mean": None, "max": None}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def _edges(*arrays: np.ndarray, bins: int = 30) -> np.ndarray:
    """Bins from 0 to the largest finite value (an empty selection's distances are all infinite)."""
    finite = [a[np.isfinite(a)] for a in arrays]
    top = max((float(a.max()) for a in finite if len(a)), default=1.0)
    return np.linspace(0.0, top if top > 0 else 1.0, bins + 1)


def _nearest_neighbour(
    x: np.ndarray, selected: np.ndarray, random_sel: np.ndarray, seed: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Nearest-neighbour distances among all candidates, the selected ones and the random baseline.

    Returns (the report.json entry, the distances and bin edges for the plots).
    """
    n, k = len(x), len(selected)
    q_all, s_all = sample_rows(n, NN_SAMPLE, seed)
    q_sel, s_sel = sample_rows(k, NN_SAMPLE, seed)
    values = {
        "all": nn_distances(x, q_all),
        "selected": nn_distances(x[selected], q_sel),
        "random": nn_distances(x[random_sel], q_sel),
    }
    edges = _edges(*values.values())
    pools = {"all": (n, len(q_all), s_all), "selected": (k, len(q_sel), s_sel), "random": (k, len(q_sel), s_sel)}

    def entry(key: str) -> dict[str, Any]:
        pool, queries, sampled = pools[key]
        return {
            "points": pool,
            "queries": queries,
            "sampled": sampled,
            **_stats(values[key]),
            "counts": np.histogram(values[key], edges)[0].tolist(),
        }

    numbers = {
        "bin_edges": edges.tolist(),
        "sample_cap": NN_SAMPLE,
        "sample_seed": seed,
        "all": entry("all"),
        "selected": entry("selected"),
        "random": entry("random"),
    }
    arrays = {"nn_all": values["all"], "nn_selected": values["selected"], "nn_random": values["random"]}
    return numbers, {**arrays, "nn_edges": edges}


def coverage_metrics(x: np.ndarray, selected: np.ndarray, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """How well ``selected`` covers the candidates ``x``, against a random selection of the same size.

    Returns (numbers for report.json, arrays for the plots). The random selection is the
    first ``len(selected)`` indices of ``numpy.random.default_rng(seed).permutation(len(x))``,
    i.e. what :func:`framepick.select.random_order` picks with that seed.
    """
    selected = np.asarray(selected, np.int64)
    n, k = len(x), len(selected)
    random_sel = np.random.default_rng(seed).permutation(n)[:k]
    to_sel = nearest_distances(x, selected)
    to_rand = nearest_distances(x, random_sel)
    radius_before = float(np.sqrt(max_sq_distance_to(x, blocked_mean(x)))) if n else 0.0
    nn, nn_arrays = _nearest_neighbour(x, selected, random_sel, seed)
    cov_edges = _edges(to_sel, to_rand)
    covered = bool(n and k)
    numbers = {
        "distance": "Euclidean distance between candidate embeddings (a sequence's embedding is its frames' mean)",
        "candidates": n,
        "selected": k,
        "radius_before": radius_before,
        "radius_before_definition": "largest distance from any candidate to the mean of all candidates",
        "radius_after": float(to_sel.max()) if covered else None,
        "radius_after_definition": "largest distance from any candidate to its nearest selected candidate",
        "mean_distance_to_selection": float(to_sel.mean()) if covered else None,
        "random": {
            "seed": seed,
            "definition": "first k of numpy.random.default_rng(seed).permutation(candidates)",
            "radius_after": float(to_rand.max()) if covered else None,
            "mean_distance_to_selection": float(to_rand.mean()) if covered else None,
        },
        "distance_to_selection": {
            "bin_edges": cov_edges.tolist(),
            "selected": np.histogram(to_sel, cov_edges)[0].tolist(),
            "random": np.histogram(to_rand, cov_edges)[0].tolist(),
        },
        "nearest_neighbour": nn,
    }
    arrays = {"to_selected": to_sel, "to_random": to_rand, **nn_arrays, "cov_edges": cov_edges}
    return numbers, arrays
