"""The package logger: silent unless the application configures logging."""

from __future__ import annotations

import logging

logger = logging.getLogger("framepick")
logger.addHandler(logging.NullHandler())
