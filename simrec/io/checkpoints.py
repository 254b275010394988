"""Checkpoint files of a run: ``runs/<name>/checkpoints/step-NNNNNN.ckpt``, written atomically.

A checkpoint is one opaque payload (what :mod:`simrec.env.checkpoint` pickles: the
model and the positions of the run's files) behind a short header: a magic word,
the format version, the step and a SHA-256 of the payload. It is written through a
temporary dot-file, fsynced and renamed (:func:`~simrec.io.manifest.atomic_path`),
so a crash while writing leaves the previous checkpoint as the newest complete one,
and a damaged file is detected by its digest and skipped on reading.

Checkpoints are pickles: load only the ones your own runs wrote.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from simrec.core.errors import DataError
from simrec.io.manifest import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
MAGIC = b"SIMRECKP"
FORMAT = 1
_HEADER = struct.Struct(">8sII32s")  # magic, format, step, sha256 of the payload
_NAME = re.compile(r"^step-(\d{6})\.ckpt$")

T = TypeVar("T")


@dataclass(frozen=True)
class CheckpointFile:
    """One checkpoint on disk."""

    step: int
    path: Path


def checkpoint_dir(run_dir: Path) -> Path:
    """``run_dir/checkpoints``."""
    return Path(run_dir) / CHECKPOINT_DIR


def list_checkpoints(run_dir: Path) -> list[CheckpointFile]:
    """The run's checkpoint files, oldest first (temporary files are not listed)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [CheckpointFile(s, p) for s, p in sorted(found)]


def write_checkpoint(run_dir: Path, step: int, payload: bytes, keep: int = 2) -> CheckpointFile:
    """Write the checkpoint of ``step`` atomically; keep the ``keep`` newest, delete older ones.

    Returns:
        The file written.
    """
    path = checkpoint_dir(run_dir) / f"step-{step:06d}.ckpt"
    header = _HEADER.pack(MAGIC, FORMAT, step, hashlib.sha256(payload).digest())
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(header)
        fh.write(payload)
    for old in list_checkpoints(run_dir)[: -max(int(keep), 1)]:
        old.path.unlink(missing_ok=True)
    return CheckpointFile(step, path)


def read_payload(path: Path) -> tuple[int, bytes]:
    """The step and payload of one checkpoint file.

    Raises:
        DataError: The file is not a simrec checkpoint, is of another format version,
            or is damaged (truncated, or its digest does not match).
    """
    data = Path(path).read_bytes()
    if len(data) < _HEADER.size:
        raise DataError(f"{path} is truncated ({len(data)} bytes): not a complete simrec checkpoint.")
    magic, fmt, step, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DataError(f"{path} is not a simrec checkpoint.")
    if fmt != FORMAT:
        raise DataError(f"{path} is checkpoint format {fmt}; this simrec reads format {FORMAT}.")
    payload = data[_HEADER.size :]
    if hashlib.sha256(payload).digest() != digest:
        raise DataError(f"{path} is damaged (its digest does not match its contents).")
    return step, payload


def load_latest(run_dir: Path, load: Callable[[bytes], T]) -> tuple[CheckpointFile, T, list[str]]:
    """The newest checkpoint that reads and loads, with what was skipped on the way.

    Args:
        run_dir: The run folder.
        load: Turns a payload into the restored object; may raise to reject it.

    Returns:
        The file used, what ``load`` made of it, and one line per newer file skipped.

    Raises:
        DataError: No checkpoint could be read.
    """
    skipped: list[str] = []
    for ck in reversed(list_checkpoints(run_dir)):
        try:
            _, payload = read_payload(ck.path)
            return ck, load(payload), skipped
        except Exception as exc:  # noqa: BLE001 - a damaged file, or a payload this simrec cannot restore
            log.warning("skipping checkpoint %s: %s", ck.path, exc)
            skipped.append(f"{ck.path.name}: {exc}")
    detail = f" ({'; '.join(skipped)})" if skipped else ""
    raise DataError(
        f"{run_dir} holds no readable checkpoint{detail}. A run writes one every run.checkpoint_every "
        "steps; one that stopped before its first checkpoint cannot be resumed: run it again."
    )
