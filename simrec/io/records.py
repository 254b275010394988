"""``RecordLog``: fixed-size records appended to a file, read back whole or cut back to a row count.

What a long run must remember of its past but rarely reads (the watches a refit
trains on, the shares of finished cascades) goes to a record log instead of
memory. Every append is written through to the operating system, so a killed
process loses nothing appended; :meth:`RecordLog.sync` makes it durable before a
checkpoint records the row count, and opening with ``rows`` (a resume) cuts the
file back to that count.

A log without a path is an anonymous temporary file (a model built in a
notebook or a test); it pickles with its rows. A log with a path belongs to a
run folder and is a checkpoint resource: it is never pickled, its row count is.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from simrec.core.errors import DataError


class RecordLog:
    """Append-only records of one numpy structured ``dtype``.

    Args:
        path: The file (created on the first append); ``None`` for an anonymous temporary file.
        dtype: The record type.
        rows: Rows to keep of an existing file (a resume); ``None`` or 0 starts it empty.

    Raises:
        DataError: the file holds fewer than ``rows`` whole records.
    """

    def __init__(self, path: Path | None, dtype: np.dtype, rows: int | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.dtype = np.dtype(dtype)
        self._fh: IO[bytes] | None = None
        self._rows = 0
        if self.path is not None and rows:
            have = self.path.stat().st_size // self.dtype.itemsize if self.path.exists() else 0
            if have < rows:
                raise DataError(
                    f"{self.path} holds {have} records, fewer than the {rows} the checkpoint recorded; "
                    "it was changed outside the run."
                )
            self._open("r+b")
            assert self._fh is not None
            self._fh.truncate(rows * self.dtype.itemsize)
            self._fh.seek(0, os.SEEK_END)
            self._rows = rows
        elif self.path is not None and self.path.exists():
            self.path.unlink()  # a fresh run in a reused folder starts empty

    def __len__(self) -> int:
        return self._rows

    def _open(self, mode: str) -> None:
        if self.path is None:
            self._fh = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, mode)  # noqa: SIM115 - closed by close()

    def append(self, records: np.ndarray) -> None:
        """Append ``records`` (of this log's dtype), written through to the operating system."""
        if not len(records):
            return
        if records.dtype != self.dtype:
            raise TypeError(f"records of {records.dtype} appended to a log of {self.dtype}")
        if self._fh is None:
            self._open("w+b")
        assert self._fh is not None
        self._fh.write(np.ascontiguousarray(records).tobytes())
        self._fh.flush()
        self._rows += len(records)

    def read(self) -> np.ndarray:
        """Every record appended so far, in order (a new array)."""
        if not self._rows:
            return np.empty(0, self.dtype)
        if self._fh is None and self.path is None:
            raise RuntimeError("an anonymous record log was read after close()")
        out = np.empty(self._rows, self.dtype)
        if self._fh is None:  # closed: a run's file is still there
            with open(self.path, "rb") as fh:  # type: ignore[arg-type]  # a path, checked above
                got = fh.readinto(memoryview(out).cast("B"))
        else:
            self._fh.seek(0)
            got = self._fh.readinto(memoryview(out).cast("B"))
            self._fh.seek(0, os.SEEK_END)
        if got != out.nbytes:
            raise DataError(f"{self.path or 'a record log'} ended after {got} of {out.nbytes} bytes")
        return out

    def sync(self) -> None:
        """Make what was appended durable (``fsync``), before a checkpoint records it."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file (an anonymous one is deleted)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __getstate__(self) -> dict[str, Any]:
        if self.path is not None:
            raise TypeError(f"the record log {self.path} is a run resource; a checkpoint keeps its row count")
        return {"dtype": self.dtype, "records": self.read()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.dtype, self._fh, self._rows = None, state["dtype"], None, 0
        self.append(state["records"])
