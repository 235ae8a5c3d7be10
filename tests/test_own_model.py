"""Your own embedding model (model.path): ONNX and TorchScript files the tests export themselves,
their preprocessing, the one-line errors, the cache key and datapool space, and a whole run."""

from __future__ import annotations

import csv
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import framepick
from framepick import load_config
from framepick.cli import main as cli_main
from framepick.embed import available_engines, create_own_embedder, own_model
from framepick.errors import DatapoolError, ModelError
from framepick.models.custom import IMAGENET_MEAN, IMAGENET_STD
from framepick.results import Candidates
from framepick.select import select

DIM = 24  # not 1280: everything downstream must follow the model's width
Triple = tuple[float, float, float]
ONNX_ENGINES = [e for e in ("onnx", "openvino") if e in available_engines()]


class Tiny(nn.Module):
    """Two strided convolutions and a global mean: (N, 3, S, S) -> (N, DIM), any S."""

    def __init__(self, seed: int = 0, width: int = DIM) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.a = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.b = nn.Conv2d(16, width, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.b(torch.relu(self.a(x)))).mean((2, 3))


class ChannelMeans(nn.Module):
    """The mean of each input channel: the preprocessing, visible in the output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class TwoInputs(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + y).mean((2, 3))


class FourD(Tiny):
    """(N, DIM, 1, 1): pooled but not flattened."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[:, :, None, None]


def _onnx(
    path: Path, module: nn.Module, size: int | tuple[int, int] = 32, dynamic: bool = False, inputs: int = 1
) -> Path:
    """Export with the TorchScript-based exporter: a fixed batch of 1 and fixed size unless ``dynamic``."""
    height, width = (size, size) if isinstance(size, int) else size
    names = [f"pixels{i}" for i in range(inputs)]
    axes = {n: {0: "batch", 2: "height", 3: "width"} for n in names} | {"features": {0: "batch"}} if dynamic else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            tuple(torch.zeros(1, 3, height, width) for _ in range(inputs)),
            str(path),
            input_names=names,
            output_names=["features"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


def _torchscript(path: Path, module: nn.Module, how: str = "trace", size: int = 32) -> Path:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "trace":
            scripted = torch.jit.trace(module.eval(), torch.zeros(1, 3, size, size))
        else:
            scripted = torch.jit.script(module.eval())
    scripted.save(str(path))
    return path


def _pixels(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _by_hand(pixels: np.ndarray, mean: Triple = IMAGENET_MEAN, std: Triple = IMAGENET_STD) -> np.ndarray:
    """The documented preprocessing in float64: 0-1 RGB, (x - mean) / std, NCHW."""
    x = (pixels.astype(np.float64) / 255.0 - np.asarray(mean)) / np.asarray(std)
    return x.transpose(0, 3, 1, 2)


def _reference(module: nn.Module, pixels: np.ndarray) -> np.ndarray:
    """What PyTorch computes on the hand-preprocessed frames (ImageNet mean/std)."""
    with torch.no_grad():
        return module.eval()(torch.from_numpy(_by_hand(pixels).astype(np.float32))).numpy()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@pytest.mark.parametrize("engine", ONNX_ENGINES)
def test_onnx_fixed_input_size_comes_from_the_model(tmp_path: Path, engine: str) -> None:
    path = _onnx(tmp_path / "fixed.onnx", Tiny(), 32)  # batch 1 fixed too: frames go one at a time
    embedder = create_own_embedder(path, 64, engine)  # the model's 32 wins over model.input_size
    assert (embedder.input_size, embedder.dim, embedder.name) == (32, DIM, engine)
    pixels = _pixels(5, 32)
    out = embedder.embed(pixels)
    assert out.shape == (5, DIM) and out.dtype == np.float32
    np.testing.assert_allclose(out, _reference(Tiny(), pixels), rtol=1e-4, atol=1e-5)
    assert f"sha256:{_sha(path)}" in embedder.signature and "/32/" in embedder.signature
    assert embedder.space == (
        f"model file fixed.onnx sha256:{_sha(path)} at 32 px, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]"
    )


@pytest.mark.parametrize("engine", ONNX_ENGINES)
def test_onnx_dynamic_input_size_is_model_input_size(tmp_path: Path, engine: str) -> None:
    path = _onnx(tmp_path / "dynamic.onnx", Tiny(), 32, dynamic=True)
    embedder = create_own_embedder(path, 40, engine)
    assert (embedder.input_size, embedder.dim) == (40, DIM)
    pixels = _pixels(7, 40, seed=1)
    np.testing.assert_allclose(embedder.embed(pixels), _reference(Tiny(), pixels), rtol=1e-4, atol=1e-5)
    assert embedder.embed(pixels[:0]).shape == (0, DIM)


@pytest.mark.parametrize("how", ["trace", "script"])
def test_torchscript_runs_at_model_input_size(tmp_path: Path, how: str) -> None:
    path = _torchscript(tmp_path / "model.pt", Tiny(), how)
    embedder = create_own_embedder(path, 48, "auto", "cpu")
    assert (embedder.input_size, embedder.dim, embedder.name) == (48, DIM, "torch")
    pixels = _pixels(6, 48, seed=2)
    np.testing.assert_allclose(embedder.embed(pixels), _reference(Tiny(), pixels), rtol=1e-5, atol=1e-6)
    assert embedder.signature.startswith(f"own-torchscript/sha256:{_sha(path)}/48/")


def test_kind_is_told_by_content_not_extension(tmp_path: Path) -> None:
    onnx_as_pt = _onnx(tmp_path / "model.pt", Tiny(), 32)
    script_as_onnx = _torchscript(tmp_path / "model.onnx", Tiny())
    assert own_model(onnx_as_pt, engine="onnx").signature.startswith("own-onnx/")
    assert own_model(script_as_onnx, 32).signature.startswith("own-torchscript/")
    pixels = _pixels(2, 32)
    expected = _reference(Tiny(), pixels)
    for path in (onnx_as_pt, script_as_onnx):
        np.testing.assert_allclose(create_own_embedder(path, 32).embed(pixels), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["onnx", "torchscript"])
@pytest.mark.parametrize("norm", [{}, {"mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.5)}])
def test_preprocessing_matches_a_hand_computed_reference(tmp_path: Path, kind: str, norm: dict[str, Triple]) -> None:
    """uint8 RGB -> /255 -> (x - mean) / std -> NCHW: a model that returns its input's channel
    means shows exactly what it was fed (ImageNet's mean/std when none are given)."""
    module = ChannelMeans()
    path = _onnx(tmp_path / "m", module, dynamic=True) if kind == "onnx" else _torchscript(tmp_path / "m", module)
    embedder = create_own_embedder(path, 16, **norm)
    pixels = _pixels(4, 16, seed=3)
    pixels[0] = 0  # the extremes: -mean/std and (1 - mean)/std
    pixels[1] = 255
    expected = _by_hand(pixels, **norm)
    np.testing.assert_allclose(embedder.preprocess(pixels), expected, rtol=1e-6, atol=1e-6)
    assert embedder.preprocess(pixels).dtype == np.float32 and embedder.preprocess(pixels).flags.c_contiguous
    np.testing.assert_allclose(embedder.embed(pixels), expected.mean(axis=(2, 3)), rtol=1e-5, atol=1e-5)
    mean, std = norm.get("mean", IMAGENET_MEAN), norm.get("std", IMAGENET_STD)
    assert f"mean={list(mean)}/std={list(std)}" in embedder.signature


def _bad_model(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "model.onnx"
    if case == "text":
        path.write_text("this is not a model\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "checkpoint":
        torch.save(Tiny().state_dict(), path)
    elif case == "onnx two inputs":
        _onnx(path, TwoInputs(), inputs=2)
    elif case == "torchscript two inputs":
        _torchscript(path, TwoInputs(), "script")
    elif case == "onnx 4-D output":
        _onnx(path, FourD())
    elif case == "torchscript 4-D output":
        _torchscript(path, FourD())
    elif case == "not square":
        _onnx(path, Tiny(), (32, 48))
    elif case == "too small for input_size":  # a Linear layer fixes a TorchScript model's size
        _torchscript(path, nn.Sequential(nn.Conv2d(3, 2, 3, 4), nn.Flatten(), nn.Linear(2 * 8 * 8, DIM)))
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "model.path '.*missing.onnx' does not exist"),
        ("text", "is neither an ONNX nor a TorchScript model; give model.path an ONNX file"),
        ("empty", "is neither an ONNX nor a TorchScript model"),
        ("checkpoint", r"zip archive but not a TorchScript model \(a torch.save checkpoint"),
        ("onnx two inputs", r"has 2 inputs \(pixels0, pixels1\); framepick feeds one NCHW image batch"),
        ("torchscript two inputs", r"takes 2 inputs \(x, y\); framepick feeds one NCHW image batch"),
        ("onnx 4-D output", r"outputs shape \(1, 24, 1, 1\); framepick needs one 2-D \(batch, features\) output"),
        ("torchscript 4-D output", r"outputs shape \(1, 24, 1, 1\); framepick needs one 2-D"),
        ("not square", "takes 32x48 .* frames; framepick makes square frames"),
        ("too small for input_size", r"fails on a \(1, 3, 64, 64\) batch .*set model.input_size"),
    ],
)
def test_bad_models_fail_at_start_in_one_line(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / "missing.onnx" if case == "missing" else _bad_model(tmp_path, case)
    with pytest.raises(ModelError, match=message) as info:
        create_own_embedder(path, 64)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", ["text", "checkpoint", "onnx two inputs", "onnx 4-D output", "not square"])
def test_file_problems_are_found_without_loading_the_model(tmp_path: Path, case: str) -> None:
    """The cache key is computed before anything is decoded: a broken file fails right there."""
    with pytest.raises(ModelError):
        own_model(_bad_model(tmp_path, case), 32)


def test_engine_must_fit_the_file(tmp_path: Path) -> None:
    onnx_file = _onnx(tmp_path / "m.onnx", Tiny())
    script_file = _torchscript(tmp_path / "m.pt", Tiny())
    with pytest.raises(ModelError, match=r"model.engine=torch cannot run an ONNX model.path; use auto or onnx"):
        own_model(onnx_file, engine="torch")
    with pytest.raises(ModelError, match=r"model.engine=onnx cannot run a TorchScript model.path; use auto or torch"):
        own_model(script_file, 32, engine="onnx")
    with pytest.raises(ModelError, match=r"an ONNX model.path runs on the CPU"):
        own_model(onnx_file, device="cuda")


def test_a_dynamic_input_needs_model_input_size(tmp_path: Path) -> None:
    """No fixed size in the file and none in the configuration: a one-line error, not a silent 224."""
    dynamic = _onnx(tmp_path / "dynamic.onnx", Tiny(), dynamic=True)
    script = _torchscript(tmp_path / "m.pt", Tiny())
    for path in (dynamic, script):
        with pytest.raises(ModelError, match=r"dynamic input\): set model.input_size") as info:
            own_model(path)
        assert "\n" not in str(info.value)
    fixed = _onnx(tmp_path / "fixed.onnx", Tiny(), 32)
    assert own_model(fixed).input_size == 32  # a fixed size needs nothing


# --- whole runs -------------------------------------------------------------------------------


def _run(scenes: Path, out: Path, model: Path, **extra: object) -> tuple[framepick.RunResult, dict[str, Any]]:
    values: dict[str, object] = {
        "input_dir": str(scenes),
        "output_dir": str(out),
        "model.path": str(model),
        "model.input_size": 32,
        "stopping_condition.n_samples": 6,
    }
    result = framepick.run(load_config(overrides=values | extra))
    return result, json.loads((out / "report.json").read_text())


def test_a_run_with_an_own_onnx_model(scenes_input: Path, tmp_path: Path) -> None:
    """One run with model.path set to a test-exported ONNX model whose output size is not 1280:
    embeddings.csv has that many columns, and the selection works on them."""
    model = _onnx(tmp_path / "tiny.onnx", Tiny(), dynamic=True)
    result, report = _run(scenes_input, tmp_path / "out", model, cache_dir=str(tmp_path / "cache"))
    out = tmp_path / "out"
    with open(out / "data/embeddings.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["filenames", *(f"embedding_{i}" for i in range(DIM)), "labels"]
    assert len(rows) - 1 == 125 == report["counts"]["frames_embedded"]
    by_name = {r[0]: np.array([float(v) for v in r[1:-1]], np.float32) for r in rows[1:]}
    np.testing.assert_allclose(np.linalg.norm(np.stack(list(by_name.values())), axis=1), 1.0, rtol=1e-5)
    cands = Candidates.load(out / "data/candidates.npz")
    from_csv = np.stack([by_name[name] for name in cands.first_names])
    np.testing.assert_array_equal(cands.embeddings, from_csv)  # the selection ran on the CSV's vectors
    expected = select(from_csv, n_samples=6, seed=result.config.seed)
    np.testing.assert_array_equal(cands.selected, expected.indices)
    np.testing.assert_array_equal(result.selection.indices, expected.indices)
    picked = [cands.first_names[i] for i in expected.indices]
    assert (out / "filenames/sampled_filenames.txt").read_text().split() == picked
    with open(out / "data/selected_embeddings.csv", newline="") as fh:
        selected = list(csv.reader(fh))[1:]
    assert [r[0] for r in selected] == picked and all(len(r) == DIM + 2 for r in selected)


def test_cache_keys_on_the_model_file_and_normalisation(scenes_input: Path, tmp_path: Path) -> None:
    model = _onnx(tmp_path / "tiny.onnx", Tiny(seed=0), dynamic=True)
    cache = {"cache_dir": str(tmp_path / "cache")}
    first, report = _run(scenes_input, tmp_path / "a", model, **cache)
    assert report["counts"]["frames_embedded"] == 125
    _, report = _run(scenes_input, tmp_path / "b", model, **cache)
    assert report["counts"]["frames_embedded"] == 0 and report["counts"]["frames_from_cache"] == 125

    _onnx(model, Tiny(seed=1), dynamic=True)  # the same name and size, other weights
    changed, report = _run(scenes_input, tmp_path / "c", model, **cache)
    assert report["counts"]["frames_embedded"] == 125
    assert not np.allclose(changed.table.embeddings, first.table.embeddings)

    _, report = _run(scenes_input, tmp_path / "d", model, **cache, **{"model.mean": [0.5, 0.5, 0.5]})
    assert report["counts"]["frames_embedded"] == 125


def test_datapool_refuses_another_model_file(scenes_input: Path, tmp_path: Path) -> None:
    one = _onnx(tmp_path / "one.onnx", Tiny(seed=0), dynamic=True)
    other = _onnx(tmp_path / "other.onnx", Tiny(seed=1), dynamic=True)
    pool = {"datapool": str(tmp_path / "pool"), "cache_dir": "none"}
    first, _ = _run(scenes_input, tmp_path / "a", one, **pool)
    assert first.pool is not None and f"sha256:{_sha(one)} at 32 px" in first.pool.signature
    with pytest.raises(DatapoolError, match=f"sha256:{_sha(other)}"):
        _run(scenes_input, tmp_path / "b", other, **pool)
    again, report = _run(scenes_input, tmp_path / "c", one, **pool)  # the same file continues the pool
    assert report["datapool"]["items_before"] == 6 and len(again.selection.indices) == 6


def test_cli_reports_a_missing_model_in_one_line(
    scenes_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [f"input_dir={scenes_input}", f"output_dir={tmp_path / 'out'}", f"model.path={tmp_path / 'none.onnx'}"]
    args.append("stopping_condition.n_samples=4")
    assert cli_main(["run", *args]) == ModelError.exit_code
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "none.onnx' does not exist" in err
    assert not (tmp_path / "out" / "report.json").exists()
