"""Self-contained HTML reports of one run folder, or of several runs side by side.

A report is one ``report.html`` with inline CSS and its plots embedded as base64
PNG images, so it can be mailed or attached as a CI artifact. Plots need
matplotlib (``pip install simrec[plots]``); without it the report holds only
the tables. The same inputs always give the same bytes: PNGs carry no
timestamp and the HTML no current time.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simrec.core.errors import ConfigError, DataError
from simrec.io.manifest import atomic_path, read_parquet_checked, write_parquet_atomic
from simrec.io.report_texts import texts_section

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
COMPARISON_NAME = "comparison.parquet"
_NO_PLOTS = "install simrec[plots] for plots"

#: Sections of a report: title and panels; a panel is the metrics drawn on one subplot.
SECTIONS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    (
        "Behaviour over time",
        (
            ("ctr",),
            ("mean_rating",),
            ("sessions",),
            ("pages_per_session",),
            ("mean_satisfaction",),
            ("voluntary_exits",),
        ),
    ),
    (
        "Social graph",
        (
            ("edges",),
            ("follows", "unfollows"),
            ("homophily", "taste_assortativity", "echo_chamber"),
            ("taste_spread", "neighbour_spread"),
            ("taste_modularity", "community_modularity"),
            ("shares", "cascades"),
            ("cascade_max_size", "cascade_max_depth"),
            ("social_exposure_gini",),
            ("seed_cascade_size", "seed_cascade_depth", "seed_cascade_reach"),
        ),
    ),
    (
        "LLM",
        (
            ("llm_calls", "llm_cached"),
            ("llm_prompt_tokens", "llm_completion_tokens"),
            ("llm_decisions", "llm_fallbacks", "texts_dropped"),
            ("memories", "reflections", "profiles_updated"),
        ),
    ),
)
#: Metrics of the comparison table (final and mean value per variant), where present.
KEY_METRICS: tuple[str, ...] = (
    "ctr",
    "mean_rating",
    "sessions",
    "pages_per_session",
    "mean_satisfaction",
    "voluntary_exits",
    "shares",
    "homophily",
    "echo_chamber",
    "llm_calls",
)

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
img{max-width:100%}.note{color:#a60}.desc{color:#555}
.wide{overflow-x:auto;max-width:100%;margin:.5em 0 1em}.wide>table{margin:0}"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A table cell's text: integers plainly, floats to 4 significant digits, NaN as '–'."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "–"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return "–" if value is None or value is pd.NA else str(value)


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; numbers right-aligned, NaN as '–'."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = (
            f'<td class="n">{esc(_fmt(v))}</td>'
            if isinstance(v, int | float | np.number) and not isinstance(v, bool)
            else f"<td>{esc(_fmt(v))}</td>"
            for v in row
        )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return wide(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def wide(table: str) -> str:
    """``table`` (HTML) in a box that scrolls sideways when the table is wider than the page."""
    return f'<div class="wide">{table}</div>'


def figure_class() -> Any | None:
    """matplotlib's ``Figure`` class, or ``None`` when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def subplot_grid(figure_cls: Any, count: int) -> tuple[Any, list[Any]]:
    """A figure with ``count`` subplots, three to a row."""
    ncols = min(3, count)
    nrows = math.ceil(count / ncols)
    width, height = 4.2 * ncols, 2.8 * nrows
    fig = figure_cls(figsize=(width, height), dpi=100)
    # fixed margins in inches: a layout engine would double the drawing time
    fig.subplots_adjust(
        left=0.55 / width,
        right=1 - 0.15 / width,
        bottom=0.45 / height,
        top=1 - 0.3 / height,
        wspace=0.3,
        hspace=0.6,
    )
    return fig, [fig.add_subplot(nrows, ncols, i + 1) for i in range(count)]


def png_img(fig: Any, alt: str) -> str:
    """The figure as an ``<img>`` with a base64 PNG (no timestamp, so byte-stable)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _series(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    x = df["step"] if "step" in df else pd.Series(np.arange(len(df)))
    y = pd.to_numeric(df[col], errors="coerce").astype(float)  # NaN stays NaN: a gap
    return x.to_numpy(float), y.to_numpy(float)


def draw_lines(
    ax: Any, frames: dict[str, pd.DataFrame], cols: Sequence[str], title: str, legend: bool
) -> None:
    """Plot ``cols`` of each frame on ``ax``; lines are labelled by frame key, else column."""
    for label, df in frames.items():
        for col in cols:
            x, y = _series(df, col)
            ax.plot(x, y, marker=".", markersize=3, linewidth=1.2, label=label or col)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    integer_ticks(ax.xaxis)
    ax.tick_params(labelsize=7)
    if legend:
        ax.legend(fontsize=7)


def integer_ticks(axis: Any) -> None:
    """Ticks of ``axis`` (a matplotlib ``Axis``) at whole numbers only: steps, sizes, depths."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _cascade_histograms(figure_cls: Any, cascades: pd.DataFrame) -> str:
    cols = [c for c in ("size", "depth") if c in cascades]
    if not cols:
        return ""
    fig, axes = subplot_grid(figure_cls, len(cols))
    for ax, col in zip(axes, cols, strict=True):
        values = pd.to_numeric(cascades[col], errors="coerce").dropna().to_numpy(float)
        if len(values) == 0:
            continue
        lo, hi = math.floor(values.min()), math.ceil(values.max())
        bins: Any = np.arange(lo - 0.5, hi + 1.5) if hi - lo <= 60 else 40
        ax.hist(values, bins=bins, log=True, color="#4477aa")
        ax.set_title(f"cascade {col} ({len(values)} cascades)", fontsize=9)
        ax.set_xlabel(col, fontsize=8)
        integer_ticks(ax.xaxis)
        ax.set_ylabel("count (log)", fontsize=8)
        ax.tick_params(labelsize=7)
    return png_img(fig, "cascade size and depth distribution")


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("No readable manifest.json in %s (%s); leaving it out.", run_dir, err)
        return {}
    return data if isinstance(data, dict) else {}


def _read_parquet(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return read_parquet_checked(path)


def html_page(title: str, body: Sequence[str]) -> str:
    """A self-contained HTML document (inline CSS)."""
    head = f'<head><meta charset="utf-8"><title>{esc(title)}</title><style>{_CSS}</style></head>'
    return (
        f'<!DOCTYPE html>\n<html lang="en">{head}<body>\n' + "\n".join(body) + "\n</body></html>\n"
    )


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("Wrote %s", path)
    return path


def href(target: Path, base: Path) -> str:
    """``target`` relative to the folder ``base`` as a URL path (a file URI across drives)."""
    try:
        return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    except ValueError:  # Windows: different drives
        return target.resolve().as_uri()


def _part_name(scenario: dict[str, Any], key: str) -> Any:
    part = scenario.get(key)
    return part.get("name", "–") if isinstance(part, dict) else "–"


def _header(manifest: dict[str, Any], run_dir: Path, metrics: pd.DataFrame | None) -> list[str]:
    scenario = manifest.get("scenario") or {}
    steps = manifest.get("steps_completed", len(metrics) if metrics is not None else "–")
    out = [f"<h1>Run {esc(manifest.get('name', run_dir.name))}</h1>"]
    if (partial := _incomplete(run_dir)) is not None:
        out.append(f'<p class="note"><b>Incomplete:</b> {esc(partial)}.</p>')
    if scenario.get("description"):
        out.append(f'<p class="desc">{esc(scenario["description"])}</p>')
    rows = [
        ("status", manifest.get("status", "–")),
        ("scenario", scenario.get("name", "–")),
        ("recommender", _part_name(scenario, "recommender")),
        ("policy", _part_name(scenario, "policy")),
        ("seed", manifest.get("seed", "–")),
        ("steps", steps),
    ]
    return [*out, html_table(["field", "value"], rows)]


def _incomplete(run_dir: Path) -> str | None:
    from simrec.io.manifest_model import Manifest, incomplete

    try:
        return incomplete(Manifest.read(run_dir))
    except DataError:
        return None


def _summary(manifest: dict[str, Any]) -> list[str]:
    out = []
    for key, title in (
        ("totals", "Totals"),
        ("timings_s", "Timings (s)"),
        ("phase_timings_s", "Phase timings (s)"),
        ("llm", "LLM usage"),
        ("social", "Social"),
    ):
        if isinstance(manifest.get(key), dict) and manifest[key]:
            out += [f"<h3>{title}</h3>", html_table(["key", "value"], list(manifest[key].items()))]
    return ["<h2>Summary</h2>", *out] if out else []


def write_run_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html``: header, summary, plots per section, what agents wrote,
    last-step metrics.

    Sections whose metrics (or files) a run lacks are left out; "What agents
    wrote" (:func:`~simrec.io.report_texts.texts_section`) is one line when no
    agent was LLM-driven. Without matplotlib the report holds the tables and a
    note instead of plots. Plots against steps tick whole steps only.

    Args:
        run_dir: A run folder (``manifest.json``, ``metrics.parquet``, optionally
            ``cascades.parquet``).

    Returns:
        The path of the report.

    Raises:
        DataError: ``run_dir`` does not exist or one of its tables is damaged.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(
            f"Run folder {run_dir} does not exist. Pass the folder of a run, e.g. runs/<name>/."
        )
    manifest = _read_manifest(run_dir)
    metrics = _read_parquet(run_dir / "metrics.parquet")
    cascades = _read_parquet(run_dir / "cascades.parquet")
    figure_cls = figure_class()
    body = [*_header(manifest, run_dir, metrics), *_summary(manifest)]
    if figure_cls is None:
        body.append(f'<p class="note">{_NO_PLOTS}</p>')
    if metrics is None or metrics.empty:
        body.append('<p class="note">No metrics.parquet in this run folder.</p>')
        metrics = pd.DataFrame()
    for title, panels in SECTIONS:
        present = [tuple(c for c in p if c in metrics) for p in panels]
        present = [p for p in present if p]
        has_cascades = title == "Social graph" and cascades is not None and not cascades.empty
        if not present and not has_cascades:
            continue
        body.append(f"<h2>{title}</h2>")
        if figure_cls is None:
            continue
        if present:
            fig, axes = subplot_grid(figure_cls, len(present))
            for ax, cols in zip(axes, present, strict=True):
                draw_lines(ax, {"": metrics}, cols, ", ".join(cols), len(cols) > 1)
            body.append(png_img(fig, title))
        if has_cascades:
            body.append(_cascade_histograms(figure_cls, cascades))
    body += texts_section(run_dir, manifest, html_table)
    if not metrics.empty:
        last = metrics.iloc[-1]
        body += ["<h2>Last-step metrics</h2>", html_table(["metric", "value"], list(last.items()))]
    name = manifest.get("name", run_dir.name)
    return write_text(run_dir / REPORT_NAME, html_page(f"simrec run {name}", body))


def write_comparison_report(
    out_dir: Path, runs: dict[str, Path], title: str = "simrec run comparison"
) -> Path:
    """Write ``out_dir/report.html`` comparing runs, and ``out_dir/comparison.parquet``.

    Each metric present in every run gets one subplot with one line per
    variant. The table lists each variant's final (last non-missing) and mean
    value of :data:`KEY_METRICS`; runs that have their own ``report.html`` are
    linked by relative path.

    Args:
        out_dir: Folder for the report (created if missing).
        runs: Variant name → run folder, in the order to show them.
        title: The report's heading.

    Returns:
        The path of the report.

    Raises:
        ConfigError: ``runs`` is empty.
        DataError: A run folder lacks ``metrics.parquet`` or it is damaged.
    """
    if not runs:
        raise ConfigError(
            "write_comparison_report needs at least one run, e.g. {'mf': Path('runs/mf')}."
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[str, pd.DataFrame] = {}
    for variant, run_dir in runs.items():
        df = _read_parquet(Path(run_dir) / "metrics.parquet")
        if df is None:
            raise DataError(
                f"{Path(run_dir) / 'metrics.parquet'} is missing; variant '{variant}' "
                "cannot be compared. Run it to the end first."
            )
        frames[str(variant)] = df
    stacked = pd.concat([df.assign(variant=v) for v, df in frames.items()], ignore_index=True)
    write_parquet_atomic(
        stacked[["variant", *[c for c in stacked if c != "variant"]]], out_dir / COMPARISON_NAME
    )
    common = set.intersection(*(set(df.columns) for df in frames.values()))
    rows = []
    for variant, run_dir in runs.items():
        manifest = _read_manifest(Path(run_dir))
        report = Path(run_dir) / REPORT_NAME
        link = f'<a href="{esc(href(report, out_dir))}">report</a>' if report.is_file() else "–"
        rows.append(
            f"<tr><td>{esc(variant)}</td><td>{esc(manifest.get('name', '–'))}</td>"
            f"<td>{esc(manifest.get('status', '–'))}</td><td>{link}</td></tr>"
        )
    body = [
        f"<h1>{esc(title)}</h1>",
        "<h2>Variants</h2>",
        wide(
            "<table><tr><th>variant</th><th>run</th>"
            "<th>status</th><th>report</th></tr>" + "".join(rows) + "</table>"
        ),
    ]
    values = []
    for metric in (m for m in KEY_METRICS if m in common):
        for variant, df in frames.items():
            y = pd.to_numeric(df[metric], errors="coerce").dropna()
            final, mean = (y.iloc[-1], y.mean()) if len(y) else (math.nan, math.nan)
            values.append((metric, variant, final, mean))
    if values:
        body += ["<h2>Key metrics</h2>", html_table(["metric", "variant", "final", "mean"], values)]
    figure_cls = figure_class()
    if figure_cls is None:
        body.append(f'<p class="note">{_NO_PLOTS}</p>')
    for section, panels in SECTIONS:
        metrics = [c for p in panels for c in p if c in common]
        if not metrics:
            continue
        body.append(f"<h2>{section}</h2>")
        if figure_cls is not None:
            fig, axes = subplot_grid(figure_cls, len(metrics))
            for ax, metric in zip(axes, metrics, strict=True):
                draw_lines(ax, frames, [metric], metric, True)
            body.append(png_img(fig, section))
    return write_text(out_dir / REPORT_NAME, html_page(title, body))
