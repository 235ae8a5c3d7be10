"""Thumbnail pixels as JPEG ``data:`` URIs: the report's pictures, made where frames are at hand."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

__all__ = ["JPEG_QUALITY", "THUMB_SIZE", "thumbnail_uri"]

THUMB_SIZE = 96
JPEG_QUALITY = 70


def thumbnail_uri(rgb: np.ndarray | Image.Image, size: int = THUMB_SIZE, quality: int = JPEG_QUALITY) -> str:
    """An RGB image as a ``data:image/jpeg;base64,...`` URI, at most ``size`` px on its longer side."""
    image = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if image.mode != "RGB":
        image = image.convert("RGB")
    factor = max(image.size) // (2 * size)
    if factor >= 2:  # a cheap box reduction to about twice the size first, as frames are read for thumbnails
        image = image.reduce(factor)
    else:
        image = image.copy()  # thumbnail() works in place
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
