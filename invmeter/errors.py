"""Exceptions raised for user mistakes. Each message is one line: what was wrong and how to fix it."""

from __future__ import annotations

__all__ = ["InvmeterError", "InvalidParameterError", "UnknownNameError", "DataError", "CheckpointError", "InvmeterWarning"]


class InvmeterError(Exception):
    """Base class: a problem with what the user asked for, not a bug in invmeter."""


class InvalidParameterError(InvmeterError, ValueError, TypeError):
    """A parameter value is out of range or of the wrong kind."""


class UnknownNameError(InvmeterError, ValueError):
    """A name (model, transform, metric, layer, ...) is not known; the message suggests close matches."""


class DataError(InvmeterError, ValueError):
    """Input data is missing, empty, unreadable or unusable for the measurement."""


class CheckpointError(InvmeterError, ValueError):
    """A checkpoint is corrupt, incomplete or does not match the requested architecture."""


class InvmeterWarning(UserWarning):
    """Something the user must know about a result (e.g. pretrained weights were unavailable)."""
