"""The robustness report of a bench with arms: one table per family, exposure and satisfaction over time.

A family compares arms with a baseline arm (``clean``) cell by cell: the same scenario,
recommender and seed, so every difference ``Δ`` is paired and its interval is the 95%
t-interval over seeds of the per-seed differences. The text family comes from the
paired-page probe (:mod:`simrec.robustness.text_probe`) instead of cells.

Written next to the bench's leaderboard: ``robustness.md`` (the tables),
``robustness.csv`` (every family row) and ``robustness.html`` (tables and plots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.core.intervals import ci95, format_ci
from simrec.io.report import (
    draw_lines,
    esc,
    figure_class,
    html_page,
    png_img,
    subplot_grid,
    wide,
    write_text,
)

__all__ = ["Family", "family_table", "write_robustness_report"]

#: Per 10,000 impressions: exposure shares are tiny numbers.
PER_10K = 1e4

#: Genuine users' outcomes, in every family's table.
GENUINE = ("click_rate", "avg_rating", "satisfaction")
#: What each item group adds to a family's table (``_e4``: the share × 10,000).
GROUP_METRICS: dict[str, tuple[str, ...]] = {
    "target": ("target_exposure_e4", "target_hit_rate", "target_score_pct", "target_exposure_after_e4",
               "defence_fake_recall", "defence_genuine_per_fit"),
    "clickbait": ("clickbait_exposure_e4", "clickbait_watch_rate", "clickbait_mean_stars", "accidental_watches",
                  "robustness_denoised_rows"),
    "text": ("text_exposure_e4", "text_watch_rate"),
}  # fmt: skip


#: The headline of each item group: the paired differences a family's summary table shows (``d_`` columns;
#: ``persistence``, the watch rate, stars and the defence's recall are shown as they are).
HEADLINE: dict[str, tuple[str, ...]] = {
    "target": ("d_target_exposure_e4", "d_target_hit_rate", "d_target_score_pct", "persistence", "d_click_rate",
               "d_satisfaction", "defence_fake_recall"),
    "clickbait": ("d_clickbait_exposure_e4", "clickbait_watch_rate", "clickbait_mean_stars", "d_click_rate",
                  "d_avg_rating", "d_satisfaction"),
    "text": ("d_text_exposure_e4", "text_watch_rate", "d_click_rate", "d_satisfaction"),
}  # fmt: skip
#: How the summary names its columns.
SHORT = {
    "d_target_exposure_e4": "Δ target imp./10k", "d_target_hit_rate": "Δ hit rate", "d_target_score_pct":
    "prediction shift", "persistence": "persistence", "d_click_rate": "Δ click rate", "d_satisfaction":
    "Δ satisfaction", "defence_fake_recall": "fakes caught", "d_clickbait_exposure_e4": "Δ clickbait imp./10k",
    "clickbait_watch_rate": "clickbait watch rate", "clickbait_mean_stars": "clickbait stars",
    "d_avg_rating": "Δ avg rating", "d_text_exposure_e4": "Δ text imp./10k", "text_watch_rate": "text watch rate",
}  # fmt: skip


@dataclass(frozen=True)
class Family:
    """Arms compared with a baseline arm; ``groups`` say which item groups its table and plots show."""

    baseline: str
    arms: Sequence[str]
    groups: Sequence[str] = ("target",)


def _with_scaled(cells: pd.DataFrame) -> pd.DataFrame:
    out = cells.copy()
    for col in list(out.columns):
        if col.endswith(("_exposure", "_exposure_after", "_exposure_during")):
            out[f"{col}_e4"] = out[col] * PER_10K
    out["base"] = out["scenario"].astype(str).str.rsplit("/", n=1).str[0]
    return out


def family_table(cells: pd.DataFrame, family: Family) -> pd.DataFrame:
    """One row per (scenario, recommender, arm) of the family: each metric's mean, ``_ci95``, and for
    the arms (not the baseline) ``d_<metric>`` and ``d_<metric>_ci95``, the paired difference with the
    baseline; targets also ``persistence`` (the exposure gain after the fake profiles left, as a share
    of the gain while they were in)."""
    if not len(cells) or "arm" not in cells:
        return pd.DataFrame()
    cells = _with_scaled(cells)
    metrics = [m for m in (*GENUINE, *(m for g in family.groups for m in GROUP_METRICS.get(g, ()))) if m in cells]
    rows = []
    for (base, rec), g in cells.groupby(["base", "recommender"], sort=False):
        clean = g[g["arm"] == family.baseline].set_index("seed")
        for arm in [family.baseline, *family.arms]:
            a = g[g["arm"] == arm].set_index("seed")
            if not len(a):
                continue
            row: dict[str, object] = {"scenario": base, "recommender": rec, "arm": arm, "seeds": len(a)}
            for m in metrics:
                v = a[m].to_numpy(np.float64)
                row[m] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
                row[f"{m}_ci95"] = ci95(v)
                if arm != family.baseline and len(clean):
                    d = (a[m] - clean[m].reindex(a.index)).to_numpy(np.float64)
                    row[f"d_{m}"] = float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")
                    row[f"d_{m}_ci95"] = ci95(d)
            attacked = "fake_users" in a and float(a["fake_users"].max()) > 0
            if arm != family.baseline and len(clean) and attacked and "target_exposure_during" in a:
                gain_in = (a["target_exposure_during"] - clean["target_exposure_during"].reindex(a.index)).mean()
                gain_after = (a["target_exposure_after"] - clean["target_exposure_after"].reindex(a.index)).mean()
                row["persistence"] = float(gain_after / gain_in) if np.isfinite(gain_in) and gain_in > 0 else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(row: Mapping[str, object], m: str) -> str:
    text = format_ci(float(row.get(m, np.nan)), float(row.get(f"{m}_ci95", np.nan)))  # type: ignore[arg-type]
    d = row.get(f"d_{m}")
    if d is not None and np.isfinite(float(d)):  # type: ignore[arg-type]
        text += f" (Δ {format_ci(float(d), float(row.get(f'd_{m}_ci95', np.nan)))})"  # type: ignore[arg-type]
    return text


def _columns(table: pd.DataFrame) -> list[str]:
    skip = {"scenario", "recommender", "arm", "seeds", "persistence"}
    return [c for c in table.columns if c not in skip and not c.endswith("_ci95") and not c.startswith("d_")]


def _markdown(name: str, table: pd.DataFrame) -> list[str]:
    cols = _columns(table)
    extra = ["persistence"] if "persistence" in table else []
    lines = [f"### {name}", "", "| scenario | recommender | arm | seeds | " + " | ".join(cols + extra) + " |",
             "|" + "---|" * (4 + len(cols) + len(extra))]  # fmt: skip
    for r in table.to_dict("records"):
        vals = [_cell(r, m) for m in cols]
        if extra:
            p = r.get("persistence")
            vals.append(f"{float(p):.2f}" if p is not None and np.isfinite(float(p)) else "–")
        lines.append(f"| {r['scenario']} | {r['recommender']} | {r['arm']} | {r['seeds']} | " + " | ".join(vals) + " |")
    return [*lines, ""]


def _summary_cell(row: Mapping[str, object], m: str) -> str:
    v = row.get(m)
    if v is None or not np.isfinite(float(v)):  # type: ignore[arg-type]
        return "–"
    if m == "persistence" or m == "defence_fake_recall":
        return f"{float(v):.2f}"  # type: ignore[arg-type]
    return format_ci(float(v), float(row.get(f"{m}_ci95", np.nan)))  # type: ignore[arg-type]


def summary(table: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """The family's headline: one row per attacked arm, scenario and recommender, the paired differences
    (mean ± 95% CI over seeds) of :data:`HEADLINE`, as text."""
    cols = [m for g in groups for m in HEADLINE.get(g, ()) if m in table]
    cols = list(dict.fromkeys(cols))
    rows = []
    for r in table.to_dict("records"):
        if not any(k.startswith("d_") and np.isfinite(float(r[k])) for k in r if k.startswith("d_") and r[k] is not None
                   and not isinstance(r[k], str)):  # fmt: skip
            continue  # the baseline
        rows.append({"scenario": r["scenario"], "recommender": r["recommender"], "arm": r["arm"],
                     **{SHORT.get(m, m): _summary_cell(r, m) for m in cols}})  # fmt: skip
    return pd.DataFrame(rows)


def _summary_markdown(name: str, table: pd.DataFrame, groups: Sequence[str]) -> list[str]:
    s = summary(table, groups)
    if not len(s):
        return []
    head = list(s.columns)
    lines = [f"### {name}: summary (paired with the baseline arm)", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]  # fmt: skip
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in s.to_dict("records")]
    return [*lines, ""]


def _html_table(table: pd.DataFrame) -> str:
    cols = _columns(table)
    extra = ["persistence"] if "persistence" in table else []
    head = "".join(f"<th>{esc(h)}</th>" for h in ["scenario", "recommender", "arm", "seeds", *cols, *extra])
    body = []
    for r in table.to_dict("records"):
        tds = [f"<td>{esc(r[k])}</td>" for k in ("scenario", "recommender", "arm")] + [f'<td class="n">{r["seeds"]}</td>']
        tds += [f'<td class="n">{esc(_cell(r, m))}</td>' for m in cols]
        if extra:
            p = r.get("persistence")
            tds.append(f'<td class="n">{f"{float(p):.2f}" if p is not None and np.isfinite(float(p)) else "–"}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return wide(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def _over_time(run_dirs: Sequence[str], group: str) -> pd.DataFrame | None:
    """Mean over seeds, per step: the group's exposure (× 10,000) and the genuine users' satisfaction."""
    frames = []
    for d in run_dirs:
        probe, metrics = Path(d) / "robustness.parquet", Path(d) / "metrics.parquet"
        if not probe.is_file() or not metrics.is_file():
            continue
        p = pd.read_parquet(probe)
        p = p[(p["group"] == group) & (p["step"] >= 1)][["step", "exposure"]]
        m = pd.read_parquet(metrics)[["step", "mean_satisfaction"]]
        f = p.merge(m, on="step", how="outer")
        f["exposure_e4"] = f["exposure"] * PER_10K
        frames.append(f)
    if not frames:
        return None
    return pd.concat(frames).groupby("step", as_index=False).mean(numeric_only=True)


def _plots(cells: pd.DataFrame, name: str, family: Family) -> list[str]:
    figure_cls = figure_class()
    if figure_cls is None:
        return ['<p class="note">install simrec[plots] for plots</p>']
    out = []
    cells = _with_scaled(cells)
    arms = [family.baseline, *family.arms]
    for base, g in cells.groupby("base", sort=False):
        recs = list(dict.fromkeys(g["recommender"]))
        for group in family.groups:
            panels = [(rec, col) for rec in recs for col in ("exposure_e4", "mean_satisfaction")]
            fig, axes = subplot_grid(figure_cls, len(panels))
            drawn = False
            for ax, (rec, col) in zip(axes, panels, strict=True):
                frames = {}
                for arm in arms:
                    dirs = g[(g["recommender"] == rec) & (g["arm"] == arm)]["run_dir"].tolist()
                    f = _over_time(dirs, group)
                    if f is not None:
                        frames[arm] = f
                drawn |= bool(frames)
                what = f"{group} impressions per 10k" if col == "exposure_e4" else "satisfaction"
                draw_lines(ax, frames, [col], f"{rec}: {what}", True)
            if drawn:
                out.append(f"<h3>{esc(base)}: {esc(group)} exposure and satisfaction over time (mean over seeds)</h3>")
                out.append(png_img(fig, f"{name} {base} {group}: over time"))
    return out


def text_markdown(table: pd.DataFrame) -> list[str]:
    """The text family's table (rows of :func:`simrec.robustness.text_probe.text_uplift`)."""
    cols = [c for c in ("watch_clean", "watch_attacked", "stars_clean", "stars_attacked", "markers_neutralised",
                        "texts_flagged", "pairs") if c in table]  # fmt: skip
    lines = ["## text attacks (paired pages)", "",
             "| policy | model | attack | defence | field | watch uplift (95% CI) | stars uplift (95% CI) | "
             + " | ".join(cols) + " |", "|" + "---|" * (7 + len(cols))]  # fmt: skip
    for r in table.to_dict("records"):
        def span(key: str, r: Mapping[str, object] = r) -> str:
            v, lo, hi = (float(r.get(k, np.nan)) for k in (key, f"{key}_lo", f"{key}_hi"))  # type: ignore[arg-type]
            return f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]" if np.isfinite(v) else "–"

        vals = [f"{float(r[c]):.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        lines.append(f"| {r.get('policy')} | {r.get('model', '-')} | {r.get('attack')} | {r.get('defence')} | {r.get('field')} | "
                     f"{span('watch_uplift')} | {span('stars_uplift')} | " + " | ".join(vals) + " |")  # fmt: skip
    return [*lines, ""]


def write_robustness_report(
    bench_dir: Path, cells: pd.DataFrame, families: Mapping[str, Family], text: pd.DataFrame | None = None,
    title: str = "robustness",
) -> Path:  # fmt: skip
    """Write ``robustness.md``, ``robustness.csv`` and ``robustness.html`` into ``bench_dir``; returns the HTML."""
    intro = ("Mean ± 95% CI over seeds; (Δ …) is the paired difference with the family's baseline arm. "
             "`_e4`: per 10,000 impressions. Genuine users only: fake profiles never browse.")  # fmt: skip
    md = [f"# simrec robustness: {title}", "", intro, ""]
    note = ("<p class=desc>Mean ± 95% CI over seeds; (Δ …) is the paired difference with the family's "
            "baseline arm; _e4: per 10,000 impressions.</p>")  # fmt: skip
    html = [f"<h1>simrec robustness: {esc(title)}</h1>", note]
    tables = []
    full: list[str] = ["## Every metric", ""]
    for name, family in families.items():
        table = family_table(cells, family)
        if not len(table):
            continue
        tables.append(table.assign(family=name))
        md += _summary_markdown(name, table, family.groups)
        full += _markdown(name, table)
        s = summary(table, family.groups)
        html += [f"<h2>{esc(name)}</h2>", "<h3>summary (paired with the baseline arm)</h3>",
                 wide(s.to_html(index=False, escape=True, border=0)) if len(s) else "",
                 "<h3>every metric</h3>", _html_table(table), *_plots(cells, name, family)]  # fmt: skip
    if text is not None and len(text):
        md += text_markdown(text)
    if tables:
        md += full
        html += ["<h2>text attacks (paired pages)</h2>", "<pre>" + esc("\n".join(text_markdown(text)[2:])) + "</pre>"]
    if tables:
        pd.concat(tables).to_csv(bench_dir / "robustness.csv", index=False)
    write_text(bench_dir / "robustness.md", "\n".join(md))
    return write_text(bench_dir / "robustness.html", html_page(f"simrec robustness {title}", html))
