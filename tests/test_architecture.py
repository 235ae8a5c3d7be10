"""The shape of the package: import layers without cycles, and a light ``import framepick``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_and_no_cycles() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]): lower layers never import upper ones."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


def test_import_framepick_loads_no_heavy_library() -> None:
    """``import framepick`` (and so ``framepick --version`` / ``framepick config``) pays for no engine."""
    heavy = ("torch", "onnxruntime", "onnx", "openvino", "matplotlib", "av")
    code = (
        "import sys, framepick, framepick.cli, framepick.report; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.strip() == ""


def test_version_and_config_commands_load_no_engine() -> None:
    code = (
        "import sys, contextlib, io; from framepick.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['config']) == 0\n"
        "print(','.join(m for m in ('torch', 'onnxruntime', 'matplotlib') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.strip() == ""
