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
    from simrec.fidelity.result import ABRanking, Fidelity

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
    if fid.selection is not None:
        parts += ["", "## Settings chosen on validation (training split only)", "",
                  _markdown(pd.DataFrame(_selection_rows(fid.selection), columns=["", "value"])), "",
                  "Best candidates (all of them in selection.csv):", "", _markdown(_selection_top(fid))]  # fmt: skip
    if fid.ab is not None:
        per_rec, agree = ab_tables(fid.ab)
        parts += ["", "## A/B ranking (real held-out vs simulated)", "", _markdown(per_rec), "", _markdown(agree),
                  "", _ab_note(fid.ab)]  # fmt: skip
    return "\n".join(parts) + "\n"


def _selection_rows(selection: dict[str, Any]) -> list[tuple[str, Any]]:
    """What the selection chose, on what, by which objective."""
    rows: list[tuple[str, Any]] = [("chosen", selection["chosen"]), ("objective", selection["objective"]),
                                   ("objective on validation", selection["objective_value"]),
                                   ("candidates", selection["candidates"]), ("data", selection["split"])]  # fmt: skip
    rows += [(f"users {k.replace('_', ' ')}", v) for k, v in selection["users"].items()]
    rows += [(k, v) for k, v in selection["overrides"].items()]
    return rows


def _selection_top(fid: Fidelity, n: int = 8) -> pd.DataFrame:
    """The ``n`` best candidates: objective and accuracy per list set."""
    table = fid.selection_table.sort_values("objective", ascending=False, kind="stable").head(n)
    return table[["candidate", "objective", *[c for c in table if c.startswith("accuracy ")]]]


def _calibration_rows(calibration: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Fitted parameters and the fit's figures, one row each."""
    if not calibration:
        return []
    rows: list[tuple[str, Any]] = [(k, v if not isinstance(v, list) else ", ".join(f"{x:.3f}" for x in v))
                                   for k, v in calibration["params"].items()]  # fmt: skip
    for part, report in calibration["report"].items():
        rows += [(f"{part}: {k}", v) for k, v in report.items() if isinstance(v, int | float | str)]
    return rows


def ab_tables(ab: ABRanking) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The A/B-ranking study as two display tables: per recommender ``value (rank)`` on each
    side, and Kendall τ / Spearman ρ with their intervals per metric."""
    metrics = [c.removeprefix("real_") for c in ab.table.columns if c.startswith("real_") and "_rank_" not in c]
    per_rec = pd.DataFrame({"recommender": ab.table["recommender"]})
    for m in metrics:
        for side in ("real", "sim"):
            values, ranks = ab.table[f"{side}_{m}"], ab.table[f"{side}_rank_{m}"]
            per_rec[f"{side} {m} (rank)"] = [f"{v:.4f} ({r})" for v, r in zip(values, ranks, strict=True)]

    def interval(low: float, high: float) -> str:
        return f"[{low:.3f}, {high:.3f}]" if np.isfinite([low, high]).all() else "–"

    agree = pd.DataFrame([{"metric": r["metric"], "Kendall τ": float(r["kendall_tau"]),
                           "τ 95% interval": interval(r["kendall_low"], r["kendall_high"]),
                           "Spearman ρ": float(r["spearman_rho"]),
                           "ρ 95% interval": interval(r["spearman_low"], r["spearman_high"]),
                           "users": int(r["users"]), "recommenders": int(r["recommenders"])}
                          for r in ab.agreement.to_dict("records")])  # fmt: skip
    return per_rec, agree


def _ab_note(ab: ABRanking) -> str:
    info = ab.info
    seeds, k = ", ".join(str(s) for s in info.get("seeds", [])), info.get("k", 10)
    return (f"Real: each recommender's top-{k} (training items excluded) against the real held-out items. "
            f"Simulated: `simrec bench` episodes of {info.get('steps')} steps, seeds {seeds}; every session's "
            f"first {k} recommended positions against the items the simulated users watched, pooled over the "
            "recommenders. Intervals: percentile bootstrap over users "
            f"({info.get('resamples')} resamples).")  # fmt: skip


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
    # the rating scale's levels, from the star-share columns (sim_1star .. sim_5star, or sim_0.5star ..)
    x = np.array([float(c[4:-4]) for c in fid.ratings.columns if c.startswith("sim_") and c.endswith("star")])
    w = 0.4 * (x[1] - x[0] if len(x) > 1 else 1.0)
    for ax, (mode, (sim, real)) in zip(axes, fid.stars.items(), strict=True):
        ax.bar(x - w / 2, sim, width=w, label="simulated")
        ax.bar(x + w / 2, real, width=w, label="real")
        ax.set_title(f"stars: {mode}", fontsize=9)
        ax.legend(fontsize=7)
    out.append(png_img(fig, "rating distribution, simulated vs real"))
    return out


def write_scorecard(fid: Fidelity, folder: Path, cfg: ScenarioConfig, seed: int, options: dict[str, Any]) -> dict[str, Path]:
    """Write ``scorecard.csv``, ``ratings.csv``, ``scorecard.md``, ``report.html``, ``manifest.json``,
    for calibrated agents ``calibration.json``, with ``--select-on validation`` ``selection.csv`` (every
    candidate's validation scores) and ``selection.json`` (the choice), and, with an A/B-ranking study, ``ab.csv`` (per
    recommender) and ``ab_agreement.csv`` (Kendall τ and Spearman ρ with intervals, per metric)."""
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
    if fid.selection is not None:
        body += ["<h2>Settings chosen on validation</h2>", html_table(["", "value"], _selection_rows(fid.selection)),
                 html_table(*_table(_selection_top(fid)))]  # fmt: skip
        paths["selection.csv"], paths["selection.json"] = folder / "selection.csv", folder / "selection.json"
        write_text(paths["selection.csv"], fid.selection_table.to_csv(index=False))
        write_json_atomic(paths["selection.json"], fid.selection)
    if fid.ab is not None:
        per_rec, agree = ab_tables(fid.ab)
        body += ["<h2>A/B ranking (real held-out vs simulated)</h2>", html_table(*_table(per_rec)),
                 html_table(*_table(agree)), f"<p>{esc(_ab_note(fid.ab))}</p>"]  # fmt: skip
        paths["ab.csv"], paths["ab_agreement.csv"] = folder / "ab.csv", folder / "ab_agreement.csv"
        write_text(paths["ab.csv"], fid.ab.table.to_csv(index=False))
        write_text(paths["ab_agreement.csv"], fid.ab.agreement.to_csv(index=False))
    body += ["<h2>Plots</h2>", *_plots(fid)]
    write_text(paths["report.html"], html_page(title, body))
    Manifest.of(
        "fidelity", folder.name, status="completed", finished_at=now(), seed=seed, options=options,
        scenario=cfg.model_dump(mode="json"), rating_scale=fid.rating_scale,
        timings_s={k: round(v, 4) for k, v in fid.timings.items()},
    ).write(folder / "manifest.json")  # fmt: skip
    paths["manifest.json"] = folder / "manifest.json"
    return paths


def _table(df: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    return list(df.columns), df.to_numpy(object).tolist()
