"""The report: report.json numbers against independent computations, the page in headless Chromium,
``framepick report OUTPUT_DIR``, and the size bounds for large runs."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import framepick
from framepick import load_config
from framepick.cli import main
from framepick.report import (
    FILMSTRIPS,
    LISTED,
    MAP_POINTS,
    NN_SAMPLE,
    ReportInputs,
    build_report,
    coverage_metrics,
    make_stats,
    nearest_distances,
    nn_distances,
)
from framepick.report.stats import REPORT_STATS_NPZ, ReportStats
from framepick.select import random_order
from framepick.thumbnails import from_reader

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# scenes_input: (source, frames) in input order
SOURCES = [("a.mp4", 60), ("b.mp4", 45), ("folder", 20)]


def _run(input_dir: Path, out: Path, **settings: Any) -> Path:
    cfg = load_config(
        overrides={"input_dir": str(input_dir), "output_dir": str(out), "model.input_size": 64, **settings}
    )
    framepick.run(cfg)
    return out


@pytest.fixture(scope="module")
def run_l10(scenes_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(
        scenes_input,
        tmp_path_factory.mktemp("report") / "out",
        selected_sequence_length=10,
        **{"stopping_condition.n_samples": 60},
    )


@pytest.fixture(scope="module")
def run_l1(scenes_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(scenes_input, tmp_path_factory.mktemp("report1") / "out", **{"stopping_condition.n_samples": 10})


def _read_embeddings(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return {r[0]: np.array([float(v) for v in r[1:-1]]) for r in rows[1:]}


def _frame_name(source: str, n: int, i: int) -> str:
    if source.endswith(".mp4"):
        return f"{source[:-4]}-{i:0{len(str(n))}d}-mp4.png"
    return f"{source}/frame_{i:03d}.png"


def _independent(out: Path, length: int) -> dict[str, Any]:
    """Candidates, selection and coverage numbers recomputed from embeddings.csv by brute force."""
    emb = _read_embeddings(out / "data" / "embeddings.csv")
    keys, x = [], []
    for source, n in SOURCES:
        for start in range(0, n - n % length, length):
            keys.append((source, start))
            x.append(np.mean([emb[_frame_name(source, n, start + j)] for j in range(length)], axis=0))
    x = np.array(x)
    info = json.loads((out / "data" / "sequence_information.json").read_text())
    selected = np.array([keys.index((e["video_name"], e["frame_indices"][0])) for e in info])
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))  # fine: a dozen or a hundred rows
    rand, rand_radii, _ = random_order(x.astype(np.float32), len(selected), seed=0)
    off = d + np.diag(np.full(len(x), np.inf))
    d_sel = d[np.ix_(selected, selected)] + np.diag(np.full(len(selected), np.inf))
    return {
        "keys": keys,
        "x": x,
        "selected": selected,
        "radius_before": np.linalg.norm(x - x.mean(0), axis=1).max(),
        "radius_after": d[:, selected].min(1).max(),
        "mean_after": d[:, selected].min(1).mean(),
        "radius_random": d[:, rand].min(1).max(),
        "radius_random_greedy": rand_radii[-1],
        "nn_all": off.min(1),
        "nn_selected": d_sel.min(1),
    }


# ----------------------------------------------------------------------------- report.json numbers


def test_report_json_counts_and_coverage(run_l10: Path) -> None:
    report = json.loads((run_l10 / "report.json").read_text())
    ref = _independent(run_l10, 10)
    counts = report["counts"]
    # a.mp4: 6 sequences; b.mp4: 4 + a 5-frame tail; folder: 2
    assert counts["sequence_candidates"] == len(ref["keys"]) == 12
    assert counts["incomplete_tails"] == 1 and counts["tail_frames_dropped"] == 5
    assert counts["selected_sequences"] == len(ref["selected"]) == 6
    per_source = {s["name"]: (s["candidates"], s["selected_sequences"]) for s in report["sources"]}
    for name, _ in SOURCES:
        sel = sum(1 for i in ref["selected"] if ref["keys"][i][0] == name)
        assert per_source[name] == (sum(1 for k in ref["keys"] if k[0] == name), sel)

    cov = report["metrics"]["coverage"]
    assert cov["candidates"] == 12 and cov["selected"] == 6
    assert cov["radius_before"] == pytest.approx(ref["radius_before"], rel=1e-6)
    assert cov["radius_after"] == pytest.approx(ref["radius_after"], rel=1e-6)
    assert cov["radius_after"] == pytest.approx(report["metrics"]["covering_radius"], rel=1e-4)
    assert cov["mean_distance_to_selection"] == pytest.approx(ref["mean_after"], rel=1e-6)
    assert cov["random"]["radius_after"] == pytest.approx(ref["radius_random"], rel=1e-6)
    assert cov["random"]["radius_after"] == pytest.approx(ref["radius_random_greedy"], rel=1e-4)
    # k-center beats a random pick of the same size on these well-separated scenes
    assert cov["radius_after"] < cov["random"]["radius_after"]
    assert cov["radius_after"] < cov["radius_before"]

    nn = cov["nearest_neighbour"]
    assert not nn["all"]["sampled"] and nn["all"]["queries"] == 12
    assert nn["all"]["max"] == pytest.approx(ref["nn_all"].max(), rel=1e-6)
    assert nn["all"]["median"] == pytest.approx(np.median(ref["nn_all"]), rel=1e-6)
    assert nn["selected"]["min"] == pytest.approx(ref["nn_selected"].min(), rel=1e-6)
    assert sum(nn["all"]["counts"]) == 12 and sum(nn["selected"]["counts"]) == 6
    hist = cov["distance_to_selection"]
    assert sum(hist["selected"]) == sum(hist["random"]) == 12
    assert hist["selected"][0] >= 6  # the selected ones are at distance 0

    page = report["page"]
    assert page["map"]["points"] == page["map"]["candidates"] == 12 and not page["map"]["sampled"]
    assert page["thumbnails"]["available"] and page["thumbnails"]["filmstrip_frame_offsets"] == [0, 2, 4, 7, 9]
    assert len(page["example_pairs"]) == 6
    for pair in page["example_pairs"]:
        i = ref["selected"][pair["rank"] - 1]
        others = [j for j in range(12) if j not in set(ref["selected"])]
        assert pair["distance"] == pytest.approx(min(np.linalg.norm(ref["x"][i] - ref["x"][j]) for j in others))
    for rel in page["plots"]:
        assert (run_l10 / rel).is_file(), rel
    for name in ("scatter_pca", "distance_distr_before", "distance_distr_after", "video_sampling_timeline"):
        assert (run_l10 / "plots" / f"{name}.png").is_file()
    assert page["html_bytes"] == (run_l10 / "report.html").stat().st_size


def test_candidates_csv(run_l10: Path) -> None:
    with open(run_l10 / "data" / "candidates.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ref = _independent(run_l10, 10)
    assert [(r["video_name"], int(r["first_frame"])) for r in rows] == ref["keys"]
    ranks = {int(r["candidate"]): int(r["selected_rank"]) for r in rows}
    assert [i for i, _ in sorted(((i, r) for i, r in ranks.items() if r), key=lambda t: t[1])] == list(ref["selected"])
    assert all(int(r["last_frame"]) == int(r["first_frame"]) + 9 for r in rows)


# ----------------------------------------------------------------------------- the page in Chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium (/usr/bin/chromium) is not installed; .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _open(browser: Any, html: Path) -> tuple[Any, list[str], list[str]]:
    """Open a page, recording console errors and every request that is not the page itself."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page_url = html.resolve().as_uri()

    def route(r: Any) -> None:
        if r.request.url == page_url:
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if r.url != page_url else None)
    page.goto(page_url)
    page.wait_for_load_state("load")
    return page, errors, requests


def test_page_in_chromium(run_l10: Path, browser: Any, tmp_path: Path) -> None:
    page, errors, requests = _open(browser, run_l10 / "report.html")
    report = json.loads((run_l10 / "report.json").read_text())
    # one point per candidate sequence, the selected ones marked
    assert page.locator("svg#map-pca circle[data-i]").count() == report["counts"]["sequence_candidates"] == 12
    assert page.locator("svg#map-pca circle.sel").count() == 6
    # the selected sequences as filmstrips, in selection order, with their images
    strips = page.locator("#strips .strip")
    assert strips.count() == 6
    info = json.loads((run_l10 / "data" / "sequence_information.json").read_text())
    for r, entry in enumerate(info, start=1):
        strip = page.locator(f'.strip[data-rank="{r}"]')
        assert entry["video_name"] in strip.inner_text()
        assert f"{entry['frame_indices'][0]}–{entry['frame_indices'][-1]}" in strip.inner_text()
        assert strip.locator("img").count() == 5
        assert all(
            n > 0 for n in strip.locator("img").evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
        )
    assert page.locator("#radius-after").inner_text() == f"{report['metrics']['coverage']['radius_after']:.4g}"
    assert page.locator("#stopping").get_attribute("data-reason") == report["stopping"]["reason"]
    # the timeline marks every selected sequence (marks that touch at this width are merged)
    titles = page.locator("#timeline rect.mark title").all_text_contents()
    assert sum(int(t.split()[0]) if "selected sequences" in t else 1 for t in titles) == len(info) == 6
    want = {f"#{r}: frames {e['frame_indices'][0]}–{e['frame_indices'][-1]}" for r, e in enumerate(info, start=1)}
    assert {t for t in titles if t.startswith("#")} <= want
    # hovering a selected point shows its name and thumbnail
    page.locator("#map").scroll_into_view_if_needed()
    page.locator("svg#map-pca circle.sel").first.hover()
    tip = page.locator("#fp-tip")
    assert tip.is_visible() and "selected #" in tip.inner_text()
    assert tip.locator("img").count() == 1
    page.screenshot(path=str(tmp_path / "report_map.png"))
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert errors == [] and requests == []
    page.context.close()


def test_page_single_frames(run_l1: Path, browser: Any, tmp_path: Path) -> None:
    """selected_sequence_length=1: one map point per candidate frame, each with a hover thumbnail."""
    page, errors, requests = _open(browser, run_l1 / "report.html")
    report = json.loads((run_l1 / "report.json").read_text())
    assert report["counts"]["sequence_candidates"] == 125
    assert page.locator("svg#map-pca circle[data-i]").count() == 125
    assert page.locator("#strips .strip").count() == 10
    assert page.locator("#strips .strip img").count() == 10
    assert report["page"]["map"]["hover_thumbnails"] == 125
    ref = _independent(run_l1, 1)
    cov = report["metrics"]["coverage"]
    assert cov["radius_after"] == pytest.approx(ref["radius_after"], rel=1e-6)
    assert cov["random"]["radius_after"] == pytest.approx(ref["radius_random"], rel=1e-6)
    page.screenshot(path=str(tmp_path / "report_l1.png"), full_page=True)
    assert errors == [] and requests == []
    page.context.close()


# ----------------------------------------------------------------------------- framepick report


def test_rebuild_gives_the_same_numbers(run_l10: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "copy"
    shutil.copytree(run_l10, out)
    before = json.loads((out / "report.json").read_text())
    shutil.rmtree(out / "plots")
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert "report rebuilt" in capsys.readouterr().out
    after = json.loads((out / "report.json").read_text())
    assert after["metrics"] == before["metrics"]
    assert after["counts"] == before["counts"] and after["sources"] == before["sources"]
    assert after["page"]["rebuilt"] and after["page"]["thumbnails"]["count"] == before["page"]["thumbnails"]["count"]
    assert (out / "plots" / "scatter_pca.png").is_file() and (out / "report.html").is_file()
    assert 'data-k="' in (out / "report.html").read_text()


def test_rebuild_loads_and_recomputes_no_embedding_statistics(
    run_l10: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """framepick report reads candidates.npz and report_stats.npz; nothing computed from embeddings runs."""
    import framepick.embeddings_csv
    import framepick.report.metrics
    import framepick.report.projections
    import framepick.report.stats

    out = tmp_path / "copy"
    shutil.copytree(run_l10, out)
    before = json.loads((out / "report.json").read_text())

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a rebuild must load, not compute")

    for module, name in [
        (framepick.report.stats, "compute_stats"),
        (framepick.report.stats, "coverage_metrics"),
        (framepick.report.stats, "pca_2d_with_ratio"),
        (framepick.report.stats, "umap_2d"),
        (framepick.report.metrics, "nearest_distances"),
        (framepick.report.projections, "fit_pca"),
        (framepick.embeddings_csv, "read_embeddings_csv"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    assert main(["report", str(out)]) == 0
    after = json.loads((out / "report.json").read_text())
    assert after["metrics"] == before["metrics"] and after["sequences"] == before["sequences"]
    # the saved statistics are what the run computed, and the candidates what it selected
    assert (out / "data" / "report_stats.npz").is_file() and (out / "data" / "candidates.npz").is_file()
    (out / "data" / "candidates.npz").unlink()
    assert main(["report", str(out)]) == 1  # an OutputError naming the missing file, exit 1


def test_rebuild_with_frame_stride_gives_the_same_numbers(scenes_input: Path, tmp_path: Path) -> None:
    """embeddings.csv then holds only the embedded frames. Without data/report_stats.npz (a run
    whose report failed) a rebuild computes the statistics again, and the frame map from those
    rows of the CSV (frames 0, 3, 6, 9 of each sequence): the run's numbers and map."""
    out = _run(
        scenes_input,
        tmp_path / "out",
        selected_sequence_length=10,
        embedding_frame_stride=3,
        **{"stopping_condition.n_samples": 30},
    )
    before = json.loads((out / "report.json").read_text())
    with open(out / "data" / "embeddings.csv", newline="") as fh:
        assert sum(1 for _ in fh) - 1 == 12 * 4 + 2  # frames 0, 3, 6, 9 of each of 12 sequences, + b's tail
    saved = ReportStats.load(out / REPORT_STATS_NPZ)
    (out / REPORT_STATS_NPZ).unlink()  # else the rebuild loads every number and never reads the CSV
    assert main(["report", str(out)]) == 0
    after = json.loads((out / "report.json").read_text())
    assert after["metrics"] == before["metrics"]
    again = ReportStats.load(out / REPORT_STATS_NPZ)
    assert saved.frames is not None and again.frames is not None
    assert again.frames.offset.tolist() == saved.frames.offset.tolist() == [0, 3, 6, 9] * 3
    np.testing.assert_allclose(again.frames.xy, saved.frames.xy, atol=1e-5)


def test_rebuild_without_input(scenes_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    shutil.copytree(scenes_input / "folder", src / "folder")
    out = _run(src, tmp_path / "out", selected_sequence_length=5, **{"stopping_condition.n_samples": 10})
    shutil.rmtree(src)
    assert main(["report", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert not report["page"]["thumbnails"]["available"] and report["page"]["thumbnails"]["count"] == 0
    assert any("is gone" in n for n in report["page"]["notes"])
    html = (out / "report.html").read_text()
    assert "data:image/jpeg" not in html and html.count('class="strip"') == 2 and "is gone" in html
    assert "is gone" in capsys.readouterr().out


def test_report_of_a_non_run_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a finished framepick run" in err


# ----------------------------------------------------------------------------- distance kernels


def test_distance_kernels_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(97, 7))
    x[5] = x[9]  # an exact duplicate: nearest-neighbour distance 0
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    monkeypatch.setattr("framepick._linalg.BLOCK_ELEMENTS", 50)  # force many small blocks
    centers = np.array([3, 50, 77])
    assert np.allclose(nearest_distances(x, centers), d[:, centers].min(1), atol=1e-6)
    off = d + np.diag(np.full(len(x), np.inf))
    assert np.allclose(nn_distances(x), off.min(1), atol=1e-6)
    q = np.array([0, 5, 9, 96])
    assert np.allclose(nn_distances(x, q), off[q].min(1), atol=1e-6)
    assert nn_distances(x[:1]).size == 0


def test_coverage_random_baseline_is_random_order() -> None:
    x = np.random.default_rng(1).normal(size=(200, 5)).astype(np.float32)
    selected = np.arange(0, 200, 20)
    numbers, _ = coverage_metrics(x, selected, seed=7)
    _, radii, _ = random_order(x, len(selected), seed=7)
    assert numbers["random"]["radius_after"] == pytest.approx(radii[-1], rel=1e-5)
    assert numbers["selected"] == 10 and not numbers["nearest_neighbour"]["all"]["sampled"]


# ----------------------------------------------------------------------------- size bounds


def test_large_run_stays_bounded(tmp_path: Path) -> None:
    """100,000 frames (50,000 candidate pairs of frames): the page samples and stays under 20 MB."""
    length, n_sources, frames_per_source = 2, 50, 2_000
    m = n_sources * frames_per_source // length
    rng = np.random.default_rng(0)
    source = np.repeat(np.arange(n_sources), m // n_sources)
    start = np.tile(np.arange(0, frames_per_source, length), n_sources)
    selected = rng.choice(m, 3_000, replace=False)
    report: dict[str, Any] = {
        "counts": {"sequence_length": length, "sequence_candidates": m, "selected_sequences": 3_000},
        "stopping": {"reason": "n_samples", "message": "stopped by n_samples"},
        "metrics": {},
        "sources": [{"name": f"cam{i:02d}.mp4", "kind": "video", "frames": frames_per_source} for i in range(50)],
        "sequences": [],
        "config": {"seed": 0, "input_dir": "/nonexistent"},
        "timings_sec": {},
    }
    inputs = ReportInputs(
        report=report,
        embeddings=rng.normal(size=(m, 16)).astype(np.float32),
        source=source,
        start=start,
        names=[f"cam{s:02d}-{i:04d}-mp4.png" for s, i in zip(source, start)],
        length=length,
        selected=selected,
        embeddings_row=np.arange(m) * length,
    )
    asked: list[int] = []

    def noisy_frames(src: int, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        for i in indices:  # noise: the worst case for JPEG size
            asked.append(i)
            yield i, np.random.default_rng(src * 10_000 + i).integers(0, 256, (90, 160, 3), dtype=np.uint8)

    stats = make_stats(tmp_path, inputs)
    section = build_report(tmp_path, inputs, from_reader(noisy_frames), "", rebuilt=False, stats=stats)
    html = (tmp_path / "report.html").read_text()
    size = len(html.encode())
    assert size < 20_000_000, size
    page = section.page
    assert page["html_bytes"] == size
    # bounded reads: filmstrip frames, example pairs and the hover sample only
    assert len(asked) <= FILMSTRIPS * length + 12 + 1_500
    map_svg = re.search(r'<svg class="map" id="map-pca".*?</svg>', html, re.S)
    assert map_svg is not None and map_svg.group(0).count("<circle") == MAP_POINTS
    assert map_svg.group(0).count('class="sel"') == 3_000
    assert page["map"]["sampled"] and page["map"]["points"] == MAP_POINTS
    assert section.coverage is not None
    nn = section.coverage["nearest_neighbour"]
    assert nn["all"]["sampled"] and nn["all"]["queries"] == NN_SAMPLE and nn["all"]["points"] == m
    assert html.count('class="strip"') == FILMSTRIPS
    assert html.count("<tr><td class='n'>#") == LISTED - FILMSTRIPS
    assert page["thumbnails"]["bytes"] <= page["limits"]["thumbnail_budget_bytes"]
    notes = " ".join(page["notes"])
    assert f"{MAP_POINTS:,} of {m:,} candidates" in notes and "sample" in notes
    assert all(note in html for note in page["notes"][:1])


def _fake_inputs(m: int, k: int, length: int = 1, dim: int = 6) -> ReportInputs:
    rng = np.random.default_rng(5)
    source = np.arange(m) % 2
    start = (np.arange(m) // 2) * length
    report: dict[str, Any] = {
        "counts": {"sequence_length": length, "sequence_candidates": m, "selected_sequences": k},
        "stopping": {"reason": "all_candidates" if k == m else "n_samples", "message": "test"},
        "metrics": {},
        "sources": [
            {"name": name, "kind": "frames", "frames": int(((source == i).sum()) * length)}
            for i, name in enumerate(["left", "right"])
        ],
        "sequences": [],
        "config": {"seed": 0},
        "timings_sec": {"select": 0.1},
    }
    return ReportInputs(
        report=report,
        embeddings=rng.normal(size=(m, dim)).astype(np.float32),
        source=source,
        start=start,
        names=[f"f{i}" for i in range(m)],
        length=length,
        selected=rng.permutation(m)[:k],
        embeddings_row=np.arange(m) * length,
    )


@pytest.mark.parametrize(("m", "k"), [(1, 1), (2, 1), (7, 7)])
def test_degenerate_selections(m: int, k: int, tmp_path: Path) -> None:
    """A single candidate, a single pick, everything selected: the page and its numbers still make sense."""
    inputs = _fake_inputs(m, k)
    section = build_report(tmp_path, inputs, None, "no input", rebuilt=True, stats=make_stats(tmp_path, inputs))
    cov = section.coverage
    assert cov is not None
    html = (tmp_path / "report.html").read_text()
    assert html.count("<circle") == m and html.count('class="strip"') == k
    if k == m:
        assert cov["radius_after"] == pytest.approx(0.0, abs=1e-6) and section.page["example_pairs"] == []
        assert "Every candidate was selected" in html
    if k == 1:
        assert cov["nearest_neighbour"]["selected"]["max"] is None
    json.dumps([section.coverage, section.page], allow_nan=False)  # report.json stays valid JSON


def test_umap_map_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With umap-learn importable, a second map and plots/scatter_umap.png appear (stand-in module here)."""
    import sys
    import types

    fake = types.ModuleType("umap")

    class UMAP:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

        def fit_transform(self, x: np.ndarray) -> np.ndarray:
            return np.asarray(x)[:, :2] * 2.0

    fake.UMAP = UMAP  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "umap", fake)
    inputs = _fake_inputs(40, 8)
    section = build_report(tmp_path, inputs, None, "", rebuilt=False, stats=make_stats(tmp_path, inputs))
    html = (tmp_path / "report.html").read_text()
    assert (tmp_path / "plots" / "scatter_umap.png").is_file()
    assert section.page["map"]["projections"] == ["pca", "umap"]
    umap_svg = re.search(r'<svg class="map" id="map-umap".*?</svg>', html, re.S)
    assert umap_svg is not None and umap_svg.group(0).count("<circle") == 40
    assert 'data-p="umap"' in html


def test_a_failing_page_keeps_the_selection(
    scenes_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr("framepick.report.build_report", broken)
    src = tmp_path / "in"
    shutil.copytree(scenes_input / "folder", src / "folder")
    out = _run(src, tmp_path / "out", **{"stopping_condition.n_samples": 3})
    report = json.loads((out / "report.json").read_text())
    assert report["page"] == {"error": "RuntimeError: drawing failed"}
    assert "could not be built" in (out / "report.html").read_text()
    assert len((out / "filenames" / "sampled_filenames.txt").read_text().splitlines()) == 3
    monkeypatch.undo()
    assert main(["report", str(out)]) == 0  # and the page can be rebuilt afterwards
    assert json.loads((out / "report.json").read_text())["page"]["map"]["points"] == 20
