"""Clips of the selected sequences (``export_clips=True``): ``data/clips/*.mp4``."""

from __future__ import annotations

from .discover import Source

__all__ = ["CLIPS_DIR", "clip_relpath"]

CLIPS_DIR = "data/clips"


def clip_relpath(source: Source, first: int, last: int, n_frames: int) -> str:
    """Where the clip of frames ``first..last`` of ``source`` goes, relative to the output folder.

    ``data/clips/{source path without extension}-{first}-{last}.mp4``, the indices zero-padded
    to the width of the source's frame count, as video frame names are
    (``drive/cam0-0040-0049.mp4`` holds frames 40-49 of ``drive/cam0.mp4``). Frame folders
    keep their path; a loose image loses its extension.
    """
    width = len(str(n_frames))
    stem = (
        source.name.rsplit(".", 1)[0]
        if source.kind != "frames" and "." in source.name.rsplit("/", 1)[-1]
        else source.name
    )
    return f"{CLIPS_DIR}/{stem}-{first:0{width}d}-{last:0{width}d}.mp4"
