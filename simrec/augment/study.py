"""An augmentation study over several seeds: simulate, export, measure the lift, write."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.augment.generate import augment, export_augmented
from simrec.augment.utility import compare, summarize
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError


@dataclass
class AugmentStudy:
    """What :func:`run_augment` produced.

    Attributes:
        folder: The study folder ``<output_dir>/<name>-augment[-N]``.
        lift: One row per seed × group × metric.
        summary: Mean lift, 95% CI and p-value per group × metric.
    """

    folder: Path
    lift: pd.DataFrame
    summary: pd.DataFrame


def run_augment(
    cfg: ScenarioConfig,
    users: str | np.ndarray = "cold",
    cold_max: int = 5,
    seeds: int | Sequence[int] = 3,
    steps: int | None = None,
    rec: str = "mf",
    rec_params: dict | None = None,
    min_rating: float | None = None,
    loop_rec: str | None = None,
    max_per_user: int | None = None,
) -> AugmentStudy:
    """Run the study and write it into a fresh ``<output_dir>/<name>-augment`` folder.

    Each seed simulates the scenario with that seed (world and agents included),
    keeps the chosen users' synthetic watches and compares ``rec`` trained on
    real-only vs real + synthetic vs real + popularity-control data (two
    controls; same recommender seed for all; see
    :func:`simrec.augment.utility.compare`), with a most-popular ranking as
    reference. The first seed's real + synthetic data is exported into ``data/``.

    Args:
        cfg: The validated scenario.
        users: ``"cold"``, ``"all"`` or user indices whose synthetic rows are kept.
        cold_max: Training interactions a cold user has at most.
        seeds: Number of seeds (``cfg.seed``, ``cfg.seed + 1``, ...) or explicit seeds.
        steps: Simulation steps (default: the scenario's).
        rec: Recommender name (``mf``, ``lightgcn``, ...).
        rec_params: Its parameters (default: the scenario's if it names ``rec``, else none).
        min_rating: Keep only synthetic watches rated at least this (default: all watches).
        loop_rec: Recommender the agents are simulated under (default: the scenario's).
        max_per_user: Keep at most this many synthetic watches per user (default: all).

    Returns:
        The study folder and tables.
    """
    from simrec.augment.writers import augment_dir, write_study

    if max_per_user is not None and max_per_user < 1:
        raise ConfigError(f"max_per_user must be at least 1; got {max_per_user}.")

    seed_list = (
        list(range(cfg.seed, cfg.seed + seeds))
        if isinstance(seeds, int)
        else [int(s) for s in seeds]
    )
    if rec_params is None:
        rec_params = dict(cfg.recommender.params) if cfg.recommender.name == rec else {}
    folder = augment_dir(cfg)
    timings: dict[str, float] = {}
    frames, data_files = [], {}
    start = time.perf_counter()
    for i, seed in enumerate(seed_list):
        t = time.perf_counter()
        aug = augment(cfg, users, cold_max, steps, seed, folder / "runs", min_rating, loop_rec, max_per_user)
        timings[f"simulate_seed{seed}"] = time.perf_counter() - t
        if i == 0:
            data_files = export_augmented(aug, folder / "data")
        t = time.perf_counter()
        table = compare(aug, rec, rec_params, seed)
        table.insert(0, "seed", seed)
        table["synthetic_rows"] = len(aug.synthetic)
        table["synthetic_users"] = len(np.unique(aug.synthetic.user))
        frames.append(table)
        timings[f"evaluate_seed{seed}"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start
    lift = pd.concat(frames, ignore_index=True)
    summary = summarize(lift)
    split = cfg.environment.data.split
    options = {"users": users if isinstance(users, str) else [int(u) for u in users], "cold_max": cold_max,
               "seeds": seed_list, "steps": steps if steps is not None else cfg.run.steps, "rec": rec,
               "rec_params": rec_params, "min_rating": min_rating, "max_per_user": max_per_user,
               "loop_rec": loop_rec if loop_rec is not None else cfg.recommender.name,
               "max_train": split.max_train, "cold_share": split.cold_share,
               "description": f"{rec} trained on real-only vs real + synthetic (agents simulated under "
               f"{loop_rec or cfg.recommender.name}) vs real + popularity-control interactions of "
               f"{users if isinstance(users, str) else 'chosen'} users; Recall@10 / NDCG@10 on real held-out "
               f"interactions (training items excluded); max_train={split.max_train}, cold_share={split.cold_share}."}  # fmt: skip
    write_study(
        folder,
        cfg,
        lift,
        summary,
        options,
        timings,
        {k: [Path(p) for p in v] for k, v in data_files.items()},
    )
    return AugmentStudy(folder, lift, summary)
