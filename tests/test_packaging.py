"""pyproject.toml's extras and the install lines that name them (README, docs, Dockerfile, CI).

An extra that lists nothing installs nothing, so an install line naming it only looks as if
it did something; an install line naming an extra that does not exist is a warning pip prints
and a reader misses. The test extra takes Ray through the ray extra itself, so the range that
tests/test_ray.py runs against is the one users install.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
INSTALL_LINES = ("README.md", "docs", "Dockerfile", ".ci", "ci")
EXTRAS_IN_TEXT = re.compile(r"""\.\[([a-z0-9_,\- ]+)\]""")  # .[test] / .[test,ray] as pip reads them


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _texts() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in INSTALL_LINES:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            out[str(file.relative_to(ROOT))] = file.read_text(errors="replace")
    return out


def test_no_extra_is_empty() -> None:
    assert [name for name, reqs in _extras().items() if not reqs] == []


def test_test_extra_takes_ray_from_the_ray_extra() -> None:
    extras = _extras()
    test = [Requirement(r) for r in extras["test"]]
    own = [r for r in test if r.name == "framepick"]
    assert [sorted(r.extras) for r in own] == [["ray"]]
    # no second, independent pin of what the ray extra already asks for
    ray_names = {Requirement(r).name for r in extras["ray"]}
    assert not ray_names & {r.name for r in test}


def test_install_lines_name_existing_extras() -> None:
    extras = set(_extras())
    named: dict[str, set[str]] = {}
    for path, text in _texts().items():
        for match in EXTRAS_IN_TEXT.finditer(text):
            named.setdefault(path, set()).update(e.strip() for e in match.group(1).split(","))
    assert named, "no install line found: the pattern or the file list is stale"
    unknown = {path: sorted(names - extras) for path, names in named.items() if names - extras}
    assert unknown == {}
