"""The scored page-decision protocol: a small model answers short questions, scored, not written.

For each LLM-driven user on a page:

1. **Watch.** Every item is one yes/no question ("Would you watch "Heat" (Action,
   Crime)?"). The model's next-word log-probabilities of *yes* and *no* give its
   log-odds ``ℓ``; nothing is generated. Every question of the page shares one
   prefix (instructions, persona, recent memories), which the embedded backend
   evaluates once.
2. **Combine.** ``llm`` mode watches with the model's own probability ``σ(ℓ / T)``,
   ``T`` being ``policy.llm.watch_temperature``: 1 (the default) draws from the
   model's probabilities as they are, smaller values sharpen them, 0 answers as a
   model writing its reply greedily would (watch when *yes* is the likelier word).
   ``hybrid`` mode combines it with the choice model's prior ``π`` as a product
   of experts centred on the page: ``p = σ(logit π + w · (ℓ − mean ℓ))``, where
   ``w`` is ``policy.llm.llm_weight``. The choice model sets how much of a page is
   watched; the LLM moves probability between its items (``w = 0``: the prior
   alone). Watches are drawn from ``p`` with a generator seeded by the run seed,
   user, step and page.
3. **Stars.** A 1-5 question, scored over the five digits; the stars are drawn
   from those probabilities (``llm`` mode; hybrid users take the choice model's
   stars unless ``policy.llm.stars: llm``).
4. **Share.** With a social graph, a liked watch (4 stars or more) is a yes/no
   question too.
5. **Text, only where wanted.** A one-sentence reason for a share of watches
   (``reason_rate``), a short review for a share of pages (``review_rate``) and a
   message with each share, each one short, plain prompt with a small token cap
   (``text_tokens``). Every text goes through the text guard; a failing one is
   dropped and counted, and the decision stands.

Leaving is the choice model's (satisfaction and fatigue), as for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from simrec.agents.questions import STARS, YES_NO, ScoredPrompts, first_sentences
from simrec.core.rng import mixed_seed
from simrec.llm.types import LLMResponse

__all__ = [
    "STARS", "YES_NO", "ScoredPrompts", "combine", "draw_stars", "first_sentences", "own_probability", "stream",
    "yes_log_odds",
]  # fmt: skip

# Offsets that keep the streams of one (user, step, page) apart.
_WATCH, _STARS, _SHARE, _TEXT = 1, 2, 3, 4


@dataclass(frozen=True)
class Question:
    """One question of a page: who asks, about which item, in which words."""

    row: int
    item: int
    kind: str  # watch | stars | share | reason | review | message
    text: str


def combine(prior: np.ndarray, log_odds: np.ndarray, weight: float) -> np.ndarray:
    """Hybrid watch probabilities: ``σ(logit prior + weight · (log_odds − mean log_odds))`` per page.

    Args:
        prior: ``[k]`` the choice model's watch probabilities of a page's items.
        log_odds: ``[k]`` the model's yes-vs-no log-odds of the same items.
        weight: How much the LLM moves probability between the items (0: the prior).
    """
    eps = 1e-6
    base = logit(np.clip(prior.astype(np.float64), eps, 1 - eps))
    centred = log_odds - log_odds.mean()
    return expit(base + weight * centred)


def own_probability(log_odds: np.ndarray, temperature: float) -> np.ndarray:
    """``llm``-mode watch probabilities ``σ(ℓ / T)``; at ``T = 0``, 1 where ``ℓ > 0``, 0 where ``ℓ < 0``, ½ at 0.

    Args:
        log_odds: The model's yes-vs-no log-odds.
        temperature: ``policy.llm.watch_temperature`` (≥ 0).
    """
    lo = np.asarray(log_odds, np.float64)
    if temperature <= 0:
        return np.where(lo > 0, 1.0, np.where(lo < 0, 0.0, 0.5))
    return expit(lo / temperature)


def yes_log_odds(resp: LLMResponse) -> float:
    """``log p(yes) − log p(no)`` of a scored yes/no reply (NaN on fallback)."""
    if not resp.ok or resp.scores is None:
        return float("nan")
    return float(resp.scores[0] - resp.scores[1])


def draw_stars(resp: LLMResponse, rng: np.random.Generator) -> int:
    """Stars 1..5 drawn from a scored 1-5 reply (0 on fallback)."""
    if not resp.ok or resp.scores is None:
        return 0
    p = np.exp(np.asarray(resp.scores, np.float64))
    return int(rng.choice(5, p=p / p.sum())) + 1


def stream(base: int, user: int, step: int, page: int, offset: int) -> np.random.Generator:
    """The generator of one user's draws on one page (independent of who else is on it)."""
    return np.random.default_rng(mixed_seed(base, user, step, max(page, 0), offset))
