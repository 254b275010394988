"""The policy contract: one batched call decides a page for many users.

:class:`Policy` is everything the model calls; :class:`BasePolicy` implements it
all except :meth:`~BasePolicy.decide`, the one method a policy must write.
:class:`PageBatch` is what a policy is told about a page, :class:`Decisions`
what it answers, :class:`PolicyOutput` what it hands over at the end of a step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from simrec.core.errors import ConfigError
from simrec.core.registry import Registry

if TYPE_CHECKING:
    from simrec.agents.items import ItemFeedback, ItemProfiles
    from simrec.agents.mind import Mind
    from simrec.config.schema import PolicyConfig
    from simrec.core.streams import UserStreams
    from simrec.io.texts import TextRow
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


@dataclass(frozen=True)
class PageBatch:
    """One page shown to many users at once: everything a policy is told about it.

    Attributes:
        step: Simulation step.
        page: Page number within the session (0-based; -1 when rows are on different pages,
            as in a vector Gymnasium environment).
        users: ``[n]`` user indices.
        items: ``[n, k]`` item indices in display order.
        satisfaction: ``[n]`` mood before the page.
        fatigue: ``[n]`` fatigue before the page.
        social: ``[n, k]`` pull of friends' recent likes on each item (``None``: no social graph).
        via: ``[n, k]`` int8, 1 where the item is a friend's share in the social slot (``None``: none).
        sessions: ``[n]`` session ids (``None`` outside a run, e.g. in the Gymnasium environment).
        popularity: ``[n_items]`` interaction counts as the platform sees them now (training plus
            simulated); ``None``: the catalog's training counts.
    """

    step: int
    page: int
    users: np.ndarray
    items: np.ndarray
    satisfaction: np.ndarray
    fatigue: np.ndarray
    social: np.ndarray | None = None
    via: np.ndarray | None = None
    sessions: np.ndarray | None = None
    popularity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)

    def rows(self, start: int, stop: int) -> PageBatch:
        """Rows ``start:stop`` of the batch (views; ``popularity`` is per item and stays whole)."""
        return self.take(slice(start, stop))

    def take(self, cut: slice | np.ndarray) -> PageBatch:
        """The rows ``cut`` selects (a slice: views; an index or mask array: copies); ``popularity`` stays whole."""
        return PageBatch(
            self.step, self.page, self.users[cut], self.items[cut], self.satisfaction[cut], self.fatigue[cut],
            None if self.social is None else self.social[cut], None if self.via is None else self.via[cut],
            None if self.sessions is None else self.sessions[cut], self.popularity,
        )  # fmt: skip


@dataclass
class Decisions:
    """What the users of a :class:`PageBatch` did.

    Attributes:
        clicks: ``[n, k]`` bool, watched.
        ratings: ``[n, k]`` stars on the data set's rating scale (``Dataset.scale``): ``int8``
            1..5 for whole stars, ``float32`` levels such as 3.5 for half stars; 0 where not
            rated (only watched items are rated).
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

    @classmethod
    def concat(cls, parts: list[Decisions]) -> Decisions:
        """The decisions of consecutive row blocks of one batch, stacked in order."""
        if len(parts) == 1:
            return parts[0]

        def stack(name: str) -> np.ndarray | None:
            values = [getattr(p, name) for p in parts]
            if all(v is None for v in values):
                return None
            if name == "source":
                values = [p.sources() for p in parts]
            elif name == "share_decided":
                values = [np.zeros(len(p.exits), bool) if v is None else v for p, v in zip(parts, values, strict=True)]
            elif name == "shares":
                values = [np.zeros(p.clicks.shape, bool) if v is None else v for p, v in zip(parts, values, strict=True)]
            return np.concatenate(values)

        return cls(*(stack(f) for f in ("clicks", "ratings", "exits", "satisfaction", "fatigue", "source", "shares",
                                        "share_decided")))  # type: ignore[arg-type]  # fmt: skip

    def sources(self) -> np.ndarray:
        """Per-user decision source codes."""
        return self.source if self.source is not None else np.zeros(len(self.exits), np.int8)

    def validate(self, batch: PageBatch) -> Decisions:
        """Check shapes and invariants against ``batch`` (a policy bug otherwise)."""
        n, k = batch.items.shape
        assert self.clicks.shape == (n, k) and self.ratings.shape == (n, k), "decision shape mismatch"
        assert self.exits.shape == (n,), "exit shape mismatch"
        assert not np.any((self.ratings > 0) & ~self.clicks), "rating without a watch"
        assert np.all(self.ratings >= 0), "negative rating (or NaN; 0 marks 'not rated')"
        return self


@dataclass(frozen=True)
class PolicyOutput:
    """What a policy gathered during a step, handed to the model once at its end.

    Attributes:
        texts: Reasons, reviews and share messages its agents wrote (``texts.parquet``).
        feedback: Ratings with reasons for item agents (their profiles learn from them).
        share_messages: ``{(user, item): message}`` written with this step's shares.
    """

    texts: tuple[TextRow, ...] = ()
    feedback: tuple[ItemFeedback, ...] = ()
    share_messages: Mapping[tuple[int, int], str] = field(default_factory=dict)


class SocialView(Protocol):
    """What a policy may read of the run's social graph (prompts show friends' activity)."""

    def friend_lines(self, user: int, titles: np.ndarray, limit: int = 2) -> list[str]:
        """Up to ``limit`` lines on what ``user``'s most trusted followees liked lately."""
        ...


@runtime_checkable
class Policy(Protocol):
    """How users decide on a page: everything :class:`~simrec.env.model.SimModel` calls.

    Subclass :class:`BasePolicy`, which implements all of it except :meth:`decide`.
    """

    name: ClassVar[str]
    uses_llm: ClassVar[bool]
    uses_mind: ClassVar[bool]

    def decide(self, batch: PageBatch) -> Decisions:
        """Decide watches, ratings and exits for every user of ``batch``."""
        ...

    def connect(self, social: SocialView | None) -> None:
        """Be told the run's social view (``None``: no living graph), once before the first step."""
        ...

    def llm_users(self) -> np.ndarray | None:
        """``[n_users]`` bool, the users who decide through the LLM (``None``: nobody)."""
        ...

    def end_step(self, step: int) -> PolicyOutput:
        """What the policy gathered during ``step`` (called once, after the step's last page)."""
        ...

    def counters(self) -> Mapping[str, int]:
        """Running totals since the start, e.g. ``llm_decisions`` and ``llm_fallbacks``."""
        ...


class BasePolicy(ABC):
    """The base of every policy: :meth:`decide` to write, sensible defaults for the rest.

    A policy that thinks with the run's LLM sets ``uses_llm = True`` (and gets the
    backend in :meth:`from_world`); one that keeps agent minds (personas, memory)
    sets ``uses_mind = True`` and gets ``mind`` and ``items`` too. Check a policy
    with :func:`simrec.testing.check_policy`.

    Args:
        cfg: The ``policy:`` block of the scenario.
        world: The world the policy decides in (catalog, population, taste).
        rng: The policy's seeded generator; draw every random number from it.
    """

    name: ClassVar[str] = "base"
    uses_llm: ClassVar[bool] = False
    uses_mind: ClassVar[bool] = False

    def __init__(self, cfg: PolicyConfig, world: World, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.world = world
        self.rng = rng
        self.social: SocialView | None = None

    @classmethod
    def from_world(
        cls,
        cfg: PolicyConfig,
        world: World,
        rng: np.random.Generator,
        llm: LLMBackend | None = None,
        mind: Mind | None = None,
        items: ItemProfiles | None = None,
    ) -> Self:
        """Build the policy for a run (the runner calls this). Default: ``cls(cfg, world, rng)``."""
        return cls(cfg, world, rng)

    @abstractmethod
    def decide(self, batch: PageBatch) -> Decisions:
        """Decide watches, ratings and exits for every user of ``batch``."""

    def connect(self, social: SocialView | None) -> None:
        """Keep the run's social view in ``self.social``."""
        self.social = social

    def llm_users(self) -> np.ndarray | None:
        """Nobody decides through the LLM."""
        return None

    def end_step(self, step: int) -> PolicyOutput:
        """Nothing gathered."""
        return PolicyOutput()

    def counters(self) -> Mapping[str, int]:
        """No counters."""
        return {}


def policy_class(name: str) -> type[BasePolicy]:
    """The registered (or ``package.module:Class``) policy class ``name``, checked to be a policy."""
    cls = POLICIES.get(name)
    if not (isinstance(cls, type) and issubclass(cls, BasePolicy)):
        raise ConfigError(
            f"policy '{name}' is {cls!r}, not a subclass of simrec.agents.policies.base.BasePolicy; "
            "a policy subclasses BasePolicy and writes decide() (see README, 'Write your own policy')."
        )
    return cls


def policy_uses_llm(cfg: PolicyConfig) -> bool:
    """Whether the configured policy thinks with the LLM backend (class attribute ``uses_llm``)."""
    return policy_class(cfg.name).uses_llm


def policy_uses_mind(cfg: PolicyConfig) -> bool:
    """Whether the configured policy keeps agent minds (personas, memory; ``uses_mind``)."""
    return policy_class(cfg.name).uses_mind


def build_policy(
    cfg: PolicyConfig,
    world: World,
    rng: np.random.Generator,
    llm: LLMBackend | None = None,
    mind: Mind | None = None,
    items: ItemProfiles | None = None,
    streams: UserStreams | None = None,
) -> BasePolicy:
    """Instantiate the configured policy over ``world`` with its :meth:`BasePolicy.from_world`.

    Policies that set ``uses_llm = True`` receive the run's LLM backend, and those
    that set ``uses_mind = True`` also get ``mind`` and ``items`` (personas and
    memory, item profiles). ``streams`` (per-user random streams; ``None``: the policy
    draws from ``rng``) is given to a policy that declares ``takes_streams = True`` (the choice
    policy: ``ChoicePolicy.streams``).

    Raises:
        ConfigError: if ``streams`` is given for a policy that is not a choice policy.
    """
    cls = policy_class(cfg.name)
    if streams is not None and not getattr(cls, "takes_streams", False):
        raise ConfigError(
            f"per-user random streams (run.random_streams: per_user) work with the choice policy "
            f"only, not policy '{cfg.name}': set run.random_streams: batch"
        )
    if cls.uses_mind:
        policy = cls.from_world(cfg, world, rng, llm, mind, items)
    else:
        policy = cls.from_world(cfg, world, rng, llm)
    if streams is not None:
        policy.streams = streams  # type: ignore[attr-defined]  # a policy that takes them, checked above
    return policy
