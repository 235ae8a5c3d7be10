"""Stage 1: find the sources (videos, frame folders, loose images) under ``input_dir``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "Discovery", "Source", "discover", "dumped_name", "scan_input"]

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".hevc"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

SourceKind = Literal["video", "frames", "image"]


@dataclass(frozen=True)
class Source:
    """One "video": a video file, a folder of frames, or a single loose image.

    ``name`` is the path relative to ``input_dir`` (POSIX separators); ``files`` are the
    images of a frame folder in frame order (a loose image has itself as its only file).
    """

    kind: SourceKind
    path: Path
    name: str
    files: tuple[Path, ...] = field(default=(), repr=False)

    @property
    def stem(self) -> str:
        """Name without extension, the prefix of video frame names."""
        return self.name.rsplit(".", 1)[0] if self.kind == "video" else self.name

    @property
    def extension(self) -> str:
        return self.path.suffix.lstrip(".")

    def frame_name(self, index: int, n_frames: int) -> str:
        """The Lightly Worker's name of frame ``index``: for a video ``{stem}-{index}-{extension}.png``,
        the index zero-padded to the digits of ``n_frames``; for a frame folder ``{name}/{file name}``;
        a loose image its own name (docs/reference.md, "Frame names")."""
        if self.kind == "video":
            width = len(str(n_frames))
            return f"{self.stem}-{index:0{width}d}-{self.extension}.png"
        if self.kind == "frames":
            return f"{self.name}/{self.files[index].name}"
        return self.name


def dumped_name(frame_name: str, video_name: str, image_format: str) -> str:
    """The file a selected frame is dumped to under ``data/sampled/`` (``dump_dataset``).

    A frame of a frame folder or a loose image is a file already: it is copied as it is and
    keeps its name, so its bytes are in the format its extension says. A video frame (named
    ``.png``, docs/reference.md "Frame names") is encoded as ``image_format``: ``.jpg`` for ``jpg``. Told
    apart by name alone (a folder's frames are ``{folder}/{file}``, a loose image is its
    source), so that the labeling tools' import files name the same file as the writer.
    """
    if frame_name == video_name or frame_name.startswith(f"{video_name}/") or image_format != "jpg":
        return frame_name
    return frame_name.rsplit(".", 1)[0] + ".jpg"


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


@dataclass(frozen=True)
class Discovery:
    """What :func:`scan_input` found: the sources, and every path it did not read, with why."""

    sources: list[Source]
    skipped: dict[str, str]


def discover(input_dir: str | Path, exclude: str | Path | None = None) -> list[Source]:
    """All sources under ``input_dir``, sorted by their relative path (see :func:`scan_input`)."""
    return scan_input(input_dir, exclude).sources


def scan_input(input_dir: str | Path, exclude: str | Path | None = None) -> Discovery:
    """All sources under ``input_dir``, and the paths left unread with the reason.

    Symlinked folders and files are followed (a dataset linked in is read like any other).
    A link back to a folder being read (a loop), or a second link to a folder already read,
    is skipped and reported, and so are broken links and folders that cannot be listed.
    Hidden files and folders (leading dot) are skipped silently, and so is ``exclude`` (an
    output folder that happens to sit inside the input).
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"input_dir '{input_dir}' is not a folder: pass the folder that holds your videos")
    skip = Path(exclude).resolve() if exclude is not None else None
    sources: list[Source] = []
    skipped: dict[str, str] = {}
    read: dict[Path, str] = {root.resolve(): "."}  # real folder -> the name it was read under

    def unreadable(error: OSError) -> None:
        name = Path(error.filename).relative_to(root).as_posix() if error.filename else str(error)
        skipped[name] = f"cannot list the folder: {error.strerror or error}"

    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(folder)
        rel = here.relative_to(root).as_posix()
        dirs[:] = _folders_to_enter(here, rel, dirs, skip, read, skipped)
        images: list[Path] = []
        for file in sorted(f for f in files if not f.startswith(".")):
            path = here / file
            name = file if rel == "." else f"{rel}/{file}"
            ext = _suffix(file)
            if ext in VIDEO_EXTENSIONS:
                sources.append(Source("video", path, name))
            elif ext in IMAGE_EXTENSIONS:
                if rel == ".":
                    sources.append(Source("image", path, name, (path,)))
                else:
                    images.append(path)
            elif path.is_symlink() and not path.exists():
                skipped[name] = f"broken symbolic link to '{os.readlink(path)}'"
        if images:
            sources.append(Source("frames", here, rel, tuple(images)))
    sources.sort(key=lambda s: s.name)
    return Discovery(sources, dict(sorted(skipped.items())))


def _folders_to_enter(
    here: Path, rel: str, dirs: list[str], skip: Path | None, read: dict[Path, str], skipped: dict[str, str]
) -> list[str]:
    """The subfolders os.walk should descend into; linked folders seen before are reported instead."""
    enter = []
    for d in sorted(d for d in dirs if not d.startswith(".")):
        real = (here / d).resolve()
        name = d if rel == "." else f"{rel}/{d}"
        if real == skip:
            continue
        if real in read:
            earlier = read[real]
            if name.startswith(f"{earlier}/") or earlier == ".":
                skipped[name] = f"symbolic link loop: points back to '{earlier}', which holds it"
            else:
                skipped[name] = f"same folder as '{earlier}', already read"
            continue
        read[real] = name
        enter.append(d)
    return enter
