"""``check_policy``: does a policy keep the contract that the model relies on?"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from simrec.agents.policies.base import BasePolicy, Decisions, PageBatch, Policy
from simrec.config.schema import PolicyConfig, SocialConfig
from simrec.core.rng import child_rng
from simrec.data.scale import RatingScale
from simrec.social.dynamics import SocialDynamics
from simrec.testing import _answers as answers
from simrec.testing._checks import call, fail, same
from simrec.testing.worlds import tiny_scenario, tiny_world
from simrec.world.build import World

PAGES = (
    "a page for one user",
    "a page for several users",
    "their second page (mood and fatigue from the first)",
    "a page with social, via, sessions and popularity",
)


def check_policy(
    policy: Policy | type[BasePolicy], world: World | None = None, *, seed: int = 0
) -> None:
    """Check that ``policy`` keeps the policy contract; raise on the first breach, naming the fix.

    Checks the :class:`~simrec.agents.policies.base.Policy` protocol and its attribute
    types, then plays the synthetic :data:`PAGES` over two steps (the last one after
    ``connect`` with a real social view): every answer of ``decide``, ``end_step``,
    ``counters`` and ``llm_users`` must have the right type, shape, dtype and values.
    A policy without LLM or minds is then rebuilt twice with
    ``type(policy).from_world(cfg, world, rng)`` from one seed; both must decide alike.

    Args:
        policy: The policy. It is used (its generator draws, it may gather texts): check a
            fresh one. Or a :class:`~simrec.agents.policies.base.BasePolicy` subclass that
            needs no LLM and no minds, built here with ``from_world``.
        world: The world the policy decides in (default: ``policy.world`` where it keeps one,
            as :class:`BasePolicy` does, else :func:`simrec.testing.tiny_world`).
        seed: Seeds the synthetic pages and the rebuilt policies.

    Raises:
        TypeError: ``policy`` is not a policy, or an answer has the wrong type.
        AssertionError: an answer has the wrong shape, dtype or values, or one seed gave
            two different sets of decisions.
    """
    if isinstance(policy, type):
        world = tiny_world(seed) if world is None else world
        policy = _build(policy, _config(policy, None, seed), world, seed)
    who = f"check_policy({type(policy).__name__})"
    answers.check_protocol(policy, who)
    if world is None:
        kept = getattr(policy, "world", None)
        world = kept if isinstance(kept, World) else tiny_world(seed)
    _play(policy, world, seed, who)
    if policy.uses_llm or policy.uses_mind:
        return  # rebuilding needs the run's LLM backend and minds
    if not isinstance(policy, BasePolicy):
        msg = "not a BasePolicy subclass: a scenario cannot name it, and determinism went unchecked"
        warnings.warn(f"{who}: {msg}.", stacklevel=2)
        return
    cls, cfg = type(policy), _config(type(policy), policy, seed)
    first, second = (_play(_build(cls, cfg, world, seed), world, seed, who) for _ in range(2))
    for label, a, b in zip(PAGES, first, second, strict=True):
        for f in dataclasses.fields(Decisions):
            if not same(getattr(a, f.name), getattr(b, f.name)):
                fail(
                    who,
                    f"two policies built by from_world from one seed differ on {label} ({f.name})",
                    "draw every random number from the rng from_world passes, never from np.random",
                )


def _play(policy: Policy, world: World, seed: int, who: str) -> list[Decisions]:
    """Two steps of synthetic pages, every answer checked; returns the decisions of each page."""
    rng = child_rng(seed, "testing", "pages")
    n_users, k = world.population.n_users, min(5, world.catalog.n_items)
    call(who, "connect(None)", policy.connect, None)
    answers.check_llm_users(policy, n_users, who)
    users = np.sort(rng.choice(n_users, size=min(6, n_users), replace=False))
    scale = world.dataset.scale  # the stars every answer must be on
    one = _decide(policy, _page(rng, world, (1, 0), users[:1], k), who, PAGES[0], scale)
    several = _decide(policy, _page(rng, world, (1, 0), users, k), who, PAGES[1], scale)
    again = _decide(policy, _page(rng, world, (1, 1), users, k, several), who, PAGES[2], scale)
    answers.check_output(policy, 1, who)
    counters = answers.check_counters(policy, who, {})
    call(who, "connect(social view)", policy.connect, _social_view(world, rng))
    social = _decide(
        policy, _page(rng, world, (2, 0), users, k, context=True), who, PAGES[3], scale
    )
    answers.check_output(policy, 2, who)
    answers.check_counters(policy, who, counters)
    return [one, several, again, social]


def _page(
    rng: np.random.Generator,
    world: World,
    at: tuple[int, int],
    users: np.ndarray,
    k: int,
    mood: Decisions | None = None,
    context: bool = False,
) -> PageBatch:
    """Page ``at = (step, page)``: ``k`` distinct items per user, mood and fatigue from ``mood``."""
    n, n_items = len(users), world.catalog.n_items
    items = np.argsort(rng.random((n, n_items)), axis=1)[:, :k].astype(np.int64)
    sat = np.zeros(n, np.float32) if mood is None else np.asarray(mood.satisfaction, np.float32)
    fat = np.zeros(n, np.float32) if mood is None else np.asarray(mood.fatigue, np.float32)
    if not context:
        return PageBatch(*at, users, items, sat, fat)
    via = np.zeros((n, k), np.int8)
    via[::2, 0] = 1  # every other user finds a friend's share in the first slot
    return PageBatch(
        *at, users, items, sat, fat,
        social=rng.random((n, k)).astype(np.float32),
        via=via,
        sessions=np.arange(n, dtype=np.int64) + 100,
        popularity=world.catalog.popularity + rng.integers(0, 5, n_items).astype(np.float32),
    )  # fmt: skip


def _social_view(world: World, rng: np.random.Generator) -> SocialDynamics | None:
    """A social view of ``world`` where everyone liked an item lately (``None``: no graph)."""
    if world.graph.n_arcs == 0:
        return None
    view = SocialDynamics(SocialConfig(), world, np.random.default_rng(rng.integers(2**63)))
    n = world.population.n_users
    view.likes.push(np.arange(n), rng.integers(0, world.catalog.n_items, n))
    return view


def _decide(
    policy: Policy, batch: PageBatch, who: str, label: str, scale: RatingScale
) -> Decisions:
    inputs = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
    before = {name: np.copy(v) for name, v in inputs.items() if isinstance(v, np.ndarray)}
    dec = call(who, f"decide on {label}", policy.decide, batch)
    answers.check_decisions(dec, batch, who, f" on {label}", scale)
    for name, value in before.items():
        if not same(value, getattr(batch, name)):
            fail(who, f"decide changed batch.{name} in place on {label}", "copy it first")
    return dec  # type: ignore[return-value]


def _config(cls: type, policy: object | None, seed: int) -> PolicyConfig:
    """The policy's own ``policy:`` block (``self.cfg``), else a default one naming ``cls``."""
    own = getattr(policy, "cfg", None)
    if isinstance(own, PolicyConfig):
        return own
    name = f"{cls.__module__}:{cls.__qualname__}"
    return tiny_scenario(seed).policy.model_copy(update={"name": name})


def _build(cls: type, cfg: PolicyConfig, world: World, seed: int) -> BasePolicy:
    who = f"check_policy({cls.__name__})"
    if not issubclass(cls, BasePolicy):
        fail(who, "a class but no BasePolicy subclass", "subclass BasePolicy", TypeError)
    if cls.uses_llm or cls.uses_mind:
        fix = "build it with from_world(cfg, world, rng, llm, mind, items) and pass the instance"
        fail(who, "the class needs an LLM backend or agent minds", fix, TypeError)
    try:
        policy = cls.from_world(cfg, world, child_rng(seed, "policy"))
    except TypeError as exc:
        raise TypeError(
            f"{who}: {cls.__name__}.from_world(cfg, world, rng) failed: {exc}. It must accept "
            "(cfg, world, rng), as BasePolicy's does (it calls cls(cfg, world, rng))."
        ) from exc
    if not isinstance(policy, cls):
        fail(who, f"from_world returned a {type(policy).__name__}", "return a cls()", TypeError)
    return policy
