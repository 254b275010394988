"""``RecVectorEnv``: ``num_envs`` simulated users at once over one shared world.

Each step makes one batched ``policy.decide`` call for every sub-environment
still in an episode. Autoreset follows Gymnasium 1.x's default
(``AutoresetMode.NEXT_STEP``): the step after a sub-environment terminates or
truncates, its action is ignored, a new user is drawn, and it returns the new
episode's first observation with reward 0 and ``terminated = truncated = False``.

``gymnasium.make_vec("simrec/RecEnv-v0", num_envs=8)`` builds one (after
``import simrec.env.gym``); direct construction works too. With the same seed
and actions, a vector of one reproduces :class:`~simrec.env.gym.RecEnv`
(including the episodes after an autoreset, which match ``env.reset()``).

Infos are Gymnasium's vector convention: ``info[key]`` holds a row per
sub-environment and ``info["_" + key]`` marks the rows it is about: ``replaced`` and
(with ``action="item"``) ``action_mask`` the rows that acted, the page's keys the rows
whose user saw a page.

Stable-Baselines3 does not take a Gymnasium vector environment (it raises "The
environment is of type RecVectorEnv, not a Gymnasium environment"); give it
:class:`~simrec.env.gym_sb3.RecSB3VecEnv` or SB3's ``make_vec_env(RecEnv, n_envs=...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from simrec.config.schema import ScenarioConfig
from simrec.env.gym import Horizon, Reward, make_core
from simrec.env.gym_spaces import Action, Observation
from simrec.world.build import World


class RecVectorEnv(VectorEnv):
    """A batch of :class:`~simrec.env.gym.RecEnv` episodes sharing one world.

    Args:
        num_envs: Number of sub-environments (simultaneous users).
        scenario: A scenario file, a :class:`ScenarioConfig`, or ``None`` for the default small world.
        overrides: ``path.to.key=value`` overrides applied to the scenario.
        reward: As in :class:`~simrec.env.gym.RecEnv`.
        horizon: As in :class:`~simrec.env.gym.RecEnv`.
        sessions: As in :class:`~simrec.env.gym.RecEnv`.
        history: As in :class:`~simrec.env.gym.RecEnv`.
        max_days: As in :class:`~simrec.env.gym.RecEnv`.
        action: As in :class:`~simrec.env.gym.RecEnv`.
        observation: As in :class:`~simrec.env.gym.RecEnv`.
        world: A prebuilt world to share (default: built once from the scenario).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
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
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, not {num_envs}")
        self.num_envs = num_envs
        self.cfg, self.world, self.core = make_core(
            scenario, overrides, world, num_envs,
            reward=reward, horizon=horizon, sessions=sessions, history=history, max_days=max_days,
            action=action, observation=observation,
        )  # fmt: skip
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._autoreset = np.zeros(num_envs, bool)
        self._started = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start episodes in every sub-environment (or those in ``options["reset_mask"]``).

        Args:
            seed: Seeds the vector environment's single generator.
            options: ``"user"``: one user index per sub-environment (default: drawn
                uniformly); ``"reset_mask"``: bool ``[num_envs]``, which to reset.
        """
        super().reset(seed=seed)
        options = options or {}
        mask = options.get("reset_mask")
        if mask is None:
            mask = np.ones(self.num_envs, bool)
        elif not (
            isinstance(mask, np.ndarray)
            and mask.dtype == np.bool_
            and mask.shape == (self.num_envs,)
        ):
            raise ValueError(
                f"options['reset_mask'] must be a bool array of shape ({self.num_envs},)"
            )
        elif not self._started and not mask.all():
            raise ValueError("the first reset must reset every sub-environment")
        rows = np.flatnonzero(mask)
        user = options.get("user")
        users = (
            self.core.draw_users(self.np_random, len(rows))
            if user is None
            else self.core.check_users(user, self.num_envs)[rows]
        )
        self.core.start(rows, users)
        self._autoreset[rows] = False
        self._started = True
        return self.core.observe(), self._mask_info(mask)

    def _mask_info(self, rows: np.ndarray) -> dict[str, Any]:
        """``action_mask`` for every row (``rows``: bool, the rows it is about)."""
        if self.core.action != "item":
            return {}
        return {"action_mask": self.core.action_mask(), "_action_mask": rows.copy()}

    def action_masks(self) -> np.ndarray:
        """``[num_envs, n_items]`` bool: items neither on the page nor seen (``action="item"``)."""
        return self.core.action_mask()

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One slate (``[num_envs, page_size]``) or item (``[num_envs]``) per sub-environment."""
        if not self._started:
            raise RuntimeError("Call reset() before step().")
        actions = self.core.check_actions(actions, self.action_space.shape)
        n = self.num_envs
        rewards = np.zeros(n, np.float64)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        restart = np.flatnonzero(self._autoreset)
        if len(restart):
            self.core.start(restart, self.core.draw_users(self.np_random, len(restart)))
        acting = ~self._autoreset
        rows = np.flatnonzero(acting)
        infos: dict[str, Any] = {}
        if len(rows):
            out = self.core.act(rows, actions[rows], self.np_random)
            rewards[rows] = out.reward
            terminated[rows], truncated[rows] = out.terminated, out.truncated
            played = np.zeros(n, bool)
            played[rows] = out.played
            infos["replaced"] = np.zeros(n, np.int64)
            infos["replaced"][rows] = out.replaced
            infos["_replaced"] = acting.copy()
            for key, value in out.page.items():
                full = np.zeros((n, *value.shape[1:]), value.dtype)
                full[rows] = value
                infos[key], infos["_" + key] = full, played.copy()
        infos.update(self._mask_info(np.ones(n, bool)))
        self._autoreset = terminated | truncated
        return self.core.observe(), rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release."""
