"""Write a :class:`~.page.PageModel` out as ``report.html``: one self-contained page.

The page is ``templates/page.html`` (a :class:`string.Template`) with ``static/page.css`` and
``static/page.js`` inlined, all shipped as package data and found with
:mod:`importlib.resources`. Nothing on the page refers to anything outside it: images are
``data:`` URIs, the maps and timeline are inline SVG, the script is inline, so opening the
page makes no network request. Every value from the run is HTML-escaped here.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from .page import MAP_H, MAP_W, TIMELINE_W, FrameMapView, MapView, PageModel, PairView, Strip, Thumb, TimelineRow
from .strategy_views import (
    CANDIDATES_COLOUR,
    CHART_H,
    CHART_W,
    PLOT_BOTTOM,
    PLOT_LEFT,
    PLOT_TOP,
    SELECTED_COLOUR,
    Chart,
    StrategiesSection,
    StrategyView,
)

__all__ = ["render_page", "resource_text"]

_e = html.escape


@cache
def resource_text(name: str) -> str:
    """A file shipped in this package (``templates/page.html``, ``static/page.css``, ...)."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return _e(str(value))


def _json_script(element_id: str, value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _img(thumb: Thumb) -> str:
    if thumb.uri is None:
        body = '<span class="noimg">no image</span>'
    else:
        body = f'<img data-k="{thumb.key}" src="{thumb.uri}" alt="frame {thumb.index}">'
    return f"<figure>{body}<figcaption>{_e(thumb.caption)}</figcaption></figure>"


def _map_svg(view: MapView, visible: bool) -> str:
    hidden = "" if visible else ' style="display:none"'
    parts = [
        f'<svg class="map" id="map-{view.name}" viewBox="0 0 {MAP_W:.0f} {MAP_H:.0f}" width="{MAP_W:.0f}" '
        f'height="{MAP_H:.0f}" role="img" aria-label="{view.name.upper()} map"{hidden}>'
    ]
    pool_at = next((j for j, c in enumerate(view.circles) if c.selected), len(view.circles))
    for j, c in enumerate(view.circles):
        if j == pool_at and view.pool:
            parts.append(_pool_crosses(view.pool))
        cls = ' class="sel"' if c.selected else ""
        parts.append(
            f'<circle cx="{c.x:.1f}" cy="{c.y:.1f}" r="{4.5 if c.selected else 2.6}" '
            f'fill="{c.colour}"{cls} data-i="{c.i}"/>'
        )
    if pool_at == len(view.circles) and view.pool:
        parts.append(_pool_crosses(view.pool))
    parts.append("</svg>")
    return "".join(parts)


_CROSS = '<path d="M0 0l6 6m0-6l-6 6" stroke="#000" stroke-width="1.3"/>'


def _pool_crosses(pool: tuple[tuple[float, float], ...]) -> str:
    """The datapool's items as black crosses, one ``<path>`` each, styled once by their group:
    under the selected points, over the others (they mark what earlier runs already picked)."""
    crosses = "".join(f'<path d="M{x - 3:.1f} {y - 3:.1f}l6 6m0-6l-6 6"/>' for x, y in pool)
    return f'<g class="pool" data-n="{len(pool)}" stroke="#000" stroke-width="1.3" opacity=".6">{crosses}</g>'


def _trail(points: tuple[tuple[float, float], ...]) -> str:
    """A sequence's frames: a thin line through them in order (``<polyline>``, from two frames on) and
    a dot on each (one ``<path>`` of zero-length strokes with round caps: one element, not one per frame)."""
    line = ""
    if len(points) > 1:
        line = '<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>'
    return line + '<path d="' + "".join(f"M{x:.1f} {y:.1f}h0" for x, y in points) + '"/>'


def _frame_map(view: FrameMapView | None) -> str:
    """The frame map section: the selected sequences' frames on the PCA of all candidate frames, one
    trail (``<g class="trail">``, hover for its sequence) per sequence, in the sources' colours."""
    if view is None:
        return '<p class="muted" id="frame-map-missing">Not drawn: the notes in the summary say why.</p>'
    k, length = view.selected, view.length
    what = f"all {k:,} selected frames" if length == 1 else f"the frames of the {k:,} selected sequences"
    joined = "" if length == 1 else " The frames of each sequence are joined in order: one trail per sequence."
    parts = [
        f'<p class="muted">{view.frames:,} points: {what} on the PCA of all {view.candidate_frames:,} '
        f"candidate frames (axes explain {view.ratio[0]:.0%} and {view.ratio[1]:.0%} of their variance), "
        f"coloured by source.{joined} Hover a trail for its sequence; hovering a filmstrip marks its trail.</p>",
        f'<svg class="fmap" id="map-frames" viewBox="0 0 {MAP_W:.0f} {MAP_H:.0f}" width="{MAP_W:.0f}" '
        f'height="{MAP_H:.0f}" role="img" aria-label="PCA map of the selected frames">',
    ]
    parts += [
        f'<g class="trail" data-rank="{t.rank}" stroke="{t.colour}"><title>{_e(t.title)}</title>{_trail(t.points)}</g>'
        for t in view.trails
    ]
    parts.append("</svg>")
    return "".join(parts)


def _tabs(model: PageModel) -> str:
    if len(model.maps) < 2:
        return ""
    on = [' class="on"'] + [""] * (len(model.maps) - 1)
    buttons = "".join(f'<button data-p="{v.name}"{o}>{v.name.upper()}</button>' for v, o in zip(model.maps, on))
    return f'<div class="tabs">{buttons}</div>'


def _legend(model: PageModel) -> str:
    items = "".join(f'<span><i style="background:{c}"></i>{_e(name)}</span>' for name, c in model.legend)
    more = f"<span class='muted'>… {model.legend_more} more</span>" if model.legend_more else ""
    if model.pool_legend:
        cross = f'<svg width="10" height="10" viewBox="-2 -2 10 10" style="margin-right:4px">{_CROSS}</svg>'
        more += f'<span class="pool-key">{cross}{_e(model.pool_legend)}</span>'
    return items + more


def _timeline_row(row: TimelineRow) -> str:
    w = f"{TIMELINE_W:.0f}"
    parts = [f'<svg width="{w}" height="16" viewBox="0 0 {w} 16">']
    parts.append(f'<rect x="0" y="5" width="{w}" height="6" fill="#eeeeee"><title>not a candidate</title></rect>')
    parts += [
        f'<rect x="{x:.1f}" y="5" width="{width:.1f}" height="6" fill="#c8c8c8"/>' for x, width in row.candidate_runs
    ]
    parts += [
        f'<rect class="mark" x="{x0:.1f}" y="1" width="{x1 - x0:.1f}" height="14" fill="{row.colour}">'
        f"<title>{_e(title)}</title></rect>"
        for x0, x1, title in row.marks
    ]
    parts += [
        f'<rect class="cut" x="{x - 0.5:.1f}" y="0" width="1" height="16" fill="#222222">'
        f"<title>{_e(title)}</title></rect>"
        for x, title in row.cuts
    ]
    parts.append("</svg>")
    return (
        f'<tr><td title="{_e(row.name)}">{_e(row.name[-48:])}</td>'
        f'<td class="n">{row.frames:,} fr</td><td class="n">{row.selected} sel</td><td>{"".join(parts)}</td></tr>'
    )


def _nn_row(label: str, entry: dict[str, Any]) -> str:
    sampled = f"{entry['queries']:,} of {entry['points']:,} (sampled)" if entry["sampled"] else f"{entry['points']:,}"
    return (
        f"<tr><th>{label}</th><td class='n'>{sampled}</td><td class='n'>{_num(entry['min'])}</td>"
        f"<td class='n'>{_num(entry['median'])}</td><td class='n'>{_num(entry['mean'])}</td>"
        f"<td class='n'>{_num(entry['max'])}</td></tr>"
    )


def _coverage_table(model: PageModel, k: int) -> str:
    cov = model.coverage
    nn = cov["nearest_neighbour"]
    return (
        "<table class='list'><tr><th></th><th>covering radius</th><th>mean distance to selection</th></tr>"
        f"<tr><th>before selection (all candidates around their mean)</th><td class='n' id='radius-before'>"
        f"{_num(cov['radius_before'])}</td><td></td></tr>"
        f"<tr><th>after: this selection ({k:,})</th><td class='n' id='radius-after'>{_num(cov['radius_after'])}</td>"
        f"<td class='n'>{_num(cov['mean_distance_to_selection'])}</td></tr>"
        f"<tr><th>after: random selection of the same size (seed {cov['random']['seed']})</th>"
        f"<td class='n' id='radius-random'>{_num(cov['random']['radius_after'])}</td>"
        f"<td class='n'>{_num(cov['random']['mean_distance_to_selection'])}</td></tr></table>"
        "<h3>Nearest-neighbour distances</h3><table class='list'><tr><th></th><th>items</th><th>min</th>"
        "<th>median</th><th>mean</th><th>max</th></tr>"
        + _nn_row("all candidates", nn["all"])
        + _nn_row("selected", nn["selected"])
        + _nn_row("random selection", nn["random"])
        + "</table>"
    )


def _strip(strip: Strip) -> str:
    point = f' data-point="{strip.point}"' if strip.point is not None else ""
    return (
        f'<div class="strip" data-rank="{strip.rank}"{point}><div class="meta"><b>#{strip.rank}</b> '
        f"{_e(strip.label)} · {strip.span}{_e(strip.times)}</div>"
        f'<div class="frames">{"".join(_img(t) for t in strip.frames)}</div></div>'
    )


def _listed(model: PageModel) -> str:
    if not model.listed:
        return ""
    rows = "".join(
        f"<tr><td class='n'>#{r.rank}</td><td>{_e(r.source)}</td><td>{r.frames}</td><td>{_e(r.time)}</td></tr>"
        for r in model.listed
    )
    head = "<h3>More selected sequences</h3><table class='list'><tr><th>#</th><th>source</th><th>frames</th>"
    return head + "<th>time</th></tr>" + rows + "</table>"


def _pair(pair: PairView) -> str:
    return (
        '<div class="pair">'
        + _img(pair.selected)
        + f"<div class='muted'>distance<br><b>{pair.distance:.4g}</b></div>"
        + _img(pair.neighbour)
        + "</div>"
    )


def _summary_fields(model: PageModel) -> dict[str, str]:
    counts = "".join(f"<tr><th>{_e(label)}</th><td class='n'>{_num(value)}</td></tr>" for label, value in model.counts)
    timings = "".join(f"<tr><th>{_e(stage)}</th><td class='n'>{sec:.2f} s</td></tr>" for stage, sec in model.timings)
    sources = "".join(
        f"<tr><td>{_e(s.name)}</td><td>{_e(s.kind)}</td><td class='n'>{s.frames:,}</td>"
        f"<td class='n'>{s.candidates:,}</td><td class='n'>{s.selected:,}</td><td>{_e(s.problem)}</td></tr>"
        for s in model.sources
    )
    more = (
        f"<p class='muted'>… and {model.sources_more:,} more sources (see report.json)</p>"
        if model.sources_more
        else ""
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in model.notes) or "<li>Nothing was sampled: everything is shown.</li>"
    return {"count_rows": counts, "timing_rows": timings, "source_rows": sources, "more_sources": more, "notes": notes}


def _chart_axes(chart: Chart) -> list[str]:
    """The share axis (0 and its top) and the value labels under the bars."""
    bottom, right = CHART_H - PLOT_BOTTOM, CHART_W - 10.0
    parts = [
        f'<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{right}" y2="{PLOT_TOP}" stroke="#e3e3e3"/>',
        f'<line x1="{PLOT_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>',
        f'<text x="{PLOT_LEFT - 4}" y="{PLOT_TOP + 4}" text-anchor="end">{chart.top}</text>',
        f'<text x="{PLOT_LEFT - 4}" y="{bottom}" text-anchor="end">0</text>',
    ]
    last = len(chart.x_labels) - 1
    for j, (x, text, full) in enumerate(chart.x_labels):
        anchor = "middle" if chart.kind == "bars" or 0 < j < last else ("start" if j == 0 else "end")
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="{anchor}"><title>{_e(full)}</title>{_e(text)}</text>'
        )
    return parts


def _chart_svg(chart: Chart, index: int) -> str:
    """A strategy's chart as inline SVG: grey bars for all candidates, coloured for the selection."""
    parts = [
        f'<svg class="strategy-chart" data-strategy="{index}" data-kind="{chart.kind}" '
        f'viewBox="0 0 {CHART_W:.0f} {CHART_H:.0f}" width="{CHART_W:.0f}" height="{CHART_H:.0f}" '
        f'font-size="10" fill="#666" role="img" aria-label="distribution of the input">'
    ]
    parts += _chart_axes(chart)
    for bar in chart.bars:
        fill = CANDIDATES_COLOUR if bar.series == "cand" else SELECTED_COLOUR
        parts.append(
            f'<rect class="{bar.series}" x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" '
            f'height="{bar.height:.1f}" fill="{fill}" data-n="{bar.count}"><title>{_e(bar.title)}</title></rect>'
        )
    dash = ' stroke-dasharray="4 3"' if chart.kind == "histogram" else ""
    for x0, y0, x1, y1, title in chart.lines:
        parts.append(
            f'<line class="mark" x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#000" '
            f'stroke-width="2"{dash}><title>{_e(title)}</title></line>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _strategy_card(view: StrategyView, index: int) -> str:
    """One strategy: label, settings, objective before → after (or BALANCE's table), chart, message."""
    settings = f"<div class='muted'>{_e(view.settings)}</div>" if view.settings else ""
    if view.rows:
        head = "<tr><th>value</th><th>target</th><th>candidates</th><th>selection</th></tr>"
        body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in view.rows)
        objective = f"<p class='objective'>{_e(view.measure)}</p><table class='list balance'>{head}{body}</table>"
    else:
        objective = (
            f"<p class='objective'>{_e(view.measure)}: before <b class='before'>{_e(view.before)}</b> "
            f"→ after <b class='after'>{_e(view.after)}</b></p>"
        )
    chart = ""
    if view.chart is not None:
        chart = _chart_svg(view.chart, index) + f"<p class='caption muted'>{_e(view.chart.caption)}</p>"
    message = ""
    if view.message:
        message = f"<p class='{'warn' if view.warning else 'ok'}'>{_e(view.message)}</p>"
    return (
        f'<div class="strategy" data-strategy="{index}" data-kind="{_e(view.kind)}"><h3>{_e(view.label)}</h3>'
        f"{settings}{objective}{chart}{message}</div>"
    )


def _strategies(section: StrategiesSection | None) -> str:
    """The "Selection strategies" section ("" for a run without strategies: the page is as before)."""
    if section is None:
        return ""
    cards = "".join(_strategy_card(v, i) for i, v in enumerate(section.strategies))
    excluded = "".join(f"<tr><th>{_e(why)}</th><td class='n'>{n:,}</td></tr>" for why, n in section.excluded)
    files = "".join(f"<li class='{'warn' if warn else 'ok'}'>{_e(line)}</li>" for line, warn in section.value_files)
    return (
        '<section id="strategies"><h2>Selection strategies</h2>\n<p class="muted">Each strategy\'s objective '
        "over the candidates (before) and over the selection (after), and the distribution of its input.</p>\n"
        f'<div class="strategies">{cards}</div>\n<h3>Candidates left out before the selection</h3>'
        + (f'<table class="list" id="excluded">{excluded}</table>' if excluded else "<p class='muted'>none</p>")
        + (f'\n<h3>Value files</h3><ul id="value-files">{files}</ul>' if files else "")
        + "\n</section>\n\n"
    )


def render_page(model: PageModel) -> str:
    """report.html's text for ``model``."""
    head, summary = model.header, model.summary
    ratio = summary["map"]["pca_variance_ratio"]
    selected = head["selected"]
    fields = {
        "css": resource_text("static/page.css"),
        "extra_css": resource_text("static/strategies.css") if model.strategies is not None else "",
        "datapool": f'\n<div id="datapool">{_e(model.datapool)}</div>' if model.datapool else "",
        "strategies_nav": '<a href="#strategies">Strategies</a>' if model.strategies is not None else "",
        "strategies": _strategies(model.strategies),
        "js": resource_text("static/page.js"),
        "selected": f"{selected:,}",
        "candidates": f"{head['candidates']:,}",
        "version": _e(head["version"]),
        "input_dir": _e(head["input_dir"]),
        "output_dir": _e(head["output_dir"]),
        "rebuilt": " · rebuilt with <code>framepick report</code>" if head["rebuilt"] else "",
        "stop_reason": _e(model.stopping[0]),
        "stop_message": _e(model.stopping[1]),
        **_summary_fields(model),
        "unit": model.unit,
        "map_points": f"{summary['map']['points']:,}",
        "map_candidates": f"{summary['map']['candidates']:,}",
        "pc1": f"{ratio[0]:.0%}",
        "pc2": f"{ratio[1]:.0%}",
        "tabs": _tabs(model),
        "maps": "".join(_map_svg(view, visible=(i == 0)) for i, view in enumerate(model.maps)),
        "legend": _legend(model),
        "frame_map": _frame_map(model.frame_map),
        "coverage_table": _coverage_table(model, model.coverage["selected"]),
        "training": _training(model),
        "before_png": model.distance_plots[0],
        "after_png": model.distance_plots[1],
        "timeline": '<table class="tl">' + "".join(_timeline_row(r) for r in model.timeline) + "</table>",
        "k": f"{model.coverage['selected']:,}",
        "strips": "".join(_strip(s) for s in model.strips),
        "listed": _listed(model),
        "pairs": "".join(_pair(p) for p in model.pairs)
        or "<p class='muted'>Every candidate was selected: no pairs to show.</p>",
        "config": _e(model.config_text),
        "data_points": _json_script("fp-points", model.points),
        "data_thumbs": _json_script("fp-thumbs", model.hover_thumbs),
        "data_sources": _json_script("fp-sources", model.source_names),
    }
    return Template(resource_text("templates/page.html")).substitute(fields)


def _training(model: PageModel) -> str:
    """The "Training" section: what was trained, how long, and the loss curve ("" without training)."""
    t = model.training
    if not t:
        return ""
    rate = f", {t['frames_per_sec']:.1f} frames/s" if t.get("frames_per_sec") else ""
    return (
        '<section id="training"><h2>Training</h2>\n<p class="muted">'
        f"{_e(t['method'])} on {t['frames_trained']:,} of {t['frames_usable']:,} usable frames: {t['epochs']} epochs "
        f"of batch {t['batch_size']} at {t['input_size']} px, learning rate {t['lr']:g}, on {_e(t['device'])}"
        f"{' (mixed precision)' if t['mixed_precision'] else ''}; {t['train_sec']:.1f} s{rate}; final loss "
        f"{t['final_loss']:.4f}. The selection embeds with the trained weights "
        f"(<code>{_e(t['checkpoint'])}</code>, sha256 {_e(t['weights_sha256'][:16])}…).</p>\n"
        f'<img class="plot" alt="training loss per epoch" src="{model.training_plot}">\n</section>\n\n'
    )
