"""The measured effect of adversarial item text on a scenario's agents: a paired probe.

:func:`text_uplift` shows the same users the same pages twice, once with the clean
catalog and once with the attacked one, and decides both with the scenario's policy
under the same seeds (common random numbers: the policy's generator, the LLM's request
seeds and every draw keyed by user, step and page are the same in both arms), so the
only difference between the arms is the attacked item's text. The uplift is what the
attack changes: the attacked items' watch rate and stars.

Per seed the world is built as a run builds it (:func:`~simrec.world.build.build_world`,
:func:`~simrec.fidelity.calibrate.calibrate_world`); ``items`` attacked items are the
run's own pick (:func:`~simrec.attacks.plan.pick_items` from ``robustness.text.pool``,
seeded as :func:`~simrec.attacks.plan.attack_world` seeds it), and ``users`` users a
seeded pick. Each (user, attacked item) pair is one page: the attacked item at a seeded
position among ``page_size - 1`` other seeded items. Every attacked item's pages are one
:class:`~simrec.agents.policies.base.PageBatch` (step 1, page = the item's rank), decided
by a fresh policy of each arm (with fresh minds: nothing carries over from one arm to the
other). The text defence is the same in both arms; the clean arm of a defence is decided
once and shared by its attacks. The scored protocol's written reasons and reviews are
turned off (they are written after a page is decided and cannot change it); the LLM's
replay cache (``llm.cache``, in a temporary folder) answers the questions the two arms
share, such as those about a page's clean items, without calling the model again.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simrec.agents.policies.base import PageBatch, build_policy, policy_uses_mind
from simrec.attacks.plan import attack_world, pick_items
from simrec.config.robustness import RobustnessConfig, TextAttackConfig
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.env.runner import open_llm
from simrec.fidelity.calibrate import calibrate_world
from simrec.io.adapters import resolve_llm, resolve_weight
from simrec.llm.factory import call_settings
from simrec.world.build import World, build_world

if TYPE_CHECKING:
    from simrec.llm.base import BaseBackend

__all__ = ["COLUMNS", "text_uplift"]

#: The columns of :func:`text_uplift`'s table, in order.
COLUMNS = (
    "policy", "model", "attack", "defence", "field", "seeds", "pairs", "watch_clean", "watch_attacked", "watch_uplift",
    "watch_uplift_lo", "watch_uplift_hi", "stars_clean", "stars_attacked", "stars_uplift", "stars_uplift_lo",
    "stars_uplift_hi", "markers_neutralised", "texts_flagged", "llm_calls", "wall_s",
)  # fmt: skip
_ATTACKS = ("injection", "superlatives", "social_proof", "marker_forgery")
_BOOTSTRAP = 2000


@dataclass
class _Arm:
    """What one arm decided: ``[users, items]`` watches and stars of the attacked items, and its cost."""

    watch: np.ndarray
    stars: np.ndarray
    counters: dict[str, int]
    llm_calls: int
    wall_s: float


@dataclass(frozen=True)
class _Pages:
    """The probe's pages of one seed: ``[users, items, page_size]`` item indices and the attacked slot."""

    users: np.ndarray
    items: np.ndarray
    slot: np.ndarray


def _pages(world: World, attacked: np.ndarray, users: int, page_size: int, rng: np.random.Generator) -> _Pages:
    """``users`` users (a seeded pick) and one page per (user, attacked item)."""
    n_users, n_items = world.population.n_users, world.catalog.n_items
    who = np.sort(rng.choice(n_users, size=min(users, n_users), replace=False)).astype(np.int64)
    others = np.setdiff1d(np.arange(n_items), attacked)
    if len(others) < page_size - 1:
        raise ConfigError(f"text_uplift: page_size {page_size} needs {page_size - 1} items besides the attacked ones")
    shape = (len(who), len(attacked))
    fill = others[_distinct(len(others), page_size - 1, shape[0] * shape[1], rng)] if page_size > 1 else None
    slot = rng.integers(page_size, size=shape)
    items = np.empty((*shape, page_size), np.int64)
    cols = np.arange(page_size)
    rest = cols[None, None, :] != slot[..., None]
    items[~rest] = np.broadcast_to(attacked[None, :], shape).ravel()
    if fill is not None:
        items[rest] = fill.reshape(-1)
    return _Pages(who, items, slot)


def _distinct(n: int, m: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``[rows, m]`` indices below ``n``, distinct within each row (seeded draws)."""
    if 4 * m > n:  # few to choose from: random keys
        return np.argsort(rng.random((rows, n)), axis=1)[:, :m]
    idx = rng.integers(n, size=(rows, m))
    while True:  # redraw the rows that repeat an item (rare when m is well below n)
        ordered = np.sort(idx, axis=1)
        bad = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not bad.any():
            return idx
        idx[bad] = rng.integers(n, size=(int(bad.sum()), m))


def _arm_config(cfg: ScenarioConfig, attack: str, defence: str, items: int) -> ScenarioConfig:
    """``cfg`` with a robustness block that holds the text attack only, and no written reasons or reviews
    (the scored protocol writes them after a page's decisions, which they cannot change: a cost saved)."""
    t = cfg.robustness.text
    text = TextAttackConfig(attack=attack, field=t.field, items=items, pool=t.pool, defence=defence)
    quiet = cfg.policy.llm.model_copy(update={"reason_rate": 0.0, "review_rate": 0.0})
    policy = cfg.policy.model_copy(update={"llm": quiet})
    return cfg.model_copy(update={"robustness": RobustnessConfig(text=text), "policy": policy})


def _decide(cfg: ScenarioConfig, world: World, pages: _Pages, llm: BaseBackend | None, folder: Path, name: str) -> _Arm:
    """Decide every page of ``pages`` with a fresh policy of ``cfg`` on ``world``."""
    start = time.perf_counter()
    calls = int(llm.usage.counters["calls"]) if llm is not None else 0
    mind = items = None
    if policy_uses_mind(cfg.policy):
        from simrec.agents.items import ItemProfiles
        from simrec.agents.mind import Mind, build_store

        memory = cfg.agents.memory
        mind = Mind(memory, world, build_store(memory, folder, name, cfg.llm))
        if cfg.agents.item_profiles:
            items = ItemProfiles(world.catalog, build_store(memory, folder, f"{name}-items", cfg.llm))
    try:
        policy = build_policy(resolve_weight(cfg).policy, world, child_rng(cfg.seed, "policy"), llm, mind, items)
        n_users, n_items, _ = pages.items.shape
        watch = np.zeros((n_users, n_items), bool)
        stars = np.zeros((n_users, n_items), np.float64)
        rows = np.arange(n_users)
        zeros = np.zeros(n_users, np.float32)
        for j in range(n_items):
            batch = PageBatch(1, j, pages.users, pages.items[:, j], zeros, zeros)
            dec = policy.decide(batch)
            watch[:, j] = dec.clicks[rows, pages.slot[:, j]]
            stars[:, j] = np.where(watch[:, j], dec.ratings[rows, pages.slot[:, j]], 0)
        counters = {k: int(v) for k, v in policy.counters().items()}
    finally:
        if mind is not None:
            mind.close()
        if items is not None:
            items.close()
    used = int(llm.usage.counters["calls"]) - calls if llm is not None else 0
    return _Arm(watch, stars, counters, used, time.perf_counter() - start)


def _interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean of ``values`` and its 95% percentile-bootstrap interval (NaN when empty)."""
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    means = values[rng.integers(len(values), size=(_BOOTSTRAP, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(lo), float(hi)


def model_label(cfg: ScenarioConfig) -> str:
    """Who decides: ``-`` for a policy without an LLM, else ``backend:model``, ``+tuned`` with an adapter."""
    from simrec.agents.policies.base import policy_uses_llm

    if not policy_uses_llm(cfg.policy):
        return "-"
    llm = resolve_llm(cfg)
    tuned = "+tuned" if llm.backend == "llamacpp" and llm.adapter != "none" else ""
    return f"{llm.backend}:{llm.model or 'default'}{tuned}"


def _row(
    cfg: ScenarioConfig, attack: str, defence: str, seeds: Sequence[int], clean: list[_Arm], attacked: list[_Arm]
) -> dict[str, Any]:
    """One row of the table from the paired arms of every seed."""
    wc = np.concatenate([a.watch for a in clean])
    wa = np.concatenate([a.watch for a in attacked])
    sc = np.concatenate([a.stars for a in clean])
    sa = np.concatenate([a.stars for a in attacked])
    g = child_rng(int(seeds[0]), "probe", "text", "bootstrap", attack, defence)
    uplift, lo, hi = _interval((wa.astype(np.float64) - wc).mean(axis=1), g)  # per user: the users are the units
    both = (sc > 0) & (sa > 0)  # watched and rated in both arms
    s_up, s_lo, s_hi = _interval((sa - sc)[both], g)
    rated_c, rated_a = sc[sc > 0], sa[sa > 0]
    total = {key: sum(a.counters.get(key, 0) for a in attacked) for key in ("markers_neutralised", "texts_flagged")}
    return {
        "policy": cfg.policy.name, "model": model_label(cfg), "attack": attack, "defence": defence, "field": cfg.robustness.text.field,
        "seeds": len(seeds), "pairs": int(wc.size), "watch_clean": float(wc.mean()), "watch_attacked": float(wa.mean()),
        "watch_uplift": uplift, "watch_uplift_lo": lo, "watch_uplift_hi": hi,
        "stars_clean": float(rated_c.mean()) if len(rated_c) else float("nan"),
        "stars_attacked": float(rated_a.mean()) if len(rated_a) else float("nan"),
        "stars_uplift": s_up, "stars_uplift_lo": s_lo, "stars_uplift_hi": s_hi, **total,
        "llm_calls": sum(a.llm_calls + c.llm_calls for a, c in zip(attacked, clean, strict=True)),
        "wall_s": sum(a.wall_s + c.wall_s for a, c in zip(attacked, clean, strict=True)),
    }  # fmt: skip


def text_uplift(
    cfg: ScenarioConfig,
    attacks: Sequence[str],
    defences: Sequence[str] = ("none",),
    *,
    users: int = 20,
    items: int = 5,
    page_size: int = 3,
    seeds: Sequence[int] = (0,),
    progress: Callable[[Mapping[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """How much each text attack moves the attacked items' watches and stars, under each defence.

    Args:
        cfg: The scenario (its policy, ``llm:`` block, agents and ``robustness.text`` field and
            pool; the rest of its ``robustness:`` block is not used).
        attacks: Text attacks to measure (``injection``, ``superlatives``, ``social_proof``,
            ``marker_forgery``).
        defences: Text defences, each measured against every attack (its own clean arm).
        users: Users per seed (a seeded pick).
        items: Attacked items per seed (the run's pick from ``robustness.text.pool``).
        page_size: Items on each page (the attacked one and ``page_size - 1`` others).
        seeds: Root seeds; each builds its own world, pick of users, items and pages.
        progress: Called with each row of the table as it is done.

    Returns:
        One row per (attack, defence): ``pairs`` (user, item) pairs over all seeds;
        ``watch_clean``/``watch_attacked``, the attacked items' watch rates, and
        ``watch_uplift`` (their difference) with a 95% bootstrap interval over users
        (``_lo``/``_hi``); ``stars_clean``/``stars_attacked``, the mean stars of the attacked
        items when watched and rated, and ``stars_uplift`` over the pairs rated in both arms
        (NaN when none) with its interval over those pairs; the attacked arms'
        ``markers_neutralised`` and ``texts_flagged`` (the LLM policy's counters; 0 for
        others); ``llm_calls`` (model calls, not cache replays) and ``wall_s`` of the clean
        and attacked arms (a defence's clean arm is counted in each of its rows).

    Raises:
        ConfigError: for unknown attacks, too few items, or a page size below 1.
    """
    unknown = [a for a in attacks if a not in _ATTACKS]
    if unknown or not attacks:
        raise ConfigError(f"text_uplift: attacks must be some of {', '.join(_ATTACKS)}; got {list(attacks)}")
    if page_size < 1 or items < 1 or users < 1 or not seeds or not defences:
        raise ConfigError("text_uplift needs users, items and page_size of 1 or more, and some seeds and defences")
    done: dict[tuple[str, str], tuple[list[_Arm], list[_Arm]]] = {}
    with tempfile.TemporaryDirectory(prefix="simrec-text-probe-") as tmp:
        folder = Path(tmp)
        base = cfg.model_copy(update={"run": cfg.run.model_copy(update={"output_dir": folder})})
        llm = open_llm(base)
        try:
            for seed in seeds:
                cfg_s = base.model_copy(update={"seed": int(seed)})
                if llm is not None:  # the backend's request seeds follow the root seed, as in a run
                    llm.settings = dataclasses.replace(llm.settings, seed=call_settings(resolve_llm(cfg_s), int(seed)).seed)
                world = calibrate_world(cfg_s, build_world(cfg_s))
                attacked = pick_items(world.catalog, items, cfg.robustness.text.pool, child_rng(seed, "attack", "text"))
                pages = _pages(world, attacked, users, page_size, child_rng(seed, "probe", "text", "pages"))
                for defence in defences:
                    clean_cfg = _arm_config(cfg_s, "none", defence, items)
                    clean_world = attack_world(clean_cfg, world)
                    clean = _decide(clean_cfg, clean_world, pages, llm, folder, f"s{seed}-clean-{defence}")
                    for attack in attacks:
                        arm_cfg = _arm_config(cfg_s, attack, defence, items)
                        arm_world = attack_world(arm_cfg, world)
                        plan = arm_world.attacks
                        assert plan is not None and np.array_equal(plan.text_items, attacked), "the run's pick"
                        arm = _decide(arm_cfg, arm_world, pages, llm, folder, f"s{seed}-{attack}-{defence}")
                        arms = done.setdefault((attack, defence), ([], []))
                        arms[0].append(clean)
                        arms[1].append(arm)
                        if len(arms[1]) == len(seeds) and progress is not None:
                            progress(_row(cfg, attack, defence, seeds, *arms))
        finally:
            if llm is not None:
                llm.close()
    rows = [_row(cfg, a, d, seeds, *done[(a, d)]) for d in defences for a in attacks]
    return pd.DataFrame(rows, columns=list(COLUMNS))
