"""Checkpoints of a running :class:`~simrec.env.model.SimModel`, and restoring one to resume.

A checkpoint holds everything the next step depends on by pickling the model
whole: per-user state arrays, every random generator (numpy's and Mesa's), the
fitted recommender and its update state, the social graph with inboxes and
cascades, item profiles, the agents' minds, the metrics so far. What lives
outside the process is not pickled but referenced by name (pickle's persistent
ids): the event and text sinks, the LLM backend, the ChromaDB memory stores and the
progress callback. Their *positions* are recorded instead: which event and text
parts were on disk, how many memories each store held, and the LLM usage and
budget counters. Every buffer is flushed first, so the positions are on disk.

Resuming (:func:`truncate_to` then :func:`restore`) deletes what was written after
the checkpoint (later event and text parts, graph snapshots, memories), opens the
resources afresh and unpickles the model onto them. The resumed run then plays
the same steps with the same generators, so it writes what the uninterrupted run
would have written.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simrec.core.errors import DataError
from simrec.env.event_log import ITEM_STEPS_DIRNAME
from simrec.env.history import HISTORY_NAME
from simrec.env.history import RECORD as HISTORY_RECORD
from simrec.io.checkpoints import CheckpointFile, checkpoint_dir, load_latest, write_checkpoint
from simrec.io.events import EVENTS_DIRNAME, list_parts
from simrec.io.records import RecordLog
from simrec.social.cascades import CASCADE_RECORD, LOG_FILES, SHARE_RECORD

if TYPE_CHECKING:
    from simrec.env.model import SimModel

#: Resources a checkpoint references by name instead of pickling. A ChromaDB store is one;
#: an in-process store is pickled, all but its embedder (``<store>_embedder``).
RESOURCES = (
    "sink", "texts", "history", "shares", "cascades", "llm", "on_page", "memory_store", "item_store", "memory_store_embedder", "item_store_embedder",
    "shards",
)  # fmt: skip
STORES = ("memory_store", "item_store")
#: The model's record logs: file in ``checkpoints/`` and record type, by resource name.
LOGS: dict[str, tuple[str, np.dtype]] = {
    "history": (HISTORY_NAME, HISTORY_RECORD),
    "shares": (LOG_FILES["shares"], SHARE_RECORD),
    "cascades": (LOG_FILES["cascades"], CASCADE_RECORD),
}
_GRAPH_SNAPSHOT = "edges-step-"


@dataclass(frozen=True)
class Positions:
    """Where the run's outside state stood at a checkpoint.

    Attributes:
        step: Steps completed.
        event_parts: Names of the event part files on disk.
        events_rows: Event rows written.
        text_parts: Names of the text part files on disk.
        store_seqs: Memories in each ChromaDB store (``memory_store``, ``item_store``).
        log_rows: Records in each of the model's record logs (see :data:`LOGS`).
    """

    step: int
    event_parts: tuple[str, ...] = ()
    events_rows: int = 0
    text_parts: tuple[str, ...] = ()
    store_seqs: dict[str, int] = field(default_factory=dict)
    log_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Restored:
    """A model restored from a checkpoint, and what was used."""

    model: SimModel
    positions: Positions
    file: CheckpointFile
    skipped: list[str]


def resources(model: SimModel) -> dict[str, Any]:
    """The model's outside resources, by name (those it has)."""
    found: dict[str, Any] = {"sink": model.sink, "texts": model.texts, "llm": model.llm, "on_page": model.on_page,
                             "shards": getattr(model, "pool", None)}  # a sharded run's workers (Ray actors)
    for name, log in model.record_logs().items():
        if log.path is not None:  # an anonymous log is pickled with its rows
            found[name] = log
    for name, store in stores(model).items():
        if is_chroma(store):
            found[name] = store
        else:
            found[f"{name}_embedder"] = store.embedder
    return {k: v for k, v in found.items() if v is not None}


def stores(model: SimModel) -> dict[str, Any]:
    """The model's memory stores, by name (those it has)."""
    found = {
        "memory_store": model.mind.store if model.mind is not None else None,
        "item_store": getattr(model.items, "store", None) if model.items is not None else None,
    }
    return {k: v for k, v in found.items() if v is not None}


def is_chroma(store: Any) -> bool:
    """Whether ``store`` keeps its memories in ChromaDB (outside the process)."""
    return hasattr(store, "collection") and hasattr(store, "truncate")


def not_checkpointable(model: SimModel) -> str | None:
    """Why ``model`` cannot be checkpointed (``None`` when it can)."""
    for name, store in stores(model).items():
        if not hasattr(store, "mirror") or not hasattr(store, "embedder"):
            return f"its {name.replace('_', ' ')} ({type(store).__name__}) does not say how far it got"
        if is_chroma(store) and getattr(store, "path", None) is None:
            return (
                "its memories live in an in-process ChromaDB that a crash loses "
                "(agents.memory.persistent: false); set agents.memory.persistent: true to checkpoint"
            )
    return None


def _store_seq(store: Any) -> int:
    """How many memories ``store`` holds (its next insertion number), all written."""
    store.flush()
    return int(store.mirror.next_seq)


def _part_names(folder: Path) -> tuple[str, ...]:
    return tuple(p.name for p in list_parts(folder)) if folder.is_dir() else ()


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, named: Mapping[str, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = {id(obj): name for name, obj in named.items()}

    def persistent_id(self, obj: Any) -> str | None:
        return self._names.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, named: Mapping[str, Any]) -> None:
        super().__init__(file)
        self._named = named

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self._named[pid]
        except KeyError:
            raise DataError(
                f"The checkpoint refers to the run's {pid!r}, which the resumed run did not open."
            ) from None


def save_checkpoint(model: SimModel, run_dir: Path, steps_done: int, keep: int = 2) -> CheckpointFile:
    """Flush every buffer and write the checkpoint of ``steps_done`` steps.

    Raises:
        DataError: ``model`` cannot be checkpointed (see :func:`not_checkpointable`).
    """
    if (why := not_checkpointable(model)) is not None:
        raise DataError(f"This run cannot be checkpointed: {why}.")
    named = resources(model)
    if model.sink is not None:
        model.sink.flush()
    if getattr(model, "pool", None) is not None:  # a sharded run: each shard writes its buffered events
        model.pool.flush()  # type: ignore[attr-defined]
    if model.texts is not None:
        model.texts.flush()
    for log in model.record_logs().values():
        log.sync()
    run_dir = Path(run_dir)
    positions = Positions(
        step=steps_done,
        event_parts=_part_names(run_dir / EVENTS_DIRNAME),
        events_rows=model.sink.rows_written if model.sink is not None else 0,
        text_parts=_part_names(run_dir / "texts.parquet"),
        store_seqs={n: _store_seq(s) for n, s in stores(model).items() if is_chroma(s)},
        log_rows={name: len(log) for name, log in model.record_logs().items() if log.path is not None},
    )
    buf = io.BytesIO()
    llm = model.llm
    _Pickler(buf, named).dump({"model": model, "usage": llm.usage if llm is not None else None})
    payload = pickle.dumps({"positions": positions, "model": buf.getvalue()}, protocol=pickle.HIGHEST_PROTOCOL)
    return write_checkpoint(run_dir, steps_done, payload, keep)


def latest(run_dir: Path) -> tuple[CheckpointFile, Positions, bytes, list[str]]:
    """The newest readable checkpoint: its file, positions, the model's pickle, files skipped."""

    def unpack(payload: bytes) -> tuple[Positions, bytes]:
        outer = pickle.loads(payload)
        if not isinstance(outer, dict) or not isinstance(outer.get("positions"), Positions):
            raise DataError("not a simrec model checkpoint")
        return outer["positions"], outer["model"]

    ck, (positions, blob), skipped = load_latest(Path(run_dir), unpack)
    return ck, positions, blob, skipped


def truncate_to(run_dir: Path, positions: Positions) -> dict[str, int]:
    """Delete what the run wrote after ``positions``: event and text parts, graph snapshots.

    Returns:
        How many files of each kind were removed.
    """
    run_dir = Path(run_dir)
    removed = {"event_parts": 0, "text_parts": 0, "graph_snapshots": 0, "temporary": 0}
    for folder, keep, key in (
        (run_dir / EVENTS_DIRNAME, set(positions.event_parts), "event_parts"),
        (run_dir / "texts.parquet", set(positions.text_parts), "text_parts"),
    ):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith("."):  # a write the crash cut short
                p.unlink(missing_ok=True)
                removed["temporary"] += 1
            elif p.name not in keep and p.suffix == ".parquet":
                p.unlink(missing_ok=True)
                removed[key] += 1
    for p in checkpoint_dir(run_dir).glob(".*"):  # a checkpoint write the crash cut short
        p.unlink(missing_ok=True)
        removed["temporary"] += 1
    item_steps = run_dir / ITEM_STEPS_DIRNAME  # run.log: aggregates, one part per step
    if item_steps.is_dir():
        for p in item_steps.glob("step-*.parquet"):
            digits = p.stem.removeprefix("step-")
            if digits.isdigit() and int(digits) > positions.step:
                p.unlink(missing_ok=True)
                removed["item_step_parts"] = removed.get("item_step_parts", 0) + 1
    graph = run_dir / "graph"
    if graph.is_dir():
        for p in graph.glob(f"{_GRAPH_SNAPSHOT}*.parquet"):
            digits = p.stem.removeprefix(_GRAPH_SNAPSHOT)
            if digits.isdigit() and int(digits) > positions.step:
                p.unlink(missing_ok=True)
                removed["graph_snapshots"] += 1
    return removed


def open_logs(run_dir: Path, positions: Positions) -> dict[str, RecordLog]:
    """The record logs of a resumed run, cut back to what ``positions`` recorded."""
    folder = checkpoint_dir(Path(run_dir))
    return {name: RecordLog(folder / LOGS[name][0], LOGS[name][1], rows) for name, rows in positions.log_rows.items()}


def restore(blob: bytes, named: Mapping[str, Any], positions: Positions) -> SimModel:
    """Unpickle the model of a checkpoint onto freshly opened resources.

    ``named`` holds the resources the checkpoint references (see :data:`RESOURCES`);
    stores must already be truncated to ``positions.store_seqs``. The LLM backend
    gets the usage and budget counters of the checkpoint.
    """
    inner = _Unpickler(io.BytesIO(blob), {"on_page": None, **named}).load()
    model = inner["model"]
    if inner["usage"] is not None and model.llm is not None:
        model.llm.usage = inner["usage"]
    for name, seq in positions.store_seqs.items():
        store = named.get(name)
        have = int(store.mirror.next_seq) if store is not None else -1
        if have != seq:
            raise DataError(
                f"The run's {name.replace('_', ' ')} holds {have} memories after truncation, "
                f"not the {seq} the checkpoint recorded; it was changed outside the run."
            )
    return model
