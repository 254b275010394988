"""A Gymnasium environment: the agent is the recommender, the choice model is the user.

An episode is one simulated user. The agent shows a slate of ``page_size`` item
indices per step; the scenario's choice model (:class:`ChoicePolicy`) decides
what the user watches and rates and whether they leave. The module is an
explicit opt-in: importing it registers ``"simrec/RecEnv-v0"``, after which

    import simrec.env.gym
    env = gymnasium.make("simrec/RecEnv-v0", reward="click")
    envs = gymnasium.make_vec("simrec/RecEnv-v0", num_envs=8)  # RecVectorEnv

(``gymnasium.make("simrec.env.gym:simrec/RecEnv-v0")`` imports it for you).

Rules the agent plays by:

* The observation holds only what a real platform knows (docs/architecture.md,
  "Extension points"): the user's index, their last ``history`` interactions (real training log, then
  this episode's watches, most recent last, left-padded with ``n_items``),
  the stars of those (0 unrated or padding, clipped to 0..5), the page number
  within the session and the number of sessions finished in the episode.
  Never taste, traits, mood or fatigue; ``info`` holds only what the user did.
* Repeats on a slate are allowed and each copy takes a slot, but an item counts
  once: only its first occurrence can be watched or rated.
* ``horizon="session"``: the episode is one session; it terminates when the
  user leaves or ``pages_per_session`` pages have been shown.
  ``horizon="sessions"``: after each session simulated days pass (fatigue
  recovers; the user returns each day with chance activity × mood factor, as
  in :meth:`UserState.start_sessions`). The episode terminates when the user
  does not return within ``max_days`` and is truncated when ``sessions``
  sessions are done and the user would return.
* The choice model with the scenario's ``policy.choice`` parameters decides,
  whatever ``policy.name`` says (LLM policies are not run here). Pages are
  played by the same session engine as in a run
  (:class:`~simrec.env.session.SessionEngine`).
* All randomness comes from ``self.np_random`` (the policy draws from it too);
  the platform's popularity stays at the training counts, so episodes are
  independent and a seed plus an action sequence fixes the whole trajectory.
  No social graph is used.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium
import numpy as np
from gymnasium import spaces

from simrec.agents.policies.choice import ChoicePolicy
from simrec.agents.state import UserState
from simrec.config import load_scenario
from simrec.config.schema import ScenarioConfig
from simrec.data.types import Interactions
from simrec.env.session import SessionEngine
from simrec.fidelity.calibrate import calibrate_world
from simrec.world.build import World, build_world

ENV_ID = "simrec/RecEnv-v0"
Reward = Literal["click", "rating", "watch", "return"]
Horizon = Literal["session", "sessions"]
REWARDS = ("click", "rating", "watch", "return")
HORIZONS = ("session", "sessions")

#: The default world: 200 users × 300 items, synthetic (offline, builds in about a second).
DEFAULT_SCENARIO: dict[str, Any] = {
    "name": "gym-small",
    "seed": 0,
    "environment": {
        "data": {
            "source": "synthetic",
            "n_users": 200,
            "n_items": 300,
            "n_genres": 8,
            "interactions_per_user": 12,
        },
        "page_size": 5,
        "pages_per_session": 4,
    },
    "run": {"export": []},
}


def resolve_scenario(
    scenario: str | Path | ScenarioConfig | None, overrides: list[str] | tuple[str, ...] = ()
) -> ScenarioConfig:
    """A scenario file, a config (re-validated with ``overrides``) or the default small world."""
    if isinstance(scenario, ScenarioConfig):
        return (
            load_scenario(data=scenario.model_dump(), overrides=overrides)
            if overrides
            else scenario
        )
    if scenario is None:
        return load_scenario(data=copy.deepcopy(DEFAULT_SCENARIO), overrides=overrides)
    return load_scenario(scenario, overrides)


def train_histories(
    train: Interactions, n_users: int, n_items: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's last ``length`` training items and stars, oldest first, left-padded.

    Returns:
        ``[n_users, length]`` item indices (padding ``n_items``) and float32 stars (0 unrated/padding).
    """
    order = np.lexsort((train.timestamp, train.user))  # stable: ties keep log order
    u = train.user[order].astype(np.int64)
    end = np.searchsorted(u, np.arange(n_users), side="right")
    back = end[u] - np.arange(len(u)) - 1  # 0 = the user's most recent interaction
    keep = back < length
    items = np.full((n_users, length), n_items, np.int64)
    stars = np.zeros((n_users, length), np.float32)
    col = length - 1 - back[keep]
    items[u[keep], col] = train.item[order][keep]
    stars[u[keep], col] = np.clip(np.nan_to_num(train.rating[order][keep], nan=0.0), 0.0, 5.0)
    return items, stars


def repeats(items: np.ndarray) -> np.ndarray:
    """``[n, k]`` bool: True where the item already appeared earlier on the same page."""
    eq = items[:, :, None] == items[:, None, :]
    return np.tril(eq, k=-1).any(axis=2)


def make_core(
    scenario: str | Path | ScenarioConfig | None,
    overrides: list[str] | tuple[str, ...],
    world: World | None,
    n: int,
    **options: Any,
) -> tuple[ScenarioConfig, World, RecCore]:
    """Resolve the scenario, build (or share) the world and the core of ``n`` slots."""
    cfg = resolve_scenario(scenario, overrides)
    world = world if world is not None else calibrate_world(cfg, build_world(cfg))
    return cfg, world, RecCore(cfg, world, n, **options)


class RecCore:
    """Episode state of ``n`` slots (one user each) and their batched page step.

    Shared by :class:`RecEnv` (one slot) and :class:`~simrec.env.gym_vector.RecVectorEnv`,
    so both draw the same random numbers in the same order.
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
    ) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, not {reward!r}")
        if horizon not in HORIZONS:
            raise ValueError(f"horizon must be one of {HORIZONS}, not {horizon!r}")
        if reward == "return" and horizon != "sessions":
            raise ValueError("reward='return' needs horizon='sessions'")
        if min(sessions, history, max_days) < 1:
            raise ValueError("sessions, history and max_days must be at least 1")
        self.cfg, self.world, self.reward, self.horizon, self.max_days = cfg, world, reward, horizon, max_days
        self.n_users, self.n_items = world.population.n_users, world.catalog.n_items
        self.page_size, self.pages = cfg.environment.page_size, cfg.environment.pages_per_session
        self.max_sessions = sessions if horizon == "sessions" else 1
        self.recovery = np.float32(1.0 - cfg.policy.choice.fatigue_recovery)
        self.engine: SessionEngine | None = None  # bound to the environment's generator by bind()
        n_items = self.n_items
        self.train_items, self.train_stars = train_histories(
            world.train, self.n_users, n_items, history
        )
        self.observation_space = spaces.Dict(
            {
                "user": spaces.Discrete(self.n_users),
                "history": spaces.MultiDiscrete(np.full(history, self.n_items + 1, np.int64)),
                "ratings": spaces.Box(0.0, 5.0, (history,), np.float32),
                "page": spaces.Discrete(self.pages + 1),
                "session": spaces.Discrete(self.max_sessions + 1),
            }
        )
        self.action_space = spaces.MultiDiscrete(np.full(self.page_size, self.n_items, np.int64))
        self.user = np.zeros(n, np.int64)
        self.session = np.zeros(n, np.int64)
        # Per slot: mood, fatigue and ``pages`` shown in the current session.
        self.state = UserState.initial(n)
        self.hist = np.full((n, history), self.n_items, np.int64)
        self.stars = np.zeros((n, history), np.float32)
        self.steps = 0

    def bind(self, rng: np.random.Generator) -> SessionEngine:
        """The session engine whose choice-model policy draws from ``rng`` (the environment's generator).

        Gymnasium replaces ``np_random`` when reset with a seed; the policy is then built
        anew on the new generator (building it draws nothing).
        """
        if self.engine is None or self.engine.policy.rng is not rng:
            policy = ChoicePolicy.from_world(self.cfg.policy, self.world, rng)
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
        """New episodes in ``rows``: neutral mood, rested, history from the training log."""
        self.user[rows] = users
        self.state.pages[rows] = self.session[rows] = 0
        self.state.satisfaction[rows] = self.state.fatigue[rows] = 0.0
        self.hist[rows] = self.train_items[users]
        self.stars[rows] = self.train_stars[users]

    def observe(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        """Batched public observation of ``rows`` (fresh arrays)."""
        return {
            "user": self.user[rows].copy(),
            "history": self.hist[rows].copy(),
            "ratings": self.stars[rows].copy(),
            "page": self.state.pages[rows].astype(np.int64),
            "session": self.session[rows].copy(),
        }

    def check_actions(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Actions as int64 of ``shape`` with every index in ``[0, n_items)``, else ValueError."""
        a = np.asarray(actions)
        if a.shape != shape or a.dtype.kind not in "iu" or np.any((a < 0) | (a >= self.n_items)):
            raise ValueError(f"action must be {shape} integer item indices in [0, {self.n_items})")
        return a.astype(np.int64)

    def play(
        self, rows: np.ndarray, items: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Show ``items [m, k]`` to the users in ``rows``: one batched decision.

        Returns:
            Rewards ``[m]``, terminated ``[m]``, truncated ``[m]`` and per-row info arrays.
        """
        engine, st = self.bind(rng), self.state
        pg = st.pages[rows]
        page = int(pg[0]) if np.all(pg == pg[0]) else -1  # -1: sub-environments on different pages
        batch = engine.batch(self.steps, page, self.user[rows], items, st, rows)
        self.steps += 1
        dec, ended = engine.play_page(batch, st, rows, pg + 1 >= self.pages)
        clicks = dec.clicks & ~repeats(items)
        stars = np.where(clicks, dec.ratings, 0).astype(dec.ratings.dtype)  # int8 whole stars, float32 half
        self._remember(rows, items, clicks, stars)
        info = {"clicks": clicks, "ratings": stars, "exit": dec.exits.copy(), "session_end": ended}
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


class RecEnv(gymnasium.Env[dict[str, Any], np.ndarray]):
    """One simulated user per episode; the agent recommends a slate per step.

    Args:
        scenario: A scenario file, a :class:`ScenarioConfig`, or ``None`` for :data:`DEFAULT_SCENARIO`.
        overrides: ``path.to.key=value`` overrides applied to the scenario.
        reward: ``"click"`` watches on the page, ``"rating"`` sum of stars, ``"watch"`` 1 if
            anything was watched, ``"return"`` 1 at a session end after which the user comes
            back (needs ``horizon="sessions"``).
        horizon: ``"session"`` (one session) or ``"sessions"`` (up to ``sessions`` sessions).
        sessions: Sessions per episode with ``horizon="sessions"``.
        history: Length of the history in the observation.
        max_days: Days a user may stay away before the episode terminates (``"sessions"``).
        world: A prebuilt world to share (default: built once from the scenario).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        scenario: str | Path | ScenarioConfig | None = None,
        *,
        overrides: list[str] | tuple[str, ...] = (),
        reward: Reward = "click",
        horizon: Horizon = "session",
        sessions: int = 5,
        history: int = 20,
        max_days: int = 7,
        world: World | None = None,
    ) -> None:
        self.cfg, self.world, self.core = make_core(
            scenario, overrides, world, 1,
            reward=reward, horizon=horizon, sessions=sessions, history=history, max_days=max_days,
        )  # fmt: skip
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self._done = True

    def _obs(self) -> dict[str, Any]:
        return {k: (v[0] if v.ndim == 1 else v[0].copy()) for k, v in self.core.observe().items()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode: ``options["user"]`` picks the user, else one is drawn uniformly."""
        super().reset(seed=seed)
        user = (options or {}).get("user")
        core = self.core
        users = core.draw_users(self.np_random, 1) if user is None else core.check_users(user, 1)
        self.core.start(np.zeros(1, np.int64), users)
        self._done = False
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Show the slate ``action`` (``page_size`` item indices) to the user."""
        if self._done:
            raise RuntimeError("The episode is over (or never started): call reset() first.")
        items = self.core.check_actions(action, self.action_space.shape)[None, :]
        reward, term, trunc, info = self.core.play(np.zeros(1, np.int64), items, self.np_random)
        self._done = bool(term[0] or trunc[0])
        info = {k: (v[0].copy() if v.ndim > 1 else v[0].item()) for k, v in info.items()}
        return self._obs(), float(reward[0]), bool(term[0]), bool(trunc[0]), info

    def close(self) -> None:
        """Nothing to release."""


def register_envs() -> None:
    """Register ``simrec/RecEnv-v0`` (single and vector entry points) once."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            ENV_ID,
            entry_point="simrec.env.gym:RecEnv",
            vector_entry_point="simrec.env.gym_vector:RecVectorEnv",
        )


register_envs()
