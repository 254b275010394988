"""Tuning examples from the training split: "persona + item → would you watch it?" and "→ how many stars?".

Each example is one question of the scored protocol
(:mod:`simrec.agents.policies.scored`), worded exactly as agents are asked in a
run, with the answer the user's training data gives. A user's prompt holds the
persona and, as "Lately", two other items of their training history with their
ratings, in the words agents' memories use. Positives are the user's training
items; each gets one negative, an item the user never interacted with in training:
for training examples drawn as ``tune.negatives`` says (uniformly, by popularity
so that popularity alone cannot tell them apart, or half of each), for validation
examples always uniformly, as fidelity's default lists draw them, so that
validation figures of different settings compare. The watch question names each
item's popularity band from its training count, as a run does. The held-out split
is never read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrec.agents.persona import build_personas
from simrec.agents.popularity import Popularity
from simrec.agents.prompts import clean_untrusted, item_views, load_template
from simrec.agents.questions import STARS, YES_NO, ScoredPrompts
from simrec.config.tune import TuneConfig
from simrec.world.build import World


@dataclass(frozen=True)
class Example:
    """One question and its answer.

    Attributes:
        user: User index.
        item: Item index.
        kind: ``watch`` or ``stars``.
        system: The system message (persona and recent history).
        question: The question.
        choices: The answers scored (``("yes", "no")`` or the five digits).
        label: Index of the right answer in ``choices``.
        valid: Held back for validation.
    """

    user: int
    item: int
    kind: str
    system: str
    question: str
    choices: tuple[str, ...]
    label: int
    valid: bool


def _by_popularity(cfg: TuneConfig, j: int, valid: bool) -> bool:
    """Whether the ``j``-th negative of a user is drawn by popularity (else uniformly)."""
    if valid or cfg.negatives == "uniform":
        return False
    return cfg.negatives == "popularity" or j % 2 == 0


def build_examples(
    world: World, cfg: TuneConfig, rng: np.random.Generator, prompt_version: int | None = None
) -> list[Example]:
    """The examples of ``cfg.users`` users sampled from those with at least three training items.

    Args:
        world: The scenario's world (its training split is read, never the held-out one).
        cfg: The ``tune:`` block.
        rng: The tuning stream.
        prompt_version: The ``scored`` template version runs use (``None``: the latest).
    """
    train = world.train
    n_items = world.catalog.n_items
    counts = np.bincount(train.user, minlength=world.population.n_users)
    eligible = np.nonzero(counts >= 3)[0]
    if len(eligible) < 2:
        raise ValueError("tuning needs at least two users with three or more training interactions")
    users = np.sort(rng.choice(eligible, size=min(cfg.users, len(eligible)), replace=False))
    neg_rng = np.random.default_rng(int(rng.integers(2**63 - 1)))
    order = np.argsort(train.user, kind="stable")
    starts = np.searchsorted(train.user[order], users)
    ends = np.searchsorted(train.user[order], users, side="right")
    counts = np.bincount(train.item, minlength=n_items)
    pop_p = (counts + 1.0) / (counts + 1.0).sum()
    known = Popularity(world.catalog.popularity).describe(world.catalog.popularity)  # as a run's first step shows them
    prompts = ScoredPrompts(load_template("scored", prompt_version))
    personas = build_personas(world, users)
    titles = world.catalog.titles
    out: list[Example] = []
    for u, persona, a, b in zip(users, personas, starts, ends, strict=True):
        rows = order[a:b]
        seen = set(int(i) for i in train.item[rows])
        pick = rng.permutation(rows)
        history, pos = pick[:2], pick[2 : 2 + cfg.per_user]
        lately = [
            f"Watched {clean_untrusted(str(titles[train.item[r]]), 60)}"
            + (f", rated {int(train.rating[r])}/5" if np.isfinite(train.rating[r]) else "")
            for r in history
        ]
        system = prompts.system(persona.text, lately).content
        valid = rng.random(len(pos)) < cfg.valid_share
        # Validation negatives first, uniformly from the main stream; training ones from their own
        # stream, so the validation examples are the same whatever tune.negatives says.
        negs: list[int | None] = [None] * len(pos)
        for j in [j for j in range(len(pos)) if valid[j]] + [j for j in range(len(pos)) if not valid[j]]:
            g = rng if valid[j] else neg_rng
            while True:
                i = int(g.choice(n_items, p=pop_p)) if _by_popularity(cfg, j, bool(valid[j])) else int(g.integers(n_items))
                if i not in seen and i not in negs:
                    negs[j] = i
                    break
        items = [int(train.item[r]) for r in pos]
        chosen = [i for i in negs if i is not None]
        views = {v_i: v for v_i, v in zip(items + chosen, item_views(world.catalog, items + chosen), strict=True)}
        for r, item, neg, is_valid in zip(pos, items, chosen, valid, strict=True):
            for it, label in ((item, 0), (neg, 1)):
                v = views[it]
                q = prompts.question("watch", v.title, v.genres, popularity=known[it])
                out.append(Example(int(u), it, "watch", system, q, YES_NO, label, bool(is_valid)))
            stars = train.rating[r]
            # the question's answers are the whole stars 1..5: a half star (3.5) is not taught, never rounded
            if cfg.stars and np.isfinite(stars) and 1 <= stars <= 5 and stars == int(stars):
                v = views[item]
                q = prompts.question("stars", v.title, v.genres)
                out.append(Example(int(u), item, "stars", system, q, STARS, int(round(stars)) - 1, bool(is_valid)))
    return out
