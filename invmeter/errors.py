"""Exceptions raised for user mistakes. Each message is one line: what was wrong and how to fix it."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["InvmeterError", "InvalidParameterError", "UnknownNameError", "DataError", "CheckpointError",
           "InvmeterWarning", "UndefinedMetricWarning", "warn"]

_PACKAGE = str(Path(__file__).resolve().parent)


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


class UndefinedMetricWarning(InvmeterWarning):
    """A metric has no value for this input (NaN from the functional and streaming APIs, null in a report); the
    message gives the reason (docs/metrics.md, "Degenerate inputs")."""


def warn(message: str, category: type[Warning] = InvmeterWarning) -> None:
    """Warn with the location of the caller's own line (the first frame outside invmeter), not invmeter's."""
    frame, level = sys._getframe(1), 2  # stacklevel 1 is this function, 2 its caller
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
