"""Stage 1: find the sources (videos, frame folders, loose images) under ``input_dir``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "Source", "discover"]

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
        """The Lightly Worker's name of frame ``index`` (SPEC section 2)."""
        if self.kind == "video":
            width = len(str(n_frames))
            return f"{self.stem}-{index:0{width}d}-{self.extension}.png"
        if self.kind == "frames":
            return f"{self.name}/{self.files[index].name}"
        return self.name


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def discover(input_dir: str | Path, exclude: str | Path | None = None) -> list[Source]:
    """All sources under ``input_dir``, sorted by their relative path.

    Hidden files and folders (leading dot) are skipped, and so is ``exclude`` (an output
    folder that happens to sit inside the input).
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"input_dir '{input_dir}' is not a folder: pass the folder that holds your videos")
    skip = Path(exclude).resolve() if exclude is not None else None
    sources: list[Source] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        rel = here.relative_to(root).as_posix()
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
        if images:
            sources.append(Source("frames", here, rel, tuple(images)))
    sources.sort(key=lambda s: s.name)
    return sources
