"""Generate synthetic interactions for chosen users by running them as agents.

The scenario runs as usual (agents and recommender built from the training
split only, so no held-out interaction leaks into the synthetic data); the
simulated watches of the chosen users are then kept and exported together with
the real training interactions (``origin`` ``"real"`` / ``"sim"``).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.data.types import Interactions
from simrec.io.manifest import read_parquet_checked
from simrec.world.catalog import Catalog

log = logging.getLogger(__name__)

#: Formats :func:`export_augmented` writes.
AUGMENT_FORMATS: tuple[str, ...] = ("recbole", "parquet", "csv")


@dataclass
class Augmented:
    """Real training data and the synthetic interactions of the chosen users.

    Attributes:
        run_dir: The simulation's run folder.
        train: Real training interactions (indices).
        heldout: Real held-out interactions (indices).
        synthetic: Simulated watches of the chosen users (indices; ``rating`` NaN if unrated).
        users: The chosen user indices.
        cold: Indices of cold users (at most ``cold_max`` training interactions).
        n_users: Users of the world.
        n_items: Items of the world.
        catalog: The world's public catalog (for fitting recommenders).
        min_rating: Synthetic watches rated below this were dropped (``None``: none dropped).
        max_per_user: At most this many synthetic watches were kept per user (``None``: all).
    """

    run_dir: Path
    train: Interactions
    heldout: Interactions
    synthetic: Interactions
    users: np.ndarray
    cold: np.ndarray
    n_users: int
    n_items: int
    catalog: Catalog
    min_rating: float | None = None
    max_per_user: int | None = None


def cold_users(train: Interactions, n_users: int, cold_max: int) -> np.ndarray:
    """Indices of users with at most ``cold_max`` training interactions (zero included)."""
    counts = (
        np.bincount(train.user, minlength=n_users) if len(train) else np.zeros(n_users, np.int64)
    )
    return np.flatnonzero(counts <= cold_max)


def choose_users(
    users: str | np.ndarray, train: Interactions, n_users: int, cold_max: int
) -> np.ndarray:
    """Resolve ``"cold"``, ``"all"`` or an explicit index array to sorted user indices."""
    if isinstance(users, str):
        if users == "cold":
            return cold_users(train, n_users, cold_max)
        if users == "all":
            return np.arange(n_users)
        raise ConfigError(
            f"users must be 'cold', 'all' or an array of user indices, got {users!r}."
        )
    chosen = np.unique(np.asarray(users, np.int64))
    if len(chosen) and (chosen[0] < 0 or chosen[-1] >= n_users):
        raise ConfigError(
            f"user indices must lie in [0, {n_users}); got {chosen[0]}..{chosen[-1]}."
        )
    return chosen


def loop_scenario(cfg: ScenarioConfig, loop_rec: str | None, loop_params: dict | None = None) -> ScenarioConfig:
    """``cfg`` with its in-loop recommender replaced by ``loop_rec`` (its params: ``loop_params`` or none).

    ``loop_rec=None`` keeps the scenario's recommender and its parameters.
    """
    if loop_rec is None:
        return cfg
    rec = cfg.recommender.model_copy(update={"name": loop_rec, "params": dict(loop_params or {})})
    return cfg.model_copy(update={"recommender": rec})


def simulate(cfg: ScenarioConfig, steps: int | None, folder: Path, seed: int) -> Path:
    """Run ``cfg`` with ``seed`` into ``folder`` (no exports, no report); return the run folder.

    A scenario's ``variants`` are not run: augmenting simulates the scenario itself, under
    its own (or ``--loop-rec``'s) recommender, once per seed.
    """
    from simrec.env.runner import run_scenario

    if cfg.variants:
        log.warning("simrec augment simulates %s itself; its variants (%s) are not run",
                    cfg.name, ", ".join(cfg.variants))  # fmt: skip

    update = {
        "output_dir": folder,
        "name": "simulation",
        "export": [],
        "report": False,
        "overwrite": False,
    }
    if steps is not None:
        update["steps"] = steps
    run = cfg.run.model_copy(update=update)
    return run_scenario(cfg.model_copy(update={"run": run, "seed": seed, "variants": {}})).run_dir


def augment(
    cfg: ScenarioConfig,
    users: str | np.ndarray = "cold",
    cold_max: int = 5,
    steps: int | None = None,
    seed: int | None = None,
    folder: Path | None = None,
    min_rating: float | None = None,
    loop_rec: str | None = None,
    max_per_user: int | None = None,
) -> Augmented:
    """Simulate the scenario and keep the simulated watches of the chosen users.

    Args:
        cfg: The validated scenario (``environment.data.split.max_train`` down-samples training).
        users: ``"cold"`` (at most ``cold_max`` training interactions), ``"all"`` or user indices.
        cold_max: Training interactions a cold user has at most.
        steps: Simulation steps (default: the scenario's ``run.steps``).
        seed: Simulation seed (default: ``cfg.seed``).
        folder: Parent folder of the simulation run (default: ``cfg.run.output_dir``).
        min_rating: If given, keep only synthetic watches the agent rated at least this.
        loop_rec: Recommender the agents are simulated under (default: the scenario's;
            a name given here runs with its default parameters).
        max_per_user: If given, keep at most this many synthetic watches per user
            (best rated first, then earliest; applied after ``min_rating``).

    Returns:
        The real and synthetic interactions.
    """
    from simrec.io.events import EVENTS_DIRNAME, list_parts
    from simrec.io.export import cap_per_user, simulated_interactions
    from simrec.world.build import build_world

    seed = cfg.seed if seed is None else seed
    world = build_world(cfg, seed)  # the same world the run builds (same seed)
    run_dir = simulate(loop_scenario(cfg, loop_rec), steps, Path(folder or cfg.run.output_dir), seed)
    train, heldout = world.train, world.heldout
    if len(read_parquet_checked(run_dir / "train.parquet")) != len(train):
        raise RuntimeError(
            f"the run in {run_dir} built another world than build_world(seed={seed})"
        )
    n_users, n_items = world.population.n_users, world.catalog.n_items
    chosen = choose_users(users, train, n_users, cold_max)
    parts = [pd.read_parquet(p) for p in list_parts(run_dir / EVENTS_DIRNAME)]
    sim = (
        simulated_interactions(pd.concat(parts, ignore_index=True))
        if parts
        else train.to_frame().iloc[:0]
    )
    keep = np.isin(sim["user"].to_numpy(), chosen)
    if min_rating is not None:
        keep &= sim["rating"].to_numpy() >= min_rating  # NaN (unrated) fails
    sim = cap_per_user(sim.loc[keep].reset_index(drop=True), max_per_user)
    return Augmented(run_dir, train, heldout, Interactions.from_frame(sim), chosen,
                     cold_users(train, n_users, cold_max), n_users, n_items, world.catalog, min_rating,
                     max_per_user)  # fmt: skip


def export_augmented(
    aug: Augmented, out_dir: Path, formats: tuple[str, ...] = AUGMENT_FORMATS
) -> dict[str, list[Path]]:
    """Export real + synthetic rows of ``aug`` (``origin`` marks synthetic rows) and the run manifest.

    RecBole files go to ``<out_dir>/<dataset>.inter`` etc. (column ``origin:token``),
    CSV and Parquet to ``interactions.csv`` / ``interactions.parquet`` (column
    ``origin``); the simulation's ``manifest.json`` is copied to ``run-manifest.json``.
    """
    from simrec.io.export import export_run

    out_dir = Path(out_dir)
    written = export_run(
        aug.run_dir, formats, out_dir=out_dir, sim_users=aug.users, sim_min_rating=aug.min_rating,
        sim_max_per_user=aug.max_per_user,
    )
    shutil.copyfile(aug.run_dir / "manifest.json", out_dir / "run-manifest.json")
    written["manifest"] = [out_dir / "run-manifest.json"]
    return written
