"""Write an augmentation study: lift CSV and Markdown, an HTML report and a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simrec.augment.utility import ARMS, LIFTS
from simrec.io.manifest import fresh_folder
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


def augment_dir(cfg: ScenarioConfig) -> Path:
    """A fresh ``<output_dir>/<name>-augment`` folder (``-2``, ``-3``, ... if taken; never clobbers)."""
    return fresh_folder(Path(cfg.run.output_dir), f"{cfg.run_name}-augment")


def summary_rows(summary: pd.DataFrame) -> list[list[Any]]:
    """Rows in :data:`SUMMARY_HEADER` order (the arms' means, each lift ± CI and p) for tables."""
    rows = []
    for r in summary.to_dict("records"):
        row = [r["group"], r["metric"], int(r["seeds"]), f"{r['users']:.0f}"]
        row += [_num(r.get(arm)) for arm in ARMS]
        for name, (_, _, p_name) in LIFTS.items():
            row += [_lift(r.get(name, np.nan), r.get(f"{name}_ci95", np.nan)), _p(r.get(p_name, np.nan))]
        rows.append(row)
    return rows


#: Column titles of :func:`summary_rows`.
SUMMARY_HEADER = [
    "group",
    "metric",
    "seeds",
    "users",
    "real-only",
    "real+synthetic",
    "real+control",
    "real+top-popular",
    "most-popular",
    "lift vs real-only ± 95% CI",
    "p (paired t)",
    "lift vs control ± 95% CI",
    "p vs control",
    "lift vs top-popular ± 95% CI",
    "p vs top-popular",
]


def _num(value: float | None) -> str:
    return f"{value:.4f}" if value is not None and np.isfinite(value) else "–"


def _lift(mean: float, half: float) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:+.4f} ± {half:.4f}" if np.isfinite(half) else f"{mean:+.4f}"


def _p(p: float) -> str:
    return f"{p:.3g}" if np.isfinite(p) else "–"


#: What the control and the reference columns mean (in ``lift.md`` and ``report.html``).
CONTROL_NOTE = (
    "real+control: the same recommender trained on real data plus, per user, as many rows as the "
    "simulation produced for that user, with items drawn (seeded) from the user's unseen items with "
    "probability proportional to training popularity (no simulator). real+top-popular: the same with the "
    "user's most popular unseen items (what a most-popular page shows, minus the agents' choice; the "
    "stricter control). 'lift vs control' = real+synthetic − real+control: what the simulator adds beyond "
    "popularity. most-popular: a plain most-popular ranking of the real training data (reference)."
)


def lift_markdown(summary: pd.DataFrame, title: str) -> str:
    """The lift table as Markdown."""
    lines = [
        f"# {title}",
        "",
        CONTROL_NOTE,
        "",
        "| " + " | ".join(SUMMARY_HEADER) + " |",
        "|" + "---|" * len(SUMMARY_HEADER),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in summary_rows(summary)]
    return "\n".join(lines) + "\n"


def _plot(lift: pd.DataFrame) -> str:
    figure_cls = figure_class()
    if figure_cls is None or lift.empty:
        return '<p class="note">matplotlib is not installed: no plots.</p>'
    recall = lift.loc[lift["metric"] == "recall@10"]
    groups = list(dict.fromkeys(recall["group"]))
    fig, axes = subplot_grid(figure_cls, len(groups))
    for ax, group in zip(axes, groups, strict=False):
        g = recall.loc[recall["group"] == group]
        x = np.arange(len(g))
        bars = [("real", "real only"), ("augmented", "real + synthetic"), ("control", "real + control"),
                ("control_top", "real + top-popular"), ("popular", "most-popular")]  # fmt: skip
        bars = [(col, label) for col, label in bars if col in g]
        width = 0.8 / len(bars)
        for j, (col, label) in enumerate(bars):
            ax.bar(x + (j - (len(bars) - 1) / 2) * width, g[col], width=width, label=label)
        ax.set_xticks(x, [str(s) for s in g["seed"]])
        ax.set_xlabel("seed", fontsize=8)
        ax.set_title(f"Recall@10: {group} users", fontsize=9)
        ax.legend(fontsize=7)
    return png_img(fig, "per-seed Recall@10: real only, augmented, control, most-popular")


def write_study(
    folder: Path, cfg: ScenarioConfig, lift: pd.DataFrame, summary: pd.DataFrame, options: dict[str, Any],
    timings: dict[str, float], data_files: dict[str, list[Path]],
) -> dict[str, Path]:  # fmt: skip
    """Write ``lift.csv``, ``lift.md``, ``report.html`` and ``manifest.json`` into ``folder``."""
    folder = Path(folder)
    title = f"{cfg.name}: augmentation lift"
    paths = {
        name: folder / name for name in ("lift.csv", "lift.md", "report.html", "manifest.json")
    }
    write_text(paths["lift.csv"], lift.to_csv(index=False))
    write_text(paths["lift.md"], lift_markdown(summary, title))
    cols = ["seed", "group", "metric", "users", *ARMS, *LIFTS]
    per_seed = lift[[c for c in cols if c in lift]]
    body = [f"<h1>{esc(title)}</h1>",
            f"<p>{esc(options.get('description', ''))}</p>",
            f"<p>{esc(CONTROL_NOTE)}</p>",
            "<h2>Lift, mean over seeds</h2>", html_table(SUMMARY_HEADER, summary_rows(summary)),
            "<h2>Per seed</h2>", _plot(lift), html_table(list(per_seed.columns), per_seed.to_numpy(object).tolist())]  # fmt: skip
    write_text(paths["report.html"], html_page(title, body))
    Manifest.of(
        "augment", folder.name, status="completed", finished_at=now(), options=options,
        scenario=cfg.model_dump(mode="json"), summary=summary.to_dict("records"),
        data={k: [str(p.relative_to(folder)) for p in v] for k, v in data_files.items()},
        timings_s={k: round(v, 4) for k, v in timings.items()},
    ).write(paths["manifest.json"])  # fmt: skip
    return paths
