"""The Docker image's files, tested without Docker: no daemon or registry is reachable here.

What would make ``docker build`` or ``docker run`` fail, or the image differ from what the
README promises, is checked on the files themselves, parsed rather than matched as text: the
Dockerfile's instructions and build arguments, the files each step needs (copied before the
step), the versions it installs against pyproject.toml and ci/constraints.txt, the Python it
runs at build time against the package, the user it runs as, and the documented ``docker``
lines through the entrypoint into framepick's configuration. The entrypoint is run as the
image runs it (``sh``), with a stub ``framepick`` that prints what it was given, and once with
the real one on small media.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import posixpath
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from framepick.config import load_config, parse_overrides, validate_key

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, ``\\`` continuations joined
    (Docker's rules for a Dockerfile without a parser directive)."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction is dropped
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        word, _, args = (pending + line).strip().partition(" ")
        out.append((word.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    out = _instructions(DOCKERFILE.read_text(encoding="utf-8"))
    assert [word for word, _ in out].count("FROM") == 1, "these checks read a single-stage build"
    return out


def _all(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [args for word, args in instructions if word == name]


def _runs(instructions: list[tuple[str, str]]) -> list[tuple[int, list[list[str]]]]:
    """(instruction index, its shell commands split at ``&&``/``;``/``||`` into words) per RUN."""
    out = []
    for i, (word, args) in enumerate(instructions):
        if word == "RUN":
            commands: list[list[str]] = [[]]
            for w in shlex.split(args):
                if w in ("&&", ";", "||"):
                    commands.append([])
                else:
                    commands[-1].append(w)
            out.append((i, [c for c in commands if c]))
    return out


def _env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _all(instructions, "ENV"):
        words = shlex.split(args)
        if "=" not in words[0]:  # the old form: ENV KEY VALUE
            env[words[0]] = " ".join(words[1:])
        else:
            env.update(w.split("=", 1) for w in words)  # type: ignore[arg-type]
    return env


def _container_env(monkeypatch: pytest.MonkeyPatch, instructions: list[tuple[str, str]]) -> dict[str, str]:
    """This process's environment as the container's: the Dockerfile's ENV, none of the test
    session's cache settings, and HOME=/ (what ``docker run --user UID`` gives an unknown user)."""
    for key in ("FRAMEPICK_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", "/")
    env = _env(instructions)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _arg_name(args: str) -> str:
    return args.split("=", 1)[0].strip()


def _copies(instructions: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """(instruction index, path in the build context, absolute path in the image) per COPY
    source, as Docker places it: a folder's contents go into the destination, files into a
    destination ending in ``/`` (or given several sources) keep their names."""
    workdir, out = "/", []
    for i, (word, args) in enumerate(instructions):
        if word == "WORKDIR":
            workdir = posixpath.join(workdir, args)
        elif word == "COPY":
            *sources, dest = [w for w in shlex.split(args) if not w.startswith("--")]
            target = posixpath.normpath(posixpath.join(workdir, dest))
            into = dest.endswith("/") or len(sources) > 1
            for source in sources:
                placed = (
                    posixpath.join(target, posixpath.basename(source)) if into and (ROOT / source).is_file() else target
                )
                out.append((i, posixpath.normpath(source), placed))
    return out


def _workdir_at(instructions: list[tuple[str, str]], index: int) -> str:
    workdir = "/"
    for word, args in instructions[:index]:
        if word == "WORKDIR":
            workdir = posixpath.join(workdir, args)
    return workdir


def _copied_before(instructions: list[tuple[str, str]], index: int, path: str) -> bool:
    """Whether ``path`` of the build context lies at the same relative path under the working
    directory of instruction ``index``, copied there by an earlier COPY."""
    want = posixpath.normpath(posixpath.join(_workdir_at(instructions, index), path))
    for i, source, placed in _copies(instructions):
        if i >= index:
            continue
        if want == placed and source == posixpath.normpath(path):
            return True
        if want.startswith(placed.rstrip("/") + "/") and (ROOT / source).is_dir():
            inside = posixpath.normpath(posixpath.join(source, want[len(placed.rstrip("/")) + 1 :]))
            if inside == posixpath.normpath(path):
                return True
    return False


def test_dockerfile_parses_into_known_instructions(dockerfile: list[tuple[str, str]]) -> None:
    assert dockerfile and all(word in INSTRUCTIONS for word, _ in dockerfile)
    words = [word for word, _ in dockerfile]
    assert all(w == "ARG" for w in words[: words.index("FROM")]), "only ARG may come before FROM"


def test_build_arguments_are_declared_where_they_are_used(dockerfile: list[tuple[str, str]]) -> None:
    """An ARG declared before FROM is visible to FROM only; the build steps see the ARGs and
    ENVs of their stage. A ``${NAME}`` outside that is empty in the build, silently."""
    before_from: set[str] = set()
    stage: set[str] | None = None
    used = 0
    for word, args in dockerfile:
        refs = set(re.findall(r"\$\{(\w+)", args))
        used += len(refs)
        if word == "FROM":
            assert refs <= before_from, f"FROM uses {refs - before_from}, not declared before it"
            stage = set()
        elif stage is None:
            before_from.add(_arg_name(args))
        else:
            assert refs <= stage, f"{word} {args}: {sorted(refs - stage)} not declared in the stage"
            if word == "ARG":
                stage.add(_arg_name(args))
            elif word == "ENV":
                stage |= set(_env([(word, args)]))
    assert used, "the Dockerfile uses no build argument: this test checks nothing"


def test_every_copied_file_exists(dockerfile: list[tuple[str, str]]) -> None:
    copies = _copies(dockerfile)
    assert copies
    for _, source, _ in copies:
        assert not Path(source).is_absolute() and ".." not in Path(source).parts  # inside the context
        assert (ROOT / source).exists(), source


def test_every_file_a_build_step_reads_is_copied_before_it(dockerfile: list[tuple[str, str]]) -> None:
    """A file of the repository named in a RUN, and what ``pip install .`` reads (pyproject.toml,
    its readme, its package folders), must be in the image, where the step runs, by then."""
    setuptools = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    for_pip = ["pyproject.toml", PYPROJECT["project"]["readme"], *setuptools["where"]]
    seen: set[str] = set()
    for index, commands in _runs(dockerfile):
        for words in commands:
            named = {t for t in re.findall(r"[\w.][\w./-]*", " ".join(words)) if (ROOT / t).is_file()}
            if words[:2] == ["pip", "install"] and "." in words[2:]:
                named |= set(for_pip)
                seen.add("pip install .")
            for path in named:
                assert _copied_before(dockerfile, index, path), f"RUN {' '.join(words)} reads {path}, not copied yet"
            seen |= named
    assert "pip install ." in seen and len(seen) > len(for_pip), seen


def test_base_image_python_meets_requires_python(dockerfile: list[tuple[str, str]]) -> None:
    defaults = dict(a.split("=", 1) for a in _all(dockerfile, "ARG") if "=" in a)
    (image,) = _all(dockerfile, "FROM")
    image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image)
    match = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?(?:-\S+)?", image)
    assert match, f"not an official Python image: {image}"
    assert Version(match.group(1)) in SpecifierSet(PYPROJECT["project"]["requires-python"]), image


def _pyproject_ranges() -> dict[str, SpecifierSet]:
    project = PYPROJECT["project"]
    lines = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    ranges: dict[str, SpecifierSet] = {}
    for line in lines:
        req = Requirement(line)
        ranges[canonicalize_name(req.name)] = ranges.get(canonicalize_name(req.name), SpecifierSet()) & req.specifier
    return ranges


def test_installed_versions_meet_pyproject(dockerfile: list[tuple[str, str]]) -> None:
    """PyTorch first, from its own index, as the line ci/constraints.txt pins (the grep the RUN
    runs, run here); then the package under the same constraints. Every pin must lie in
    pyproject.toml's range, or pip cannot resolve the install."""
    ranges = _pyproject_ranges()
    constraints = ROOT / "ci" / "constraints.txt"
    pins = [Requirement(li) for li in constraints.read_text().splitlines() if li.strip() and not li.startswith("#")]
    assert pins
    for pin in (p for p in pins if canonicalize_name(p.name) in ranges):  # others only pin what pip pulls in
        (version,) = (Version(s.version) for s in pin.specifier if s.operator == "==")
        assert version in ranges[canonicalize_name(pin.name)], f"{pin} is outside pyproject.toml's range"
    steps = {}
    for index, commands in _runs(dockerfile):
        for words in commands:
            if words[:2] == ["pip", "install"] and "--index-url" in words:
                (substitution,) = (w for w in words if w.startswith("$("))
                out = subprocess.run(["sh", "-c", substitution[2:-1]], cwd=ROOT, capture_output=True, text=True)
                (line,) = out.stdout.splitlines() or [f"(nothing: {out.stderr.strip()})"]
                steps["torch"] = index
                assert Requirement(line) in pins and canonicalize_name(Requirement(line).name) == "torch", line
            elif words[:2] == ["pip", "install"] and "." in words:
                steps["package"] = index
                assert words[words.index("-c") + 1] == "ci/constraints.txt"
    assert set(steps) == {"torch", "package"}, f"found only {steps}"
    assert steps["torch"] < steps["package"], "PyPI's CUDA torch would get in first"


def test_build_time_python_matches_the_package(
    dockerfile: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``python -c`` steps import names the package has, and the model they export is the
    one a run in the container loads: the default input size, in the folder the image's cache
    (ENV) gives."""
    from framepick.cache import resolve_cache_dir
    from framepick.embed import OnnxEmbedder
    from framepick.models.resolved import ModelSpec

    snippets = [words[2] for _, commands in _runs(dockerfile) for words in commands if words[:2] == ["python", "-c"]]
    assert snippets
    exports = []
    for code in snippets:
        tree = ast.parse(code)
        names = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"from {node.module} import {alias.name}"
                    names[alias.asname or alias.name] = getattr(module, alias.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
                assert hasattr(names[node.value.id], node.attr), f"{node.value.id}.{node.attr}"
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "OnnxEmbedder.export":
                args = [eval(compile(ast.Expression(a), "<Dockerfile>", "eval"), {"Path": Path}) for a in node.args]
                inspect.signature(OnnxEmbedder.export).bind(*args)
                exports.append(args)
    _container_env(monkeypatch, dockerfile)
    config = load_config(overrides={"input_dir": "/input", "output_dir": "/output", "stopping_condition.n_samples": 1})
    spec = ModelSpec.from_config(config.model, resolve_cache_dir(config.cache_dir))  # as pipeline._resolve does
    assert exports == [[spec.input_size, spec.export_dir]]


def test_runs_as_a_user_the_build_created(dockerfile: list[tuple[str, str]]) -> None:
    users = _all(dockerfile, "USER")
    assert users, "the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    created = [words[-1] for _, commands in _runs(dockerfile) for words in commands if words[0] == "useradd"]
    assert user in created, f"USER {user}: no RUN creates that user"


def _chmods(instructions: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(mode, paths) of every chmod the RUN steps run."""
    out = []
    for _, commands in _runs(instructions):
        for words in commands:
            if words[0] == "chmod":
                mode, *paths = [w for w in words[1:] if not w.startswith("-")]
                out.append((mode, paths))
    return out


def _for_everyone(mode: str, permission: str) -> bool:
    """Whether a chmod mode (octal, or symbolic such as a+rwX) gives ``permission`` (r, w or x)
    to every user."""
    if mode.isdigit():
        return int(mode[-1]) & {"r": 4, "w": 2, "x": 1}[permission] != 0
    return any(re.fullmatch(r"[ao]*\+[rwxX]*", part) and permission in part.split("+")[1] for part in mode.split(","))


def test_cache_and_matplotlib_folders_are_writable_by_any_user(
    dockerfile: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``docker run --user "$(id -u):$(id -g)"`` runs as a user the image does not know: the
    folders framepick (its cache, where the ENV points it) and matplotlib write to must be
    writable by anyone."""
    from framepick.cache import default_cache_dir

    env = _container_env(monkeypatch, dockerfile)
    cache = default_cache_dir().as_posix()  # where framepick keeps its cache in the container
    assert any(cache in paths and _for_everyone(mode, "w") for mode, paths in _chmods(dockerfile)), cache
    assert PurePosixPath(env["MPLCONFIGDIR"]).is_relative_to("/tmp")


def test_entrypoint_is_the_copied_script_in_exec_form(dockerfile: list[tuple[str, str]]) -> None:
    (entry,) = _all(dockerfile, "ENTRYPOINT")
    target, *rest = json.loads(entry)  # exec form: signals reach framepick (shell form would not parse)
    assert rest == []
    assert [source for _, source, placed in _copies(dockerfile) if placed == target] == ["docker/entrypoint.sh"]
    # the image's user is not the file's owner: the last chmod, else the mode COPY keeps, must let anyone run it
    modes = [mode for mode, paths in _chmods(dockerfile) if target in paths]
    if modes:
        assert _for_everyone(modes[-1], "x"), f"chmod {modes[-1]} {target}"
    else:
        assert ENTRYPOINT.stat().st_mode & stat.S_IXOTH, f"{ENTRYPOINT} is copied without the x bit for others"


def test_image_without_arguments_shows_framepick_help(dockerfile: list[tuple[str, str]], stub_path: str) -> None:
    (cmd,) = _all(dockerfile, "CMD")
    assert _entry("sh", stub_path, *json.loads(cmd)).stdout.splitlines() == ["--help"]


# --- the documented docker lines ---------------------------------------------------------------

VALUE_OPTIONS = {
    "--user",
    "-u",
    "-v",
    "--volume",
    "--gpus",
    "-e",
    "--env",
    "--name",
    "-w",
    "--workdir",
    "-t",
    "--tag",
    "--build-arg",
    "-f",
    "--file",
}


def _docker_commands(text: str) -> list[list[str]]:
    """Every ``docker ...`` command in ``text`` (comment markers stripped, continuations joined), as words."""
    lines = [re.sub(r"^\s*#?\s*", "", line) for line in text.splitlines()]
    joined, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [shlex.split(line) for line in joined if line.startswith("docker ")]


def _options(words: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(option, value) pairs up to the first word that is not an option, and the words after."""
    pairs, i = [], 0
    while i < len(words) and words[i].startswith("-"):
        if words[i] in VALUE_OPTIONS:
            pairs.append((words[i], words[i + 1]))
            i += 2
        else:
            pairs.append((words[i], ""))
            i += 1
    return pairs, words[i:]


def _tagged(image: str) -> str:
    """An image name with its tag (Docker's default: latest)."""
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"


def _documented() -> list[tuple[str, list[str]]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Docker\n", 1)[1].split("\n## ", 1)[0]
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", section, re.DOTALL))
    return [("README.md", w) for w in _docker_commands(blocks)] + [
        ("Dockerfile", w) for w in _docker_commands(DOCKERFILE.read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize("source", ["README.md", "Dockerfile"])
def test_documented_docker_lines_work_with_this_image(
    source: str, dockerfile: list[tuple[str, str]], stub_path: str
) -> None:
    """``docker build``: the build arguments given are the Dockerfile's. ``docker run``: the image
    is one built above, the words after it go through the entrypoint to ``framepick run`` as a
    valid configuration, input_dir and output_dir are mounted (the output writable) and a named
    volume, if any, lies where the image keeps its cache."""
    commands = [words for where, words in _documented() if where == source]
    declared = {_arg_name(a) for a in _all(dockerfile, "ARG")}
    builds = [words[2:] for words in commands if words[:2] == ["docker", "build"]]
    runs = [words[2:] for words in commands if words[:2] == ["docker", "run"]]
    assert builds and runs, f"no docker build and run lines in {source}"
    tags = set()
    for words in builds:
        pairs, rest = _options(words)
        assert rest == ["."], "the build context is the repository"
        assert {v.split("=", 1)[0] for o, v in pairs if o == "--build-arg"} <= declared
        tags |= {_tagged(v) for o, v in pairs if o in ("-t", "--tag")}
    for words in runs:
        pairs, (image, *given) = _options(words)
        assert _tagged(image) in tags, image
        elided = "..." in given
        proc = _entry("sh", stub_path, *[w for w in given if w != "..."])
        command, *settings = proc.stdout.splitlines()
        assert command == "run"
        values = parse_overrides(settings)
        for key, value in values.items():
            validate_key(key, value)
        if not elided:
            load_config(overrides=settings)
        mounts = {v.split(":")[1]: v.split(":") for o, v in pairs if o in ("-v", "--volume")}
        assert values["input_dir"] in mounts
        assert values["output_dir"] in mounts and "ro" not in mounts[values["output_dir"]][2:]
        for host, target, *_ in mounts.values():
            if not host.startswith("/"):  # a named volume: the embedding cache
                assert target == _env(dockerfile)["FRAMEPICK_CACHE_DIR"]


# --- the entrypoint ----------------------------------------------------------------------------

SHELLS = [s for s in ("sh", "dash", "bash") if shutil.which(s)]


@pytest.fixture
def stub_path(tmp_path: Path) -> str:
    """A PATH whose ``framepick`` prints its arguments, one a line, and exits with $STUB_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "framepick"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\nexit "${STUB_EXIT:-0}"\n')
    stub.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def _entry(shell: str, path: str, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=path, STUB_EXIT=str(code))
    return subprocess.run([shell, str(ENTRYPOINT), *args], capture_output=True, text=True, env=env, timeout=60)


CASES = [
    (["input_dir=/input", "output_dir=/output"], ["run", "input_dir=/input", "output_dir=/output"]),
    (["--debug", "input_dir=/in"], ["run", "--debug", "input_dir=/in"]),
    (["--config", "/cfg/run.yaml"], ["run", "--config", "/cfg/run.yaml"]),
    (["--config", "/cfg/run.yaml", "dump_dataset=true"], ["run", "--config", "/cfg/run.yaml", "dump_dataset=true"]),
    (["--config=/cfg/run.yaml"], ["run", "--config=/cfg/run.yaml"]),
    (["run", "input_dir=/input"], ["run", "input_dir=/input"]),
    (["config"], ["config"]),
    (["report", "/output"], ["report", "/output"]),
    (["demo", "/output", "seed=3"], ["demo", "/output", "seed=3"]),
    (["--version"], ["--version"]),
    ([], ["--help"]),
    (["input_dir=/data/my videos", "output_dir=/out"], ["run", "input_dir=/data/my videos", "output_dir=/out"]),
    (["no-such-command-here"], ["no-such-command-here"]),  # framepick's own "invalid choice", exit 2
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("given", "passed"), CASES)
def test_entrypoint_maps_words_to_framepick(shell: str, stub_path: str, given: list[str], passed: list[str]) -> None:
    proc = _entry(shell, stub_path, *given)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == passed


def test_entrypoint_passes_exit_status_and_runs_other_programs(stub_path: str) -> None:
    assert _entry("sh", stub_path, "input_dir=/in", code=2).returncode == 2
    assert _entry("sh", stub_path, "config", code=130).returncode == 130
    proc = _entry("sh", stub_path, "echo", "inside the image")  # a program on PATH: for debugging
    assert proc.returncode == 0 and proc.stdout == "inside the image\n"


def test_entrypoint_is_posix_sh_and_executable() -> None:
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    assert os.access(ENTRYPOINT, os.X_OK)
    for shell in SHELLS:
        subprocess.run([shell, "-n", str(ENTRYPOINT)], check=True)
    if shutil.which("bash"):
        subprocess.run(["bash", "--posix", "-n", str(ENTRYPOINT)], check=True)


def test_entrypoint_runs_a_real_selection(scenes_input: Path, tmp_path: Path) -> None:
    """The README's line minus Docker: words in, framepick run, results out, input untouched."""
    before = sorted((p.relative_to(scenes_input), p.stat().st_mtime_ns) for p in scenes_input.rglob("*"))
    out = tmp_path / "output"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # this Python's framepick
    proc = subprocess.run(
        [
            "sh",
            str(ENTRYPOINT),
            f"input_dir={scenes_input}",
            f"output_dir={out}",
            "model.input_size=64",
            "selected_sequence_length=10",
            "stopping_condition.n_samples=20",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=path),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"framepick: results in {out}" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["selected_frames"] == 20
    assert sorted((p.relative_to(scenes_input), p.stat().st_mtime_ns) for p in scenes_input.rglob("*")) == before
