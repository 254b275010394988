"""Aggregate cells into a leaderboard: mean and 95% confidence interval across seeds.

The leaderboard prints as Markdown (:func:`to_markdown`) and as terminal tables
(:func:`terminal_table`, :func:`print_fitted`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from simrec.bench.spec import LEADERBOARD_METRICS
from simrec.core.intervals import ci95, format_ci

__all__ = ["ci95", "format_ci", "leaderboard", "print_fitted", "terminal_table", "to_markdown"]


def leaderboard(cells: pd.DataFrame, primary: str = "click_rate") -> pd.DataFrame:
    """One row per (scenario, recommender): ``<metric>`` (mean over seeds) and ``<metric>_ci95``.

    Rows are ranked within each scenario by ``primary`` (best first; ``rank`` 1 is
    the best), so a scenario's block reads as its leaderboard.

    Args:
        cells: One row per cell with ``scenario``, ``recommender``, ``seed`` and metric columns.
        primary: The ranking metric (a key of :data:`LEADERBOARD_METRICS`).
    """
    metrics = [m for m in LEADERBOARD_METRICS if m in cells.columns]
    rows = []
    for (scenario, rec), g in cells.groupby(["scenario", "recommender"], sort=False):
        row: dict[str, object] = {"scenario": scenario, "recommender": rec, "seeds": len(g)}
        for m in metrics:
            vals = g[m].to_numpy(dtype=np.float64)
            finite = vals[np.isfinite(vals)]
            row[m] = float(finite.mean()) if len(finite) else float("nan")
            row[f"{m}_ci95"] = ci95(vals)
        if "wall_s" in g:
            row["wall_s"] = float(g["wall_s"].mean())
        rows.append(row)
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    higher = LEADERBOARD_METRICS.get(primary, True)
    board = board.sort_values(["scenario", primary], ascending=[True, not higher], kind="stable")
    board.insert(0, "rank", board.groupby("scenario").cumcount() + 1)
    return board.reset_index(drop=True)


def to_markdown(board: pd.DataFrame, primary: str) -> str:
    """The leaderboard as Markdown tables, one per scenario (mean ± 95% CI across seeds)."""
    metrics = [m for m in LEADERBOARD_METRICS if m in board.columns]
    lines = [f"# Leaderboard (ranked by {primary}; mean ± 95% CI across seeds)", ""]
    for scenario, g in board.groupby("scenario", sort=False):
        lines += [f"## {scenario}", ""]
        header = ["rank", "recommender", "seeds", *metrics]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for r in g.itertuples(index=False):
            d = r._asdict()
            cells = [str(d["rank"]), str(d["recommender"]), str(d["seeds"])]
            cells += [format_ci(d[m], d[f"{m}_ci95"]) for m in metrics]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    better = ", ".join(f"{m} {'↑' if up else '↓'}" for m, up in LEADERBOARD_METRICS.items() if m in metrics)
    lines.append(f"Better is: {better}.")
    return "\n".join(lines) + "\n"


def _table(board: pd.DataFrame, title: str, metrics: Sequence[str], stacked: bool) -> Table:
    """One scenario's leaderboard; ``stacked``: headers break after ``_``, ``± CI`` on line two."""
    table = Table(title=title, padding=(0, 0) if stacked else (0, 1))
    timed = "wall_s" in board
    for name in ["rank", "recommender", *metrics, *(["s/cell"] if timed else [])]:
        header = name.replace("_", "_\n") if stacked else name
        table.add_column(header, justify="left" if name == "recommender" else "right",
                         no_wrap=name == "recommender")  # fmt: skip
    for r in board.to_dict("records"):
        cells = [format_ci(r[m], r[f"{m}_ci95"]) for m in metrics]
        if stacked:
            cells = [c.replace(" ± ", "\n± ") for c in cells]
        wall = [f"{r['wall_s']:.1f}"] if timed else []
        table.add_row(str(r["rank"]), str(r["recommender"]), *cells, *wall)
    return table


def table_width(table: Table) -> int:
    """Columns ``table`` takes at its natural width (nothing wrapped, nothing cut)."""
    return Console(width=10_000).measure(table).maximum


def terminal_table(board: pd.DataFrame, title: str, metrics: Sequence[str], width: int) -> Table:
    """One scenario's leaderboard (``rank``, ``recommender``, ``metrics`` as mean ± 95% CI, and
    ``s/cell`` where the board has ``wall_s``) for a terminal ``width`` columns wide.

    A table that fits on one line per recommender is printed as is; a narrower terminal gets
    the stacked layout: headers broken after each ``_`` (``click_`` over ``rate``), the ``± CI``
    under its mean and no padding, which fits six metrics in 80 columns. Column names are never
    cut: print with :func:`print_fitted`.

    Args:
        board: One scenario's rows of :func:`leaderboard`.
        title: The table's title.
        metrics: Metric columns to show (each with its ``<metric>_ci95``).
        width: Columns of the terminal (``Console.width``).
    """
    flat = _table(board, title, metrics, stacked=False)
    return flat if table_width(flat) <= width else _table(board, title, metrics, stacked=True)


def print_fitted(console: Console, table: Table) -> None:
    """Print ``table`` on ``console``; wider than the console, it is printed at its own width
    (lines then run on rather than a header being cut to ``click…``)."""
    need = table_width(table)
    if need <= console.width:
        console.print(table)
        return
    wide = Console(width=need, file=console.file, force_terminal=console.is_terminal,
                   color_system=console.color_system, no_color=console.no_color)  # fmt: skip
    wide.print(table)
