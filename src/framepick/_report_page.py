"""Render ``report.html``: one self-contained page (inline CSS, SVG, a little vanilla JS).

Nothing on the page refers to anything outside it: images are ``data:`` URIs, the map is
inline SVG, the script is inline. No network request is made when it is opened.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

if TYPE_CHECKING:
    from .report import ReportInputs

PALETTE = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf "
    "#aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5 #c49c94 #f7b6d2 #c7c7c7 #dbdb8d #9edae5"
).split()

MAP_W, MAP_H, MAP_PAD = 720.0, 460.0, 12.0
TIMELINE_W = 640.0

_e = html.escape

_COUNT_LABELS = {
    "sources": "sources",
    "sources_corrupt": "corrupt sources",
    "frames": "frames",
    "frames_corrupt": "corrupt frames",
    "frames_duplicate": "duplicate frames (removed)",
    "frames_usable": "usable frames",
    "sequence_length": "frames per sequence",
    "sequences_complete": "complete sequences",
    "sequences_dropped_invalid": "sequences dropped (corrupt/duplicate frame)",
    "sequence_candidates": "candidate sequences",
    "candidate_frames": "candidate frames",
    "incomplete_tails": "incomplete tails dropped",
    "tail_frames_dropped": "frames in dropped tails",
    "selected_sequences": "selected sequences",
    "selected_frames": "selected frames",
}

CSS = """
:root{--fg:#1d1d1f;--muted:#666;--line:#e3e3e3;--bg:#fafafa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;background:#fff}
header{padding:18px 28px;border-bottom:1px solid var(--line);background:var(--bg)}
header h1{margin:0 0 4px;font-size:22px}
nav a{margin-right:14px;color:#0b62c4;text-decoration:none;font-size:13px}
main{padding:8px 28px 40px;max-width:1280px}
section{margin:26px 0}
h2{font-size:18px;margin:0 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
.muted{color:var(--muted)}
.stop{font-size:15px;background:#eef5ff;border-left:4px solid #0b62c4;padding:8px 12px}
.grid{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
table{border-collapse:collapse}
td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
table.list td,table.list th{border-bottom:1px solid var(--line);padding:3px 10px 3px 0}
pre{background:var(--bg);border:1px solid var(--line);padding:10px;overflow:auto;font-size:12px}
.notes li{margin:2px 0}
#fp-map-wrap{position:relative}
svg.map{border:1px solid var(--line);background:#fff;max-width:100%;height:auto}
svg.map circle{opacity:.5}
svg.map circle.sel{opacity:1;stroke:#000;stroke-width:1}
svg.map circle.hl{stroke:#000;stroke-width:3;opacity:1}
.legend span{display:inline-block;margin:0 12px 4px 0;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:-1px}
#fp-tip{position:absolute;display:none;pointer-events:none;background:#fff;border:1px solid #999;
 box-shadow:0 2px 8px rgba(0,0,0,.2);padding:6px;font-size:12px;max-width:260px;z-index:10}
#fp-tip img{display:block;max-width:240px;margin-bottom:4px}
.tabs button{border:1px solid #bbb;background:#f4f4f4;padding:3px 10px;cursor:pointer}
.tabs button.on{background:#0b62c4;color:#fff;border-color:#0b62c4}
img.plot{max-width:100%;border:1px solid var(--line)}
.strip{border:1px solid var(--line);border-radius:6px;padding:6px 8px;margin:0 0 8px;display:inline-block;
 margin-right:8px;vertical-align:top;background:#fff}
.strip:hover{border-color:#0b62c4}
.strip .meta{font-size:12px;margin-bottom:4px}
.frames{display:flex;gap:3px}
figure{margin:0;text-align:center;font-size:10px;color:var(--muted)}
figure img{display:block;height:64px;width:auto;background:#eee}
.noimg{display:block;width:72px;height:54px;background:#eee;color:#999;font-size:10px;line-height:54px}
.pair{display:inline-flex;gap:10px;align-items:center;border:1px solid var(--line);border-radius:6px;
 padding:6px 10px;margin:0 10px 10px 0}
.pair figure img{height:72px}
.tl td{padding:1px 8px 1px 0;font-size:12px;white-space:nowrap}
.tl svg{display:block}
"""

JS = """
(function(){
  function data(id){var el=document.getElementById(id);return el?JSON.parse(el.textContent):null;}
  var P=data('fp-points')||[], T=data('fp-thumbs')||{}, S=data('fp-sources')||[];
  document.querySelectorAll('img[data-k]').forEach(function(im){if(!(im.dataset.k in T))T[im.dataset.k]=im.src;});
  var tip=document.getElementById('fp-tip'), wrap=document.getElementById('fp-map-wrap');
  function hide(){if(tip)tip.style.display='none';}
  function show(ev){
    var t=ev.target;
    if(!t||!t.dataset||t.dataset.i===undefined){hide();return;}
    var p=P[+t.dataset.i]; if(!p)return;
    tip.textContent='';
    if(p[1]&&T[p[1]]){var im=document.createElement('img');im.src=T[p[1]];im.alt='';tip.appendChild(im);}
    var b=document.createElement('b');b.textContent=p[0];tip.appendChild(b);
    var d=document.createElement('div');d.className='muted';
    d.textContent=(S[p[3]]||'')+(p[2]?' \\u00b7 selected #'+p[2]:' \\u00b7 not selected')
      +(p[1]&&T[p[1]]?'':' \\u00b7 no thumbnail');
    tip.appendChild(d);
    var r=wrap.getBoundingClientRect();
    tip.style.left=(ev.clientX-r.left+14)+'px'; tip.style.top=(ev.clientY-r.top+14)+'px';
    tip.style.display='block';
  }
  document.querySelectorAll('svg.map').forEach(function(svg){
    svg.addEventListener('mousemove',show); svg.addEventListener('mouseleave',hide);
  });
  document.querySelectorAll('.tabs button').forEach(function(btn){
    btn.addEventListener('click',function(){
      document.querySelectorAll('.tabs button').forEach(function(o){o.classList.toggle('on',o===btn);});
      document.querySelectorAll('svg.map').forEach(function(svg){svg.style.display=(svg.id==='map-'+btn.dataset.p)?'':'none';});
    });
  });
  document.querySelectorAll('[data-point]').forEach(function(el){
    function mark(on){
      var sel='svg.map circle[data-i="'+el.dataset.point+'"]';
      document.querySelectorAll(sel).forEach(function(c){c.classList.toggle('hl',on);});
    }
    el.addEventListener('mouseenter',function(){mark(true);});
    el.addEventListener('mouseleave',function(){mark(false);});
  });
})();
"""


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


def _key(src: int, index: int) -> str:
    return f"{src}:{index}"


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _colour(src: int) -> str:
    return PALETTE[src % len(PALETTE)]


def _scale(xy: np.ndarray) -> np.ndarray:
    out = np.zeros_like(xy, dtype=np.float64)
    for j, size in enumerate((MAP_W, MAP_H)):
        lo, hi = (float(xy[:, j].min()), float(xy[:, j].max())) if len(xy) else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        v = (xy[:, j] - lo) / span
        out[:, j] = MAP_PAD + (v if j == 0 else 1.0 - v) * (size - 2 * MAP_PAD)
    return out


def _map_svg(
    name: str, xy: np.ndarray, inputs: ReportInputs, shown: np.ndarray, rank: np.ndarray, visible: bool
) -> str:
    pts = _scale(xy)
    order = np.argsort(rank[shown] > 0, kind="stable")  # selected drawn last, on top
    hidden = "" if visible else ' style="display:none"'
    parts = [
        f'<svg class="map" id="map-{name}" viewBox="0 0 {MAP_W:.0f} {MAP_H:.0f}" width="{MAP_W:.0f}" '
        f'height="{MAP_H:.0f}" role="img" aria-label="{name.upper()} map"{hidden}>'
    ]
    for i in order:
        cand = int(shown[i])
        sel = rank[cand] > 0
        cls = ' class="sel"' if sel else ""
        parts.append(
            f'<circle cx="{pts[i, 0]:.1f}" cy="{pts[i, 1]:.1f}" r="{4.5 if sel else 2.6}" '
            f'fill="{_colour(int(inputs.source[cand]))}"{cls} data-i="{i}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _img(thumbs: dict[tuple[int, int], str], src: int, index: int, caption: str) -> str:
    uri = thumbs.get((src, index))
    if uri is None:
        body = '<span class="noimg">no image</span>'
    else:
        body = f'<img data-k="{_key(src, index)}" src="{uri}" alt="frame {index}">'
    return f"<figure>{body}<figcaption>{_e(caption)}</figcaption></figure>"


def _times(entry: dict[str, Any] | None) -> str:
    if not entry:
        return ""
    secs = [s for s in entry.get("frame_timestamps_sec") or [] if s is not None]
    if not secs:
        return ""
    if len(secs) == 1 or secs[0] == secs[-1]:
        return f" · {secs[0]:.2f} s"
    return f" · {secs[0]:.2f}–{secs[-1]:.2f} s"


def _timeline(inputs: ReportInputs, rank: np.ndarray, limit: int) -> str:
    sources = inputs.report["sources"]
    cand_by_src: dict[int, list[int]] = {}
    for c in range(len(inputs)):
        cand_by_src.setdefault(int(inputs.source[c]), []).append(int(inputs.start[c]))
    sel_by_src: dict[int, list[tuple[int, int]]] = {}
    for r, c in enumerate(inputs.selected, start=1):
        sel_by_src.setdefault(int(inputs.source[c]), []).append((int(inputs.start[c]), r))
    length = inputs.length
    rows = []
    for s, entry in enumerate(sources[:limit]):
        frames = max(int(entry["frames"]), 1)
        px = TIMELINE_W / frames
        parts = [f'<svg width="{TIMELINE_W:.0f}" height="16" viewBox="0 0 {TIMELINE_W:.0f} 16">']
        parts.append(
            f'<rect x="0" y="5" width="{TIMELINE_W:.0f}" height="6" fill="#eeeeee">'
            "<title>not a candidate</title></rect>"
        )
        # candidate stretches, merged
        runs: list[list[int]] = []
        for start in sorted(cand_by_src.get(s, [])):
            if runs and start <= runs[-1][1]:
                runs[-1][1] = start + length
            else:
                runs.append([start, start + length])
        for a, b in runs:
            parts.append(
                f'<rect x="{a * px:.1f}" y="5" width="{max((b - a) * px, 0.5):.1f}" height="6" fill="#c8c8c8"/>'
            )
        # selected sequences, merged where they touch at this resolution
        marks: list[list[Any]] = []
        for start, r in sorted(sel_by_src.get(s, [])):
            x0, x1 = start * px, max((start + length) * px, start * px + 2.0)
            if marks and x0 <= marks[-1][1]:
                marks[-1][1] = max(marks[-1][1], x1)
                marks[-1][2].append((r, start))
            else:
                marks.append([x0, x1, [(r, start)]])
        colour = _colour(s)
        for x0, x1, items in marks:
            if len(items) == 1:
                r, start = items[0]
                title = f"#{r}: frames {start}–{start + length - 1}"
            else:
                title = f"{len(items)} selected sequences: frames {items[0][1]}–{items[-1][1] + length - 1}"
            parts.append(
                f'<rect class="mark" x="{x0:.1f}" y="1" width="{x1 - x0:.1f}" height="14" fill="{colour}">'
                f"<title>{_e(title)}</title></rect>"
            )
        parts.append("</svg>")
        n_sel = len(sel_by_src.get(s, []))
        rows.append(
            f'<tr><td title="{_e(entry["name"])}">{_e(entry["name"][-48:])}</td>'
            f'<td class="n">{frames:,} fr</td><td class="n">{n_sel} sel</td><td>{"".join(parts)}</td></tr>'
        )
    return '<table class="tl">' + "".join(rows) + "</table>"


def render_page(
    inputs: ReportInputs,
    shown: np.ndarray,
    projections: dict[str, np.ndarray],
    rank: np.ndarray,
    thumbs: dict[tuple[int, int], str],
    strip_cands: list[int],
    positions: list[int],
    mid: int,
    pairs: list[dict[str, Any]],
    plots_dir: Path,
) -> str:
    report = inputs.report
    counts, stopping, page = report["counts"], report["stopping"], report["page"]
    cov = report["metrics"]["coverage"]
    sources = report["sources"]
    names = inputs.source_names
    length = inputs.length
    k = len(inputs.selected)
    point_of = {int(c): i for i, c in enumerate(shown)}

    # --- summary
    count_rows = "".join(
        f"<tr><th>{_e(_COUNT_LABELS.get(key, key))}</th><td class='n'>{_num(value)}</td></tr>"
        for key, value in counts.items()
    )
    timing_rows = "".join(
        f"<tr><th>{_e(stage)}</th><td class='n'>{float(sec):.2f} s</td></tr>"
        for stage, sec in report.get("timings_sec", {}).items()
    )
    source_rows = "".join(
        f"<tr><td>{_e(s['name'])}</td><td>{_e(s['kind'])}</td><td class='n'>{s['frames']:,}</td>"
        f"<td class='n'>{s.get('candidates', 0):,}</td><td class='n'>{s.get('selected_sequences', 0):,}</td>"
        f"<td>{_e(report.get('corrupt', {}).get(s['name']) or report.get('left_out', {}).get(s['name'], ''))}</td></tr>"
        for s in sources[:500]
    )
    more_sources = (
        f"<p class='muted'>… and {len(sources) - 500:,} more sources (see report.json)</p>"
        if len(sources) > 500
        else ""
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in page["notes"]) or "<li>Nothing was sampled: everything is shown.</li>"

    # --- map
    svgs = "".join(
        _map_svg(name, xy, inputs, shown, rank, visible=(i == 0)) for i, (name, xy) in enumerate(projections.items())
    )
    tabs = ""
    if len(projections) > 1:
        tabs = (
            '<div class="tabs">'
            + "".join(
                f'<button data-p="{p}"{on}>{p.upper()}</button>'
                for p, on in zip(projections, [' class="on"'] + [""] * len(projections))
            )
            + "</div>"
        )
    points = []
    for c in shown:
        c = int(c)
        key = (int(inputs.source[c]), int(inputs.start[c]) + mid)
        points.append([inputs.label(c), _key(*key) if key in thumbs else "", int(rank[c]), int(inputs.source[c])])
    strip_keys = {(int(inputs.source[c]), int(inputs.start[c]) + p) for c in strip_cands for p in positions}
    strip_keys |= {(int(inputs.source[c]), int(inputs.start[c]) + mid) for p in pairs for c in p["_cands"]}
    hover_only = {_key(*key): uri for key, uri in thumbs.items() if key not in strip_keys}
    present = sorted(set(int(s) for s in inputs.source[shown]))
    legend = "".join(f'<span><i style="background:{_colour(s)}"></i>{_e(names[s])}</span>' for s in present[:30]) + (
        f"<span class='muted'>… {len(present) - 30} more</span>" if len(present) > 30 else ""
    )
    ratio = page["map"]["pca_variance_ratio"]

    # --- coverage
    nn = cov["nearest_neighbour"]

    def nn_row(label: str, entry: dict[str, Any]) -> str:
        sampled = (
            f"{entry['queries']:,} of {entry['points']:,} (sampled)" if entry["sampled"] else f"{entry['points']:,}"
        )
        return (
            f"<tr><th>{label}</th><td class='n'>{sampled}</td><td class='n'>{_num(entry['min'])}</td>"
            f"<td class='n'>{_num(entry['median'])}</td><td class='n'>{_num(entry['mean'])}</td>"
            f"<td class='n'>{_num(entry['max'])}</td></tr>"
        )

    coverage_table = (
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
        + nn_row("all candidates", nn["all"])
        + nn_row("selected", nn["selected"])
        + nn_row("random selection", nn["random"])
        + "</table>"
    )
    before_png = _png_uri(plots_dir / "distance_distr_before.png")
    after_png = _png_uri(plots_dir / "distance_distr_after.png")

    # --- selected sequences
    seq_entries = report.get("sequences", [])
    strips = []
    for r, c in enumerate(strip_cands, start=1):
        src, first = int(inputs.source[c]), int(inputs.start[c])
        entry = seq_entries[r - 1] if r - 1 < len(seq_entries) else None
        frames_html = "".join(_img(thumbs, src, first + p, f"{first + p}") for p in positions)
        span = f"frame {first}" if length == 1 else f"frames {first}–{first + length - 1}"
        label = _e(inputs.names[c]) if length == 1 else _e(names[src])
        point = f' data-point="{point_of[c]}"' if c in point_of else ""
        strips.append(
            f'<div class="strip" data-rank="{r}"{point}><div class="meta"><b>#{r}</b> {label} · '
            f'{span}{_e(_times(entry))}</div><div class="frames">{frames_html}</div></div>'
        )
    listed_rows = []
    for r in range(len(strip_cands) + 1, min(k, page["selected_listed"]) + 1):
        c = int(inputs.selected[r - 1])
        first = int(inputs.start[c])
        entry = seq_entries[r - 1] if r - 1 < len(seq_entries) else None
        listed_rows.append(
            f"<tr><td class='n'>#{r}</td><td>{_e(names[int(inputs.source[c])])}</td>"
            f"<td>{first}–{first + length - 1}</td><td>{_e(_times(entry).lstrip(' ·'))}</td></tr>"
        )
    listed = (
        "<h3>More selected sequences</h3><table class='list'><tr><th>#</th><th>source</th><th>frames</th>"
        "<th>time</th></tr>" + "".join(listed_rows) + "</table>"
        if listed_rows
        else ""
    )

    # --- example pairs
    pair_html = []
    for p in pairs:
        a, b = p["_cands"]
        pa = (int(inputs.source[a]), int(inputs.start[a]) + mid)
        pb = (int(inputs.source[b]), int(inputs.start[b]) + mid)
        pair_html.append(
            '<div class="pair">'
            + _img(thumbs, *pa, f"#{p['rank']} {p['selected']}")
            + f"<div class='muted'>distance<br><b>{p['distance']:.4g}</b></div>"
            + _img(thumbs, *pb, f"not selected: {p['neighbour']}")
            + "</div>"
        )
    pairs_section = "".join(pair_html) or "<p class='muted'>Every candidate was selected: no pairs to show.</p>"

    config_text = yaml.safe_dump(report["config"], sort_keys=False, allow_unicode=True)
    rebuilt = " · rebuilt with <code>framepick report</code>" if page.get("rebuilt") else ""
    version, input_dir = str(report.get("framepick_version", "")), str(report.get("input_dir", ""))
    output_dir = str(report.get("output_dir", ""))
    unit = "frame" if length == 1 else f"sequence of {length} frames"

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>framepick report: {counts["selected_sequences"]:,} selected of {counts["sequence_candidates"]:,}</title>
<style>{CSS}</style></head>
<body>
<header><h1>framepick report</h1>
<div class="muted">framepick {_e(version)} · input {_e(input_dir)}
 · output {_e(output_dir)}{rebuilt}</div>
<nav><a href="#summary">Summary</a><a href="#map">Embedding map</a><a href="#coverage">Coverage</a>
<a href="#timeline">Timeline</a><a href="#selected">Selected</a><a href="#pairs">Example pairs</a>
<a href="#config">Configuration</a></nav></header>
<main>
<section id="summary"><h2>Summary</h2>
<p class="stop" id="stopping" data-reason="{_e(stopping["reason"])}">{_e(stopping["message"])}</p>
<div class="grid">
<div><h3>Counts</h3><table id="counts">{count_rows}</table></div>
<div><h3>Timings</h3><table id="timings">{timing_rows}</table></div>
<div><h3>What this page sampled</h3><ul class="notes" id="notes">{notes}</ul></div>
</div>
<h3>Sources</h3><table class="list" id="sources"><tr><th>source</th><th>kind</th><th>frames</th><th>candidates</th>
<th>selected</th><th>corrupt</th></tr>{source_rows}</table>{more_sources}
</section>

<section id="map"><h2>Embedding map</h2>
<p class="muted">One point per candidate {unit} ({page["map"]["points"]:,} of {page["map"]["candidates"]:,} shown),
coloured by source; selected ones are large and outlined. Hover a point for its name and thumbnail.
PCA axes explain {ratio[0]:.0%} and {ratio[1]:.0%} of the variance.</p>
{tabs}<div id="fp-map-wrap">{svgs}<div id="fp-tip"></div></div>
<div class="legend">{legend}</div>
</section>

<section id="coverage"><h2>Coverage</h2>
<p class="muted">Distances are Euclidean distances between candidate embeddings. The covering radius is the
largest distance from any candidate to its nearest selected item: every candidate lies within it of
something selected. Smaller is better; a random selection of the same size is shown for comparison.</p>
{coverage_table}
<div class="grid"><img class="plot" alt="distance distribution before" src="{before_png}">
<img class="plot" alt="distance distribution after" src="{after_png}"></div>
</section>

<section id="timeline"><h2>Video sampling timeline</h2>
<p class="muted">Each bar is one source, from its first frame to its last; darker grey stretches are candidate
sequences, coloured marks the selected ones (hover for their rank and frames).</p>
{_timeline(inputs, rank, page["timeline_sources"])}
</section>

<section id="selected"><h2>Selected sequences ({k:,}, in selection order)</h2>
<div id="strips">{"".join(strips)}</div>
{listed}
</section>

<section id="pairs"><h2>Example pairs</h2>
<p class="muted">The first selected items next to their nearest candidate that was not selected.</p>
{pairs_section}
</section>

<section id="config"><h2>Configuration</h2><pre>{_e(config_text)}</pre></section>
</main>
{_json_script("fp-points", points)}
{_json_script("fp-thumbs", hover_only)}
{_json_script("fp-sources", names)}
<script>{JS}</script>
</body></html>
"""
