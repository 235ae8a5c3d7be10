"""Compiled (Numba) CSV rows of float32 values: embeddings.csv at disk speed.

A million candidates of 10-frame sequences is ten million rows of embeddings.csv (about
18 GB at 64 dimensions). The vectorised NumPy formatter (:func:`framepick.write.format_floats`)
makes that at about 0.2 GB/s on one core, with float64 temporaries the size of the block.
This kernel writes each row straight into the output buffer, in parallel over rows, with the
float64 operations of :func:`framepick._decimal.mantissa_exponent` on the same table, so the
bytes are the NumPy formatter's (tests/test_decimal.py).
This module imports Numba; :mod:`framepick.write` imports it only when it writes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._decimal import LOG10_2, POW10_OFFSET

VALUE_BYTES = 15  # "d.dddddddde+XX," without the sign


# "00".."99": two digits a lookup (half the divisions of one digit at a time)
PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).copy()


@numba.njit(cache=True, nogil=True, parallel=True)
def fill_rows(
    values: np.ndarray,
    names: np.ndarray,
    name_start: np.ndarray,
    out: np.ndarray,
    row_start: np.ndarray,
    pow10: np.ndarray,
    pairs: np.ndarray,
) -> None:
    """``name,v0,...,v{d-1},0\\n`` for each row of float32 ``values``, at ``row_start[i]`` of ``out``.

    ``names[name_start[i]:name_start[i + 1]]``: row i's field (already CSV-quoted); the caller
    sizes ``row_start`` from the lengths (a value takes 15 bytes, 16 with its minus sign).
    A row's mantissas and exponents come first (a branch-light loop), then its bytes.
    """
    m, d = values.shape
    bits = values.view(np.uint32)
    for i in numba.prange(m):
        mant = np.empty(d, np.int64)
        exp10 = np.empty(d, np.int64)
        for j in range(d):
            mag = abs(np.float64(values[i, j]))
            binary = np.int64((bits[i, j] >> 23) & 0xFF) - 127
            if binary == -127:  # zero or subnormal: frexp, as the NumPy formatter does for all
                binary = np.int64(math.frexp(mag)[1] - 1)
            e = math.floor(binary * LOG10_2)
            if mag >= pow10[e + 1 + POW10_OFFSET]:
                e += 1
            q = np.int64(np.rint(mag / pow10[e - 8 + POW10_OFFSET]))
            if q < 100_000_000:
                e -= 1
                q = np.int64(np.rint(mag / pow10[e - 8 + POW10_OFFSET]))
            if q >= 1_000_000_000:
                q = np.int64(np.rint(q / 10.0))
                e += 1
            if mag == 0.0:
                q = np.int64(0)
                e = 0
            mant[j] = q
            exp10[j] = e
        p = row_start[i]
        for b in range(name_start[i], name_start[i + 1]):
            out[p] = names[b]
            p += 1
        out[p] = 44  # ,
        p += 1
        for j in range(d):
            if bits[i, j] >> 31:
                out[p] = 45  # -
                p += 1
            digits = np.uint64(mant[j])
            high = digits // np.uint64(10_000)  # the first 5 digits
            low = digits - high * np.uint64(10_000)  # the last 4
            first = high // np.uint64(10_000)
            rest = high - first * np.uint64(10_000)
            out[p] = 48 + first
            out[p + 1] = 46  # .
            for half, at in ((rest, 2), (low, 6)):
                a = half // np.uint64(100)
                b2 = half - a * np.uint64(100)
                out[p + at] = pairs[2 * a]
                out[p + at + 1] = pairs[2 * a + 1]
                out[p + at + 2] = pairs[2 * b2]
                out[p + at + 3] = pairs[2 * b2 + 1]
            out[p + 10] = 101  # e
            e = exp10[j]
            if e < 0:
                out[p + 11] = 45
                e = -e
            else:
                out[p + 11] = 43  # +
            out[p + 12] = pairs[2 * e]
            out[p + 13] = pairs[2 * e + 1]
            out[p + 14] = 44
            p += VALUE_BYTES
        out[p] = 48  # the labels column: 0
        out[p + 1] = 10
