"""Mesa agents: thin handles onto the population and state arrays.

Phases work on whole batches of users through the arrays; an agent object is
how a person (or a notebook) looks at one user or item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np

from simrec.world.population import TRAITS

if TYPE_CHECKING:
    from simrec.agents.state import UserState
    from simrec.world.build import World


class SimulationView(Protocol):
    """What a handle reads of its model (:class:`~simrec.env.model.SimModel` is one)."""

    world: World
    state: UserState
    popularity: np.ndarray


class UserAgent(mesa.Agent):
    """One simulated user (index ``index`` into the population arrays)."""

    model: SimulationView

    def __init__(self, model: SimulationView, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @property
    def user_id(self) -> Any:
        """The raw user id from the data."""
        return self.model.world.population.user_ids[self.index]

    @property
    def traits(self) -> dict[str, float]:
        """Activity, conformity, diversity-seeking and patience."""
        pop = self.model.world.population
        return {t: float(getattr(pop, t)[self.index]) for t in TRAITS}

    @property
    def satisfaction(self) -> float:
        """Current mood."""
        return float(self.model.state.satisfaction[self.index])

    @property
    def fatigue(self) -> float:
        """Current fatigue."""
        return float(self.model.state.fatigue[self.index])

    def __repr__(self) -> str:
        return f"UserAgent(index={self.index}, user_id={self.user_id!r})"


class ItemAgent(mesa.Agent):
    """One catalog item (index ``index`` into the catalog arrays)."""

    model: SimulationView

    def __init__(self, model: SimulationView, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @property
    def title(self) -> str:
        """The item's title."""
        return str(self.model.world.catalog.titles[self.index])

    @property
    def popularity(self) -> float:
        """Training plus simulated interaction count (as the platform sees it now)."""
        return float(self.model.popularity[self.index])

    def __repr__(self) -> str:
        return f"ItemAgent(index={self.index}, title={self.title!r})"
