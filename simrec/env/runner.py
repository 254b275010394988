"""Run a scenario end to end: world → recommender → SimModel steps → files.

Everything is written under ``<output_dir>/<run name>/`` by a
:class:`~simrec.io.run_folder.RunFolder` (see docs/architecture.md). The manifest is
written first (status ``running``) and rewritten at the end (``completed``,
``stopped``, ``failed`` or ``interrupted``); events are flushed in parts as the
run goes, so whatever happens, what was written stays readable.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from simrec.agents.policies.base import (
    DECISION_SOURCES,
    build_policy,
    policy_uses_llm,
    policy_uses_mind,
)
from simrec.attacks.plan import attack_world
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import DataError
from simrec.core.memory import release_free_memory
from simrec.core.rng import child_rng
from simrec.core.streams import streams_for
from simrec.data.types import Interactions
from simrec.env.model import PHASES, SimModel
from simrec.env.preflight import preflight
from simrec.env.training import TrainingFeed
from simrec.fidelity.calibrate import calibrate_world
from simrec.io.adapters import resolve_llm, resolve_weight
from simrec.io.checkpoints import checkpoint_dir
from simrec.io.events import EventSink
from simrec.io.manifest import fresh_folder
from simrec.io.manifest_model import Manifest, Status, VariantEntry, observed_status
from simrec.io.run_folder import RunFolder
from simrec.recommenders.base import build_recommender, recommender_uses_llm
from simrec.world.build import World, build_world

if TYPE_CHECKING:
    from simrec.agents.items import ItemProfiles
    from simrec.agents.mind import Mind
    from simrec.env.checkpoint import Positions
    from simrec.io.texts import TextSink
    from simrec.llm.base import BaseBackend

log = logging.getLogger(__name__)


@dataclass
class StepInfo:
    """Progress of a run after a step (for progress bars)."""

    step: int
    steps: int
    sessions: int
    events: int
    elapsed: float
    #: Within a step (LLM-driven runs): the page just played, users still browsing, LLM calls so far.
    page: int | None = None
    browsing: int = 0
    llm_calls: int = 0


@dataclass
class RunResult:
    """What a finished run produced."""

    run_dir: Path
    metrics: pd.DataFrame
    totals: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None
    variants: dict[str, RunResult] = field(default_factory=dict)


def run_scenario(
    cfg: ScenarioConfig, progress: Callable[[StepInfo], None] | None = None
) -> RunResult:
    """Run ``cfg`` and write its run folder.

    Every ``run.checkpoint_every`` steps a checkpoint is written
    (:mod:`simrec.env.checkpoint`); :func:`resume_scenario` continues a run that
    crashed or was interrupted from its last one.

    Args:
        cfg: The validated scenario.
        progress: Called after each step with a :class:`StepInfo`.

    Returns:
        The run folder, the per-step metrics and totals.
    """
    start = time.perf_counter()
    if cfg.variants:  # each variant's own run checks its world
        preflight(cfg, worlds=False)
        return run_variants(cfg, progress)
    checked = preflight(cfg)  # what validate rejects, before anything is written (it builds the world)
    llm = open_llm(cfg)  # fails before anything is written if the LLM cannot serve
    folder = RunFolder.create(cfg)
    if checked.world is not None:  # the scale the data resolved to (the scenario may say "auto")
        folder.manifest.rating_scale = checked.world.dataset.scale.describe()
        folder.save()
    parts = Parts()
    timings: dict[str, float] = {"preflight": time.perf_counter() - start}
    return _drive(cfg, folder, llm, parts, timings,
                  lambda: build_parts(cfg, folder, llm, parts, timings, checked.world), progress, start)  # fmt: skip


def resume_scenario(run_dir: Path, progress: Callable[[StepInfo], None] | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its last checkpoint (``simrec run --resume``).

    What the run wrote after that checkpoint (event and text parts, graph
    snapshots, memories) is deleted first; the run then plays the remaining steps
    exactly as an uninterrupted run would have, and the manifest records the resume.

    Raises:
        DataError: ``run_dir`` is not a run folder, its run completed or still runs,
            or it holds no readable checkpoint.
    """
    from simrec.env import checkpoint as ck

    start = time.perf_counter()
    run_dir = Path(run_dir)
    manifest = Manifest.read(run_dir)
    status = observed_status(manifest)
    if manifest.kind != "run":
        raise DataError(f"{run_dir} is a {manifest.kind} folder; --resume continues a single run's folder.")
    if status in ("completed", "stopped"):
        raise DataError(f"The run in {run_dir} is {status}; there is nothing to resume.")
    if status == "running":
        raise DataError(
            f"The run in {run_dir} is still running (process {manifest.process}); stop it before resuming."
            if manifest.process else f"{run_dir}'s manifest says running but names no process; it cannot be resumed."
        )  # fmt: skip
    try:
        cfg = ScenarioConfig.model_validate(manifest.scenario)
    except ValidationError as exc:
        raise DataError(f"{run_dir}/manifest.json holds a scenario this simrec cannot read: {exc}") from exc
    file, positions, blob, skipped = ck.latest(run_dir)
    llm = open_llm(cfg)
    folder = RunFolder.reopen(run_dir, manifest, cfg, positions.step)
    parts = Parts()
    timings: dict[str, float] = {}

    def build() -> SimModel:
        removed = ck.truncate_to(run_dir, positions)
        named = reopen_parts(cfg, folder, llm, parts, positions)
        parts.model = ck.restore(blob, named, positions)
        parts.mind, parts.items = parts.model.mind, parts.model.items
        log.info("resumed %s from %s (removed %s; skipped %s)", run_dir, file.path.name, removed, skipped)
        return parts.model

    return _drive(cfg, folder, llm, parts, timings, build, progress, start)


def _drive(
    cfg: ScenarioConfig,
    folder: RunFolder,
    llm: BaseBackend | None,
    parts: Parts,
    timings: dict[str, float],
    build: Callable[[], SimModel],
    progress: Callable[[StepInfo], None] | None,
    start: float,
) -> RunResult:
    """Build (or restore) the model, play the steps left, write checkpoints, finish the folder."""
    from simrec.env import checkpoint as ck

    status: Status = "failed"
    error: str | None = None
    stop_reason: str | None = None
    done = 0
    try:
        model = build()
        done = first = model.steps
        every = cfg.run.checkpoint_every
        why_not = ck.not_checkpointable(model) if every else "run.checkpoint_every is 0"
        if why_not is not None:
            folder.note_no_checkpoints(why_not)
        t = time.perf_counter()
        if progress is not None and llm is not None:
            def on_page(step: int, page: int, browsing: int) -> None:
                calls = int(llm.usage.counters["calls"])
                progress(StepInfo(step - 1, cfg.run.steps, 0, int(model.totals["events"]), time.perf_counter() - t,
                                  page, browsing, calls))  # fmt: skip

            model.on_page = on_page
        while done < cfg.run.steps:
            if llm is not None and (stop_reason := llm.usage.exhausted()):
                log.warning("stopping before step %d: %s", done + 1, stop_reason)
                break
            model.step()
            folder.write_step(model, done + 1, parts.events_rows)
            done += 1
            if why_not is None and done % every == 0 and done < cfg.run.steps:
                t_ck = time.perf_counter()
                written = ck.save_checkpoint(model, folder.path, done, cfg.run.checkpoint_keep)
                folder.note_checkpoint(done, written.path, time.perf_counter() - t_ck, every)
                timings["checkpoint"] = timings.get("checkpoint", 0.0) + time.perf_counter() - t_ck
            t_free = time.perf_counter()
            release_free_memory()  # what the step freed goes back to the system: memory stays flat
            timings["release_memory"] = timings.get("release_memory", 0.0) + time.perf_counter() - t_free
            if progress is not None:
                progress(step_info(model, cfg.run.steps, time.perf_counter() - t))
        timings["simulate"] = time.perf_counter() - t
        if first:
            timings["resumed_from_step"] = float(first)
        parts.close(folder)
        export(cfg, folder.path, timings)
        status = "completed" if stop_reason is None else "stopped"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        parts.close(folder)
        close_llm(cfg, llm, folder)
        timings["total"] = time.perf_counter() - start
        folder.finish(
            status,
            timings=timings,
            model=parts.model,
            phases=PHASES,
            events_rows=parts.events_rows,
            error=error,
            stop_reason=stop_reason,
            steps_done=done,
        )
    metrics = model.datacollector.get_model_vars_dataframe()
    return RunResult(folder.path, metrics, dict(model.totals), timings, stop_reason)


@dataclass
class Parts:
    """What a run opens; :meth:`close` closes whatever was opened, however far the build got."""

    model: SimModel | None = None
    sink: EventSink | None = None
    mind: Mind | None = None
    items: ItemProfiles | None = None
    texts: TextSink | None = None
    #: Record logs a resumed run opened before its model was restored.
    logs: dict[str, Any] = field(default_factory=dict)
    #: Stores a resumed run opened before its model was restored (closed with the minds).
    stores: list[Any] = field(default_factory=list)

    @property
    def events_rows(self) -> int:
        """Event rows written so far."""
        if self.sink is not None:
            return self.sink.rows_written
        return int(self.model.totals["events"]) if self.model is not None else 0  # a sharded run's shards wrote them

    def close(self, folder: RunFolder) -> None:
        """Close the sinks and stores (again: a no-op); write the item profiles' history once."""
        if self.sink is not None:
            self.sink.close()
        if self.texts is not None:
            self.texts.close()
            self.texts = None
        if self.model is not None:
            self.model.close_logs()
        for log in self.logs.values():
            log.close()
        if self.mind is not None:
            self.mind.close()
            self.mind = None
        if self.items is not None:
            folder.write_item_profiles(self.items.history_frame())
            self.items.close()
            self.items = None
        for store in self.stores:
            store.close()
        self.stores.clear()


def open_llm(cfg: ScenarioConfig) -> BaseBackend | None:
    """The LLM backend, health-checked, if the policy or the recommender uses one; else ``None``."""
    if not (policy_uses_llm(cfg.policy) or recommender_uses_llm(cfg.recommender.name)):
        return None
    from simrec.llm.factory import build_backend

    llm = build_backend(resolve_llm(cfg), cfg.seed, Path(cfg.run.output_dir))
    if cfg.llm.health_check:
        llm.health_check()
    return llm


def build_parts(
    cfg: ScenarioConfig,
    folder: RunFolder,
    llm: BaseBackend | None,
    parts: Parts,
    timings: dict[str, float],
    world: World | None = None,
) -> SimModel:
    """World (written to ``folder``), fitted recommender, minds, policy, event sink and the model.

    Each opened part is kept in ``parts`` as soon as it exists, so a failure
    half-way still closes it.
    """
    t = time.perf_counter()
    world = attack_world(cfg, calibrate_world(cfg, build_world(cfg) if world is None else world))
    folder.write_world(world)
    timings["build_world"] = time.perf_counter() - t

    t = time.perf_counter()
    rec = cfg.recommender
    recommender = build_recommender(rec.name, rec.params, child_rng(cfg.seed, "recommender"), llm)
    feed = TrainingFeed.for_run(cfg, world)  # real training data, and the robustness block's fake profiles and filters
    recommender.fit(feed.data(Interactions.empty(), 0), world.catalog, n_users=feed.n_users)
    timings["fit_recommender"] = time.perf_counter() - t

    if policy_uses_mind(cfg.policy):
        open_minds(cfg, world, folder, parts)
    streams = streams_for(cfg.seed, "policy") if cfg.run.random_streams == "per_user" else None
    policy = build_policy(
        resolve_weight(cfg).policy, world, child_rng(cfg.seed, "policy"), llm, parts.mind, parts.items, streams
    )
    if cfg.run.shards:  # the users' pages on shard workers (Ray actors), which write the events
        from simrec.env.shards import ShardedModel

        parts.model = ShardedModel(world, cfg, recommender, policy, state_dir=checkpoint_dir(folder.path),
                                   run_dir=folder.path)  # fmt: skip
        return parts.model
    parts.sink = EventSink(
        folder.path / "events.parquet", folder.name, DECISION_SOURCES, cfg.run.chunk_rows
    )
    parts.model = SimModel(
        world,
        cfg,
        recommender,
        policy,
        parts.sink,
        llm=llm,
        mind=parts.mind,
        items=parts.items,
        texts=parts.texts,
        state_dir=checkpoint_dir(folder.path),
        feed=feed,
    )
    return parts.model


def open_minds(cfg: ScenarioConfig, world: World, folder: RunFolder, parts: Parts) -> None:
    """Agent minds (personas, memory), item agents (``agents.item_profiles``) and the text sink."""
    from simrec.agents.items import ItemProfiles
    from simrec.agents.mind import Mind, build_store
    from simrec.io.texts import TextSink

    memory = cfg.agents.memory
    parts.mind = Mind(memory, world, build_store(memory, folder.path, folder.name, cfg.llm))
    if cfg.agents.item_profiles:
        store = build_store(memory, folder.path, f"{folder.name}-items", cfg.llm)
        parts.items = ItemProfiles(world.catalog, store)
    parts.texts = TextSink(folder.path / "texts.parquet")


def reopen_parts(
    cfg: ScenarioConfig, folder: RunFolder, llm: BaseBackend | None, parts: Parts, positions: Positions
) -> dict[str, Any]:
    """Open a resumed run's resources (sinks, stores truncated to ``positions``), by checkpoint name."""
    from simrec.agents.mind import build_store
    from simrec.env import checkpoint as ck
    from simrec.io.texts import TextSink

    named: dict[str, Any] = {"llm": llm}
    if cfg.run.shards:  # the shards write the events: a new pool, whose workers append to their parts
        from simrec.env.shards import ShardPool

        named["shards"] = ShardPool(cfg, folder.path, resume=True)
    else:
        parts.sink = EventSink(
            folder.path / "events.parquet", folder.name, DECISION_SOURCES, cfg.run.chunk_rows, resume=True
        )
        parts.sink.rows_written = positions.events_rows
        named["sink"] = parts.sink
    parts.logs = ck.open_logs(folder.path, positions)
    named.update(parts.logs)
    if policy_uses_mind(cfg.policy):
        memory = cfg.agents.memory
        parts.texts = named["texts"] = TextSink(folder.path / "texts.parquet")
        collections = {"memory_store": folder.name, "item_store": f"{folder.name}-items"}
        if not cfg.agents.item_profiles:
            del collections["item_store"]
        for key, collection in collections.items():
            store = build_store(memory, folder.path, collection, cfg.llm)
            if ck.is_chroma(store):
                store.truncate(positions.store_seqs.get(key, 0))
                named[key] = store
            else:
                named[f"{key}_embedder"] = store.embedder
                store.close()
            parts.stores.append(store)
    return {k: v for k, v in named.items() if v is not None}


def step_info(model: SimModel, steps: int, elapsed: float) -> StepInfo:
    """The progress report after ``model``'s latest step."""
    sessions, events = int(model.step_metrics["sessions"]), int(model.totals["events"])
    return StepInfo(model.steps, steps, sessions, events, elapsed)


def export(cfg: ScenarioConfig, run_dir: Path, timings: dict[str, float]) -> None:
    """Write the ``run.export`` formats of the event log."""
    if not cfg.run.export:
        return
    from simrec.io.export import export_run

    t = time.perf_counter()
    export_run(run_dir, cfg.run.export, note_incomplete=False)
    timings["export"] = time.perf_counter() - t


def close_llm(cfg: ScenarioConfig, llm: BaseBackend | None, folder: RunFolder) -> None:
    """Note the LLM's usage in the run folder and close the backend."""
    if llm is None:
        return
    summary = {"backend": cfg.llm.backend, "target": llm.describe(), "adapter": resolve_llm(cfg).adapter,
               "llm_weight": resolve_weight(cfg).policy.llm.llm_weight, **llm.usage.summary()}  # fmt: skip
    folder.write_llm_usage(summary, llm.usage.per_agent)
    llm.close()


def run_variants(
    cfg: ScenarioConfig, progress: Callable[[StepInfo], None] | None = None
) -> RunResult:
    """Run every variant of ``cfg`` into ``<run folder>/<variant>/``; compare them in report.html.

    The parent folder's manifest lists the variants and their status; its
    ``comparison.parquet`` stacks their metrics with a ``variant`` column.
    Progress steps count across variants (variant ``i``'s step ``s`` is ``i × steps + s``).
    """
    from simrec.config.variants import variant_configs
    from simrec.io.report import write_comparison_report

    parent = fresh_folder(Path(cfg.run.output_dir), cfg.run_name, cfg.run.overwrite)
    configs = variant_configs(cfg, parent)
    manifest = Manifest.start(
        "variants", parent.name, seed=cfg.seed, scenario=cfg.model_dump(mode="json"), variants={}
    )
    manifest.write(parent / "manifest.json")
    results: dict[str, RunResult] = {}
    entries: dict[str, VariantEntry] = {}
    steps, total = cfg.run.steps, cfg.run.steps * len(configs)
    status: Status = "failed"
    try:
        for i, (name, child) in enumerate(configs.items()):

            def shifted(info: StepInfo, offset: int = i * steps) -> None:
                if progress is not None:
                    progress(dataclasses.replace(info, step=offset + info.step, steps=total))

            results[name] = run_scenario(child, progress=shifted)
            entries[name] = VariantEntry(run_dir=results[name].run_dir.name, status="completed")
            manifest.variants = entries
            manifest.write(parent / "manifest.json")
        write_comparison_report(
            parent, {n: r.run_dir for n, r in results.items()}, title=f"{cfg.name}: variants"
        )
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        manifest.finish(status).write(parent / "manifest.json")
    totals: dict[str, int] = {}
    for r in results.values():
        for k, v in r.totals.items():
            totals[k] = totals.get(k, 0) + v
    timings = {"simulate": sum(r.timings.get("simulate", 0.0) for r in results.values())}
    return RunResult(
        parent, pd.read_parquet(parent / "comparison.parquet"), totals, timings, None, results
    )
