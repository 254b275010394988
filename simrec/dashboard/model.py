"""``DashboardModel``: the Mesa model SolaraViz steps and rebuilds, over a :class:`LiveRun`.

SolaraViz's Reset rebuilds its model as ``type(model)(**model_params)``, so the model
the page shows is built from keyword arguments alone: the :class:`DashboardSession`
(the scenario and where its run folders go; a fixed parameter) plus the seed and the
variant the sidebar sets. Each build starts a fresh :class:`LiveRun` and closes the
one before it (its folder is finished, ``stopped`` when not every step was played).

One :meth:`DashboardModel.step` is one :meth:`SimModel.step` (one simulated day);
``running`` turns false once the scenario's ``run.steps`` are played, which disables
SolaraViz's Step and play buttons.
"""

from __future__ import annotations

import threading
from typing import Any

import mesa

from simrec.config.schema import ScenarioConfig
from simrec.config.variants import variant_configs
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.dashboard.live import LiveRun
from simrec.env.model import SimModel

__all__ = ["DashboardModel", "DashboardSession", "model_params"]


class DashboardSession:
    """What one browser page runs: a scenario, and the one :class:`LiveRun` now live.

    Args:
        cfg: The scenario; its run folders go to ``cfg.run.output_dir`` (a new folder per
            build: ``<name>``, ``<name>-2``, ...; a variant's go into ``<output_dir>/<scenario>/``).
    """

    def __init__(self, cfg: ScenarioConfig) -> None:
        self.cfg = cfg
        self.live: LiveRun | None = None
        self._lock = threading.Lock()

    @property
    def variants(self) -> tuple[str, ...]:
        """The scenario's variants, in its order (empty: none)."""
        return tuple(self.cfg.variants)

    def configure(self, seed: int, variant: str | None = None) -> ScenarioConfig:
        """The scenario of one build: ``cfg`` with ``seed`` and, if it has variants, one of them.

        Raises:
            ConfigError: ``variant`` is not one of :attr:`variants` (or is given for a
                scenario without variants).
        """
        cfg = self.cfg.model_copy(update={"seed": int(seed)})
        if not self.variants:
            if variant is not None:
                raise ConfigError(f"Scenario '{cfg.name}' has no variants; leave the variant out.")
            return cfg
        name = self.variants[0] if variant is None else variant
        if name not in self.variants:
            raise ConfigError(f"Scenario '{cfg.name}' has no variant '{name}'; it has {', '.join(self.variants)}.")
        return variant_configs(cfg)[name]

    def start(self, seed: int, variant: str | None = None) -> LiveRun:
        """Close the live run, if any, and start a new one with ``seed`` (and ``variant``)."""
        cfg = self.configure(seed, variant)
        with self._lock:
            self.close_live()
            self.live = LiveRun.start(cfg)
            return self.live

    def close_live(self) -> None:
        """Close the live run (its folder is finished), if any."""
        if self.live is not None:
            self.live.close()
            self.live = None

    def close(self) -> None:
        """Close the live run (the page went away)."""
        with self._lock:
            self.close_live()


class DashboardModel(mesa.Model):
    """The model the dashboard shows: one :class:`LiveRun` of the session's scenario.

    Args:
        session: The page's session (scenario, output folder; closes the previous run).
        seed: Root seed of the run (default: the scenario's).
        variant: The scenario variant to run (default: its first), for scenarios with variants.

    Attributes:
        live: The run (folder, parts, the :class:`~simrec.env.model.SimModel`).
    """

    def __init__(self, session: DashboardSession, seed: int | None = None, variant: str | None = None) -> None:
        seed = session.cfg.seed if seed is None else int(seed)
        super().__init__(rng=child_rng(seed, "dashboard"))
        self.session = session
        self.live = session.start(seed, variant)
        self.running = not self.live.finished

    @property
    def sim(self) -> SimModel:
        """The simulation model (one step: one simulated day)."""
        return self.live.model

    @property
    def datacollector(self) -> mesa.DataCollector:
        """The simulation's DataCollector (one row of metrics per step), for Mesa's plots."""
        return self.live.model.datacollector

    def step(self) -> None:
        """Play one simulated day (a no-op once the run is finished)."""
        self.live.step()
        self.running = not self.live.finished


def model_params(session: DashboardSession, variant: str | None = None) -> dict[str, Any]:
    """SolaraViz's ``model_params``: the fixed session; the seed and variant the sidebar sets
    (``variant``: the one selected at first, default the scenario's first)."""
    cfg = session.cfg
    seed = {"type": "SliderInt", "value": cfg.seed, "min": 0, "max": max(100, cfg.seed), "step": 1,
            "label": "Seed (Reset applies it)"}  # fmt: skip
    params: dict[str, Any] = {"session": session, "seed": seed}
    if session.variants:
        params["variant"] = {"type": "Select", "value": variant or session.variants[0],
                             "values": list(session.variants), "label": "Variant (Reset applies it)"}  # fmt: skip
    return params
