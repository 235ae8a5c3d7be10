"""The package logger: silent unless the application configures logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["capture_log", "logger"]

logger = logging.getLogger("framepick")
logger.addHandler(logging.NullHandler())


@contextmanager
def capture_log() -> Iterator[list[str]]:
    """Collect the INFO lines logged inside the block (a run's log.txt) without touching the
    application's handlers: the package logger is lowered to INFO for the block if need be."""
    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = _Collect(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
