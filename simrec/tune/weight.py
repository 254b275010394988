"""Choosing ``policy.llm.llm_weight`` on validation examples, for the tuned model as a run uses it.

Hybrid users watch with ``p = σ(logit π + w · (ℓ − mean ℓ))`` (see
:func:`simrec.agents.policies.scored.combine`): ``π`` is the choice model's watch
probability and ``ℓ`` the LLM's yes-vs-no log-odds. :func:`fit_llm_weight` picks
``w`` from a grid by the log-loss of those probabilities on the validation
examples ``simrec tune`` held back from training (part of the training split; the
held-out split is never read). Each validation user's watch examples (their own
training items against never-seen items, one to one) form one page; ``π`` comes
from the scenario's choice model, and ``ℓ`` from the embedded backend exactly as a
run scores it (llama.cpp, with or without the adapter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simrec.agents.policies.base import PageBatch, build_policy
from simrec.agents.policies.choice import ChoicePolicy
from simrec.agents.policies.scored import combine, yes_log_odds
from simrec.agents.questions import YES_NO
from simrec.config.schema import ScenarioConfig
from simrec.core.rng import child_rng
from simrec.llm.base import LLMBackend
from simrec.llm.types import LLMRequest
from simrec.tune.examples import Example
from simrec.world.build import World

#: The weights tried.
GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0)


@dataclass
class WeightFit:
    """The weight chosen, and the validation log-loss of every weight tried.

    Attributes:
        weight: The weight with the lowest log-loss (the smallest one on ties).
        log_loss: ``{weight: mean log-loss}`` over the validation watch examples.
        pages: Validation users (pages) the fit used.
        examples: Validation watch examples the fit used.
    """

    weight: float
    log_loss: dict[float, float] = field(default_factory=dict)
    pages: int = 0
    examples: int = 0


def _pages(valid: Sequence[Example]) -> dict[int, list[Example]]:
    by_user: dict[int, list[Example]] = defaultdict(list)
    for e in valid:
        if e.kind == "watch":
            by_user[e.user].append(e)
    return {u: rows for u, rows in sorted(by_user.items()) if len({e.label for e in rows}) == 2}


def choice_priors(cfg: ScenarioConfig, world: World, pages: dict[int, list[Example]]) -> dict[int, np.ndarray]:
    """The choice model's prior watch probability of every example (its fitted logit), one page per user."""
    policy = build_policy(cfg.policy.model_copy(update={"name": "choice"}), world, child_rng(cfg.seed, "policy"))
    assert isinstance(policy, ChoicePolicy)
    out = {}
    for u, rows in pages.items():
        items = np.array([[e.item for e in rows]], np.int64)
        batch = PageBatch(1, 0, np.array([u], np.int64), items, np.zeros(1, np.float32), np.zeros(1, np.float32))
        out[u] = policy.prior_probability(policy.utilities(batch))[0].astype(np.float64)
    return out


def llm_log_odds(llm: LLMBackend, pages: dict[int, list[Example]], seed: int) -> dict[int, np.ndarray]:
    """The backend's yes-vs-no log-odds of every example (NaN where a call fell back)."""
    out = {}
    for u, rows in pages.items():
        reqs = [
            LLMRequest.chat(e.system, e.question, choices=YES_NO, agent=u, purpose="watch", seed=seed)
            for e in rows
        ]
        out[u] = np.array([yes_log_odds(r) for r in llm.generate(reqs)], np.float64)
    return out


def fit_llm_weight(
    labels: dict[int, np.ndarray], priors: dict[int, np.ndarray], odds: dict[int, np.ndarray],
    grid: Sequence[float] = GRID,
) -> WeightFit:  # fmt: skip
    """The weight of ``grid`` whose combined probabilities have the lowest validation log-loss.

    Args:
        labels: ``{user: [k] 1 for a watched item, 0 for a never-seen one}``.
        priors: ``{user: [k] the choice model's watch probabilities}``.
        odds: ``{user: [k] the LLM's log-odds}``; a page with a NaN is left out.
    """
    users = [u for u in labels if np.all(np.isfinite(odds[u]))]
    if not users:
        raise ValueError("no validation page to fit llm_weight on")
    losses = {}
    eps = 1e-6
    for w in grid:
        total, n = 0.0, 0
        for u in users:
            p = np.clip(combine(priors[u], odds[u], w), eps, 1 - eps)
            y = labels[u]
            total += float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())
            n += len(y)
        losses[float(w)] = round(total / n, 5)
    best = min(losses, key=lambda w: (losses[w], w))
    return WeightFit(best, losses, len(users), sum(len(labels[u]) for u in users))


def fit_on_examples(
    cfg: ScenarioConfig, world: World, valid: Sequence[Example], llm: LLMBackend
) -> WeightFit:
    """:func:`fit_llm_weight` on ``valid`` (``world`` calibrated as a run calibrates it)."""
    pages = _pages(valid)
    labels = {u: np.array([1.0 if e.label == 0 else 0.0 for e in rows]) for u, rows in pages.items()}
    return fit_llm_weight(labels, choice_priors(cfg, world, pages), llm_log_odds(llm, pages, cfg.seed))


def scoring_backend(cfg: ScenarioConfig, adapter: Path | None, folder: Path) -> LLMBackend:
    """The embedded backend a run would use, with ``adapter`` (or none), no replay cache."""
    from simrec.llm.factory import build_backend

    llm = cfg.llm.model_copy(
        update={
            "adapter": str(adapter) if adapter is not None else "none",
            "cache": cfg.llm.cache.model_copy(update={"enabled": False}),
        }
    )
    backend = build_backend(llm, cfg.seed, folder)
    backend.health_check()
    return backend
