"""Where benchmark cells run: in-process, in local processes, or on Ray.

Each executor maps :func:`simrec.bench.cells.run_cell` over cell dicts and
yields ``(index, row)`` as cells finish, so the caller can show progress and
keep what finished if a later cell fails.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from simrec.bench.cells import run_cell
from simrec.core.errors import ConfigError
from simrec.core.registry import Registry

log = logging.getLogger(__name__)

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

EXECUTORS: Registry[type] = Registry(
    "bench executor",
    {
        "serial": "simrec.bench.executors:SerialExecutor",
        "local": "simrec.bench.executors:LocalExecutor",
        "ray": "simrec.bench.executors:RayExecutor",
    },
)


class Executor(Protocol):
    """Runs cells; yields ``(index, row)`` in completion order."""

    def map(self, cells: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Run every cell."""


class SerialExecutor:
    """One cell after another in this process (debugging, tiny sweeps)."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        pass

    def map(self, cells: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Run every cell in order."""
        for i, cell in enumerate(cells):
            yield i, run_cell(cell)


class LocalExecutor:
    """Cells in a pool of local processes (default: one per CPU).

    Args:
        workers: Processes (default: ``os.cpu_count()``, at most the number of cells).
    """

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map(self, cells: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Run every cell; results arrive as cells finish."""
        workers = min(self.workers, len(cells)) or 1
        if workers == 1:
            yield from SerialExecutor().map(cells)
            return
        # Fresh interpreters (spawn): forking a process that holds BLAS/torch threads can hang.
        # Each worker gets its share of the cores for its math libraries.
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update(dict.fromkeys(_THREAD_VARS, threads))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            futures = {pool.submit(run_cell, cell): i for i, cell in enumerate(cells)}  # workers start here
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        with pool:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()


class RayExecutor:
    """Cells as Ray tasks: on a cluster (``address``) or a local Ray instance started here.

    Args:
        workers: CPUs for a local instance (default: all); ignored with ``address``.
        address: A running cluster's address (``ray://...`` or ``auto``); ``None`` starts a local one.
    """

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                'The ray executor needs Ray: pip install -e ".[ray]" (or choose --executor local).'
            ) from exc
        self.ray = ray
        self.workers = workers
        self.address = address

    def map(self, cells: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Run every cell as a task; results arrive as tasks finish."""
        ray = self.ray
        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.workers:
                kwargs["num_cpus"] = self.workers
            ray.init(**kwargs)
            started = True
        try:
            task = ray.remote(num_cpus=1)(run_cell)
            refs = {task.remote(cell): i for i, cell in enumerate(cells)}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], ray.get(ref)
        finally:
            if started:
                ray.shutdown()


def build_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor registered as ``name``."""
    return EXECUTORS.get(name)(workers=workers, address=address)
