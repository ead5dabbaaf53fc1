"""Exceptions raised by lipjax.

Every error a user can trigger with bad input is a `LipjaxError`. Messages say what was wrong and
what to do about it, e.g. ``InputError("characters not in the GRID vocabulary: 'é', '?'; ...")``.
They subclass ValueError / FileNotFoundError / RuntimeError as appropriate so that generic
handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "LipjaxError",
    "InputError",
    "ConfigError",
    "DataError",
    "BadRecordError",
    "NoFaceError",
    "AudioError",
    "VideoError",
    "CheckpointError",
    "ConversionError",
    "TrainingDivergedError",
]


class LipjaxError(Exception):
    """Base class of every error lipjax raises on purpose."""


class InputError(LipjaxError, ValueError):
    """An argument has the wrong shape, dtype, range or content."""


class ConfigError(LipjaxError, ValueError):
    """A config field is missing, misspelled or inconsistent with another field."""


class DataError(LipjaxError, RuntimeError):
    """A dataset is missing, malformed, or not built yet."""


class BadRecordError(DataError):
    """A dataset record is malformed (missing field, zero frames, inconsistent shapes or
    durations); the input pipeline skips and counts such records."""


class NoFaceError(LipjaxError, RuntimeError):
    """No face was detected where one is needed (e.g. in every frame of a video)."""


class AudioError(LipjaxError, ValueError):
    """Audio is unreadable, empty, silent or too short for the requested video."""


class VideoError(LipjaxError, ValueError):
    """A video file is unreadable, empty or cannot be written."""


class CheckpointError(LipjaxError, FileNotFoundError):
    """A checkpoint directory is missing, empty, or does not match the model."""


class ConversionError(CheckpointError):
    """A published checkpoint does not match the lipjax model it is imported into (the message
    lists every missing, unexpected or wrongly shaped tensor), or cannot be read."""


class TrainingDivergedError(LipjaxError, RuntimeError):
    """Training stopped updating: too many consecutive steps had non-finite losses, gradients
    or parameters (a learning rate far too high, broken data)."""
