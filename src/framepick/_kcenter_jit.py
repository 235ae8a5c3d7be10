"""Compiled (Numba) path of exact greedy k-center: a half-precision screen, an exact re-check.

At a million candidates a pick is bound by memory bandwidth: the NumPy kernel reads the
whole float32 matrix (256 MB at 1M x 64) about once per pick. This path reads a float16
copy instead (half the bytes) in one fused pass per pick that also keeps the argmax, and
gets every squared distance it stores from the same fixed summation tree as
:func:`framepick._kcenter.sq_dist`, so picks, ties and radii are the reference's, bit for bit.

Per pick ``t`` with center ``c`` (a row of ``x``), for each candidate ``p``:

* **block bound**: rows are grouped in blocks of ``block`` rows with a bounding ball
  (float64 centroid ``m_b``, radius ``rho_b``). If ``d(c, m_b) - rho_b`` is so large that no
  row of the block can get closer than the block's largest ``nearest``, the block is
  skipped, and its stored argmax stays valid;
* **triangle bound**: ``p`` can only move if ``nearest_p > limit[assign_p]`` (as in
  :class:`framepick._kcenter.NearestTracker`);
* **half-precision screen**: ``q_p = fl16(2^s x_p)`` with a power-of-two scale ``2^s`` that keeps
  every value in float16's range (and away from its subnormals), and a per-row rounding bound
  ``e_p >= ||2^s x_p - q_p||`` (float64, computed once). By the triangle inequality
  ``2^s d(x_p, c) >= d(q_p, q_c) - e_p - e_c``; with the float32 rounding of the screen's sum
  (``gamma``) and a relative margin, ``p`` is evaluated only when the screen cannot prove that
  its float32 distance is at least ``nearest_p``;
* **exact re-check**: the shared fixed-tree float32 distance, stored only if strictly smaller.

Only the screen is compiled with ``fastmath`` (any summation order is within ``gamma``); the
exact distance is compiled without it, so LLVM may not reorder or fuse its float32 operations.
This module imports Numba; :mod:`framepick._kcenter` imports it only when it runs it.
Compiled code is cached on disk (``cache=True``: next to this file, or Numba's user cache dir
when that is read-only, or ``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# relative slack on top of the rounding bounds below (float32 rounding of the bounds themselves
# is ~1e-7); 1e-3, the NumPy kernel's, made the band of rows re-checked exactly 5-10 times wider
_MARGIN = 1e-5
_HALF_TOP = 2.0**14  # largest scaled magnitude: float16 holds up to 65504
_PREP_ROWS = 32_768  # rows per block when making the float16 copy (float64 temporaries: 16 MB at 64 dims)
BLOCK = 4096  # rows per bounding ball: the fastest of 64..4096 (bench_kcenter_peers.py --levers)


def _half_to_float(typingctx: Any, bits: Any) -> Any:
    """float16 bits -> float32 (one vcvtph2ps on x86 with F16C; Numba has no float16 on CPUs)."""
    sig = types.float32(types.uint16)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return sig, codegen


half_to_float: Any = intrinsic(_half_to_float)  # Any: called with one argument inside kernels


@numba.njit(cache=True, nogil=True)
def exact(x: Any, p: int, c: Any, buf: Any) -> Any:
    """sq_dist(x[p:p+1], c): the same element-wise float32 steps and halving tree."""
    w = x.shape[1]
    if w == 0:
        return np.float32(0.0)
    for j in range(w):
        v = x[p, j] - c[j]
        buf[j] = v * v
    while w > 1:
        half = w // 2
        if w % 2:
            buf[0] = buf[0] + buf[w - 1]
        for j in range(half):
            buf[j] = buf[j] + buf[j + half]
        w = half
    return buf[0]


@numba.njit(cache=True, nogil=True, fastmath=True)
def screen(q: Any, p: int, cq: Any) -> Any:
    """Squared distance of the float16 row to the float16 center, float32, any order."""
    s = np.float32(0.0)
    for j in range(q.shape[1]):
        v = half_to_float(q[p, j]) - cq[j]
        s += v * v
    return s


@numba.njit(cache=True, nogil=True)
def reach(n: Any, e: Any, scale: float, gamma: float) -> Any:
    """Per-row part of the screen bound, rounded up: p is evaluated while
    screen < ((reach_p + e_c) * grow)^2 (see :func:`_grow`)."""
    return np.float32((scale * math.sqrt(max(n, 0.0) / (1.0 - gamma)) + e) * (1.0 + _MARGIN))


@numba.njit(cache=True, nogil=True, parallel=True)
def first_pass(x: Any, c: Any, row: int, nearest: Any, assign: Any, err: Any, far: Any, scale: float,
               gamma: float, block: int, bmax: Any, barg: Any) -> None:  # fmt: skip
    n = x.shape[0]
    nb = (n + block - 1) // block
    for b in numba.prange(nb):
        buf = np.empty(max(x.shape[1], 1), np.float32)
        best, arg = np.float32(-np.inf), -1
        for p in range(b * block, min(n, (b + 1) * block)):
            v = np.float32(-1.0) if p == row else exact(x, p, c, buf)
            nearest[p] = v
            assign[p] = 0
            far[p] = reach(v, err[p], scale, gamma)
            if v > best:
                best, arg = v, p
        bmax[b], barg[b] = best, arg


@numba.njit(cache=True, nogil=True, parallel=True)
def pick(x: Any, q: Any, row: int, t: int, nearest: Any, assign: Any, err: Any, far: Any, limit: Any,
         scale: float, gamma: float, grow: Any, block: int, bcent: Any, brad: Any, bmax: Any,
         barg: Any) -> int:  # fmt: skip
    n, dim = x.shape
    nb = (n + block - 1) // block
    c = x[row]
    cq = np.empty(dim, np.float32)
    for j in range(dim):
        cq[j] = half_to_float(q[row, j])
    ec = err[row]
    c64 = c.astype(np.float64)
    skipped = 0
    for b in numba.prange(nb):
        if not b * block <= row < (b + 1) * block:  # the center's own block is always evaluated
            if bmax[b] <= 0.0:  # every row a center or on one: none can get strictly closer
                skipped += 1
                continue
            lo = np.float64(0.0)
            for j in range(dim):
                v = bcent[b, j] - c64[j]
                lo += v * v
            lo = math.sqrt(lo) * (1.0 - 1e-9) - brad[b]  # d(p, c) >= d(c, m_b) - rho_b
            if lo > 0.0 and lo * lo * (1.0 - gamma) * (1.0 - _MARGIN) > bmax[b]:
                skipped += 1
                continue
        buf = np.empty(max(dim, 1), np.float32)
        best, arg = np.float32(-np.inf), -1
        for p in range(b * block, min(n, (b + 1) * block)):
            v = nearest[p]
            if p == row:
                v = np.float32(-1.0)
                nearest[p] = v
                assign[p] = t
            elif v > limit[assign[p]]:
                bound = (far[p] + ec) * grow
                if screen(q, p, cq) < bound * bound:
                    d = exact(x, p, c, buf)
                    if d < v:
                        v = d
                        nearest[p] = d
                        assign[p] = t
                        far[p] = reach(d, err[p], scale, gamma)
            if v > best:
                best, arg = v, p
        bmax[b], barg[b] = best, arg
    return skipped


def _grow(gamma: float) -> float:
    """Factor on the screen bound: the screen's own rounding (gamma) and the margin."""
    return math.sqrt((1.0 + 2.0 * _MARGIN) * (1.0 + gamma))


def half_copy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(q, err, scale)``: float16 bits of ``scale * x`` (as uint16), each row's rounding bound
    ``err >= ||scale * x_p - q_p||``, and the power-of-two ``scale`` (largest value 2^14)."""
    top = float(np.abs(x).max()) if x.size else 0.0
    scale = 2.0 ** (math.floor(math.log2(_HALF_TOP / top))) if top > 0 else 1.0
    q = np.empty(x.shape, np.float16)
    err = np.empty(len(x), np.float32)
    for begin in range(0, len(x), _PREP_ROWS):
        part = slice(begin, begin + _PREP_ROWS)
        scaled = x[part].astype(np.float64) * scale
        q[part] = scaled.astype(np.float16)
        scaled -= q[part]
        exact = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
        err[part] = (exact * (1.0 + 1e-6) + 1e-30).astype(np.float32)  # float64 sum; float32 rounding
    return q.view(np.uint16), err, scale


def _balls(x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (float64) and radius (rounded up) of each block of ``block`` rows."""
    n, dim = x.shape
    nb = (n + block - 1) // block
    cent = np.empty((nb, dim), np.float64)
    rad = np.empty(nb, np.float64)
    step = max(1, _PREP_ROWS // block)
    for b0 in range(0, nb, step):
        b1 = min(nb, b0 + step)
        rows = x[b0 * block : min(n, b1 * block)].astype(np.float64)
        full = (b1 - b0) * block - len(rows)  # the last block may be short: pad with its own rows
        if full:
            rows = np.concatenate([rows, np.repeat(rows[-1:], full, axis=0)])
        rows = rows.reshape(b1 - b0, block, dim)
        cent[b0:b1] = rows.mean(axis=1)
        rad[b0:b1] = np.sqrt(((rows - cent[b0:b1, None, :]) ** 2).sum(axis=2).max(axis=1))
    return cent, rad * (1.0 + 1e-9) + 1e-30


class HalfTracker:
    """Each row's exact float32 ``nearest`` (the reference's bits), updated by compiled passes.

    The state of :func:`framepick._kcenter.kcenter_reference` after each pick: ``nearest``
    (squared, -1 for a center) and ``assign``; :meth:`add` adds row ``row`` as the next center
    and returns the next farthest-point pick (largest ``nearest``, lowest index among ties).
    Memory besides ``x``: a float16 copy (half of ``x``), 16 bytes per row, the centers.
    """

    def __init__(self, x: np.ndarray, capacity: int, block: int = BLOCK) -> None:
        n, dim = x.shape
        self.x = x
        self.block = block
        self.q, self.err, self.scale = half_copy(x)
        self.cent, self.rad = _balls(x, block)
        self.nearest = np.empty(n, np.float32)
        self.assign = np.zeros(n, np.int32)
        self.far = np.empty(n, np.float32)
        # float32 sums of d non-negative terms in any order (the screen's fastmath sum) are within
        # (d - 1) u of the exact sum, the squares and differences add 3 u: twice (d + 4) u for safety
        self.gamma = 2.0 * (dim + 4) * 2.0**-24
        self.grow = np.float32(_grow(self.gamma))
        nb = len(self.rad)
        self.bmax = np.empty(nb, np.float32)
        self.barg = np.empty(nb, np.int64)
        self.centers = np.zeros((capacity, dim), np.float64)
        self.cnorm = np.zeros(capacity, np.float64)
        self.count = 0
        self.skipped = 0  # blocks skipped by the block bound (for the benchmark)

    def add(self, row: int) -> int:
        """Add ``x[row]`` as a center; return the next pick (its ``nearest`` is the radius)."""
        x, t = self.x, self.count
        c64 = x[row].astype(np.float64)
        self.centers[t] = c64
        self.cnorm[t] = c64 @ c64
        self.count = t + 1
        if t == 0:
            first_pass(x, x[row], row, self.nearest, self.assign, self.err, self.far, self.scale,
                                  self.gamma, self.block, self.bmax, self.barg)  # fmt: skip
        else:
            centers, cnorm = self.centers, self.cnorm
            # as NearestTracker.add: center-center distances rounded down by a bound on their error
            dcc2 = cnorm[:t] + cnorm[t] - 2.0 * (centers[:t] @ centers[t])
            dcc = np.sqrt(np.maximum(dcc2 - 1e-12 * (cnorm[:t] + cnorm[t]), 0.0))
            bound = np.maximum(dcc - 1e-12, 0.0) / (2.0 * (1.0 + _MARGIN))
            limit = (bound * bound).astype(np.float32)
            self.skipped += pick(x, self.q, row, t, self.nearest, self.assign, self.err, self.far,
                                            limit, self.scale, self.gamma, self.grow, self.block, self.cent, self.rad,
                                            self.bmax, self.barg)  # fmt: skip
        return int(self.barg[int(np.argmax(self.bmax))])
