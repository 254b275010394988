"""What ``simrec fidelity`` measured: the value the scorecard returns and the writers write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ABRanking:
    """What the A/B-ranking study (:func:`simrec.fidelity.ab.measure_ab`) found.

    Attributes:
        table: One row per recommender: ``real_<metric>`` and ``sim_<metric>`` (mean over
            users of the per-user mean over seeds) and their ranks (``real_rank_<metric>``,
            ``sim_rank_<metric>``; 1 is the best), for ``recall@10`` and ``ndcg@10``.
        agreement: One row per metric: ``kendall_tau`` and ``spearman_rho`` between the two
            rankings with their bootstrap intervals (``*_low``, ``*_high``), ``users``,
            ``recommenders``, ``resamples``.
        info: Recommenders, seeds, steps, cut-off, resamples, the bench folder, timings.
    """

    table: pd.DataFrame
    agreement: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fidelity:
    """Everything :func:`measure_fidelity` found.

    Attributes:
        scorecard: One row per mode × negatives × ratio (users, skipped, accuracy, precision, recall, F1, ...).
        ratings: One row per mode (RMSE, MAE, rated count, JS divergence and distance, star shares).
        stars: Per mode, ``(simulated, real)`` star distributions over the rating scale's levels (1..5 for whole stars).
        behaviour: Popularity correlation and pages histogram of the short simulation (empty without one).
        timings: Seconds per phase.
        calibration: What ``agents.calibration`` fitted (parameters and report), or ``None``.
        ab: The A/B-ranking study (``simrec fidelity --ab``), or ``None``.
        selection: What ``--select-on validation`` chose and why, or ``None``.
        selection_table: Every candidate the selection tried, with its validation scores.
        rating_scale: The data set's rating scale (``min``, ``max``, ``step``, ``levels``) the ratings use.
    """

    scorecard: pd.DataFrame
    ratings: pd.DataFrame
    stars: dict[str, tuple[np.ndarray, np.ndarray]]
    behaviour: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    ab: ABRanking | None = None
    selection: dict[str, Any] | None = None
    rating_scale: dict[str, float | int] | None = None
    selection_table: pd.DataFrame | None = None
