"""``SimModel``: the Mesa model whose step is the named phases of DESIGN.md §1.

One step is one period (a day by default). Users who open the platform get a
session of up to ``pages_per_session`` pages of ``page_size`` items and may
leave after any page. The phases, in order:

1. ``recommend`` — one batched ``recommender.recommend`` call for every user in a
   session (the whole session's list; pages are consecutive slices of it).
2. ``perceive`` — with a social graph: a friend's share takes the social slot of
   the first page, and friends' recent likes become a pull on every item shown
   (LLM-driven agents also recall memories, inside their policy).
3. ``decide`` — per page, one batched ``policy.decide`` call for every user still
   browsing: watches, ratings, exits, shares.
4. ``remember`` — mood and fatigue are written back to the state arrays; LLM
   agents' memories are written and reflected on.
5. ``socialize`` — trust, follow/unfollow, cascades, shares to followers
   (:class:`~simrec.social.dynamics.SocialDynamics`).
6. ``items`` — item agents update their profiles.
7. ``learn`` — the recommender observes the step's interactions; every
   ``retrain_every`` steps it is refit on real plus simulated interactions.
8. ``collect`` — events go to the sink, step metrics to Mesa's DataCollector.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import mesa
import numpy as np

from simrec.agents.mind import IMPORTANCE
from simrec.agents.policies.base import Decisions, PageBatch, Policy
from simrec.agents.prompts import clean_untrusted
from simrec.agents.state import UserState
from simrec.agents.user import ItemAgent, UserAgent
from simrec.config.schema import ScenarioConfig
from simrec.core.rng import child_rng
from simrec.data.types import Interactions
from simrec.env.record import page_events
from simrec.io.events import EventBatch, EventSink
from simrec.llm.base import BaseBackend

if TYPE_CHECKING:
    from simrec.agents.items import ItemProfiles
    from simrec.agents.mind import Mind
    from simrec.io.texts import TextSink
from simrec.memory.base import MemoryRecord
from simrec.recommenders.base import Recommender
from simrec.social.dynamics import SocialDynamics
from simrec.world.build import World

MIND_METRICS = ("llm_decisions", "llm_fallbacks", "memories", "reflections", "profiles_updated")
LLM_METRICS = ("llm_calls", "llm_prompt_tokens", "llm_completion_tokens", "llm_cached")
PHASES = ("recommend", "perceive", "decide", "remember", "socialize", "items", "learn", "collect")
METRICS = (
    "step", "sessions", "pages", "impressions", "clicks", "ratings", "ctr", "mean_rating",
    "pages_per_session", "voluntary_exits", "mean_satisfaction", "mean_fatigue", "retrained",
)  # fmt: skip


class SimModel(mesa.Model):
    """The simulation.

    Args:
        world: The built world (catalog, population, taste, graph, train data).
        cfg: The validated scenario.
        recommender: A fitted recommender.
        policy: The decision policy.
        sink: Where events go (``None`` keeps nothing, e.g. in quick experiments).
        seed: Root seed (default ``cfg.seed``); Mesa's ``rng`` is its ``"model"`` child
            and draws who opens the platform each step.
        create_agents: Create Mesa agent handles for users and items.
        llm: The run's LLM backend, when a policy thinks with one (its usage
            per step goes into the metrics).
        mind: Personas and memory of LLM-driven agents (flushed, and reflected on, per step).
        items: Item profiles (item agents), updated from each step's ratings.
        texts: Where reasons, reviews and reflections go.
    """

    def __init__(
        self,
        world: World,
        cfg: ScenarioConfig,
        recommender: Recommender,
        policy: Policy,
        sink: EventSink | None = None,
        seed: int | None = None,
        create_agents: bool = True,
        llm: BaseBackend | None = None,
        mind: Mind | None = None,
        items: ItemProfiles | None = None,
        texts: TextSink | None = None,
    ) -> None:
        seed = cfg.seed if seed is None else seed
        super().__init__(rng=child_rng(seed, "model"))
        self.world = world
        self.cfg = cfg
        self.recommender = recommender
        self.policy = policy
        self.sink = sink
        self.llm = llm
        self.mind = mind
        self.items = items
        self.texts = texts
        self.state = UserState.initial(world.population.n_users)
        self.sim_log: list[Interactions] = []
        self.sessions_started = 0
        self.timings: dict[str, float] = defaultdict(float)
        self.step_metrics: dict[str, float] = dict.fromkeys(METRICS, 0.0)
        self.totals: dict[str, int] = defaultdict(int)
        self._last_stats: dict[str, int] = {}
        env = cfg.environment
        self.page_size = env.page_size
        self.pages_per_session = env.pages_per_session
        last = int(world.train.timestamp.max()) if len(world.train) else 0
        self.t0 = last + env.step_seconds
        if create_agents:
            UserAgent.create_agents(self, world.population.n_users, index=list(range(world.population.n_users)))
            ItemAgent.create_agents(self, world.catalog.n_items, index=list(range(world.catalog.n_items)))
        social = cfg.environment.social
        self.social = (
            SocialDynamics(social, world, child_rng(seed, "social"))
            if social.dynamics.enabled and (world.graph.n_arcs > 0 or social.seed_shares)
            else None
        )
        if self.social is not None and hasattr(policy, "social"):
            policy.social = self.social
        names = METRICS + (LLM_METRICS if llm is not None else ()) + (MIND_METRICS if mind is not None else ())
        names += self.social.metric_names() if self.social is not None else ()
        self.step_metrics = dict.fromkeys(names, 0.0)
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda m, name=name: m.step_metrics[name]) for name in names}
        )

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += time.perf_counter() - start

    # -- phases -------------------------------------------------------------
    def recommend(self, users: np.ndarray) -> np.ndarray:
        """Phase 1: the whole session's ranked list for each user, ``[n, k × pages]``."""
        k = self.page_size * self.pages_per_session
        return np.asarray(
            self.recommender.recommend(users, k, exclude_seen=self.cfg.recommender.exclude_seen), dtype=np.int64
        )

    def browse(
        self, users: np.ndarray, slate: np.ndarray, via: np.ndarray | None = None, pull: np.ndarray | None = None
    ) -> tuple[list[EventBatch], Interactions]:
        """Phases 3-4 over the pages of a session: decide, then remember mood and fatigue.

        ``via`` and ``pull`` (``[n, K]``, from perceive) mark social-slot items and
        hold the friends'-likes pull. Shares and what users did with the social
        slot are kept in ``self._shares`` and ``self._slot`` for the socialize phase.
        """
        step = self.steps
        sessions = self.sessions_started + np.arange(len(users), dtype=np.int64)
        self.sessions_started += len(users)
        k, pages = self.page_size, self.pages_per_session
        active = np.arange(len(users))
        batches: list[EventBatch] = []
        clicked_u, clicked_i, clicked_r, clicked_t = [], [], [], []
        st = self.state
        n_pages = 0
        share_u: list[np.ndarray] = []
        share_i: list[np.ndarray] = []
        for page in range(pages):
            if len(active) == 0:
                break
            u = users[active]
            cols = slice(page * k, (page + 1) * k)
            items = slate[active, cols]
            page_via = via[active, cols] if via is not None else None
            with self._phase("decide"):
                batch = PageBatch(step, page, u, items, st.satisfaction[u], st.fatigue[u],
                                  social=pull[active, cols] if pull is not None else None, via=page_via)  # fmt: skip
                if hasattr(self.policy, "sessions"):
                    self.policy.sessions = sessions[active]
                dec = self.policy.decide(batch)
            shares = None
            if self.social is not None:
                with self._phase("socialize"):
                    shares = self._page_shares(u, dec)
                    rows, cols_ = np.nonzero(shares)
                    share_u.append(u[rows])
                    share_i.append(items[rows, cols_])
                    if page == 0:
                        self._slot_outcome(users, dec)
            with self._phase("remember"):
                st.satisfaction[u] = dec.satisfaction
                st.fatigue[u] = dec.fatigue
                st.pages[u] += 1
            with self._phase("collect"):
                ended = dec.exits | (page == pages - 1)
                ts = self.t0 + step * self.cfg.environment.step_seconds + page * 60
                batches.append(
                    page_events(
                        step=step, page=page, sessions=sessions[active], users=u, items=items,
                        decisions=dec, ended=ended, policy_codes=dec.sources(),
                        timestamp=ts, via=page_via, shares=shares,
                    )  # fmt: skip
                )
                rows, cols = np.nonzero(dec.clicks)
                clicked_u.append(u[rows])
                clicked_i.append(items[rows, cols])
                r = dec.ratings[rows, cols].astype(np.float32)
                clicked_r.append(np.where(r > 0, r, np.nan).astype(np.float32))
                clicked_t.append(np.full(len(rows), ts, np.int64))
                self.totals["voluntary_exits"] += int(dec.exits.sum())
            n_pages += len(active)
            active = active[~ended]
        self.totals["pages"] += n_pages
        self._shares = (
            np.concatenate(share_u) if share_u else np.empty(0, np.int64),
            np.concatenate(share_i) if share_i else np.empty(0, np.int64),
        )
        inter = Interactions.from_arrays(
            np.concatenate(clicked_u) if clicked_u else [],
            np.concatenate(clicked_i) if clicked_i else [],
            np.concatenate(clicked_r) if clicked_r else [],
            np.concatenate(clicked_t) if clicked_t else [],
        )
        return batches, inter

    def _page_shares(self, users: np.ndarray, dec: Decisions) -> np.ndarray:
        """``[n, k]`` items shared on a page: the policy's own choice where it made one, else the rule."""
        assert self.social is not None
        decided = dec.share_decided if dec.share_decided is not None else None
        shares = self.social.rule_shares(users, dec.ratings, decided)
        if dec.shares is not None and decided is not None:
            shares |= dec.shares & dec.clicks & decided[:, None]
        return shares

    def _slot_outcome(self, users: np.ndarray, dec: Decisions) -> None:
        """What each user who got a share in the slot did with it (first page)."""
        assert self.social is not None
        rec = self.social.delivered_users
        rows = np.searchsorted(users, rec)
        slot = self.social.p.slot_position
        self._slot = (dec.clicks[rows, slot].copy(), dec.ratings[rows, slot].copy())

    def socialize(self, users: np.ndarray, inter: Interactions) -> None:
        """Phase 5: trust, ties, cascades and shares; LLM-driven followers remember what reached them."""
        social = self.social
        assert social is not None
        clicked, stars = self._slot
        social.socialize(self.steps, users, inter, self._shares, clicked, stars)
        messages = self.policy.drain_share_messages() if hasattr(self.policy, "drain_share_messages") else {}
        mask = getattr(self.policy, "llm_mask", None)
        if self.mind is None or mask is None or not social.p.share_memory or not len(social.new_shares):
            return
        shares, rec = social.recipients(social.new_shares)
        keep = mask[rec]
        titles = self.world.catalog.titles
        records = []
        for sh, r in zip(shares[keep].tolist(), rec[keep].tolist(), strict=True):
            sharer, item = int(social.cascades["user"][sh]), int(social.cascades["item"][sh])
            note = messages.get((sharer, item), "")
            text = f"Friend {sharer} shared {clean_untrusted(str(titles[item]), 60)}" + (f": {note}" if note else "")
            records.append(MemoryRecord(r, self.steps, "social", text, IMPORTANCE["social"]))
        self.mind.remember(records)

    def minds_and_items(self) -> dict[str, float]:
        """Phases 4-6 for LLM-driven agents: memories written and reflected on, item profiles updated."""
        if self.mind is None:
            return {}
        texts, feedback = self.policy.drain() if hasattr(self.policy, "drain") else ([], [])
        with self._phase("remember"):
            reflections = self.mind.end_step(self.steps, self.llm)
            self.totals["reflections"] += len(reflections)
        changed: set[int] = set()
        with self._phase("items"):
            if self.items is not None:
                for fb in feedback:
                    changed.update(self.items.observe(self.steps, fb))
        with self._phase("collect"):
            if self.texts is not None:
                self.texts.add(texts + reflections)
                self.texts.flush()
        stats = getattr(self.policy, "stats", {})
        last = self._last_stats
        row = {
            "llm_decisions": stats.get("llm_decisions", 0) - last.get("llm_decisions", 0),
            "llm_fallbacks": stats.get("llm_fallbacks", 0) - last.get("llm_fallbacks", 0),
            "memories": self.mind.written,
            "reflections": len(reflections),
            "profiles_updated": len(changed),
        }
        self._last_stats = dict(stats)
        return row

    def learn(self, inter: Interactions) -> bool:
        """Phase 4: the recommender observes the step; refit every ``retrain_every`` steps."""
        self.sim_log.append(inter)
        cat = self.world.catalog
        cat.popularity += np.bincount(inter.item, minlength=cat.n_items).astype(np.float32)
        every = self.cfg.recommender.retrain_every
        if every and (self.steps % every == 0):
            full = Interactions.concat([self.world.train, *self.sim_log])
            self.recommender.fit(full, self.world.catalog, n_users=self.world.population.n_users)
            return True
        self.recommender.update(inter)
        return False

    def step(self) -> None:
        """One period: sessions for the users who show up, through all phases."""
        st = self.state
        st.recover(self.cfg.policy.choice)
        with self._phase("recommend"):
            users = st.start_sessions(self.world.population, self.rng)
            slate = self.recommend(users) if len(users) else np.empty((0, 0), np.int64)
        st.sessions[users] += 1
        st.last_step[users] = self.steps
        pages_before = self.totals["pages"]
        exits_before = self.totals["voluntary_exits"]
        via = pull = None
        self._shares = (np.empty(0, np.int64), np.empty(0, np.int64))
        self._slot = (np.empty(0, bool), np.empty(0, np.int8))
        if self.social is not None:
            with self._phase("perceive"):
                self.social.begin_step(self.steps)
                if len(users):
                    via, _ = self.social.perceive(users, slate, self.page_size)
                    pull = self.social.pull(users, slate)
        batches, inter = self.browse(users, slate, via, pull) if len(users) else ([], Interactions.empty())
        mind_row = self.minds_and_items()
        if self.social is not None:
            with self._phase("socialize"):
                self.socialize(users, inter)
        with self._phase("learn"):
            retrained = self.learn(inter)
        with self._phase("collect"):
            events = EventBatch.concat(batches) if batches else None
            if events is not None and self.sink is not None:
                self.sink.append(events)
            self._record_metrics(users, events, inter, pages_before, exits_before, retrained)
            self.step_metrics.update(mind_row)
            if self.social is not None:
                self.step_metrics.update(self.social.metrics(self.steps))
                for key in ("shares", "follows", "unfollows", "social_impressions"):
                    self.totals[key] += int(self.step_metrics[key])
            self.datacollector.collect(self)

    def _record_metrics(
        self,
        users: np.ndarray,
        events: EventBatch | None,
        inter: Interactions,
        pages_before: int,
        exits_before: int,
        retrained: bool,
    ) -> None:
        n_sessions = len(users)
        pages = self.totals["pages"] - pages_before
        impressions = pages * self.page_size
        rated = inter.rating[~np.isnan(inter.rating)]
        m = {
            "step": self.steps,
            "sessions": n_sessions,
            "pages": pages,
            "impressions": impressions,
            "clicks": len(inter),
            "ratings": len(rated),
            "ctr": len(inter) / impressions if impressions else 0.0,
            "mean_rating": float(rated.mean()) if len(rated) else float("nan"),
            "pages_per_session": pages / n_sessions if n_sessions else 0.0,
            "voluntary_exits": self.totals["voluntary_exits"] - exits_before,
            "mean_satisfaction": float(self.state.satisfaction.mean()),
            "mean_fatigue": float(self.state.fatigue.mean()),
            "retrained": int(retrained),
        }
        if self.llm is not None:
            row = self.llm.usage.step_row(self.steps)
            m.update({f"llm_{k}": row[k] for k in ("calls", "prompt_tokens", "completion_tokens", "cached")})
        self.step_metrics = m
        for key in ("sessions", "impressions", "clicks", "ratings"):
            self.totals[key] += int(m[key])
        self.totals["events"] += len(events) if events is not None else 0
