"""Errors a user can cause, with messages that name the cause and the fix.

The CLI prints a :class:`SimrecError` as one paragraph without a traceback and
exits non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SimrecError(Exception):
    """Base class of user-facing errors (bad config, missing data, ...)."""


class ConfigError(SimrecError):
    """A scenario or override is invalid."""


class DataError(SimrecError):
    """A data file is missing, malformed or empty."""


class RegistryError(ConfigError):
    """A name does not resolve to a registered or importable implementation."""
