"""The report's selection-strategy section and the datapool on the map, checked on the page itself.

A plain run (with the cheap ``FakeEmbedder``) is given, after the fact, the report.json
sections and the ``pool_embeddings`` a run with strategies and a datapool writes; then
``framepick report`` rebuilds the page from those files, and the page's SVG is parsed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import framepick
from framepick import load_config
from framepick.report import rebuild_report
from framepick.report.stats import REPORT_STATS_NPZ, ReportStats
from framepick.report.strategy_views import plan_strategies
from framepick.results import CANDIDATES_NPZ, Candidates
from media import FakeEmbedder

LENGTH = 5
POOL_COPIES = 3  # datapool items that are copies of candidates: they must land on those candidates' points


@pytest.fixture(scope="module")
def plain_run(scenes_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("strategies") / "out"
    cfg = load_config(
        overrides={
            "input_dir": str(scenes_input),
            "output_dir": str(out),
            "selected_sequence_length": LENGTH,
            "stopping_condition.n_samples": 6 * LENGTH,
        }
    )
    framepick.run(cfg, embedder=FakeEmbedder())
    return out


def _strategy_entries(candidates: Candidates, names: list[str]) -> list[dict[str, Any]]:
    """One entry of each kind, as a run with these strategies writes them; BALANCE from the real sources."""
    per_source = np.bincount(candidates.source, minlength=len(names)).tolist()
    chosen = np.bincount(candidates.source[candidates.rank > 0], minlength=len(names)).tolist()
    return [
        {
            "label": "DIVERSITY on EMBEDDINGS",
            "input": {"type": "EMBEDDINGS"},
            "strategy": {"type": "DIVERSITY", "strength": 1.0},
            "objective": {"measure": "covering radius of the candidates", "before": None, "after": 0.4321},
        },
        {
            "label": "WEIGHTS on METADATA lightly.sharpness",
            "input": {"type": "METADATA", "key": "lightly.sharpness"},
            "strategy": {"type": "WEIGHTS", "strength": 1.0},
            "objective": {"measure": "mean value", "before": 12.3, "after": 20.1},
            "histogram": {
                "edges": np.linspace(0.0, 40.0, 5).tolist(),
                "candidates": [10, 8, 5, 2],
                "selected": [0, 1, 2, 3],
            },
        },
        {
            "label": "THRESHOLD on SCORES s",
            "input": {"type": "SCORES", "score": "s"},
            "strategy": {"type": "THRESHOLD", "threshold": 0.5, "operation": "BIGGER"},
            "objective": {"measure": "share of sequences passing", "before": 0.6, "after": 1.0},
            "histogram": {"edges": [0.0, 0.25, 0.5, 0.75, 1.0], "candidates": [4, 6, 9, 6], "selected": [0, 0, 4, 2]},
        },
        {
            "label": "BALANCE on METADATA video_name",
            "input": {"type": "METADATA", "key": "video_name"},
            "strategy": {"type": "BALANCE", "strength": 1.0, "target": {n: 1 / len(names) for n in names}},
            "objective": {
                "measure": "share of each value (target, candidates, selection)",
                "values": names,
                "target": [1 / len(names)] * len(names),
                "before": [c / sum(per_source) for c in per_source],
                "after": [c / sum(chosen) for c in chosen],
            },
            "bars": {"values": names, "candidates": per_source, "selected": chosen},
            "reached": False,
            "message": "could not reach its target: too few candidates of 'folder'",
        },
    ]


def _with_strategies(plain: Path, out: Path, pool_rows: int, seed: int = 3) -> Path:
    """A copy of ``plain`` as a run with strategies and a datapool of ``pool_rows`` items would have written it."""
    shutil.copytree(plain, out)
    (out / REPORT_STATS_NPZ).unlink()  # made again by the rebuild, as the run makes it: with the pool
    candidates = Candidates.load(out / CANDIDATES_NPZ)
    report = json.loads((out / "report.json").read_text())
    names = [s["name"] for s in report["sources"]]
    rng = np.random.default_rng(seed)
    copies = candidates.embeddings[:POOL_COPIES]
    others = rng.normal(candidates.embeddings.mean(0), 0.05, (pool_rows - POOL_COPIES, candidates.embeddings.shape[1]))
    pool = np.vstack([copies, others]).astype(np.float32)
    dataclasses.replace(candidates, pool_embeddings=pool).save(out / CANDIDATES_NPZ)
    k = int((candidates.rank > 0).sum())
    report["strategies"] = _strategy_entries(candidates, names)
    report["candidates_excluded"] = {"THRESHOLD on s": 4, "no value for s": 1}
    report["value_files"] = {
        "scores": {"file": "/in/scores.csv", "rows_matched": 120, "unmatched": 2, "unmatched_examples": ["x.png", "y"]}
    }
    report["datapool"] = {
        "folder": "/pool",
        "signature": "fake",
        "items_before": pool_rows,
        "new_items": k,
        "items_after": pool_rows + k,
    }
    (out / "report.json").write_text(json.dumps(report))
    return out


def _svgs(html: str, cls: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(rf'<svg class="{cls}".*?</svg>', html, re.S)]


def _bars(svg: ET.Element, series: str) -> list[tuple[int, float]]:
    """(count, height in pixels) of each bar of one series, left to right."""
    return [
        (int(r.get("data-n", "-1")), float(r.get("height", "nan")))
        for r in svg.iter("rect")
        if r.get("class") == series
    ]


def _pca_map(html: str) -> ET.Element:
    return next(svg for svg in _svgs(html, "map") if svg.get("id") == "map-pca")


def test_strategy_section_shows_each_strategy_and_its_distribution(plain_run: Path, tmp_path: Path) -> None:
    out = _with_strategies(plain_run, tmp_path / "run", pool_rows=12)
    report = rebuild_report(out)
    html = (out / "report.html").read_text()
    entries = report["strategies"]
    section = re.search(r'<section id="strategies">.*?</section>', html, re.S)
    assert section is not None and '<a href="#strategies">' in html
    assert report["page"]["strategies"] == 4
    assert section.group(0).count('<div class="strategy"') == 4
    charts = {int(svg.get("data-strategy", "-1")): svg for svg in _svgs(html, "strategy-chart")}
    assert sorted(charts) == [1, 2, 3]  # DIVERSITY has no input distribution to draw
    for i, series_key in {1: "histogram", 2: "histogram", 3: "bars"}.items():
        given = entries[i][series_key]
        scales = []
        for series, key in (("cand", "candidates"), ("sel", "selected")):
            bars = _bars(charts[i], series)
            assert [n for n, _ in bars] == given[key]
            # each series is scaled to its own total: heights are proportional to the counts
            total = sum(given[key])
            scale = max(h for _, h in bars) / (max(given[key]) / total)  # pixels per share (written to 0.1 px)
            assert [h for _, h in bars] == pytest.approx([n / total * scale for n in given[key]], abs=0.06)
            scales.append(scale)
        assert scales[0] == pytest.approx(scales[1], rel=0.01)  # both series on one share axis
    assert charts[3].get("data-kind") == "bars" and charts[1].get("data-kind") == "histogram"
    assert len([line for line in charts[3].iter("line") if line.get("class") == "mark"]) == len(
        entries[3]["bars"]["values"]
    )
    threshold = [line for line in charts[2].iter("line") if line.get("class") == "mark"]
    assert len(threshold) == 1 and threshold[0].get("x1") == threshold[0].get("x2")  # the threshold, vertical
    text = re.sub(r"<[^>]+>", "", section.group(0))
    assert "mean value: before 12.3 → after 20.1" in text
    assert "share of sequences passing: before 60.0% → after 100.0%" in text
    assert "covering radius of the candidates: before n/a → after 0.4321" in text
    assert "<p class='warn'>could not reach its target: too few candidates of &#x27;folder&#x27;</p>" in html
    rows = re.findall(r"<tr>(<td>.*?)</tr>", section.group(0))
    names = entries[3]["bars"]["values"]
    assert len(rows) == len(names)
    first = re.findall(r"<td>(.*?)</td>", rows[0])
    assert first[0] == names[0] and first[2].startswith(f"{entries[3]['bars']['candidates'][0]:,} (")
    assert re.search(r"<th>THRESHOLD on s</th><td class='n'>4</td>", html)
    assert "scores file /in/scores.csv: 120 rows matched, 2 matched no frame (e.g. x.png, y)" in html


def test_a_reached_balance_is_not_a_warning() -> None:
    entry = {
        "label": "BALANCE on METADATA weather",
        "strategy": {"type": "BALANCE"},
        "objective": {"measure": "share", "values": ["a"], "target": [1.0], "before": [1.0], "after": [1.0]},
        "bars": {"values": ["a"], "candidates": [3], "selected": [2]},
        "reached": True,
        "message": "reached its target within one sequence",
    }
    empty = {
        "label": "WEIGHTS on SCORES u",
        "strategy": {"type": "WEIGHTS"},
        "objective": {},
        "histogram": {"edges": []},
    }
    section = plan_strategies({"strategies": [entry, empty]})
    assert section is not None
    balance, weights = section.strategies
    assert (
        not balance.warning
        and balance.chart is not None
        and balance.rows[0] == ("a", "100.0%", "3 (100.0%)", "2 (100.0%)")
    )
    assert weights.chart is None and (weights.before, weights.after) == ("n/a", "n/a")  # no values: no chart
    assert plan_strategies({"strategies": []}) is None and plan_strategies({}) is None


def test_datapool_on_the_map_and_in_the_plot(plain_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import framepick.report.plots as plots

    drawn: list[np.ndarray | None] = []
    real = plots.plot_scatter

    def spy(*args: Any, **kwargs: Any) -> None:
        drawn.append(args[8] if len(args) > 8 else kwargs.get("pool_xy"))
        real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_scatter", spy)
    pool_rows = 12
    out = _with_strategies(plain_run, tmp_path / "run", pool_rows=pool_rows)
    report = rebuild_report(out)
    html = (out / "report.html").read_text()
    stats = ReportStats.load(out / REPORT_STATS_NPZ)
    assert stats.pool_xy.shape == (pool_rows, 2)
    assert drawn and drawn[0] is not None and np.array_equal(drawn[0], stats.pool_xy)  # candidates plot
    pca = _pca_map(html)
    groups = [g for g in pca.iter("g") if g.get("class") == "pool"]
    assert len(groups) == 1 and groups[0].get("data-n") == str(pool_rows) and len(list(groups[0])) == pool_rows
    # drawn under the selected points and over the others
    children = list(pca)
    at = children.index(groups[0])
    assert all(c.get("class") != "sel" for c in children[:at]) and all(
        c.get("class") == "sel" for c in children[at + 1 :]
    )
    # a pool item equal to a candidate is projected with the same PCA: its cross is centred on that candidate
    circles = {
        int(c.get("data-i", "-1")): (float(c.get("cx", "nan")), float(c.get("cy", "nan"))) for c in pca.iter("circle")
    }
    for j, path in enumerate(list(groups[0])[:POOL_COPIES]):
        x, y = (float(v) for v in re.match(r"M(\S+) (\S+)l", path.get("d", "")).groups())  # type: ignore[union-attr]
        assert (x + 3, y + 3) == pytest.approx(circles[j], abs=0.11)
    assert f"datapool (earlier runs): {pool_rows}</span>" in html
    k = report["counts"]["selected_sequences"]
    assert f"{pool_rows} earlier picks in the datapool, {k} new ({pool_rows + k} after this run)" in html
    assert report["page"]["map"]["datapool"] == {"items": pool_rows, "points": pool_rows, "sampled": False}


def test_datapool_beyond_the_map_limit_is_sampled(
    plain_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("framepick.report.layout.MAP_POINTS", 8)
    out = _with_strategies(plain_run, tmp_path / "run", pool_rows=30)
    report = rebuild_report(out)
    html = (out / "report.html").read_text()
    group = next(g for g in _pca_map(html).iter("g") if g.get("class") == "pool")
    assert group.get("data-n") == "8" and len(list(group)) == 8
    assert "datapool (earlier runs): 30 (8 drawn)" in html
    assert report["page"]["map"]["datapool"] == {"items": 30, "points": 8, "sampled": True}
    assert any(
        n.startswith("The map shows 8 of the 30 datapool items: a random sample") for n in report["page"]["notes"]
    )


def test_rebuilding_twice_gives_the_same_page(plain_run: Path, tmp_path: Path) -> None:
    out = _with_strategies(plain_run, tmp_path / "run", pool_rows=12)
    rebuild_report(out)  # computes report_stats.npz (with the pool's coordinates), as a run does
    first = (out / "report.html").read_text()
    rebuild_report(out)  # loads it
    assert (out / "report.html").read_text() == first
    # statistics saved before this version (no pool_xy): the page says why the pool is missing
    stats = ReportStats.load(out / REPORT_STATS_NPZ)
    dataclasses.replace(stats, pool_xy=np.zeros((0, 2))).save(out / REPORT_STATS_NPZ)
    report = rebuild_report(out)
    html = (out / "report.html").read_text()
    assert 'class="pool"' not in html and "datapool (earlier runs)" not in html
    assert any("datapool items are not on the map" in n for n in report["page"]["notes"])


def test_a_plain_run_has_no_strategy_section_nor_pool(plain_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(plain_run, out)
    report = rebuild_report(out)
    html = (out / "report.html").read_text()
    assert 'id="strategies"' not in html and "#strategies" not in html and "strategy-chart" not in html
    assert 'class="pool"' not in html and 'id="datapool"' not in html and "earlier picks" not in html
    assert "strategies" not in report["page"] and "datapool" not in report["page"]["map"]
    assert ReportStats.load(out / REPORT_STATS_NPZ).pool_xy.shape == (0, 2)  # files without pool_xy still load
    assert len(list(_pca_map(html).iter("circle"))) == report["counts"]["sequence_candidates"]


def test_a_run_with_strategies_and_a_datapool(scenes_input: Path, tmp_path: Path) -> None:
    """End to end: the second of two runs into one datapool shows the first run's picks and its strategies."""
    strategies = [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
        {"input": {"type": "METADATA", "key": "lightly.sharpness"}, "strategy": {"type": "WEIGHTS"}},
        {
            "input": {"type": "METADATA", "key": "video_name"},
            "strategy": {"type": "BALANCE", "target": {"a.mp4": 0.5, "folder": 0.5}},
        },
    ]
    for run in ("first", "second"):
        cfg = load_config(
            overrides={
                "input_dir": str(scenes_input),
                "output_dir": str(tmp_path / run),
                "selected_sequence_length": LENGTH,
                "stopping_condition.n_samples": 3 * LENGTH,
                "selection.strategies": strategies,
                "datapool": str(tmp_path / "pool"),
            }
        )
        framepick.run(cfg, embedder=FakeEmbedder())
    first = json.loads((tmp_path / "first" / "report.json").read_text())
    out = tmp_path / "second"
    report = json.loads((out / "report.json").read_text())
    html = (out / "report.html").read_text()
    earlier = first["counts"]["selected_sequences"]
    assert report["datapool"]["items_before"] == earlier
    group = next(g for g in _pca_map(html).iter("g") if g.get("class") == "pool")
    assert int(group.get("data-n", "0")) == len(list(group)) == earlier
    assert f"datapool (earlier runs): {earlier}</span>" in html
    assert f"{earlier} earlier picks in the datapool, {report['counts']['selected_sequences']} new" in html
    charts = {int(svg.get("data-strategy", "-1")): svg for svg in _svgs(html, "strategy-chart")}
    drawn = {i: e.get("histogram") or e.get("bars") for i, e in enumerate(report["strategies"])}
    assert sorted(charts) == [i for i, d in drawn.items() if d and d.get("candidates")]
    for i, svg in charts.items():
        assert [n for n, _ in _bars(svg, "sel")] == [int(v) for v in drawn[i]["selected"]]
    assert report["page"]["strategies"] == len(report["strategies"]) == 3
    rebuild_report(out)
    again = (out / "report.html").read_text()
    rebuild_report(out)
    assert (out / "report.html").read_text() == again
