"""Write an augmentation study: lift CSV and Markdown, an HTML report and a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simrec.io.manifest import fresh_folder, git_revision, package_versions, write_json_atomic
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
    """Rows ``group, metric, seeds, users, real, augmented, lift ± CI, p`` for tables."""
    return [[r["group"], r["metric"], int(r["seeds"]), f"{r['users']:.0f}", f"{r['real']:.4f}",
             f"{r['augmented']:.4f}", _lift(r["lift"], r["lift_ci95"]), _p(r["p_value"])]
            for r in summary.to_dict("records")]  # fmt: skip


SUMMARY_HEADER = [
    "group",
    "metric",
    "seeds",
    "users",
    "real-only",
    "augmented",
    "lift ± 95% CI",
    "p (paired t)",
]


def _lift(mean: float, half: float) -> str:
    return f"{mean:+.4f} ± {half:.4f}" if np.isfinite(half) else f"{mean:+.4f}"


def _p(p: float) -> str:
    return f"{p:.3g}" if np.isfinite(p) else "–"


def lift_markdown(summary: pd.DataFrame, title: str) -> str:
    """The lift table as Markdown."""
    lines = [
        f"# {title}",
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
        ax.bar(x - 0.2, g["real"], width=0.4, label="real only")
        ax.bar(x + 0.2, g["augmented"], width=0.4, label="real + synthetic")
        ax.set_xticks(x, [str(s) for s in g["seed"]])
        ax.set_xlabel("seed", fontsize=8)
        ax.set_title(f"Recall@10: {group} users", fontsize=9)
        ax.legend(fontsize=7)
    return png_img(fig, "per-seed Recall@10, real only vs augmented")


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
    per_seed = lift[["seed", "group", "metric", "users", "real", "augmented", "lift"]]
    body = [f"<h1>{esc(title)}</h1>",
            f"<p>{esc(options.get('description', ''))}</p>",
            "<h2>Lift (augmented − real only), mean over seeds</h2>", html_table(SUMMARY_HEADER, summary_rows(summary)),
            "<h2>Per seed</h2>", _plot(lift), html_table(list(per_seed.columns), per_seed.to_numpy(object).tolist())]  # fmt: skip
    write_text(paths["report.html"], html_page(title, body))
    manifest = {"simrec_augment": 1, "name": folder.name, "options": options,
                "scenario": cfg.model_dump(mode="json"), "versions": package_versions(), "git": git_revision(),
                "summary": summary.to_dict("records"),
                "data": {k: [str(p.relative_to(folder)) for p in v] for k, v in data_files.items()},
                "timings_s": {k: round(v, 4) for k, v in timings.items()}}  # fmt: skip
    write_json_atomic(paths["manifest.json"], manifest)
    return paths
