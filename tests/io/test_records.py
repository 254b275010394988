"""RecordLog: typed appends, reads after close, a fresh log in a reused folder starts empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.io.records import RecordLog

REC = np.dtype([("a", "<i4"), ("b", "<f8")])


def _rows(n: int, start: int = 0) -> np.ndarray:
    out = np.zeros(n, REC)
    out["a"], out["b"] = np.arange(start, start + n), np.arange(start, start + n) / 2
    return out


def test_a_run_log_reads_back_after_close_and_a_fresh_one_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "c" / "log.bin"
    log = RecordLog(path, REC)
    log.append(_rows(3))
    log.append(_rows(0))
    log.close()
    assert np.array_equal(log.read(), _rows(3))  # the run's file is still there (tables written at the end)
    again = RecordLog(path, REC)  # a new run in a reused folder
    assert not path.exists() and len(again.read()) == 0


def test_appends_of_another_type_are_refused_and_an_anonymous_log_dies_with_close() -> None:
    log = RecordLog(None, REC)
    with pytest.raises(TypeError, match="appended to a log of"):
        log.append(np.zeros(2, np.int64))
    log.append(_rows(2))
    log.close()
    with pytest.raises(RuntimeError, match="after close"):
        log.read()
