"""Errors raised by dynmri for bad input.

Every error a user can provoke with a bad file, shape or parameter is a
:class:`DynMRIError`; the CLI prints its message on one line and exits with status 2.
"""

from __future__ import annotations


class DynMRIError(Exception):
    """Base class for every user-facing dynmri error."""


class DataError(DynMRIError, ValueError):
    """A data file is missing, unreadable, truncated or lacks a required key."""


class ShapeError(DynMRIError, ValueError):
    """An array has the wrong number of dimensions or mismatched sizes."""


class ParameterError(DynMRIError, ValueError):
    """A parameter is out of range or impossible (e.g. acceleration < 1)."""


def os_error_message(exc: OSError) -> str:
    """``path: reason`` of an operating-system error (disk full, permission, read-only, ...);
    the reason alone when the error names no file."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason
