"""docs/reference.md's table of ``report.json``'s keys, made from the sections' declarations.

Each key is declared once, in :mod:`framepick.results`: a field of the section of the stage
that writes it, described in its metadata (:func:`~framepick.results.doc`), as config.py's
fields declare the configuration keys. :func:`report_keys_markdown` renders them
(``scripts/update_reference.py`` writes the table); :func:`undescribed` and
:func:`unwritten` hold a run's ``report.json`` against them, which ``tests/test_reference.py``
does with a run that writes every key.

Keys are written as paths: ``counts.frames``, and ``[]`` for the entries of a list
(``sources[].name``). A key is described member by member where its declaration describes
its members, and as a whole where it describes none (maps whose keys are names, such as
``corrupt``; big objects, such as ``page.thumbnails``): :func:`key_paths` walks a report.json
as deep as the declarations go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .results import DeclaredKey, declared_keys

__all__ = [
    "REPORT_KEYS",
    "REPORT_KEYS_BEGIN",
    "REPORT_KEYS_END",
    "key_paths",
    "report_keys_markdown",
    "undescribed",
    "unwritten",
    "with_report_keys_table",
]

REPORT_KEYS: dict[str, DeclaredKey] = {key.path: key for key in declared_keys()}
"""Every declared key of report.json by its path, in report.json's order."""

REPORT_KEYS_BEGIN = "<!-- report-keys:begin -->"
REPORT_KEYS_END = "<!-- report-keys:end -->"


def _described_below(prefix: str) -> bool:
    return any(key.startswith(prefix) for key in REPORT_KEYS)


def key_paths(report: Mapping[str, Any]) -> list[str]:
    """The keys of a report.json dictionary, as paths in its order, as deep as the declarations go."""
    found: dict[str, None] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = prefix + key
            found[path] = None
            if isinstance(value, Mapping) and _described_below(path + "."):
                walk(value, path + ".")
            elif isinstance(value, list) and _described_below(path + "[]."):
                for item in value:
                    if isinstance(item, Mapping):
                        walk(item, path + "[].")

    walk(report, "")
    return list(found)


def undescribed(report: Mapping[str, Any]) -> list[str]:
    """The keys of ``report`` that no section declares with a description."""
    return [path for path in key_paths(report) if path not in REPORT_KEYS or not REPORT_KEYS[path].what.strip()]


def unwritten(report: Mapping[str, Any]) -> list[str]:
    """The declared keys ``report`` does not have (keys only a failure writes aside)."""
    paths = set(key_paths(report))
    return [path for path, key in REPORT_KEYS.items() if path not in paths and not key.rare]


def report_keys_markdown() -> str:
    """docs/reference.md's report.json table: every declared key, the stage that writes it, what it means."""
    lines = ["| key | from | what |", "| --- | --- | --- |"]
    for key in REPORT_KEYS.values():
        what = key.what.replace("|", "\\|")
        lines.append(f"| `{key.path}` | {key.stage} | {what} |")
    return "\n".join(lines) + "\n"


def with_report_keys_table(text: str) -> str:
    """``text`` (a Markdown page) with the part between the report-keys markers replaced by the table."""
    begin, end = text.find(REPORT_KEYS_BEGIN), text.find(REPORT_KEYS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no {REPORT_KEYS_BEGIN} ... {REPORT_KEYS_END} block")
    return text[: begin + len(REPORT_KEYS_BEGIN)] + "\n" + report_keys_markdown() + text[end:]
