"""``run_bench``: a sweep of recommenders × scenarios × seeds, written as a leaderboard.

The bench folder (``<output_dir>/<name>/``, never clobbered) holds:

- ``cells/<scenario>/<recommender>/seed-<n>/`` — every cell's full run folder;
- ``cells.csv`` — one row per finished cell (rewritten as cells finish);
- ``leaderboard.csv`` / ``leaderboard.md`` — mean and 95% CI across seeds;
- ``report.html`` — plots: metrics over time per recommender, exposure distributions;
- ``manifest.json`` — the spec, versions, timings, status and any failed cells.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simrec.bench.cells import as_dicts, cells_of
from simrec.bench.executors import build_executor
from simrec.bench.leaderboard import leaderboard, to_markdown
from simrec.bench.spec import BenchSpec
from simrec.core.errors import SimrecError
from simrec.io.manifest import atomic_path, fresh_folder
from simrec.io.manifest_model import Manifest

log = logging.getLogger(__name__)


@dataclass
class BenchResult:
    """A finished sweep: its folder, per-cell rows and the leaderboard."""

    bench_dir: Path
    cells: pd.DataFrame
    leaderboard: pd.DataFrame
    wall_s: float


def _bench_dir(spec: BenchSpec) -> Path:
    return fresh_folder(Path(spec.output_dir), spec.name)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def run_bench(spec: BenchSpec, progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> BenchResult:
    """Run every cell of ``spec`` with its executor and write the bench folder.

    Args:
        spec: The sweep.
        progress: Called as ``progress(done, total, row)`` when a cell finishes.

    Raises:
        SimrecError: if any cell failed (the folder keeps every finished cell and the
            manifest names the failures).
    """
    start = time.perf_counter()
    bench_dir = _bench_dir(spec)
    cells = cells_of(spec, bench_dir)
    spec_json = spec.model_dump(mode="json")
    manifest = Manifest.start("bench", bench_dir.name, spec=spec_json, cells=len(cells))
    manifest.write(bench_dir / "manifest.json")
    rows: list[dict[str, Any] | None] = [None] * len(cells)
    failures: dict[str, str] = {}
    executor = build_executor(spec.executor, spec.workers, spec.ray_address)
    done = 0
    try:
        it = executor.map(as_dicts(cells))
        while True:
            try:
                i, row = next(it)
            except StopIteration:
                break
            except Exception as exc:  # a cell failed: keep going is impossible for a pool iterator
                failures["executor"] = f"{type(exc).__name__}: {exc}"
                break
            rows[i] = row
            done += 1
            _write_cells(bench_dir, rows)
            if progress is not None:
                progress(done, len(cells), row)
    finally:
        table = _write_cells(bench_dir, rows)
        board = leaderboard(table, spec.primary) if len(table) else pd.DataFrame()
        if len(board):
            board.to_csv(bench_dir / "leaderboard.csv", index=False)
            _write_text(bench_dir / "leaderboard.md", to_markdown(board, spec.primary))
            try:
                from simrec.bench.report import write_bench_report

                write_bench_report(bench_dir, table, board, spec)
            except Exception as exc:  # the numbers are written; a plotting problem must not hide them
                log.warning("could not write the bench report: %s", exc)
                manifest.report_error = f"{type(exc).__name__}: {exc}"
        missing = [c.cell_id for c, r in zip(cells, rows, strict=True) if r is None]
        manifest.finish(
            "completed" if not missing else "failed", wall_s=round(time.perf_counter() - start, 2),
            cells_done=done, cells_missing=missing, failures=failures,
        ).write(bench_dir / "manifest.json")  # fmt: skip
    if missing:
        raise SimrecError(
            f"{len(missing)} of {len(cells)} bench cells did not finish ({failures.get('executor', 'see logs')}); "
            f"finished cells are in {bench_dir / 'cells.csv'}."
        )
    return BenchResult(bench_dir, table, board, time.perf_counter() - start)


def _write_cells(bench_dir: Path, rows: list[dict[str, Any] | None]) -> pd.DataFrame:
    table = pd.DataFrame([r for r in rows if r is not None])
    if len(table):
        with atomic_path(bench_dir / "cells.csv") as tmp:
            table.to_csv(tmp, index=False)
    return table
