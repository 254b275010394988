"""``run_fidelity``: the discrimination protocol and rating fidelity for each decision mode.

For every mode (``choice``, ``llm``, ``hybrid``), negatives kind and ratio it
builds the protocol lists (seeded, the same lists for every mode), shows them to
the mode's policy and scores the picks; then it measures rating fidelity
(RMSE/MAE and the JS divergence of star distributions on held-out rated items)
and, with ``simulate_steps``, runs the scenario as configured for a few steps to
compare simulated and real item popularity and count pages viewed per session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simrec.io.adapters import resolve_llm, resolve_weight
from simrec.agents.policies.base import DECISION_SOURCES, build_policy
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.fidelity import ratings as rf
from simrec.fidelity.calibrate import calibrate_world
from simrec.fidelity.result import ABRanking, Fidelity
from simrec.fidelity.protocol import NEGATIVES, RATIOS, build_lists, run_protocol, score_choices
from simrec.world.build import World, build_world

MODES = ("choice", "llm", "hybrid")
_LLM_CODE = DECISION_SOURCES.index("llm")
_FALLBACK_CODE = DECISION_SOURCES.index("fallback")


def _mode_cfg(cfg: ScenarioConfig, mode: str, llm_users: int | None) -> ScenarioConfig:
    llm = cfg.policy.llm if llm_users is None else cfg.policy.llm.model_copy(update={"llm_users": llm_users})
    return cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"name": mode, "llm": llm})})


class _ModePolicy:
    """A mode's policy and whatever it holds open (LLM backend, memory stores)."""

    def __init__(self, cfg: ScenarioConfig, world: World, mode: str, folder: Path, seed: int) -> None:
        self.llm = self.mind = self.items = None
        rng = child_rng(seed, "fidelity", "policy", mode)
        if mode == "choice":
            self.policy = build_policy(cfg.policy, world, rng)
            return
        from simrec.agents.items import ItemProfiles
        from simrec.agents.mind import Mind, build_store
        from simrec.llm.factory import build_backend

        self.llm = build_backend(resolve_llm(cfg), seed, folder)
        mem = cfg.agents.memory
        self.mind = Mind(mem, world, build_store(mem, folder, f"fidelity-{mode}", cfg.llm))
        if cfg.agents.item_profiles:
            self.items = ItemProfiles(world.catalog, build_store(mem, folder, f"fidelity-{mode}-items", cfg.llm))
        self.policy = build_policy(resolve_weight(cfg).policy, world, rng, self.llm, self.mind, self.items)

    def close(self) -> None:
        for obj in (self.mind, self.items, self.llm):
            if obj is not None:
                obj.close()


def _simulate(cfg: ScenarioConfig, steps: int, folder: Path, world: World) -> dict[str, Any]:
    from simrec.env.runner import run_scenario

    run = cfg.run.model_copy(update={"steps": steps, "output_dir": folder, "name": "simulation",
                                     "export": [], "report": False, "overwrite": False})  # fmt: skip
    result = run_scenario(cfg.model_copy(update={"run": run}))
    return {**rf.simulated_behaviour(result.run_dir, world), "run_dir": str(result.run_dir), "steps": steps}


def measure_fidelity(
    cfg: ScenarioConfig,
    modes: Sequence[str] = ("choice",),
    ratios: Sequence[str] = tuple(RATIOS),
    users: int | None = None,
    negatives: Sequence[str] = NEGATIVES,
    seed: int | None = None,
    simulate_steps: int = 0,
    llm_users: int | None = None,
    folder: Path | None = None,
    world: World | None = None,
) -> Fidelity:
    """Measure fidelity of each mode against the held-out split of ``cfg``'s world.

    Args:
        cfg: The scenario (its data split defines training and held-out).
        modes: Decision modes to score.
        ratios: Protocol ratios (keys of :data:`~simrec.fidelity.protocol.RATIOS`).
        users: At most this many users per list set (``None``: every eligible user).
        negatives: ``uniform`` and/or ``popularity``.
        seed: Root seed (default ``cfg.seed``).
        simulate_steps: Steps of a short simulation for popularity and session length (0: none).
        llm_users: Cap on LLM-driven users in ``hybrid`` mode (``policy.llm.llm_users``).
        folder: Where LLM modes keep memory stores and the simulation writes (required for those).
        world: The (calibrated) world of ``cfg`` and ``seed`` if already built (else built
            and calibrated here).
    """
    seed = cfg.seed if seed is None else seed
    bad = [m for m in modes if m not in MODES] + [r for r in ratios if r not in RATIOS]
    bad += [n for n in negatives if n not in NEGATIVES]
    if bad:
        raise ConfigError(f"unknown fidelity option(s) {bad}; modes {MODES}, ratios {tuple(RATIOS)}, negatives {NEGATIVES}")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    world = calibrate_world(cfg, build_world(cfg, seed), seed) if world is None else world
    if len(world.heldout) == 0:
        raise ConfigError("fidelity needs held-out interactions: set environment.data.split (kind random or temporal)")
    timings["build_world"] = time.perf_counter() - t
    t = time.perf_counter()
    lists = {(neg, r): build_lists(world, r, child_rng(seed, "fidelity", "lists", neg, r), users, neg)
             for neg in negatives for r in ratios}  # fmt: skip
    timings["build_lists"] = time.perf_counter() - t
    rows, rating_rows, stars = [], [], {}
    scale = world.dataset.scale  # star shares over its levels: sim_1star..sim_5star, or sim_0.5star..sim_5star
    for mode in modes:
        if mode != "choice" and folder is None:
            raise ConfigError(f"mode '{mode}' needs a folder for its agent memory")
        t = time.perf_counter()
        holder = _ModePolicy(_mode_cfg(cfg, mode, llm_users), world, mode, folder or Path("."), seed)
        try:
            sim_stars, real_stars = [], []
            for (neg, r), lst in lists.items():
                dec = run_protocol(holder.policy, world, lst)
                s = score_choices(dec.clicks, lst.labels)
                llm_rows = dec.sources() == _LLM_CODE
                rows.append({"mode": mode, "negatives": neg, "ratio": r, "users": len(lst), "skipped": lst.n_skipped,
                             **s.means(), "llm_users": int(llm_rows.sum()),
                             "llm_fallbacks": int((dec.sources() == _FALLBACK_CODE).sum()),
                             "accuracy_llm": float(s.accuracy[llm_rows].mean()) if llm_rows.any() else float("nan")})  # fmt: skip
                if mode != "choice":  # LLM-driven users rate what they watched during the protocol
                    a, b = rf.protocol_heldout_stars(world, lst, dec, holder.policy.llm_users())
                    sim_stars.append(a)
                    real_stars.append(b)
            llm_part = (np.concatenate(sim_stars), np.concatenate(real_stars)) if sim_stars else None
            # Choice-driven users rate every held-out rated item they have, in every mode.
            evaluated = np.arange(world.population.n_users) if users is None else np.unique(
                np.concatenate([lst.users for lst in lists.values()]))  # fmt: skip
            if mode != "choice":
                evaluated = evaluated[~holder.policy.llm_users()[evaluated]]
            choice = holder.policy if mode == "choice" else holder.policy.choice
            a, b = rf.choice_heldout_stars(choice, world, evaluated)
            sim_stars.append(a)
            real_stars.append(b)
        finally:
            holder.close()
        sim, real = np.concatenate(sim_stars), np.concatenate(real_stars)
        llm_errors = rf.rating_errors(*llm_part) if llm_part is not None else rf.rating_errors(np.zeros(0), np.zeros(0))
        p, q = rf.star_distribution(sim, scale), rf.star_distribution(real, scale)
        stars[mode] = (p, q)
        js = (rf.js_divergence(p, q), rf.js_distance(p, q)) if p.sum() and q.sum() else (float("nan"),) * 2
        rating_rows.append({"mode": mode, **rf.rating_errors(sim, real), "js_divergence": js[0], "js_distance": js[1],
                            **{f"{k}_llm": v for k, v in llm_errors.items()},
                            **{f"sim_{k}star": float(v) for k, v in zip(scale.level_names(), p, strict=True)},
                            **{f"real_{k}star": float(v) for k, v in zip(scale.level_names(), q, strict=True)}})  # fmt: skip
        timings[f"mode_{mode}"] = time.perf_counter() - t
    behaviour: dict[str, Any] = {}
    if simulate_steps > 0:
        if folder is None:
            raise ConfigError("the short simulation needs a folder to write into")
        t = time.perf_counter()
        behaviour = _simulate(cfg.model_copy(update={"seed": seed}), simulate_steps, folder, world)
        timings["simulate"] = time.perf_counter() - t
    calibration = world.calibration.to_json() if world.calibration is not None else None
    return Fidelity(pd.DataFrame(rows), pd.DataFrame(rating_rows), stars, behaviour, timings, calibration,
                    rating_scale=scale.describe())  # fmt: skip


def select_agents(
    cfg: ScenarioConfig, seed: int, select_on: str, progress: Callable[[int, int, str], None] | None
) -> tuple[ScenarioConfig, World, Any]:
    """The scenario with the settings chosen on validation, its calibrated world and the selection."""
    from dataclasses import replace

    from simrec.fidelity.select import apply_overrides, select_on_validation
    from simrec.world.taste import fit_ease_interest

    if select_on != "validation":
        raise ConfigError(f"--select-on takes 'validation' (never the held-out split), got '{select_on}'")
    t = time.perf_counter()
    world = build_world(cfg, seed)
    selection = select_on_validation(cfg, world, seed, progress=progress)
    chosen = apply_overrides(cfg, selection.chosen.overrides)
    reg = chosen.agents.taste.ease_reg
    if reg != cfg.agents.taste.ease_reg:  # only the EASE term depends on the settings tried
        ease = None if reg is None else fit_ease_interest(world.train, world.dataset, reg)
        world = replace(world, taste=replace(world.taste, ease=ease))
    selection.seconds = time.perf_counter() - t
    return chosen, calibrate_world(chosen, world, seed), selection


def run_fidelity(
    cfg: ScenarioConfig,
    modes: Sequence[str] = ("choice",),
    ratios: Sequence[str] = tuple(RATIOS),
    users: int | None = None,
    negatives: Sequence[str] = NEGATIVES,
    seed: int | None = None,
    simulate_steps: int = 3,
    llm_users: int | None = None,
    ab: Callable[[ScenarioConfig, Path, int], ABRanking] | None = None,
    select_on: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> pd.DataFrame:
    """Measure fidelity and write the scorecard into a fresh ``<output_dir>/<name>-fidelity/``.

    Args: as :func:`measure_fidelity` (``simulate_steps`` defaults to 3 here), and
        ab: Called as ``ab(cfg, folder, seed)`` after the scorecard's measures; its A/B-ranking
            study joins the scorecard (``simrec fidelity --ab`` passes
            :func:`simrec.fidelity.ab.measure_ab`, which this layer does not import).
        select_on: ``"validation"``: first choose the agents' settings on a validation part
            of the training split (:func:`simrec.fidelity.select.select_on_validation`), then
            score the chosen agents; the choice and every candidate's scores join the scorecard.
        progress: Called as ``progress(done, total, candidate)`` during the selection.

    Returns:
        The discrimination scorecard; ``attrs["folder"]`` is the output folder and
        ``attrs["ratings"]`` the per-mode rating table (as records), ``attrs["calibration"]``
        what calibration fitted (or ``None``), ``attrs["ab"]`` the A/B-ranking study (or ``None``).
    """
    from simrec.fidelity.writers import fidelity_dir, write_scorecard

    seed = cfg.seed if seed is None else seed
    if select_on not in (None, "validation"):  # before any folder is made
        raise ConfigError(f"--select-on takes 'validation' (never the held-out split), got '{select_on}'")
    folder = fidelity_dir(cfg)
    start = time.perf_counter()
    world, selection = None, None
    if select_on is not None:
        cfg, world, selection = select_agents(cfg, seed, select_on, progress)
    fid = measure_fidelity(cfg, modes, ratios, users, negatives, seed, simulate_steps, llm_users, folder, world)
    if selection is not None:
        fid.selection, fid.selection_table = selection.to_json(), selection.table
        fid.timings["select"] = selection.seconds
    if ab is not None:
        t = time.perf_counter()
        fid.ab = ab(cfg, folder, seed)
        fid.timings["ab"] = time.perf_counter() - t
    fid.timings["total"] = time.perf_counter() - start
    options = {"modes": list(modes), "ratios": list(ratios), "users": users, "negatives": list(negatives),
               "simulate_steps": simulate_steps, "llm_users": llm_users}  # fmt: skip
    if fid.ab is not None:
        options["ab"] = {k: v for k, v in fid.ab.info.items() if k != "timings_s"}
    write_scorecard(fid, folder, cfg, seed, options)
    table = fid.scorecard.copy()
    table.attrs["folder"] = str(folder)
    table.attrs["ratings"] = fid.ratings.to_dict("records")
    table.attrs["calibration"] = fid.calibration
    table.attrs["ab"] = fid.ab
    table.attrs["selection"] = fid.selection
    return table
