"""Per-user dynamic state (struct of arrays): mood, fatigue, sessions so far."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrec.config.schema import ChoiceParams


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

    def start_sessions(self, activity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Who opens the platform this step: chance = activity, lowered by a bad mood.

        Args:
            activity: ``[n]`` each row's daily chance of a session in a good mood
                (:attr:`Population.activity <simrec.world.population.Population.activity>`).
            rng: The generator to draw from (one draw per row).

        Returns:
            Sorted row indices starting a session.
        """
        mood_factor = np.clip(1.0 + 0.6 * self.satisfaction, 0.2, 1.0)
        p = activity * mood_factor
        return np.nonzero(rng.random(len(p)) < p)[0]

    def recover(self, params: ChoiceParams) -> None:
        """Between steps, part of the fatigue goes away."""
        self.fatigue *= np.float32(1.0 - params.fatigue_recovery)
