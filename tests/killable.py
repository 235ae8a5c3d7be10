"""``python killable.py MODE MARKER framepick-args...``: the framepick CLI, made to pause.

MODE ``embed``: every model batch touches MARKER, then sleeps (a slow model).
MODE ``train``: every training batch's augmentation touches MARKER, then sleeps (slow training).
MODE ``write``: once the outputs are staged, MARKER is written and the run sleeps before
moving them into place. The fault tests kill or interrupt the process while it pauses.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import framepick.pipeline as pipeline
from framepick.cli import main
from framepick.models.resolved import ModelEmbedder

mode, marker = sys.argv[1], Path(sys.argv[2])

if mode == "embed":
    _embed = ModelEmbedder.embed

    def slow(self, pixels):  # type: ignore[no-untyped-def]
        """Whatever engine the run picks, made slow: every batch touches MARKER and sleeps."""
        vectors = _embed(self, pixels)
        marker.touch()
        time.sleep(0.3)
        return vectors

    ModelEmbedder.embed = slow  # type: ignore[method-assign]
elif mode == "train":
    import framepick.train as training

    _transform = training._transform

    def slow_transform(config):  # type: ignore[no-untyped-def]
        """The configured augmentations, made slow: every view pair touches MARKER and sleeps."""
        inner = _transform(config)

        def views(image):  # type: ignore[no-untyped-def]
            marker.touch()
            time.sleep(0.05)
            return inner(image)

        return views

    training._transform = slow_transform
elif mode == "write":
    _write_files = pipeline._write_files

    def paused_write(out, *args):  # type: ignore[no-untyped-def]
        written = _write_files(out, *args)
        marker.write_text(str(out))
        time.sleep(120)
        return written

    pipeline._write_files = paused_write

sys.exit(main(sys.argv[3:]))
