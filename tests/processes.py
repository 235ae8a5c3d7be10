"""Runs of the framepick CLI in a child process, made to pause (tests/killable.py), for the
tests that kill or interrupt them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import framepick

_HERE = Path(__file__).parent


def start_killable(mode: str, marker: Path, *args: str) -> subprocess.Popen[str]:
    """``framepick run ARGS`` under killable.py's ``mode`` (embed, train, write), with this
    checkout's framepick, stdout and stderr piped."""
    src = str(Path(framepick.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(_HERE)])}
    command = [sys.executable, str(_HERE / "killable.py"), mode, str(marker), "run", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until ``condition()``; an AssertionError if the run ends first (with its stderr) or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"run ended early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.02)
