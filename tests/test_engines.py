"""Contract of every embedding engine in ENGINES: shape, dtype, determinism, and agreement
with the eager fp32 PyTorch model (cosine >= 0.99) on real photos and synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from framepick.config import load_config
from framepick.embed import ENGINES, TorchEmbedder, create_embedder, resolve_engine
from framepick.errors import ConfigError, ModelError
from media import scene_frame

SIZE = 224


def _batch(size: int = SIZE) -> np.ndarray:
    from skimage import data

    photos = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    frames = [np.asarray(Image.fromarray(p).resize((size, size), Image.BILINEAR)) for p in photos]
    frames += [
        np.asarray(Image.fromarray(scene_frame(s, 3)).resize((size, size))) for s in ("checker", "circles", "noise")
    ]
    return np.stack(frames)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One ONNX export per size for the whole module (each export is a PyTorch trace)."""
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return TorchEmbedder(SIZE, "cpu").embed(_batch())


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_engine_contract(name: str, reference: np.ndarray, export_dir) -> None:  # type: ignore[no-untyped-def]
    engine = create_embedder(name, SIZE, "cpu" if name != "torch-fp16" else "cuda", export_dir=export_dir)
    pixels = _batch()
    out = engine.embed(pixels)
    assert out.shape == (len(pixels), engine.dim) and out.dtype == np.float32
    assert engine.input_size == SIZE and engine.signature and np.isfinite(out).all()
    np.testing.assert_array_equal(engine.embed(pixels), out)  # deterministic
    single = engine.embed(pixels[:1])  # batch size does not change the result much
    assert _cos(single, out[:1]).min() > 0.999
    cos = _cos(out, reference)
    assert cos.min() >= 0.99, (name, cos)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.skipif(not {"onnx", "openvino"} <= set(ENGINES), reason="onnxruntime or openvino not installed")
def test_openvino_runs_the_onnx_export_with_the_same_numbers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Equivalence of the two CPU runtimes on one exported file (fp32 both: OpenVINO must not
    fall back to bf16 on CPUs that have it)."""
    pixels = _batch(64)
    onnx = create_embedder("onnx", 64, "cpu", export_dir=tmp_path)
    vino = create_embedder("openvino", 64, "cpu", export_dir=tmp_path)
    assert vino.path == onnx.path and len(list(tmp_path.glob("*.onnx"))) == 1  # one export serves both
    np.testing.assert_allclose(vino.embed(pixels), onnx.embed(pixels), rtol=0, atol=2e-4)
    assert vino.signature != onnx.signature  # cached embeddings are kept apart all the same


def test_signatures_are_distinct(export_dir) -> None:  # type: ignore[no-untyped-def]
    sigs = {create_embedder(n, 64, "cpu", export_dir=export_dir).signature for n in ENGINES if n != "torch-fp16"}
    assert len(sigs) == len([n for n in ENGINES if n != "torch-fp16"])


def test_auto_picks_an_available_engine() -> None:
    assert resolve_engine("auto", "cpu") in ENGINES
    assert create_embedder("auto", 64, "cpu").name in ENGINES


def test_unavailable_engine_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="not available"):
        create_embedder("no-such-engine", 64, "cpu")


@pytest.mark.skipif("onnx" not in ENGINES, reason="onnxruntime not installed")
def test_onnx_export_is_cached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from framepick.embed import OnnxEmbedder

    path = OnnxEmbedder.export(64, tmp_path / "onnx")
    assert path.is_file() and tmp_path in path.parents
    mtime = path.stat().st_mtime_ns
    assert OnnxEmbedder.export(64, tmp_path / "onnx") == path and path.stat().st_mtime_ns == mtime
    engine = create_embedder("onnx", 64, "cpu", export_dir=tmp_path / "onnx")
    assert engine.path == path  # type: ignore[attr-defined]
    in_memory = create_embedder("onnx", 64, "cpu")  # no folder: nothing written anywhere
    assert in_memory.path is None  # type: ignore[attr-defined]
    pixels = _batch(64)
    np.testing.assert_allclose(in_memory.embed(pixels), engine.embed(pixels), rtol=1e-5, atol=1e-5)


def test_config_keys() -> None:
    base = {"input_dir": "a", "output_dir": "b", "stopping_condition.n_samples": 10}
    cfg = load_config(overrides=base)
    assert cfg.model.engine == "auto" and cfg.selection_dim == "auto" and cfg.embedding_frame_stride == 1
    for key, bad in (("model.engine", "tensorrt"), ("selection_dim", 0), ("embedding_frame_stride", 0)):
        with pytest.raises(ConfigError, match=key):
            load_config(overrides={**base, key: bad})


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx2", "fma"}, False),
        ({"avx2", "avx512f", "avx512bw", "avx512vl"}, False),  # AVX-512 alone: bf16 is emulated, slow
        ({"avx2", "avx512f", "avx512_bf16"}, True),
        ({"avx2", "amx_tile", "amx_bf16"}, True),
    ],
)
def test_bf16_needs_real_bf16_hardware(monkeypatch: pytest.MonkeyPatch, flags: set[str], expected: bool) -> None:
    import framepick.engines as engines

    monkeypatch.setattr(engines, "_cpu_flags", lambda: flags)
    engines.cpu_has_bf16.cache_clear()
    try:
        assert engines.cpu_has_bf16() is expected
    finally:
        engines.cpu_has_bf16.cache_clear()


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (("torch", "torch-bf16", "onnx", "openvino", "openvino-bf16"), "openvino-bf16"),
        (("torch", "torch-bf16", "onnx"), "torch-bf16"),
        (("torch", "onnx", "openvino"), "openvino"),
        (("torch", "onnx"), "onnx"),
        (("torch",), "torch"),
    ],
)
def test_auto_prefers_the_fastest_engine_present(
    monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...], expected: str
) -> None:
    import framepick.engines as engines

    monkeypatch.setattr(engines, "available_engines", lambda: {n: engines.engine(n) for n in present})
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    assert resolve_engine("auto", "auto") == expected
    assert resolve_engine("torch", "auto") == "torch"


def test_importing_framepick_loads_no_engine() -> None:
    import subprocess
    import sys

    code = (
        "import sys, framepick.embed; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'openvino') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_auto_falls_through_to_the_next_engine_that_loads(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An installed runtime that fails to start does not fail the run: auto takes the next one."""
    import framepick.engines as engines
    from framepick.models import runtimes

    class Broken:
        def load(self, *args: object) -> runtimes.Runner:
            raise RuntimeError("plugin refused")

    present = {n: engines.engine(n) for n in ("openvino-bf16", "openvino", "torch")}
    monkeypatch.setattr(engines, "available_engines", lambda: present)
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    monkeypatch.setitem(runtimes.RUNTIMES, "openvino", Broken())
    with caplog.at_level("WARNING", logger="framepick"):
        got = create_embedder("auto", 64, "cpu")
    assert got.name == "torch"
    assert sum("could not load" in r.getMessage() for r in caplog.records) == 2
    monkeypatch.setitem(runtimes.RUNTIMES, "torch", Broken())
    with pytest.raises(ModelError, match="no embedding engine could load: openvino-bf16: plugin refused"):
        create_embedder("auto", 64, "cpu")
