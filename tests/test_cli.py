from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from framepick.cli import main


def test_config_lists_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for key in ("input_dir", "selected_sequence_length", "stopping_condition.n_samples", "seed", "model.input_size"):
        assert key in out


@pytest.mark.parametrize(
    ("words", "fragment"),
    [
        (
            ["run", "input_dir=a", "output_dir=b", "stopping_condition.n_samples=25", "selected_sequence_length=10"],
            "nearest valid values: 20 or 30",
        ),
        (
            ["run", "input_dir=a", "output_dir=b", "metod=random", "stopping_condition.n_samples=1"],
            "did you mean 'method'",
        ),
        (["run", "input_dir=a", "output_dir=b"], "no stopping condition"),
        (["run", "oops"], "expected key=value"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_configuration_errors_exit_2_with_one_line(
    words: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the relative input_dir=a and output_dir=b resolve in tmp_path
    assert main(words) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # a configuration error writes nothing, not even output_dir


def test_runtime_failure_exit_1(scenes_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            f"input_dir={scenes_input}",
            f"output_dir={tmp_path / 'o'}",
            "model.input_size=64",
            "selected_sequence_length=100",
            "stopping_condition.n_samples=100",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "framepick: error: no candidate sequence" in err and "Traceback" not in err


def test_run_from_yaml_file_with_word_override(scenes_input: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"input_dir: {scenes_input}\noutput_dir: {tmp_path / 'o'}\nselected_sequence_length: 10\n"
        "stopping_condition:\n  n_samples: 50\nmodel:\n  input_size: 64\n"
    )
    assert main(["run", "--config", str(cfg), "stopping_condition.n_samples=20"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["counts"]["selected_frames"] == 20


def test_console_entry_point_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "framepick.cli", "run", "input_dir=a", "output_dir=b"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("framepick: configuration error:")
    assert list(tmp_path.iterdir()) == []
