"""The core of the Gymnasium environment: ``n`` users' episode state and their batched play.

:class:`RecCore` holds, per slot (one user each), the episode's public history, the items
the user has seen, mood, fatigue and the page and session counters, and plays the slots'
pages in one batched decision of the scenario's choice model through the run's
:class:`~simrec.env.session.SessionEngine`. :class:`~simrec.env.gym.RecEnv` (one slot),
:class:`~simrec.env.gym_vector.RecVectorEnv` and :class:`~simrec.env.gym_sb3.RecSB3VecEnv`
share it, so all draw the same random numbers in the same order; the rules it plays by are
in :mod:`simrec.env.gym`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simrec.agents.state import UserState
from simrec.config.schema import ScenarioConfig
from simrec.env.gym_seen import OnceChoicePolicy, SeenPageBatch, set_rows, train_seen
from simrec.env.gym_spaces import (
    ACTIONS,
    OBSERVATIONS,
    action_space,
    dedupe,
    fill_order,
    first_absent,
    observation_space,
    placed_mask,
    train_histories,
)
from simrec.env.session import SessionEngine
from simrec.world.build import World

Reward = Literal["click", "rating", "watch", "return"]
Horizon = Literal["session", "sessions"]
REWARDS = ("click", "rating", "watch", "return")
HORIZONS = ("session", "sessions")


@dataclass
class Outcome:
    """One environment step of ``m`` rows (:meth:`RecCore.act`).

    Attributes:
        reward: ``[m]`` float64.
        terminated: ``[m]`` bool.
        truncated: ``[m]`` bool.
        played: ``[m]`` bool, the rows whose user saw a page this step (always, with
            ``action="slate"``; on a page's last slot, with ``action="item"``).
        replaced: ``[m]`` int64, slots of the step whose repeated item was replaced.
        page: Per-row arrays of the page played (``clicks``, ``ratings``, ``exit``,
            ``session_end``, ``shown``, ``seen``; ``returned`` and ``days`` with
            ``horizon="sessions"``), zeros in rows that did not play; empty if none did.
    """

    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    played: np.ndarray
    replaced: np.ndarray
    page: dict[str, np.ndarray]


class RecCore:
    """Episode state of ``n`` slots (one user each) and their batched step.

    Shared by :class:`~simrec.env.gym.RecEnv` (one slot),
    :class:`~simrec.env.gym_vector.RecVectorEnv` and :class:`~simrec.env.gym_sb3.RecSB3VecEnv`,
    so all draw the same random numbers in the same order.
    """

    def __init__(
        self,
        cfg: ScenarioConfig,
        world: World,
        n: int,
        *,
        reward: str,
        horizon: str,
        sessions: int,
        history: int,
        max_days: int,
        action: str,
        observation: str,
    ) -> None:
        for name, value, allowed in (
            ("reward", reward, REWARDS),
            ("horizon", horizon, HORIZONS),
            ("action", action, ACTIONS),
            ("observation", observation, OBSERVATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        if reward == "return" and horizon != "sessions":
            raise ValueError("reward='return' needs horizon='sessions'")
        if min(sessions, history, max_days) < 1:
            raise ValueError("sessions, history and max_days must be at least 1")
        self.cfg, self.world = cfg, world
        self.reward, self.horizon, self.max_days, self.action = reward, horizon, max_days, action
        self.n_users, self.n_items = world.population.n_users, world.catalog.n_items
        self.page_size, self.pages = cfg.environment.page_size, cfg.environment.pages_per_session
        if self.page_size > self.n_items:
            raise ValueError(
                f"page_size {self.page_size} exceeds the catalog ({self.n_items} items): "
                "lower environment.page_size"
            )
        self.max_sessions = sessions if horizon == "sessions" else 1
        self.recovery = np.float32(1.0 - cfg.policy.choice.fatigue_recovery)
        self.engine: SessionEngine | None = None  # bound to the environment's generator by bind()
        self.fill = fill_order(world.catalog.popularity, self.n_items)  # replacements, in order
        self.train_seen = train_seen(world.train, self.n_users, self.n_items)
        self.train_items, self.train_stars = train_histories(
            world.train, self.n_users, self.n_items, history
        )
        self.observation_space = observation_space(
            n_users=self.n_users, n_items=self.n_items, history=history, pages=self.pages,
            sessions=self.max_sessions, page_size=self.page_size, action=action,
            observation=observation,
        )  # fmt: skip
        self.action_space = action_space(self.n_items, self.page_size, action)
        self.user = np.zeros(n, np.int64)
        self.session = np.zeros(n, np.int64)
        # Per slot: mood, fatigue and ``pages`` shown in the current session.
        self.state = UserState.initial(n)
        self.hist = np.full((n, history), self.n_items, np.int64)
        self.stars = np.zeros((n, history), np.float32)
        # Per slot: the items the user has seen (training history, then this episode's watches).
        self.seen = np.zeros((n, self.n_items), bool)
        # action="item": the page being filled and how many of its slots are.
        self.slate = np.full((n, self.page_size), self.n_items, np.int64)
        self.slot = np.zeros(n, np.int64)
        self.steps = 0

    def bind(self, rng: np.random.Generator) -> SessionEngine:
        """The session engine whose choice-model policy draws from ``rng`` (the environment's generator).

        Gymnasium replaces ``np_random`` when reset with a seed; the policy is then built
        anew on the new generator (building it draws nothing).
        """
        if self.engine is None or self.engine.policy.rng is not rng:
            policy = OnceChoicePolicy.from_world(self.cfg.policy, self.world, rng)
            self.engine = SessionEngine(policy, self.page_size, self.pages)
        return self.engine

    def draw_users(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """``m`` users drawn uniformly."""
        return rng.integers(self.n_users, size=m)

    def check_users(self, users: Any, m: int) -> np.ndarray:
        """Validate user indices given in ``options["user"]``."""
        u = np.asarray(users).reshape(-1)
        if len(u) != m or u.dtype.kind not in "iu" or np.any((u < 0) | (u >= self.n_users)):
            raise ValueError(f"options['user'] must be {m} user indices in [0, {self.n_users})")
        return u.astype(np.int64)

    def start(self, rows: np.ndarray, users: np.ndarray) -> None:
        """New episodes in ``rows``: neutral mood, rested, history and seen items from training."""
        self.user[rows] = users
        set_rows(self.seen, rows, self.train_seen, users)
        self.state.pages[rows] = self.session[rows] = 0
        self.state.satisfaction[rows] = self.state.fatigue[rows] = 0.0
        self.hist[rows] = self.train_items[users]
        self.stars[rows] = self.train_stars[users]
        self.slate[rows], self.slot[rows] = self.n_items, 0

    def observe(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        """Batched public observation of ``rows`` (fresh arrays)."""
        obs = {
            "user": self.user[rows].copy(),
            "history": self.hist[rows].copy(),
            "ratings": self.stars[rows].copy(),
            "page": self.state.pages[rows].astype(np.int64),
            "session": self.session[rows].copy(),
        }
        if self.action == "item":
            obs["slate"], obs["slot"] = self.slate[rows].copy(), self.slot[rows].copy()
        return obs

    def action_mask(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``[m, n_items]`` bool: the items ``rows`` can place, neither on the page nor seen.

        A user who has seen every item not on the page gets those items instead (never an
        all-False mask); placing a seen item is allowed, it is skipped when the page is played.

        Raises:
            ValueError: with ``action="slate"`` (a slate's repeats are replaced instead).
        """
        if self.action != "item":
            raise ValueError("action masks need action='item' (slate repeats are replaced)")
        return placed_mask(self.slate[rows], self.slot[rows], self.n_items, self.seen[rows])

    def check_actions(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Actions as int64 of ``shape`` with every index in ``[0, n_items)``, else ValueError."""
        a = np.asarray(actions)
        if a.shape != shape or a.dtype.kind not in "iu" or np.any((a < 0) | (a >= self.n_items)):
            what = "item index" if self.action == "item" else "integer item indices"
            raise ValueError(f"action must be {shape} {what} in [0, {self.n_items})")
        return a.astype(np.int64)

    def act(self, rows: np.ndarray, actions: np.ndarray, rng: np.random.Generator) -> Outcome:
        """Apply checked ``actions`` of ``rows`` (``[m, k]`` slates or ``[m]`` items).

        With ``action="item"`` the item goes to each row's next slot, and the rows whose
        page is then full play it (and start an empty one).
        """
        m = len(rows)
        if self.action == "slate":
            items, rep = dedupe(actions, self.fill, self.seen[rows])
            played = np.ones(m, bool)
            replaced = rep.sum(axis=1)
        else:
            prefix = self.slate[rows]  # empty slots hold n_items, never an action
            dup = (prefix == actions[:, None]).any(axis=1)
            placed = actions.copy()
            if dup.any():
                placed[dup] = first_absent(self.fill, prefix[dup], self.seen[rows[dup]])
            self.slate[rows, self.slot[rows]] = placed
            self.slot[rows] += 1
            played = self.slot[rows] == self.page_size
            items = self.slate[rows[played]]
            self.slate[rows[played]], self.slot[rows[played]] = self.n_items, 0
            replaced = dup.astype(np.int64)
        reward = np.zeros(m, np.float64)
        terminated, truncated = np.zeros(m, bool), np.zeros(m, bool)
        page: dict[str, np.ndarray] = {}
        if played.any():
            r, te, tr, info = self.play(rows[played], items, rng)
            reward[played], terminated[played], truncated[played] = r, te, tr
            for key, value in {"shown": items, **info}.items():
                page[key] = np.zeros((m, *value.shape[1:]), value.dtype)
                page[key][played] = value
        return Outcome(reward, terminated, truncated, played, replaced, page)

    def play(
        self, rows: np.ndarray, items: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Show ``items [m, k]`` (no repeats) to the users in ``rows``: one batched decision.

        The slots holding an item the user has seen are skipped (never watched); the
        watched items are seen from then on.

        Returns:
            Rewards ``[m]``, terminated ``[m]``, truncated ``[m]`` and per-row info arrays.
        """
        engine, st = self.bind(rng), self.state
        pg = st.pages[rows]
        page = int(pg[0]) if np.all(pg == pg[0]) else -1  # -1: sub-environments on different pages
        seen = self.seen[rows[:, None], items]
        # what engine.batch builds, with the seen slots
        batch = SeenPageBatch(
            self.steps, page, self.user[rows], items, st.satisfaction[rows], st.fatigue[rows],
            seen=seen,
        )  # fmt: skip
        self.steps += 1
        dec, ended = engine.play_page(batch, st, rows, pg + 1 >= self.pages)
        clicks = dec.clicks.copy()  # never a seen slot (OnceChoicePolicy)
        r, c = np.nonzero(clicks)
        self.seen[rows[r], items[r, c]] = True
        # int8 whole stars, float32 half
        stars = np.where(clicks, dec.ratings, 0).astype(dec.ratings.dtype)
        self._remember(rows, items, clicks, stars)
        info = {
            "clicks": clicks, "ratings": stars, "exit": dec.exits.copy(), "session_end": ended,
            "seen": seen.sum(axis=1),
        }  # fmt: skip
        self.session[rows[ended]] += 1
        truncated = np.zeros(len(rows), bool)
        back = np.zeros(len(rows), bool)
        if self.horizon == "sessions":
            days = np.zeros(len(rows), np.int64)
            if ended.any():
                back[ended], days[ended] = self._comeback(rows[ended], rng)
            terminated = ended & ~back
            truncated = back & (self.session[rows] >= self.max_sessions)
            cont = back & ~truncated
            st.pages[rows[cont]] = 0
            st.fatigue[rows[cont]] *= self.recovery ** days[cont].astype(np.float32)
            info.update(returned=back, days=days)
        else:
            terminated = ended
        reward = {
            "click": clicks.sum(axis=1),
            "rating": stars.sum(axis=1, dtype=np.int64 if stars.dtype.kind in "iu" else np.float64),
            "watch": clicks.any(axis=1),
            "return": back,
        }[self.reward].astype(np.float64)
        return reward, terminated, truncated, info

    def _remember(
        self, rows: np.ndarray, items: np.ndarray, clicks: np.ndarray, stars: np.ndarray
    ) -> None:
        """Append each row's watches (page order) to its history, keeping the last ``history``."""
        h = self.hist.shape[1]
        keep = np.concatenate([np.ones((len(rows), h), bool), clicks], axis=1)
        order = np.argsort(keep, axis=1, kind="stable")[:, -h:]  # kept entries last, in order
        both = np.concatenate([self.hist[rows], items], axis=1)
        self.hist[rows] = np.take_along_axis(both, order, axis=1)
        both_stars = np.concatenate([self.stars[rows], stars.astype(np.float32)], axis=1)
        self.stars[rows] = np.take_along_axis(both_stars, order, axis=1)

    def _comeback(
        self, rows: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whether each user returns within ``max_days`` and after how many days (0: not)."""
        d = self.max_days
        state = UserState.initial(len(rows) * d)
        state.satisfaction[:] = np.repeat(self.state.satisfaction[rows], d)
        activity = self.world.population.activity[self.user[rows]]
        hits = np.zeros(len(rows) * d, bool)
        hits[state.start_sessions(np.repeat(activity, d), rng)] = True  # one draw per user-day
        hits = hits.reshape(len(rows), d)
        back = hits.any(axis=1)
        return back, np.where(back, hits.argmax(axis=1) + 1, 0)
