"""The report package's seams: cheap to import, its files shipped and found, the page planned as
data (pure, frozen) before it is written out."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framepick.report import ReportInputs
from framepick.report.layout import plan_layout
from framepick.report.metrics import coverage_metrics
from framepick.report.page import Drawn, PageModel, plan_page
from framepick.report.render import render_page
from framepick.thumbnails import Thumbnails

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("templates/page.html", "static/page.css", "static/page.js")


def test_importing_does_not_import_matplotlib() -> None:
    code = (
        "import sys, framepick, framepick.report, framepick.pipeline, framepick.cli\n"
        "from framepick.report import plots, write_report, rebuild_report\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_template_and_static_files_are_found_and_shipped() -> None:
    package = resources.files("framepick.report")
    for name in SHIPPED:
        assert package.joinpath(name).is_file(), name
        assert package.joinpath(name).read_text(encoding="utf-8").strip()
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["framepick"]
    for name in SHIPPED:
        assert any(fnmatch.fnmatch(f"report/{name}", p) for p in patterns), f"{name} is not package data"


def _inputs(m: int = 30, k: int = 6, length: int = 4) -> ReportInputs:
    rng = np.random.default_rng(2)
    source = np.arange(m) % 3
    report: dict[str, Any] = {
        "counts": {"sequence_length": length, "sequence_candidates": m, "selected_sequences": k},
        "stopping": {"reason": "n_samples", "message": "stopped <by> n_samples"},
        "metrics": {},
        "sources": [{"name": f"cam{i}<&>.mp4", "kind": "video", "frames": 10 * length * 2} for i in range(3)],
        "sequences": [],
        "config": {"seed": 1},
        "timings_sec": {"select": 0.25},
    }
    inputs = ReportInputs(
        report=report,
        embeddings=rng.normal(size=(m, 5)).astype(np.float32),
        source=source,
        start=(np.arange(m) // 3) * length,
        names=[f"f{i}.png" for i in range(m)],
        length=length,
        selected=rng.permutation(m)[:k],
        embeddings_row=np.arange(m),
    )
    report["metrics"]["coverage"] = coverage_metrics(inputs.embeddings, inputs.selected, 1)[0]
    return inputs


def _plan(inputs: ReportInputs, thumbs: Thumbnails | None) -> PageModel:
    layout = plan_layout(inputs, seed=1)
    xy = np.random.default_rng(0).normal(size=(len(layout.shown), 2))
    drawn = Drawn({"pca": xy}, [0.5, 0.25], "umap-learn is not installed", ["scatter_pca.png"], 3, ("data:,", "data:,"))
    return plan_page(inputs, layout, drawn, thumbs, "", rebuilt=False, coverage=inputs.report["metrics"]["coverage"])


def test_plan_page_is_data_and_render_fills_every_placeholder() -> None:
    inputs = _inputs()
    layout = plan_layout(inputs, seed=1)
    uris = {key: f"data:image/jpeg;base64,{key[0]}x{key[1]}" for key in layout.wanted_keys()}
    model = _plan(inputs, Thumbnails(uris=uris))
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.notes = ()  # type: ignore[misc]
    assert [set(p) for p in model.summary["example_pairs"]] == [{"rank", "selected", "neighbour", "distance"}] * 6
    assert len(model.strips) == 6 and all(len(s.frames) == 4 for s in model.strips)
    assert all(t.uri is not None for s in model.strips for t in s.frames)
    assert model.summary["thumbnails"]["count"] == len(uris) and model.summary["thumbnails"]["available"]
    html = render_page(model)
    assert "${" not in html  # every placeholder filled
    markup = re.sub(r"<script.*?</script>", "", html, flags=re.S)  # JSON data blocks hold raw text
    assert "cam0&lt;&amp;&gt;.mp4" in markup and "cam0<&>" not in markup  # run values are escaped
    assert "stopped &lt;by&gt; n_samples" in html
    assert html.count('class="strip"') == 6 and html.count("<circle") == 30
    for name in ("static/page.css", "static/page.js"):
        assert resources.files("framepick.report").joinpath(name).read_text(encoding="utf-8") in html


def test_plan_page_without_a_reader() -> None:
    model = _plan(_inputs(), None)
    assert not model.summary["thumbnails"]["available"] and model.summary["thumbnails"]["count"] == 0
    assert all(t.uri is None for s in model.strips for t in s.frames)
    assert "UMAP map not drawn: umap-learn is not installed." in model.notes
    assert 'class="noimg"' in render_page(model)
