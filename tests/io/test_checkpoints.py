"""Checkpoint files: atomic, digest-checked, the newest readable one wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.core.errors import DataError
from simrec.io.checkpoints import list_checkpoints, load_latest, read_payload, write_checkpoint


def test_write_keep_and_read_back(tmp_path: Path) -> None:
    for step in (2, 4, 6):
        write_checkpoint(tmp_path, step, f"payload {step}".encode(), keep=2)
    assert [c.step for c in list_checkpoints(tmp_path)] == [4, 6]
    assert read_payload(list_checkpoints(tmp_path)[-1].path) == (6, b"payload 6")
    ck, value, skipped = load_latest(tmp_path, lambda b: b.decode())
    assert (ck.step, value, skipped) == (6, "payload 6", [])


def test_damaged_or_foreign_files_are_skipped_for_the_previous_one(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, b"a" * 1000)
    newest = write_checkpoint(tmp_path, 2, b"b" * 1000)
    newest.path.write_bytes(newest.path.read_bytes()[:-10])  # truncated
    with pytest.raises(DataError, match="damaged"):
        read_payload(newest.path)
    ck, value, skipped = load_latest(tmp_path, bytes)
    assert ck.step == 1 and value == b"a" * 1000 and len(skipped) == 1 and "damaged" in skipped[0]
    (tmp_path / "checkpoints" / "step-000003.ckpt").write_bytes(b"not a checkpoint at all, just text")
    assert load_latest(tmp_path, bytes)[0].step == 1


def test_no_readable_checkpoint_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no readable checkpoint.*run it again"):
        load_latest(tmp_path, bytes)
    write_checkpoint(tmp_path, 1, b"x")
    with pytest.raises(DataError, match="cannot restore"):
        load_latest(tmp_path, lambda b: (_ for _ in ()).throw(ValueError("cannot restore")))
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporaries left
