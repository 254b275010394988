"""What a :class:`~simrec.io.run_folder.RunFolder` reads from a world and a model.

The io layer sits below the world, social and env layers, so it describes the
few attributes it writes to disk as :class:`typing.Protocol` classes instead of
importing them. :class:`simrec.world.build.World` satisfies :class:`WorldView`
and :class:`simrec.env.model.SimModel` satisfies :class:`ModelView`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd


class FrameView(Protocol):
    """Anything that exports itself as one table (catalog, interactions)."""

    def to_frame(self) -> pd.DataFrame:
        """The table."""
        ...


class PopulationView(Protocol):
    """The population: public profile fields and hidden traits."""

    def public_frame(self) -> pd.DataFrame:
        """Fields a recommender may see."""
        ...

    def hidden_frame(self) -> pd.DataFrame:
        """Hidden traits (``agents.parquet``)."""
        ...


class GraphView(Protocol):
    """The social graph."""

    @property
    def directed(self) -> bool:
        """Follow graph (``True``) or friendship graph."""
        ...

    @property
    def n_edges(self) -> int:
        """Number of ties."""
        ...

    def edges_frame(self) -> pd.DataFrame:
        """One row per tie."""
        ...

    def arcs_frame(self) -> pd.DataFrame:
        """One row per arc, with trust."""
        ...

    def to_networkx(self) -> Any:
        """The graph as a networkx graph."""
        ...


class CalibrationView(Protocol):
    """Fitted choice-model parameters."""

    def to_json(self) -> dict[str, Any]:
        """``calibration.json``'s content."""
        ...


class AttackView(Protocol):
    """A run's attacks (:class:`simrec.world.attacks.AttackPlan`)."""

    @property
    def fake(self) -> FrameView: ...

    def to_json(self) -> dict[str, Any]:
        """``attack.json``'s content."""
        ...


class ProbeView(Protocol):
    """What the attacked and noisy items got, step by step (:class:`simrec.env.probe.Probe`)."""

    def frame(self) -> pd.DataFrame:
        """``robustness.parquet``'s rows so far."""
        ...


class WorldView(Protocol):
    """The parts of a world written at the start of a run."""

    @property
    def population(self) -> PopulationView: ...

    @property
    def catalog(self) -> FrameView: ...

    @property
    def train(self) -> FrameView: ...

    @property
    def heldout(self) -> FrameView: ...

    @property
    def graph(self) -> GraphView: ...

    @property
    def calibration(self) -> CalibrationView | None: ...

    @property
    def attacks(self) -> AttackView | None: ...


class CascadesView(Protocol):
    """Shares and the cascades they form."""

    def __len__(self) -> int:
        """Number of shares."""
        ...

    def table(self) -> pd.DataFrame:
        """One row per cascade (``size``, ``depth``, ...)."""
        ...

    def shares_frame(self) -> pd.DataFrame:
        """One row per share."""
        ...


class SocialView(Protocol):
    """A run's social dynamics."""

    @property
    def graph(self) -> GraphView: ...

    @property
    def cascades(self) -> CascadesView: ...

    @property
    def community(self) -> Mapping[str, float]: ...

    def metrics(self, step: int, final: bool = False) -> Mapping[str, float]:
        """The step's social metrics (``final``: also the end-of-run community detection)."""
        ...


class DataCollectorView(Protocol):
    """Mesa's DataCollector: one metrics row per step."""

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """The rows so far."""
        ...


class ModelView(Protocol):
    """The parts of a running model a run folder writes."""

    @property
    def steps(self) -> int: ...

    @property
    def totals(self) -> Mapping[str, int]: ...

    @property
    def timings(self) -> Mapping[str, float]: ...

    @property
    def social(self) -> SocialView | None: ...

    @property
    def datacollector(self) -> DataCollectorView: ...

    @property
    def probe(self) -> ProbeView | None: ...
