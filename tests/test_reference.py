"""docs/reference.md is the product's reference: its keys table must be the declaration's."""

from __future__ import annotations

from pathlib import Path

from framepick.config import KEYS, KEYS_BEGIN, KEYS_END, keys_markdown, with_keys_table

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"


def test_keys_table_matches_the_declaration() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert text.count(KEYS_BEGIN) == 1 and text.count(KEYS_END) == 1
    assert with_keys_table(text) == text, (
        "docs/reference.md's keys table differs from src/framepick/config.py: run python scripts/update_reference.py"
    )


def test_keys_table_lists_every_key_once() -> None:
    rows = [line for line in keys_markdown().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [k.name for k in KEYS]


def test_readme_points_to_the_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/reference.md" in readme and "SPEC.md" not in readme
