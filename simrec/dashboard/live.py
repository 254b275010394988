"""``LiveRun``: one dashboard run, a real run folder stepped one simulated day at a time.

It opens what :func:`~simrec.env.runner.run_scenario` opens (preflight, LLM backend,
:class:`~simrec.io.run_folder.RunFolder`, world, recommender, policy, sinks) and
writes what a run writes after each step (``metrics.parquet``, the manifest), so a
dashboard run's folder reads like any other. Steps come one call at a time, from the
browser; :meth:`LiveRun.close` finishes the folder (``completed`` when every
``run.steps`` step was played, else ``stopped``).

An :class:`EventTap` stands in for the model's event sink: it passes every batch on
to the real sink and keeps what the dashboard shows (the last steps' events, the
impressions per item).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from simrec.config.schema import ScenarioConfig
from simrec.env.model import PHASES, SimModel
from simrec.env.preflight import preflight
from simrec.env.runner import Parts, build_parts, close_llm, open_llm
from simrec.io.events import EVENT_CODE, EventBatch, EventSink
from simrec.io.manifest_model import Status
from simrec.io.run_folder import RunFolder
from simrec.social.metrics import gini

if TYPE_CHECKING:
    from simrec.llm.base import BaseBackend

__all__ = ["EventTap", "LiveRun"]

#: Steps of events the dashboard keeps in memory (the user panel's "recent events").
KEEP_STEPS = 3


class EventTap:
    """The model's event sink as the dashboard sees it: every batch goes on to ``sink``.

    Args:
        sink: The run's real event sink.
        n_items: Catalog size (the length of :attr:`exposure`).
        keep_steps: How many steps of events :attr:`recent` keeps.

    Attributes:
        recent: The batches of the last ``keep_steps`` steps (the model appends a step's events in blocks).
        exposure: ``[n_items]`` impressions of each item so far.
    """

    def __init__(self, sink: EventSink, n_items: int, keep_steps: int = KEEP_STEPS) -> None:
        self.sink = sink
        self.keep_steps = keep_steps
        self.recent: deque[EventBatch] = deque()
        self.exposure = np.zeros(n_items, np.int64)

    @property
    def chunk_rows(self) -> int:
        """The sink's part size (the model builds its blocks of events at most this big)."""
        return self.sink.chunk_rows

    def append(self, batch: EventBatch) -> None:
        """Pass ``batch`` on to the sink; keep it and count its impressions."""
        self.sink.append(batch)
        if not len(batch):
            return
        self.recent.append(batch)
        while len({int(b.step[0]) for b in self.recent}) > self.keep_steps:  # a block holds one step's rows
            self.recent.popleft()
        shown = batch.item[batch.event == EVENT_CODE["impression"]]
        self.exposure += np.bincount(shown, minlength=len(self.exposure))

    def events_of(self, user: int) -> EventBatch:
        """The kept events of ``user``, oldest first."""
        batches = tuple(self.recent)  # a copy: a step running beside a redraw appends to the deque
        kept = [EventBatch(**{f.name: getattr(b, f.name)[b.user == user] for f in fields(b)}) for b in batches]
        return EventBatch.concat(kept)


@dataclass(eq=False)
class LiveRun:
    """A run the dashboard steps; build it with :meth:`start`, end it with :meth:`close`.

    Attributes:
        cfg: The run's scenario (one variant's, for a scenario with variants).
        folder: The run folder (under ``cfg.run.output_dir``).
        parts: What the run opened (sinks, minds), closed by :meth:`close`.
        llm: The LLM backend, if the policy or the recommender uses one.
        model: The Mesa model.
        tap: The events the dashboard shows.
        exposure_gini: After each step, the Gini of all impressions so far over the catalog.
        stop_reason: Why the run cannot go on before ``run.steps`` (an exhausted LLM budget).
    """

    cfg: ScenarioConfig
    folder: RunFolder
    parts: Parts
    llm: BaseBackend | None
    model: SimModel
    tap: EventTap
    timings: dict[str, float] = field(default_factory=dict)
    exposure_gini: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, cfg: ScenarioConfig) -> LiveRun:
        """Check ``cfg``, open its parts and build the model (no step played yet).

        Raises:
            ConfigError: ``cfg`` names something that does not resolve.
            DataError: its data cannot be read.
        """
        t = time.perf_counter()
        checked = preflight(cfg)
        llm = open_llm(cfg)
        try:
            folder = RunFolder.create(cfg)
        except BaseException:
            close_llm_quietly(llm)
            raise
        if checked.world is not None:
            folder.manifest.rating_scale = checked.world.dataset.scale.describe()
        folder.note_no_checkpoints("dashboard runs write no checkpoints")
        parts = Parts()
        timings: dict[str, float] = {"preflight": time.perf_counter() - t}
        try:
            model = build_parts(cfg, folder, llm, parts, timings, checked.world)
        except BaseException as exc:
            parts.close(folder)
            close_llm(cfg, llm, folder)
            folder.finish("failed", timings=timings, error=f"{type(exc).__name__}: {exc}", steps_done=0)
            raise
        assert parts.sink is not None
        tap = EventTap(parts.sink, model.world.catalog.n_items)
        model.sink = tap  # type: ignore[assignment]  # the tap passes every batch on to the sink
        timings["simulate"] = 0.0
        return cls(cfg, folder, parts, llm, model, tap, timings)

    @property
    def steps(self) -> int:
        """Steps played so far."""
        return int(self.model.steps)

    @property
    def finished(self) -> bool:
        """Whether the run can take no more steps (``run.steps`` played, stopped, or closed)."""
        return self.closed or self.stop_reason is not None or self.steps >= self.cfg.run.steps

    def step(self) -> None:
        """Play one step (one simulated day) and write its files; a no-op once :attr:`finished`."""
        with self._lock:
            if self.finished:
                return
            if self.llm is not None and (reason := self.llm.usage.exhausted()):
                self.stop_reason = reason
                return
            t = time.perf_counter()
            self.model.step()
            self.folder.write_step(self.model, self.steps, self.parts.events_rows)
            self.exposure_gini.append(gini(self.tap.exposure))
            self.timings["simulate"] += time.perf_counter() - t

    def close(self) -> None:
        """Close the sinks, stores and LLM; finish the folder's manifest (a second call: no-op)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            done, total = self.steps, self.cfg.run.steps
            status: Status = "completed" if done >= total and self.stop_reason is None else "stopped"
            reason = self.stop_reason
            if status == "stopped" and reason is None:
                reason = f"the dashboard stopped after {done} of {total} steps"
            try:
                self.parts.close(self.folder)
            finally:
                close_llm(self.cfg, self.llm, self.folder)
                self.folder.finish(
                    status, timings=self.timings, model=self.model, phases=PHASES,
                    events_rows=self.parts.events_rows, stop_reason=reason, steps_done=done,
                )  # fmt: skip


def close_llm_quietly(llm: BaseBackend | None) -> None:
    """Close ``llm`` (when a run could not even make its folder)."""
    if llm is not None:
        llm.close()
