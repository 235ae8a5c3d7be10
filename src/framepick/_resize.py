"""Shrinking frames for thumbnails: the size Pillow's ``thumbnail()`` picks, made by FFmpeg's scaler.

Kept apart from :mod:`framepick.decode` so the decoders only gain an optional ``size``: the
arithmetic and the scaler live here, shared by the decoders and the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FrameShrinker", "fit_within"]


def fit_within(width: int, height: int, size: int) -> tuple[int, int]:
    """The size Pillow's ``Image.thumbnail((size, size))`` gives a ``width``×``height`` image:
    at most ``size`` on the longer side, the aspect ratio kept as closely as whole pixels allow,
    never enlarged. Shared so that a frame shrunk by FFmpeg has exactly the thumbnail's size."""
    if size >= width and size >= height:
        return width, height
    aspect = width / height

    def nearest(number: float, error: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=error), 1)

    if 1 >= aspect:  # taller than wide: the height is the longer side
        return nearest(size * aspect, lambda n: abs(aspect - n / size)), size
    return size, nearest(size / aspect, lambda n: 0 if n == 0 else abs(aspect - size / n))


class FrameShrinker:
    """Frames as small RGB arrays straight from FFmpeg's scaler (area averaging, :func:`fit_within`).

    One scaler for a whole read: FFmpeg's scaling context is set up once, not once per frame
    (which costs more than the scaling itself), and no full-resolution RGB copy is made.
    """

    def __init__(self, size: int) -> None:
        from av.video.reformatter import VideoReformatter

        self.size = size
        self.reformatter = VideoReformatter()

    def __call__(self, frame: Any) -> np.ndarray:
        width, height = fit_within(frame.width, frame.height, self.size)
        small = self.reformatter.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA")
        return small.to_ndarray()
