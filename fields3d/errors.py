"""Errors that fields3d reports to users.

Everything a user can cause (a missing folder, a file that does not decode, a pose file with the wrong
number of entries, a mesh with no faces) raises :class:`InputError`.  The command line prints such an
error as one line, ``error: <path>: <what is wrong>``, and exits with status 2; it never shows a
traceback for them.  Programming errors keep their tracebacks.
"""

from __future__ import annotations

import os
from pathlib import Path


class Fields3dError(Exception):
    """Base class of the errors the command line prints as one line (exit status 2)."""


class InputError(Fields3dError):
    """Bad user input: names the offending file (when there is one) and what is wrong with it.

    >>> str(InputError("mesh has no faces", path="a.obj"))
    'a.obj: mesh has no faces'
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class MissingDependencyError(Fields3dError):
    """An optional dependency that a requested feature needs is not importable."""

    def __init__(self, package: str, feature: str, hint: str):
        self.package = package
        super().__init__(f"{feature} needs the optional package '{package}', which is not importable; {hint}")


def expect(condition: bool, message: str, path: str | os.PathLike | None = None) -> None:
    """Raise :class:`InputError` with ``message`` (form: "expected ..., got ...") unless ``condition``."""
    if not condition:
        raise InputError(message, path)
