"""The policy protocol: one batched call decides a page for many users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from simrec.core.errors import ConfigError
from simrec.core.registry import Registry

if TYPE_CHECKING:
    from simrec.config.schema import PolicyConfig
    from simrec.llm.base import LLMBackend
    from simrec.world.build import World

POLICIES: Registry[type] = Registry(
    "policy",
    {
        "choice": "simrec.agents.policies.choice:ChoicePolicy",
        "llm": "simrec.agents.policies.llm:LLMPolicy",
        "hybrid": "simrec.agents.policies.llm:HybridPolicy",
    },
)

#: Who made a decision, as written in the event table's ``policy`` column.
DECISION_SOURCES = ("choice", "llm", "fallback")


@dataclass
class PageBatch:
    """One page shown to many users at once.

    Attributes:
        step: Simulation step.
        page: Page number within the session (0-based).
        users: ``[n]`` user indices.
        items: ``[n, k]`` item indices in display order.
        satisfaction: ``[n]`` mood before the page.
        fatigue: ``[n]`` fatigue before the page.
        social: ``[n, k]`` pull of friends' recent likes on each item (``None``: no social graph).
        via: ``[n, k]`` int8, 1 where the item is a friend's share in the social slot (``None``: none).
    """

    step: int
    page: int
    users: np.ndarray
    items: np.ndarray
    satisfaction: np.ndarray
    fatigue: np.ndarray
    social: np.ndarray | None = None
    via: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Decisions:
    """What the users of a :class:`PageBatch` did.

    Attributes:
        clicks: ``[n, k]`` bool, watched.
        ratings: ``[n, k]`` int8 stars 1..5, 0 where not rated (only watched items are rated).
        exits: ``[n]`` bool, left the session after this page.
        satisfaction: ``[n]`` mood after the page.
        fatigue: ``[n]`` fatigue after the page.
        source: ``[n]`` int8 codes into :data:`DECISION_SOURCES` (default: all ``choice``).
        shares: ``[n, k]`` bool, items the user shares with followers, for the rows in
            ``share_decided`` (``None``: the policy leaves sharing to the social phase's rule).
        share_decided: ``[n]`` bool, rows whose sharing the policy decided itself.
    """

    clicks: np.ndarray
    ratings: np.ndarray
    exits: np.ndarray
    satisfaction: np.ndarray
    fatigue: np.ndarray
    source: np.ndarray | None = None
    shares: np.ndarray | None = None
    share_decided: np.ndarray | None = None

    def sources(self) -> np.ndarray:
        """Per-user decision source codes."""
        return self.source if self.source is not None else np.zeros(len(self.exits), np.int8)

    def validate(self, batch: PageBatch) -> Decisions:
        """Check shapes and invariants against ``batch`` (a policy bug otherwise)."""
        n, k = batch.items.shape
        assert self.clicks.shape == (n, k) and self.ratings.shape == (n, k), "decision shape mismatch"
        assert self.exits.shape == (n,), "exit shape mismatch"
        assert not np.any((self.ratings > 0) & ~self.clicks), "rating without a watch"
        assert np.all((self.ratings >= 0) & (self.ratings <= 5)), "rating outside 0..5"
        return self


@runtime_checkable
class Policy(Protocol):
    """How users decide on a page."""

    name: str

    def decide(self, batch: PageBatch) -> Decisions:
        """Decide watches, ratings and exits for every user of ``batch``."""


def policy_uses_llm(cfg: PolicyConfig) -> bool:
    """Whether the configured policy thinks with the LLM backend (class attribute ``uses_llm``)."""
    return bool(getattr(POLICIES.get(cfg.name), "uses_llm", False))


def policy_uses_mind(cfg: PolicyConfig) -> bool:
    """Whether the configured policy keeps agent minds (personas, memory; ``uses_mind``)."""
    return bool(getattr(POLICIES.get(cfg.name), "uses_mind", False))


def build_policy(
    cfg: PolicyConfig,
    world: World,
    rng: np.random.Generator,
    llm: LLMBackend | None = None,
    mind: object | None = None,
    items: object | None = None,
) -> Policy:
    """Instantiate the configured policy over ``world``.

    A policy class provides ``from_world(cfg, world, rng, llm)``; policies that
    set ``uses_llm = True`` receive the run's LLM backend, and those that set
    ``uses_mind = True`` also get ``mind`` and ``items`` (personas and memory,
    item profiles).
    """
    cls = POLICIES.get(cfg.name)
    if not hasattr(cls, "from_world"):
        raise ConfigError(
            f"policy '{cfg.name}' has no from_world(cfg, world, rng, llm) classmethod; "
            "see simrec.agents.policies.choice.ChoicePolicy for the shape a policy takes."
        )
    if getattr(cls, "uses_mind", False):
        return cls.from_world(cfg, world, rng, llm, mind, items)
    return cls.from_world(cfg, world, rng, llm)
