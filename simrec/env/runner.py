"""Run a scenario end to end: world → recommender → SimModel steps → files.

Everything is written under ``<output_dir>/<run name>/`` (see DESIGN.md §1). The
manifest is written first (status ``running``) and rewritten at the end
(``completed``, ``failed`` or ``interrupted``); events are flushed in parts as
the run goes, so whatever happens, what was written stays readable.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simrec.agents.policies.base import (
    DECISION_SOURCES,
    build_policy,
    policy_uses_llm,
    policy_uses_mind,
)
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.env.model import PHASES, SimModel
from simrec.io.events import EventSink
from simrec.io.manifest import (
    atomic_path,
    git_revision,
    package_versions,
    write_json_atomic,
    write_parquet_atomic,
)
from simrec.recommenders.base import build_recommender, recommender_uses_llm
from simrec.world.build import World, build_world

log = logging.getLogger(__name__)


@dataclass
class StepInfo:
    """Progress of a run after a step (for progress bars)."""

    step: int
    steps: int
    sessions: int
    events: int
    elapsed: float


@dataclass
class RunResult:
    """What a finished run produced."""

    run_dir: Path
    metrics: pd.DataFrame
    totals: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None
    variants: dict[str, RunResult] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def prepare_run_dir(cfg: ScenarioConfig) -> Path:
    """Create the run folder without clobbering an earlier run.

    An existing folder is replaced only with ``run.overwrite``; otherwise the
    new run goes to the first free ``<name>-2``, ``<name>-3``, ... folder.
    """
    base = Path(cfg.run.output_dir)
    run_dir = base / cfg.run_name
    if run_dir.exists() and any(run_dir.iterdir()):
        if cfg.run.overwrite:
            if not (run_dir / "manifest.json").is_file():
                raise ConfigError(
                    f"{run_dir} exists and is not a simrec run folder (no manifest.json); "
                    "refusing to delete it. Choose another run.name or output_dir."
                )
            shutil.rmtree(run_dir)
        else:
            n = 2
            while (base / f"{cfg.run_name}-{n}").exists():
                n += 1
            run_dir = base / f"{cfg.run_name}-{n}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def write_world(world: World, run_dir: Path) -> None:
    """Write users (public fields), agents (hidden traits), items, real interactions, graph, calibration."""
    write_parquet_atomic(world.population.public_frame(), run_dir / "users.parquet")
    write_parquet_atomic(world.population.hidden_frame(), run_dir / "agents.parquet")
    write_parquet_atomic(world.catalog.to_frame(), run_dir / "items.parquet")
    write_parquet_atomic(world.train.to_frame(), run_dir / "train.parquet")
    write_parquet_atomic(world.heldout.to_frame(), run_dir / "heldout.parquet")
    (run_dir / "graph").mkdir(exist_ok=True)
    write_parquet_atomic(world.graph.edges_frame(), run_dir / "graph" / "edges-initial.parquet")
    if world.calibration is not None:
        write_json_atomic(run_dir / "calibration.json", world.calibration.to_json())


def write_social(model: SimModel, run_dir: Path, cfg: ScenarioConfig) -> dict[str, Any]:
    """Final graph (Parquet, GraphML), shares and cascades; returns the manifest's social summary."""
    social = model.social
    assert social is not None
    if cfg.environment.social.metrics.community_every == 0 and model.steps:
        social.metrics(model.steps, final=True)  # community detection once, at the end
    graph = social.graph
    write_parquet_atomic(graph.arcs_frame(), run_dir / "graph" / "edges-final.parquet")
    if cfg.environment.social.metrics.graphml:
        import networkx as nx

        with atomic_path(run_dir / "graph" / "final.graphml") as tmp:
            nx.write_graphml(graph.to_networkx(), tmp)
    cascades = social.cascades.table()
    write_parquet_atomic(cascades, run_dir / "cascades.parquet")
    write_parquet_atomic(social.cascades.shares_frame(), run_dir / "shares.parquet")
    summary: dict[str, Any] = {
        "directed": graph.directed,
        "edges_final": graph.n_edges,
        "shares": len(social.cascades),
        "cascades": len(cascades),
        "cascade_max_size": int(cascades["size"].max()) if len(cascades) else 0,
        "cascade_max_depth": int(cascades["depth"].max()) if len(cascades) else 0,
    }
    summary.update({k: model.totals.get(k, 0) for k in ("follows", "unfollows", "social_impressions")})
    summary.update({k: round(float(v), 4) for k, v in social.community.items()})
    return summary


def _report(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write report.html; a failure is logged and noted in the manifest, never fatal to the run."""
    from simrec.io.report import write_run_report

    try:
        write_run_report(run_dir)
    except Exception as exc:  # the run's data is written; a report problem must not hide it
        log.warning("could not write report.html for %s: %s", run_dir, exc)
        manifest["report_error"] = f"{type(exc).__name__}: {exc}"
        write_json_atomic(run_dir / "manifest.json", manifest)


def run_scenario(
    cfg: ScenarioConfig,
    progress: Callable[[StepInfo], None] | None = None,
) -> RunResult:
    """Run ``cfg`` and write its run folder.

    Args:
        cfg: The validated scenario.
        progress: Called after each step with a :class:`StepInfo`.

    Returns:
        The run folder, the per-step metrics and totals.
    """
    if cfg.variants:
        return run_variants(cfg, progress)
    start = time.perf_counter()
    llm = None
    if policy_uses_llm(cfg.policy) or recommender_uses_llm(cfg.recommender.name):
        from simrec.llm.factory import build_backend

        # Fail before anything is written if the LLM cannot serve.
        llm = build_backend(cfg.llm, cfg.seed, Path(cfg.run.output_dir))
        if cfg.llm.health_check:
            llm.health_check()
    run_dir = prepare_run_dir(cfg)
    manifest: dict[str, Any] = {
        "simrec_run": 1,
        "name": run_dir.name,
        "status": "running",
        "seed": cfg.seed,
        "started_at": _now(),
        "scenario": cfg.model_dump(mode="json"),
        "versions": package_versions(),
        "git": git_revision(),
    }
    write_json_atomic(run_dir / "manifest.json", manifest)
    timings: dict[str, float] = {}
    model: SimModel | None = None
    sink: EventSink | None = None
    mind = items = texts = None
    status, error, stop_reason = "failed", None, None
    try:
        t = time.perf_counter()
        world = build_world(cfg)
        write_world(world, run_dir)
        timings["build_world"] = time.perf_counter() - t

        t = time.perf_counter()
        rec_cfg = cfg.recommender
        recommender = build_recommender(rec_cfg.name, rec_cfg.params, child_rng(cfg.seed, "recommender"), llm)
        recommender.fit(world.train, world.catalog, n_users=world.population.n_users)
        timings["fit_recommender"] = time.perf_counter() - t

        if policy_uses_mind(cfg.policy):
            from simrec.agents.items import ItemProfiles
            from simrec.agents.mind import Mind, build_store
            from simrec.io.texts import TextSink

            mind = Mind(cfg.agents.memory, world, build_store(cfg.agents.memory, run_dir, run_dir.name, cfg.llm))
            items = (
                ItemProfiles(world.catalog, build_store(cfg.agents.memory, run_dir, f"{run_dir.name}-items", cfg.llm))
                if cfg.agents.item_profiles
                else None
            )
            texts = TextSink(run_dir / "texts.parquet")
        policy = build_policy(cfg.policy, world, child_rng(cfg.seed, "policy"), llm, mind, items)
        sink = EventSink(run_dir / "events.parquet", run_dir.name, DECISION_SOURCES, cfg.run.chunk_rows)
        model = SimModel(world, cfg, recommender, policy, sink, llm=llm, mind=mind, items=items, texts=texts)
        t = time.perf_counter()
        for _ in range(cfg.run.steps):
            if llm is not None and (stop_reason := llm.usage.exhausted()):
                log.warning("stopping before step %d: %s", model.steps + 1, stop_reason)
                break
            model.step()
            write_parquet_atomic(model.datacollector.get_model_vars_dataframe(), run_dir / "metrics.parquet")
            every = cfg.environment.social.metrics.snapshot_every
            if model.social is not None and every and model.steps % every == 0:
                write_parquet_atomic(world.graph.arcs_frame(), run_dir / "graph" / f"edges-step-{model.steps:04d}.parquet")
            if progress is not None:
                progress(
                    StepInfo(model.steps, cfg.run.steps, int(model.step_metrics["sessions"]),
                             int(model.totals["events"]), time.perf_counter() - t)  # fmt: skip
                )
        timings["simulate"] = time.perf_counter() - t
        sink.close()
        if cfg.run.export:
            from simrec.io.export import export_run

            t = time.perf_counter()
            export_run(run_dir, cfg.run.export)
            timings["export"] = time.perf_counter() - t
        status = "completed" if stop_reason is None else "stopped"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if sink is not None:
            sink.close()
        if texts is not None:
            texts.close()
        if mind is not None:
            mind.close()
        if items is not None:
            write_parquet_atomic(items.history_frame(), run_dir / "item_profiles.parquet")
            items.close()
        manifest["status"] = status
        manifest["finished_at"] = _now()
        if error:
            manifest["error"] = error
        if stop_reason:
            manifest["stop_reason"] = stop_reason
        if llm is not None:
            manifest["llm"] = {"backend": cfg.llm.backend, "target": llm.describe(), **llm.usage.summary()}
            if llm.usage.per_agent:
                per_agent = pd.DataFrame.from_dict(llm.usage.per_agent, orient="index")
                write_parquet_atomic(per_agent.rename_axis("agent").reset_index(), run_dir / "llm_usage.parquet")
            llm.close()
        timings["total"] = time.perf_counter() - start
        manifest["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
        if model is not None and model.social is not None:
            manifest["social"] = write_social(model, run_dir, cfg)
        if model is not None:
            manifest["phase_timings_s"] = {p: round(model.timings.get(p, 0.0), 4) for p in PHASES}
            manifest["totals"] = dict(model.totals)
            manifest["steps_completed"] = model.steps
            manifest["events_rows"] = sink.rows_written if sink is not None else 0
        write_json_atomic(run_dir / "manifest.json", manifest)
        if cfg.run.report:
            _report(run_dir, manifest)
    metrics = model.datacollector.get_model_vars_dataframe() if model is not None else pd.DataFrame()
    return RunResult(run_dir, metrics, dict(model.totals) if model else {}, timings, stop_reason)


def run_variants(cfg: ScenarioConfig, progress: Callable[[StepInfo], None] | None = None) -> RunResult:
    """Run every variant of ``cfg`` into ``<run folder>/<variant>/`` and compare them in report.html.

    The parent folder's manifest lists the variants and their status; its
    ``comparison.parquet`` stacks their metrics with a ``variant`` column.
    Progress steps count across variants (variant ``i``'s step ``s`` is ``i × steps + s``).
    """
    from simrec.config.variants import variant_configs
    from simrec.io.report import write_comparison_report

    parent = prepare_run_dir(cfg)
    configs = variant_configs(cfg, parent)
    manifest: dict[str, Any] = {
        "simrec_run": 1, "kind": "variants", "name": parent.name, "status": "running", "seed": cfg.seed,
        "started_at": _now(), "scenario": cfg.model_dump(mode="json"), "variants": {},
        "versions": package_versions(), "git": git_revision(),
    }  # fmt: skip
    write_json_atomic(parent / "manifest.json", manifest)
    results: dict[str, RunResult] = {}
    steps = cfg.run.steps
    status = "failed"
    try:
        for i, (name, child) in enumerate(configs.items()):
            def shifted(info: StepInfo, i: int = i) -> None:
                if progress is not None:
                    progress(StepInfo(i * steps + info.step, steps * len(configs), info.sessions, info.events, info.elapsed))

            results[name] = run_scenario(child, progress=shifted)
            manifest["variants"][name] = {"run_dir": results[name].run_dir.name, "status": "completed"}
            write_json_atomic(parent / "manifest.json", manifest)
        write_comparison_report(parent, {n: r.run_dir for n, r in results.items()}, title=f"{cfg.name}: variants")
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        manifest["status"] = status
        manifest["finished_at"] = _now()
        write_json_atomic(parent / "manifest.json", manifest)
    metrics = pd.read_parquet(parent / "comparison.parquet")
    totals: dict[str, int] = {}
    for r in results.values():
        for k, v in r.totals.items():
            totals[k] = totals.get(k, 0) + v
    timings = {"simulate": sum(r.timings.get("simulate", 0.0) for r in results.values())}
    return RunResult(parent, metrics, totals, timings, None, results)
