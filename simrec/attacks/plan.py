"""The run's attacks and noise as an :class:`~simrec.world.attacks.AttackPlan` (``World.attacks``).

Every pick is seeded from the run's root seed and a name of its own (``attack``,
``attack.targets``, ...), so turning one attack on never shifts another's draws, nor
any draw of a clean run. A block whose every budget is zero leaves the world as it is.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simrec.config.robustness import RobustnessConfig, TargetPool
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.world.attacks import AttackPlan
from simrec.world.build import World
from simrec.world.catalog import Catalog

__all__ = ["attack_world", "clickbait_items", "pick_items", "plan_attacks"]

#: Users whose predicted ratings rank items for the clickbait pool (a seeded sample; all when fewer).
_POOL_USERS = 2000


def pick_items(catalog: Catalog, n: int, pool: TargetPool, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct items (sorted), a seeded pick from ``pool``.

    ``unpopular``: items with at least one training interaction and at most the median
    count among those; ``random``: any item.

    Raises:
        ConfigError: if the pool holds fewer than ``n`` items.
    """
    if n <= 0:
        return np.empty(0, np.int64)
    counts = catalog.popularity
    if pool == "unpopular":
        seen = np.flatnonzero(counts > 0)
        median = float(np.median(counts[seen])) if len(seen) else 0.0
        candidates = seen[counts[seen] <= median]
    else:
        candidates = np.arange(catalog.n_items)
    if len(candidates) < n:
        raise ConfigError(f"robustness: {n} items wanted from the {pool} pool, which holds {len(candidates)}")
    return np.sort(rng.choice(candidates, size=n, replace=False)).astype(np.int64)


def clickbait_items(world: World, n: int, pool_share: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` clickbait items (sorted): a seeded pick among the ``pool_share`` of the catalog with the
    lowest mean predicted rating over (a sample of) the population: items users like least.

    Raises:
        ConfigError: if the pool holds fewer than ``n`` items.
    """
    if n <= 0:
        return np.empty(0, np.int64)
    n_users, n_items = world.population.n_users, world.catalog.n_items
    users = np.arange(n_users) if n_users <= _POOL_USERS else np.sort(rng.choice(n_users, _POOL_USERS, replace=False))
    items = np.arange(n_items)
    mean = np.zeros(n_items, np.float64)
    for u in users:  # one user's row at a time: memory of one row, not users × items
        mean += world.taste.rating.predict(np.full(n_items, u), items)
    mean /= len(users)
    size = max(round(pool_share * n_items), 1)
    if size < n:
        raise ConfigError(
            f"robustness.noise.clickbait: {n} items wanted from a pool of {size} "
            f"(pool {pool_share:g} of {n_items} items); raise pool or lower items"
        )
    candidates = np.argsort(mean, kind="stable")[:size]
    return np.sort(rng.choice(candidates, size=n, replace=False)).astype(np.int64)


def _active(r: RobustnessConfig) -> bool:
    """Whether anything acts (an attack with a budget, noise, a defence) or the probe watches item groups."""
    s, n, t = r.shilling, r.noise, r.text
    acting = bool(
        (s.fake_users and (s.targets or s.target_items)) or (n.clickbait.items and n.clickbait.appeal)
        or n.accidental.rate or (t.items and t.attack != "none") or r.defence.filter != "none"
        or r.denoise.active or t.defence != "none"
    )  # fmt: skip
    watched = r.probe and bool(s.targets or s.target_items or n.clickbait.items or t.items)
    return acting or watched


def plan_attacks(cfg: ScenarioConfig, world: World) -> AttackPlan | None:
    """The plan of ``cfg.robustness`` on ``world``; ``None`` when nothing acts and the probe is off (a
    budget of zero), so such a run is exactly a clean one.

    Raises:
        ConfigError: for targets outside the catalog, or pools too small.
    """
    r = cfg.robustness
    if not _active(r):
        return None
    from simrec.attacks.shilling import fake_profiles

    cat, seed = world.catalog, cfg.seed
    s = r.shilling
    if s.target_items is not None:
        bad = [i for i in s.target_items if not 0 <= i < cat.n_items]
        if bad:
            raise ConfigError(f"robustness.shilling.target_items {bad} are not item indices (0..{cat.n_items - 1})")
        targets = np.unique(np.asarray(s.target_items, np.int64))
    else:
        targets = pick_items(cat, s.targets, s.target_pool, child_rng(seed, "attack", "targets"))
    first_fake = world.population.n_users
    last = int(world.train.timestamp.max()) if len(world.train) else 0
    stamp = last if s.start == 0 else last + s.start * cfg.environment.step_seconds
    fake = fake_profiles(
        s, world.train, cat, world.population.scale, targets, first_fake, stamp, child_rng(seed, "attack", "profiles")
    )
    n = r.noise
    clickbait = clickbait_items(world, n.clickbait.items, n.clickbait.pool, child_rng(seed, "attack", "clickbait"))
    t = r.text
    text_items = pick_items(cat, t.items, t.pool, child_rng(seed, "attack", "text"))
    return AttackPlan(
        targets=targets, fake=fake, first_fake_user=first_fake, fake_start=s.start, fake_stop=s.stop,
        clickbait=clickbait, clickbait_appeal=n.clickbait.appeal, accidental_rate=n.accidental.rate,
        accidental_rated=n.accidental.rated, text_items=text_items, text_attack=t.attack, text_field=t.field,
        text_defence=t.defence,
    )  # fmt: skip


def attack_world(cfg: ScenarioConfig, world: World) -> World:
    """``world`` with its :class:`AttackPlan` set and the text attack written into its catalog.

    Returns ``world`` itself when the ``robustness:`` block asks for nothing, so a clean
    run's world (and every file written from it) is untouched.
    """
    plan = plan_attacks(cfg, world)
    if plan is None:
        return world
    catalog = world.catalog
    if plan.text_attack != "none" and len(plan.text_items):
        from simrec.attacks.text import attacked_catalog

        catalog = attacked_catalog(
            catalog, plan.text_items, plan.text_attack, plan.text_field, child_rng(cfg.seed, "attack", "wording")
        )
    return dataclasses.replace(world, catalog=catalog, attacks=plan)
