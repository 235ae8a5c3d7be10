"""Decimal text of floats for the CSV outputs: nine significant digits, ``[-]d.dddddddde±XX``.

Nine significant digits round-trip every float32 exactly (also -0.0 and subnormals). This is
the vectorised NumPy formatter (metadata.csv, and the reference of the compiled rows in
:mod:`framepick._decimal_jit`, which must give the same bytes). Both find the exponent and the
mantissa with the same float64 operations on the same power-of-ten table:

* ``e = floor((frexp exponent - 1) * log10(2))``, then ``e + 1`` where ``|v| >= POW10[e + 1]``
  (the estimate is never above ``floor(log10|v|)`` and at most 1 below it);
* ``mant = rint(|v| / POW10[e - 8])``; a quotient just under 1e8 (the table's rounding) takes
  ``e - 1``, a carry to ten digits ``rint(mant / 10)`` and ``e + 1``.
"""

from __future__ import annotations

import numpy as np

POW10_OFFSET = 80
POW10 = 10.0 ** np.arange(-POW10_OFFSET, POW10_OFFSET, dtype=np.float64)  # NumPy's pow, shared by both paths
LOG10_2 = 0.30102999566398120
MAX_EXPONENT = 63  # two exponent digits; magnitudes in [1e-64, 1e64) or zero

_TABLES: dict[str, np.ndarray] = {}


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint64 words of ASCII: 6 leading digits ``_d.ddddd``, 3 trailing digits, exponent ``e±XX,``."""
    if not _TABLES:
        q = np.arange(10**6, dtype=np.int64)
        lead = np.zeros((10**6, 8), np.uint8)  # byte 0: sign slot (NUL), then d.ddddd
        lead[:, 1] = q // 100000 % 10 + 48
        lead[:, 2] = ord(".")
        for k in range(5):
            lead[:, 3 + k] = q // 10 ** (4 - k) % 10 + 48
        r = np.arange(1000, dtype=np.int64)
        tail = np.zeros((1000, 8), np.uint8)
        for k in range(3):
            tail[:, k] = r // 10 ** (2 - k) % 10 + 48
        exps = np.zeros((128, 8), np.uint8)
        exps[:, 3:] = np.frombuffer("".join(f"e{e:+03d}," for e in range(-64, 64)).encode(), np.uint8).reshape(128, 5)
        _TABLES.update(lead=lead.view(np.uint64)[:, 0], tail=tail.view(np.uint64)[:, 0], exp=exps.view(np.uint64)[:, 0])
        _TABLES["minus"] = np.frombuffer(b"-" + b"\0" * 7, np.uint64).copy()
    return _TABLES["lead"], _TABLES["tail"], _TABLES["exp"]


def mantissa_exponent(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nine-digit mantissas (int64, in [1e8, 1e9), 0 for zero) and decimal exponents of
    finite magnitudes ``mag`` (float64, >= 0)."""
    nonzero = mag > 0
    _, binary = np.frexp(mag)
    e = np.floor((binary.astype(np.int64) - 1) * LOG10_2).astype(np.int64)
    e = np.clip(e, -POW10_OFFSET + 9, POW10_OFFSET - 2)  # zeros (and out-of-range values) stay indexable
    e += mag >= POW10[e + 1 + POW10_OFFSET]
    mant = np.rint(mag / POW10[e - 8 + POW10_OFFSET]).astype(np.int64)
    low = nonzero & (mant < 10**8)  # the table's rounding just under a power of ten
    if low.any():
        e[low] -= 1
        mant[low] = np.rint(mag[low] / POW10[e[low] - 8 + POW10_OFFSET]).astype(np.int64)
    high = mant >= 10**9  # rounding carried into a tenth digit
    if high.any():
        mant[high] = np.rint(mant[high] / 10.0).astype(np.int64)
        e[high] += 1
    mant[~nonzero] = 0
    e[~nonzero] = 0
    return mant, e


def format_scientific(a: np.ndarray) -> np.ndarray:
    """float64 (m, d) -> uint8 (m, d*16): each value as ``[-]d.dddddddde±XX,``; a positive
    value's sign slot holds a NUL byte, which the caller strips.

    Finite values with magnitudes in [1e-64, 1e64) or zero only (the exponent table's range).
    """
    lead, tail, exps = _tables()
    m, d = a.shape
    mant, e = mantissa_exponent(np.abs(a))
    words = np.empty((m, d, 2), np.uint64)
    words[..., 0] = lead[mant // 1000]
    words[..., 0] |= np.where(np.signbit(a), _TABLES["minus"][0], np.uint64(0))
    np.bitwise_or(tail[mant % 1000], exps[e + 64], out=words[..., 1])
    return words.view(np.uint8).reshape(m, d * 16)
