"""Confidence intervals over seeds, and how tables print them (bench leaderboards, augment lifts)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def ci95(values: np.ndarray) -> float:
    """Half-width of the 95% t-interval of the mean (``nan`` with fewer than two finite values)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def format_ci(mean: float, half: float) -> str:
    """``mean ± half`` with 3 decimals (1 for large values); ``–`` for NaN."""
    if not np.isfinite(mean):
        return "–"
    digits = 3 if abs(mean) < 100 else 1
    return f"{mean:.{digits}f} ± {half:.{digits}f}" if np.isfinite(half) else f"{mean:.{digits}f}"
