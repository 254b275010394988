"""What LLM-driven agents wrote: reasons, reviews, shared messages, reflections.

Rows go to ``runs/<name>/texts.parquet/``, one Parquet part per step (written
through a temporary file and :func:`os.replace`, like the event log), so what a
crashed run wrote stays readable. Read them with :func:`read_texts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simrec.io.events import list_parts
from simrec.io.manifest import atomic_path

TEXT_KINDS = ("reason", "review", "share", "reflection", "answer")

TEXT_SCHEMA = pa.schema(
    [
        ("step", pa.int32()),
        ("session", pa.int64()),
        ("page", pa.int16()),
        ("user", pa.int32()),
        ("item", pa.int32()),
        ("kind", pa.string()),
        ("stars", pa.float32()),
        ("text", pa.string()),
    ]
)


@dataclass(frozen=True)
class TextRow:
    """One written text; ``item`` is -1 and ``stars`` 0 where they do not apply.

    ``stars`` is the star value the agent gave with a reason, on the data set's scale
    (float, so a half star stays 3.5).
    """

    step: int
    session: int
    page: int
    user: int
    item: int
    kind: str
    stars: float
    text: str


class TextSink:
    """Buffers :class:`TextRow` s and writes one part per :meth:`flush`.

    Args:
        directory: ``runs/<name>/texts.parquet`` (created).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rows: list[TextRow] = []
        self._next = len(list_parts(self.directory))
        self.rows_written = 0

    def add(self, rows: list[TextRow]) -> None:
        """Buffer rows."""
        self._rows.extend(rows)

    def flush(self) -> None:
        """Write buffered rows as the next part (nothing if empty)."""
        if not self._rows:
            return
        cols = {f: [getattr(r, f) for r in self._rows] for f in TEXT_SCHEMA.names}
        table = pa.table(cols, schema=TEXT_SCHEMA)
        path = self.directory / f"part-{self._next:05d}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self._next += 1
        self.rows_written += len(self._rows)
        self._rows.clear()

    def close(self) -> None:
        """Flush what is left; a folder that got no part gets an empty one with the schema, so
        any Parquet reader (pandas, DuckDB) sees the columns of a run whose agents wrote nothing."""
        self.flush()
        if not list_parts(self.directory):
            with atomic_path(self.directory / f"part-{self._next:05d}.parquet") as tmp:
                pq.write_table(TEXT_SCHEMA.empty_table(), tmp, compression="zstd")
            self._next += 1


def read_texts(run_dir: Path) -> pd.DataFrame:
    """All texts of a run (empty frame if the run wrote none)."""
    folder = Path(run_dir) / "texts.parquet"
    parts = list_parts(folder) if folder.is_dir() else []
    if not parts:
        return TEXT_SCHEMA.empty_table().to_pandas()
    # parts written before stars became float32 (int8) are cast, so a resumed older run reads whole
    return pa.concat_tables([pq.read_table(p).cast(TEXT_SCHEMA) for p in parts]).to_pandas()
