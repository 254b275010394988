"""``RecSB3VecEnv``: ``n_envs`` simulated users as a Stable-Baselines3 ``VecEnv``.

Stable-Baselines3 trains on its own ``VecEnv`` interface, not on Gymnasium vector
environments (``PPO(..., gymnasium.make_vec(...))`` raises "The environment is of type
RecVectorEnv, not a Gymnasium environment"). Two ways work:

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor
    from simrec.env.gym_sb3 import RecSB3VecEnv

    venv = VecMonitor(RecSB3VecEnv(8, seed=0))      # one batched decision per step
    PPO("MultiInputPolicy", venv, n_steps=256).learn(4096)

or ``stable_baselines3.common.env_util.make_vec_env(RecEnv, n_envs=8, env_kwargs={"world":
world})`` (``n_envs`` separate :class:`~simrec.env.gym.RecEnv`, one decision each; the id
``"simrec/RecEnv-v0"`` works too after ``import simrec.env.gym``, with a Gymnasium warning
that SB3's default ``render_mode="rgb_array"`` is not supported).

This class follows SB3's conventions: a sub-environment whose episode ends is reset in
the same step, its last observation goes to ``info["terminal_observation"]``, and
``info["TimeLimit.truncated"]`` says whether it was truncated. All sub-environments share
one world and one generator, seeded by ``seed`` or ``venv.seed(seed)`` (applied at the
next ``reset()``), so a seed and an action sequence fix every trajectory; with one
sub-environment they are those of :class:`~simrec.env.gym.RecEnv` reset with the same
seed. Wrap it in ``VecMonitor`` for episode statistics (``ep_rew_mean``,
``evaluate_policy``). With ``action="item"``, ``env_method("action_masks")`` (what
sb3-contrib's ``MaskablePPO`` calls) gives each sub-environment's mask (after a step that
ended an episode, and in its ``info["action_mask"]``, the next episode's).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.utils import seeding

try:
    from stable_baselines3.common.vec_env import VecEnv
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError('simrec.env.gym_sb3 needs Stable-Baselines3: pip install -e ".[rl]"') from e

from simrec.config.schema import ScenarioConfig
from simrec.env.gym import Horizon, Reward, make_core
from simrec.env.gym_spaces import Action, Observation
from simrec.world.build import World


class RecSB3VecEnv(VecEnv):
    """A batch of :class:`~simrec.env.gym.RecEnv` episodes as a Stable-Baselines3 ``VecEnv``.

    Args:
        n_envs: Number of sub-environments (simultaneous users).
        scenario: A scenario file, a :class:`ScenarioConfig`, or ``None`` for the default world.
        overrides: ``path.to.key=value`` overrides applied to the scenario.
        reward: As in :class:`~simrec.env.gym.RecEnv`.
        horizon: As in :class:`~simrec.env.gym.RecEnv`.
        sessions: As in :class:`~simrec.env.gym.RecEnv`.
        history: As in :class:`~simrec.env.gym.RecEnv`.
        max_days: As in :class:`~simrec.env.gym.RecEnv`.
        action: As in :class:`~simrec.env.gym.RecEnv`.
        observation: As in :class:`~simrec.env.gym.RecEnv`.
        world: A prebuilt world to share (default: built once from the scenario).
        seed: Seeds the generator at the first ``reset()`` (``venv.seed()`` overrides it).
    """

    render_mode = None

    def __init__(
        self,
        n_envs: int = 1,
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
        seed: int | None = None,
    ) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be at least 1, not {n_envs}")
        self.cfg, self.world, self.core = make_core(
            scenario, overrides, world, n_envs,
            reward=reward, horizon=horizon, sessions=sessions, history=history, max_days=max_days,
            action=action, observation=observation,
        )  # fmt: skip
        super().__init__(n_envs, self.core.observation_space, self.core.action_space)
        self._seeds = [seed, *[None] * (n_envs - 1)]
        self.np_random, _ = seeding.np_random(seed)
        self._rows = np.arange(n_envs)
        self._actions: np.ndarray | None = None
        self._started = False

    def _masks(self, infos: list[dict[str, Any]]) -> None:
        if self.core.action == "item":
            for info, mask in zip(infos, self.core.action_mask(), strict=True):
                info["action_mask"] = mask

    def reset(self) -> dict[str, np.ndarray]:
        """Start an episode in every sub-environment (seed and ``options["user"]`` as set)."""
        seed = self._seeds[0]
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        given = [o.get("user") for o in self._options]
        users = self.core.draw_users(self.np_random, sum(u is None for u in given))
        it = iter(users)
        chosen = [next(it) if u is None else self.core.check_users(u, 1)[0] for u in given]
        self.core.start(self._rows, np.asarray(chosen, np.int64))
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._masks(self.reset_infos)
        self._reset_seeds()
        self._reset_options()
        self._started = True
        return self.core.observe()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions (``[n_envs, page_size]`` slates or ``[n_envs]`` items)."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
        """Play the stored actions; ended episodes are reset at once (SB3's convention)."""
        if not self._started or self._actions is None:
            raise RuntimeError("Call reset() and step_async() before step_wait().")
        core, n = self.core, self.num_envs
        actions = core.check_actions(self._actions, (n, *core.action_space.shape))
        self._actions = None
        out = core.act(self._rows, actions, self.np_random)
        dones = out.terminated | out.truncated
        infos: list[dict[str, Any]] = []
        for i in range(n):
            info: dict[str, Any] = {"replaced": int(out.replaced[i])}
            if out.played[i]:
                page = out.page.items()
                info.update({k: (v[i].copy() if v.ndim > 1 else v[i].item()) for k, v in page})
            info["TimeLimit.truncated"] = bool(out.truncated[i] and not out.terminated[i])
            infos.append(info)
        ended = np.flatnonzero(dones)
        if len(ended):
            final = core.observe(ended)
            for j, i in enumerate(ended):
                infos[i]["terminal_observation"] = {k: v[j] for k, v in final.items()}
            core.start(ended, core.draw_users(self.np_random, len(ended)))
        self._masks(infos)
        return core.observe(), out.reward.astype(np.float32), dones, infos

    def action_masks(self) -> np.ndarray:
        """``[n_envs, n_items]`` bool: items neither on the page nor seen (``action="item"``)."""
        return self.core.action_mask()

    def close(self) -> None:
        """Nothing to release."""

    def _indices(self, indices: int | Iterable[int] | None) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: int | Iterable[int] | None = None) -> list[Any]:
        """The attribute of the (shared) environment, once per index; AttributeError if none."""
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(
        self, attr_name: str, value: Any, indices: int | Iterable[int] | None = None
    ) -> None:
        """Set an attribute of the shared environment (every index at once)."""
        if sorted(self._indices(indices)) != list(range(self.num_envs)):
            raise ValueError("the sub-environments share their attributes: set them all at once")
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: int | Iterable[int] | None = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """``"action_masks"``: each sub-environment's mask (no other method is per environment)."""
        rows = self._indices(indices)
        if method_name == "action_masks":
            return list(self.core.action_mask(np.asarray(rows, np.int64)))
        raise AttributeError(
            f"RecSB3VecEnv has no per-environment method {method_name!r}; "
            "call it on the vector environment itself"
        )

    def env_is_wrapped(
        self, wrapper_class: type, indices: int | Iterable[int] | None = None
    ) -> list[bool]:
        """No sub-environment is wrapped (there are no separate ones)."""
        return [False for _ in self._indices(indices)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the shared generator at the next ``reset()`` (``None``: a fresh random seed)."""
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._seeds = [seed, *[None] * (self.num_envs - 1)]
        return self._seeds
