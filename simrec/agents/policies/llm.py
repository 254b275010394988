"""LLM-driven decisions: ``llm`` (every user) and ``hybrid`` (a share of users).

For each LLM-driven user on a page, one structured call: the prompt holds the
persona (the cacheable prefix), the user's most relevant recent memories, the
page's items (their evolving profiles) and, in hybrid mode, the choice model's
probability of watching each item as a prior. The reply (a
:class:`~simrec.agents.schemas.PageDecision`) says what to watch, the stars and a
one-line reason for each, whether to leave, and optionally a review and an item
to share. Any failure (invalid after repair, timeout, budget) falls back to the
choice model for that decision, and is counted per mode.

Everyone else, and every fallback, uses the vectorised choice model, so a run
can mix thousands of cheap agents with a few hundred thoughtful ones.

Item text reaches the prompts as the run's text defence says (``robustness.text.defence``,
read from ``world.attacks``; :mod:`simrec.agents.text_defence`). Each item text a page's
prompts show is counted, once a page, for the markers and chat tokens it tries to forge
(``markers_neutralised``) and, under ``sanitise`` or ``classifier``, for being cut or
replaced (``texts_flagged``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from simrec.agents.items import ItemFeedback, ItemProfiles
from simrec.agents.mind import IMPORTANCE, Mind
from simrec.agents.policies.base import (
    DECISION_SOURCES,
    BasePolicy,
    Decisions,
    PageBatch,
    PolicyOutput,
)
from simrec.agents.policies.choice import ChoicePolicy
from simrec.agents.policies.scored import (
    _SHARE,
    _STARS,
    _TEXT,
    _WATCH,
    combine,
    draw_stars,
    own_probability,
    stream,
    yes_log_odds,
)
from simrec.agents.popularity import Popularity
from simrec.agents.prompts import (
    ItemView,
    clean_untrusted,
    item_views,
    load_template,
    render_page_decision,
)
from simrec.agents.questions import STARS, YES_NO, ScoredPrompts, first_sentences
from simrec.agents.schemas import PageDecision, page_decision_schema
from simrec.agents.text_defence import DEFENCES, defend_field
from simrec.agents.untrusted import forging_attempts
from simrec.config.schema import PolicyConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import mixed_seed
from simrec.data.scale import format_level
from simrec.io.texts import TextRow
from simrec.llm.types import LLMRequest, Message
from simrec.memory.base import MemoryRecord

if TYPE_CHECKING:
    from simrec.llm.base import BaseBackend
    from simrec.world.build import World

SRC = {name: np.int8(i) for i, name in enumerate(DECISION_SOURCES)}
#: Sentences kept of each kind of scored-protocol text (generation stops there on the embedded backend).
_SENTENCES = {"reason": 1, "review": 2, "share": 1}


def describe_mood(satisfaction: float, fatigue: float) -> str:
    """A few words on how the user feels (satisfaction and fatigue feed the LLM's choices too)."""
    feel = "pleased" if satisfaction > 0.3 else "disappointed" if satisfaction < -0.3 else "neutral"
    tired = "tired" if fatigue > 1.0 else "a bit tired" if fatigue > 0.5 else "fresh"
    return f"You feel {feel} and {tired}."


class LLMPolicy(BasePolicy):
    """Every user decides through the LLM (``policy.name: llm``).

    Args:
        cfg: The ``policy:`` block.
        world: The world.
        rng: The policy's generator (choice model and the pick of LLM users).
        llm: The run's LLM backend.
        mind: Personas and memory.
        items: Item profiles (``None``: prompts show catalog text).
    """

    name = "llm"
    uses_llm = True
    uses_mind = True
    show_prior = False

    def __init__(
        self,
        cfg: PolicyConfig,
        world: World,
        rng: np.random.Generator,
        llm: BaseBackend,
        mind: Mind,
        items: ItemProfiles | None = None,
    ) -> None:
        if llm is None:
            raise ConfigError(f"policy '{self.name}' needs an LLM backend (the llm: block).")
        super().__init__(cfg, world, rng)
        self.llm = llm
        self.mind = mind
        self.items = items
        self.choice = ChoicePolicy.from_world(cfg, world, rng)
        self.protocol = self._protocol(cfg, llm)
        plan = getattr(world, "attacks", None)
        #: How item text reaches the prompts (``robustness.text.defence``; ``none`` without a plan).
        self.defence = str(getattr(plan, "text_defence", "none")) if plan is not None else "none"
        if self.defence not in DEFENCES:
            raise ConfigError(f"robustness.text.defence {self.defence!r} is unknown; known: {', '.join(DEFENCES)}")
        self._strict = self.defence == "strict_quoting"
        if self.protocol == "json":
            self.template = load_template("page_decision", cfg.llm.prompt_version)
        else:
            self.scored = ScoredPrompts(load_template("scored", cfg.llm.prompt_version), cfg.llm.text_tokens,
                                        strict=self._strict)  # fmt: skip
            mind.use_plain_prompts(self.scored)
            self._prefixes: dict[tuple[int, int], Message] = {}
            self.popularity = Popularity(world.catalog.popularity)
        self.llm_mask = self._pick_llm_users(rng)
        w = cfg.llm.llm_weight
        #: The hybrid weight (``auto`` unresolved, as outside a run: the default of 1).
        self.llm_weight = float(w) if w != "auto" else 1.0
        self.texts: list[TextRow] = []
        self._feedback: list[ItemFeedback] = []
        self.stats = {"llm_decisions": 0, "llm_fallbacks": 0, "choice_decisions": 0, "markers_neutralised": 0,
                      "texts_flagged": 0}  # fmt: skip
        self.scale = world.population.scale
        # The LLM answers 1..5 stars: levels of whole and half stars as they are; other scales map them (counted).
        whole_stars_fit = bool(self.scale.on_scale(np.arange(1, 6)).all())
        self._snaps_stars = not (self.scale.max == 5 and whole_stars_fit)
        if self._snaps_stars:
            self.stats["llm_stars_snapped"] = 0
        self.share_messages: dict[tuple[int, int], str] = {}
        # request seeds follow the root seed through the backend's own ("llm" child) seed
        self._seed_base = int(llm.settings.seed)
        genre = world.population.genre_affinity
        self._fav_genre = np.argmax(genre, axis=1) if genre.shape[1] else np.full(len(genre), -1)

    @classmethod
    def from_world(  # type: ignore[override]
        cls,
        cfg: PolicyConfig,
        world: World,
        rng: np.random.Generator,
        llm: BaseBackend | None = None,
        mind: Mind | None = None,
        items: ItemProfiles | None = None,
    ) -> LLMPolicy:
        """Build from the ``policy:`` block."""
        if mind is None:
            raise ConfigError(f"policy '{cls.name}' needs agent memory; run it through simrec's runner.")
        return cls(cfg, world, rng, llm, mind, items)

    def _pick_llm_users(self, rng: np.random.Generator) -> np.ndarray:
        return np.ones(self.world.population.n_users, dtype=bool)

    @staticmethod
    def _protocol(cfg: PolicyConfig, llm: BaseBackend) -> str:
        """``scored`` or ``json``: the configured protocol, or the backend's default for ``auto``."""
        chosen = cfg.llm.protocol if cfg.llm.protocol != "auto" else llm.default_protocol
        if chosen == "scored" and not llm.can_score:
            raise ConfigError(
                f"policy.llm.protocol is 'scored', but the {llm.name} backend cannot score next-word "
                "probabilities; use protocol: json (or auto) with it."
            )
        return chosen

    # -- prompt pieces ---------------------------------------------------------
    def _title(self, item: int) -> str:
        """An item's title as the text defence lets it into prompts and memories (not counted)."""
        title = str(self.world.catalog.titles[item])
        return defend_field(title, self.defence)[0] if self.defence in ("sanitise", "classifier") else title

    def _defend(self, view: ItemView) -> ItemView:
        """One view under the text defence, counted (``texts_flagged``, ``markers_neutralised``)."""
        if self.defence == "ignore_descriptions":
            view = replace(view, text="")
        elif self.defence in ("sanitise", "classifier"):
            (title, cut_title), (text, cut_text) = defend_field(view.title, self.defence), defend_field(view.text, self.defence)
            self.stats["texts_flagged"] += cut_title + cut_text
            view = replace(view, title=title, text=text)
        # what reaches a prompt: the scored protocol's questions show titles only
        shown = forging_attempts(view.text) if self.protocol == "json" else 0
        self.stats["markers_neutralised"] += forging_attempts(view.title) + shown
        return view

    def _views(self, items: np.ndarray, via: np.ndarray | None = None) -> list[ItemView]:
        views = item_views(self.world.catalog, items)
        if self.items is not None and self.defence != "ignore_descriptions":
            # Item agents: a profile that has learned something replaces the bare catalog text.
            views = [
                replace(v, text=f"{v.text} {self.items.summary(int(i))}".strip()[: self.cfg.llm.text_chars])
                if self.items.version[i]
                else v
                for v, i in zip(views, items, strict=True)
            ]
        views = [self._defend(v) for v in views]
        if via is not None:
            views = [replace(v, text=f"(a friend shared this) {v.text}") if f else v for v, f in zip(views, via, strict=True)]
        return views

    def _requests(self, batch: PageBatch, rows: np.ndarray, prior: np.ndarray) -> list[LLMRequest]:
        users = batch.users[rows]
        personas = self.mind.personas(users)
        cat = self.world.catalog
        queries = ["; ".join(str(cat.titles[i]) for i in batch.items[r]) for r in rows]
        memories = self.mind.recall(users, queries, batch.step)
        reqs = []
        for j, r in enumerate(rows):
            messages = render_page_decision(
                personas[j], memories[j], self._views(batch.items[r], batch.via[r] if batch.via is not None else None), self._friends(int(batch.users[r])),
                prior=[round(float(p), 2) for p in prior[r]] if self.show_prior else None,
                template=self.template,
                mood=describe_mood(float(batch.satisfaction[r]), float(batch.fatigue[r])), strict=self._strict,
            )  # fmt: skip
            u = int(batch.users[r])
            reqs.append(
                LLMRequest(messages, schema=page_decision_schema(len(batch.items[r])), agent=u, step=batch.step, purpose="page_decision",
                           seed=mixed_seed(self._seed_base, u, batch.step, max(batch.page, 0)))  # fmt: skip
            )
        return reqs

    def _friends(self, user: int, limit: int = 2) -> list[str]:
        """Friends' recent activity: what up to ``limit`` of the most trusted followees liked last."""
        if self.social is None:
            return []
        return self.social.friend_lines(user, self.world.catalog.titles, limit)

    # -- deciding ---------------------------------------------------------------
    def decide(self, batch: PageBatch) -> Decisions:
        """Choice model for everyone, then the LLM's decision for the LLM-driven users."""
        util = self.choice.utilities(batch)
        clicks = self.choice.choose(util)
        ratings = self.choice.rate(batch.users, batch.items, clicks)
        if self.choice.noise is not None:  # robustness.noise: accidental clicks of the choice-model users
            self._choice_noise(batch, util, clicks, ratings)
        source = np.zeros(len(batch), np.int8)
        leave_llm = np.zeros(len(batch), bool)
        shares = np.zeros(batch.items.shape, bool)
        rows = np.nonzero(self.llm_mask[batch.users])[0]
        k = batch.items.shape[1]
        page_texts: list[TextRow] = []
        if len(rows) and self.protocol == "scored":
            prior = self.choice.prior_probability(util)
            self._decide_scored(batch, rows, prior, clicks, ratings, source, shares, page_texts)
        elif len(rows):
            prior = self.choice.prior_probability(util)
            requests = self._requests(batch, rows, prior)
            replies = self.llm.generate(requests)
            for r, req, resp in zip(rows, requests, replies, strict=True):
                if not resp.ok:
                    source[r] = SRC["fallback"]
                    self.stats["llm_fallbacks"] += 1
                    continue
                d: PageDecision = resp.parsed  # type: ignore[assignment]
                watch = sorted({p for p in d.watch if 1 <= p <= k})
                stars = {x.position: x for x in d.ratings if x.position in watch}
                clicks[r] = False
                ratings[r] = 0
                own = self.choice.rate(batch.users[r : r + 1], batch.items[r : r + 1], np.ones((1, k), bool))[0]
                for p in watch:
                    clicks[r, p - 1] = True
                    ratings[r, p - 1] = self._on_scale(stars[p].stars) if p in stars else own[p - 1]
                leave_llm[r] = d.leave
                prompt = [m.content for m in req.messages]
                texts = self._texts(batch, r, watch, stars, d, prompt, ratings[r])
                if d.share is not None and d.share in watch:
                    shares[r, d.share - 1] = True
                    if any(t.kind == "share" for t in texts):  # a message that passed the guard
                        self.share_messages[(int(batch.users[r]), int(batch.items[r, d.share - 1]))] = d.message
                source[r] = SRC["llm"]
                self.stats["llm_decisions"] += 1
                page_texts += texts
        self.stats["choice_decisions"] += int((source == SRC["choice"]).sum())
        sat, fat = self.choice.feel(batch, clicks, ratings)
        exits = self.choice.leave(batch.users, sat, fat)
        is_llm = source == SRC["llm"]
        if self.protocol == "json":  # the scored protocol leaves leaving to the choice model
            exits[is_llm] = leave_llm[is_llm]
        self._remember(batch, rows[is_llm[rows]], clicks, ratings, page_texts)
        self.texts += page_texts
        decided = is_llm if (self.protocol == "json" or self.social is not None) else np.zeros(len(batch), bool)
        return Decisions(clicks, ratings, exits, sat, fat, source, shares=shares, share_decided=decided)

    def _choice_noise(self, batch: PageBatch, util: np.ndarray, clicks: np.ndarray, ratings: np.ndarray) -> None:
        """Accidental clicks (and the clickbait counts) on the rows of the users the choice model drives, in place."""
        rows = np.nonzero(~self.llm_mask[batch.users])[0]
        if not len(rows):
            return
        sub = batch.take(rows)
        clicks[rows], ratings[rows] = self.choice.add_noise(sub, util[rows], clicks[rows], ratings[rows])

    # -- the scored protocol -------------------------------------------------------
    def _groups(self, rows: np.ndarray) -> list[np.ndarray]:
        """Rows decided together: one at a time on a one-call-at-a-time backend (its evaluated
        prefix then serves every question of a user's page), all at once elsewhere."""
        if self.llm.settings.concurrency == 1:
            return [rows[i : i + 1] for i in range(len(rows))]
        return [rows]

    def _decide_scored(
        self, batch: PageBatch, rows: np.ndarray, prior: np.ndarray, clicks: np.ndarray, ratings: np.ndarray,
        source: np.ndarray, shares: np.ndarray, page_texts: list[TextRow],
    ) -> None:  # fmt: skip
        """Decide ``rows`` by the scored protocol (see :mod:`simrec.agents.policies.scored`), in place."""
        systems = {int(r): self._system(batch, int(r)) for r in rows}
        for group in self._groups(rows):
            self._score_group(batch, group, systems, prior, clicks, ratings, source, shares, page_texts)

    def _popularity(self, batch: PageBatch, items: np.ndarray) -> list[str]:
        """How well known ``items`` are, by the platform's counts now (training plus this run's watches)."""
        counts = self.world.catalog.popularity if batch.popularity is None else batch.popularity
        return self.popularity.describe(counts[items])

    def _system(self, batch: PageBatch, r: int) -> Message:
        """The prefix of user ``r``'s questions: persona and memories recalled at the session's first page.

        It stays the same for every page of the step's session, so the embedded backend
        evaluates it once per session, not once per page.
        """
        u = int(batch.users[r])
        key = (u, batch.step)
        if key not in self._prefixes:
            if len(self._prefixes) > 4096:
                self._prefixes.clear()
            cat = self.world.catalog
            query = "; ".join(str(cat.titles[i]) for i in batch.items[r])
            memories = self.mind.recall([u], [query], batch.step)[0] if self.cfg.llm.memories else []
            persona = self.mind.personas([u])[0]
            self._prefixes[key] = self.scored.system(persona.text, memories[: self.cfg.llm.memories])
        return self._prefixes[key]

    def _ask(self, batch: PageBatch, systems: dict, pending: list[tuple[int, int, str, str]], offset: int,
             choices: tuple[str, ...] | None) -> list:  # fmt: skip
        """Answer ``(row, column, kind, question)`` calls: scored when ``choices`` is given, else written."""
        reqs = []
        for r, c, kind, q in pending:
            u = int(batch.users[r])
            seed = mixed_seed(self._seed_base, u, batch.step, max(batch.page, 0), offset, c)
            if choices is None:
                reqs.append(self.scored.text_request(systems[r], q, u, batch.step, seed, kind, _SENTENCES.get(kind, 1)))
            else:
                reqs.append(self.scored.score_request(systems[r], q, choices, u, batch.step, seed, kind))
        return self.llm.generate(reqs) if reqs else []

    def _score_group(
        self, batch: PageBatch, group: np.ndarray, systems: dict, prior: np.ndarray, clicks: np.ndarray,
        ratings: np.ndarray, source: np.ndarray, shares: np.ndarray, page_texts: list[TextRow],
    ) -> None:  # fmt: skip
        p = self.cfg.llm
        views = {int(r): self._views(batch.items[r]) for r in group}
        k = batch.items.shape[1]
        # 1. watch: one yes/no question an item
        asks = [(int(r), c, "watch", self.scored.question("watch", v.title, v.genres, popularity=pop))
                for r in group for c, (v, pop) in enumerate(zip(views[int(r)], self._popularity(batch, batch.items[r]), strict=True))]  # fmt: skip
        odds = np.array([yes_log_odds(x) for x in self._ask(batch, systems, asks, _WATCH, YES_NO)]).reshape(len(group), k)
        decided = []
        for j, r in enumerate(group):
            r = int(r)
            if not np.all(np.isfinite(odds[j])):
                source[r] = SRC["fallback"]
                self.stats["llm_fallbacks"] += 1
                continue
            pw = combine(prior[r], odds[j], self.llm_weight) if self.show_prior else own_probability(odds[j], p.watch_temperature)
            u = int(batch.users[r])
            watched = stream(self._seed_base, u, batch.step, batch.page, _WATCH).random(k) < pw
            own = self.choice.rate(batch.users[r : r + 1], batch.items[r : r + 1], np.ones((1, k), bool))[0]
            clicks[r] = watched
            ratings[r] = np.where(watched, own, 0)
            source[r] = SRC["llm"]
            self.stats["llm_decisions"] += 1
            decided.append(r)
        # 2. stars, from the model in llm mode (or when asked)
        llm_stars = p.stars == "llm" or (p.stars == "auto" and not self.show_prior)
        watched = [(r, int(c)) for r in decided for c in np.nonzero(clicks[r])[0]]
        if llm_stars and watched:
            asks = [(r, c, "stars", self.scored.question("stars", views[r][c].title, views[r][c].genres)) for r, c in watched]
            for (r, c), resp in zip(watched, self._ask(batch, systems, asks, _STARS, STARS), strict=True):
                s = draw_stars(resp, stream(self._seed_base, int(batch.users[r]), batch.step, batch.page, _STARS * 10 + c))
                if s:
                    ratings[r, c] = self._on_scale(s)
        # 3. share a liked watch (with a social graph)
        liked = [(r, c) for r, c in watched if ratings[r, c] >= 4]
        shared: list[tuple[int, int]] = []
        if self.social is not None and liked:
            asks = [(r, c, "share", self.scored.question("share", views[r][c].title, stars=format_level(ratings[r, c]))) for r, c in liked]
            for (r, c), resp in zip(liked, self._ask(batch, systems, asks, _SHARE, YES_NO), strict=True):
                lo = yes_log_odds(resp)
                g = stream(self._seed_base, int(batch.users[r]), batch.step, batch.page, _SHARE * 10 + c)
                if np.isfinite(lo) and g.random() < expit(lo):
                    shares[r, c] = True
                    shared.append((r, c))
        # 4. texts, only where wanted
        asks = []
        for r in decided:
            g = stream(self._seed_base, int(batch.users[r]), batch.step, batch.page, _TEXT)
            cols = [int(c) for c in np.nonzero(clicks[r])[0]]
            for c in cols:
                if g.random() < p.reason_rate:
                    v = views[r][c]
                    asks.append((r, c, "reason", self.scored.question("reason", v.title, v.genres, format_level(ratings[r, c]))))
            if cols and g.random() < p.review_rate:
                c = cols[0]
                v = views[r][c]
                asks.append((r, c, "review", self.scored.question("review", v.title, v.genres, format_level(ratings[r, c]))))
        asks += [(r, c, "share", self.scored.question("message", views[r][c].title)) for r, c in shared]
        for (r, c, kind, q), resp in zip(asks, self._ask(batch, systems, asks, _TEXT, None), strict=True):
            if not resp.ok:
                continue
            text = first_sentences(resp.text, _SENTENCES.get(kind, 1))
            prompt = [systems[r].content, q]
            if not self.mind.guard.check(text, kind, prompt, cut_off=resp.completion_tokens >= self.scored.text_tokens):
                continue
            u, item = int(batch.users[r]), int(batch.items[r, c])
            session = int(batch.sessions[r]) if batch.sessions is not None else -1
            stars = float(ratings[r, c]) if kind == "reason" else 0.0
            page_texts.append(TextRow(batch.step, session, batch.page, u, item, kind, stars, text))
            if kind == "share":
                self.share_messages[(u, item)] = text

    def _texts(
        self, batch: PageBatch, r: int, watch: list[int], stars: dict, d: PageDecision, prompt: list[str],
        given: np.ndarray,
    ) -> list[TextRow]:
        """The reasons, review and share message of one reply that pass the text guard.

        A text that fails is dropped and counted (``mind.guard``); its decision stands.
        """
        u = int(batch.users[r])
        session = int(batch.sessions[r]) if batch.sessions is not None else -1
        guard = self.mind.guard
        out = []
        for p in watch:
            if p in stars and stars[p].reason and guard.check(stars[p].reason, "reason", prompt):
                item = int(batch.items[r, p - 1])
                value = float(given[p - 1])  # the stars the decision stored, on the data's scale
                out.append(TextRow(batch.step, session, batch.page, u, item, "reason", value, stars[p].reason))
        if d.review and guard.check(d.review, "review", prompt):
            item = int(batch.items[r, watch[0] - 1]) if watch else -1
            out.append(TextRow(batch.step, session, batch.page, u, item, "review", 0, d.review))
        if d.share is not None and d.share in watch and d.message and guard.check(d.message, "share", prompt):
            out.append(TextRow(batch.step, session, batch.page, u, int(batch.items[r, d.share - 1]), "share", 0,
                               d.message))  # fmt: skip
        return out

    def _remember(self, batch: PageBatch, rows: np.ndarray, clicks: np.ndarray, ratings: np.ndarray,
                  texts: list[TextRow]) -> None:  # fmt: skip
        reasons = {(t.user, t.item): t.text for t in texts if t.kind == "reason"}
        records: list[MemoryRecord] = []
        fb_items, fb_stars, fb_genre, fb_reason = [], [], [], []
        for r in rows:
            u = int(batch.users[r])
            skipped = [clean_untrusted(self._title(int(i)), 60) for i in batch.items[r][~clicks[r]]]
            if skipped:
                records.append(MemoryRecord(u, batch.step, "impression", "Skipped " + ", ".join(skipped[:5]),
                                            IMPORTANCE["impression"]))  # fmt: skip
            for p in np.nonzero(clicks[r])[0]:
                item = int(batch.items[r, p])
                s = ratings[r, p].item()  # an int for whole stars, a float for half stars
                why = reasons.get((u, item), "")
                rated = f"rated {format_level(s)}/{format_level(self.scale.max)}"
                text = f"Watched {clean_untrusted(self._title(item), 60)}, {rated}" + (f": {why}" if why else "")
                records.append(MemoryRecord(u, batch.step, "rating", text, IMPORTANCE["rating"]))
                fb_items.append(item)
                fb_stars.append(s)
                fb_genre.append(int(self._fav_genre[u]))
                fb_reason.append(why)
        for t in texts:
            if t.kind == "review":
                records.append(MemoryRecord(t.user, batch.step, "review", f"I wrote: {t.text}", IMPORTANCE["review"]))
        self.mind.remember(records)
        if self.items is not None and fb_items:
            self._feedback.append(
                ItemFeedback(np.array(fb_items), np.array(fb_stars), np.array(fb_genre), fb_reason)
            )

    def _on_scale(self, stars: int) -> float:
        """The LLM's 1..5 stars on the data's rating scale.

        On scales topped by 5 that hold every whole star (whole stars 1–5, half stars
        0.5–5) they stand as they are. On others they are placed linearly on the scale
        (1 → min, 5 → max) and snapped to the nearest level; each one that needed
        snapping is counted in ``llm_stars_snapped``.
        """
        if not self._snaps_stars:
            return stars
        sc = self.scale
        value = np.array([sc.min + (stars - 1) * (sc.max - sc.min) / 4])
        self.stats["llm_stars_snapped"] += int(not sc.on_scale(value)[0])
        return float(sc.snap(value)[0])

    def llm_users(self) -> np.ndarray:
        """``[n_users]`` bool, the users who decide through the LLM."""
        return self.llm_mask

    def end_step(self, step: int) -> PolicyOutput:
        """Texts, item feedback and share messages gathered since the last call."""
        out = PolicyOutput(tuple(self.texts), tuple(self._feedback), self.share_messages)
        self.texts, self._feedback, self.share_messages = [], [], {}
        return out

    def counters(self) -> Mapping[str, int]:
        """LLM decisions, fallbacks to the choice model, choice decisions, texts dropped, forged markers
        neutralised and item texts the text defence flagged so far (and the choice model's noise counts)."""
        return {**self.choice.counters(), **self.stats, "texts_dropped": self.mind.guard.total_dropped}


class HybridPolicy(LLMPolicy):
    """A share of users decides through the LLM, seeing the choice model's probabilities as a prior;
    the rest use the choice model (``policy.name: hybrid``)."""

    name = "hybrid"
    show_prior = True

    def _pick_llm_users(self, rng: np.random.Generator) -> np.ndarray:
        n = self.world.population.n_users
        p = self.cfg.llm
        count = p.llm_users if p.llm_users is not None else int(round(p.llm_share * n))
        count = min(max(count, 0), n)
        mask = np.zeros(n, dtype=bool)
        mask[np.sort(rng.choice(n, size=count, replace=False))] = True
        return mask
