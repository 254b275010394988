"""A Gymnasium environment: the agent is the recommender, the choice model is the user.

An episode is one simulated user. The agent shows slates of ``page_size`` item
indices; the scenario's choice model (:class:`ChoicePolicy`) decides what the user
watches and rates and whether they leave. The module is an explicit opt-in:
importing it registers ``"simrec/RecEnv-v0"``, after which

    import simrec.env.gym
    env = gymnasium.make("simrec/RecEnv-v0", reward="click")
    env = gymnasium.make("simrec/RecEnv-v0", action="item")      # Discrete: DQN
    envs = gymnasium.make_vec("simrec/RecEnv-v0", num_envs=8)    # RecVectorEnv

(``gymnasium.make("simrec.env.gym:simrec/RecEnv-v0")`` imports it for you). For
Stable-Baselines3, which takes its own ``VecEnv`` and not a Gymnasium vector
environment, use the batched :class:`~simrec.env.gym_sb3.RecSB3VecEnv` or
``stable_baselines3.common.env_util.make_vec_env(RecEnv, n_envs=8, env_kwargs={"world":
world})`` (docs/bench.md has both).

Rules the agent plays by:

* The observation holds only what a real platform knows (docs/architecture.md,
  "Extension points"): the user's index, their last ``history`` interactions (real
  training log, then this episode's watches) with their stars, the page and session
  counters (:mod:`simrec.env.gym_spaces` lists the keys). Never taste, traits, mood or
  fatigue; ``info`` holds only what the user did. By default (``observation="ids"``)
  its size does not depend on the catalog; ``observation="onehot"`` is the older
  ``MultiDiscrete`` history.
* ``action="slate"`` (default): one step shows one page, ``MultiDiscrete([n_items] *
  page_size)``. ``action="item"``: ``Discrete(n_items)``, one step places one item on
  the page being filled; the user sees the page when its last slot is filled (reward,
  watches and exits come on that step; the steps before earn 0). ``action_masks()``
  and ``info["action_mask"]`` mark the items neither on the page nor seen by the user
  (never none: a user who has seen everything else gets the items not on the page).
* A page never shows an item twice: a repeat is replaced by the most popular item
  (training counts) not on the page and not seen by the user (if any), and
  ``info["replaced"]`` counts the replaced slots of the step. ``info["shown"]`` is the
  page as shown.
* An item counts once per user (:mod:`simrec.env.gym_seen`): an item of the user's
  training history or watched earlier in the episode keeps its slot but is never
  watched or rated again, as a run's recommender never shows one
  (``recommender.exclude_seen``); ``info["seen"]`` counts those slots of the page.
* ``horizon="session"``: the episode is one session; it terminates when the
  user leaves or ``pages_per_session`` pages have been shown.
  ``horizon="sessions"``: after each session simulated days pass (fatigue
  recovers; the user returns each day with chance activity × mood factor, as
  in :meth:`UserState.start_sessions`). The episode terminates when the user
  does not return within ``max_days`` and is truncated when ``sessions``
  sessions are done and the user would return.
* The choice model with the scenario's ``policy.choice`` parameters decides,
  whatever ``policy.name`` says (LLM policies are not run here). Pages are
  played by the same session engine as in a run, with the choice model of
  :class:`~simrec.env.gym_seen.OnceChoicePolicy` (:mod:`simrec.env.gym_core` holds the
  episodes' state and plays their pages).
* All randomness comes from ``self.np_random`` (the policy draws from it too);
  the platform's popularity stays at the training counts, so episodes are
  independent and a seed plus an action sequence fixes the whole trajectory.
  No social graph is used.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import numpy as np

from simrec.config import load_scenario
from simrec.config.schema import ScenarioConfig
from simrec.env.gym_core import Horizon, Outcome, RecCore, Reward
from simrec.env.gym_spaces import Action, Observation
from simrec.fidelity.calibrate import calibrate_world
from simrec.world.build import World, build_world

__all__ = [
    "DEFAULT_SCENARIO",
    "ENV_ID",
    "Horizon",
    "Outcome",
    "RecCore",
    "RecEnv",
    "Reward",
    "make_core",
    "register_envs",
    "resolve_scenario",
]

ENV_ID = "simrec/RecEnv-v0"

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


class RecEnv(gymnasium.Env[dict[str, Any], np.ndarray]):
    """One simulated user per episode; the agent recommends a slate per step (or an item).

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
        action: ``"slate"`` (a page per step, ``MultiDiscrete``) or ``"item"`` (a slot per
            step, ``Discrete``; for DQN and action masks).
        observation: ``"ids"`` (item indices as ``Box``: a size independent of the catalog)
            or ``"onehot"`` (``MultiDiscrete``: Stable-Baselines3 one-hot encodes them).
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
        action: Action = "slate",
        observation: Observation = "ids",
        world: World | None = None,
    ) -> None:
        self.cfg, self.world, self.core = make_core(
            scenario, overrides, world, 1,
            reward=reward, horizon=horizon, sessions=sessions, history=history, max_days=max_days,
            action=action, observation=observation,
        )  # fmt: skip
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self._row = np.zeros(1, np.int64)  # this environment's row of its core
        self._done = True

    def _obs(self) -> dict[str, Any]:
        return {k: (v[0] if v.ndim == 1 else v[0].copy()) for k, v in self.core.observe().items()}

    def _mask_info(self) -> dict[str, Any]:
        return {"action_mask": self.action_masks()} if self.core.action == "item" else {}

    def action_masks(self) -> np.ndarray:
        """``[n_items]`` bool, the items neither on the page nor seen (``action="item"`` only).

        sb3-contrib's ``MaskablePPO`` calls this method.
        """
        return self.core.action_mask(self._row)[0]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode: ``options["user"]`` picks the user, else one is drawn uniformly."""
        super().reset(seed=seed)
        user = (options or {}).get("user")
        core = self.core
        users = core.draw_users(self.np_random, 1) if user is None else core.check_users(user, 1)
        self.core.start(self._row, users)
        self._done = False
        return self._obs(), self._mask_info()

    def step(
        self, action: np.ndarray | int
    ) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Show the slate ``action`` (``page_size`` item indices), or place the item ``action``."""
        if self._done:
            raise RuntimeError("The episode is over (or never started): call reset() first.")
        act = self.core.check_actions(action, self.action_space.shape)[None]
        out = self.core.act(self._row, act, self.np_random)
        term, trunc = bool(out.terminated[0]), bool(out.truncated[0])
        self._done = term or trunc
        info: dict[str, Any] = {"replaced": int(out.replaced[0])}
        if out.played[0]:
            page = out.page.items()
            info.update({k: (v[0].copy() if v.ndim > 1 else v[0].item()) for k, v in page})
        info.update(self._mask_info())
        return self._obs(), float(out.reward[0]), term, trunc, info

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
