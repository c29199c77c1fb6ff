"""User-facing errors.

Every error a user can cause (missing file, wrong checkpoint, bad shape, unknown option) is raised
as a subclass of :class:`EmorlEvalError` with a one-line message that names the input and what is
wrong. ``emorl_eval.cli`` prints such errors as ``error: <message>`` and exits with status 2 instead of
showing a traceback.
"""

from __future__ import annotations


class EmorlEvalError(Exception):
    """Base class of errors caused by user input; the message is shown to the user as is."""


class DataError(EmorlEvalError):
    """A dataset file is missing, unreadable or has the wrong layout or shapes."""


class CheckpointError(EmorlEvalError):
    """A checkpoint is missing, truncated, of an unknown format or does not fit the model."""


class ConfigError(EmorlEvalError):
    """An unknown model, preset, option or config key, or a value of the wrong type."""


class ModelError(EmorlEvalError):
    """A model (usually a plug-in) broke the interface contract: wrong output shapes, masks that
    do not sum to 1 over the slots, non-finite outputs, or a plug-in that cannot be imported."""
