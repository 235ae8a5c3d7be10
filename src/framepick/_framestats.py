"""Kernel: a frame's sharpness, luminance and contrast from its luma plane (numpy only).

Every decoded frame goes through :func:`frame_stats`, in the decoding thread, so it is
written for speed while staying exact: the 4-neighbour Laplacian in int16 over row blocks
that stay in the CPU cache, flattened so that every step is one contiguous numpy call; sums
of squares through BLAS dot products on rows short enough that every partial sum is an
exactly representable integer (float64 for the Laplacian, float32 rows of 256 for 8-bit
pixels); the Laplacian's plain sum in closed form from the border pixels. No full-size
temporary is made. :func:`frame_stats_reference` is the plain float64 definition the tests
hold it to (within 1e-9, relative).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["FRAME_METADATA", "NO_STATS", "Stats", "frame_stats", "frame_stats_reference"]

FRAME_METADATA: tuple[str, str, str] = ("lightly.sharpness", "lightly.luminance", "lightly.contrast")
"""Names of the built-in per-frame metadata, in the order :func:`frame_stats` returns them."""

Stats = tuple[float, float, float]
"""(sharpness, luminance, contrast) of one frame."""

NO_STATS: Stats = (math.nan, math.nan, math.nan)
"""What a frame without a picture (one that failed to decode) has."""

_BLOCK = 1 << 16  # pixels per row block: its buffers (18 bytes a pixel, 1.2 MB) stay about a core's L2;
# twice that runs slower (720p: 1.9 against 1.4 ms) while FFmpeg's threads decode on the other core
_CHUNK = 256  # float32 row length: 256 * 255**2 < 2**24, so 8-bit sums of squares stay exact

_vecdot: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = getattr(np, "vecdot", None)


def _rowdots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of 2-D ``a`` and ``b`` (or a 1-D ``b`` for every row), a BLAS dot each.

    One call for a whole block; short rows also keep OpenBLAS single-threaded (it splits only
    dots of more than 10,000 elements), so the decoding thread never wakes BLAS threads that
    would compete with the model's.
    """
    if _vecdot is not None:  # numpy >= 2
        return _vecdot(a, b)
    rows = np.broadcast_to(b, a.shape)  # numpy 1.x: a stack of (1, n) @ (n, 1) products, not one gemv
    return (a[:, None, :] @ rows[:, :, None]).reshape(-1)


def frame_stats(luma: np.ndarray, bits: int = 8) -> Stats:
    """(sharpness, luminance, contrast) of a 2-D unsigned integer luma plane.

    sharpness: the variance of the 4-neighbour Laplacian ``4c - up - down - left - right``
    over the interior pixels (blur lowers it; NaN below 3x3 pixels); luminance: the mean;
    contrast: the standard deviation. ``luma`` holds ``bits``-bit values (10 for 10-bit
    video); the results are on the 8-bit scale (values divided by ``2**(bits - 8)``), so
    frames of any bit depth compare. Any strides work (a padded video plane as it is).
    """
    x = np.asarray(luma)
    if x.ndim != 2 or x.dtype.kind != "u" or x.dtype.itemsize > 2:
        raise ValueError(f"luma must be a 2-D uint8 or uint16 array, not {x.dtype} {x.shape}")
    h, w = x.shape
    if h * w == 0:
        return NO_STATS
    if h < 3 or w < 3:
        sharpness, total, total_sq = math.nan, *_moments(x)
    else:
        lap_sq, total, total_sq = _block_sums(x, bits)
        n = (h - 2) * (w - 2)
        lap_sum = _laplacian_sum(x)
        sharpness = (n * int(lap_sq) - lap_sum * lap_sum) / (n * n)
    pixels = h * w
    scale = 2.0 ** (bits - 8)
    variance = (pixels * int(total_sq) - int(total) ** 2) / (pixels * pixels)
    return sharpness / (scale * scale), total / pixels / scale, math.sqrt(max(variance, 0.0)) / scale


def _block_sums(x: np.ndarray, bits: int) -> tuple[float, float, float]:
    """(sum of the Laplacian's squares, sum of the pixels, sum of their squares), block by block.

    A block is ``rows`` interior rows plus the row above and below, copied once into a flat
    int16 buffer ``grid``. In the flat buffer the four neighbours of pixel ``p`` are
    ``p - w``, ``p + w``, ``p - 1`` and ``p + 1``, so the Laplacian of every row of the
    block is five contiguous operations; at the first and last column the left/right
    neighbour wraps to another row, and those values are zeroed before squaring.
    """
    h, w = x.shape
    lap_type = np.int16 if bits <= 13 else np.int32  # |Laplacian| <= 4 * (2**bits - 1)
    eight_bit = x.dtype == np.uint8
    rows = max(1, min(h - 2, _BLOCK // w))
    size = rows * w
    grid = np.empty(size + 2 * w, lap_type)
    around = np.empty(size, lap_type)
    lap = np.empty(size, lap_type)
    lap_f = np.empty(size, np.float64)
    # the block's own pixels, as float32 rows of _CHUNK for 8-bit (zero tail), else float64 image rows
    pix = np.zeros(-(-size // _CHUNK) * _CHUNK, np.float32) if eight_bit else np.empty(size, np.float64)
    ones = np.ones(_CHUNK if eight_bit else w, pix.dtype)
    lap_sq = total = total_sq = 0.0
    for top in range(1, h - 1, rows):
        r = min(rows, h - 1 - top)
        n = r * w
        g = grid[: n + 2 * w]
        np.copyto(g.reshape(r + 2, w), x[top - 1 : top + r + 1], casting="unsafe")  # values fit: see lap_type
        a, b = around[:n], lap[:n]
        np.add(g[:n], g[2 * w :], out=a)  # up + down
        np.add(g[w - 1 : w - 1 + n], g[w + 1 : w + 1 + n], out=b)  # left + right
        a += b
        np.multiply(g[w : w + n], 4, out=b)
        b -= a
        f = lap_f[:n].reshape(r, w)
        np.copyto(f, b.reshape(r, w))
        f[:, 0] = 0.0  # wrapped neighbours: not interior pixels
        f[:, -1] = 0.0
        lap_sq += float(_rowdots(f, f).sum())
        if eight_bit:
            end = -(-n // _CHUNK) * _CHUNK
            np.copyto(pix[:n], g[w : w + n])
            pix[n:end] = 0.0  # a short last block: stale pixels past its end
            own = pix[:end].reshape(-1, _CHUNK)
        else:
            own = pix[:n].reshape(r, w)
            np.copyto(own, g[w : w + n].reshape(r, w))
        total += float(_rowdots(own, ones).sum(dtype=np.float64))
        total_sq += float(_rowdots(own, own).sum(dtype=np.float64))
    edge_sum, edge_sq = _moments(x[:: h - 1])  # the first and the last row
    return lap_sq, total + edge_sum, total_sq + edge_sq


def _moments(x: np.ndarray) -> tuple[float, float]:
    """Sum and sum of squares of a few pixels (exact: float64 holds these integers)."""
    f = x.astype(np.float64).reshape(-1)
    return float(f.sum()), float(f @ f)


def _laplacian_sum(x: np.ndarray) -> int:
    """The sum of the Laplacian over the interior, from border pixels only.

    Each of its four differences telescopes along a row or a column: summed over the
    interior rows, ``c - up`` leaves ``x[h-2] - x[0]`` and ``c - down`` leaves ``x[1] - x[h-1]``
    (interior columns), and likewise across the columns.
    """

    def s(a: np.ndarray) -> int:
        return int(a.sum(dtype=np.int64))

    inner_cols, inner_rows = x[:, 1:-1], x[1:-1]
    vertical = s(inner_cols[-2]) - s(inner_cols[0]) + s(inner_cols[1]) - s(inner_cols[-1])
    horizontal = s(inner_rows[:, -2]) - s(inner_rows[:, 0]) + s(inner_rows[:, 1]) - s(inner_rows[:, -1])
    return vertical + horizontal


def frame_stats_reference(luma: np.ndarray, bits: int = 8) -> Stats:
    """The definition :func:`frame_stats` implements, in plain float64 (slow: tests only)."""
    f = np.asarray(luma, np.float64) / 2.0 ** (bits - 8)
    if f.size == 0:
        return NO_STATS
    lap = 4 * f[1:-1, 1:-1] - f[:-2, 1:-1] - f[2:, 1:-1] - f[1:-1, :-2] - f[1:-1, 2:]
    sharpness = float(np.var(lap)) if lap.size else math.nan
    return sharpness, float(np.mean(f)), float(np.std(f))
