"""``SimModel``: the Mesa model whose :meth:`~SimModel.step` is one call per phase.

One step is one period (a day by default). Users who open the platform get a
session of up to ``pages_per_session`` pages of ``page_size`` items and may
leave after any page. The phases, in order (:data:`PHASES`; docs/architecture.md):

0. ``arrive`` — fatigue recovers; who opens the platform (:class:`Arrivals`).
1. ``recommend`` — one batched ``recommender.recommend`` call for every arrival:
   the whole session's list; pages are consecutive slices of it (:class:`Slate`).
2. ``perceive`` — with a living social graph: a friend's share takes the social
   slot of the first page, and friends' recent likes pull on every item listed
   (:class:`Perception`; LLM-driven agents also recall memories, inside their policy).
3. ``decide`` — the session engine (:class:`~simrec.env.session.SessionEngine`)
   plays the pages: per page one batched ``policy.decide`` call for every user
   still browsing, mood and fatigue written back, exits (:class:`Browsing`).
4. ``remember`` — the policy hands over what it gathered (texts, item feedback,
   share messages); LLM agents' memories are flushed and reflected on (:class:`MindStep`).
5. ``socialize`` — shares (the policy's own or the rule), trust, follow/unfollow,
   cascades (:class:`~simrec.social.dynamics.SocialDynamics`; :class:`SocialStep`).
6. ``items`` — item agents update their profiles from the step's feedback.
7. ``learn`` — the recommender observes the step's watches; every
   ``retrain_every`` steps it is refit on real plus simulated interactions. The
   platform's interaction counts (``popularity``) come back as a new value
   (:class:`Learned`); the catalog is never changed.
8. ``collect`` — events go to the sink, texts to the text sink, the step's
   metrics to Mesa's DataCollector.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import mesa
import numpy as np

from simrec.agents.mind import IMPORTANCE
from simrec.agents.policies.base import Policy
from simrec.agents.state import UserState
from simrec.agents.untrusted import clean_untrusted
from simrec.agents.user import ItemAgent, UserAgent
from simrec.config.schema import ScenarioConfig
from simrec.core.rng import child_rng
from simrec.core.streams import streams_for
from simrec.data.types import Interactions
from simrec.env.event_log import ITEM_STEPS_DIRNAME, StepLog
from simrec.env.history import HISTORY_NAME, InteractionLog
from simrec.env.phases import (
    PHASES,
    Arrivals,
    Browsing,
    Learned,
    MindStep,
    Perception,
    Slate,
    SocialStep,
)
from simrec.env.probe import Probe
from simrec.env.record import PageRows
from simrec.env.session import PageOutcome, SessionEngine
from simrec.env.training import TrainingFeed
from simrec.io.events import EventSink
from simrec.io.records import RecordLog
from simrec.llm.base import BaseBackend
from simrec.memory.base import MemoryRecord
from simrec.recommenders.base import Recommender
from simrec.social.dynamics import SocialDynamics
from simrec.world.build import World

if TYPE_CHECKING:
    from simrec.agents.items import ItemProfiles
    from simrec.agents.mind import Mind
    from simrec.io.texts import TextSink

__all__ = ["LLM_METRICS", "METRICS", "MIND_METRICS", "PHASES", "SimModel", "watches"]

MIND_METRICS = ("llm_decisions", "llm_fallbacks", "memories", "reflections", "profiles_updated", "texts_dropped")
LLM_METRICS = ("llm_calls", "llm_prompt_tokens", "llm_completion_tokens", "llm_cached")
METRICS = (
    "step", "sessions", "pages", "impressions", "clicks", "ratings", "ctr", "mean_rating",
    "pages_per_session", "voluntary_exits", "mean_satisfaction", "mean_fatigue", "retrained",
)  # fmt: skip

_F = TypeVar("_F", bound=Callable[..., Any])


def timed(phase: str) -> Callable[[_F], _F]:
    """Add the wall time of a phase method to ``self.timings[phase]``."""

    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def run(self: SimModel, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                self.timings[phase] += time.perf_counter() - start

        return run  # type: ignore[return-value]

    return wrap


def step_metric(model: SimModel, name: str) -> float:
    """A DataCollector reporter, as ``partial(step_metric, name=...)``: ``model.step_metrics[name]``
    (a partial of a module function, not a lambda, so a checkpoint can pickle the collector)."""
    return model.step_metrics[name]


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
        create_agents: Create Mesa agent handles for users and items (``None``: as
            ``run.mesa_agents`` says; ``auto`` creates them up to :data:`MESA_AGENTS_AUTO` users).
        llm: The run's LLM backend, when a policy thinks with one (its usage
            per step goes into the metrics).
        mind: Personas and memory of LLM-driven agents (flushed, and reflected on, per step).
        items: Item profiles (item agents), updated from each step's ratings.
        texts: Where reasons, reviews and reflections go.
        state_dir: Where the history the run keeps on disk goes (a run's ``checkpoints/``: the
            watches refits train on, finished cascades); ``None``: anonymous temporary files.
        feed: What the recommender's fits train on (:class:`~simrec.env.training.TrainingFeed`: the
            ``robustness:`` block's fake profiles, denoising and filter); ``None``: made from ``cfg``.

    Attributes:
        popularity: ``[n_items]`` interaction counts as the platform sees them (training
            plus simulated so far); replaced after every step's ``learn`` phase.
    """

    def __init__(
        self,
        world: World,
        cfg: ScenarioConfig,
        recommender: Recommender,
        policy: Policy,
        sink: EventSink | None = None,
        seed: int | None = None,
        create_agents: bool | None = None,
        llm: BaseBackend | None = None,
        mind: Mind | None = None,
        items: ItemProfiles | None = None,
        texts: TextSink | None = None,
        state_dir: Path | None = None,
        feed: TrainingFeed | None = None,
    ) -> None:
        seed = cfg.seed if seed is None else seed
        super().__init__(rng=child_rng(seed, "model"))
        self.world = world
        self.cfg = cfg
        self.recommender = recommender
        self.policy = policy
        self.log = StepLog(
            cfg.run.log, sink, world.catalog.n_items, None if sink is None else sink.directory.parent / ITEM_STEPS_DIRNAME
        )
        self.llm = llm
        self.mind = mind
        self.items = items
        self.texts = texts
        self.state = UserState.initial(world.population.n_users)
        #: Per-user streams arrivals draw from (``run.random_streams: per_user``), else ``None``.
        self.arrival_streams = streams_for(seed, "model") if cfg.run.random_streams == "per_user" else None
        self.popularity = world.catalog.popularity.copy()
        #: Called as ``(step, page, users still browsing)`` after each page (a run's progress bar).
        self.on_page: Callable[[int, int, int], None] | None = None
        #: The run's watches so far, on disk (read back for refits only).
        self.history = InteractionLog(None if state_dir is None else Path(state_dir) / HISTORY_NAME)
        self.feed = feed if feed is not None else TrainingFeed.for_run(cfg, world)
        plan = world.attacks
        #: ``robustness.probe``: what the attacked and noisy items got, per step (``robustness.parquet``).
        self.probe = (
            Probe(plan, world.population.n_users, cfg.environment.page_size, cfg.robustness.probe_users,
                  child_rng(seed, "probe"))
            if cfg.robustness.probe and plan is not None and plan.groups() else None
        )  # fmt: skip
        if self.probe is not None:
            self.probe.observe(0, None, 0, recommender)
        self.sessions_started = 0
        self.timings: dict[str, float] = defaultdict(float)
        self.totals: dict[str, int] = defaultdict(int)
        self._last_counters: dict[str, int] = {}
        self._last_dropped = 0
        env = cfg.environment
        self.page_size = env.page_size
        self.pages_per_session = env.pages_per_session
        self.engine = SessionEngine(policy, env.page_size, env.pages_per_session)
        last = int(world.train.timestamp.max()) if len(world.train) else 0
        self.t0 = last + env.step_seconds
        if create_agents is None:
            create_agents = mesa_agents_wanted(cfg, world.population.n_users)
        if create_agents:
            UserAgent.create_agents(self, world.population.n_users, index=list(range(world.population.n_users)))
            ItemAgent.create_agents(self, world.catalog.n_items, index=list(range(world.catalog.n_items)))
        social = cfg.environment.social
        self.social = (
            SocialDynamics(social, world, child_rng(seed, "social"), state_dir)
            if social.dynamics.enabled and (world.graph.n_arcs > 0 or social.seed_shares)
            else None
        )
        policy.connect(self.social)
        names = METRICS + (LLM_METRICS if llm is not None else ()) + (MIND_METRICS if mind is not None else ())
        names += self.social.metric_names() if self.social is not None else ()
        self.step_metrics: dict[str, float] = dict.fromkeys(names, 0.0)
        self.datacollector = mesa.DataCollector(model_reporters={name: functools.partial(step_metric, name=name) for name in names})

    @property
    def sink(self) -> EventSink | None:
        """Where the step's events go (the step log's sink; a dashboard may put a tap in between)."""
        return self.log.sink

    @sink.setter
    def sink(self, value: EventSink | None) -> None:
        self.log.sink = value

    def record_logs(self) -> dict[str, RecordLog]:
        """The history the model keeps on disk, by name: ``history`` (watches), ``shares``, ``cascades``."""
        logs = {"history": self.history.log}
        if self.social is not None:
            logs.update(self.social.cascades.logs)
        return logs

    def close_logs(self) -> None:
        """Close the on-disk history (anonymous files are deleted)."""
        for log in self.record_logs().values():
            log.close()

    # -- the step -----------------------------------------------------------------
    def step(self) -> None:
        """One period: every phase once, in order (see the module docstring)."""
        arrivals = self.arrive()
        slate = self.recommend(arrivals)
        view = self.perceive(arrivals, slate)
        browsing = self.decide(arrivals, slate, view)
        minds = self.remember()
        social = self.socialize(arrivals, browsing, minds)
        profiles = self.update_items(minds)
        learned = self.learn(browsing)
        self.popularity = learned.popularity
        self.collect(arrivals, browsing, minds, social, profiles, learned)

    # -- phases ---------------------------------------------------------------------
    @timed("arrive")
    def arrive(self) -> Arrivals:
        """Phase 0: fatigue recovers; who opens the platform, each with a new session id."""
        st = self.state
        st.recover(self.cfg.policy.choice)
        if self.arrival_streams is None:
            users = st.start_sessions(self.world.population.activity, self.rng)
        else:  # run.random_streams: per_user — a user's coin is keyed by the user and the step
            users = st.start_sessions(self.world.population.activity, streams=self.arrival_streams, step=self.steps)
        sessions = self.sessions_started + np.arange(len(users), dtype=np.int64)
        self.sessions_started += len(users)
        st.sessions[users] += 1
        st.last_step[users] = self.steps
        return Arrivals(users, sessions)

    @timed("recommend")
    def recommend(self, arrivals: Arrivals) -> Slate:
        """Phase 1: the whole session's ranked list for each arrival, ``[n, k × pages]``."""
        if not len(arrivals):
            return Slate(np.empty((0, 0), np.int64))
        k = self.page_size * self.pages_per_session
        users, chunk = arrivals.users, RECOMMEND_CHUNK
        exclude = self.cfg.recommender.exclude_seen
        if len(users) <= chunk:
            return Slate(np.asarray(self.recommender.recommend(users, k, exclude_seen=exclude), dtype=np.int32))
        # in chunks of users: a recommender's scratch memory stays that of one chunk
        items = np.empty((len(users), k), np.int32)
        for start in range(0, len(users), chunk):
            items[start : start + chunk] = self.recommender.recommend(users[start : start + chunk], k, exclude_seen=exclude)
        return Slate(items)

    @timed("perceive")
    def perceive(self, arrivals: Arrivals, slate: Slate) -> Perception:
        """Phase 2: friends' shares take the social slot; friends' likes pull on what is listed."""
        if self.social is None:
            return Perception()
        self.social.begin_step(self.steps, self.popularity)
        if not len(arrivals):
            return Perception()
        via, _ = self.social.perceive(arrivals.users, slate.items, self.page_size)
        return Perception(via, self.social.pull(arrivals.users, slate.items))

    @timed("decide")
    def decide(self, arrivals: Arrivals, slate: Slate, view: Perception) -> Browsing:
        """Phase 3: the session engine plays the pages (decide, mood and fatigue written back, exits)."""
        step_start = self.t0 + self.steps * self.cfg.environment.step_seconds
        stamps = tuple(step_start + page * 60 for page in range(self.pages_per_session))
        if not len(arrivals):
            return Browsing((), Interactions.empty(), stamps)
        on_page = None
        if self.on_page is not None:
            on_page = functools.partial(self.on_page, self.steps)
        pages = self.engine.play_session(
            self.steps, arrivals.users, arrivals.sessions, slate.items, self.state,
            via=view.via, pull=view.pull, popularity=self.popularity, on_page=on_page,
        )  # fmt: skip
        return Browsing(pages, watches(pages, stamps), stamps)

    @timed("remember")
    def remember(self) -> MindStep:
        """Phase 4: the policy hands over what it gathered; LLM agents' memories are flushed and reflected on."""
        output = self.policy.end_step(self.steps)
        if self.mind is None:
            return MindStep(output)
        reflections = self.mind.end_step(self.steps, self.llm)
        return MindStep(output, tuple(reflections), self.mind.written)

    @timed("socialize")
    def socialize(self, arrivals: Arrivals, browsing: Browsing, minds: MindStep) -> SocialStep:
        """Phase 5: shares (the policy's own or the rule), trust, ties, cascades; followers remember shares."""
        social = self.social
        if social is None:
            return SocialStep()
        shares = tuple(self._page_shares(p) for p in browsing.pages)
        rows = [np.nonzero(s) for s in shares]
        shared = (
            np.concatenate([p.users[r] for p, (r, _) in zip(browsing.pages, rows, strict=True)] or [np.empty(0, np.int64)]),
            np.concatenate([p.items[r, c] for p, (r, c) in zip(browsing.pages, rows, strict=True)] or [np.empty(0, np.int64)]),
        )  # fmt: skip
        clicked, stars = self._slot_outcome(arrivals, browsing)
        social.socialize(self.steps, arrivals.users, browsing.interactions, shared, clicked, stars)
        self._remember_shares(minds.output.share_messages)
        return SocialStep(shares)

    @timed("items")
    def update_items(self, minds: MindStep) -> int:
        """Phase 6: item agents update their profiles from the step's feedback; returns how many changed."""
        if self.items is None:
            return 0
        changed: set[int] = set()
        for fb in minds.output.feedback:
            changed.update(self.items.observe(self.steps, fb))
        return len(changed)

    @timed("learn")
    def learn(self, browsing: Browsing) -> Learned:
        """Phase 7: the recommender observes the step, or is refit every ``retrain_every`` steps.

        Returns:
            The platform's interaction counts after the step (a new array) and whether it refit.
        """
        inter = browsing.interactions
        every, feed = self.cfg.recommender.retrain_every, self.feed
        if every or feed.stop is not None:  # kept for the refits only: a run that never refits does not write it
            self.history.append(inter)
        cat = self.world.catalog
        popularity = self.popularity + np.bincount(inter.item, minlength=cat.n_items).astype(np.float32)
        if (every and self.steps % every == 0) or feed.must_refit(self.steps):
            full = feed.data(self.history.read(), self.steps)
            self.recommender.fit(full, cat, n_users=feed.n_users)
            return Learned(popularity, True)
        self.recommender.update(inter)
        entering = feed.entering(self.steps)  # fake profiles entering between refits
        if len(entering):
            self.recommender.update(entering)
        return Learned(popularity, False)

    @timed("collect")
    def collect(
        self, arrivals: Arrivals, browsing: Browsing, minds: MindStep, social: SocialStep, profiles: int,
        learned: Learned,
    ) -> None:  # fmt: skip
        """Phase 8: events to the sink, texts to the text sink, the step's metrics to the DataCollector."""
        pages = (
            PageRows(
                step=self.steps, page=p.page, sessions=arrivals.sessions[p.rows], users=p.users, items=p.items,
                decisions=p.decisions, ended=p.ended, policy_codes=p.decisions.sources(),
                timestamp=browsing.timestamps[p.page], via=p.via, shares=social.of_page(i),
            )
            for i, p in enumerate(browsing.pages)
        )  # fmt: skip
        events = self.log.write(self.steps, pages)
        if self.texts is not None:
            self.texts.add([*minds.output.texts, *minds.reflections])
            self.texts.flush()
        self._record_metrics(arrivals, browsing, events, learned.retrained)
        if self.probe is not None:
            self.probe.observe(self.steps, browsing, len(arrivals), self.recommender)
        self._record_robustness()
        if self.mind is not None:
            self.step_metrics.update(self._mind_row(minds, profiles))
        if self.social is not None:
            self.step_metrics.update(self.social.metrics(self.steps))
            for key in ("shares", "follows", "unfollows", "social_impressions"):
                self.totals[key] += int(self.step_metrics[key])
        self.datacollector.collect(self)

    # -- inside the phases ---------------------------------------------------------------
    def _page_shares(self, page: PageOutcome) -> np.ndarray:
        """``[n, k]`` items shared on a page: the policy's own choice where it made one, else the rule."""
        assert self.social is not None
        dec = page.decisions
        shares = self.social.rule_shares(page.users, dec.ratings, dec.share_decided)
        if dec.shares is not None and dec.share_decided is not None:
            shares |= dec.shares & dec.clicks & dec.share_decided[:, None]
        return shares

    def _slot_outcome(self, arrivals: Arrivals, browsing: Browsing) -> tuple[np.ndarray, np.ndarray]:
        """What each user who got a share in the social slot did with it (first page)."""
        assert self.social is not None
        if not browsing.pages:
            return np.empty(0, bool), np.empty(0, np.int8)
        first = browsing.pages[0].decisions
        rows = np.searchsorted(arrivals.users, self.social.delivered_users)
        slot = self.social.p.slot_position
        return first.clicks[rows, slot].copy(), first.ratings[rows, slot].copy()

    def _remember_shares(self, messages: Mapping[tuple[int, int], str]) -> None:
        """LLM-driven followers remember the shares that reached them (with the sharer's message)."""
        social = self.social
        assert social is not None
        mask = self.policy.llm_users()
        if self.mind is None or mask is None or not social.p.share_memory or not len(social.new_shares):
            return
        shares, rec = social.recipients(social.new_shares)
        keep = mask[rec]
        titles = self.world.catalog.titles
        records = []
        for sh, r in zip(shares[keep].tolist(), rec[keep].tolist(), strict=True):
            sharer, item = int(social.cascades.get("user", sh)), int(social.cascades.get("item", sh))
            note = messages.get((sharer, item), "")
            text = f"Friend {sharer} shared {clean_untrusted(str(titles[item]), 60)}" + (f": {note}" if note else "")
            records.append(MemoryRecord(r, self.steps, "social", text, IMPORTANCE["social"]))
        self.mind.remember(records)

    def _mind_row(self, minds: MindStep, profiles: int) -> dict[str, float]:
        """The step's LLM-agent metrics (decisions and fallbacks since the last step, memories, ...)."""
        assert self.mind is not None
        counters = dict(self.policy.counters())
        row = {
            "llm_decisions": counters.get("llm_decisions", 0) - self._last_counters.get("llm_decisions", 0),
            "llm_fallbacks": counters.get("llm_fallbacks", 0) - self._last_counters.get("llm_fallbacks", 0),
            "memories": minds.memories or 0,
            "reflections": len(minds.reflections),
            "profiles_updated": profiles,
            # texts the guard dropped this step (policy's and reflections: one guard, the mind's)
            "texts_dropped": self.mind.guard.total_dropped - self._last_dropped,
        }
        self._last_dropped = self.mind.guard.total_dropped
        self.totals["reflections"] += len(minds.reflections)
        self.totals["texts_dropped"] += int(row["texts_dropped"])
        for why, n in self.mind.guard.dropped.items():  # by reason (report.html reads them)
            self.totals[f"texts_dropped_{why}"] = int(n)
        self._last_counters = counters
        return row

    def _record_robustness(self) -> None:
        """Running totals of the ``robustness:`` block (feed, noise, text defences) into ``totals``."""
        if not self.feed.plain:
            self.totals.update({f"robustness_{k}": int(v) for k, v in self.feed.counts.items()})
        counters = self.policy.counters()
        for key in ROBUSTNESS_COUNTERS:
            if key in counters:
                self.totals[key] = int(counters[key])

    def _record_metrics(
        self, arrivals: Arrivals, browsing: Browsing, events: int, retrained: bool
    ) -> None:
        n_sessions = len(arrivals)
        if browsing.played is not None:  # a sharded run: the shards counted their pages
            pages, exits = browsing.played.pages, browsing.played.exits
        else:
            pages = sum(len(p.users) for p in browsing.pages)
            exits = sum(int(p.decisions.exits.sum()) for p in browsing.pages)
        inter = browsing.interactions
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
            "voluntary_exits": exits,
            "mean_satisfaction": float(self.state.satisfaction.mean()),
            "mean_fatigue": float(self.state.fatigue.mean()),
            "retrained": int(retrained),
        }
        if self.llm is not None:
            row = self.llm.usage.step_row(self.steps)
            m.update({f"llm_{k}": row[k] for k in ("calls", "prompt_tokens", "completion_tokens", "cached")})
        self.step_metrics = m
        for key in ("pages", "voluntary_exits", "sessions", "impressions", "clicks", "ratings"):
            self.totals[key] += int(m[key])
        self.totals["events"] += events


#: Policy counters of the ``robustness:`` block copied into the run's totals (the manifest).
ROBUSTNESS_COUNTERS = ("accidental_watches", "clickbait_impressions", "clickbait_watches", "markers_neutralised",
                       "texts_flagged")  # fmt: skip


#: The recommend phase asks the recommender for at most this many users at a time.
RECOMMEND_CHUNK = 65_536

#: ``run.mesa_agents: auto`` creates Mesa agent handles up to this many users.
MESA_AGENTS_AUTO = 100_000


def mesa_agents_wanted(cfg: ScenarioConfig, n_users: int) -> bool:
    """Whether a run creates a Mesa agent handle per user and item (``run.mesa_agents``)."""
    setting = cfg.run.mesa_agents
    return setting == "on" or (setting == "auto" and n_users <= MESA_AGENTS_AUTO)


def watches(pages: tuple[PageOutcome, ...], stamps: tuple[int, ...]) -> Interactions:
    """The watches of played pages as interactions (stars NaN where unrated), in page order."""
    users, items, stars, times = [], [], [], []
    for p in pages:
        rows, cols = np.nonzero(p.decisions.clicks)
        users.append(p.users[rows])
        items.append(p.items[rows, cols])
        r = p.decisions.ratings[rows, cols].astype(np.float32)
        stars.append(np.where(r > 0, r, np.nan).astype(np.float32))
        times.append(np.full(len(rows), stamps[p.page], np.int64))
    if not pages:
        return Interactions.empty()
    return Interactions.from_arrays(
        np.concatenate(users), np.concatenate(items), np.concatenate(stars), np.concatenate(times)
    )
