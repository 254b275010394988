"""What a run would reject, found before anything is written: ``simrec validate`` ≡ ``simrec run``.

Config validation (pydantic) checks keys, types and ranges. The plug-ins a
scenario names are only known once resolved: :func:`preflight` resolves every
registry name and ``package.module:Class`` path the scenario (and each of its
variants) uses — recommender, policy, social graph builder, LLM backend, memory
store and embedder — checks the recommender's ``params`` against its
constructor's signature and constructs it (so its own checks of the values run),
and it builds the world (loads the data set from a local file or folder or
generates a synthetic one, splits it, builds the social graph).
``simrec validate`` and :func:`~simrec.env.runner.run_scenario` both call it, so they
accept and reject the same scenarios; the run reuses the world it built. (Data to
be downloaded is not fetched here: the run downloads it.)
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simrec.agents.policies.base import policy_class
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.world.build import World

#: Constructor arguments simrec passes itself (never from ``params``).
INJECTED = frozenset({"rng", "llm"})


@dataclass(frozen=True)
class Checked:
    """What :func:`preflight` built: the world (``None`` where the run downloads its data, or for variants)."""

    world: World | None = None


def preflight(cfg: ScenarioConfig, worlds: bool = True) -> Checked:
    """Resolve and check every plug-in ``cfg`` (and each variant) names; build its world.

    Args:
        cfg: The scenario.
        worlds: Build the world(s) too. A variants run checks its plug-ins up front and
            leaves each variant's world to that variant's own run, which builds it once.

    Raises:
        ConfigError: naming the key, what it names and what would work.
        DataError: the data set cannot be read or split.
    """
    configs: Iterable[ScenarioConfig] = [cfg]
    if cfg.variants:
        from simrec.config.variants import variant_configs

        configs = variant_configs(cfg).values()
    built = [(_check(c), _world(c) if worlds else None)[1] for c in configs]
    return Checked(built[0] if not cfg.variants else None)


def _world(cfg: ScenarioConfig) -> World | None:
    """The world, built as the run will (``None`` when its data is to be downloaded)."""
    data = cfg.environment.data
    if getattr(data, "source", None) == "movielens" and getattr(data, "path", None) is None:
        return None
    from simrec.attacks.plan import plan_attacks
    from simrec.world.build import build_world

    world = build_world(cfg)
    plan_attacks(cfg, world)  # the robustness block's picks fit this world (pools, target indices)
    return world


def _check(cfg: ScenarioConfig) -> None:
    from simrec.recommenders.base import RECOMMENDERS, build_recommender, recommender_uses_llm

    rec = cfg.recommender
    cls = RECOMMENDERS.get(rec.name)
    check_params(cls, rec.params, f"recommender '{rec.name}'", "recommender.params")
    if not recommender_uses_llm(rec.name):  # its constructor checks the values (an LLM one needs the backend)
        build_recommender(rec.name, rec.params, np.random.default_rng(0))
    policy = policy_class(cfg.policy.name)
    if cfg.run.random_streams == "per_user" and not getattr(policy, "takes_streams", False):
        raise ConfigError(
            f"run.random_streams: per_user (and run.shards) work with the choice policy only, not policy "
            f"'{cfg.policy.name}': set run.random_streams: batch and run.shards: 0"
        )
    from simrec.env.shards import sharding_problems

    if problems := sharding_problems(cfg):
        raise ConfigError(f"run.shards {cfg.run.shards}: this scenario cannot run sharded: " + "; ".join(problems))
    social = cfg.environment.social
    if social.builder != "none":
        from simrec.social.builders import GRAPH_BUILDERS

        if not callable(GRAPH_BUILDERS.get(social.builder)):
            raise ConfigError(f"environment.social.builder '{social.builder}' is not a function.")
    if policy.uses_llm or recommender_uses_llm(rec.name):
        from simrec.llm.factory import backend_class

        backend_class(cfg.llm.backend)
    if policy.uses_mind:
        from simrec.memory.base import MEMORY_STORES
        from simrec.memory.embedders import EMBEDDERS

        memory = cfg.agents.memory
        MEMORY_STORES.get(memory.store)
        EMBEDDERS.get(memory.embedder)


def check_params(target: Any, params: Mapping[str, Any], what: str, where: str) -> None:
    """Check that ``target(**params)`` binds (simrec adds ``rng`` and ``llm`` itself).

    Raises:
        ConfigError: An unknown parameter (with the closest known one), or a required one missing.
    """
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin or C extension: nothing to check against
        return
    ps = sig.parameters
    named = [n for n, p in ps.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in INJECTED]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in ps.values())
    for key in params:
        if key in INJECTED:
            raise ConfigError(f"{where}.{key}: simrec passes '{key}' to {what} itself; remove it from {where}.")
        if not takes_any and key not in named:
            close = difflib.get_close_matches(key, named, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{where}.{key}: {what} takes no parameter '{key}'.{hint} "
                f"It takes: {', '.join(named) or 'no parameters'}."
            )
    missing = [
        n for n in named if ps[n].default is inspect.Parameter.empty and n not in params
    ]
    if missing:
        raise ConfigError(f"{where}: {what} needs {', '.join(missing)}; set them under {where}.")
