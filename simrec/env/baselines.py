"""Any simrec recommender as an agent of the Gymnasium environment: baselines for RL agents.

:class:`RecommenderAgent` fits a recommender on the world's training interactions and
answers observations the way Stable-Baselines3 models do (``predict(obs) -> (actions,
None)``), so ``stable_baselines3.common.evaluation.evaluate_policy`` scores it beside a
trained agent on the same episodes. It pages through its list as a run does: a session's
pages are consecutive slices of one ranked list (page ``p`` shows ranks ``p·k`` to
``p·k + k - 1``), counted across the sessions of an episode, and with ``action="item"``
it places rank ``offset + slot``. It reads only the observation (the user's index and the
page, session and slot counters), never hidden state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium
import numpy as np

from simrec.core.rng import child_rng
from simrec.env.gym import RecEnv
from simrec.recommenders.base import build_recommender
from simrec.world.build import World

if TYPE_CHECKING:
    from simrec.env.gym_sb3 import RecSB3VecEnv


def simrec_env(env: Any) -> RecEnv | RecSB3VecEnv:
    """The simrec environment under ``env``'s wrappers (Gymnasium's or Stable-Baselines3's).

    Raises:
        TypeError: if ``env`` is neither a :class:`~simrec.env.gym.RecEnv` nor a
            ``RecSB3VecEnv``, wrapped or not.
    """
    kinds: tuple[type, ...] = (RecEnv,)
    try:
        from stable_baselines3.common.vec_env import VecEnv

        from simrec.env.gym_sb3 import RecSB3VecEnv

        kinds = (RecEnv, RecSB3VecEnv)
        if isinstance(env, VecEnv):
            env = env.unwrapped
    except ImportError:  # no Stable-Baselines3: only Gymnasium environments
        pass
    if isinstance(env, gymnasium.Env):
        env = env.unwrapped
    if not isinstance(env, kinds):
        raise TypeError(f"expected a simrec RecEnv or RecSB3VecEnv (wrapped or not), got {type(env).__name__}")
    return env


class RecommenderAgent:
    """A fitted recommender that acts in :class:`~simrec.env.gym.RecEnv` or ``RecSB3VecEnv``.

    Args:
        name: A registered recommender (``simrec list``) or ``"package.module:Class"``.
        env: The environment it acts in: a ``RecEnv`` (wrapped or not) or a ``RecSB3VecEnv``
            (wrapped or not); its world, page size and action option are read from it.
        params: The recommender's constructor parameters.
        seed: Seeds the recommender's generator (its ``rng`` keyword).
    """

    def __init__(self, name: str, env: Any, params: dict[str, Any] | None = None, *, seed: int = 0) -> None:
        base = simrec_env(env)
        world: World = base.world
        self.page_size = base.cfg.environment.page_size
        self.pages = base.cfg.environment.pages_per_session
        self.action = base.core.action
        self.recommender = build_recommender(name, dict(params or {}), child_rng(seed, "baseline"))
        self.recommender.fit(world.train, world.catalog, n_users=world.population.n_users)

    def predict(
        self,
        observation: dict[str, Any],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """Actions for one observation (``RecEnv``) or a batch of them (a vector env).

        Returns:
            ``[k]`` / ``[n, k]`` slates, or ``()`` / ``[n]`` items with ``action="item"``;
            and ``None`` (no recurrent state), as Stable-Baselines3's ``predict`` does.
        """
        del state, episode_start, deterministic  # the same list for the same counters
        users = np.asarray(observation["user"], np.int64)
        single = users.ndim == 0
        users = users.reshape(-1)
        page = np.asarray(observation["page"], np.int64).reshape(-1)
        session = np.asarray(observation["session"], np.int64).reshape(-1)
        offset = (session * self.pages + page) * self.page_size
        depth = int(offset.max()) + self.page_size
        ranked = np.asarray(self.recommender.recommend(users, depth), np.int64)
        if self.action == "item":
            slot = np.asarray(observation["slot"], np.int64).reshape(-1)
            actions = ranked[np.arange(len(users)), offset + slot]
        else:
            cols = offset[:, None] + np.arange(self.page_size)
            actions = np.take_along_axis(ranked, cols, axis=1)
        return (actions[0] if single else actions), None
