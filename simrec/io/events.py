"""The event log of a run: a typed batch of events and a chunked Parquet sink.

A run's events live in ``runs/<name>/events.parquet/``, a folder of part files
``part-00000.parquet``, ``part-00001.parquet``, ... that read as one table with
``pandas.read_parquet(folder)`` or :func:`read_events`. The sink writes a part
whenever ``chunk_rows`` events are buffered, so a crash loses at most the
events still in memory. Each part goes through a temporary dot-file and
:func:`os.replace`, so no reader ever sees a partial part.

The categorical columns (``run``, ``event``, ``policy``, ``via``) are dictionary
encoded with the *full* fixed vocabulary in every part: parts concatenate without
re-mapping codes, and the same events always give byte-identical files.

``value`` is null where an event has no value (every row but ratings and exits), so
SQL engines count and average only real values; pandas and numpy read those nulls as
``NaN``, which is what parts written before nulls (``NaN`` stored as a float) read as too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simrec.core.errors import ConfigError, DataError
from simrec.io.manifest import atomic_path

logger = logging.getLogger(__name__)

#: Event types, in code order: ``EventBatch.event`` holds indices into this tuple.
EVENT_TYPES: tuple[str, ...] = ("impression", "click", "skip", "rating", "exit", "share")
#: Code of each event type, e.g. ``EVENT_CODE["click"] == 1``.
EVENT_CODE: dict[str, int] = {name: code for code, name in enumerate(EVENT_TYPES)}
#: How an item reached the page, in code order (``EventBatch.via``).
VIA_TYPES: tuple[str, ...] = ("recommender", "social")

#: Schema of the event table; columns in this order.
EVENT_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("run", pa.dictionary(pa.int32(), pa.string())),
        pa.field("step", pa.int32()),
        pa.field("session", pa.int64()),
        pa.field("page", pa.int16()),
        pa.field("position", pa.int16()),
        pa.field("user", pa.int32()),
        pa.field("item", pa.int32()),
        pa.field("event", pa.dictionary(pa.int8(), pa.string())),
        pa.field("value", pa.float32()),
        pa.field("policy", pa.dictionary(pa.int8(), pa.string())),
        pa.field("timestamp", pa.int64()),
        pa.field("via", pa.dictionary(pa.int8(), pa.string())),
    ]
)

EVENTS_DIRNAME = "events.parquet"
#: ``part-00012.parquet`` (one writer) or ``part-s003-00012.parquet`` (shard 3 of a sharded run).
_PART_RE = re.compile(r"^part-(?:s(\d+)-)?(\d+)\.parquet$")
#: Columns whose Parquet pages are dictionary-encoded (the categorical ones; the rest are plain,
#: which writes faster and, for these columns, no larger) and columns that keep min/max statistics
#: (what engines such as DuckDB filter on).
_DICTIONARY_COLUMNS = ["run", "event", "policy", "via"]
_STATISTICS_COLUMNS = ["step", "session", "user", "item"]

_DTYPES: dict[str, type[np.generic]] = {
    "step": np.int32,
    "session": np.int64,
    "page": np.int16,
    "position": np.int16,
    "user": np.int32,
    "item": np.int32,
    "event": np.int8,
    "value": np.float32,
    "policy": np.int8,
    "timestamp": np.int64,
    "via": np.int8,
}


@dataclass(eq=False)
class EventBatch:
    """Events as parallel numpy arrays (struct of arrays), one entry per event.

    Arrays are converted to the schema's dtypes on construction (no copy when
    they already match). Exit rows use ``position == -1`` and ``item == -1``.

    Attributes:
        step: ``int32`` simulation step.
        session: ``int64`` session id.
        page: ``int16`` page number within the session.
        position: ``int16`` slot on the page; ``-1`` for exit rows.
        user: ``int32`` user index.
        item: ``int32`` item index; ``-1`` for exit rows.
        event: ``int8`` codes into :data:`EVENT_TYPES`.
        value: ``float32`` stars for ``"rating"`` rows, 1/0 for ``"exit"`` rows (left /
            ran out of pages), ``NaN`` otherwise (written to Parquet as null).
        policy: ``int8`` codes into the sink's policy vocabulary.
        timestamp: ``int64`` simulated seconds.
        via: ``int8`` codes into :data:`VIA_TYPES`: ``social`` for the item of a
            friend's share in the social slot (default: all ``recommender``).
    """

    step: np.ndarray
    session: np.ndarray
    page: np.ndarray
    position: np.ndarray
    user: np.ndarray
    item: np.ndarray
    event: np.ndarray
    value: np.ndarray
    policy: np.ndarray
    timestamp: np.ndarray
    via: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.via is None:
            self.via = np.zeros(len(self.step), np.int8)
        n = None
        for name, dtype in _DTYPES.items():
            arr = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            if arr.ndim != 1:
                raise ValueError(f"EventBatch.{name} must be 1-D, got shape {arr.shape}")
            if n is None:
                n = len(arr)
            elif len(arr) != n:
                raise ValueError(f"EventBatch.{name} has {len(arr)} rows, step has {n}")
            setattr(self, name, arr)

    def __len__(self) -> int:
        return len(self.step)

    @classmethod
    def empty(cls) -> EventBatch:
        """A batch with no events."""
        return cls(**{name: np.empty(0, dtype) for name, dtype in _DTYPES.items()})

    @classmethod
    def concat(cls, batches: Sequence[EventBatch]) -> EventBatch:
        """Concatenate batches, in order."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        names = [f.name for f in fields(cls)]
        return cls(**{n: np.concatenate([getattr(b, n) for b in batches]) for n in names})

    def slice(self, start: int, stop: int) -> EventBatch:
        """Rows ``start:stop`` (views, no copy)."""
        return EventBatch(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})

    def copy(self) -> EventBatch:
        """The same rows in arrays of their own (a slice's copy frees the arrays it viewed)."""
        return EventBatch(**{f.name: getattr(self, f.name).copy() for f in fields(self)})


def _codec_available(codec: str) -> bool:
    try:
        return bool(pa.Codec.is_available(codec))
    except ValueError:  # a name pyarrow does not know at all
        return False


def _part_key(path: Path) -> tuple[int, int] | None:
    """``(shard, number)`` of a part file (shard ``-1`` for a run written by one sink), else ``None``."""
    match = _PART_RE.match(path.name)
    if not match:
        return None
    return (-1 if match.group(1) is None else int(match.group(1)), int(match.group(2)))


def _part_number(path: Path) -> int | None:
    key = _part_key(path)
    return None if key is None else key[1]


def shard_prefix(shard: int | None) -> str:
    """The file-name prefix of a sink's parts: ``part-`` or, for shard ``s``, ``part-s{s:03d}-``."""
    return "part-" if shard is None else f"part-s{int(shard):03d}-"


def list_parts(directory: Path) -> list[Path]:
    """Part files of an events folder, in write order (by part number; a sharded run's shard by shard).

    Temporary files of an unfinished write are not listed.
    """
    parts = [(key, p) for p in Path(directory).iterdir() if (key := _part_key(p)) is not None]
    return [p for _, p in sorted(parts)]


class EventSink:
    """Buffers event batches and writes them as numbered Parquet parts.

    Use it as a context manager, or call :meth:`close` at the end; leaving the
    block on an exception still writes the buffered events. A sink never
    overwrites parts already in its folder.

    Args:
        directory: The events folder, normally ``runs/<name>/events.parquet``;
            created if missing.
        run: Run name, stored in the ``run`` column.
        policies: Policy-name vocabulary; ``EventBatch.policy`` codes index it.
        chunk_rows: Rows per part: a part is written as soon as this many
            rows are buffered, and every part but the last holds exactly this many.
        compression: Parquet codec (``"zstd"``, ``"snappy"``, ``"none"``, ...).
        resume: Append parts after those already in ``directory`` instead of
            refusing to open a folder that holds parts.
        shard: The shard this sink writes for in a sharded run (its parts are named
            ``part-s{shard:03d}-NNNNN.parquet``, see :func:`list_parts`); ``None``: the only writer.

    Raises:
        ConfigError: Bad vocabulary, chunk size or codec, or ``directory``
            already holds parts and ``resume`` is false.
    """

    def __init__(
        self,
        directory: Path,
        run: str,
        policies: Sequence[str],
        chunk_rows: int = 250_000,
        compression: str = "zstd",
        *,
        resume: bool = False,
        shard: int | None = None,
    ) -> None:
        policies = [str(p) for p in policies]
        if not policies or len(set(policies)) != len(policies) or len(policies) > 127:
            raise ConfigError(
                f"Event sink policies must be 1 to 127 distinct names, got {policies!r}. "
                "Give each policy of the scenario a unique name."
            )
        if int(chunk_rows) < 1:
            raise ConfigError(f"chunk_rows must be at least 1, got {chunk_rows}.")
        codec = "none" if compression in (None, "", "uncompressed") else str(compression).lower()
        if codec != "none" and not _codec_available(codec):
            raise ConfigError(
                f"Parquet compression {compression!r} is not available in this pyarrow; "
                "use 'zstd', 'snappy', 'gzip', 'lz4' or 'none'."
            )
        self.directory = Path(directory)
        self.run = str(run)
        self.policies: tuple[str, ...] = tuple(policies)
        self.chunk_rows = int(chunk_rows)
        self.compression = codec
        self.rows_written = 0
        self._parts: list[Path] = []
        self._buffer: list[EventBatch] = []
        self._buffered = 0
        self._closed = False

        self.prefix = shard_prefix(shard)
        self.directory.mkdir(parents=True, exist_ok=True)
        mine = -1 if shard is None else int(shard)
        existing = [p for p in list_parts(self.directory) if _part_key(p) is not None and _part_key(p)[0] == mine]  # type: ignore[index]
        if existing and not resume:
            raise ConfigError(
                f"The events folder {self.directory} already holds {len(existing)} part file(s) "
                "from an earlier run; simrec will not overwrite them. Choose a new run name, "
                "delete that folder, or open the sink with resume=True to append."
            )
        self._next_part = (_part_number(existing[-1]) + 1) if existing else 0

        self._run_dict = pa.array([self.run], pa.string())
        self._event_dict = pa.array(EVENT_TYPES, pa.string())
        self._policy_dict = pa.array(self.policies, pa.string())
        self._via_dict = pa.array(VIA_TYPES, pa.string())

    @property
    def parts(self) -> list[Path]:
        """Part files this sink has written, in order."""
        return list(self._parts)

    @property
    def buffered_rows(self) -> int:
        """Rows appended but not yet written."""
        return self._buffered

    def policy_code(self, name: str) -> int:
        """The ``int8`` code of policy ``name`` in this sink's vocabulary."""
        try:
            return self.policies.index(name)
        except ValueError:
            raise ConfigError(
                f"Unknown policy {name!r}; the sink knows {list(self.policies)}."
            ) from None

    def append(self, batch: EventBatch) -> None:
        """Buffer ``batch``; write full parts of ``chunk_rows`` rows when enough are buffered.

        Raises:
            ValueError: Event or policy codes outside their vocabularies.
            RuntimeError: The sink is closed.
        """
        if self._closed:
            raise RuntimeError("EventSink.append() after close()")
        if not len(batch):
            return
        self._check_codes(batch)
        self._buffer.append(batch)
        self._buffered += len(batch)
        if self._buffered >= self.chunk_rows:
            data = EventBatch.concat(self._buffer)
            start = 0
            while len(data) - start >= self.chunk_rows:
                self._write_part(data.slice(start, start + self.chunk_rows))
                start += self.chunk_rows
            rest = data.slice(start, len(data)).copy()  # a view would keep the whole block alive
            self._buffer = [rest] if len(rest) else []
            self._buffered = len(rest)

    def room(self) -> int:
        """Rows that fit before the next part is written (append blocks of this size to avoid copies)."""
        return self.chunk_rows - self._buffered

    def flush(self) -> None:
        """Write all buffered rows as the next part (nothing if the buffer is empty)."""
        if self._buffered:
            self._write_part(EventBatch.concat(self._buffer))
        self._buffer = []
        self._buffered = 0

    def close(self) -> None:
        """Flush and close. An events folder that got no rows at all receives one
        empty part, so it still reads as a (zero-row) table with the event schema."""
        if self._closed:
            return
        self.flush()
        if not self._parts and not list_parts(self.directory):
            self._write_part(EventBatch.empty())
        self._closed = True

    def __enter__(self) -> EventSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Events that happened before an error are real data: write them anyway.
        self.close()

    def to_table(self, batch: EventBatch) -> pa.Table:
        """Convert ``batch`` to a :class:`pyarrow.Table` with :data:`EVENT_SCHEMA`."""
        n = len(batch)
        arrays = [
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), self._run_dict),
            pa.array(batch.step),
            pa.array(batch.session),
            pa.array(batch.page),
            pa.array(batch.position),
            pa.array(batch.user),
            pa.array(batch.item),
            pa.DictionaryArray.from_arrays(pa.array(batch.event), self._event_dict),
            pa.array(batch.value, from_pandas=True),  # NaN (no value) is written as null
            pa.DictionaryArray.from_arrays(pa.array(batch.policy), self._policy_dict),
            pa.array(batch.timestamp),
            pa.DictionaryArray.from_arrays(pa.array(batch.via), self._via_dict),
        ]
        return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)

    def _check_codes(self, batch: EventBatch) -> None:
        for name, size in (("event", len(EVENT_TYPES)), ("policy", len(self.policies)), ("via", len(VIA_TYPES))):
            codes = getattr(batch, name)
            lo, hi = int(codes.min()), int(codes.max())
            if lo < 0 or hi >= size:
                raise ValueError(
                    f"EventBatch.{name} codes must lie in [0, {size}), got [{lo}, {hi}]"
                )

    def _write_part(self, batch: EventBatch) -> None:
        table = self.to_table(batch)
        path = self.directory / f"{self.prefix}{self._next_part:05d}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(
                table, tmp, compression=self.compression,
                use_dictionary=_DICTIONARY_COLUMNS, write_statistics=_STATISTICS_COLUMNS,
            )  # fmt: skip
        self._next_part += 1
        self._parts.append(path)
        self.rows_written += len(batch)
        logger.debug("wrote %s (%d rows)", path, len(batch))


def _events_dir(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if run_dir.name == EVENTS_DIRNAME and run_dir.is_dir():
        return run_dir
    return run_dir / EVENTS_DIRNAME


def read_events_table(run_dir: Path) -> pa.Table:
    """All events of a run as one :class:`pyarrow.Table`, parts in write order.

    Args:
        run_dir: The run folder (or its ``events.parquet`` folder itself).

    Raises:
        DataError: There is no events folder, or it holds no parts.
    """
    directory = _events_dir(run_dir)
    if not directory.is_dir():
        raise DataError(
            f"No events folder at {directory}. Point at a simrec run folder "
            "(runs/<name>/) whose run has started writing events."
        )
    parts = list_parts(directory)
    if not parts:
        raise DataError(
            f"The events folder {directory} holds no part files; the run wrote no events yet "
            "or was stopped before its first part. Re-run it or pick another run folder."
        )
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()


def read_events(run_dir: Path) -> pd.DataFrame:
    """All events of a run as a pandas frame, rows in write order.

    ``run``, ``event`` and ``policy`` come back as categoricals whose categories
    are the full vocabularies.

    Args:
        run_dir: The run folder (or its ``events.parquet`` folder itself).

    Raises:
        DataError: There is no events folder, or it holds no parts.
    """
    return read_events_table(run_dir).to_pandas()


def run_log_mode(run_dir: Path) -> str:
    """The ``run.log`` setting a run folder was written with (``events`` for folders from before it existed)."""
    import json

    path = Path(run_dir) / "manifest.json"
    try:
        scenario = json.loads(path.read_text(encoding="utf-8")).get("scenario") or {}
    except (OSError, ValueError):
        return "events"
    return str((scenario.get("run") or {}).get("log", "events"))


def require_every_event(run_dir: Path, what: str) -> None:
    """Raise a :class:`DataError` unless the run in ``run_dir`` logged every event (``run.log: events``).

    Args:
        run_dir: The run folder.
        what: What needs the impressions, for the message (e.g. ``"run metrics"``).
    """
    mode = run_log_mode(run_dir)
    if mode != "events":
        raise DataError(
            f"{what} need every impression, but the run in {run_dir} was written with run.log: {mode} "
            "(no impression rows). Re-run it with run.log: events."
        )
