"""Validation of numeric parameters that come from a scenario's ``params`` mappings."""

from __future__ import annotations

import numpy as np

from simrec.core.errors import ConfigError


def check_int(owner: str, name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int ≥ ``minimum`` or raise a :class:`ConfigError` naming ``owner.name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an integer ≥ {minimum}, got {value!r}.")
    return int(value)


def check_nonneg(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float ≥ 0 or raise a :class:`ConfigError` naming ``owner.name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
        raise ConfigError(f"{owner}: {name} must be a number ≥ 0, got {value!r}.")
    return float(value)
