"""What ``simrec fidelity`` measured: the value the scorecard returns and the writers write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Fidelity:
    """Everything :func:`measure_fidelity` found.

    Attributes:
        scorecard: One row per mode × negatives × ratio (users, skipped, accuracy, precision, recall, F1, ...).
        ratings: One row per mode (RMSE, MAE, rated count, JS divergence and distance, star shares).
        stars: Per mode, ``(simulated, real)`` star distributions over 1..5.
        behaviour: Popularity correlation and pages histogram of the short simulation (empty without one).
        timings: Seconds per phase.
        calibration: What ``agents.calibration`` fitted (parameters and report), or ``None``.
    """

    scorecard: pd.DataFrame
    ratings: pd.DataFrame
    stars: dict[str, tuple[np.ndarray, np.ndarray]]
    behaviour: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
