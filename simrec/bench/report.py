"""The bench's ``report.html``: leaderboard, metrics over time per recommender, exposure distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simrec.bench.leaderboard import format_ci
from simrec.bench.spec import LEADERBOARD_METRICS, BenchSpec
from simrec.io.report import (
    draw_lines,
    esc,
    figure_class,
    href,
    html_page,
    png_img,
    subplot_grid,
    wide,
    write_text,
)

#: Per-step curves in the report (columns of :func:`simrec.metrics.run.metrics_over_time`).
OVER_TIME = ("click_rate", "avg_rating", "satisfaction", "pages_per_session", "exit_rate", "coverage_so_far")


def _over_time(cells: pd.DataFrame) -> dict[str, dict[str, pd.DataFrame]]:
    """Per scenario, per recommender: the mean over seeds of each step's metrics."""
    from simrec.metrics.run import metrics_over_time

    out: dict[str, dict[str, pd.DataFrame]] = {}
    for (scenario, rec), g in cells.groupby(["scenario", "recommender"], sort=False):
        frames = [metrics_over_time(Path(d)) for d in g["run_dir"]]
        mean = pd.concat(frames).groupby("step", as_index=False).mean(numeric_only=True)
        out.setdefault(str(scenario), {})[str(rec)] = mean
    return out


def _lorenz(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of items (x, least exposed first) against their share of impressions (y)."""
    c = np.sort(np.asarray(counts, dtype=np.float64))
    total = c.sum()
    y = np.concatenate([[0.0], np.cumsum(c) / total]) if total else np.linspace(0, 1, len(c) + 1)
    return np.linspace(0.0, 1.0, len(c) + 1), y


def _board_table(board: pd.DataFrame, metrics: list[str]) -> str:
    """One scenario's leaderboard as an HTML table that scrolls sideways when too wide."""
    head = "".join(f"<th>{esc(h)}</th>" for h in ["rank", "recommender", "seeds", *metrics])
    rows = []
    for r in board.to_dict("records"):
        tds = [f'<td class="n">{esc(r["rank"])}</td>', f"<td>{esc(r['recommender'])}</td>",
               f'<td class="n">{esc(r["seeds"])}</td>']  # fmt: skip
        tds += [f'<td class="n">{esc(format_ci(r[m], r[f"{m}_ci95"]))}</td>' for m in metrics]
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return wide(f"<table><tr>{head}</tr>{''.join(rows)}</table>")


def write_bench_report(bench_dir: Path, cells: pd.DataFrame, board: pd.DataFrame, spec: BenchSpec) -> Path:
    """Write ``bench_dir/report.html``.

    Args:
        bench_dir: The bench folder.
        cells: One row per finished cell (with ``run_dir``).
        board: The leaderboard.
        spec: The sweep.
    """
    from simrec.metrics.run import exposure_counts

    metrics = [m for m in LEADERBOARD_METRICS if m in board.columns]
    body = [
        f"<h1>simrec bench: {esc(spec.name)}</h1>",
        (
            f"<p class=desc>{len(cells)} cells: {len(spec.recommenders)} recommenders × "
            f"{len(spec.scenarios)} scenarios × {len(spec.seeds)} seeds; executor "
            f"{esc(spec.executor)}. Mean ± 95% CI across seeds; ranked by {esc(spec.primary)}. "
            f'Cell runs are under <a href="{esc(href(bench_dir / "cells", bench_dir))}">cells/</a>.</p>'
        ),
    ]
    figure_cls = figure_class()
    curves = _over_time(cells)
    for scenario, g in board.groupby("scenario", sort=False):
        body.append(f"<h2>{esc(scenario)}</h2>")
        body.append(_board_table(g, metrics))
        if figure_cls is None:
            body.append('<p class="note">install simrec[plots] for plots</p>')
            continue
        frames = curves.get(str(scenario), {})
        cols = [c for c in OVER_TIME if frames and all(c in f for f in frames.values())]
        if cols:
            body.append("<h3>Over time (mean over seeds)</h3>")
            fig, axes = subplot_grid(figure_cls, len(cols))
            for ax, col in zip(axes, cols, strict=True):
                draw_lines(ax, frames, [col], col, True)
            body.append(png_img(fig, f"{scenario}: metrics over time"))
        body.append("<h3>Exposure (impressions per item, pooled over seeds)</h3>")
        fig, (lorenz, top) = subplot_grid(figure_cls, 2)
        sub = cells[cells["scenario"] == scenario]
        for rec, rg in sub.groupby("recommender", sort=False):
            counts = sum(exposure_counts(Path(d)) for d in rg["run_dir"])
            x, y = _lorenz(counts)
            lorenz.plot(x, y, linewidth=1.2, label=str(rec))
            share = np.sort(counts)[::-1] / max(counts.sum(), 1)
            top.plot(np.arange(1, len(share) + 1), share, linewidth=1.2, label=str(rec))
        lorenz.plot([0, 1], [0, 1], color="#999", linewidth=0.8, linestyle="--")
        lorenz.set_title("Lorenz curve of exposure", fontsize=9)
        lorenz.set_xlabel("share of items (least exposed first)", fontsize=8)
        top.set_title("impression share by item rank", fontsize=9)
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_xlabel("item rank", fontsize=8)
        for ax in (lorenz, top):
            ax.legend(fontsize=7)
            ax.tick_params(labelsize=7)
        body.append(png_img(fig, f"{scenario}: exposure distributions"))
    return write_text(bench_dir / "report.html", html_page(f"simrec bench {spec.name}", body))
