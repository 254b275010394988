"""``RunFolder``: every file a run writes, in the order it writes them.

A run folder (``<output_dir>/<run name>/``, never clobbered, see
:func:`~simrec.io.manifest.fresh_folder`) holds::

    manifest.json            written first (status running), rewritten by finish()
    users.parquet agents.parquet items.parquet train.parquet heldout.parquet
    graph/edges-initial.parquet  calibration.json (calibrated agents only)
    events.parquet/          the event log, in parts (written by the event sink)
    metrics.parquet          rewritten after every step
    graph/edges-step-NNNN.parquet  every social.metrics.snapshot_every steps
    graph/edges-final.parquet graph/final.graphml cascades.parquet shares.parquet
    llm_usage.parquet item_profiles.parquet texts.parquet  (when used)
    report.html

Every file is written atomically, so whatever happens to the run, what was
written stays readable. The folder reads the world and the model through the
protocols of :mod:`simrec.io.run_views` (this layer imports neither).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simrec.config.schema import ScenarioConfig
from simrec.io.graphml import write_graphml
from simrec.io.manifest import (
    fresh_folder,
    write_columns_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from simrec.io.manifest_model import Manifest, Status, now, observed_status, this_process
from simrec.io.run_views import ModelView, WorldView

log = logging.getLogger(__name__)


class RunFolder:
    """A run's folder and its :class:`~simrec.io.manifest_model.Manifest`.

    Attributes:
        path: The folder.
        manifest: The manifest as last written (or about to be).
    """

    def __init__(self, path: Path, manifest: Manifest, cfg: ScenarioConfig) -> None:
        """Wrap an existing folder; use :meth:`create` to start a run."""
        self.path = Path(path)
        self.manifest = manifest
        self._metrics = cfg.environment.social.metrics
        self._report = cfg.run.report

    @classmethod
    def create(cls, cfg: ScenarioConfig) -> RunFolder:
        """Make the run folder of ``cfg`` and write its first manifest (status ``running``).

        The folder is ``<run.output_dir>/<run name>``, or the first free ``-2``,
        ``-3``, ... sibling; ``run.overwrite`` replaces an earlier run instead.

        Raises:
            ConfigError: with ``run.overwrite``, if the folder exists and is not a simrec folder.
        """
        path = fresh_folder(Path(cfg.run.output_dir), cfg.run_name, cfg.run.overwrite)
        manifest = Manifest.start(
            "run", path.name, seed=cfg.seed, scenario=cfg.model_dump(mode="json"), process=this_process(),
            steps_completed=0,
        )  # fmt: skip
        folder = cls(path, manifest, cfg)
        folder.save()
        return folder

    @classmethod
    def reopen(cls, path: Path, manifest: Manifest, cfg: ScenarioConfig, from_step: int) -> RunFolder:
        """Take over the folder of an earlier run to resume it from ``from_step`` steps.

        The manifest records the resume (``resumes``: when, from which step, the status
        the run had) and is ``running`` again, under this process.
        """
        previous = observed_status(manifest)
        resumes = list(manifest.resumes or [])
        resumes.append({"at": now(), "from_step": from_step, "previous_status": previous,
                        "steps_completed_before": manifest.steps_completed})  # fmt: skip
        manifest.status = "running"
        manifest.finished_at = None
        manifest.error = None
        manifest.stop_reason = None
        manifest.report_error = None
        manifest.resumes = resumes
        manifest.process = this_process()
        manifest.steps_completed = from_step
        folder = cls(path, manifest, cfg)
        folder.save()
        return folder

    @property
    def name(self) -> str:
        """The folder's name (the run's name in events and stores)."""
        return self.path.name

    def save(self) -> None:
        """Write :attr:`manifest` to ``manifest.json``."""
        self.manifest.write(self.path / "manifest.json")

    def write_world(self, world: WorldView) -> None:
        """Users (public fields), agents (hidden traits), items, real interactions, graph and
        calibration."""
        p = self.path
        write_parquet_atomic(world.population.public_frame(), p / "users.parquet")
        write_parquet_atomic(world.population.hidden_frame(), p / "agents.parquet")
        write_parquet_atomic(world.catalog.to_frame(), p / "items.parquet")
        for name, table in (("train", world.train), ("heldout", world.heldout)):  # no frame copy of millions of rows
            write_columns_atomic({c: getattr(table, c) for c in ("user", "item", "rating", "timestamp")}, p / f"{name}.parquet")
        write_parquet_atomic(world.graph.edges_frame(), p / "graph" / "edges-initial.parquet")
        if world.calibration is not None:
            write_json_atomic(p / "calibration.json", world.calibration.to_json())
        if getattr(world, "attacks", None) is not None:  # robustness: the attacked items, and the fake profiles apart from train
            write_json_atomic(p / "attack.json", world.attacks.to_json())
            if len(world.attacks.fake):
                write_parquet_atomic(world.attacks.fake.to_frame(), p / "attack.parquet")

    def write_step(self, model: ModelView, steps_done: int, events_rows: int) -> None:
        """After a step: ``metrics.parquet``; a graph snapshot every ``snapshot_every`` steps; the
        manifest's ``steps_completed`` (the steps whose files are all on disk)."""
        write_parquet_atomic(
            model.datacollector.get_model_vars_dataframe(), self.path / "metrics.parquet"
        )
        if getattr(model, "probe", None) is not None:
            write_parquet_atomic(model.probe.frame(), self.path / "robustness.parquet")
        every = self._metrics.snapshot_every
        if model.social is not None and every and model.steps % every == 0:
            name = f"edges-step-{model.steps:04d}.parquet"
            write_parquet_atomic(model.social.graph.arcs_frame(), self.path / "graph" / name)
        self.manifest.steps_completed = steps_done
        self.manifest.events_rows = events_rows
        self.save()

    def note_checkpoint(self, step: int, file: Path, seconds: float, every: int) -> None:
        """Record the newest checkpoint in the manifest (``checkpoint``)."""
        self.manifest.checkpoint = {"step": step, "file": f"{file.parent.name}/{file.name}", "every": every,
                                    "bytes": file.stat().st_size, "write_s": round(seconds, 4)}  # fmt: skip
        self.save()

    def note_no_checkpoints(self, why: str) -> None:
        """Record why this run writes no checkpoints."""
        self.manifest.checkpoint = {"off": why}
        self.save()

    def write_social(self, model: ModelView) -> dict[str, Any]:
        """Final graph (Parquet, GraphML), shares and cascades; returns the social summary."""
        social = model.social
        if social is None:
            raise ValueError("write_social needs a model with social dynamics")
        if self._metrics.community_every == 0 and model.steps:
            social.metrics(model.steps, final=True)  # community detection once, at the end
        graph = social.graph
        write_parquet_atomic(graph.arcs_frame(), self.path / "graph" / "edges-final.parquet")
        if self._metrics.graphml:  # nodes carry users.parquet's public fields
            users_path = self.path / "users.parquet"
            users = pd.read_parquet(users_path) if users_path.is_file() else None
            write_graphml(graph.to_networkx(), users, self.path / "graph" / "final.graphml")
        cascades = social.cascades.table()
        write_parquet_atomic(cascades, self.path / "cascades.parquet")
        write_parquet_atomic(social.cascades.shares_frame(), self.path / "shares.parquet")
        summary: dict[str, Any] = {
            "directed": graph.directed,
            "edges_final": graph.n_edges,
            "shares": len(social.cascades),
            "cascades": len(cascades),
            "cascade_max_size": int(cascades["size"].max()) if len(cascades) else 0,
            "cascade_max_depth": int(cascades["depth"].max()) if len(cascades) else 0,
        }
        summary.update(
            {k: model.totals.get(k, 0) for k in ("follows", "unfollows", "social_impressions")}
        )
        summary.update({k: round(float(v), 4) for k, v in social.community.items()})
        return summary

    def write_llm_usage(
        self, summary: Mapping[str, Any], per_agent: Mapping[str, Mapping[str, float]]
    ) -> None:
        """Note the LLM's use in the manifest (``llm``) and write ``llm_usage.parquet``.

        Args:
            summary: Backend, target and usage totals.
            per_agent: Usage counters per agent id (nothing is written when empty).
        """
        self.manifest.llm = dict(summary)
        if per_agent:
            frame = pd.DataFrame.from_dict(dict(per_agent), orient="index")
            write_parquet_atomic(
                frame.rename_axis("agent").reset_index(), self.path / "llm_usage.parquet"
            )

    def write_item_profiles(self, history: pd.DataFrame) -> None:
        """Write the item agents' profile history (``item_profiles.parquet``)."""
        write_parquet_atomic(history, self.path / "item_profiles.parquet")

    def finish(
        self,
        status: Status,
        *,
        timings: Mapping[str, float],
        model: ModelView | None = None,
        phases: Sequence[str] = (),
        events_rows: int = 0,
        error: str | None = None,
        stop_reason: str | None = None,
        steps_done: int | None = None,
    ) -> Manifest:
        """Write the final social files, the final manifest and (``run.report``) ``report.html``.

        Args:
            status: How the run ended.
            timings: Seconds per part of the run (``timings_s``).
            model: The model, if it was built (its totals, step count and phase timings).
            phases: The model's phases, in order (``phase_timings_s`` lists each).
            events_rows: Rows the event sink wrote.
            error: What went wrong, for failed and interrupted runs.
            stop_reason: Why a run stopped early (an exhausted LLM budget).
            steps_done: Steps whose files are all on disk (``steps_completed``).

        Returns:
            The final manifest. A report that cannot be written is noted in it
            (``report_error``), never raised.
        """
        fields: dict[str, Any] = {
            "error": error or None,
            "stop_reason": stop_reason or None,
            "timings_s": {k: round(v, 4) for k, v in timings.items()},
        }
        if model is not None:
            if model.social is not None:
                fields["social"] = self.write_social(model)
            fields["phase_timings_s"] = {p: round(model.timings.get(p, 0.0), 4) for p in phases}
            fields["totals"] = dict(model.totals)
            fields["events_rows"] = events_rows
        if steps_done is not None:
            fields["steps_completed"] = steps_done
        self.manifest.finish(status, **fields)
        self.save()
        if self._report:
            self._write_report()
        return self.manifest

    def _write_report(self) -> None:
        """Write report.html; a failure is logged and noted in the manifest, never fatal."""
        from simrec.io.report import write_run_report

        try:
            write_run_report(self.path)
        except Exception as exc:  # the run's data is written; a report problem must not hide it
            log.warning("could not write report.html for %s: %s", self.path, exc)
            self.manifest.report_error = f"{type(exc).__name__}: {exc}"
            self.save()
