"""Import files for labeling tools (``export_format``): CVAT, Label Studio and FiftyOne.

A selection is only useful once people label it, so the run writes, next to the files it
hands over (the dumped frames in ``data/sampled/``, the clips in ``data/clips/``), the file
each tool reads to take them in, in the tool's own documented format, carrying for every
frame or clip where it came from (source, frame indices) and why it is there (its sequence
and that sequence's selection rank). Nothing here decodes a source: the frames and clips are
already written; only a clip's key frames are read back, because CVAT's video manifest
lists them.

Files, relative to the output folder (see docs/reference.md, "Labeling tools"):

- CVAT: ``data/cvat/``, the frames to upload (hard links to the dumped frames, or copies) under
  flat names (:func:`cvat_upload_name`) with their image-task dataset manifest
  ``data/cvat/manifest.jsonl``: CVAT keeps only the base name of an uploaded file, so the
  manifest of an upload can name no subfolder. ``data/sampled/manifest.jsonl``, the same
  manifest with the frames' paths from ``data/sampled/``, for ``data/sampled/`` attached as a
  file share or cloud storage, which keep paths. For clips, a video manifest beside each clip
  (``data/clips/{clip}.jsonl``, CVAT takes one video and one manifest per task, so their names
  do not matter) and ``data/clips/cvat_tasks.json``, the list of those tasks.
- Label Studio: ``label_studio_tasks.json`` in ``data/sampled/`` and ``data/clips/``: tasks in
  Label Studio's JSON format, media referenced as local files.
- FiftyOne: ``samples.json`` in the same folders, each folder then a
  ``fiftyone.types.LegacyFiftyOneDataset`` directory (clips: with ``metadata.json`` and
  ``frames/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from PIL import Image

from ._log import logger
from .config import Config
from .discover import dumped_name
from .errors import OutputError
from .results import Clip, SelectedSequence

__all__ = [
    "CLIPS_FOLDER",
    "CVAT_MANIFEST_VERSION",
    "CVAT_UPLOAD_FOLDER",
    "FRAMES_FOLDER",
    "LABEL_STUDIO_URL_PREFIX",
    "Item",
    "cvat_upload_name",
    "local_files_url",
    "write_exports",
]

FRAMES_FOLDER = "data/sampled"  # where dump_dataset writes the frames (write.dump_frames)
CLIPS_FOLDER = "data/clips"  # where export_clips writes the clips (clips.clip_relpath)
CVAT_UPLOAD_FOLDER = "data/cvat"  # the frames under flat names, to upload to CVAT
CVAT_MANIFEST_VERSION = "1.1"  # the newest manifest version CVAT reads (utils/dataset_manifest)
LABEL_STUDIO_URL_PREFIX = "/data/local-files/?d="  # Label Studio's local-files URL
_EXIF_ORIENTATION = 0x0112  # the EXIF tag of a picture's rotation and mirroring


@dataclass(frozen=True)
class Item:
    """One file handed to the tools: a dumped frame or a clip, and where it came from.

    ``sequence`` is the candidate id of its sequence (``candidate`` in data/candidates.csv),
    ``rank`` that sequence's place in the selection (1 = picked first, ``selected_rank``).
    """

    path: str  # relative to the output folder, with '/'
    sequence: int
    rank: int
    source: str
    first: int  # frame index in the source (a frame: its own)
    last: int
    frame_name: str | None = None  # frames only
    position: int | None = None  # a frame's place in its sequence, from 0
    seconds: float | None = None  # a video frame's timestamp
    shot: int | None = None  # sequence_boundaries=shots: its sequence's shot in the source

    def fields(self) -> dict[str, Any]:
        """The framepick fields every tool gets, under the same names everywhere."""
        out: dict[str, Any] = {"sequence": self.sequence, "rank": self.rank, "source": self.source}
        if self.frame_name is None:
            out |= {"first_frame": self.first, "last_frame": self.last}
        else:
            out |= {"frame_index": self.first, "frame_name": self.frame_name, "position": self.position}
            if self.seconds is not None:
                out["timestamp_sec"] = self.seconds
        if self.shot is not None:
            out["shot"] = self.shot
        return out


def write_exports(
    out: Path,
    config: Config,
    sequences: Sequence[SelectedSequence],
    candidates: Sequence[int],
    clips: Sequence[Clip] | None = None,
) -> dict[str, dict[str, str]] | None:
    """Write the import files of ``config.export_formats`` into the output folder ``out``.

    ``sequences``: the selected sequences in selection order; ``candidates`` the candidate id
    of each, in the same order; ``clips`` the clips written of them (each knows its sequence's
    ``rank``), None when none were. Returns report.json's ``exports`` ({tool: {"frames"|"clips":
    path}}; CVAT's frames also ``"frames_share"``, the manifest of ``data/sampled/`` itself);
    None when no tool is asked for. Called once the frames and clips are on disk: every file an
    import file names is checked to exist, so a tool is never handed a missing file.
    """
    formats = config.export_formats
    if not formats:
        return None
    frames = _frame_items(sequences, candidates, config.output_image_format) if config.dump_dataset else []
    items = _clip_items(clips or (), candidates) if config.export_clips else []
    if config.export_clips and clips is None:
        logger.warning("export_format: export_clips is on but this run recorded no clips: no import files for clips")
    exports: dict[str, dict[str, str]] = {tool: {} for tool in formats}  # the config refuses nothing to hand over
    handed = [("frames", frames, FRAMES_FOLDER)] if config.dump_dataset else []
    handed += [("clips", items, CLIPS_FOLDER)] if items else []
    for kind, chosen, folder in handed:
        _check_exist(out, chosen, kind)
        for tool in formats:
            for key, writer in _WRITERS[tool, kind]:
                exports[tool][key] = writer(out, chosen, folder)
    if any(exports.values()):
        logger.info("labeling tool files: %s", "; ".join(f"{t}: {', '.join(p.values())}" for t, p in exports.items()))
    return exports


def _frame_items(sequences: Sequence[SelectedSequence], candidates: Sequence[int], image_format: str) -> list[Item]:
    """Every selected frame in selection order (sequence by sequence, frame order within)."""
    items = []
    for rank, (seq, candidate) in enumerate(zip(sequences, candidates, strict=True), start=1):
        seconds = seq.frame_timestamps_sec or [None] * len(seq.frame_names)
        for position, (name, index, sec) in enumerate(zip(seq.frame_names, seq.frame_indices, seconds)):
            items.append(
                Item(
                    path=f"{FRAMES_FOLDER}/{dumped_name(name, seq.video_name, image_format)}",
                    sequence=int(candidate),
                    rank=rank,
                    source=seq.video_name,
                    first=int(index),
                    last=int(index),
                    frame_name=name,
                    position=position,
                    seconds=sec,
                    shot=seq.shot,
                )
            )
    return items


def _clip_items(clips: Sequence[Clip], candidates: Sequence[int]) -> list[Item]:
    """The clips that were written, each with its own sequence: its ``rank``, and that
    sequence's candidate id.

    A clip the clip writer could not make (an ``error``, no file) is left out with a warning,
    as the clip writer itself goes on: one bad source must not cost the run its other outputs.
    """
    items = []
    for clip in clips:
        if clip.error is not None:
            logger.warning(
                "export_format: clip %s was not written (%s); not in the import files", clip.path, clip.error
            )
            continue
        if not 1 <= clip.rank <= len(candidates):
            raise OutputError(f"export_format: clip '{clip.path}' has rank {clip.rank}: no selected sequence has it")
        candidate = int(candidates[clip.rank - 1])
        items.append(
            Item(
                PurePosixPath(clip.path).as_posix(),
                candidate,
                clip.rank,
                clip.source,
                clip.first,
                clip.last,
                shot=clip.shot,
            )
        )
    return sorted(items, key=lambda item: item.rank)


def _check_exist(out: Path, items: Sequence[Item], kind: str) -> None:
    missing = [item.path for item in items if not (out / item.path).is_file()]
    if missing:
        raise OutputError(
            f"export_format: {len(missing)} selected {kind} were not written (first: '{missing[0]}'); "
            "no import file may name a missing file"
        )


def _relative(item: Item, folder: str) -> str:
    return str(PurePosixPath(item.path).relative_to(folder))


def _write_jsonl(path: Path, lines: Sequence[Any]) -> None:
    """One compact JSON value a line, as CVAT's manifests require (no line may wrap)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=False, allow_nan=False)
        fh.write("\n")


# --- CVAT -------------------------------------------------------------------------------------


_NAME_MAX = 255  # bytes in a file name (ext4, XFS, APFS; NTFS counts 255 UTF-16 units)


def cvat_upload_name(path: str) -> str:
    """The flat name of a dumped frame in ``data/cvat/``: its ``path`` from ``data/sampled/``
    with ``%`` written ``%25`` and ``/`` written ``%2F`` (``drive/cam0-0042-mp4.png`` ->
    ``drive%2Fcam0-0042-mp4.png``; a name without either stays as it is).

    CVAT keeps only the base name of an uploaded file, so two frames in two folders with one
    file name would land on one file. No two frames share a flat name: every ``%`` of one
    starts ``%25`` or ``%2F``, so ``urllib.parse.unquote`` gives the path back, and two
    different paths cannot give one name. A name longer than a file name may be (255 bytes)
    is cut and ends in ``%00`` and a SHA-256 of the path before its extension: ``%00`` is in
    no name of the first kind, so only a SHA-256 collision could make two of them meet.
    """
    flat = path.replace("%", "%25").replace("/", "%2F")
    if len(flat.encode()) <= _NAME_MAX:
        return flat
    ext = PurePosixPath(flat).suffix
    tag = "%00" + hashlib.sha256(path.encode()).hexdigest()[:32] + ext
    head = flat[: len(flat) - len(ext)].encode()[: _NAME_MAX - len(tag.encode())]
    return head.decode(errors="ignore") + tag


def _cvat_image_lines(out: Path, items: Sequence[Item], names: Sequence[str]) -> list[dict[str, Any]]:
    """CVAT's dataset manifest for an image task (docs.cvat.ai, "Dataset manifest").

    A version line, a type line, then one line per image: ``name`` (``names``: the file's
    path from the manifest's folder, without extension), ``extension`` (with the dot),
    ``width``, ``height`` and the optional ``meta`` dict, where framepick's fields go under
    ``framepick``. Lines are in selection order, so CVAT's "predefined" sorting shows the most
    informative sequences first. The sizes are read from the dumped files' headers (no
    decoding), as displayed (EXIF rotation applied), as CVAT's own manifest tool
    (utils/dataset_manifest) has them.
    """
    lines: list[dict[str, Any]] = [{"version": CVAT_MANIFEST_VERSION}, {"type": "images"}]
    for item, name in zip(items, names, strict=True):
        stem, dot, ext = name.rpartition(".")
        width, height = _displayed_size(out / item.path)
        lines.append(
            {
                "name": stem,
                "extension": dot + ext,
                "width": width,
                "height": height,
                "meta": {"framepick": item.fields()},
            }
        )
    return lines


def _cvat_images(out: Path, items: Sequence[Item], folder: str) -> str:
    """``data/sampled/manifest.jsonl``: names with the frames' paths from ``data/sampled/``, for
    ``data/sampled/`` attached to CVAT as it is (a file share or cloud storage keeps paths)."""
    path = f"{folder}/manifest.jsonl"
    _write_jsonl(out / path, _cvat_image_lines(out, items, [_relative(item, folder) for item in items]))
    return path


def _cvat_upload(out: Path, items: Sequence[Item], folder: str) -> str:
    """``data/cvat/``: every dumped frame under its flat name (:func:`cvat_upload_name`) and
    ``manifest.jsonl`` naming them, in selection order: the files to upload to CVAT, all of
    them and nothing else, as its "predefined" sorting requires (the folder is written anew).
    Hard links, so the frames take no second space; copies where the file system has none."""
    target = out / CVAT_UPLOAD_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    names = [cvat_upload_name(_relative(item, folder)) for item in items]
    copied = 0
    for item, name in zip(items, names, strict=True):
        try:
            os.link(out / item.path, target / name)
        except FileExistsError:
            raise  # two frames on one name: never (cvat_upload_name), and never silently
        except OSError:
            shutil.copyfile(out / item.path, target / name)
            copied += 1
    if copied:
        logger.info("export_format=cvat: %d frames copied to %s (no hard links here)", copied, CVAT_UPLOAD_FOLDER)
    path = f"{CVAT_UPLOAD_FOLDER}/manifest.jsonl"
    _write_jsonl(out / path, _cvat_image_lines(out, items, names))
    return path


def _displayed_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header, swapped where EXIF orientation 5-8 turns the picture
    a quarter (viewers and CVAT show it turned). A PNG is asked for EXIF only when it has it
    before its pixels: Pillow decodes the whole picture to look further."""
    with Image.open(path) as image:
        width, height = image.size
        if image.format != "PNG" or "exif" in image.info:
            if image.getexif().get(_EXIF_ORIENTATION, 1) > 4:
                return height, width
    return width, height


def _cvat_video_manifest(video: Path) -> list[dict[str, Any]]:
    """CVAT's dataset manifest for one video: header lines, then each key frame's number,
    pts and checksum (md5 of the decoded RGB picture, as CVAT's ``md5_hash`` computes it), the
    seek points CVAT's server checks the manifest against."""
    import av  # PyAV, already framepick's decoder; imported here: only clips need it

    width = height = length = 0
    keys: list[dict[str, Any]] = []
    with av.open(str(video)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            width, height, length = frame.width, frame.height, number + 1
            if frame.key_frame:
                checksum = hashlib.md5(frame.to_image().tobytes(), usedforsecurity=False).hexdigest()  # type: ignore[no-untyped-call]
                keys.append({"number": number, "pts": int(frame.pts or 0), "checksum": checksum})
    properties = {"name": video.name, "resolution": [width, height], "length": length}
    return [{"version": CVAT_MANIFEST_VERSION}, {"type": "video"}, {"properties": properties}, *keys]


def _cvat_videos(out: Path, items: Sequence[Item], folder: str) -> str:
    """A video manifest beside each clip, and ``cvat_tasks.json``: one task per clip (CVAT's
    video tasks hold one video each), named so CVAT's task list sorts by rank and says
    where the clip is from, with the clip, its manifest and framepick's fields."""
    tasks = []
    width = len(str(max((item.rank for item in items), default=0)))
    for item in items:
        manifest = item.path.rsplit(".", 1)[0] + ".jsonl"
        _write_jsonl(out / manifest, _cvat_video_manifest(out / item.path))
        name = f"framepick {item.rank:0{width}d}: {item.source} frames {item.first}-{item.last}"
        tasks.append({"name": name, "video": _relative(item, folder), "manifest": manifest[len(folder) + 1 :]})
        tasks[-1] |= item.fields()
    path = f"{folder}/cvat_tasks.json"
    _write_json(out / path, tasks)
    return path


# --- Label Studio -----------------------------------------------------------------------------


def local_files_url(path: str) -> str:
    """Label Studio's URL of a file under its local-files document root: ``d`` is the path,
    percent-encoded (a name may hold ``&``, ``#`` or spaces) but for its ``/``."""
    return LABEL_STUDIO_URL_PREFIX + quote(path, safe="/")


def _label_studio(key: str) -> Callable[[Path, Sequence[Item], str], str]:
    """Label Studio's JSON task list (labelstud.io/guide/tasks, "Basic Label Studio JSON
    format"): one task a file, ``data`` holding the media under ``key`` (``$image`` or
    ``$video`` in the labeling config) and framepick's fields beside it. Media are local-files
    URLs whose ``d`` is the path from the output folder, which must therefore be Label
    Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` (labelstud.io/guide/storage, "Tasks
    with local storage file references")."""

    def write(out: Path, items: Sequence[Item], folder: str) -> str:
        tasks = [{"data": {key: local_files_url(item.path), **item.fields()}} for item in items]
        path = f"{folder}/label_studio_tasks.json"
        _write_json(out / path, tasks)
        return path

    return write


# --- FiftyOne ---------------------------------------------------------------------------------


def _fiftyone(video: bool) -> Callable[[Path, Sequence[Item], str], str]:
    """A ``fiftyone.types.LegacyFiftyOneDataset`` directory (FiftyOne's
    ``LegacyFiftyOneDatasetImporter``): ``samples.json`` is ``{"samples": [...]}``, each
    sample its ``filepath`` relative to the folder, ``tags`` and framepick's fields, which
    FiftyOne adds to the dataset's schema as it reads them. No ``metadata.json`` "version":
    that is what keeps ``fo.types.FiftyOneDataset`` on this importer too. Videos need
    ``metadata.json`` with ``media_type: video`` and each sample a ``frames`` file
    (``{"frames": {}}``: no frame labels yet)."""

    def write(out: Path, items: Sequence[Item], folder: str) -> str:
        samples = []
        for item in items:
            sample: dict[str, Any] = {"filepath": _relative(item, folder), "tags": []}
            if video:
                frames = f"frames/{_relative(item, folder).rsplit('.', 1)[0]}.json"
                _write_json(out / folder / frames, {"frames": {}})
                sample["frames"] = frames
            samples.append(sample | item.fields())
        if video:
            _write_json(out / folder / "metadata.json", {"media_type": "video"})
        path = f"{folder}/samples.json"
        _write_json(out / path, {"samples": samples})
        return path

    return write


_Writer = Callable[[Path, Sequence[Item], str], str]

# (tool, what is handed over) -> the files written, each under its key in report.json's exports
_WRITERS: dict[tuple[str, str], tuple[tuple[str, _Writer], ...]] = {
    ("cvat", "frames"): (("frames", _cvat_upload), ("frames_share", _cvat_images)),
    ("cvat", "clips"): (("clips", _cvat_videos),),
    ("label_studio", "frames"): (("frames", _label_studio("image")),),
    ("label_studio", "clips"): (("clips", _label_studio("video")),),
    ("fiftyone", "frames"): (("frames", _fiftyone(video=False)),),
    ("fiftyone", "clips"): (("clips", _fiftyone(video=True)),),
}
