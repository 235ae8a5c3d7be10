"""docs/reference.md is the product's reference: its keys table must be the declaration's."""

from __future__ import annotations

import dataclasses
import importlib
import json
import keyword
import math
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import framepick
from framepick import results
from framepick.config import KEYS, KEYS_BEGIN, KEYS_END, keys_markdown, with_keys_table
from framepick.report_keys import (
    REPORT_KEYS,
    REPORT_KEYS_BEGIN,
    REPORT_KEYS_END,
    key_paths,
    report_keys_markdown,
    undescribed,
    unwritten,
    with_report_keys_table,
)
from framepick.results import RunReport, RunSummary
from sample_run import sample_report

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
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], framepick.RunResult, Path]:
    """(report.json, the run, its folder) of a small run with every option that adds a key (tests/sample_run.py)."""
    folder = tmp_path_factory.mktemp("reference")
    report, result = sample_report(folder)
    return report, result, folder


@pytest.fixture(scope="module")
def shots_run(
    tmp_path_factory: pytest.TempPathFactory, sample_run: tuple[dict[str, Any], framepick.RunResult, Path]
) -> tuple[dict[str, Any], Path, Path]:
    """(report.json, its folder, the input's folder) of the sample run with ``sequence_boundaries=shots``,
    on the sample run's input files: the keys only it writes."""
    folder = tmp_path_factory.mktemp("reference-shots")
    return sample_report(folder, sample_run[2], sequence_boundaries="shots")[0], folder, sample_run[2]


def test_every_section_field_is_described() -> None:
    """Every key a section declares has a description: the table is made of them."""
    assert not [key.path for key in results.declared_keys() if not key.what.strip()]
    stages = {"run", "discover", "train", "checks", "sequences", "select", "report", "write"}
    assert {key.stage for key in results.declared_keys()} == stages


def test_a_field_without_a_description_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class Undescribed:
        frames: int = dataclasses.field(metadata=results.about("its frames"))
        new_key: int = 0  # declared, not described

    annotations = dict(results.DiscoverySection.__annotations__, sources="tuple[Undescribed, ...]")
    monkeypatch.setattr(results.DiscoverySection, "__annotations__", annotations)
    monkeypatch.setattr(results, "Undescribed", Undescribed, raising=False)
    assert [key.path for key in results.declared_keys() if not key.what.strip()] == ["sources[].new_key"]


def test_every_report_json_key_is_described(
    sample_run: tuple[dict[str, Any], framepick.RunResult, Path], shots_run: tuple[dict[str, Any], Path, Path]
) -> None:
    report, with_shots = sample_run[0], shots_run[0]
    assert not undescribed(report), "declare these report.json keys, with a description, in src/framepick/results.py"
    assert not undescribed(with_shots), (
        "declare these report.json keys, with a description, in src/framepick/results.py"
    )
    assert not set(unwritten(report)) & set(unwritten(with_shots)), (
        "src/framepick/results.py declares keys the sample runs of tests/sample_run.py do not write"
    )
    assert undescribed(dict(report, page=dict(report["page"], new=1))) == ["page.new"]
    assert undescribed(dict(report, brand_new=1)) == ["brand_new"]


def test_report_json_is_in_the_declared_order(sample_run: tuple[dict[str, Any], framepick.RunResult, Path]) -> None:
    """report.json holds its keys in the order the sections declare them, each later stage's
    keys where its section says (metrics.coverage, each source's counts, page, clips, exports)."""
    report, result, _ = sample_run
    written = key_paths(report)
    assert written == [path for path in REPORT_KEYS if path in set(written)]
    assert result.report == report  # what the run holds is what it wrote


def test_report_json_reads_back_into_its_sections(
    sample_run: tuple[dict[str, Any], framepick.RunResult, Path],
) -> None:
    report, result, _ = sample_run
    record = RunReport.from_json(report)
    assert record.to_json() == report
    assert list(record.summary.to_json()) == [k for k in report if k not in ("page", "clips", "exports")]
    assert RunSummary.from_json(report) == result.summary
    assert [c.rank for c in record.written.clips or ()] == list(range(1, len(report["clips"]) + 1))
    assert record.written == result.record.written


# report.json of the sample run as the code before the sections wrote it (tmp folder as <tmp>);
# numbers that are times, or hold them, are left out of the comparison
_BEFORE = Path(__file__).parent / "data" / "sample_report_json_before_sections.json"
# times, and the training's numbers (its loss and weights differ from one machine to another; its keys are compared)
_TIMED = ("timings_sec.", "page.build_sec", "page.html_bytes", "training.")


def _differences(want: Any, got: Any, path: str = "") -> Iterator[str]:
    if path.startswith(_TIMED):
        return
    if isinstance(want, dict) and isinstance(got, dict):
        if list(want) != list(got):
            yield f"{path or 'report.json'}: keys {list(got)}, before {list(want)}"
        for key in want.keys() & got.keys():
            yield from _differences(want[key], got[key], f"{path}.{key}" if path else key)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got)):
            yield from _differences(w, g, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        if not math.isclose(want, got, rel_tol=1e-6, abs_tol=1e-9):
            yield f"{path}: {got}, before {want}"
    elif want != got or type(want) is not type(got):
        yield f"{path}: {got!r}, before {want!r}"


def test_report_json_is_what_it_was_before_the_sections(
    sample_run: tuple[dict[str, Any], framepick.RunResult, Path],
) -> None:
    """Serialised once from the stages' sections, report.json is the same, key for key and in the
    same order, as the run wrote it when later stages added their keys to the summary's dict."""
    report, _, folder = sample_run
    got = json.loads(json.dumps(report).replace(str(folder), "<tmp>"))
    want = json.loads(_BEFORE.read_text(encoding="utf-8"))
    assert not list(_differences(want, got))


def test_shots_on_the_sample_add_their_keys_and_change_nothing_else(
    shots_run: tuple[dict[str, Any], Path, Path],
) -> None:
    """The sample video's one cut (frame 6) falls on a sequence border of length 2: with
    sequence_boundaries=shots the candidates, the selection and every other key are the fixed
    run's, and the shot keys are added (the cut found, each sequence's shot)."""
    report, folder, inputs = shots_run
    got = json.loads(json.dumps(report).replace(str(folder), "<tmp>").replace(str(inputs), "<tmp>"))
    assert got.pop("shots")["cuts_by_source"] == {"a.mp4": [6]}
    shots = [entry.pop("shot") for entry in got["sequences"]]
    assert shots == [int(entry["frame_indices"][0] >= 6) if entry["video_name"] == "a.mp4" else 0
                     for entry in got["sequences"]]  # fmt: skip
    assert [clip.pop("shot") for clip in got["clips"]] == shots  # each clip carries its sequence's shot
    assert got["config"].pop("sequence_boundaries") == "shots"
    want = json.loads(_BEFORE.read_text(encoding="utf-8"))
    want["config"].pop("sequence_boundaries")
    assert not list(_differences(want, got))


def test_report_json_table_matches_the_declarations() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert text.count(REPORT_KEYS_BEGIN) == 1 and text.count(REPORT_KEYS_END) == 1
    assert with_report_keys_table(text) == text, (
        "docs/reference.md's report.json table is stale: run python scripts/update_reference.py"
    )
    rows = [line for line in report_keys_markdown().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(REPORT_KEYS)
