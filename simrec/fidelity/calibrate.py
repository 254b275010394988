"""Calibration: fit the choice model to real behaviour, from the training split only.

``agents.calibration`` turns it on; :func:`calibrate_world` runs it on a built
world (the runner, the Gymnasium environment and ``simrec fidelity`` call it) and :meth:`ChoicePolicy.from_world <simrec.agents.policies.choice.ChoicePolicy.from_world>`
applies what it fitted. The held-out split that ``simrec fidelity`` scores is
never used.

**Choice weights** (``calibration.choice``). Each user's training interactions
are split again (``validation_share`` held back); a validation world is built
from the rest (interest model, traits, popularity) and Agent4Rec-style lists are
drawn from the held-back part (``ratio``: one or ``all`` four; ``negatives``:
uniform, popularity-matched or both, pooled into one likelihood). Under the choice
model an item is watched iff ``u_i + g_i > c + g_0`` with Gumbel noises, so its
marginal probability is exactly ``σ(u_i − c)``; the weights of the taste, genre,
novelty and popularity terms (with ``agents.taste.ease_reg`` the EASE term, with
``contrast`` the page-relative terms) and the outside utility ``c`` maximise that
(composite) likelihood of "watched = held back". Position decay is kept as
configured (lists are shuffled, so it cannot be identified) and enters as an
offset; with ``policy.choice.picks: page`` so does each list's share of positives,
``logit(P / (P + N))``, which makes ``u − c`` a likelihood ratio that the page rule
combines with the share it infers from each page. Which of these settings to use is
itself chosen on validation by :mod:`simrec.fidelity.select`.

**Star cut-points** (``calibration.ratings``). Stars become the predicted rating
cut at one point fewer than the data's rating levels (``rating_mode: cuts``; four for
whole stars, nine for half stars). The cut-points minimise the squared
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
from simrec.data.scale import WHOLE_STARS, RatingScale
from simrec.world.calibration import Calibration

if TYPE_CHECKING:
    from simrec.agents.policies.base import PageBatch
    from simrec.agents.policies.choice import ChoicePolicy
    from simrec.config.schema import ScenarioConfig
    from simrec.fidelity.protocol import ProtocolLists
    from simrec.world.build import World

#: Utility terms whose weights calibration fits, and the ChoiceParams field of each.
FITTED_TERMS = {"taste": "beta_taste", "genre": "beta_genre", "novelty": "beta_novelty", "popularity": "beta_popularity"}
#: Context-effect terms fitted with ``calibration.contrast``.
CONTRAST_TERMS = {"taste_contrast": "beta_taste_contrast", "popularity_contrast": "beta_popularity_contrast"}
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
    predicted: np.ndarray, real: np.ndarray, js_budget: float, grid: int = 1000, scale: RatingScale = WHOLE_STARS
) -> tuple[tuple[float, ...], dict[str, float]]:
    """Cut-points of predicted ratings into the scale's stars: least squared error within a JS budget.

    The cut-points are searched among ``grid`` quantiles of the predictions by
    coordinate descent (each cut over every grid point between its neighbours,
    until nothing improves) from several starts: plain rounding, the real
    quantiles and mixtures of the two. With the predictions sorted, the error
    and star shares of any cut-points come from cumulative sums in O(1).

    Args:
        predicted: Out-of-fold predicted ratings.
        real: The real stars, levels of ``scale``.
        js_budget: Most JS divergence (bits) between predicted and real star shares.
        grid: Candidate positions per cut.
        scale: The rating scale (whole stars 1..5 by default; the data set's, ``Dataset.scale``).

    Returns:
        ``scale.n_levels − 1`` increasing cut-points (4 for whole stars, 9 for half
        stars) and the fit's RMSE and JS divergence.
    """
    from simrec.fidelity.ratings import js_divergence, star_distribution

    order = np.argsort(predicted, kind="stable")
    pred, y = np.asarray(predicted, float)[order], np.asarray(real, float)[order]
    n = len(y)
    target = star_distribution(y, scale)
    levels, m = scale.levels, scale.n_levels - 1
    c1, c2 = np.concatenate([[0.0], np.cumsum(y)]), np.concatenate([[0.0], np.cumsum(y * y)])
    # candidate split positions: star k+1 starts at sorted index i (distinct predictions only)
    cand = np.unique(np.concatenate([[0, n], np.searchsorted(pred, np.quantile(pred, np.linspace(0, 1, grid + 1)))]))

    def cost(pos: tuple[int, ...]) -> tuple[float, float, float]:
        b = (0, *pos, n)
        counts = np.diff(b).astype(float)
        k = levels
        s1, s2 = np.diff(c1[list(b)]), np.diff(c2[list(b)])
        mse = float((k * k * counts - 2 * k * s1 + s2).sum() / n)
        js = js_divergence(counts / n, target)
        return mse + 100.0 * max(js - js_budget, 0.0), mse, js

    def positions(cuts: np.ndarray) -> tuple[int, ...]:
        idx = cand[np.clip(np.searchsorted(cand, np.searchsorted(pred, cuts, "right")), 0, len(cand) - 1)]
        return tuple(int(i) for i in np.maximum.accumulate(idx))

    quantiles = np.quantile(pred, np.cumsum(target)[:m])
    best_pos, best = None, (np.inf, 0.0, 0.0)
    for a in (0.0, 0.25, 0.5, 0.75, 1.0):
        pos = list(positions(np.array(scale.midpoints()) * (1 - a) + quantiles * a))
        current = cost(tuple(pos))
        improved = True
        while improved:
            improved = False
            for j in range(m):
                lo, hi = (pos[j - 1] if j else 0), (pos[j + 1] if j < m - 1 else n)
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
    cuts = list(np.maximum.accumulate(np.asarray(cuts) + np.arange(m) * 1e-6))
    return tuple(float(c) for c in cuts), {
        "rmse": float(np.sqrt(best[1])),
        "js_divergence": float(best[2]),
        "rmse_rounded": float(np.sqrt(np.mean((scale.snap(pred) - y) ** 2))),
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


def validation_world(cfg: ScenarioConfig, world: World, seed: int) -> World:
    """A world built from part of ``world``'s training split, the rest of it held out for validation.

    Each user's training interactions are split again (``calibration.validation_share``
    held back); interest, traits and popularity come from the rest. The rating model plays
    no part in watching, so the quick biased MF stands in for the configured one.
    """
    from simrec.data.split import split_random
    from simrec.world.build import assemble_world

    cal = cfg.agents.calibration
    split = split_random(world.train, cal.validation_share, child_rng(seed, "calibration", "split"), min_train=1)
    taste = cfg.agents.taste.model_copy(update={"rating_model": "als"})
    return assemble_world(cfg, world.dataset, split.train, split.heldout, seed, taste, social=False)


def validation_lists(cfg: ScenarioConfig, vworld: World, seed: int) -> list[ProtocolLists]:
    """The protocol lists calibration fits on: ``calibration.ratio`` × ``calibration.negatives``."""
    from simrec.fidelity.protocol import RATIOS, build_lists

    cal = cfg.agents.calibration
    ratios = list(RATIOS) if cal.ratio == "all" else [cal.ratio]
    # uniform lists keep the generator key they had before negatives could be chosen
    return [build_lists(vworld, r, child_rng(seed, "calibration", "lists", r) if neg == "uniform"
                        else child_rng(seed, "calibration", "lists", neg, r), None, neg)
            for neg in cal.negatives for r in ratios]  # fmt: skip


def fitted_terms(world: World, contrast: bool = False) -> dict[str, str]:
    """The utility terms calibration fits in ``world``, and the ``ChoiceParams`` field of each."""
    out = FITTED_TERMS | ({"ease": "beta_ease"} if world.taste.ease is not None else {})
    return out | (CONTRAST_TERMS if contrast else {})


def _policy(cfg: ScenarioConfig, vworld: World, params: dict[str, Any] | None = None) -> ChoicePolicy:
    from simrec.agents.policies.choice import ChoicePolicy

    choice = cfg.policy.choice.model_copy(update=params or {})
    # utility_terms draws nothing; the generator is there because a policy owns one
    return ChoicePolicy(choice, vworld.catalog, vworld.population, vworld.taste, child_rng(0, "calibration", "policy"))


def _batch(part: ProtocolLists) -> PageBatch:
    from simrec.agents.policies.base import PageBatch

    n = len(part)
    return PageBatch(step=0, page=0, users=part.users, items=part.items,
                     satisfaction=np.zeros(n, np.float32), fatigue=np.zeros(n, np.float32))  # fmt: skip


def fit_weights(
    cfg: ScenarioConfig, vworld: World, parts: list[ProtocolLists], users: np.ndarray | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """Choice weights and outside utility by maximum likelihood of "watched = held back" on ``parts``.

    With ``policy.choice.picks: page`` each list's own share of positives enters as the
    offset ``logit(P / (P + N))``, so the fitted ``u − c`` is a log-likelihood ratio that
    does not depend on the ratio the lists were drawn at; the page rule then infers a
    page's share from the page (:func:`~simrec.agents.policies.choice.page_share`).

    Args:
        cfg: The scenario (its ``policy.choice`` holds the fixed parameters).
        vworld: The validation world the lists come from.
        parts: Validation lists.
        users: ``[n_users]`` bool; fit on these users' lists only (``None``: all).
    """
    names = fitted_terms(vworld, cfg.agents.calibration.contrast)
    policy = _policy(cfg, vworld)
    page = cfg.policy.choice.picks == "page"
    cols: dict[str, list[np.ndarray]] = {t: [] for t in (*names, "position", "prior", "labels")}
    for part in parts:  # lists of different lengths: terms are flattened and pooled
        keep = np.ones(len(part), bool) if users is None else users[part.users]
        terms = policy.utility_terms(_batch(part))
        for t in (*names, "position"):
            cols[t].append(np.asarray(terms[t])[keep].ravel())
        share = part.labels.mean()
        cols["prior"].append(np.full(part.labels[keep].size, np.log(share) - np.log1p(-share) if page else 0.0))
        cols["labels"].append(part.labels[keep].ravel())
    flat = {t: np.concatenate(v) for t, v in cols.items()}
    offset = cfg.policy.choice.position_decay * flat["position"] + flat["prior"]
    weights, outside, loglik = fit_logit({t: flat[t] for t in names}, offset, flat["labels"])
    params = {names[t]: w for t, w in weights.items()} | {"outside_utility": outside}
    return params, {"loglik_per_item": loglik, "items": int(flat["labels"].size)}


def protocol_accuracy(
    cfg: ScenarioConfig, vworld: World, parts: list[ProtocolLists], params: dict[str, Any], users: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Per list set, expected and decisive accuracy, F1 and picks of agents with ``params`` (no draws).

    Expected accuracy averages each item's chance of a right decision; decisive
    accuracy and F1 score watching exactly the items more likely watched than not.
    """
    from simrec.fidelity.protocol import score_choices

    policy = _policy(cfg, vworld, params)
    rows = []
    for part in parts:
        keep = np.ones(len(part), bool) if users is None else users[part.users]
        labels = part.labels[keep]
        p = policy.watch_probability(policy.utilities(_batch(part))[keep])
        s = score_choices(p > 0.5, labels).means()
        rows.append({"ratio": part.ratio, "negatives": part.negatives, "users": int(keep.sum()),
                     "expected_accuracy": float(np.mean(np.where(labels, p, 1 - p))) if labels.size else float("nan"),
                     "decisive_accuracy": s["accuracy"], "decisive_f1": s["f1"], "decisive_picked": s["picked"]})  # fmt: skip
    return rows


def fit_choice(cfg: ScenarioConfig, world: World, seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit the choice weights and outside utility on a validation part of training (see the module docstring)."""
    cal = cfg.agents.calibration
    vworld = validation_world(cfg, world, seed)
    parts = validation_lists(cfg, vworld, seed)
    if min(len(part) for part in parts) < 10:
        raise ValueError(
            f"calibration needs at least 10 users with enough validation interactions for {cal.ratio} lists, "
            f"got {min(len(part) for part in parts)}; choose another agents.calibration.ratio or raise validation_share"
        )
    params, fit = fit_weights(cfg, vworld, parts)
    cells = protocol_accuracy(cfg, vworld, parts, params)
    n = np.array([c["users"] for c in cells], float)
    report = {
        "validation_lists": int(sum(len(part) for part in parts)), "ratio": cal.ratio,
        "negatives": list(cal.negatives), "picks": cfg.policy.choice.picks, "loglik_per_item": fit["loglik_per_item"],
        "expected_accuracy": float(np.average([c["expected_accuracy"] for c in cells], weights=n)),
        "decisive_accuracy": float(np.average([c["decisive_accuracy"] for c in cells], weights=n)),
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
        cuts, report = fit_star_cuts(oof[0], oof[1], cal.js_budget, scale=world.dataset.scale)
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
