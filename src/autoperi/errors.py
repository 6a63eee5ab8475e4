"""Exceptions that carry a one-line, user-facing explanation of bad input."""

from __future__ import annotations


class AutoPeriError(Exception):
    """Base class for errors the CLI reports as one line instead of a traceback."""


class CrystalError(AutoPeriError):
    """A structure that cannot be used: malformed, disordered, unphysical or too large.

    ``reason`` is a short machine-readable code (e.g. ``"malformed_cif"``) used to count
    skipped rows by cause; the message is the human-readable explanation.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DatasetError(AutoPeriError):
    """A dataset or split that cannot be found, downloaded or verified."""
