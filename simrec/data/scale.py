"""The rating scale a data set declares: which star values exist (whole stars 1–5, half stars 0.5–5, ...).

A :class:`RatingScale` is ``min``, ``max`` and ``step``; its ``levels`` are
``min, min + step, ..., max``. The data set carries it
(:attr:`Dataset.scale <simrec.data.types.Dataset.scale>`), agents rate on it and
every rating measure (RMSE, MAE, star shares, Jensen–Shannon divergence, star
cut-points) uses the same levels, so real half stars are never rounded.

Where it comes from: MovieLens 100K and 1M declare whole stars 1–5, MovieLens
latest half stars 0.5–5; a generic file's scale is inferred from its ratings
(:func:`infer_scale`); synthetic worlds rate in whole stars; and
``environment.data.rating_scale`` may set it explicitly for any source.

Zero is never a level: a decision's ``0`` means "not rated".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simrec.core.errors import DataError

__all__ = [
    "HALF_STARS",
    "WHOLE_STARS",
    "RatingScale",
    "check_ratings",
    "infer_scale",
    "spread_prior",
]

log = logging.getLogger(__name__)

#: Most levels a scale may have.
MAX_LEVELS = 1000
#: How far (in steps) a value may lie from a level and still count as on it (float32 storage).
_TOLERANCE = 1e-3


@dataclass(frozen=True)
class RatingScale:
    """Evenly spaced rating levels ``min, min + step, ..., max``.

    Attributes:
        min: The lowest level (above 0: 0 marks "not rated").
        max: The highest level.
        step: The distance between neighbouring levels.

    Raises:
        ValueError: if ``min <= 0``, ``max <= min``, ``step <= 0``, ``max − min`` is
            not a whole number of steps, or the scale has more than :data:`MAX_LEVELS` levels.
    """

    min: float
    max: float
    step: float

    def __post_init__(self) -> None:
        for name in ("min", "max", "step"):
            object.__setattr__(self, name, float(getattr(self, name)))
        problem = scale_problem(self.min, self.max, self.step)
        if problem:
            raise ValueError(problem)

    @cached_property
    def levels(self) -> np.ndarray:
        """``[n_levels]`` float64 level values, ascending."""
        return np.round(self.min + self.step * np.arange(self.n_levels), 9)

    @property
    def n_levels(self) -> int:
        """Number of levels."""
        return round((self.max - self.min) / self.step) + 1

    @property
    def integral(self) -> bool:
        """Every level is a whole number."""
        return bool(np.all(self.levels == np.round(self.levels)))

    @property
    def dtype(self) -> np.dtype:
        """The dtype of decided ratings: ``int8`` for whole-number levels up to 127, else ``float32``."""
        return np.dtype(np.int8) if self.integral and self.max <= 127 else np.dtype(np.float32)

    @property
    def label(self) -> str:
        """``"whole stars 1–5"``, ``"half stars 0.5–5"`` or ``"0.25–5 in steps of 0.25"``."""
        span = f"{format_level(self.min)}–{format_level(self.max)}"
        kind = {1.0: "whole stars", 0.5: "half stars"}.get(self.step)
        return f"{kind} {span}" if kind else f"{span} in steps of {format_level(self.step)}"

    def level_names(self) -> list[str]:
        """Each level as text: ``"1"``, ``"1.5"``, ... (whole numbers without a decimal point)."""
        return [format_level(v) for v in self.levels]

    def position(self, values: np.ndarray) -> np.ndarray:
        """``(values − min) / step``: where values fall, in steps from the lowest level (float64)."""
        return (np.asarray(values, np.float64) - self.min) / self.step

    def on_scale(self, values: np.ndarray) -> np.ndarray:
        """Bool mask of the values that are levels (NaN and values outside the range are not)."""
        pos = self.position(values)
        with np.errstate(invalid="ignore"):
            near = np.abs(pos - np.rint(pos)) <= _TOLERANCE
            inside = (pos > -0.5) & (pos < self.n_levels - 0.5)
        return near & inside

    def snap(self, values: np.ndarray) -> np.ndarray:
        """The nearest level of each value (float64); halfway between two levels goes **up**.

        Values below ``min`` snap to ``min`` and above ``max`` to ``max``; NaN stays NaN.
        """
        return self.levels_at(self.snap_index(values), np.asarray(values, np.float64))

    def snap_index(self, values: np.ndarray) -> np.ndarray:
        """The index of the nearest level of each value (ties up, clipped; NaN gives -1)."""
        pos = self.position(values)
        finite = np.isfinite(pos)
        idx = np.floor(np.where(finite, pos, 0.0) + 0.5 + _TOLERANCE * 1e-3).astype(np.int64)
        return np.where(finite, np.clip(idx, 0, self.n_levels - 1), -1)

    def index(self, values: np.ndarray) -> np.ndarray:
        """The level index (0-based) of each value, -1 where the value is not a level.

        Nothing is rounded: 3.5 on whole stars is -1, not 3 or 4.
        """
        pos = self.position(values)
        ok = self.on_scale(values)
        return np.where(ok, np.rint(np.where(ok, pos, 0.0)), -1).astype(np.int64)

    def values(self, index: np.ndarray) -> np.ndarray:
        """The level values of 0-based level indices, in :attr:`dtype`."""
        return self.levels.astype(self.dtype)[np.asarray(index, np.int64)]

    def levels_at(self, index: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Level values of ``index`` (float64), NaN where ``index`` is -1; shaped like ``like``."""
        idx = np.asarray(index, np.int64)
        out = np.where(idx >= 0, self.levels[np.maximum(idx, 0)], np.nan)
        return out.reshape(np.shape(like))

    def midpoints(self) -> tuple[float, ...]:
        """The ``n_levels − 1`` points halfway between neighbouring levels (cuts that round)."""
        lv = self.levels
        return tuple(float(x) for x in (lv[:-1] + lv[1:]) / 2)

    def describe(self) -> dict[str, float | int]:
        """``{min, max, step, levels}`` as plain numbers (manifests, reports)."""
        return {"min": self.min, "max": self.max, "step": self.step, "levels": self.n_levels}


def scale_problem(lo: float, hi: float, step: float) -> str:
    """What is wrong with a scale ``lo..hi`` in steps of ``step`` ("" if nothing)."""
    if not all(np.isfinite([lo, hi, step])):
        return f"a rating scale needs finite min, max and step, got {lo}, {hi}, {step}"
    if lo <= 0:
        return f"a rating scale starts above 0 (0 marks 'not rated'), got min {lo}; shift the ratings up"
    if step <= 0:
        return f"a rating scale's step must be positive, got {step}"
    if hi <= lo:
        return f"a rating scale's max must exceed its min, got min {lo} and max {hi}"
    steps = (hi - lo) / step
    if abs(steps - round(steps)) > _TOLERANCE:
        return f"max − min ({hi - lo:g}) is not a whole number of steps of {step:g}"
    if round(steps) + 1 > MAX_LEVELS:
        return f"a rating scale has at most {MAX_LEVELS} levels, got {round(steps) + 1}"
    return ""


def format_level(value: float) -> str:
    """A level as text: ``4`` for 4.0, ``3.5`` for 3.5."""
    v = float(value)
    return str(int(v)) if v == int(v) else f"{v:g}"


#: Whole stars 1–5 (MovieLens 100K and 1M, synthetic worlds).
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)
#: Half stars 0.5–5 (MovieLens latest).
HALF_STARS = RatingScale(0.5, 5.0, 0.5)


def infer_scale(ratings: np.ndarray, source: str = "") -> RatingScale:
    """The scale of raw ratings: whole stars if all are whole numbers, half stars if all are multiples of 0.5.

    The range is the standard one when the ratings fit in it (whole stars 1–5,
    half stars 0.5–5), else the ratings' own lowest to highest value. Missing
    ratings (NaN) are ignored; with none at all the scale is whole stars 1–5.

    Args:
        ratings: Raw ratings.
        source: Where they came from, for the error message.

    Raises:
        DataError: if the ratings are neither whole nor half stars, or not above 0.
    """
    where = f"{source}: " if source else ""
    r = np.asarray(ratings, np.float64)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return WHOLE_STARS
    lo, hi = float(r.min()), float(r.max())
    for step, standard in ((1.0, WHOLE_STARS), (0.5, HALF_STARS)):
        if np.all(np.abs(r / step - np.rint(r / step)) <= _TOLERANCE):
            if lo >= standard.min and hi <= standard.max:
                return standard
            problem = scale_problem(lo, hi if hi > lo else lo + step, step)
            if problem:
                raise DataError(f"{where}the ratings run from {lo:g} to {hi:g}: {problem}.")
            return RatingScale(lo, hi if hi > lo else lo + step, step)
    odd = r[np.abs(r * 2 - np.rint(r * 2)) > _TOLERANCE]
    raise DataError(
        f"{where}{len(odd)} of {len(r)} ratings are neither whole nor half stars (e.g. {odd[0]:g}), so "
        "the rating scale cannot be inferred. Set it in the environment's data block: "
        "rating_scale: {min: ..., max: ..., step: ...}."
    )


def check_ratings(ratings: np.ndarray, scale: RatingScale, source: str = "") -> None:
    """Raise if any (non-missing) rating is not a level of ``scale``.

    Raises:
        DataError: naming how many ratings are off the scale, with examples.
    """
    r = np.asarray(ratings, np.float64)
    r = r[np.isfinite(r)]
    off = r[~scale.on_scale(r)]
    if len(off):
        where = f"{source}: " if source else ""
        examples = ", ".join(format_level(v) for v in np.unique(off)[:5])
        raise DataError(
            f"{where}{len(off)} of {len(r)} ratings are not on the rating scale {scale.label} "
            f"(e.g. {examples}). Fix the data, or set environment.data.rating_scale to the scale it uses "
            "('auto' infers it from the ratings)."
        )


def spread_prior(scale: RatingScale, whole_star_probs: np.ndarray) -> np.ndarray:
    """A distribution over ``scale``'s levels shaped like a 1–5 star distribution.

    On whole stars 1–5 it is ``whole_star_probs`` itself; elsewhere each level
    takes the 1–5 distribution's value at the same relative position (linear
    interpolation), normalised. A prior where a data set has no ratings.
    """
    probs = np.asarray(whole_star_probs, np.float64)
    if scale == WHOLE_STARS:
        return probs
    rel = (scale.levels - scale.min) / (scale.max - scale.min) * (len(probs) - 1)
    out = np.interp(rel, np.arange(len(probs)), probs)
    return out / out.sum()
