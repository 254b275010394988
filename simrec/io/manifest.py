"""Provenance of a run (package versions, git revision), atomic file writes and fresh folders.

Every file a run writes goes through a temporary name in the same folder and
:func:`os.replace`, so a reader (or a crash) never sees half a file and an older
complete file is only ever replaced by a newer complete one.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simrec.core.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Distributions whose versions go into every manifest, in this order.
TRACKED_PACKAGES = ("simrec", "mesa", "numpy", "scipy", "pandas", "pyarrow", "networkx", "pydantic")

_GIT_TIMEOUT_S = 5.0


def package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on, plus Python and the platform.

    Packages that are not installed are left out rather than failing.

    Returns:
        ``{"simrec": "0.1.0", "numpy": "2.4.6", ..., "python": "3.11.9", "platform": "Linux-..."}``.
    """
    versions: dict[str, str] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "simrec":  # running from a source tree that was never installed
                import simrec

                versions[name] = simrec.__version__
    versions["python"] = platform.python_version()
    versions["platform"] = platform.platform()
    return versions


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # git missing, timeout, bad cwd
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_revision(path: Path | None = None) -> dict[str, Any] | None:
    """The git commit and dirty flag of the checkout that contains ``path``.

    Args:
        path: A file or folder inside the checkout; default: the simrec package's
            source folder.

    Returns:
        ``{"commit": "<40 hex digits>", "dirty": bool | None}`` (``dirty`` is
        ``None`` when ``git status`` failed or timed out), or ``None`` when
        ``path`` is not inside a git checkout or git is not installed.
    """
    if path is None:
        import simrec

        path = Path(simrec.__file__).resolve().parent
    path = Path(path)
    cwd = path if path.is_dir() else path.parent
    if not cwd.is_dir():
        return None
    head = _git(["rev-parse", "HEAD"], cwd)
    if head is None or not head.strip():
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    dirty = None if status is None else bool(status.strip())
    return {"commit": head.strip(), "dirty": dirty}


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds.

    The temporary name starts with ``.`` so dataset readers (pyarrow, pandas)
    skip it. If the block raises, the temporary file is removed and ``path``
    keeps whatever it held before.

    Args:
        path: The final file name. Its folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())  # mkstemp makes 0600; a run's files honour the umask
        with open(tmp, "rb+") as fh:  # make the bytes durable before the name points at them
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@functools.cache
def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would give a new file (read once:
    reading the umask means setting it, briefly)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys in insertion order) to ``path`` atomically.

    Paths and other unknown objects are written as strings, numpy scalars and
    arrays as plain numbers and lists.

    Args:
        path: Destination file.
        obj: A JSON-serialisable object.
    """
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False)
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def write_parquet_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to the Parquet file ``path`` atomically.

    A non-default index is kept as columns (pandas' default behaviour), so no
    data is dropped.

    Args:
        df: The frame to write.
        path: Destination file.
    """
    with atomic_path(Path(path)) as tmp:
        df.to_parquet(tmp, engine="pyarrow")


def write_columns_atomic(columns: Mapping[str, np.ndarray], path: Path) -> None:
    """Write numpy columns to the Parquet file ``path`` atomically, without a pandas frame in between.

    The arrays go to Arrow without a copy, so a table of tens of millions of rows costs no
    second copy in memory; float ``NaN`` is written as null, as ``DataFrame.to_parquet`` does, and
    ``pandas.read_parquet`` reads it back as the frame of the same columns (default index).
    """
    table = pa.Table.from_arrays([pa.array(np.asarray(v), from_pandas=True) for v in columns.values()], names=list(columns))
    with atomic_path(Path(path)) as tmp:
        pq.write_table(table, tmp)


def read_parquet_checked(path: Path) -> pd.DataFrame:
    """``pandas.read_parquet`` with a :class:`DataError` that names a damaged file and the fix."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataError(f"Cannot read {path}: {err}. The file is damaged; re-run the scenario.") from err


def fresh_folder(base: Path, name: str, overwrite: bool = False) -> Path:
    """Create and return the folder ``base/name`` for a new run, bench, scorecard or study.

    A taken name (an existing file or non-empty folder) is never clobbered: the
    folder becomes the first free ``name-2``, ``name-3``, ... With ``overwrite``,
    an existing ``base/name`` is deleted and reused instead, but only if it holds
    a ``manifest.json`` (it is a folder simrec wrote). The folder of a run that
    failed before completing its first step is reused (its manifest says so).

    Args:
        base: The parent folder (created if missing).
        name: The wanted folder name.
        overwrite: Replace an existing simrec folder of that name.

    Raises:
        ConfigError: with ``overwrite``, if ``base/name`` exists and is not a simrec folder.
    """
    base = Path(base)
    folder = base / name
    if overwrite and _taken(folder):
        if not (folder / "manifest.json").is_file():
            raise ConfigError(
                f"{folder} exists and is not a simrec folder (no manifest.json); "
                "refusing to delete it. Choose another name or output_dir."
            )
        shutil.rmtree(folder)
    n = 2
    while _taken(folder) and not _failed_before_first_step(folder):
        folder, n = base / f"{name}-{n}", n + 1
    if _taken(folder):  # a run that failed before its first step: reused, not kept as a stray -2
        logger.info("reusing %s: its run failed before its first step", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _failed_before_first_step(folder: Path) -> bool:
    """Whether ``folder`` holds a single run that failed before completing a step."""
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict) and "simrec_run" in data and data.get("kind", "run") == "run"
        and data.get("status") == "failed" and int(data.get("steps_completed") or 0) == 0
    )  # fmt: skip


def _taken(folder: Path) -> bool:
    return folder.exists() and (not folder.is_dir() or any(folder.iterdir()))
