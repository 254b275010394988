"""Per-user dynamic state (struct of arrays): mood, fatigue, sessions so far."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simrec.config.schema import ChoiceParams

if TYPE_CHECKING:
    from simrec.core.streams import UserStreams


@dataclass
class UserState:
    """What changes about users while the simulation runs.

    Attributes:
        satisfaction: Current mood in roughly ``[-1, 1]`` (0 neutral); carries over sessions.
        fatigue: Tiredness (0 rested); grows per page and watch, recovers between steps.
        sessions: Sessions started so far.
        pages: Pages viewed so far.
        last_step: Last step the user had a session (-1 never).
    """

    satisfaction: np.ndarray
    fatigue: np.ndarray
    sessions: np.ndarray
    pages: np.ndarray
    last_step: np.ndarray

    @classmethod
    def initial(cls, n_users: int) -> UserState:
        """Everyone neutral and rested."""
        return cls(
            satisfaction=np.zeros(n_users, np.float32),
            fatigue=np.zeros(n_users, np.float32),
            sessions=np.zeros(n_users, np.int32),
            pages=np.zeros(n_users, np.int32),
            last_step=np.full(n_users, -1, np.int32),
        )

    def start_sessions(
        self,
        activity: np.ndarray,
        rng: np.random.Generator | None = None,
        *,
        streams: UserStreams | None = None,
        step: int | None = None,
        users: np.ndarray | None = None,
    ) -> np.ndarray:
        """Who opens the platform this step: chance = activity, lowered by a bad mood.

        Args:
            activity: ``[n]`` each row's daily chance of a session in a good mood
                (:attr:`Population.activity <simrec.world.population.Population.activity>`).
            rng: The generator to draw from (one draw per row, in row order); not drawn from
                when ``streams`` is given.
            streams: Per-user streams: each row's coin is keyed by (user, ``step``) instead, so
                a user's arrival does not depend on the other rows.
            step: The step the coins are drawn at (needed with ``streams``).
            users: ``[n]`` the user id of each row, for ``streams`` (default: the row index).

        Returns:
            Sorted row indices starting a session.
        """
        mood_factor = np.clip(1.0 + 0.6 * self.satisfaction, 0.2, 1.0)
        p = activity * mood_factor
        if streams is None:
            if rng is None:
                raise ValueError("start_sessions draws from rng or streams: pass one")
            coin = rng.random(len(p))
        else:
            if step is None:
                raise ValueError("start_sessions with streams needs the step the coins are drawn at")
            ids = np.arange(len(p)) if users is None else np.asarray(users)
            if ids.shape != p.shape:
                raise ValueError(f"users must have one id per row ({p.shape}), got shape {ids.shape}")
            coin = streams.uniform(ids, step, 0, "arrive")
        return np.nonzero(coin < p)[0]

    def recover(self, params: ChoiceParams) -> None:
        """Between steps, part of the fatigue goes away."""
        self.fatigue *= np.float32(1.0 - params.fatigue_recovery)
