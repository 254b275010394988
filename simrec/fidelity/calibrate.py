"""Calibration: fit the choice model to real behaviour, from the training split only.

``agents.calibration`` turns it on; :func:`calibrate_world` runs it on a built
world (the runner, the Gymnasium environment and ``simrec fidelity`` call it) and :meth:`ChoicePolicy.from_world <simrec.agents.policies.choice.ChoicePolicy.from_world>`
applies what it fitted. The held-out split that ``simrec fidelity`` scores is
never used.

**Choice weights** (``calibration.choice``). Each user's training interactions
are split again (``validation_share`` held back); a validation world is built
from the rest (interest model, traits, popularity) and Agent4Rec-style lists are
drawn from the held-back part (``ratio``, uniform negatives). Under the choice
model an item is watched iff ``u_i + g_i > c + g_0`` with Gumbel noises, so its
marginal probability is exactly ``σ(u_i − c)``; the weights of the taste, genre,
novelty and popularity terms and the outside utility ``c`` maximise that
(composite) likelihood of "watched = held back". Position decay is kept as
configured (lists are shuffled, so it cannot be identified) and enters as an
offset.

**Star cut-points** (``calibration.ratings``). Stars become the predicted rating
cut at four points (``rating_mode: cuts``). The cut-points minimise the squared
error of out-of-fold predictions of the training ratings, subject to the star
shares staying within ``js_budget`` bits (Jensen–Shannon) of the training star
shares: plain rounding minimises the error but gives almost no 1s and 5s.

**Choice noise** (``calibration.natural_noise``). The fitted logit's noise is the
users' own inconsistency *plus* the taste model's error. Only the first belongs
in an agent: the second is the simulator's ignorance, and an agent acting on its
best guess should not turn it into random behaviour. Nothing in one log of
choices separates the two, so the users' share comes from re-rating studies:
people who rate the same films twice disagree with themselves by an RMSE of
0.557–0.816 stars (Amatriain, Pujol and Oliver, UMAP 2009), that is a per-rating
inconsistency of 0.39–0.58 stars (RMSE between two noisy trials / √2);
``natural_noise`` defaults to the midpoint, 0.485. ``choice_noise`` becomes
``natural_noise`` divided by the rating model's out-of-fold RMSE (at most 1):
the share of the model's error that is the users' own, assumed the same for
watching as for rating. ``simrec fidelity`` and ``benchmarks/fidelity_ml100k.py``
show how the scores move with it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from simrec.core.rng import child_rng
from simrec.world.calibration import Calibration

if TYPE_CHECKING:
    from simrec.config.schema import ScenarioConfig
    from simrec.world.build import World

#: Utility terms whose weights calibration fits, and the ChoiceParams field of each.
FITTED_TERMS = {"taste": "beta_taste", "genre": "beta_genre", "novelty": "beta_novelty", "popularity": "beta_popularity"}
_RIDGE = 1e-3


def fit_logit(terms: dict[str, np.ndarray], offset: np.ndarray, labels: np.ndarray) -> tuple[dict[str, float], float, float]:
    """Weights ``w`` and outside utility ``c`` maximising ``Σ log σ(±(Σ w_j·terms_j + offset − c))``.

    Args:
        terms: Per fitted term, its values (any shape, flattened).
        offset: The fixed part of the utility, shaped like the terms.
        labels: Bool, what was watched, shaped like the terms.

    Returns:
        The weights, the outside utility and the mean log-likelihood per item.
    """
    names = list(terms)
    x = np.stack([terms[t].ravel().astype(np.float64) for t in names] + [-np.ones(labels.size)], axis=1)
    off = offset.ravel().astype(np.float64)
    sign = np.where(labels.ravel(), 1.0, -1.0)

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = sign * (x @ theta + off)
        grad = -(x * (sign * expit(-z))[:, None]).sum(axis=0) + 2 * _RIDGE * len(z) * theta
        return float(-log_expit(z).sum() + _RIDGE * len(z) * theta @ theta), grad

    theta = minimize(nll, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x
    loglik = float(log_expit(sign * (x @ theta + off)).mean())
    return {n: float(v) for n, v in zip(names, theta[:-1], strict=True)}, float(theta[-1]), loglik


def fit_star_cuts(
    predicted: np.ndarray, real: np.ndarray, js_budget: float, grid: int = 1000
) -> tuple[tuple[float, ...], dict[str, float]]:
    """Cut-points of predicted ratings into 1..5 stars: least squared error within a JS budget.

    The cut-points are searched among ``grid`` quantiles of the predictions by
    coordinate descent (each cut over every grid point between its neighbours,
    until nothing improves) from several starts: plain rounding, the real
    quantiles and mixtures of the two. With the predictions sorted, the error
    and star shares of any cut-points come from cumulative sums in O(1).

    Args:
        predicted: Out-of-fold predicted ratings.
        real: The real stars (1..5).
        js_budget: Most JS divergence (bits) between predicted and real star shares.
        grid: Candidate positions per cut.

    Returns:
        Four increasing cut-points and the fit's RMSE and JS divergence.
    """
    from simrec.fidelity.ratings import js_divergence, star_distribution

    order = np.argsort(predicted, kind="stable")
    pred, y = np.asarray(predicted, float)[order], np.asarray(real, float)[order]
    n = len(y)
    target = star_distribution(y)
    c1, c2 = np.concatenate([[0.0], np.cumsum(y)]), np.concatenate([[0.0], np.cumsum(y * y)])
    # candidate split positions: star k+1 starts at sorted index i (distinct predictions only)
    cand = np.unique(np.concatenate([[0, n], np.searchsorted(pred, np.quantile(pred, np.linspace(0, 1, grid + 1)))]))

    def cost(pos: tuple[int, ...]) -> tuple[float, float, float]:
        b = (0, *pos, n)
        counts = np.diff(b).astype(float)
        k = np.arange(1, 6, dtype=float)
        s1, s2 = np.diff(c1[list(b)]), np.diff(c2[list(b)])
        mse = float((k * k * counts - 2 * k * s1 + s2).sum() / n)
        js = js_divergence(counts / n, target)
        return mse + 100.0 * max(js - js_budget, 0.0), mse, js

    def positions(cuts: np.ndarray) -> tuple[int, ...]:
        idx = cand[np.clip(np.searchsorted(cand, np.searchsorted(pred, cuts, "right")), 0, len(cand) - 1)]
        return tuple(int(i) for i in np.maximum.accumulate(idx))

    quantiles = np.quantile(pred, np.cumsum(target)[:4])
    best_pos, best = None, (np.inf, 0.0, 0.0)
    for a in (0.0, 0.25, 0.5, 0.75, 1.0):
        pos = list(positions(np.array([1.5, 2.5, 3.5, 4.5]) * (1 - a) + quantiles * a))
        current = cost(tuple(pos))
        improved = True
        while improved:
            improved = False
            for j in range(4):
                lo, hi = (pos[j - 1] if j else 0), (pos[j + 1] if j < 3 else n)
                for c in cand[(cand >= lo) & (cand <= hi)]:
                    trial = (*pos[:j], int(c), *pos[j + 1 :])
                    value = cost(trial)
                    if value[0] < current[0] - 1e-12:
                        pos, current, improved = list(trial), value, True
        if current[0] < best[0]:
            best_pos, best = tuple(pos), current
    # a cut halfway between the last prediction of one star and the first of the next
    cuts = [float(pred[0] - 1.0) if i == 0 else float(pred[-1] + 1.0) if i == n else float((pred[i - 1] + pred[i]) / 2)
            for i in best_pos]  # fmt: skip
    cuts = list(np.maximum.accumulate(np.asarray(cuts) + np.arange(4) * 1e-6))
    return tuple(float(c) for c in cuts), {
        "rmse": float(np.sqrt(best[1])),
        "js_divergence": float(best[2]),
        "rmse_rounded": float(np.sqrt(np.mean((np.clip(np.rint(pred), 1, 5) - y) ** 2))),
        "ratings": int(n),
    }


def _oof_als(world: World, cfg: ScenarioConfig, seed: int, folds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of the training ratings by the (single) biased-MF rating model."""
    from simrec.core.als import explicit_als

    t, taste = world.train, cfg.agents.taste
    rated = np.isfinite(t.rating)
    u, i, y = t.user[rated], t.item[rated], t.rating[rated]
    fold = child_rng(seed, "calibration", "folds").integers(0, folds, len(y))
    pred = np.empty(len(y))
    for k in range(folds):
        fit, out = fold != k, fold == k
        model = explicit_als(u[fit], i[fit], y[fit], world.dataset.n_users, world.dataset.n_items,
                             factors=taste.rating_factors, reg=taste.rating_reg, iterations=15,
                             rng=child_rng(seed, "calibration", "fold", str(k)))  # fmt: skip
        pred[out] = model.predict(u[out], i[out])
    return pred, y.astype(float)


def fit_choice(cfg: ScenarioConfig, world: World, seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit the choice weights and outside utility on a validation part of training (see the module docstring)."""
    from simrec.agents.policies.base import PageBatch
    from simrec.agents.policies.choice import ChoicePolicy
    from simrec.data.split import split_random
    from simrec.fidelity.protocol import RATIOS, build_lists
    from simrec.world.build import assemble_world

    cal = cfg.agents.calibration
    split = split_random(world.train, cal.validation_share, child_rng(seed, "calibration", "split"), min_train=1)
    # Interest, traits and popularity from the rest; the rating model plays no part in watching.
    taste = cfg.agents.taste.model_copy(update={"rating_model": "als"})
    vworld = assemble_world(cfg, world.dataset, split.train, split.heldout, seed, taste, social=False)
    ratios = list(RATIOS) if cal.ratio == "all" else [cal.ratio]
    parts = [build_lists(vworld, r, child_rng(seed, "calibration", "lists", r)) for r in ratios]
    if min(len(part) for part in parts) < 10:
        raise ValueError(
            f"calibration needs at least 10 users with enough validation interactions for {cal.ratio} lists, "
            f"got {min(len(part) for part in parts)}; choose another agents.calibration.ratio or raise validation_share"
        )
    # utility_terms draws nothing; the generator is there because a policy owns one
    rng = child_rng(seed, "calibration", "policy")
    policy = ChoicePolicy(cfg.policy.choice, vworld.catalog, vworld.population, vworld.taste, rng)
    cols: dict[str, list[np.ndarray]] = {t: [] for t in (*FITTED_TERMS, "position")}
    for part in parts:  # lists of different lengths: terms are flattened and pooled
        n = len(part)
        batch = PageBatch(step=0, page=0, users=part.users, items=part.items,
                          satisfaction=np.zeros(n, np.float32), fatigue=np.zeros(n, np.float32))  # fmt: skip
        terms = policy.utility_terms(batch)
        for t, values in cols.items():
            values.append(np.asarray(terms[t]).ravel())
    flat = {t: np.concatenate(v) for t, v in cols.items()}
    labels = np.concatenate([part.labels.ravel() for part in parts])
    offset = cfg.policy.choice.position_decay * flat["position"]
    weights, outside, loglik = fit_logit({t: flat[t] for t in FITTED_TERMS}, offset, labels)
    params = {FITTED_TERMS[t]: w for t, w in weights.items()} | {"outside_utility": outside}
    p = expit(sum(w * flat[t] for t, w in weights.items()) + offset - outside)
    report = {
        "validation_lists": int(sum(len(part) for part in parts)), "ratio": cal.ratio, "loglik_per_item": loglik,
        "expected_accuracy": float(np.mean(np.where(labels, p, 1 - p))),
        "decisive_accuracy": float(np.mean((p > 0.5) == labels)),
        "fitted": dict(params),
    }  # fmt: skip
    return params, report


def calibrate(cfg: ScenarioConfig, world: World, seed: int) -> Calibration:
    """Run the calibrations ``cfg.agents.calibration`` asks for.

    Args:
        cfg: The scenario.
        world: The world as built from training (its held-out split is not used).
        seed: Root seed.

    Raises:
        ValueError: The data cannot support the calibration (no ratings, too few users).
    """
    cal = cfg.agents.calibration
    out = Calibration()
    oof: tuple[np.ndarray, np.ndarray] | None = None
    needs_oof = cal.ratings or (cal.choice and cal.natural_noise is not None)
    if needs_oof:
        if not np.isfinite(world.train.rating).any():
            raise ValueError("calibration.ratings and natural_noise need rated training interactions")
        oof = world.taste.rating_oof or _oof_als(world, cfg, seed)
    if cal.choice:
        params, report = fit_choice(cfg, world, seed)
        if cal.natural_noise is not None:
            model_rmse = float(np.sqrt(np.mean((oof[0] - oof[1]) ** 2)))
            params["choice_noise"] = min(1.0, cal.natural_noise / model_rmse)
            report["rating_model_oof_rmse"] = model_rmse
            report["natural_noise"] = cal.natural_noise
        out.params.update(params)
        out.report["choice"] = report
    if cal.ratings:
        cuts, report = fit_star_cuts(oof[0], oof[1], cal.js_budget)
        out.params.update({"rating_mode": "cuts", "star_cuts": cuts, "rating_noise": 0.0})
        out.report["ratings"] = {**report, "star_cuts": list(cuts), "js_budget": cal.js_budget}
    return out


def calibrate_world(cfg: ScenarioConfig, world: World, seed: int | None = None) -> World:
    """``world`` with the calibration ``cfg.agents.calibration`` asks for (unchanged if none).

    Args:
        cfg: The scenario.
        world: A world from :func:`simrec.world.build.build_world` (not modified).
        seed: Root seed (default ``cfg.seed``).

    Returns:
        A copy of ``world`` whose ``calibration`` holds the fit, or ``world`` itself.
    """
    cal = cfg.agents.calibration
    if not (cal.choice or cal.ratings):
        return world
    return replace(world, calibration=calibrate(cfg, world, cfg.seed if seed is None else seed))
