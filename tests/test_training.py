"""enable_training and checkpoint=: a short real training on tiny generated frames, its
determinism, reuse of what it wrote, the keys and the bad inputs (framepick.train).

The lightly package is part of the test extra (``framepick[train]``), so these tests run in CI;
they are not skipped when it is missing: a missing training dependency is a failure there.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import framepick
from framepick.config import load_config
from framepick.errors import ConfigError, DatapoolError, ModelError, TrainingError
from framepick.models.checkpoint import read_checkpoint, save_checkpoint
from media import frame_folder, scene_video
from processes import start_killable, wait_for

# Tiny training: 36 frames of 48 px, 8 per batch, 32 px crops, one epoch (4 steps).
TINY: dict[str, Any] = {
    "model.input_size": 64,
    "model.batch_size": 16,
    "model.engine": "onnx",  # fp32 everywhere: the reuse tests compare numbers across runs
    "cache_dir": None,
    "stopping_condition.n_samples": 4,
    "enable_training": True,
    "training_max_frames": 32,
    "lightly.loader.batch_size": 8,
    "lightly.trainer.max_epochs": 1,
    "lightly.collate.input_size": 32,
}


@pytest.fixture(scope="module")
def frames_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train-in")
    scene_video(root / "a.mp4", ["checker", "stripes", "noise"], 12, size=48)
    return root


def _run(input_dir: Path, out: Path, **settings: Any) -> framepick.RunResult:
    config = load_config(overrides={"input_dir": str(input_dir), "output_dir": str(out), **TINY, **settings})
    return framepick.run(config)


def _embeddings(out: Path) -> np.ndarray:
    with open(out / "data" / "embeddings.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    return np.array([[float(v) for v in row[1:-1]] for row in rows[1:]], np.float64)


@pytest.fixture(scope="module")
def trained(frames_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "out"
    _run(frames_input, out)
    return out


def test_a_short_training_writes_its_checkpoint_and_onnx_and_embeds_with_them(
    trained: Path, frames_input: Path, tmp_path: Path
) -> None:
    report = json.loads((trained / "report.json").read_text())
    section = report["training"]
    assert section["method"] == "SimCLR"
    assert section["epochs"] == 1 and section["steps"] == 32 // 8
    assert section["frames_usable"] == 36 and section["frames_trained"] == 32
    assert len(section["loss"]) == 1 and np.isfinite(section["final_loss"])
    ckpt, onnx = trained / section["checkpoint"], trained / section["onnx"]
    assert ckpt == trained / "checkpoints" / "lightly_epoch_1.ckpt" and ckpt.is_file() and onnx.is_file()
    assert read_checkpoint(ckpt).digest == section["weights_sha256"]
    assert (trained / "plots" / "training_loss.png").is_file()
    assert not list(trained.glob(".framepick-training-*")), "the hidden training folder is left behind"
    assert sorted(p.name for p in frames_input.iterdir()) == ["a.mp4"], "training wrote into input_dir"
    # the trained weights embed: other vectors than the ImageNet weights give
    plain = tmp_path / "plain"
    _run(frames_input, plain, enable_training=False)
    assert _embeddings(trained).shape == _embeddings(plain).shape
    assert not np.allclose(_embeddings(trained), _embeddings(plain), atol=1e-3)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_weights_and_another_seed_others(
    trained: Path, frames_input: Path, tmp_path: Path
) -> None:
    first = json.loads((trained / "report.json").read_text())["training"]
    again = _run(frames_input, tmp_path / "again").report["training"]
    assert again["weights_sha256"] == first["weights_sha256"]
    assert again["loss"] == first["loss"]
    other = _run(frames_input, tmp_path / "other", seed=1).report["training"]
    assert other["weights_sha256"] != first["weights_sha256"]


@pytest.mark.slow
def test_checkpoint_and_model_path_reproduce_the_trained_embeddings(
    trained: Path, frames_input: Path, tmp_path: Path
) -> None:
    section = json.loads((trained / "report.json").read_text())["training"]
    with_ckpt = tmp_path / "ckpt"
    _run(frames_input, with_ckpt, enable_training=False, checkpoint=str(trained / section["checkpoint"]))
    assert np.array_equal(_embeddings(with_ckpt), _embeddings(trained))
    assert json.loads((with_ckpt / "report.json").read_text())["training"] is None
    assert not (with_ckpt / "checkpoints").exists()
    with_onnx = tmp_path / "onnx"
    _run(frames_input, with_onnx, enable_training=False, **{"model.path": str(trained / section["onnx"])})
    # model.path feeds ImageNet-normalised floats, converted back inside the graph: the same
    # network on (nearly) the same numbers
    np.testing.assert_allclose(_embeddings(with_onnx), _embeddings(trained), atol=2e-4)


def test_a_pool_of_trained_embeddings_refuses_the_imagenet_weights(
    trained: Path, frames_input: Path, tmp_path: Path
) -> None:
    section = json.loads((trained / "report.json").read_text())["training"]
    pool = tmp_path / "pool"
    ckpt = str(trained / section["checkpoint"])
    _run(frames_input, tmp_path / "a", enable_training=False, checkpoint=ckpt, datapool=str(pool))
    with pytest.raises(DatapoolError, match="sha256"):
        _run(frames_input, tmp_path / "b", enable_training=False, datapool=str(pool))


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("lightly.loader.batch_size", 1, "lightly.loader.batch_size"),
        ("lightly.trainer.max_epochs", 0, "lightly.trainer.max_epochs"),
        ("lightly.optimizer.lr", 0, "lightly.optimizer.lr"),
        ("lightly.collate.cj_prob", 1.5, "lightly.collate.cj_prob"),
        ("lightly.collate.input_size", 16, "lightly.collate.input_size"),
        ("lightly.collate.min_scale", 0, "lightly.collate.min_scale"),
        ("enable_training", "yes please", "enable_training"),
        ("lightly.trainer.max_epoch", 3, "did you mean 'lightly.trainer.max_epochs'"),
    ],
)
def test_training_keys_are_validated_once_with_the_key_named(key: str, value: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        load_config(overrides={"input_dir": "a", "output_dir": "b", "stopping_condition.n_samples": 4, key: value})


def test_lightly_keys_read_from_a_nested_yaml_block(tmp_path: Path) -> None:
    settings = tmp_path / "s.yaml"
    settings.write_text(
        "input_dir: a\noutput_dir: b\nstopping_condition: {n_samples: 4}\nenable_training: true\n"
        "lightly:\n  trainer: {max_epochs: 3}\n  loader: {batch_size: 32}\n  collate: {input_size: 96, hf_prob: 0}\n"
    )
    config = load_config(settings)
    assert (config.lightly.trainer.max_epochs, config.lightly.loader.batch_size) == (3, 32)
    assert (config.lightly.collate.input_size, config.lightly.collate.hf_prob) == (96, 0.0)


@pytest.mark.parametrize(
    "extra",
    [{"model.path": "m.onnx"}, {"embeddings": "e.csv"}],
    ids=["model.path", "embeddings"],
)
def test_training_needs_the_built_in_model(extra: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="enable_training=true"):
        load_config(
            overrides={"input_dir": "a", "output_dir": "b", "stopping_condition.n_samples": 4, "enable_training": True}
            | extra
        )


def _cli(*words: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(framepick.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    code = "import sys; from framepick.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "run", *words], env=env, capture_output=True, text=True)


def _words(input_dir: Path, out: Path, **settings: Any) -> list[str]:
    merged = {**TINY, "cache_dir": "none", **settings}
    return [f"input_dir={input_dir}", f"output_dir={out}", *(f"{k}={v}" for k, v in merged.items())]


def _bad_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "notes.ckpt"
    text.write_text("not a checkpoint")
    foreign = folder / "foreign.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2, 2)}, "epoch": 3}, foreign)
    other_arch = folder / "resnet.ckpt"
    save_checkpoint(other_arch, {"backbone.conv1.weight": torch.zeros(64, 3, 7, 7)}, 1, 1, {})
    return {
        "text": (text, "is not a PyTorch checkpoint framepick can read"),
        "foreign": (foreign, "was not written by framepick"),
        "other architecture": (other_arch, "do not fit efficientnet-lite0"),
        "missing": (folder / "nowhere.ckpt", "does not exist"),
    }


@pytest.mark.parametrize("kind", ["text", "foreign", "other architecture", "missing"])
def test_a_checkpoint_that_is_not_framepicks_is_one_line_at_the_start(
    kind: str, frames_input: Path, tmp_path: Path
) -> None:
    path, words = _bad_checkpoints(tmp_path / "ckpts")[kind]
    with pytest.raises(ModelError, match=words):
        read_checkpoint(path)
    out = tmp_path / "out"
    done = _cli(*_words(frames_input, out, enable_training="false", checkpoint=path))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("framepick: error: checkpoint") and words in lines[-1]
    assert "Traceback" not in done.stderr
    assert not (out / "report.json").exists()
    assert "decode_embed ..." not in done.stderr  # refused before any frame is embedded


def test_fewer_frames_than_one_batch_is_one_line(tmp_path: Path) -> None:
    few = frame_folder(tmp_path / "in" / "f", ["checker"], 5, size=48).parent
    out = tmp_path / "out"
    with pytest.raises(TrainingError, match=r"found 5, lightly\.loader\.batch_size=8"):
        _run(few, out)
    done = _cli(*_words(few, out))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("framepick: error: training needs at least one batch")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("mode", ["train", "embed"])
def test_ctrl_c_during_training_exits_130_and_leaves_nothing(frames_input: Path, tmp_path: Path, mode: str) -> None:
    """Interrupted while training (``train``), or once the checkpoint is written and the trained
    model embeds (``embed``): no result, no checkpoint, no hidden training folder."""
    out, marker = tmp_path / "out", tmp_path / "marker"
    words = _words(frames_input, out, **{"lightly.trainer.max_epochs": 50 if mode == "train" else 1})
    proc = start_killable(mode, marker, *words)
    wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "framepick: interrupted; no partial result was left behind"
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == [], left


def test_a_killed_training_leaves_its_folder_and_the_next_run_removes_it(frames_input: Path, tmp_path: Path) -> None:
    """Killed (SIGKILL, no cleanup) once the checkpoint is written and the trained model embeds:
    the hidden training folder stays until the next run in that output folder (training or
    not) finds its process gone and removes it."""
    from media import FakeEmbedder

    out, marker = tmp_path / "out", tmp_path / "marker"
    proc = start_killable("embed", marker, *_words(frames_input, out))
    wait_for(marker.exists, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert [p.name for p in out.iterdir()] == [f".framepick-training-{proc.pid}"]
    words2 = {"input_dir": str(frames_input), "output_dir": str(out), "cache_dir": None}
    config = load_config(overrides={**words2, "stopping_condition.n_samples": 4})
    framepick.run(config, embedder=FakeEmbedder())
    assert not list(out.glob(".framepick-*")) and (out / "report.json").exists()
