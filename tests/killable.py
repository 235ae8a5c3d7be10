"""``python killable.py MODE MARKER framepick-args...``: the framepick CLI, made to pause.

MODE ``embed``: every model batch touches MARKER, then sleeps (a slow model).
MODE ``write``: once the outputs are staged, MARKER is written and the run sleeps before
moving them into place. The fault tests kill or interrupt the process while it pauses.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import framepick.embed as embed
import framepick.pipeline as pipeline
from framepick.cli import main

mode, marker = sys.argv[1], Path(sys.argv[2])

if mode == "embed":
    _create = embed.create_embedder

    class Slow:
        """Whatever engine the run picks, made slow: every batch touches MARKER and sleeps."""

        def __init__(self, inner: embed.Embedder) -> None:
            self.inner = inner
            self.name, self.dim, self.input_size, self.signature = (
                inner.name, inner.dim, inner.input_size, inner.signature,
            )  # fmt: skip

        def embed(self, pixels):  # type: ignore[no-untyped-def]
            vectors = self.inner.embed(pixels)
            marker.touch()
            time.sleep(0.3)
            return vectors

    embed.create_embedder = lambda *a, **k: Slow(_create(*a, **k))  # type: ignore[assignment]
elif mode == "write":
    _write_files = pipeline._write_files

    def paused_write(out, *args):  # type: ignore[no-untyped-def]
        written = _write_files(out, *args)
        marker.write_text(str(out))
        time.sleep(120)
        return written

    pipeline._write_files = paused_write

sys.exit(main(sys.argv[3:]))
