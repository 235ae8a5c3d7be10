"""What each key of ``report.json`` means, and which stage writes it: one declaration.

``report.json`` is :meth:`~framepick.results.RunSummary.to_json` (``result.summary``) with
sections that later stages add to it (:data:`ADDED_BY`): the report stage
(:func:`framepick.report.write_report`) adds ``metrics.coverage``, ``page`` and each source's
``candidates`` and ``selected_sequences``; the write stage adds ``clips`` (``export_clips``)
and ``exports`` (``export_format``). ``result.report`` holds the whole dictionary.

Keys are written as paths: ``counts.frames``, and ``[]`` for the entries of a list
(``sources[].name``). A section is described member by member where :data:`REPORT_KEYS`
describes its members, and as a whole where it describes none (maps whose keys are names,
such as ``corrupt``; big sections, such as ``page.thumbnails``): :func:`key_paths` walks a
report.json as deep as the declaration goes. docs/reference.md's report.json table is made
from a real run's report.json and these descriptions (``scripts/update_reference.py``);
``tests/test_reference.py`` fails when a run writes a key that is not described, a described
key is not written, or the table is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ADDED_BY",
    "REPORT_KEYS",
    "REPORT_KEYS_BEGIN",
    "REPORT_KEYS_END",
    "SUMMARY",
    "key_paths",
    "report_keys_markdown",
    "stage_of",
    "undescribed",
    "unwritten",
    "with_report_keys_table",
]

SUMMARY = "RunSummary"
_REPORT = "report stage"
_WRITE = "write stage"

# The keys report.json has beyond RunSummary's, with the stage that adds them (a key and all below it).
ADDED_BY: dict[str, str] = {
    "metrics.coverage": _REPORT,
    "sources[].candidates": _REPORT,
    "sources[].selected_sequences": _REPORT,
    "page": _REPORT,
    "clips": _WRITE,
    "exports": _WRITE,
}

_COUNTS = {
    "sources": "sources found (videos, frame folders, loose images)",
    "sources_corrupt": "sources named in `corrupt`: a file that does not open, a truncated file, an undecodable "
    "loose image (0 with `enable_corruptness_check` off)",
    "frames": "frames found in all sources, usable or not",
    "frames_corrupt": "frames left out as corrupt: undecodable, and damaged ones with "
    "`enable_corruptness_check` on (`corrupt_filenames.txt`)",
    "frames_undecodable": "frames the decoder could not produce (always left out, listed in `left_out`)",
    "frames_damaged": "frames that decoded but are damaged (FFmpeg flagged them, a packet before them failed, "
    "or H.264 reference frames before them are missing), whether or not the check left them out",
    "frames_duplicate": "frames removed as exact duplicates of an earlier frame",
    "frames_usable": "frames neither corrupt nor duplicate",
    "sequence_length": "frames per sequence (`selected_sequence_length`)",
    "sequences_complete": "complete runs of `sequence_length` frames, usable or not",
    "sequences_dropped_invalid": "complete sequences dropped for a corrupt or duplicate frame",
    "sequence_candidates": "candidate sequences (complete and usable)",
    "candidate_frames": "frames in the candidate sequences",
    "incomplete_tails": "sources whose last frames do not fill a sequence",
    "tail_frames_dropped": "frames in those incomplete tails",
    "selected_sequences": "sequences selected",
    "selected_frames": "frames selected (`selected_sequences` × `sequence_length`)",
    "sources_from_cache": "sources whose frames came from the embedding cache (not decoded)",
    "frames_from_cache": "frames of those sources",
    "frames_decoded": "frames decoded by this run",
    "frames_embedded": "frames this run put through the model",
}
_STOPPING = {
    "reason": "`n_samples`, `min_distance` or `all_candidates`",
    "message": "one line saying why selection stopped (the command prints it)",
    "n_samples": "the `stopping_condition.n_samples` setting (`-1`: off)",
    "min_distance": "the `stopping_condition.min_distance` setting (`-1`: off)",
    "requested_frames": "the frames `n_samples` asks for, in whole sequences; `null` when it is off",
    "all_candidates_selected": "whether every candidate sequence was selected",
}
_METRICS = {
    "covering_radius": "largest distance from any candidate to its nearest selected candidate (datapool items "
    "included), after the last pick, in the space selection ran in",
    "covering_radius_first_pick": "the same after the first pick (`null` when nothing was picked)",
    "embedding_dim": "dimension of the frame embeddings",
    "selection_dim": "dimension selection ran in (`selection_dim`: principal components, or the full dimension)",
    "frames_with_embedding": "rows of `data/embeddings.csv`",
    "coverage": "the report's coverage numbers, in the full embedding space",
}
_COVERAGE = {
    "distance": "what the distances are (text)",
    "candidates": "candidate sequences",
    "selected": "selected sequences",
    "radius_before": "largest distance from any candidate to the mean of all candidates",
    "radius_before_definition": "that definition, as text",
    "radius_after": "largest distance from any candidate to its nearest selected candidate",
    "radius_after_definition": "that definition, as text",
    "mean_distance_to_selection": "mean distance from a candidate to its nearest selected candidate",
    "random": "the same two numbers for a seeded random selection of the same size (`seed`, `definition`, "
    "`radius_after`, `mean_distance_to_selection`)",
    "distance_to_selection": "histogram of each candidate's distance to the selection and to the random one "
    "(`bin_edges`, `selected`, `random` counts), as `plots/distance_distr_after.png` draws it",
    "nearest_neighbour": "nearest-neighbour distances among all candidates, the selected ones and the random "
    "ones (`all`, `selected`, `random`: `points`, `queries`, `sampled`, `min`, `median`, `mean`, `max`, "
    "`counts`; `bin_edges`, and the `sample_cap` and `sample_seed` of the queries)",
}
_TIMINGS = {
    "discover": "scanning `input_dir`",
    "decode_embed": "decoding and embedding every source not in the cache, and reading the cached ones",
    "checks": "the corruptness and duplicate checks",
    "sequences": "forming the candidate sequences and their embeddings",
    "select": "the selection",
}
_SOURCE = {
    "name": "the source's name: its path relative to `input_dir` ([Frame names](#frame-names))",
    "kind": "`video`, `frames` (a frame folder) or `image` (a loose image)",
    "frames": "its frames",
    "candidates": "its candidate sequences",
    "selected_sequences": "its selected sequences",
}
_SEQUENCE = {
    "video_name": "the source's name",
    "frame_names": "the frames' names, in order",
    "frame_indices": "the frames' indices in the source",
    "frame_timestamps_pts": "videos only: each frame's timestamp in the stream's time base (`null` where unknown)",
    "frame_timestamps_sec": "videos only: the same in seconds",
}
_STRATEGY = {
    "label": "how the report names it, e.g. `DIVERSITY on EMBEDDINGS`",
    "input": "its `input`, as configured",
    "strategy": "its `strategy`, as configured",
    "objective": "`measure` (what is measured), `before` over the candidates, `after` over the selection; "
    "for BALANCE also `values` and `target`, with shares per value. DIVERSITY's is the covering radius "
    "(`before` is `null` without a datapool)",
    "histogram": "WEIGHTS, THRESHOLD and SIMILARITY (distance to the nearest query): the distribution of its "
    "input, `edges` and the `candidates` and `selected` counts per bin",
    "bars": "BALANCE: `values`, and the `candidates` and `selected` counts per value",
    "reached": "BALANCE: whether the selection reached its target",
    "message": "BALANCE: one line on how close it came (the command prints it when the target is missed)",
}
_DATAPOOL = {
    "folder": "the datapool folder",
    "signature": "the embedding space it holds",
    "items_before": "its items before this run",
    "new_items": "this run's picks, added to it",
    "items_after": "its items after this run",
}
_PAGE = {
    "rebuilt": "whether `framepick report` made it (not the run)",
    "plots": "the files drawn under `plots/`",
    "map": "the embedding map",
    "thumbnails": "the page's thumbnails: `available`, `count`, `bytes`, `size_px`, `jpeg_quality`, `filmstrips`, "
    "`filmstrip_frame_offsets`, `hover_only`, the `budget_bytes` they may take and whether it was "
    "`budget_reached`, and `failed_sources` (source → why it gave none)",
    "selected_listed": "selected sequences listed on the page (filmstrips included)",
    "timeline_sources": "sources on the page's timeline",
    "timeline_png_sources": "sources in `plots/video_sampling_timeline.png`",
    "example_pairs": "the first selected items next to their nearest unselected candidate: `rank`, `selected`, "
    "`neighbour` (labels) and their `distance`",
    "limits": "the page's bounds: `map_points`, `nn_sample`, `filmstrips`, `listed`, `hover_thumbnails`, "
    "`timeline_sources`, `thumbnail_budget_bytes`",
    "notes": "what the page says it left out or sampled, and why",
    "frame_map": "the frame map (the selected sequences' frames on the PCA of all candidate frames); `null` "
    "when it is not drawn",
    "strategies": "when `strategies` is not empty: how many strategies the page shows",
    "html_bytes": "size of `report.html`",
    "build_sec": "seconds the page took",
}
_MAP = {
    "candidates": "candidates (one point each)",
    "points": "points drawn",
    "selected_points": "selected points drawn",
    "sampled": "whether the points are a seeded sample of the candidates",
    "seed": "that sample's seed",
    "projections": "the maps drawn: `pca`, and `umap` when umap-learn is installed",
    "pca_variance_ratio": "the variance share of the PCA's two axes",
    "umap": "`ok` when UMAP is drawn, else why not",
    "hover_thumbnails": "points with a thumbnail on hover",
    "datapool": "with a datapool: its `items`, the `points` drawn for them and whether they are `sampled`",
}
_FRAME_MAP = {
    "points": "frames drawn",
    "frames": "embedded frames of the selected sequences",
    "sequences": "sequences drawn",
    "selected_sequences": "selected sequences",
    "candidate_frames": "embedded frames of all candidate sequences, what the PCA is of",
    "fit_frames": "the frames the PCA was fitted on (a seeded sample of at most 1,000)",
    "pca_variance_ratio": "the variance share of its two axes",
}
_CLIP = {
    "path": "the clip's path from `output_dir`",
    "source": "the source's name",
    "first": "its first frame's index in the source",
    "last": "its last frame's index",
    "frames": "its frames",
    "method": "`copy` (the source's packets) or `encode`; `null` for a clip that could not be made, which has an "
    "`error` instead and no file",
    "codec": "the video codec",
    "crf": "the encoder's CRF (`null` for a copy)",
    "pix_fmt": "its pixel format",
    "fps": "its frame rate",
    "psnr_db": "the worst frame's PSNR against its source frame (`null` when every frame is identical)",
}


def _under(prefix: str, members: Mapping[str, str]) -> dict[str, str]:
    return {f"{prefix}{key}": what for key, what in members.items()}


REPORT_KEYS: dict[str, str] = {
    "framepick_version": "the version that wrote it",
    "input_dir": "the input folder of the run",
    "output_dir": "the output folder of the run",
    "counts": "how many of everything",
    **_under("counts.", _COUNTS),
    "stopping": "why selection stopped",
    **_under("stopping.", _STOPPING),
    "metrics": "the selection's numbers",
    **_under("metrics.", _METRICS),
    **_under("metrics.coverage.", _COVERAGE),
    "timings_sec": "seconds per stage. The write stage is not among them, since report.json is written inside "
    "it: its time is logged on the console and is in `result.timings` in Python",
    **_under("timings_sec.", _TIMINGS),
    "sources": "one object per source, in input order",
    **_under("sources[].", _SOURCE),
    "corrupt": "frame or file name → reason, for everything in `corrupt_filenames.txt`",
    "left_out": "frame or file name → reason, for every frame and file that could not take part whatever "
    "`enable_corruptness_check` says: undecodable frames and images, files that do not open, truncated files "
    "([`decoding.md`](decoding.md))",
    "sequences": "the selected sequences in selection order, as in `data/sequence_information.json`",
    **_under("sequences[].", _SEQUENCE),
    "config": "the resolved configuration, as in `config.yaml` (the keys above; off is `-1`)",
    "duplicates": "duplicate frame name → the earlier frame it equals",
    "skipped": "path → reason, for what the scan of `input_dir` did not read: link loops, second links to a "
    "folder, broken links, folders that cannot be listed",
    "timestamp_gaps": "video name → the gaps in its timestamps (information, not damage: "
    "[`decoding.md`](decoding.md#what-is-damaged)): `count`, `slots_skipped` (frame slots skipped in all) and "
    "`before` (the frame after each gap → the slots skipped before it); only videos with gaps are listed",
    "strategies": "with `selection.strategies` or a datapool: one object per strategy, in configuration order "
    "(else empty)",
    **_under("strategies[].", _STRATEGY),
    "candidates_excluded": "reason → candidate sequences left out before the greedy loop (a THRESHOLD failed, "
    "a frame has no value for a key a strategy reads, already in the datapool)",
    "value_files": "the `metadata` and `scores` files, when given (else empty)",
    "value_files.metadata": "its `file`, `rows_matched`, and the rows that name no frame of the input: "
    "`unmatched` (a count) and `unmatched_examples` (the first few names)",
    "value_files.scores": "the same for the scores file",
    "datapool": "with `datapool=`: the datapool; `null` without",
    **_under("datapool.", _DATAPOOL),
    "page": "what `report.html` shows and how it sampled big runs; only `error` when the page could not be built",
    **_under("page.", _PAGE),
    **_under("page.map.", _MAP),
    **_under("page.frame_map.", _FRAME_MAP),
    "clips": "with `export_clips=true`: one object per selected sequence, in selection order; absent without",
    **_under("clips[].", _CLIP),
    "exports": 'with `export_format`: tool → `{"frames": path, "clips": path}`, the import file written for each '
    "(paths from `output_dir`; `{}` for a tool when no clip could be made); CVAT's `frames` is "
    "`data/cvat/manifest.jsonl`, the upload's manifest, and its `frames_share` `data/sampled/manifest.jsonl`; "
    "absent without",
}

REPORT_KEYS_BEGIN = "<!-- report-keys:begin -->"
REPORT_KEYS_END = "<!-- report-keys:end -->"


def _described_below(prefix: str) -> bool:
    return any(key.startswith(prefix) for key in REPORT_KEYS)


def key_paths(report: Mapping[str, Any]) -> list[str]:
    """The keys of a report.json dictionary, as paths in its order, as deep as :data:`REPORT_KEYS` goes."""
    found: dict[str, None] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = prefix + key
            found[path] = None
            if isinstance(value, Mapping) and _described_below(path + "."):
                walk(value, path + ".")
            elif isinstance(value, list) and _described_below(path + "[]."):
                for item in value:
                    if isinstance(item, Mapping):
                        walk(item, path + "[].")

    walk(report, "")
    return list(found)


def stage_of(path: str) -> str:
    """What writes the key ``path``: :data:`SUMMARY`, or the stage :data:`ADDED_BY` names."""
    for added, stage in ADDED_BY.items():
        if path == added or path.startswith((added + ".", added + "[]")):
            return stage
    return SUMMARY


def undescribed(report: Mapping[str, Any]) -> list[str]:
    """The keys of ``report`` that :data:`REPORT_KEYS` does not describe."""
    return [path for path in key_paths(report) if path not in REPORT_KEYS]


def unwritten(report: Mapping[str, Any]) -> list[str]:
    """The keys :data:`REPORT_KEYS` describes that ``report`` does not have."""
    paths = set(key_paths(report))
    return [key for key in REPORT_KEYS if key not in paths]


def report_keys_markdown(report: Mapping[str, Any]) -> str:
    """docs/reference.md's report.json table, from a run's ``report`` that has every described key.

    ValueError when the run and :data:`REPORT_KEYS` disagree.
    """
    missing, extra = undescribed(report), unwritten(report)
    if missing or extra:
        raise ValueError(f"report.json keys without a description: {missing}; described but not written: {extra}")
    lines = ["| key | from | what |", "| --- | --- | --- |"]
    for path in key_paths(report):
        what = REPORT_KEYS[path].replace("|", "\\|")
        lines.append(f"| `{path}` | {stage_of(path)} | {what} |")
    return "\n".join(lines) + "\n"


def with_report_keys_table(text: str, report: Mapping[str, Any]) -> str:
    """``text`` (a Markdown page) with the part between the report-keys markers replaced by the table."""
    begin, end = text.find(REPORT_KEYS_BEGIN), text.find(REPORT_KEYS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no {REPORT_KEYS_BEGIN} ... {REPORT_KEYS_END} block")
    return text[: begin + len(REPORT_KEYS_BEGIN)] + "\n" + report_keys_markdown(report) + text[end:]
