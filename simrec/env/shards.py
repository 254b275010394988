"""Sharded populations: the users' pages played by shard workers, on Ray actors.

A sharded run (``run.shards: N``) keeps one step loop, :class:`ShardedModel`'s (a
:class:`~simrec.env.model.SimModel`): the driver draws who arrives, asks the
recommender for every arrival's list, learns from the step's watches and writes the
metrics, as an unsharded run does. Only the ``decide`` phase, the per-user work that
grows with the population, is split: users are cut into ``N`` contiguous ranges and
each :class:`ShardWorker` (one Ray actor per range) plays its arrivals' pages with the
choice policy and writes its own event parts (``events.parquet/part-s{shard:03d}-*.parquet``).
The driver gets back only the watches and each arrival's mood, fatigue and pages seen.

Every draw comes from per-user random streams (``run.random_streams: per_user``:
:mod:`simrec.core.streams`), keyed by the seed, the user's id, the step and the page,
so a user's decisions do not depend on the shard the user lands on: runs with 1, 2 or
3 shards and the unsharded per-user run write the same metrics, users and watches, and
the same event rows (in per-shard part files; :func:`canonical_events` orders them alike).

Sharded runs support the choice policy without a living social graph (both need the
whole population in one place: LLM minds and friends' shares); the scenario is checked
before anything starts (:func:`sharding_problems`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simrec.agents.policies.base import DECISION_SOURCES, Policy, build_policy
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.core.streams import streams_for
from simrec.data.types import Interactions
from simrec.env.event_log import ITEM_STEPS_DIRNAME, StepLog
from simrec.env.model import SimModel, timed
from simrec.env.phases import (
    Arrivals,
    Browsing,
    Learned,
    MindStep,
    Perception,
    PlayedPages,
    Slate,
    SocialStep,
)
from simrec.env.record import PageRows
from simrec.env.session import SessionEngine
from simrec.io.events import EVENT_TYPES, EventSink
from simrec.recommenders.base import Recommender
from simrec.world.build import World

__all__ = ["DEFAULT_POOL", "ShardPool", "ShardResult", "ShardWorker", "ShardedModel", "canonical_events", "shard_bounds", "sharding_problems"]


def sharding_problems(cfg: ScenarioConfig) -> list[str]:
    """Why ``cfg`` cannot run sharded (empty when it can, or when ``run.shards`` is 0)."""
    if not cfg.run.shards:
        return []
    problems = []
    if cfg.policy.name != "choice":
        problems.append(f"policy '{cfg.policy.name}': sharded runs play the choice policy only (set policy.name: choice)")
    if cfg.environment.social.dynamics.enabled and cfg.environment.social.builder != "none":
        problems.append("a living social graph (environment.social.dynamics.enabled): shares cross shards; "
                        "set environment.social.dynamics.enabled: false or run.shards: 0")  # fmt: skip
    if cfg.recommender.name in ("llm",):
        problems.append("an LLM recommender: sharded runs are choice-mode only")
    if cfg.robustness != type(cfg.robustness)():
        problems.append("a robustness block: attacks, noise and the probe run in one process (drop robustness)")
    return problems


def shard_bounds(n_users: int, shards: int) -> np.ndarray:
    """``[shards + 1]`` user-index boundaries: shard ``s`` holds users ``bounds[s] .. bounds[s+1] - 1``."""
    return np.linspace(0, n_users, shards + 1).round().astype(np.int64)


@dataclass(frozen=True)
class ShardResult:
    """What a shard hands back after playing its arrivals' pages of one step.

    Attributes:
        users: ``[n]`` the shard's arrivals (sorted).
        satisfaction: ``[n]`` their mood after the session.
        fatigue: ``[n]`` their fatigue after the session.
        pages: ``[n]`` pages each saw this step.
        watch_user, watch_item, watch_page, watch_stars: The watches, page by page (stars 0: unrated).
        exits: Voluntary exits.
        events: Event rows the shard wrote.
        item_counts: Per-item counts (``run.log: aggregates``), else ``None``.
    """

    users: np.ndarray
    satisfaction: np.ndarray
    fatigue: np.ndarray
    pages: np.ndarray
    watch_user: np.ndarray
    watch_item: np.ndarray
    watch_page: np.ndarray
    watch_stars: np.ndarray
    exits: int
    events: int
    item_counts: dict[str, np.ndarray] | None


class _Rows:
    """The browsing state the session engine reads and writes, over every user (a shard touches its own)."""

    def __init__(self, n_users: int) -> None:
        self.satisfaction = np.zeros(n_users, np.float32)
        self.fatigue = np.zeros(n_users, np.float32)
        self.pages = np.zeros(n_users, np.int32)


class ShardWorker:
    """Plays one shard's pages: the choice policy on per-user streams, events to the shard's parts.

    Args:
        scenario: The scenario (``ScenarioConfig.model_dump(mode="json")``: plain data that travels).
        world: The built (and calibrated) world.
        shard: The shard's number.
        run_dir: The run folder (``None``: write no events).
    """

    def __init__(
        self, scenario: dict[str, Any], world: World, shard: int, run_dir: str | None, resume: bool = False
    ) -> None:
        cfg = ScenarioConfig.model_validate(scenario)
        self.shard = int(shard)
        policy = build_policy(cfg.policy, world, child_rng(cfg.seed, "policy"), streams=streams_for(cfg.seed, "policy"))
        env = cfg.environment
        self.engine = SessionEngine(policy, env.page_size, env.pages_per_session)
        self.rows = _Rows(world.population.n_users)
        self.sink = None
        if run_dir is not None and cfg.run.log != "aggregates":
            folder = Path(run_dir)
            self.sink = EventSink(folder / "events.parquet", folder.name, DECISION_SOURCES, cfg.run.chunk_rows,
                                  resume=resume, shard=self.shard)  # fmt: skip
        self.log = StepLog(cfg.run.log, self.sink, world.catalog.n_items)

    def play(
        self,
        step: int,
        users: np.ndarray,
        sessions: np.ndarray,
        slate: np.ndarray,
        satisfaction: np.ndarray,
        fatigue: np.ndarray,
        popularity: np.ndarray,
        stamps: Sequence[int],
    ) -> ShardResult:
        """Play one step's sessions of this shard's arrivals and write their events."""
        rows = self.rows
        rows.satisfaction[users] = satisfaction
        rows.fatigue[users] = fatigue
        rows.pages[users] = 0
        pages = self.engine.play_session(step, users, sessions, slate, rows, popularity=popularity)
        events = self.log.write(step, (
            PageRows(step=step, page=p.page, sessions=sessions[p.rows], users=p.users, items=p.items,
                     decisions=p.decisions, ended=p.ended, policy_codes=p.decisions.sources(), timestamp=stamps[p.page])
            for p in pages
        ))  # fmt: skip
        parts = [np.nonzero(p.decisions.clicks) for p in pages]
        cat = lambda arrays, dtype: np.concatenate([*arrays, np.empty(0, dtype)])
        return ShardResult(
            users=users, satisfaction=rows.satisfaction[users].copy(), fatigue=rows.fatigue[users].copy(),
            pages=rows.pages[users].copy(),
            watch_user=cat([p.users[r] for p, (r, _) in zip(pages, parts, strict=True)], np.int32),
            watch_item=cat([p.items[r, c] for p, (r, c) in zip(pages, parts, strict=True)], np.int32),
            watch_page=cat([np.full(len(r), p.page, np.int16) for p, (r, _) in zip(pages, parts, strict=True)], np.int16),
            watch_stars=cat([p.decisions.ratings[r, c].astype(np.float32) for p, (r, c) in zip(pages, parts, strict=True)],
                            np.float32),
            exits=sum(int(p.decisions.exits.sum()) for p in pages), events=events,
            item_counts=self.log.last_counts,
        )  # fmt: skip

    def flush(self) -> None:
        """Write the shard's buffered events as a part (before a checkpoint lists the parts)."""
        if self.sink is not None:
            self.sink.flush()

    def close(self) -> int:
        """Write the shard's buffered events; returns the rows it wrote in all."""
        if self.sink is None:
            return 0
        self.sink.close()
        return self.sink.rows_written


#: Where shard workers run unless a caller says: ``"ray"`` (actors) or ``"local"`` (this process).
DEFAULT_POOL = "ray"


class ShardPool:
    """The shard workers of a run: started with the world, asked to play, flushed, closed.

    Args:
        cfg: The scenario (``run.shards`` workers; ``run.ray_address``).
        run_dir: The run folder the workers write their event parts into (``None``: none).
        kind: ``"ray"`` (one Ray actor per shard) or ``"local"`` (the same workers in this process).
        resume: The workers append parts after those already in the events folder (a resumed run).

    A pool starts its workers on the first :meth:`start` (or :meth:`play`): a resumed run's
    pool exists before the checkpoint that holds the world is read.
    """

    def __init__(self, cfg: ScenarioConfig, run_dir: Path | None, kind: str | None = None, resume: bool = False) -> None:
        self.cfg = cfg
        self.run_dir = None if run_dir is None else str(run_dir)
        self.kind = kind or DEFAULT_POOL
        if self.kind not in ("ray", "local"):
            raise ValueError(f"shard pool kind must be 'ray' or 'local', got {self.kind!r}")
        self.resume = resume
        self.workers: list[Any] | None = None
        self.ray: Any = None
        self._started_ray = False

    def start(self, world: World) -> None:
        """Start the workers (no-op when they run)."""
        if self.workers is not None:
            return
        scenario = self.cfg.model_dump(mode="json")
        n = self.cfg.run.shards
        if self.kind == "local":
            self.workers = [ShardWorker(scenario, world, s, self.run_dir, self.resume) for s in range(n)]
            return
        try:
            import ray
        except ImportError as exc:
            raise ConfigError('run.shards runs on Ray: pip install -e ".[ray]" (or set run.shards: 0)') from exc
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.cfg.run.ray_address:
                kwargs["address"] = self.cfg.run.ray_address
            else:  # a local instance: one CPU slot per shard even on a small machine
                kwargs["num_cpus"] = max(n, os.cpu_count() or 1)
            ray.init(**kwargs)
            self._started_ray = True
        actor = ray.remote(num_cpus=1)(ShardWorker)
        world_ref = ray.put(world)  # one copy in the object store, read by every actor
        self.workers = [actor.remote(scenario, world_ref, s, self.run_dir, self.resume) for s in range(n)]

    def _each(self, method: str, calls: list[tuple[Any, ...]] | None = None) -> list[Any]:
        assert self.workers is not None
        calls = calls if calls is not None else [()] * len(self.workers)
        if self.kind == "local":
            return [getattr(w, method)(*args) for w, args in zip(self.workers, calls, strict=True)]
        return list(self.ray.get([getattr(w, method).remote(*args) for w, args in zip(self.workers, calls, strict=True)]))

    def play(self, world: World, calls: list[tuple[Any, ...]]) -> list[ShardResult]:
        """Every shard's :meth:`ShardWorker.play` with its arguments; results in shard order."""
        self.start(world)
        return self._each("play", calls)

    def flush(self) -> None:
        """Every shard writes what it buffered."""
        if self.workers is not None:
            self._each("flush")

    def close(self) -> None:
        """Close the workers' sinks, stop the actors (and a Ray instance this pool started)."""
        if self.workers is None:
            return
        try:
            self._each("close")
        finally:
            if self.kind == "ray":
                for w in self.workers:
                    self.ray.kill(w)
                if self._started_ray:
                    self.ray.shutdown()
                    self._started_ray = False
            self.workers = None


class ShardedModel(SimModel):
    """A :class:`SimModel` whose ``decide`` phase runs on shard workers (see the module docstring).

    Args:
        world, cfg, recommender, policy, seed, state_dir: As for :class:`SimModel` (``policy`` is
            the driver's choice policy; the shards build their own).
        run_dir: The run folder the shards write their event parts into (``None``: none).
        pool: ``"ray"`` (actors) or ``"local"`` (the same workers in this process); ``None``:
            :data:`DEFAULT_POOL`.
    """

    def __init__(
        self,
        world: World,
        cfg: ScenarioConfig,
        recommender: Recommender,
        policy: Policy,
        seed: int | None = None,
        state_dir: Path | None = None,
        run_dir: Path | None = None,
        pool: str | None = None,
    ) -> None:
        problems = sharding_problems(cfg)
        if problems or not cfg.run.shards:
            raise ConfigError("This scenario cannot run sharded: " + "; ".join(problems or ["run.shards is 0"]))
        super().__init__(world, cfg, recommender, policy, None, seed, state_dir=state_dir)
        self.log = StepLog(cfg.run.log, None, world.catalog.n_items,
                           None if run_dir is None else Path(run_dir) / ITEM_STEPS_DIRNAME)  # fmt: skip
        self.bounds = shard_bounds(world.population.n_users, cfg.run.shards)
        #: The shard workers (a checkpoint names it; a resumed run opens a new one).
        self.pool: ShardPool | None = ShardPool(cfg, run_dir, pool)
        self.pool.start(world)  # fails here, before the first step, if the workers cannot start

    @timed("decide")
    def decide(self, arrivals: Arrivals, slate: Slate, view: Perception) -> Browsing:
        """Phase 3 on the shards: each plays its arrivals' pages; mood, fatigue and pages come back."""
        step_start = self.t0 + self.steps * self.cfg.environment.step_seconds
        stamps = tuple(step_start + page * 60 for page in range(self.pages_per_session))
        st, users = self.state, arrivals.users
        cut = np.searchsorted(users, self.bounds)
        calls = [
            (self.steps, users[a:b], arrivals.sessions[a:b], slate.items[a:b], st.satisfaction[users[a:b]],
             st.fatigue[users[a:b]], self.popularity, stamps)
            for a, b in itertools.pairwise(cut)
        ]  # fmt: skip
        assert self.pool is not None
        results = self.pool.play(self.world, calls) if len(users) else []
        for r in results:
            st.satisfaction[r.users] = r.satisfaction
            st.fatigue[r.users] = r.fatigue
            st.pages[r.users] += r.pages
        return Browsing((), merged_watches(results, stamps), stamps, played_pages(results, self.cfg.run.log))

    @timed("collect")
    def collect(
        self, arrivals: Arrivals, browsing: Browsing, minds: MindStep, social: SocialStep, profiles: int,
        learned: Learned,
    ) -> None:  # fmt: skip
        """Phase 8: the shards wrote the events; per-item counts (``aggregates``) and the metrics here."""
        played = browsing.played
        assert played is not None
        if self.log.mode == "aggregates" and played.item_counts is not None:
            self.log.write_counts(self.steps, played.item_counts)
        self._record_metrics(arrivals, browsing, played.events, learned.retrained)
        self.datacollector.collect(self)

    def close_logs(self) -> None:
        """Close the shards (their sinks write what they buffered) and the driver's history."""
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.close()
            self.pool = None
        super().close_logs()


def merged_watches(results: Sequence[ShardResult], stamps: Sequence[int]) -> Interactions:
    """The shards' watches in the order an unsharded run lists them: page by page, users ascending.

    Shards hold ascending user ranges and list their watches page by page, so a stable sort
    by page of the shards' lists in shard order is exactly the unsharded order.
    """
    if not results:
        return Interactions.empty()
    page = np.concatenate([r.watch_page for r in results])
    order = np.argsort(page, kind="stable")
    stars = np.concatenate([r.watch_stars for r in results])[order]
    return Interactions.from_arrays(
        np.concatenate([r.watch_user for r in results])[order],
        np.concatenate([r.watch_item for r in results])[order],
        np.where(stars > 0, stars, np.nan).astype(np.float32),
        np.asarray(stamps, np.int64)[page[order]] if len(page) else np.empty(0, np.int64),
    )


def played_pages(results: Sequence[ShardResult], mode: str) -> PlayedPages:
    """The step's page counts summed over shards."""
    counts = None
    if mode == "aggregates" and results:
        counts = {k: np.sum([r.item_counts[k] for r in results if r.item_counts is not None], axis=0)
                  for k in (results[0].item_counts or {})}  # fmt: skip
    return PlayedPages(
        pages=int(sum(int(r.pages.sum()) for r in results)), exits=sum(r.exits for r in results),
        events=sum(r.events for r in results), item_counts=counts,
    )  # fmt: skip


def canonical_events(events: pd.DataFrame) -> pd.DataFrame:
    """Event rows in one order whatever the shards: by step, page, event block, user, position.

    Within a page an unsharded run writes impressions, then clicks and skips, ratings, shares
    and exits, each user-major; a sharded run writes the same blocks shard by shard. Sorting by
    ``(step, page, block, user, position)`` makes both the same table.
    """
    block = {"impression": 0, "click": 1, "skip": 1, "rating": 2, "share": 3, "exit": 4}
    assert set(block) == set(EVENT_TYPES)
    key = events["event"].astype(str).map(block).to_numpy()
    order = np.lexsort((events["position"].to_numpy(), events["user"].to_numpy(), key,
                        events["page"].to_numpy(), events["step"].to_numpy()))  # fmt: skip
    return events.iloc[order].reset_index(drop=True)
