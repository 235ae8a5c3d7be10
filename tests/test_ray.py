"""executor=ray (issue #11) on a real local Ray with 2 CPUs: the same results as the local
executor, chunked long videos, killed workers, broken sources, the cache and Ctrl-C.

One Ray session serves the module (starting Ray costs seconds); the executor uses a Ray that
is already initialised in the process. Its ``worker_process_setup_hook`` arms a fault in
every worker: the first decoding attempt after a test creates the marker file kills its
worker (``os._exit``), so a test can have Ray lose a task mid-run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

import framepick  # noqa: E402
from framepick import load_config  # noqa: E402
from framepick.chunks import plan_chunks  # noqa: E402
from framepick.config import RayConfig  # noqa: E402
from framepick.discover import scan_input  # noqa: E402
from framepick.distributed import embed_sources_ray  # noqa: E402
from framepick.embed import SourceFrames, embed_sources  # noqa: E402
from framepick.engines import ENGINE_NAMES, available_engines  # noqa: E402
from framepick.errors import ConfigError, ModelError  # noqa: E402
from framepick.models.resolved import ResolvedModel  # noqa: E402
from framepick.models.sources import BuiltinModel  # noqa: E402
from framepick.sequences import SequenceLayout  # noqa: E402
from media import FakeEmbedder, frame_folder, scene_frame, scene_video  # noqa: E402

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
CHUNK = 25  # ray.chunk_frames here: the 120-frame videos are cut into four or five chunks


def _kill_first_decode(marker: str) -> Callable[[], None]:
    """A worker setup hook: while ``marker`` exists, the next decoding attempt removes it and
    kills its worker process (only one attempt can remove it, so the retry succeeds)."""

    def hook() -> None:
        import framepick.distributed as distributed

        decoded = distributed._decoded

        def dying(*args: Any, **kwargs: Any) -> Any:
            try:
                os.unlink(marker)
            except FileNotFoundError:
                return decoded(*args, **kwargs)
            os._exit(1)

        distributed._decoded = dying

    return hook


@pytest.fixture(scope="module")
def kill_marker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 2-CPU Ray for the module; the returned path arms the decoding fault when created."""
    marker = tmp_path_factory.mktemp("fault") / "kill-next-decode"
    ray.init(
        address="local",  # never another Ray on this machine
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={"worker_process_setup_hook": _kill_first_decode(str(marker))},
    )
    yield marker
    ray.shutdown()


class DyingEmbedder(FakeEmbedder):
    """FakeEmbedder whose actor process dies on its first batch while ``marker`` exists."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = str(marker)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        try:
            os.unlink(self.marker)
        except FileNotFoundError:
            return super().embed(pixels)
        os._exit(1)


def bframe_video(path: Path, scenes: tuple[str, ...], per_scene: int, gop: int = 12, cut: float | None = None) -> Path:
    """H.264 with B-frames (3, reordered) and a keyframe every ``gop`` frames; ``cut``: keep
    only that fraction of the file's bytes (a truncated file)."""
    frames = [scene_frame(s, t) for s in scenes for t in range(per_scene)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 96
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": str(gop), "bf": "3", "preset": "fast", "crf": "18", "sc_threshold": "0"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if cut is not None:
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * cut)])
    return path


@pytest.fixture(scope="module")
def media_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Videos (one short and lossless, two long with B-frames), a 60-frame folder, loose images."""
    root = tmp_path_factory.mktemp("raymedia")
    scene_video(root / "a.mp4", ["checker", "stripes", "noise"], 20)
    bframe_video(root / "long" / "b.mp4", ("gradient", "circles", "checker", "stripes"), 30)
    bframe_video(root / "long" / "c.mkv", ("noise", "diagonal", "circles"), 40, gop=10)
    frame_folder(root / "folder", ["diagonal", "gradient", "stripes"], 20)
    for i, scene in enumerate(("checker", "circles", "noise")):
        Image.fromarray(scene_frame(scene, 7 * i)).save(root / f"img{i}.png")
    return root


@pytest.fixture(scope="module")
def broken_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good video, a truncated long mkv (chunked: its last chunk meets the cut), a truncated
    mp4, a text file named .mp4 and a frame folder with a truncated PNG."""
    root = tmp_path_factory.mktemp("raybroken")
    scene_video(root / "good.mp4", ["checker", "stripes"], 20)
    bframe_video(root / "cut.mkv", ("noise", "diagonal", "circles", "gradient"), 30, gop=10, cut=0.7)
    bframe_video(root / "cut.mp4", ("stripes", "circles"), 30, cut=0.6)
    (root / "fake.mp4").write_text("this is a text file, not a video\n")
    folder = frame_folder(root / "frames", ["stripes"], 15)
    png = folder / "frame_003.png"
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])
    return root


def _config(input_dir: Path, out: Path, **kw: object) -> framepick.Config:
    values: dict[str, object] = {
        "input_dir": str(input_dir),
        "output_dir": str(out),
        "selected_sequence_length": 10,
        "stopping_condition.n_samples": 80,
        "cache_dir": None,
        "ray.chunk_frames": CHUNK,
    }
    values.update(kw)
    return load_config(overrides=values)


def _runs(input_dir: Path, tmp: Path, embedder: Any = None, **kw: object) -> tuple[Any, Any]:
    """The local run and the Ray run of the same configuration."""
    local = framepick.run(_config(input_dir, tmp / "local", **kw), embedder=FakeEmbedder())
    on_ray = framepick.run(
        _config(input_dir, tmp / "ray", executor="ray", **kw), embedder=embedder if embedder else FakeEmbedder()
    )
    return local, on_ray


def _assert_same_outputs(local: Any, on_ray: Any, sections: tuple[str, ...] = ("counts",)) -> None:
    a, b = Path(local.config.output_dir), Path(on_ray.config.output_dir)
    for rel in (
        "filenames/sampled_filenames.txt",
        "data/sequence_information.json",
        "filenames/corrupt_filenames.txt",
        "filenames/duplicate_filenames.txt",
    ):
        assert (a / rel).read_text() == (b / rel).read_text(), rel
    assert (a / "filenames/sampled_filenames.txt").read_text().strip(), "premise: something is selected"
    report_a, report_b = (json.loads((d / "report.json").read_text()) for d in (a, b))
    for key in (*sections, "corrupt", "left_out", "sequences", "sources"):
        assert report_a[key] == report_b[key], key
    assert local.table.names == on_ray.table.names
    np.testing.assert_allclose(on_ray.table.embeddings, local.table.embeddings, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(on_ray.table.embedded, local.table.embedded)


def _assert_same_frames(got: list[SourceFrames], want: list[SourceFrames]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.digests, g.pts, g.seconds, g.error) == (w.digests, w.pts, w.seconds, w.error)
        assert (g.frame_errors, g.frame_suspects, g.thumbnails) == (w.frame_errors, w.frame_suspects, w.thumbnails)
        assert g.embeddings.shape == w.embeddings.shape and g.embeddings.dtype == w.embeddings.dtype
        np.testing.assert_allclose(g.embeddings, w.embeddings, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(g.embedded, w.embedded)
        np.testing.assert_array_equal(g.metadata, w.metadata)


@pytest.mark.parametrize(
    ("model", "stride"), [("fake", 1), ("fake", 3), ("none", 1)], ids=["every-frame", "stride-3", "no-model"]
)
def test_same_source_frames_as_embed_sources(
    kill_marker: Path, media_input: Path, model: str, stride: int, caplog: pytest.LogCaptureFixture
) -> None:
    """embed_sources_ray returns embed_sources' SourceFrames field for field, with long
    videos cut into chunks, the frame folder into file ranges and the images grouped."""
    sources = scan_input(media_input).sources
    embedder = FakeEmbedder() if model == "fake" else None
    layout = SequenceLayout(10, stride)
    kw: dict[str, Any] = {"embed_frame": layout.embeds if layout.strided else None, "thumbnails": True}
    kw["decode_size"] = 32
    want = embed_sources(sources, embedder, batch_size=16, **kw)
    done: list[int] = []
    counted: list[int] = []
    with caplog.at_level(logging.INFO, logger="framepick"):
        got = embed_sources_ray(
            sources,
            embedder,
            RayConfig(chunk_frames=CHUNK),
            batch_size=16,
            progress=counted.append,
            on_source_done=lambda i, r: done.append(i),
            **kw,
        )
    _assert_same_frames(got, want)
    assert sorted(done) == list(range(len(sources)))
    assert sum(counted) == sum(r.n_frames for r in want), "progress counts every frame once"
    log = caplog.text
    assert "2 videos cut into" in log and "0 sources decoded whole again" in log, log


def test_model_that_does_not_load_fails_the_run(kill_marker: Path, media_input: Path) -> None:
    """A model that cannot load in the actors (the driver resolved an engine this machine does
    not have) is the ModelError a local run raises, not a Ray error about a dead actor."""
    missing = [name for name in ENGINE_NAMES if name not in available_engines()]
    if not missing:
        pytest.skip("every engine is available here")
    sources = scan_input(media_input / "long").sources
    model = ResolvedModel(BuiltinModel(32), missing[0])
    with pytest.raises(ModelError, match=f"embedding engine '{missing[0]}' is not available here"):
        embed_sources_ray(sources, model, RayConfig())


def test_run_equals_local(kill_marker: Path, media_input: Path, tmp_path: Path) -> None:
    """The whole run: same selection, sequence information, frame names and embeddings,
    with sequences of 10 frames crossing the chunk borders of the long videos."""
    local, on_ray = _runs(media_input, tmp_path, **{"ray.max_in_flight": 3})
    _assert_same_outputs(local, on_ray)
    names = (tmp_path / "ray/filenames/sampled_filenames.txt").read_text()
    assert "long/b-" in names or "long/c-" in names, "premise: frames of the chunked videos are selected"


def test_shots_equal_local_with_cuts_on_chunk_borders(kill_marker: Path, media_input: Path, tmp_path: Path) -> None:
    """sequence_boundaries=shots: the Ray run finds the local run's shots, with c.mkv's cuts (frames
    40 and 80) exactly where its chunks meet and b.mp4's (30, 60, 90) inside chunks."""
    local, on_ray = _runs(media_input, tmp_path, sequence_boundaries="shots")
    _assert_same_outputs(local, on_ray, ("counts", "shots"))
    assert (tmp_path / "local/data/shots.csv").read_text() == (tmp_path / "ray/data/shots.csv").read_text()
    cuts = on_ray.report["shots"]["cuts_by_source"]
    assert cuts["long/b.mp4"] == [30, 60, 90] and cuts["long/c.mkv"] == [40, 80]
    borders = {s.name: [c.first_index for c in plan_chunks(s, CHUNK)[1:]] for s in on_ray.sources if s.kind == "video"}
    assert set(cuts["long/c.mkv"]) <= set(borders["long/c.mkv"]), "premise: cuts on chunk borders"
    assert not set(cuts["long/b.mp4"]) & set(borders["long/b.mp4"]), "premise: cuts inside chunks"


def test_killed_workers_are_retried(kill_marker: Path, media_input: Path, tmp_path: Path) -> None:
    """A decoding worker and an embedding actor die mid-run: Ray retries the task and
    restarts the actor, and the run writes the same result."""
    actor_marker = tmp_path / "kill-actor"
    kill_marker.touch()
    actor_marker.touch()
    local, on_ray = _runs(media_input, tmp_path, embedder=DyingEmbedder(actor_marker))
    assert not kill_marker.exists(), "premise: a decoding worker was killed"
    assert not actor_marker.exists(), "premise: the embedding actor was killed"
    _assert_same_outputs(local, on_ray)


def test_broken_sources_reported_as_locally(
    kill_marker: Path, broken_input: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unreadable and truncated videos and a damaged frame: the same corrupt files, reasons
    and left-out frames as the local run (the cut mkv's error comes from its last chunk)."""
    with caplog.at_level(logging.INFO, logger="framepick"):
        local, on_ray = _runs(
            broken_input, tmp_path, selected_sequence_length=5, **{"stopping_condition.n_samples": 20}
        )
    assert "1 videos cut into" in caplog.text, "premise: the truncated mkv is decoded in chunks"
    _assert_same_outputs(local, on_ray)
    report = json.loads((tmp_path / "ray/report.json").read_text())
    corrupt = report["corrupt"]
    assert "fake.mp4" in corrupt and any("truncated" in str(v) for v in corrupt.values()), corrupt


def test_cache_written_by_the_driver(kill_marker: Path, media_input: Path, tmp_path: Path) -> None:
    """A Ray run fills the cache from the driver; a second Ray run, and a local one, read
    every source from it."""
    cache = tmp_path / "cache"
    kw = {"executor": "ray", "cache_dir": str(cache)}
    first = framepick.run(_config(media_input, tmp_path / "first", **kw), embedder=FakeEmbedder())
    second = framepick.run(_config(media_input, tmp_path / "second", **kw), embedder=FakeEmbedder())
    local = framepick.run(_config(media_input, tmp_path / "local", cache_dir=str(cache)), embedder=FakeEmbedder())
    n = first.summary.counts.sources
    assert first.summary.counts.sources_from_cache == 0 and first.summary.counts.frames_decoded > 0
    for run in (second, local):
        assert run.summary.counts.sources_from_cache == n and run.summary.counts.frames_decoded == 0
    _assert_same_outputs(first, second, sections=())  # the counts say where the frames came from


def test_interrupt_cancels_the_work(kill_marker: Path, media_input: Path, tmp_path: Path) -> None:
    """Ctrl-C in the driver (KeyboardInterrupt) stops the run: no result is written, the
    tasks are cancelled and the actors killed, so the session's CPUs come back."""

    def interrupt(stage: str, advance: int, total: int | None) -> None:
        if stage == "embed":
            raise KeyboardInterrupt

    out = tmp_path / "out"
    cfg = _config(media_input, out, executor="ray", **{"ray.chunk_frames": 10})
    with pytest.raises(KeyboardInterrupt):
        framepick.run(cfg, progress=interrupt, embedder=FakeEmbedder())
    assert not (out / "report.json").exists()
    assert not list(out.glob(".framepick-partial-*"))
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2, "tasks or actors are still holding CPUs"


def _fresh_overrides(input_dir: Path, out: Path, **kw: object) -> dict[str, object]:
    """The configuration of a run in a fresh process that starts its own Ray."""
    values: dict[str, object] = {
        "input_dir": str(input_dir),
        "output_dir": str(out),
        "stopping_condition.n_samples": 20,
        "cache_dir": None,
        "executor": "ray",
        "ray.chunk_frames": CHUNK,
    }
    values.update(kw)
    return values


def _without_ray_address() -> dict[str, str]:
    """This environment without RAY_ADDRESS: the fresh process must not join another Ray."""
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}


_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import framepick, ray
from media import FakeEmbedder
cfg = framepick.load_config(overrides={overrides!r})
result = framepick.run(cfg, embedder=FakeEmbedder())
print("selected", len(result.selected_frame_names), "ray still up:", ray.is_initialized())
"""


def test_framepick_starts_and_stops_its_own_ray(media_input: Path, tmp_path: Path) -> None:
    """With no Ray in the process and no ray.address, the run starts a local Ray, and shuts
    it down when it is done (a fresh process: the module's session is not visible there)."""
    overrides = _fresh_overrides(media_input / "long", tmp_path / "out")
    env = _without_ray_address()
    code = _SCRIPT.format(tests=str(TESTS), overrides=overrides)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "selected 20 ray still up: False" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert (tmp_path / "out/report.json").is_file()


_SMALL_RAY = """
import logging, sys
sys.path.insert(0, {tests!r})
import framepick, ray
from media import FakeEmbedder
ray.init(address="local", num_cpus={cpus}, num_gpus={gpus}, include_dashboard=False, logging_level=logging.WARNING)
cfg = framepick.load_config(overrides={overrides!r})
result = framepick.run(cfg, embedder=FakeEmbedder())
print("cluster CPUs", ray.cluster_resources()["CPU"], "selected", len(result.selected_frame_names))
"""


@pytest.mark.parametrize(("cpus", "gpus"), [(1, 0), (2, 2)], ids=["1-cpu", "2-cpu-2-gpu"])
def test_small_ray_runs_and_equals_local(media_input: Path, tmp_path: Path, cpus: int, gpus: int) -> None:
    """Rays where the embedding actors could hold every CPU: one CPU, or two CPUs and two GPUs
    (an actor per GPU). No decoding task could start, and the run would wait for ever; the
    actors must leave room, and the run completes with the local executor's result. (The
    GPUs are only Ray resources here: FakeEmbedder runs on the CPU.)"""
    overrides = _fresh_overrides(
        media_input, tmp_path / "ray", **{"selected_sequence_length": 10, "stopping_condition.n_samples": 80}
    )
    env = _without_ray_address()
    code = _SMALL_RAY.format(tests=str(TESTS), overrides=overrides, cpus=cpus, gpus=gpus)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"cluster CPUs {cpus:.1f} selected 80" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    local = framepick.run(_config(media_input, tmp_path / "local"), embedder=FakeEmbedder())
    a, b = Path(local.config.output_dir), tmp_path / "ray"
    for rel in ("filenames/sampled_filenames.txt", "data/sequence_information.json"):
        assert (a / rel).read_text() == (b / rel).read_text(), rel
    np.testing.assert_allclose(
        np.loadtxt(b / "data/embeddings.csv", delimiter=",", skiprows=1, usecols=range(1, 49)),
        np.loadtxt(a / "data/embeddings.csv", delimiter=",", skiprows=1, usecols=range(1, 49)),
        rtol=0,
        atol=1e-4,
    )


class _FakeRay:
    """The call _actor_layout and _check_fits make of Ray, for a made-up cluster of
    (CPUs, GPUs) nodes."""

    def __init__(self, nodes: list[tuple[float, float]]) -> None:
        self.node_resources = nodes

    def nodes(self) -> list[dict[str, Any]]:
        return [{"Alive": True, "Resources": {"CPU": c, "GPU": g}} for c, g in self.node_resources] + [
            {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}  # a dead node counts for nothing
        ]


@pytest.mark.parametrize(
    ("nodes", "per_task", "each", "want"),
    [
        ([(1.0, 0.0)], 1, -1.0, (1, 0.0, 0.0)),  # the only CPU stays free for decoding
        ([(2.0, 0.0)], 1, -1.0, (1, 0.0, 1.0)),
        ([(1.5, 0.0)], 1, -1.0, (1, 0.0, 0.5)),
        ([(16.0, 0.0), (4.0, 0.0), (8.0, 0.0)], 1, -1.0, (3, 0.0, 1.0)),  # one actor a node
        ([(16.0, 0.0), (2.0, 0.0)], 2, -1.0, (2, 0.0, 0.0)),  # the 2-CPU node fits one 2-CPU task only
        ([(0.0, 0.0), (8.0, 0.0)], 1, -1.0, (1, 0.0, 1.0)),  # a head without CPUs has no actor
        ([(8.0, 2.0), (8.0, 2.0)], 1, -1.0, (4, 1.0, 1.0)),  # one actor a GPU
        ([(2.0, 2.0)], 1, -1.0, (2, 1.0, 0.5)),  # two actors share what one task leaves
        ([(4.0, 1.0)], 1, 0.25, (4, 0.25, 0.75)),  # four actors on one GPU
        ([(16.0, 0.0), (2.0, 1.0)], 1, -1.0, (1, 1.0, 1.0)),  # CPU-only nodes hold no GPU actor
        ([(16.0, 0.0)], 1, 0.0, (1, 0.0, 1.0)),  # no GPUs asked for
    ],
)
def test_actor_layout_leaves_room_for_a_decoding_task(
    nodes: list[tuple[float, float]], per_task: int, each: float, want: tuple[int, float, float]
) -> None:
    from framepick.distributed import _actor_layout

    settings = RayConfig(num_cpus_per_task=per_task, num_gpus_per_embedder=each)
    assert _actor_layout(_FakeRay(nodes), settings) == want


def test_task_larger_than_every_node(caplog: pytest.LogCaptureFixture) -> None:
    """Decoding tasks that need more CPUs than any node has would wait for ever: refused on a
    Ray framepick started (it cannot grow), a warning on a joined cluster (an autoscaler may
    add such a node)."""
    from framepick.distributed import _check_fits

    cluster = _FakeRay([(0.0, 0.0), (4.0, 0.0), (2.0, 0.0)])
    _check_fits(cluster, RayConfig(num_cpus_per_task=4), can_grow=False)  # fits on the larger node
    with pytest.raises(ConfigError, match=r"num_cpus_per_task=5.*largest node.*4 CPUs.*lower"):
        _check_fits(cluster, RayConfig(num_cpus_per_task=5), can_grow=False)
    with caplog.at_level(logging.WARNING, logger="framepick"):
        _check_fits(cluster, RayConfig(num_cpus_per_task=5), can_grow=True)
    assert "waits until the cluster has such a node" in caplog.text


def test_oversized_task_on_a_ray_framepick_started_exits_2(media_input: Path, tmp_path: Path) -> None:
    """The command line: exit status 2 and the key to change, and no Ray left running."""
    code = (
        "import sys\n"
        "from framepick.cli import main\n"
        f"sys.exit(main(['run', 'input_dir={media_input / 'folder'}', 'output_dir={tmp_path / 'out'}', "
        "'executor=ray', 'cache_dir=none', 'ray.num_cpus_per_task=1024', 'stopping_condition.n_samples=5']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=_without_ray_address()
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "ray.num_cpus_per_task=1024" in proc.stderr and "lower ray.num_cpus_per_task" in proc.stderr
    assert not (tmp_path / "out/report.json").exists()


_INTERRUPTED = """
import sys, time
sys.path.insert(0, {tests!r})
import framepick, ray
from media import FakeEmbedder

class Slow(FakeEmbedder):
    def embed(self, pixels):
        open({marker!r}, "w").close()
        time.sleep(0.5)
        return super().embed(pixels)

cfg = framepick.load_config(overrides={overrides!r})
try:
    framepick.run(cfg, embedder=Slow())
except KeyboardInterrupt:
    print("interrupted; ray still up:", ray.is_initialized())
    sys.exit(130)
"""


def test_ctrl_c_stops_the_ray_it_started(media_input: Path, tmp_path: Path) -> None:
    """SIGINT to a process whose run started its own Ray: the run stops within seconds, writes
    nothing, and Ray's processes (children of the run's process) are gone."""
    marker = tmp_path / "embedding"
    overrides = _fresh_overrides(media_input / "long", tmp_path / "out", **{"model.batch_size": 4})
    env = _without_ray_address()
    code = _INTERRUPTED.format(tests=str(TESTS), overrides=overrides, marker=str(marker))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "premise: the run got to embedding"
    children = _children(proc.pid)
    assert children, "premise: the run started Ray's processes"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-3000:]
    assert b"interrupted; ray still up: False" in out
    assert not (tmp_path / "out/report.json").exists()
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "Ray processes outlived the run"


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: no procps needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_without_ray_installed_is_a_config_error(media_input: Path, tmp_path: Path) -> None:
    """executor=ray where Ray is not installed: exit status 2 and the install line."""
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from framepick.cli import main\n"
        f"sys.exit(main(['run', 'input_dir={media_input / 'folder'}', 'output_dir={tmp_path / 'out'}', "
        "'executor=ray', 'cache_dir=none', 'stopping_condition.n_samples=5']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "framepick[ray]" in proc.stderr


def test_decoding_task_returns_no_array_per_frame(media_input: Path) -> None:
    """What a decoding task sends the driver holds plain ints where a frame's pixels went,
    not a NumPy array a frame: Ray pickles every array as an out-of-band buffer, which cost
    the driver CPU time a frame."""
    import pickle

    from framepick.distributed import _decode_job, _Piece
    from framepick.scan import FrameRules

    source = next(s for s in scan_input(media_input).sources if s.name == "a.mp4")
    pieces = [_Piece(src=0, gen=0, part=0, source=source)]
    results, pixels = _decode_job(7, pieces, FrameRules(32, embedding=True, embed_frame=lambda i: i % 3 == 0))
    frames = results[0].frames
    assert len(frames) == 60 and pixels.shape == (20, 32, 32, 3)
    assert all(f.pixels is None for f in frames)
    assert [(f.job, f.row) for f in frames if f.shipped] == [(7, r) for r in range(20)]
    assert [f.index for f in frames if f.shipped] == list(range(0, 60, 3))
    buffers: list[pickle.PickleBuffer] = []
    pickle.dumps(results, protocol=5, buffer_callback=buffers.append)
    assert buffers == []
