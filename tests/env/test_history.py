"""InteractionLog: watches round-trip in order, a resume cuts the file back, a short file is an error."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from simrec.core.errors import DataError
from simrec.data.types import Interactions
from simrec.env.history import RECORD, InteractionLog


def _watches(n: int, start: int = 0) -> Interactions:
    u = np.arange(start, start + n)
    return Interactions.from_arrays(u, u * 2, np.where(u % 3 == 0, np.nan, u % 5 + 1), 10**12 + u)


def _same(a: Interactions, b: Interactions) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n), equal_nan=True) for n in ("user", "item", "rating", "timestamp"))


def test_appended_watches_read_back_in_order(tmp_path: Path) -> None:
    log = InteractionLog(tmp_path / "checkpoints" / "interactions.bin")
    assert len(log.read()) == 0 and not (tmp_path / "checkpoints").exists()  # nothing written before a watch
    log.append(_watches(5))
    log.append(_watches(0))
    log.append(_watches(7, 5))
    assert len(log) == 12 and _same(log.read(), _watches(12))
    assert (tmp_path / "checkpoints" / "interactions.bin").stat().st_size == 12 * RECORD.itemsize
    log.close()


def test_a_resume_keeps_the_rows_its_checkpoint_recorded(tmp_path: Path) -> None:
    path = tmp_path / "interactions.bin"
    log = InteractionLog(path)
    log.append(_watches(4))
    log.sync()
    log.append(_watches(6, 4))  # written after the checkpoint: a resume drops it
    log.close()
    resumed = InteractionLog(path, rows=4)
    assert _same(resumed.read(), _watches(4))
    resumed.append(_watches(2, 4))
    assert _same(resumed.read(), _watches(6))
    resumed.close()
    with pytest.raises(DataError, match="fewer than the 99"):
        InteractionLog(path, rows=99)


def test_an_anonymous_log_pickles_with_its_rows_and_a_run_log_refuses(tmp_path: Path) -> None:
    log = InteractionLog()
    log.append(_watches(3))
    copy = pickle.loads(pickle.dumps(log))
    assert _same(copy.read(), _watches(3))
    with pytest.raises(TypeError, match="run resource"):
        pickle.dumps(InteractionLog(tmp_path / "x.bin"))
