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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simrec.bench.cells import as_dicts, cells_of
from simrec.bench.executors import build_executor
from simrec.bench.leaderboard import leaderboard, to_markdown
from simrec.bench.spec import BenchSpec, overrides_for
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


def run_bench(
    spec: BenchSpec, progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    text_progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> BenchResult:  # fmt: skip
    """Run every cell of ``spec`` with its executor and write the bench folder.

    Args:
        spec: The sweep.
        progress: Called as ``progress(done, total, row)`` when a cell finishes.
        text_progress: Called the same way as each row of the text probe (``spec.text_probe``) is done.

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
        if not missing and (spec.families or spec.text_probe is not None):
            manifest.robustness = _robustness(spec, bench_dir, table, text_progress)
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


def _robustness(
    spec: BenchSpec, bench_dir: Path, table: pd.DataFrame, progress: Callable[[int, int, dict[str, Any]], None] | None
) -> dict[str, Any]:  # fmt: skip
    """The robustness families' report (and the text family's probe); returns what the manifest records."""
    from simrec.robustness.report import Family, write_robustness_report

    out: dict[str, Any] = {}
    text = None
    if spec.text_probe is not None:
        t = time.perf_counter()
        text = _text_probe(spec, progress)
        text.to_csv(bench_dir / "text_attacks.csv", index=False)
        out["text_probe_s"] = round(time.perf_counter() - t, 2)
    families = {name: Family(f.baseline, f.arms, f.groups) for name, f in spec.families.items()}
    write_robustness_report(bench_dir, table, families, text, spec.name)
    out["report"] = "robustness.html"
    return out


def text_probe_rows(spec: BenchSpec) -> int:
    """Rows the text probe of ``spec`` writes (0 without one)."""
    p = spec.text_probe
    return 0 if p is None else (1 + len(p.controls)) * len(p.attacks) * len(p.defences)


def _text_probe(spec: BenchSpec, progress: Callable[[int, int, dict[str, Any]], None] | None) -> pd.DataFrame:
    """The text family: every attack × defence on paired pages, for the probe's scenario and each control."""
    from simrec.config import load_scenario
    from simrec.robustness.text_probe import text_uplift

    probe = spec.text_probe
    assert probe is not None
    frames, done, total = [], 0, text_probe_rows(spec)

    def row_done(row: Mapping[str, Any]) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, dict(row))

    for extra in [[], *probe.controls]:
        scoped = overrides_for([*probe.overrides, *extra], probe.scenario)
        cfg = load_scenario(probe.scenario, [*scoped, f"robustness.text.field={probe.field}"])
        frames.append(text_uplift(cfg, probe.attacks, probe.defences, users=probe.users, items=probe.items,
                                  page_size=probe.page_size, seeds=probe.seeds, progress=row_done))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _write_cells(bench_dir: Path, rows: list[dict[str, Any] | None]) -> pd.DataFrame:
    table = pd.DataFrame([r for r in rows if r is not None])
    if len(table):
        with atomic_path(bench_dir / "cells.csv") as tmp:
            table.to_csv(tmp, index=False)
    return table
