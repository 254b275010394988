"""Validation of numeric parameters that come from a scenario's ``params`` mappings."""

from __future__ import annotations

import numpy as np

from simrec.core.errors import ConfigError


#: Upper bounds of sizes and counts that scenarios set (a latent dimension, sweeps, epochs, a
#: block of users): past them a run would exhaust memory or never end, so they are errors.
MAX_FACTORS = 4096
MAX_SWEEPS = 10_000
MAX_BLOCK = 10_000_000


def check_int(owner: str, name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]`` or raise a :class:`ConfigError` naming ``owner.name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an integer ≥ {minimum}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{owner}: {name} must be at most {maximum:,}, got {value:,}.")
    return int(value)


def check_nonneg(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a finite float ≥ 0 or raise a :class:`ConfigError` naming ``owner.name``."""
    if (
        isinstance(value, bool) or not isinstance(value, (int, float, np.number))
        or not value >= 0 or (isinstance(value, float | np.floating) and not np.isfinite(value))
    ):  # fmt: skip
        raise ConfigError(f"{owner}: {name} must be a finite number ≥ 0, got {value!r}.")
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{owner}: {name} must be a finite number ≥ 0, got one too large for a float.") from None
