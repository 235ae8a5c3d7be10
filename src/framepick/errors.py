"""The exception tree: catch :class:`FramepickError` to catch everything framepick raises."""

from __future__ import annotations


class FramepickError(Exception):
    """Base class of every error framepick raises on purpose."""

    exit_code = 1


class ConfigError(FramepickError, ValueError):
    """The configuration is invalid; the message names the key and what is allowed."""

    exit_code = 2


class DatapoolError(ConfigError):
    """The datapool cannot be used with this run (another model or input size, an unreadable pool)."""


class InputError(FramepickError):
    """The input folder cannot be used (missing, empty, nothing decodable)."""


class NoCandidatesError(InputError):
    """No candidate sequence exists, so nothing can be selected."""


class SelectionError(FramepickError, ValueError):
    """The vectors given to a selection kernel cannot be selected from (shape, values, k)."""


class DecodeError(FramepickError):
    """A file or frame cannot be decoded; the message is the reason recorded for it."""


class ModelError(FramepickError):
    """The embedding model cannot be loaded or run."""


class OutputError(FramepickError):
    """The output folder cannot be written or is not a framepick run."""


class TrainingError(FramepickError):
    """Training cannot run or failed (too few frames for a batch, the lightly package missing, a diverged loss)."""
