"""The model layer and the executor interface (#20): one engine declaration, one resolved model
per run (the cache, the datapool and every Ray actor carry its identity, so a run never mixes
two engines' embeddings), and the executor contract, local and behind the cache.

Most tests here use a fake runtime in place of ONNX Runtime and PyTorch: it loads at once and
writes into each row which engine computed it (the last column), so a mixed run shows."""

from __future__ import annotations

import io
import json
import pickle
import re
import tokenize
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import framepick
from framepick import engines, load_config
from framepick.cache import CachedExecutor, EmbeddingCache
from framepick.config import ModelConfig
from framepick.discover import scan_input
from framepick.embed import LocalExecutor, embed_sources
from framepick.errors import ModelError
from framepick.models import runtimes
from framepick.models.resolved import ModelEmbedder, ModelSpec, ResolvedModel, resolve_model
from framepick.models.sources import BuiltinModel
from framepick.scan import ScanRequest, SourceFrames
from framepick.sequences import SequenceLayout
from media import FakeEmbedder

ROOT = Path(__file__).resolve().parents[1]
TAG = {name: float(i + 1) for i, name in enumerate(engines.ENGINE_NAMES)}  # the fake's engine marker


class _FakeRunner:
    batch = None
    path = None

    def __init__(self, tag: float) -> None:
        self.tag = tag

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Colour means on a 4x4 grid (what FakeEmbedder computes), the engine's tag last."""
        n, s = len(x), x.shape[1]
        out = np.zeros((n, 1280), np.float32)
        out[:, :48] = x.astype(np.float32).reshape(n, 4, s // 4, 4, s // 4, 3).mean((2, 4)).reshape(n, 48) / 255
        out[:, -1] = self.tag
        return out


class FakeRuntime:
    """A runtime adapter that loads at once (or, ``broken``, never)."""

    def __init__(self) -> None:
        self.broken = False
        self.loads = 0

    def load(self, source: Any, engine: engines.Engine, *args: Any) -> runtimes.Runner:
        if self.broken:
            raise RuntimeError("plugin refused")
        self.loads += 1
        return _FakeRunner(TAG[engine.name])


@pytest.fixture
def fake_engines(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeRuntime]:
    """A machine with ONNX Runtime and PyTorch (no bf16, no CUDA): ``auto`` is onnx, then torch."""
    present = {name: engines.engine(name) for name in ("onnx", "torch")}
    monkeypatch.setattr(engines, "available_engines", lambda: present)
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    fakes = {"onnxruntime": FakeRuntime(), "torch": FakeRuntime()}
    for name, fake in fakes.items():
        monkeypatch.setitem(runtimes.RUNTIMES, name, fake)
    return fakes


def _run(src: Path, out: Path, cache: Path | None, **words: object) -> framepick.RunResult:
    values: dict[str, object] = {
        "input_dir": str(src),
        "output_dir": str(out),
        "cache_dir": str(cache) if cache is not None else None,
        "model.input_size": 32,
        "normalize_embeddings": False,  # the engine's tag stays readable in every row
        "stopping_condition.n_samples": 6,
    }
    return framepick.run(load_config(overrides={**values, **words}))


def _engines_in(result: framepick.RunResult) -> set[str]:
    """Which engines computed the run's embedded rows."""
    tags = result.table.embeddings[result.table.embedded, -1]
    return {name for name, tag in TAG.items() if tag in set(tags.tolist())}


def _cached_signatures(cache: Path) -> set[str]:
    found = set()
    for entry in cache.rglob("*.npz"):
        with np.load(entry) as data:
            found.add(json.loads(str(data["meta"]))["signature"])
    return found


# ------------------------------------------------------------------ a run never mixes two engines


def test_auto_falls_through_and_the_cache_and_pool_key_on_what_ran(
    scenes_input: Path, tmp_path: Path, fake_engines: dict[str, FakeRuntime], caplog: pytest.LogCaptureFixture
) -> None:
    cache, pool = tmp_path / "cache", tmp_path / "pool"
    first = _run(scenes_input, tmp_path / "a", cache)
    assert _engines_in(first) == {"onnx"}  # auto's first engine here
    # one source's entry is lost, and ONNX Runtime no longer loads: the two other sources'
    # onnx entries must not be mixed with torch's embeddings of the third
    sorted(cache.rglob("*.npz"))[0].unlink()
    fake_engines["onnxruntime"].broken = True
    with caplog.at_level("WARNING", logger="framepick"):
        second = _run(scenes_input, tmp_path / "b", cache, datapool=str(pool))
    assert "engine onnx could not load" in caplog.text
    counts = second.report["counts"]
    assert counts["sources_from_cache"] == 0 and counts["frames_embedded"] == counts["frames"] == 125
    assert _engines_in(second) == {"torch"}
    assert "efficientnet-lite0/32/torch-fp32" in _cached_signatures(cache)
    assert second.pool is not None and second.pool.signature == "efficientnet-lite0 at 32 px, not normalised"
    # the rerun finds everything cached under the engine that ran: nothing is decoded
    third = _run(scenes_input, tmp_path / "c", cache, datapool=str(pool))
    counts = third.report["counts"]
    assert (counts["sources_from_cache"], counts["frames_decoded"], counts["frames_embedded"]) == (3, 0, 0)
    assert _engines_in(third) == {"torch"}
    assert third.report["datapool"]["items_before"] == len(second.selection.indices)
    np.testing.assert_array_equal(third.table.embeddings, second.table.embeddings)


def test_fully_cached_under_autos_first_engine_loads_nothing(
    scenes_input: Path, tmp_path: Path, fake_engines: dict[str, FakeRuntime]
) -> None:
    cache = tmp_path / "cache"
    _run(scenes_input, tmp_path / "a", cache)
    fake_engines["onnxruntime"].broken = True  # would fall through, were anything left to embed
    again = _run(scenes_input, tmp_path / "b", cache)
    assert again.report["counts"]["sources_from_cache"] == 3 and _engines_in(again) == {"onnx"}
    assert fake_engines["torch"].loads == 0


def test_a_cache_filled_by_another_engine_is_not_reused(
    scenes_input: Path, tmp_path: Path, fake_engines: dict[str, FakeRuntime]
) -> None:
    cache = tmp_path / "cache"
    assert _engines_in(_run(scenes_input, tmp_path / "a", cache, **{"model.engine": "onnx"})) == {"onnx"}
    other = _run(scenes_input, tmp_path / "b", cache, **{"model.engine": "torch"})
    assert other.report["counts"]["sources_from_cache"] == 0 and _engines_in(other) == {"torch"}
    back = _run(scenes_input, tmp_path / "c", cache, **{"model.engine": "onnx"})
    assert back.report["counts"]["sources_from_cache"] == 3 and _engines_in(back) == {"onnx"}


@pytest.mark.parametrize(
    ("worker", "would_be"),
    [
        ({"present": ("torch",), "cuda": False}, "torch"),  # no ONNX Runtime on the worker
        ({"present": ("onnx", "torch", "torch-fp16"), "cuda": True}, "torch-fp16"),  # a GPU worker
    ],
)
def test_a_ray_actor_where_auto_is_another_engine_refuses(
    monkeypatch: pytest.MonkeyPatch, fake_engines: dict[str, FakeRuntime], worker: dict[str, Any], would_be: str
) -> None:
    """The driver resolves the model and sends it; an actor loads exactly that engine, and one
    on whose machine ``auto`` would be another engine fails the run instead of mixing."""
    from framepick.distributed import _EmbedActor, _ship

    model = resolve_model(ModelSpec(input_size=32), load=False)  # the driver: nothing loads there
    assert (model.engine, model.choices, model.loaded) == ("onnx", ("onnx", "torch"), None)
    shipped = _ship(model)
    assert isinstance(shipped, ResolvedModel)  # the resolved identity, not an embedder's class
    shipped = pickle.loads(pickle.dumps(shipped))
    assert shipped.signature == model.signature == "efficientnet-lite0/32/onnxruntime-fp32"
    assert _EmbedActor(shipped, 8).info().signature == model.signature  # the same machine: it runs
    monkeypatch.setattr(engines, "available_engines", lambda: {n: engines.engine(n) for n in worker["present"]})
    monkeypatch.setattr(engines, "cuda_available", lambda: worker["cuda"])
    with pytest.raises(ModelError, match=f"auto is onnx on the machine that runs the command .* would be {would_be}"):
        _EmbedActor(shipped, 8).info()


def test_a_given_framepick_embedder_keeps_its_identity(fake_engines: dict[str, FakeRuntime]) -> None:
    """An embedder built by framepick, given to run(embedder=...): its space is the model's (the
    datapool does not depend on the engine), and Ray actors get its resolved model."""
    from framepick.distributed import _ship

    loaded = ModelEmbedder(ResolvedModel(BuiltinModel(32), "torch"))
    model = ResolvedModel.of_embedder(loaded)
    assert model.loaded is loaded and model.space == "efficientnet-lite0 at 32 px"
    assert model.signature == loaded.signature == "efficientnet-lite0/32/torch-fp32"
    shipped = pickle.loads(pickle.dumps(_ship(model)))
    assert isinstance(shipped, ResolvedModel) and shipped.loaded is None and shipped.engine == "torch"
    fake = ResolvedModel.of_embedder(FakeEmbedder())
    assert (fake.space, fake.signature, fake.input_size) == ("embedder fake at 32 px", "fake-grid/32", 32)


def test_a_loaded_model_is_freed_as_soon_as_it_is_dropped(fake_engines: dict[str, FakeRuntime]) -> None:
    """No reference cycle between a resolved model and its embedder: a native runtime is freed
    when the run drops it, never later by the cycle collector in whatever thread it then runs
    (a full test session crashed that way)."""
    import gc
    import weakref

    model = ResolvedModel(BuiltinModel(32), "torch")
    loaded = model.embedder()
    again = ResolvedModel.of_embedder(loaded)
    assert again.loaded is loaded and again.signature == model.signature
    freed = weakref.ref(loaded)
    gc.disable()
    try:
        del model, loaded, again
        assert freed() is None
    finally:
        gc.enable()


# ------------------------------------------------------------------------- the executor contract


def _assert_same(got: list[SourceFrames], want: list[SourceFrames], thumbnails: bool = True) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.digests, g.pts, g.seconds, g.error) == (w.digests, w.pts, w.seconds, w.error)
        assert (g.frame_errors, g.frame_suspects) == (w.frame_errors, w.frame_suspects)
        assert not thumbnails or g.thumbnails == w.thumbnails
        np.testing.assert_array_equal(g.embeddings, w.embeddings)
        np.testing.assert_array_equal(g.embedded, w.embedded)
        np.testing.assert_array_equal(g.metadata, w.metadata)


@pytest.mark.parametrize("model", ["fake", "none"])
@pytest.mark.parametrize("executor", ["local", "cached", "cached-again"])
def test_executor_contract(scenes_input: Path, tmp_path: Path, executor: str, model: str) -> None:
    """One SourceFrames per source, in order, equal to embed_sources'; on_source_done once per
    scanned source (never for a cache hit) and progress for every scanned frame."""
    sources = scan_input(scenes_input).sources
    layout = SequenceLayout(10, 3)
    embedder = FakeEmbedder() if model == "fake" else None
    resolved = ResolvedModel.of_embedder(embedder) if embedder is not None else None
    request = ScanRequest(sources, 32, layout.embeds, layout.key, thumbnail_limit=100, batch_size=16)
    want = embed_sources(sources, embedder, batch_size=16, embed_frame=layout.embeds, thumbnails=True, decode_size=32)
    scanner = LocalExecutor() if executor == "local" else CachedExecutor(LocalExecutor(), tmp_path / "cache")
    if executor == "cached-again":
        scanner.scan(request, resolved)
    done: dict[int, SourceFrames] = {}
    counted: list[int] = []
    got = scanner.scan(request, resolved, done.__setitem__, counted.append)
    _assert_same(got, want, thumbnails=executor != "cached-again")  # thumbnails are not cached
    assert scanner.loads_here
    if executor == "cached-again":
        assert done == {} and counted == []
        return
    assert sorted(done) == list(range(len(sources))) and all(done[i] is got[i] for i in done)
    assert sum(counted) == sum(r.n_frames for r in want) == 125
    assert any(r.embedded.any() for r in got) == (model == "fake")
    if executor == "cached":
        key = "fake-grid/32/stride3of10" if model == "fake" else "scan-only/32"
        assert all(EmbeddingCache(tmp_path / "cache", key).load(s) is not None for s in sources)


def test_cached_executor_scans_only_the_missing_sources(scenes_input: Path, tmp_path: Path) -> None:
    sources = scan_input(scenes_input).sources
    model = ResolvedModel.of_embedder(FakeEmbedder())
    request = ScanRequest(sources, 32, batch_size=16)
    cached = CachedExecutor(LocalExecutor(), tmp_path)
    cached.scan(request.subset([1]), model)
    assert cached.missing(request, model) == [0, 2]
    seen: list[int] = []

    class Inner(LocalExecutor):
        def scan(self, request: ScanRequest, *args: Any, **kw: Any) -> list[SourceFrames]:
            seen.extend(sources.index(s) for s in request.sources)
            return super().scan(request, *args, **kw)

    got = CachedExecutor(Inner(), tmp_path).scan(request, model)
    assert seen == [0, 2] and [r.n_frames for r in got] == [60, 45, 20]


# --------------------------------------------------------------------- the engines, declared once


def test_engine_names_are_declared_once() -> None:
    """Configuration, help text, docs, README and availability all come from framepick.engines."""
    rule = next(f for f in fields(ModelConfig) if f.name == "engine").metadata
    assert rule["rule"].allowed == " or ".join(repr(n) for n in ("auto", *engines.ENGINE_NAMES))
    assert rule["help"] == engines.engine_help()
    for name in engines.ENGINE_NAMES:
        assert f"{name} (" in engines.engine_help()
    assert engines.engine_help() in (ROOT / "docs/reference.md").read_text()
    readme = " ".join((ROOT / "README.md").read_text().split())
    auto = engines.AUTO_CPU
    assert "runs the first of " + ", ".join(f"`{n}`" for n in auto[:-1]) + f" and `{auto[-1]}`" in readme
    # no other module or benchmark spells an engine name out
    spelled = []
    for path in [*(ROOT / "src/framepick").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        if path.name == "engines.py":
            continue
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.STRING and re.fullmatch(r"[rbuf]*['\"](.*)['\"]", token.string):
                if token.string.strip("rbuf'\"") in {n for n in engines.ENGINE_NAMES if "-" in n}:
                    spelled.append(f"{path.relative_to(ROOT)}:{token.start[0]}")
    assert spelled == []


def test_available_engines_follow_the_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    engines.available_engines.cache_clear()
    try:
        monkeypatch.setattr(engines, "cpu_has_bf16", lambda: True)
        monkeypatch.setattr(engines, "cuda_available", lambda: True)
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
        assert tuple(engines.available_engines()) == engines.ENGINE_NAMES
        engines.available_engines.cache_clear()
        monkeypatch.setattr(engines, "cpu_has_bf16", lambda: False)
        monkeypatch.setattr(engines, "cuda_available", lambda: False)
        assert tuple(engines.available_engines()) == ("torch", "onnx", "openvino")
    finally:
        engines.available_engines.cache_clear()


def test_signatures_are_the_cache_keys_of_before() -> None:
    """What each engine computes in is part of every cache key: these must not drift."""
    legacy = {
        "torch": "torch-fp32",
        "torch-bf16": "torch-bf16",
        "torch-fp16": "torch-fp16",
        "onnx": "onnxruntime-fp32",
        "openvino": "openvino-fp32",
        "openvino-bf16": "openvino-bf16",
    }
    assert {e.name: e.compute for e in engines.ENGINES} == legacy
    for name, compute in legacy.items():
        assert ResolvedModel(BuiltinModel(160), name).signature == f"efficientnet-lite0/160/{compute}"


def test_unknown_engine_is_refused_before_anything_loads() -> None:
    with pytest.raises(ModelError, match="embedding engine 'tensorrt' is not available here; available: auto"):
        resolve_model(ModelSpec(engine="tensorrt"), load=False)
