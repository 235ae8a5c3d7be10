"""The page's "Selection strategies" section as data: one view per configured strategy (pure; no I/O).

Each strategy of ``report.json["strategies"]`` gets its objective before and after the
selection, written out as the page says it, and a small chart of its input with every bar's
place in pixels already decided (as the timeline's marks are), so :mod:`.render` only writes
SVG. Charts show *shares*: each series (all candidates, the selection) is scaled to its own
total, because a selection is usually a small fraction of the candidates and would be a row
of flat bars on a common count axis; every bar's count is in its tooltip and its ``data-n``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..strategy_types import entry_view

__all__ = [
    "CANDIDATES_COLOUR",
    "CHART_H",
    "CHART_W",
    "SELECTED_COLOUR",
    "Bar",
    "Chart",
    "StrategiesSection",
    "StrategyView",
    "plan_strategies",
]

CHART_W, CHART_H = 360.0, 150.0
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 40.0, 10.0, 8.0, 26.0  # margins of the bars' area
CANDIDATES_COLOUR = "#bdbdbd"  # all candidates: grey, behind
SELECTED_COLOUR = "#1f77b4"  # the selection: the "selected" colour of the distance plots
_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0)  # tops of the share axis
_LABEL_CHARS = 14  # longest BALANCE value name written under its bars


@dataclass(frozen=True)
class Bar:
    """One bar: ``series`` is "cand" (all candidates) or "sel" (the selection)."""

    series: str
    x: float
    y: float
    width: float
    height: float
    count: int
    title: str


@dataclass(frozen=True)
class Chart:
    """A chart in a CHART_W × CHART_H box; ``lines`` are target or threshold marks (x0, y0, x1, y1, title)."""

    kind: str  # "histogram" or "bars"
    bars: tuple[Bar, ...]
    lines: tuple[tuple[float, float, float, float, str], ...]
    x_labels: tuple[tuple[float, str, str], ...]  # (x, text, full text)
    top: str  # the share at the top of the axis, as written there
    caption: str


@dataclass(frozen=True)
class StrategyView:
    """One strategy as the page shows it; numbers are already written out."""

    label: str
    kind: str
    settings: str
    measure: str
    before: str
    after: str
    rows: tuple[tuple[str, str, str, str], ...]  # BALANCE: value, target, candidates, selection
    chart: Chart | None
    message: str
    warning: bool  # the message says the strategy fell short


@dataclass(frozen=True)
class StrategiesSection:
    """Everything the section shows: the strategies, what was left out and the value files."""

    strategies: tuple[StrategyView, ...]
    excluded: tuple[tuple[str, int], ...]  # (why, candidates)
    value_files: tuple[tuple[str, bool], ...]  # (line, whether some rows matched no frame)


def _plain(value: float) -> str:
    """Four significant digits, without an exponent for numbers people count in thousands."""
    return f"{value:,.0f}" if 1e4 <= abs(value) < 1e12 else f"{value:.4g}"


def _number(value: Any, share: bool) -> str:
    """A number as the page writes it: shares as percentages, others to 4 digits, none as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if share:
        return f"{value:.1%}"
    return f"{value:,}" if isinstance(value, int) else _plain(value)


def _shares(counts: Sequence[float]) -> list[float]:
    """Counts as shares of their total: what puts a small selection beside all candidates."""
    total = float(sum(counts))
    return [float(c) / total if total > 0 else 0.0 for c in counts]


def _nice_top(highest: float) -> float:
    """The share at the top of the axis: the smallest round value that holds every bar."""
    return next((t for t in _NICE if highest <= t + 1e-12), 1.0)


def _box() -> tuple[float, float, float]:
    """(left, bottom, width) of the bars' area, in the chart's pixels (y downwards)."""
    return PLOT_LEFT, CHART_H - PLOT_BOTTOM, CHART_W - PLOT_LEFT - PLOT_RIGHT


def _bar(series: str, x: float, width: float, share: float, top: float, count: int, title: str) -> Bar:
    """A bar standing on the axis, ``share / top`` of the plot's height tall."""
    _, bottom, _ = _box()
    height = share / top * (CHART_H - PLOT_TOP - PLOT_BOTTOM)
    return Bar(series, x, bottom - height, width, height, int(count), title)


def _histogram_chart(hist: Mapping[str, Any], threshold: float | None, what: str) -> Chart | None:
    """Candidates (grey, the whole bin) and selection (coloured, narrower, in front) per bin."""
    edges = [float(e) for e in hist.get("edges") or []]
    cand, sel = list(hist.get("candidates") or []), list(hist.get("selected") or [])
    if len(edges) < 2 or len(cand) != len(edges) - 1 or len(sel) != len(cand):
        return None
    cand_share, sel_share = _shares(cand), _shares(sel)
    top = _nice_top(max(cand_share + sel_share, default=0.0))
    left, bottom, width = _box()
    step = width / len(cand)
    bars: list[Bar] = []
    for j, (c, s) in enumerate(zip(cand, sel)):
        span = f"{_plain(edges[j])} to {_plain(edges[j + 1])}"
        x = left + j * step
        bars.append(_bar("cand", x + 0.5, max(step - 1.0, 0.5), cand_share[j], top, c, f"{span}: {c:,} candidates"))
        bars.append(
            _bar(
                "sel",
                x + step * 0.225,
                step * 0.55,
                sel_share[j],
                top,
                s,
                f"{span}: {s:,} selected ({sel_share[j]:.1%})",
            )
        )
    lines = []
    if threshold is not None and edges[0] <= threshold <= edges[-1] and edges[-1] > edges[0]:
        x = left + (threshold - edges[0]) / (edges[-1] - edges[0]) * width
        lines.append((x, PLOT_TOP, x, bottom, f"threshold {_plain(threshold)}"))
    ticks = (0, len(cand) // 2, len(cand))
    labels = tuple((left + t * step, _plain(edges[t]), _plain(edges[t])) for t in ticks)
    caption = (
        f"{what}: share of each series per bin, grey all {sum(cand):,} candidates, blue the "
        f"{sum(sel):,} selected (each scaled to its own total; hover a bar for its count)."
    )
    return Chart("histogram", tuple(bars), tuple(lines), labels, f"{top:.0%}", caption)


def _balance_chart(bars_in: Mapping[str, Any], target: Sequence[float]) -> Chart | None:
    """Per value: candidates (grey) and selection (coloured) side by side, the target as a black line."""
    names = [str(v) for v in bars_in.get("values") or []]
    cand, sel = list(bars_in.get("candidates") or []), list(bars_in.get("selected") or [])
    if not names or len(cand) != len(names) or len(sel) != len(names):
        return None
    target = list(target) if len(target) == len(names) else []
    cand_share, sel_share = _shares(cand), _shares(sel)
    top = _nice_top(max(cand_share + sel_share + [float(t) for t in target], default=0.0))
    left, bottom, width = _box()
    step = width / len(names)
    bars: list[Bar] = []
    lines = []
    for j, name in enumerate(names):
        x = left + j * step
        c, s = int(cand[j]), int(sel[j])
        bars.append(_bar("cand", x + step * 0.12, step * 0.36, cand_share[j], top, c, f"{name}: {c:,} candidates"))
        bars.append(_bar("sel", x + step * 0.52, step * 0.36, sel_share[j], top, s, f"{name}: {s:,} selected"))
        if target:
            y = bottom - float(target[j]) / top * (CHART_H - PLOT_TOP - PLOT_BOTTOM)
            lines.append((x + step * 0.06, y, x + step * 0.94, y, f"{name}: target {float(target[j]):.1%}"))
    labels = tuple(
        (left + (j + 0.5) * step, name if len(name) <= _LABEL_CHARS else name[: _LABEL_CHARS - 1] + "…", name)
        for j, name in enumerate(names)
    )
    caption = (
        f"Share of each value: grey all {int(sum(cand)):,} candidates, blue the {int(sum(sel)):,} selected, "
        "black line the target (each series scaled to its own total; hover a bar for its count)."
    )
    return Chart("bars", tuple(bars), tuple(lines), labels, f"{top:.0%}", caption)


def _balance_rows(objective: Mapping[str, Any], bars: Mapping[str, Any]) -> tuple[tuple[str, str, str, str], ...]:
    """BALANCE's table: per value its target share, and the candidates' and selection's counts and shares."""
    names = [str(v) for v in objective.get("values") or bars.get("values") or []]
    columns = [list(objective.get(k) or []) for k in ("target", "before", "after")]
    counts = [list(bars.get(k) or []) for k in ("candidates", "selected")]

    def cell(j: int, shares: list[Any], tally: list[Any] | None) -> str:
        share = _number(shares[j], True) if j < len(shares) else "n/a"
        return f"{int(tally[j]):,} ({share})" if tally is not None and j < len(tally) else share

    return tuple(
        (name, cell(j, columns[0], None), cell(j, columns[1], counts[0]), cell(j, columns[2], counts[1]))
        for j, name in enumerate(names)
    )


def _settings(strategy: Mapping[str, Any]) -> str:
    """The strategy's own settings as written in the configuration, but its type and BALANCE's target."""
    parts = [f"{k.replace('_', ' ')} {_number(v, False)}" for k, v in strategy.items() if k not in ("type", "target")]
    return ", ".join(parts)


def _view(entry: Mapping[str, Any]) -> StrategyView:
    """One report.json strategy entry as shown, drawn as its type's class says
    (:func:`framepick.strategy_types.entry_view`); missing parts (a hand-edited file) show as
    n/a, not a failure."""
    strategy = entry.get("strategy") or {}
    kind = str(strategy.get("type", ""))
    objective = entry.get("objective") or {}
    measure = str(objective.get("measure", ""))
    shown = entry_view(entry)
    rows: tuple[tuple[str, str, str, str], ...] = ()
    if shown.chart == "bars":
        rows = _balance_rows(objective, entry["bars"])
        chart = _balance_chart(entry["bars"], objective.get("target") or [])
        before = after = ""
    else:
        share = "share" in measure
        before, after = _number(objective.get("before"), share), _number(objective.get("after"), share)
        hist = entry.get("histogram") if shown.chart == "histogram" else None
        chart = _histogram_chart(hist, shown.threshold, shown.subject) if hist else None
    return StrategyView(
        label=str(entry.get("label", kind)),
        kind=kind,
        settings=_settings(strategy),
        measure=measure,
        before=before,
        after=after,
        rows=rows,
        chart=chart,
        message=str(entry.get("message", "")),
        warning=entry.get("reached") is False,
    )


def _value_file_lines(value_files: Mapping[str, Any]) -> tuple[tuple[str, bool], ...]:
    """A line per metadata/scores file; rows that match no frame are flagged, never silently ignored."""
    lines = []
    for kind, info in value_files.items():
        if not isinstance(info, Mapping):
            continue
        unmatched = int(info.get("unmatched", 0) or 0)
        examples = ", ".join(str(e) for e in info.get("unmatched_examples") or [])
        text = f"{kind} file {info.get('file', '')}: {int(info.get('rows_matched', 0) or 0):,} rows matched"
        text += f", {unmatched:,} matched no frame" + (f" (e.g. {examples})" if examples else "")
        lines.append((text, unmatched > 0))
    return tuple(lines)


def plan_strategies(report: Mapping[str, Any]) -> StrategiesSection | None:
    """The section for ``report.json``'s strategies; None for a run without any (no section)."""
    entries = [e for e in report.get("strategies") or [] if isinstance(e, Mapping)]
    if not entries:
        return None
    given = report.get("candidates_excluded") or {}
    excluded = tuple((str(why), int(n)) for why, n in given.items() if int(n))  # report.json keeps the zeros
    return StrategiesSection(
        strategies=tuple(_view(e) for e in entries),
        excluded=excluded,
        value_files=_value_file_lines(report.get("value_files") or {}),
    )
