"""What one run's attacks and noise did: :func:`robustness_metrics` of a run folder.

Read from ``attack.json`` (the plan: groups, the fake profiles' window), ``robustness.parquet``
(the probe, one row per step and group) and the manifest's totals. Attacked and clean
runs of a robustness bench carry the same block with different budgets, so the same
columns exist in both and :mod:`simrec.robustness.report` can pair them.

Windows, for the shilling targets: a fit at the learn phase of step ``s`` shapes the pages
of step ``s + 1``, so the pages shown while the fake profiles are in are steps
``start + 1 .. stop`` (from step 1 when they are in the training data), and ``after``
is every later step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["probe_frame", "robustness_metrics", "target_window"]

#: Manifest totals copied into the metrics (0 where a run has none).
_TOTALS = ("accidental_watches", "clickbait_impressions", "clickbait_watches", "markers_neutralised", "texts_flagged",
           "robustness_fits", "robustness_fake_fits", "robustness_filtered_users", "robustness_filtered_fake_users",
           "robustness_denoised_rows")  # fmt: skip


def probe_frame(run_dir: Path) -> pd.DataFrame | None:
    """``robustness.parquet`` of a run, or ``None`` when it has none."""
    path = Path(run_dir) / "robustness.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def _attack(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "attack.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def target_window(attack: dict[str, Any], steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``steps``: pages shown while the fake profiles were in, and pages after they left."""
    start, stop = int(attack.get("fake_start") or 0), attack.get("fake_stop")
    during = (steps >= max(start + 1, 1)) & ((steps <= stop) if stop is not None else True)
    after = steps > stop if stop is not None else np.zeros(len(steps), bool)
    return np.asarray(during, bool), np.asarray(after, bool)


def _mean(values: pd.Series | np.ndarray) -> float:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def robustness_metrics(run_dir: Path) -> dict[str, float]:
    """Per-run figures of the attacked and noisy item groups (empty for a run without a plan).

    Keys, for each group ``g`` in the probe (``target``, ``clickbait``, ``text``), over the
    steps played: ``g_exposure`` (share of impressions), ``g_reach``, ``g_watch_rate``,
    ``g_mean_stars``; targets also ``target_hit_rate`` and ``target_score_pct`` (the
    recommender's view, after each step's learn phase, steps ≥ 1), the exposure and hit
    rate ``_during`` and ``_after`` the fake profiles' window, and ``target_score_pct_0``
    (the view after the first fit). The manifest totals of noise and defences
    (``accidental_watches``, ``robustness_filtered_users``, ...) come along.
    """
    run_dir = Path(run_dir)
    attack = _attack(run_dir)
    if attack is None:
        return {}
    out: dict[str, float] = {"fake_users": float(attack.get("fake_users", 0))}
    probe = probe_frame(run_dir)
    if probe is not None and len(probe):
        for group, g in probe.groupby("group", sort=False):
            played = g[g["step"] >= 1]
            out[f"{group}_exposure"] = _mean(played["exposure"])
            out[f"{group}_reach"] = _mean(played["reach"])
            watches, shown = float(played["watches"].sum()), float(played["impressions"].sum())
            out[f"{group}_watch_rate"] = watches / shown if shown else float("nan")
            rated = float(played["rated"].sum())
            stars = float((played["mean_stars"].fillna(0) * played["rated"]).sum())
            out[f"{group}_mean_stars"] = stars / rated if rated else float("nan")
            if group == "target":
                out["target_hit_rate"] = _mean(played["hit_rate"])
                out["target_score_pct"] = _mean(played["score_pct"])
                first = g[g["step"] == 0]
                out["target_score_pct_0"] = _mean(first["score_pct"]) if len(first) else float("nan")
                during, after = target_window(attack, played["step"].to_numpy())
                for name, mask in (("during", during), ("after", after)):
                    out[f"target_exposure_{name}"] = _mean(played["exposure"][mask]) if mask.any() else float("nan")
                    out[f"target_hit_rate_{name}"] = _mean(played["hit_rate"][mask]) if mask.any() else float("nan")
    manifest = run_dir / "manifest.json"
    totals = json.loads(manifest.read_text(encoding="utf-8")).get("totals", {}) if manifest.is_file() else {}
    for key in _TOTALS:
        out[key] = float(totals.get(key, 0) or 0)
    # the defence's detection: the share of fake profiles it left out of the fits they were in, and
    # the genuine users it left out of a fit, on average
    fake_slots = out["fake_users"] * out["robustness_fake_fits"]
    caught = out["robustness_filtered_fake_users"]
    out["defence_fake_recall"] = caught / fake_slots if fake_slots and "robustness_filtered_users" in totals else float("nan")
    fits = out["robustness_fits"]
    genuine = out["robustness_filtered_users"] - caught
    out["defence_genuine_per_fit"] = genuine / fits if fits and "robustness_filtered_users" in totals else float("nan")
    return out
