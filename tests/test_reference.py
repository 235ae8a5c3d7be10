"""docs/reference.md is the product's reference: its keys table must be the declaration's."""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import re
import types
from pathlib import Path
from typing import Any

import pytest

import framepick
from framepick.config import KEYS, KEYS_BEGIN, KEYS_END, keys_markdown, with_keys_table
from framepick.report_keys import (
    REPORT_KEYS_BEGIN,
    REPORT_KEYS_END,
    SUMMARY,
    key_paths,
    stage_of,
    undescribed,
    unwritten,
    with_report_keys_table,
)

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


def _readme_python_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Python\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def readme_public_names(section: str) -> tuple[set[str], set[str]]:
    """What the README's "Python" section calls public: (``framepick.X...`` references, in its
    code too; bare names: the backticked identifiers of a sentence that says "public", and every
    backticked class name, CamelCase: the classes and errors it lists)."""
    dotted = set(re.findall(r"\bframepick(?:\.[A-Za-z_]\w*)+", section))
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    bare: set[str] = set()
    for sentence in re.split(r"\.\s+", prose):
        for span in re.findall(r"`([^`]+)`", sentence):
            if not span.isidentifier() or keyword.iskeyword(span):
                continue
            if "public" in sentence or span[0].isupper():
                bare.add(span)
    return dotted, bare


def _resolve(reference: str) -> None:
    """Import ``framepick.a.b.Name``: modules by import, the last name from its module, which must
    list it in ``__all__``."""
    parts = reference.split(".")
    module = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if not isinstance(module, types.ModuleType):
            return  # an attribute of a public class (framepick.Config.x): the class was checked
        if part in getattr(module, "__all__", ()):
            module = getattr(module, part)
            continue
        try:
            module = importlib.import_module(".".join(parts[: i + 1]))  # a submodule
        except ImportError:
            raise AssertionError(
                f"the README's Python section names {reference}, but {module.__name__} does not export {part}"
            ) from None


def test_readme_public_names_are_importable_from_framepick() -> None:
    dotted, bare = readme_public_names(_readme_python_section())
    assert {"framepick.run", "framepick.load_config"} <= dotted and {"scan_input", "select", "ConfigError"} <= bare
    for reference in sorted(dotted):
        _resolve(reference)
    missing = sorted(name for name in bare if name not in framepick.__all__ or not hasattr(framepick, name))
    assert not missing, f"the README's Python section calls these public, but framepick does not export them: {missing}"


def test_the_code_cites_only_documents_the_repository_has() -> None:
    """Docstrings point at docs/ pages that exist, never at a specification file the repository lacks."""
    for path in sorted((ROOT / "src" / "framepick").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        cites_spec = re.search(r"\bSPEC\b", text) is not None
        assert not cites_spec, f"{path.relative_to(ROOT)} cites SPEC, which is not in the repository"
        for page in re.findall(r"\bdocs/[\w-]+\.md\b", text):
            assert (ROOT / page).is_file(), f"{path.relative_to(ROOT)} cites {page}, which does not exist"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(report.json, RunSummary's JSON) of the small run scripts/update_reference.py makes the table from."""
    spec = importlib.util.spec_from_file_location("update_reference", ROOT / "scripts" / "update_reference.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script.sample_report(tmp_path_factory.mktemp("reference"))


def test_every_report_json_key_is_described(sample_run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    report, _ = sample_run
    assert not undescribed(report), "describe these report.json keys in src/framepick/report_keys.py"
    assert not unwritten(report), (
        "src/framepick/report_keys.py describes keys the sample run of scripts/update_reference.py does not write"
    )


def test_report_json_is_the_summary_plus_the_keys_later_stages_add(
    sample_run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    report, summary = sample_run
    assert key_paths(summary) == [path for path in key_paths(report) if stage_of(path) == SUMMARY]
    assert {stage_of(path) for path in key_paths(report)} == {SUMMARY, "report stage", "write stage"}


def test_report_json_table_matches_a_run(sample_run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert text.count(REPORT_KEYS_BEGIN) == 1 and text.count(REPORT_KEYS_END) == 1
    assert with_report_keys_table(text, sample_run[0]) == text, (
        "docs/reference.md's report.json table is stale: run python scripts/update_reference.py"
    )
