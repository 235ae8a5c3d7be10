"""pyproject.toml's extras and the install lines that name them (README, docs, Dockerfile, CI).

An extra that lists nothing installs nothing, so an install line naming it only looks as if
it did something; an install line naming an extra that does not exist is a warning pip prints
and a reader misses. The test extra takes Ray and lightly through the ray and train extras
themselves, so the ranges that tests/test_ray.py and tests/test_training.py run against are the
ones users install.
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


def test_test_extra_takes_ray_and_lightly_from_their_extras() -> None:
    extras = _extras()
    test = [Requirement(r) for r in extras["test"]]
    own = [r for r in test if r.name == "framepick"]
    assert [sorted(r.extras) for r in own] == [["ray", "train"]]
    # no second, independent pin of what the ray and train extras already ask for
    names = {Requirement(r).name for extra in ("ray", "train") for r in extras[extra]}
    assert not names & {r.name for r in test}


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run's install-and-test line is the README's, word for word (the test pins included)."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^python3 -m pip install -c (\S+) -e \"\.\[test\]\" && python3 -m pytest$", readme, re.M)
    assert command is not None, "the README's test command is gone"
    assert command.group(1) == "ci/constraints-test.txt"
    assert command.group(0) in (ROOT / ".ci" / "run").read_text().splitlines()
    assert (ROOT / command.group(1)).is_file()


def test_install_lines_name_existing_extras() -> None:
    extras = set(_extras())
    named: dict[str, set[str]] = {}
    for path, text in _texts().items():
        for match in EXTRAS_IN_TEXT.finditer(text):
            named.setdefault(path, set()).update(e.strip() for e in match.group(1).split(","))
    assert named, "no install line found: the pattern or the file list is stale"
    unknown = {path: sorted(names - extras) for path, names in named.items() if names - extras}
    assert unknown == {}
