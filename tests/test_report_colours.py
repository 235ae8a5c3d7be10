"""A source has one colour everywhere: in every plot under plots/ and on the page (page.colour).

Drawn directly, with source indices of 10 and more among few sources that have candidates (the
others too short to make a sequence): each source keeps its own colour, none falls onto another's.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_hex

from framepick.report import plots
from framepick.report.page import PALETTE, colour

NAMES = [f"cam{i:02d}.mp4" for i in range(25)]  # 25 sources; only some have candidates
SOURCES = np.array([0, 0, 3, 10, 10, 15, 15, 21, 12])  # 21 is 1 apart from 0 mod 20: still distinct


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plots draw, instead of their PNG files."""
    drawn: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig))
    return drawn


def _hex(colours: Any) -> list[str]:
    return [to_hex(c) for c in np.asarray(colours)]


def _by_source(sources: np.ndarray, colours: Any) -> dict[int, set[str]]:
    got: dict[int, set[str]] = {}
    for src, c in zip(sources.tolist(), _hex(colours)):
        got.setdefault(src, set()).add(c)
    return got


def test_source_colours_are_the_page_colours() -> None:
    assert _hex(plots.source_colours(np.arange(45))) == [colour(s) for s in range(45)]
    assert len(set(PALETTE)) == 20  # sources 0-19 all differ


def test_candidates_scatter_colours_each_source_as_the_page_does(figures: list[Any]) -> None:
    xy = np.random.default_rng(0).normal(size=(len(SOURCES), 2))
    selected = np.zeros(len(SOURCES), bool)
    selected[::2] = True
    plots.plot_scatter(Path("unused.png"), xy, SOURCES, selected, NAMES, "t")
    [fig] = figures
    rest, chosen = fig.axes[0].collections
    got = _by_source(SOURCES[~selected], rest.get_facecolors()[:, :3])
    for src, c in _by_source(SOURCES[selected], chosen.get_facecolors()).items():
        got.setdefault(src, set()).update(c)
    assert got == {int(s): {colour(int(s))} for s in np.unique(SOURCES)}
    legend = fig.axes[0].get_legend()
    assert {
        t.get_text(): to_hex(h.get_markerfacecolor()) for t, h in zip(legend.get_texts(), legend.legend_handles)
    } == {NAMES[s]: colour(int(s)) for s in np.unique(SOURCES)}


def test_frame_trails_colour_each_source_as_the_page_does(figures: list[Any]) -> None:
    point_source = np.repeat([10, 15, 3, 12], 3)  # four sequences of three frames
    sequence = np.repeat(np.arange(4), 3)
    xy = np.random.default_rng(1).normal(size=(len(point_source), 2))
    plots.plot_trails(Path("unused.png"), xy, sequence, point_source, SOURCES, NAMES, "t", ("x", "y"))
    [fig] = figures
    trails, points = fig.axes[0].collections
    assert _hex(trails.get_colors()[:, :3]) == [colour(s) for s in (10, 15, 3, 12)]
    assert _by_source(point_source, points.get_facecolors()) == {s: {colour(s)} for s in (3, 10, 12, 15)}
    assert len({colour(s) for s in (3, 10, 12, 15)}) == 4


def test_timeline_rows_colour_each_source_as_the_page_does(figures: list[Any]) -> None:
    inputs = SimpleNamespace(
        report={"sources": [{"name": name, "frames": 100} for name in NAMES[:12]]},
        selected=np.array([0, 1, 2]),
        source=np.array([0, 10, 11]),
        start=np.array([0, 20, 40]),
        length=10,
    )
    plots.plot_timeline(Path("unused.png"), inputs)  # type: ignore[arg-type]
    [fig] = figures
    bars = fig.axes[0].collections[-1]
    assert _hex(bars.get_facecolors()) == [colour(0), colour(10), colour(11)]
