"""Import files for labeling tools (export_format): each checked against its tool's documented format.

None of the tools is installed here (FiftyOne needs MongoDB; the Label Studio and CVAT SDKs
need a server), so each file is checked by a small validator written from the tool's own
documentation and reader code, cited at each checker: the structure the tool reads, every
named file existing, and framepick's fields (sequence, rank, source) on every frame and clip.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import mimetypes
import os
import posixpath
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import av
import numpy as np
import pytest
from PIL import Image

import framepick
from framepick import ConfigError, load_config
from framepick.clips import clip_relpath
from framepick.errors import OutputError
from framepick.export import LABEL_STUDIO_URL_PREFIX, cvat_upload_name, local_files_url, write_exports
from framepick.results import RunReport
from media import FakeEmbedder, decode_all, frame_folder, scene_video, write_video

ALL = "cvat,label_studio,fiftyone"
IMPORT_FILES = ("manifest.jsonl", "label_studio_tasks.json", "samples.json", "cvat_tasks.json", "metadata.json")


def _run(scenes_input: Path, out: Path, **settings: object) -> framepick.RunResult:
    base: dict[str, object] = {
        "input_dir": str(scenes_input),
        "output_dir": str(out),
        "selected_sequence_length": 10,
        "stopping_condition.n_samples": 40,
    }
    return framepick.run(load_config(overrides=base | settings), embedder=FakeEmbedder())


def _write_exports(
    out: Path, config: framepick.Config, report: dict[str, Any], candidates: Sequence[int]
) -> dict[str, dict[str, str]] | None:
    """write_exports with a run's report.json read back: its selected sequences and its clips."""
    record = RunReport.from_json(report)
    return write_exports(out, config, record.summary.sequences, candidates, record.written.clips)


def _selected(out: Path) -> list[int]:
    """The candidate id of each selected sequence, in selection order, from data/candidates.csv."""
    with open(out / "data/candidates.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["selected_rank"]) > 0]
    return [int(r["candidate"]) for r in sorted(rows, key=lambda r: int(r["selected_rank"]))]


def _expected_frames(out: Path, ext: str = ".png") -> list[dict[str, Any]]:
    """Every selected frame with its sequence, rank and source, in selection order; a video
    frame's file ends in ``ext``, a folder's frame keeps its own name (it is copied)."""
    report = json.loads((out / "report.json").read_text())
    frames = []
    for rank, (seq, candidate) in enumerate(zip(report["sequences"], _selected(out), strict=True), start=1):
        for position, (name, index) in enumerate(zip(seq["frame_names"], seq["frame_indices"])):
            frames.append(
                {
                    "file": name if name.startswith(f"{seq['video_name']}/") else name.rsplit(".", 1)[0] + ext,
                    "sequence": candidate,
                    "rank": rank,
                    "source": seq["video_name"],
                    "frame_index": index,
                    "frame_name": name,
                    "position": position,
                }
            )
    return frames


def _framepick_fields(fields: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("sequence", "rank", "source", "frame_index", "frame_name", "position"):
        assert fields[key] == want[key], key


@pytest.fixture(scope="module")
def all_formats(scenes_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "out"
    _run(scenes_input, out, dump_dataset=True, export_format=ALL)
    return out


# --- CVAT ---------------------------------------------------------------------------------------
# CVAT's reader: cvat-ai/cvat utils/dataset_manifest/core.py (_DatasetManifestStructureValidator,
# _VideoManifestStructureValidator, ImageManifestManager) and the format at
# https://docs.cvat.ai/docs/dataset_management/dataset_manifest/#file-format


def _jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n\n" not in text  # one entry a line, no empty lines
    return [json.loads(line) for line in text.splitlines()]


def _check_cvat_images(manifest: Path) -> list[dict[str, Any]]:
    """The image manifest's structure as CVAT reads it; returns the image lines."""
    lines = _jsonl(manifest)
    assert lines[0] == {"version": "1.1"}  # SupportedVersion: '1.0' or '1.1'
    assert lines[1] == {"type": "images"}
    for item in lines[2:]:
        assert isinstance(item["name"], str) and isinstance(item["extension"], str)
        # CVAT splits a file's name from its extension with os.path.splitext (DatasetImagesReader)
        assert item["extension"].startswith(".")
        assert posixpath.splitext(item["name"] + item["extension"]) == (item["name"], item["extension"])
        assert set(item) <= {"name", "extension", "width", "height", "meta", "checksum"}
        assert isinstance(item["width"], int) and isinstance(item["height"], int)
        assert isinstance(item["meta"], dict)
        image = manifest.parent / (item["name"] + item["extension"])  # names are relative to the manifest
        with Image.open(image) as img:
            assert img.size == (item["width"], item["height"])
    return lines[2:]


def test_cvat_image_manifest(all_formats: Path) -> None:
    out = all_formats
    items = _check_cvat_images(out / "data/sampled/manifest.jsonl")
    want = _expected_frames(out)
    # every dumped frame, nothing else (CVAT's "predefined" sorting refuses a mismatch), in selection order
    assert [i["name"] + i["extension"] for i in items] == [w["file"] for w in want]
    on_disk = sorted(p.relative_to(out / "data/sampled").as_posix() for p in (out / "data/sampled").rglob("*.png"))
    assert sorted(w["file"] for w in want) == on_disk
    for item, w in zip(items, want):
        _framepick_fields(item["meta"]["framepick"], w)
    video_frames = [i for i in items if i["meta"]["framepick"]["source"].endswith(".mp4")]
    assert video_frames and all("timestamp_sec" in i["meta"]["framepick"] for i in video_frames)


# --- CVAT: uploading the frames -----------------------------------------------------------------
# What CVAT does with image files uploaded from the user's computer (the UI's "My computer",
# cvat-cli and cvat-sdk's "local" resources), as read in cvat-ai/cvat:
# - Only a file's base name reaches the server. cvat-sdk/cvat_sdk/core/uploading.py
#   (DataUploader.upload_files) posts small files as multipart "client_files", whose names Django
#   cuts to the base name (django/core/files/uploadedfile.py, UploadedFile._set_name), sends large
#   ones by TUS under Path.name, and with sorting "predefined" sends upload_file_order as the
#   Path.name of each file; a browser's File.name is a base name as well. The server writes every
#   file under that name into the task's single upload folder (cvat/apps/engine/mixins.py:
#   UploadMixin.append_files appends to the file of that name, TusFile.rename adds "_1" when the
#   name is taken), so two files with one base name cannot both arrive.
# - The manifest is the one "*.jsonl" among the uploaded files (cvat/apps/engine/task.py,
#   _find_manifest_files and _validate_manifest: more than one is refused); files that are not
#   media are skipped (_count_files).
# - With sorting "predefined" and a manifest (task.py, _create_thread), _restore_file_order_from_manifest
#   compares each uploaded image's path relative to the upload folder with each manifest line's
#   name + extension (utils/dataset_manifest/core.py, ImageManifestManager.data): any difference
#   fails the task ("Uploaded files do no match the upload manifest file contents"); otherwise the
#   frames come in the manifest's order.
# - A file share or cloud storage keeps the files' paths (task.py: _copy_data_from_share_point, the
#   cloud manifest's prefix), so data/sampled/manifest.jsonl stays right there. A zip archive keeps
#   its paths too (media_extractors.py, ZipReader), but its manifest must be uploaded beside it (the
#   manifest is looked for only among the uploaded files; TaskViewSet.data's description in
#   cvat/apps/engine/views.py says so), so a zip saves no step over a flat folder.


def _cvat_upload(files: Sequence[Path]) -> list[str]:
    """The frames, in task order, of the CVAT image task made by uploading ``files`` with sorting
    "predefined", by the rule above; an AssertionError where CVAT would refuse the task."""
    names = [f.name for f in files]  # all the server gets
    assert len(set(names)) == len(names), "two uploaded files with one base name"
    manifests = [f for f in files if f.name.endswith(".jsonl")]
    assert len(manifests) == 1, f"{len(manifests)} manifests among the uploaded files"
    images = {n for n in names if (mimetypes.guess_type(n)[0] or "").startswith("image/")}
    listed = [line["name"] + line["extension"] for line in _jsonl(manifests[0])[2:]]
    only_uploaded, only_listed = sorted(images.difference(listed)), sorted(set(listed) - images)
    assert not only_uploaded and not only_listed, (
        f"uploaded files do not match the manifest: uploaded {only_uploaded[:2]}, listed {only_listed[:2]}"
    )
    return listed


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An input with subfolders (a video in drive/, the frame folders stereo/left/ and
    stereo/right/ whose frames have the same file names), every sequence selected, CVAT's files."""
    root = tmp_path_factory.mktemp("nested")
    (root / "in/drive").mkdir(parents=True)
    scene_video(root / "in/drive/cam0.mp4", ["checker", "stripes"], 20)
    frame_folder(root / "in/stereo/left", ["diagonal"], 20)
    frame_folder(root / "in/stereo/right", ["circles"], 20)
    _run(root / "in", root / "out", dump_dataset=True, export_format="cvat", **{"stopping_condition.n_samples": 80})
    return root / "out"


def test_cvat_upload_folder_makes_the_task(nested_run: Path) -> None:
    """Uploading all of data/cvat/ gives every frame, in selection order, each the dumped frame
    under a flat name that gives its path in data/sampled/ back."""
    out, want = nested_run, _expected_frames(nested_run)
    dumped = [w["file"] for w in want]
    assert {f.split("/")[0] for f in dumped} == {"drive", "stereo"}  # subfolders, and a shared file name:
    assert len({PurePosixPath(f).name for f in dumped}) < len(dumped)
    order = _cvat_upload(sorted((out / "data/cvat").iterdir()))
    assert [unquote(name) for name in order] == dumped
    for name, file in zip(order, dumped):
        assert (out / "data/cvat" / name).read_bytes() == (out / "data/sampled" / file).read_bytes()
    for item, w in zip(_check_cvat_images(out / "data/cvat/manifest.jsonl"), want):
        _framepick_fields(item["meta"]["framepick"], w)


def test_cvat_upload_of_data_sampled_fails(nested_run: Path) -> None:
    """The layout README used to give (data/sampled/ uploaded with its manifest) breaks CVAT's
    rule twice: frames of two folders share a base name, and the manifest's names have folders."""
    sampled = nested_run / "data/sampled"
    files = sorted(p for p in sampled.rglob("*") if p.is_file())
    with pytest.raises(AssertionError, match="one base name"):
        _cvat_upload(files)
    without_right = [p for p in files if not p.is_relative_to(sampled / "stereo/right")]
    with pytest.raises(AssertionError, match=r"do not match the manifest: .* listed \['drive/cam0-"):
        _cvat_upload(without_right)
    assert _check_cvat_images(sampled / "manifest.jsonl")  # still right where paths are kept


def test_cvat_upload_names_are_flat_and_never_meet() -> None:
    paths = ["a.png", "a/b.png", "a%2Fb.png", "a%252Fb.png", "a%/2Fb.png", "a%b/c.png", "a%25b/c.png", "x/y/z.png"]
    flat = [cvat_upload_name(p) for p in paths]
    assert flat[0] == "a.png" and flat[1] == "a%2Fb.png"  # no folder, no '%': unchanged
    assert len(set(flat)) == len(paths) and not any("/" in f for f in flat)
    assert [unquote(f) for f in flat] == paths
    long = ["d" * 200 + "/" + "e" * 100 + f"{i}.png" for i in range(2)] + ["é" * 130 + "/f.jpg"]
    cut = [cvat_upload_name(p) for p in long]
    assert len(set(cut)) == 3 and all(len(c.encode()) <= 255 and "%00" in c for c in cut)
    assert [PurePosixPath(c).suffix for c in cut] == [".png", ".png", ".jpg"]


def test_cvat_upload_copies_without_hard_links(
    all_formats: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "out"
    shutil.copytree(all_formats, copy)

    def no_links(*_: object) -> None:
        raise OSError("no hard links here")

    monkeypatch.setattr(os, "link", no_links)
    report = json.loads((all_formats / "report.json").read_text())
    _write_exports(copy, load_config(all_formats / "config/config.yaml"), report, _selected(all_formats))
    items = _check_cvat_images(copy / "data/cvat/manifest.jsonl")
    assert len(items) == len(_expected_frames(all_formats))
    for item in items:
        name = item["name"] + item["extension"]
        assert (copy / "data/cvat" / name).read_bytes() == (copy / "data/sampled" / unquote(name)).read_bytes()
        assert not (copy / "data/cvat" / name).samefile(copy / "data/sampled" / unquote(name))


# --- Label Studio -------------------------------------------------------------------------------
# https://labelstud.io/guide/tasks#Basic-Label-Studio-JSON-format (a list of tasks, each a "data"
# dict whose keys the labeling config's $variables name) and
# https://labelstud.io/guide/storage#Tasks-with-local-storage-file-references (/data/local-files/?d=)


def _check_label_studio(tasks_file: Path, out: Path, key: str) -> list[dict[str, Any]]:
    """The task list's structure; every URL resolves to a file under the output folder (the
    document root the docs tell the user to set). Returns the tasks' data dicts."""
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert isinstance(tasks, list) and tasks
    for task in tasks:
        assert set(task) == {"data"} and isinstance(task["data"], dict)
        url = task["data"][key]
        assert url.startswith(LABEL_STUDIO_URL_PREFIX)
        (path,) = parse_qs(urlsplit(url).query)["d"]
        assert not Path(path).is_absolute() and ".." not in Path(path).parts
        assert (out / path).is_file(), path
        assert all(isinstance(v, (str, int, float)) for v in task["data"].values())
    return [t["data"] for t in tasks]


def test_label_studio_image_tasks(all_formats: Path) -> None:
    out = all_formats
    tasks = _check_label_studio(out / "data/sampled/label_studio_tasks.json", out, "image")
    want = _expected_frames(out)
    assert len(tasks) == len(want)
    for data, w in zip(tasks, want):
        assert data["image"] == LABEL_STUDIO_URL_PREFIX + "data/sampled/" + w["file"]
        _framepick_fields(data, w)


def test_label_studio_urls_are_percent_encoded() -> None:
    name = "data/sampled/drive 1/cam#2&x=y%-0042-mp4.png"
    url = local_files_url(name)
    assert " " not in url and "#" not in url and url.count("&") == 0
    (path,) = parse_qs(urlsplit(url).query)["d"]
    assert path == name and unquote(url[len(LABEL_STUDIO_URL_PREFIX) :]) == name


# --- FiftyOne -----------------------------------------------------------------------------------
# voxel51/fiftyone fiftyone/utils/data/importers.py: LegacyFiftyOneDatasetImporter (samples.json
# {"samples": [...]}, filepath joined to the dataset folder, Sample.from_dict; video datasets:
# metadata.json media_type "video" and a "frames" file per sample), and
# FiftyOneDatasetImporter._is_legacy_format_data (no "version" in metadata.json).

FIFTYONE_RESERVED = {"id", "_id", "filepath", "tags", "metadata", "media_type", "frames", "created_at"}


def _check_fiftyone(folder: Path, video: bool) -> list[dict[str, Any]]:
    metadata = folder / "metadata.json"
    if video:
        assert json.loads(metadata.read_text()) == {"media_type": "video"}
    else:
        assert not metadata.exists() or "version" not in json.loads(metadata.read_text())
    samples = json.loads((folder / "samples.json").read_text(encoding="utf-8"))["samples"]
    assert samples
    for sample in samples:
        assert not Path(sample["filepath"]).is_absolute() and (folder / sample["filepath"]).is_file()
        assert sample["tags"] == []
        assert not FIFTYONE_RESERVED & (set(sample) - {"filepath", "tags", "frames"})
        assert all(not k.startswith("_") for k in sample)
        if video:
            assert json.loads((folder / sample["frames"]).read_text()) == {"frames": {}}
        else:
            assert "frames" not in sample
    return samples


def test_fiftyone_image_samples(all_formats: Path) -> None:
    out = all_formats
    samples = _check_fiftyone(out / "data/sampled", video=False)
    want = _expected_frames(out)
    assert [s["filepath"] for s in samples] == [w["file"] for w in want]
    for sample, w in zip(samples, want):
        _framepick_fields(sample, w)


def test_report_records_every_export(all_formats: Path) -> None:
    report = json.loads((all_formats / "report.json").read_text())
    assert report["exports"] == {
        "cvat": {"frames": "data/cvat/manifest.jsonl", "frames_share": "data/sampled/manifest.jsonl"},
        "label_studio": {"frames": "data/sampled/label_studio_tasks.json"},
        "fiftyone": {"frames": "data/sampled/samples.json"},
    }
    assert all((all_formats / p).is_file() for paths in report["exports"].values() for p in paths.values())
    log = (all_formats / "log.txt").read_text()
    assert "labeling tool files: cvat: data/cvat/manifest.jsonl, data/sampled/manifest.jsonl" in log


# --- which tools, which files --------------------------------------------------------------------


def _import_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*") if p.name in IMPORT_FILES)


def test_one_format_writes_only_its_file_and_jpg_names(scenes_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    _run(scenes_input, out, dump_dataset=True, export_format="label_studio", output_image_format="jpg")
    assert _import_files(out) == ["data/sampled/label_studio_tasks.json"]
    tasks = _check_label_studio(out / "data/sampled/label_studio_tasks.json", out, "image")
    assert [t["image"].rsplit("/", 1)[-1] for t in tasks] == [
        w["file"].rsplit("/", 1)[-1] for w in _expected_frames(out, ".jpg")
    ]
    assert json.loads((out / "report.json").read_text())["exports"] == {
        "label_studio": {"frames": "data/sampled/label_studio_tasks.json"}
    }


def test_none_writes_nothing(scenes_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    _run(scenes_input, out, dump_dataset=True, export_format="none", export_clips=False)
    assert _import_files(out) == []
    assert "exports" not in json.loads((out / "report.json").read_text())


def test_nothing_to_hand_over_is_a_config_error(scenes_input: Path, tmp_path: Path) -> None:
    """Without dump_dataset or export_clips no file exists to import: refused at the start, naming both keys."""
    with pytest.raises(ConfigError, match=r"set dump_dataset=true \(the frames\) and/or export_clips=true"):
        _run(scenes_input, tmp_path / "o", export_format="cvat,fiftyone")
    assert not (tmp_path / "o").exists()


def test_a_missing_frame_is_refused(all_formats: Path, tmp_path: Path) -> None:
    """The same run's report against a folder without its frames: no import file names a missing file."""
    report = json.loads((all_formats / "report.json").read_text())
    config = load_config(all_formats / "config/config.yaml")
    (tmp_path / "data/sampled").mkdir(parents=True)
    with pytest.raises(OutputError, match="were not written"):
        _write_exports(tmp_path, config, report, _selected(all_formats))
    assert not (tmp_path / "data/sampled/manifest.jsonl").exists() and not (tmp_path / "data/cvat").exists()


# --- clips ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips_run(scenes_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A run with dump_dataset, export_clips and every format: the pipeline's clips and import
    files. Where no clip writer records report.json's ``clips`` (a tree without clips.write_clips),
    the clips are made here instead (named by clips.clip_relpath, encoded from the source frames)
    and the import files written by write_exports on the finished folder."""
    out = tmp_path_factory.mktemp("clips") / "out"
    result = _run(scenes_input, out, dump_dataset=True, export_clips=True, export_format=ALL)
    report = json.loads((out / "report.json").read_text())
    if report.get("clips") is None:
        frames = {s.name: decode_all(s.path) for s in result.sources if s.kind == "video"}
        clips = []
        for seq in report["sequences"]:
            index = [s.name for s in result.sources].index(seq["video_name"])
            source, idx = result.sources[index], seq["frame_indices"]
            path = clip_relpath(source, idx[0], idx[-1], report["sources"][index]["frames"])
            pictures = (
                frames[source.name][idx[0] : idx[-1] + 1]
                if source.kind == "video"
                else [np.asarray(Image.open(source.files[i]).convert("RGB")) for i in idx]
            )
            write_video(out / path, pictures, lossless=False)
            clips.append(
                {"path": path, "source": seq["video_name"], "first": idx[0], "last": idx[-1], "method": "test"}
            )
        report["clips"] = clips
        report["exports"] = _write_exports(out, result.config, report, result.selection.indices)
    yield out, report


def test_cvat_video_manifests_and_task_list(clips_run: tuple[Path, dict[str, Any]]) -> None:
    out, report = clips_run
    tasks = json.loads((out / "data/clips/cvat_tasks.json").read_text())
    assert len(tasks) == len(report["sequences"]) == len(report["clips"])
    candidates = _selected(out)
    for rank, (task, seq) in enumerate(zip(tasks, report["sequences"]), start=1):
        assert (task["rank"], task["sequence"], task["source"]) == (rank, candidates[rank - 1], seq["video_name"])
        assert (task["first_frame"], task["last_frame"]) == (seq["frame_indices"][0], seq["frame_indices"][-1])
        assert task["name"].startswith(f"framepick {rank}: {seq['video_name']}")
        video, manifest = out / "data/clips" / task["video"], out / "data/clips" / task["manifest"]
        lines = _jsonl(manifest)
        assert lines[:2] == [{"version": "1.1"}, {"type": "video"}]
        props = lines[2]["properties"]
        assert props["name"] == video.name and props["length"] == len(seq["frame_indices"])
        with av.open(str(video)) as container:
            decoded = list(container.decode(video=0))
        assert props["resolution"] == [decoded[0].width, decoded[0].height] and len(decoded) == props["length"]
        keys = lines[3:]
        assert keys and keys[0]["number"] == 0  # the clip starts on a key frame
        for key in keys:  # what CVAT's VideoManifestValidator checks: each key frame's pts; the checksum as md5_hash
            frame = decoded[key["number"]]
            assert frame.key_frame and key["pts"] == frame.pts
            assert key["checksum"] == hashlib.md5(frame.to_image().tobytes()).hexdigest()
    assert report["exports"]["cvat"]["clips"] == "data/clips/cvat_tasks.json"


def test_label_studio_and_fiftyone_video_tasks(clips_run: tuple[Path, dict[str, Any]]) -> None:
    out, report = clips_run
    tasks = _check_label_studio(out / "data/clips/label_studio_tasks.json", out, "video")
    samples = _check_fiftyone(out / "data/clips", video=True)
    clips = {c["path"]: c for c in report["clips"]}
    for rank, (data, sample) in enumerate(zip(tasks, samples), start=1):
        path = parse_qs(urlsplit(data["video"]).query)["d"][0]
        assert path == "data/clips/" + sample["filepath"] and path in clips
        for fields in (data, sample):
            assert (fields["rank"], fields["source"], fields["first_frame"]) == (
                rank,
                clips[path]["source"],
                clips[path]["first"],
            )
    assert report["exports"]["label_studio"]["clips"] == "data/clips/label_studio_tasks.json"
    assert report["exports"]["fiftyone"]["clips"] == "data/clips/samples.json"


def test_frames_and_clips_together(clips_run: tuple[Path, dict[str, Any]]) -> None:
    out, report = clips_run
    assert report["exports"] == {
        "cvat": {
            "frames": "data/cvat/manifest.jsonl",
            "frames_share": "data/sampled/manifest.jsonl",
            "clips": "data/clips/cvat_tasks.json",
        },
        "label_studio": {
            "frames": "data/sampled/label_studio_tasks.json",
            "clips": "data/clips/label_studio_tasks.json",
        },
        "fiftyone": {"frames": "data/sampled/samples.json", "clips": "data/clips/samples.json"},
    }
    want = _expected_frames(out)
    assert len(_check_cvat_images(out / "data/sampled/manifest.jsonl")) == len(want)
    assert len(_check_cvat_images(out / "data/cvat/manifest.jsonl")) == len(want)
    assert len(_check_fiftyone(out / "data/sampled", video=False)) == len(want)


def test_clips_only(clips_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """export_clips without dump_dataset: the clips' files only, nothing about frames."""
    out, report = clips_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("sampled", "cvat"))
    for name in IMPORT_FILES:
        for path in (copy / "data/clips").rglob(name):
            path.unlink()
    config = replace(load_config(out / "config/config.yaml"), dump_dataset=False)
    exports = _write_exports(copy, config, dict(report), _selected(out))
    assert exports == {tool: {"clips": paths["clips"]} for tool, paths in report["exports"].items()}
    assert not (copy / "data/sampled").exists()
    _check_label_studio(copy / "data/clips/label_studio_tasks.json", copy, "video")
    _check_fiftyone(copy / "data/clips", video=True)


def test_a_clip_carries_its_sequence(clips_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Each clip names its sequence (its ``rank``): the import files take the sequence from the clip,
    never by matching frame ranges, and a clip of no selected sequence is refused."""
    out, report = clips_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    record = RunReport.from_json(report)
    config, candidates = load_config(out / "config/config.yaml"), _selected(out)
    first, *others = record.written.clips or ()
    shifted = replace(first, first=first.first + 1)  # a frame range no selected sequence has
    write_exports(copy, config, record.summary.sequences, candidates, [*others, shifted])
    tasks = _check_label_studio(copy / "data/clips/label_studio_tasks.json", copy, "video")
    assert [t["rank"] for t in tasks] == list(range(1, len(others) + 2))
    assert (tasks[0]["sequence"], tasks[0]["first_frame"]) == (candidates[0], first.first + 1)
    with pytest.raises(OutputError, match="no selected sequence"):
        write_exports(copy, config, record.summary.sequences, candidates, [replace(first, rank=len(candidates) + 1)])


def test_a_clip_that_failed_is_left_out(
    clips_run: tuple[Path, dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The clip writer lists a clip it could not make with an ``error`` and no file, and the run
    goes on; so do the import files, without it."""
    out, report = clips_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    failed = dict(report["clips"][0], method=None, error="the source no longer reads")
    (copy / failed["path"]).unlink()
    bad = dict(report, clips=[failed, *report["clips"][1:]])
    with caplog.at_level(logging.WARNING, logger="framepick"):
        _write_exports(copy, load_config(out / "config/config.yaml"), bad, _selected(out))
    assert any(failed["path"] in r.getMessage() and "not written" in r.getMessage() for r in caplog.records)
    tasks = _check_label_studio(copy / "data/clips/label_studio_tasks.json", copy, "video")
    assert len(tasks) == len(report["clips"]) - 1 and [t["rank"] for t in tasks] == list(range(2, len(tasks) + 2))
    assert len(json.loads((copy / "data/clips/cvat_tasks.json").read_text())) == len(tasks)
