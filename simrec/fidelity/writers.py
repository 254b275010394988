"""Write a fidelity scorecard: CSV, Markdown, a self-contained HTML report and a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simrec.io.manifest import fresh_folder, write_json_atomic
from simrec.io.manifest_model import Manifest, now
from simrec.io.report import (
    esc,
    figure_class,
    html_page,
    html_table,
    png_img,
    subplot_grid,
    write_text,
)

if TYPE_CHECKING:
    from simrec.config.schema import ScenarioConfig
    from simrec.fidelity.result import Fidelity

_SCORE_COLS = ["mode", "negatives", "ratio", "users", "skipped", "accuracy", "precision", "recall", "f1", "picked"]
_RATING_COLS = ["mode", "rmse", "mae", "n_rated", "js_divergence", "js_distance", "rmse_llm", "n_rated_llm"]


def fidelity_dir(cfg: ScenarioConfig) -> Path:
    """A fresh ``<output_dir>/<name>-fidelity`` folder (``-2``, ``-3``, ... if taken; never clobbers)."""
    return fresh_folder(Path(cfg.run.output_dir), f"{cfg.run_name}-fidelity")


def _markdown(df: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float | np.floating) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _cols(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return df[[c for c in cols if c in df]]


def _behaviour_rows(behaviour: dict[str, Any]) -> list[tuple[str, Any]]:
    if not behaviour:
        return []
    hist = behaviour["pages_hist"]
    return [("simulation steps", behaviour["steps"]), ("popularity Spearman", behaviour["spearman"]),
            ("popularity Pearson", behaviour["pearson"]), ("mean pages per session", behaviour["mean_pages"]),
            ("sessions by pages viewed", ", ".join(f"{p}: {c}" for p, c in hist.items()))]  # fmt: skip


def scorecard_markdown(fid: Fidelity, title: str) -> str:
    """The scorecard as Markdown (discrimination, ratings, simulated behaviour)."""
    parts = [f"# {title}", "", "## Discrimination (Agent4Rec protocol)", "", _markdown(_cols(fid.scorecard, _SCORE_COLS))]
    parts += ["", "## Rating fidelity (held-out rated items)", "", _markdown(_cols(fid.ratings, _RATING_COLS))]
    rows = _behaviour_rows(fid.behaviour)
    if rows:
        parts += ["", "## Simulated behaviour", "", _markdown(pd.DataFrame(rows, columns=["measure", "value"]))]
    cal = _calibration_rows(fid.calibration)
    if cal:
        parts += ["", "## Calibration (fitted on training data only)", "",
                  _markdown(pd.DataFrame(cal, columns=["parameter", "value"]))]  # fmt: skip
    return "\n".join(parts) + "\n"


def _calibration_rows(calibration: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Fitted parameters and the fit's figures, one row each."""
    if not calibration:
        return []
    rows: list[tuple[str, Any]] = [(k, v if not isinstance(v, list) else ", ".join(f"{x:.3f}" for x in v))
                                   for k, v in calibration["params"].items()]  # fmt: skip
    for part, report in calibration["report"].items():
        rows += [(f"{part}: {k}", v) for k, v in report.items() if isinstance(v, int | float | str)]
    return rows


def _plots(fid: Fidelity) -> list[str]:
    figure_cls = figure_class()
    if figure_cls is None or fid.scorecard.empty:
        return ['<p class="note">matplotlib is not installed: no plots.</p>']
    out = []
    fig, (ax,) = subplot_grid(figure_cls, 1)
    for (mode, neg), g in fid.scorecard.groupby(["mode", "negatives"], sort=False):
        ax.plot(g["ratio"], g["accuracy"], marker="o", label=f"{mode} / {neg}")
    ax.set_title("accuracy by ratio", fontsize=9)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    out.append(png_img(fig, "accuracy by ratio per mode and negatives"))
    fig, axes = subplot_grid(figure_cls, len(fid.stars))
    x = np.arange(1, 6)
    for ax, (mode, (sim, real)) in zip(axes, fid.stars.items(), strict=True):
        ax.bar(x - 0.2, sim, width=0.4, label="simulated")
        ax.bar(x + 0.2, real, width=0.4, label="real")
        ax.set_title(f"stars: {mode}", fontsize=9)
        ax.legend(fontsize=7)
    out.append(png_img(fig, "rating distribution, simulated vs real"))
    return out


def write_scorecard(fid: Fidelity, folder: Path, cfg: ScenarioConfig, seed: int, options: dict[str, Any]) -> dict[str, Path]:
    """Write ``scorecard.csv``, ``ratings.csv``, ``scorecard.md``, ``report.html``, ``manifest.json``
    and, for calibrated agents, ``calibration.json``."""
    folder = Path(folder)
    title = f"{cfg.name}: fidelity scorecard"
    paths = {"scorecard.csv": folder / "scorecard.csv", "ratings.csv": folder / "ratings.csv",
             "scorecard.md": folder / "scorecard.md", "report.html": folder / "report.html"}  # fmt: skip
    write_text(paths["scorecard.csv"], fid.scorecard.to_csv(index=False))
    write_text(paths["ratings.csv"], fid.ratings.to_csv(index=False))
    write_text(paths["scorecard.md"], scorecard_markdown(fid, title))
    body = [f"<h1>{esc(title)}</h1>", "<h2>Discrimination (Agent4Rec protocol)</h2>",
            html_table(*_table(_cols(fid.scorecard, _SCORE_COLS))), "<h2>Rating fidelity</h2>",
            html_table(*_table(_cols(fid.ratings, _RATING_COLS)))]  # fmt: skip
    rows = _behaviour_rows(fid.behaviour)
    if rows:
        body += ["<h2>Simulated behaviour</h2>", html_table(["measure", "value"], rows)]
    cal = _calibration_rows(fid.calibration)
    if cal:
        body += ["<h2>Calibration (fitted on training data only)</h2>", html_table(["parameter", "value"], cal)]
        write_json_atomic(folder / "calibration.json", fid.calibration)
        paths["calibration.json"] = folder / "calibration.json"
    body += ["<h2>Plots</h2>", *_plots(fid)]
    write_text(paths["report.html"], html_page(title, body))
    Manifest.of(
        "fidelity", folder.name, status="completed", finished_at=now(), seed=seed, options=options,
        scenario=cfg.model_dump(mode="json"),
        timings_s={k: round(v, 4) for k, v in fid.timings.items()},
    ).write(folder / "manifest.json")  # fmt: skip
    paths["manifest.json"] = folder / "manifest.json"
    return paths


def _table(df: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    return list(df.columns), df.to_numpy(object).tolist()
