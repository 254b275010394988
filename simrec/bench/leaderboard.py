"""Aggregate cells into a leaderboard: mean and 95% confidence interval across seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simrec.bench.spec import LEADERBOARD_METRICS
from simrec.core.intervals import ci95, format_ci

__all__ = ["ci95", "format_ci", "leaderboard", "to_markdown"]


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
