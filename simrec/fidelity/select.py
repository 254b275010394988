"""Choosing the agents' settings on validation: ``simrec fidelity --select-on validation``.

Everything here sees only the scenario's *training* split. A validation world is
built from part of it (:func:`~simrec.fidelity.calibrate.validation_world`) and
protocol lists are drawn from the part held back, at every ratio and with both
kinds of negatives. Validation users are split in two: each candidate is
calibrated on the lists of one half and scored on the other half's lists, so a
candidate cannot win by fitting the lists it is scored on. The winner's settings
are then applied to the scenario and calibrated as usual (on every validation
user); ``simrec fidelity`` scores that on the held-out split, which no choice here
has seen.

**Objective** (:data:`OBJECTIVE`): the mean, over the eight list sets (four
ratios × two kinds of negatives), of accuracy and F1 averaged, with watches drawn
as the agents draw them (seeded). Accuracy alone rewards picking nothing on sparse
lists (0.9 at 1:9); F1 alone rewards picking too much on rich ones.

**Candidates** (:func:`default_candidates`): the product of

* the interest model: implicit ALS alone, or with the EASE term (``agents.taste.ease_reg``);
* context effects: taste and popularity only as they are, or also relative to the rest
  of the page (``calibration.contrast``);
* the decision rule: ``policy.choice.picks`` fixed, or page with ``page_prior`` 1, 4 or 16;
* what calibration fits on: 1:1 lists with uniform negatives (the previous default),
  or every ratio with both kinds of negatives (``calibration.ratio: all``);
* the choice noise: users' own inconsistency over the rating model's error
  (``calibration.natural_noise``), 1 (the fitted logit's own), 0.25, or 0 (decisive).

**Star cut-points** (with ``calibration.ratings``): the JS budget is chosen on
out-of-fold predictions of the training ratings (:func:`select_js_budget`): the least
RMSE on one half of them among the budgets whose cut-points, fitted on the other half,
keep the JS divergence within :data:`JS_TARGET`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from simrec.config.merge import deep_merge, format_validation_error
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.fidelity.calibrate import fit_weights, validation_world
from simrec.fidelity.protocol import NEGATIVES, RATIOS, ProtocolLists, build_lists, score_choices
from simrec.world.build import World
from simrec.world.taste import fit_ease_interest

OBJECTIVE = "mean over ratios 1:1, 1:2, 1:3, 1:9 x negatives uniform, popularity of (accuracy + F1) / 2"
#: EASE regularisation of the candidates that use the EASE interest term.
EASE_REG = 250.0
#: JS budgets of the star cut-points tried, and the most JS divergence the chosen one may show.
JS_BUDGETS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08)
JS_TARGET = 0.05
#: ``policy.choice.page_prior`` of the candidates with page picks.
PAGE_PRIORS = (1.0, 4.0, 16.0)


@dataclass
class Candidate:
    """One setting of the agents: a name and the scenario keys it sets (dotted, as ``--set`` takes them)."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Selection:
    """What the selection tried and chose.

    Attributes:
        chosen: The winning candidate.
        table: One row per candidate: its settings, the objective and per-list-set scores.
        objective: What was maximised (:data:`OBJECTIVE`).
        users: Validation users calibrated on and scored on.
        seconds: How long the selection took (set by the caller that times it).
        ratings: With ``calibration.ratings``: each JS budget tried and its validation RMSE and JS.
    """

    chosen: Candidate
    table: pd.DataFrame
    objective: str = OBJECTIVE
    users: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    ratings: pd.DataFrame | None = None

    def to_json(self) -> dict[str, Any]:
        """The choice, its settings and the objective, as JSON-ready values."""
        best = self.table.loc[self.table["candidate"] == self.chosen.name].iloc[0]
        stars = None if self.ratings is None else {"rule": f"least RMSE with JS <= {JS_TARGET}",
                                                   "tried": self.ratings.to_dict("records")}  # fmt: skip
        return {"chosen": self.chosen.name, "overrides": self.chosen.overrides, "objective": self.objective,
                "js_budget": stars,
                "objective_value": float(best["objective"]), "users": self.users,
                "candidates": len(self.table), "split": "validation part of the training split"}  # fmt: skip


def default_candidates() -> list[Candidate]:
    """The grid described in the module docstring (128 candidates)."""
    interest = {"als": {"agents.taste.ease_reg": None}, "als+ease": {"agents.taste.ease_reg": EASE_REG}}
    rule = {"fixed": {"policy.choice.picks": "fixed"},
            **{f"page{a:g}": {"policy.choice.picks": "page", "policy.choice.page_prior": a} for a in PAGE_PRIORS}}
    fit = {"fit1:1u": {"agents.calibration.ratio": "1:1", "agents.calibration.negatives": ["uniform"]},
           "fit-all": {"agents.calibration.ratio": "all", "agents.calibration.negatives": list(NEGATIVES)}}  # fmt: skip
    contrast = {"abs": {"agents.calibration.contrast": False}, "contrast": {"agents.calibration.contrast": True}}
    noise = {"natural": {"agents.calibration.natural_noise": 0.485},
             **{f"noise{v:g}": {"agents.calibration.natural_noise": None, "policy.choice.choice_noise": v}
                for v in (1.0, 0.25, 0.0)}}  # fmt: skip
    out = []
    for parts in itertools.product(interest.items(), contrast.items(), rule.items(), fit.items(), noise.items()):
        over: dict[str, Any] = {}
        for _, o in parts:
            over.update(o)
        out.append(Candidate("/".join(name for name, _ in parts), over))
    return out


def apply_overrides(cfg: ScenarioConfig, overrides: dict[str, Any]) -> ScenarioConfig:
    """``cfg`` with dotted ``overrides`` merged in and validated again.

    Raises:
        ConfigError: when the result does not validate.
    """
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        node = nested
        *head, last = key.split(".")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        return ScenarioConfig.model_validate(deep_merge(cfg.model_dump(), nested))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"'{cfg.name}' with {sorted(overrides)}")) from None


def _oof(cfg: ScenarioConfig, world: World, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of the training ratings and the ratings, as calibration takes them."""
    from simrec.fidelity.calibrate import _oof_als

    pred, real = world.taste.rating_oof or _oof_als(world, cfg, seed)
    return np.asarray(pred, float), np.asarray(real, float)


def select_js_budget(
    predicted: np.ndarray, real: np.ndarray, scale: Any, seed: int, budgets: Sequence[float] = JS_BUDGETS
) -> tuple[float, pd.DataFrame]:
    """The star cut-points' JS budget, chosen on out-of-fold predictions of training ratings.

    The rated training interactions are split in two (seeded): cut-points are fitted on
    one half for every budget and scored on the other. The budget chosen gives the
    least RMSE among those whose JS divergence there stays within :data:`JS_TARGET`
    (the issue's target, stated as the constraint); if none does, the smallest JS.

    Args:
        predicted: Out-of-fold predicted ratings of the training ratings.
        real: The training ratings.
        scale: The data set's :class:`~simrec.data.scale.RatingScale`.
        seed: Root seed.
        budgets: Budgets to try.
    """
    from simrec.fidelity.calibrate import fit_star_cuts
    from simrec.fidelity.ratings import js_divergence, star_distribution

    fit = child_rng(seed, "selection", "stars").random(len(real)) < 0.5
    rows = []
    for budget in budgets:
        cuts, _ = fit_star_cuts(predicted[fit], real[fit], budget, scale=scale)
        stars = scale.levels[(predicted[~fit][:, None] > np.asarray(cuts)[None, :]).sum(axis=1)]
        p, q = star_distribution(stars, scale), star_distribution(real[~fit], scale)
        rmse = float(np.sqrt(np.mean((stars - real[~fit]) ** 2)))
        rows.append({"js_budget": budget, "rmse": rmse, "js_divergence": js_divergence(p, q)})
    table = pd.DataFrame(rows)
    ok = table[table["js_divergence"] <= JS_TARGET]
    best = ok.loc[ok["rmse"].idxmin()] if len(ok) else table.loc[table["js_divergence"].idxmin()]
    return float(best["js_budget"]), table


def select_on_validation(
    cfg: ScenarioConfig,
    world: World,
    seed: int,
    candidates: Sequence[Candidate] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Selection:
    """Calibrate each candidate on half the validation users and score it on the other half.

    Args:
        cfg: The scenario (choice-mode agents with ``agents.calibration.choice`` on).
        world: The world built from ``cfg`` (only its training split is used).
        seed: Root seed.
        candidates: Settings to try (default :func:`default_candidates`).
        progress: Called as ``progress(done, total, candidate_name)``.

    Raises:
        ConfigError: when the scenario does not calibrate its choice model, or the
            validation lists are too small.
    """
    from simrec.agents.policies.base import PageBatch
    from simrec.agents.policies.choice import ChoicePolicy

    if not cfg.agents.calibration.choice:
        raise ConfigError("--select-on validation chooses calibrated agents' settings: set agents.calibration.choice")
    candidates = list(candidates or default_candidates())
    base = validation_world(cfg, world, seed)
    lists = {(neg, r): build_lists(base, r, child_rng(seed, "selection", "lists", neg, r), None, neg)
             for neg in NEGATIVES for r in RATIOS}  # fmt: skip
    if min(len(v) for v in lists.values()) < 20:
        raise ConfigError("--select-on validation needs at least 20 validation users per list set")
    fit_half = child_rng(seed, "selection", "halves").random(world.dataset.n_users) < 0.5
    eases: dict[float | None, Any] = {None: None}
    oof: tuple[np.ndarray, np.ndarray] | None = None  # computed once, when first needed
    rows = []
    for done, cand in enumerate(candidates):
        ccfg = apply_overrides(cfg, cand.overrides)
        reg = ccfg.agents.taste.ease_reg
        if reg not in eases:
            eases[reg] = fit_ease_interest(base.train, base.dataset, reg)
        vworld = replace(base, taste=replace(base.taste, ease=eases[reg]))
        cal = ccfg.agents.calibration
        fit_parts = [lists[(neg, r)] for neg in cal.negatives for r in (RATIOS if cal.ratio == "all" else [cal.ratio])]
        params, _ = fit_weights(ccfg, vworld, fit_parts, fit_half)
        if cal.natural_noise is None:
            params["choice_noise"] = ccfg.policy.choice.choice_noise
        else:  # as calibration sets it (see simrec.fidelity.calibrate.calibrate)
            oof = oof if oof is not None else _oof(cfg, world, seed)
            params["choice_noise"] = min(1.0, cal.natural_noise / float(np.sqrt(np.mean((oof[0] - oof[1]) ** 2))))
        choice = ccfg.policy.choice.model_copy(update=params)
        policy = ChoicePolicy(choice, vworld.catalog, vworld.population, vworld.taste,
                              child_rng(seed, "selection", "draws", cand.name))  # fmt: skip
        row: dict[str, Any] = {"candidate": cand.name, "choice_noise": params["choice_noise"]}
        scores = []
        for (neg, r), part in lists.items():
            sub = _subset(part, ~fit_half[part.users])
            n = len(sub)
            batch = PageBatch(step=0, page=0, users=sub.users, items=sub.items,
                              satisfaction=np.zeros(n, np.float32), fatigue=np.zeros(n, np.float32))  # fmt: skip
            s = score_choices(policy.choose(policy.utilities(batch)), sub.labels).means()
            row |= {f"accuracy {neg} {r}": s["accuracy"], f"f1 {neg} {r}": s["f1"], f"picked {neg} {r}": s["picked"]}
            scores.append((s["accuracy"] + s["f1"]) / 2)
        row["objective"] = float(np.mean(scores))
        rows.append(row)
        if progress is not None:
            progress(done + 1, len(candidates), cand.name)
    table = pd.DataFrame(rows)
    best = candidates[int(np.argmax(table["objective"].to_numpy()))]
    part = next(iter(lists.values()))
    users = {"calibrated_on": int(fit_half[part.users].sum()), "scored_on": int((~fit_half[part.users]).sum())}
    ratings = None
    if cfg.agents.calibration.ratings:
        pred, real = oof if oof is not None else _oof(cfg, world, seed)
        budget, ratings = select_js_budget(pred, real, world.dataset.scale, seed)
        best = Candidate(best.name, {**best.overrides, "agents.calibration.js_budget": budget})
    return Selection(best, table, OBJECTIVE, users, ratings=ratings)


def _subset(lists: ProtocolLists, keep: np.ndarray) -> ProtocolLists:
    return replace(lists, users=lists.users[keep], items=lists.items[keep], labels=lists.labels[keep])
