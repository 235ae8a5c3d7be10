"""The decimal text of the CSV outputs: the compiled rows against the NumPy formatter.

embeddings.csv is written by a compiled kernel (framepick._decimal_jit), metadata.csv and the
reference by the vectorised NumPy formatter (framepick._decimal). Both must give the same
bytes, every float32 must read back bit for bit, and the digits must be Python's correctly
rounded ones or one unit of the ninth digit away.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from framepick._decimal import format_scientific, mantissa_exponent
from framepick.write import _csv_field, format_floats, write_embeddings_csv


def _edge_values() -> np.ndarray:
    """Zeros, subnormals, the largest float32, and both neighbours of every power of ten."""
    f32 = np.float32
    powers = np.array([10.0**e for e in range(-45, 39)], np.float64).astype(f32)
    powers = powers[np.isfinite(powers) & (powers > 0)]
    below = (9.9999999 * powers.astype(np.float64))[powers < 3e37].astype(f32)  # rounds up into the next decade
    near = np.concatenate([powers, np.nextafter(powers, f32(0)), np.nextafter(powers, f32(np.inf)), below])
    special = np.array(
        [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, 3.4028235e38, -3.4028235e38, 0.5, 999.99994], f32
    )
    values = np.concatenate([special, near, -near])
    return values[np.isfinite(values)]


def _random_bits(n: int, seed: int) -> np.ndarray:
    """Finite float32 from uniformly random bit patterns: every exponent, both signs."""
    x = np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return x[np.isfinite(x)]


def _reference_csv(names: list[str], x: np.ndarray) -> bytes:
    """embeddings.csv as the NumPy formatter writes it, a row at a time (no compiled code)."""
    d = x.shape[1]
    lines = [",".join(["filenames", *(f"embedding_{i}" for i in range(d)), "labels"]).encode()]
    body = format_floats(x) if d else np.zeros((len(x), 0), np.uint8)
    for name, row in zip(names, body):
        lines.append(_csv_field(name).encode() + b"," + row.tobytes().replace(b"\0", b"") + b"0")
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_compiled_rows_are_the_numpy_formatters_bytes(tmp_path: Path, block: int) -> None:
    values = np.concatenate([_edge_values(), _random_bits(60_000, seed=3)])
    x = values[: len(values) // 24 * 24].reshape(-1, 24)
    names = [f"v/{i:06d}.png" for i in range(len(x))]
    write_embeddings_csv(tmp_path / "e.csv", names, x, block=block)
    assert (tmp_path / "e.csv").read_bytes() == _reference_csv(names, x)


def test_names_needing_quotes_and_non_ascii_names_keep_their_rows(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    names = ["a,b.png", 'say "hi".png', "line\nbreak.png", "straße/ü.png", "日本.png", "plain.png"]
    write_embeddings_csv(tmp_path / "e.csv", names, x, block=4)
    assert (tmp_path / "e.csv").read_bytes() == _reference_csv(names, x)
    rows = list(csv.reader(open(tmp_path / "e.csv", newline="", encoding="utf-8")))
    assert [r[0] for r in rows[1:]] == names


def test_rows_argument_writes_the_gathered_rows_and_zero_dimensions_write_names_only(tmp_path: Path) -> None:
    x = np.arange(40, dtype=np.float32).reshape(10, 4) - 20
    order = np.array([9, 0, 3, 3, 5])
    names = [f"n{i}" for i in range(5)]
    write_embeddings_csv(tmp_path / "e.csv", names, x, rows=order, block=2)
    assert (tmp_path / "e.csv").read_bytes() == _reference_csv(names, x[order])
    write_embeddings_csv(tmp_path / "z.csv", names, np.zeros((5, 0), np.float32))
    assert (tmp_path / "z.csv").read_bytes() == b"filenames,labels\n" + b"".join(b"%s,0\n" % n.encode() for n in names)


def test_a_non_finite_embedding_is_refused_not_written_as_digits(tmp_path: Path) -> None:
    x = np.ones((3, 2), np.float32)
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        write_embeddings_csv(tmp_path / "e.csv", ["a", "b", "c"], x)


def test_every_float32_reads_back_bit_for_bit_and_the_digits_are_correctly_rounded_or_one_off() -> None:
    x = np.concatenate([_edge_values(), _random_bits(200_000, seed=5)])
    text = [b.tobytes().replace(b"\0", b"")[:-1].decode() for b in format_scientific(x[:, None].astype(np.float64))]
    back = np.array(text, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(back.view(np.uint32), x.view(np.uint32))
    python = [f"{float(v):.8e}" for v in x]
    differ = [i for i, (a, b) in enumerate(zip(text, python)) if a != b]
    assert len(differ) < len(x) * 1e-3  # only near-halfway cases
    for i in differ:  # one unit of the ninth significant digit
        assert abs(Decimal(text[i]) - Decimal(python[i])) <= Decimal(10) ** (int(python[i].split("e")[1]) - 8)


def test_mantissa_and_exponent_at_the_edges_of_a_decade() -> None:
    mag = np.array([1.0, 9.999999994, 9.999999996, 9.999999999, 1e-45, 0.0, 123456789.0, 3.4028234663852886e38])
    mant, e = mantissa_exponent(mag)
    assert mant.tolist() == [100000000, 999999999, 100000000, 100000000, 100000000, 0, 123456789, 340282347]
    assert e.tolist() == [0, 0, 1, 1, -45, 0, 8, 38]
