"""Tests of the HTML run and comparison reports on hand-made run folders."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import ConfigError, DataError
from simrec.io.report import write_comparison_report, write_run_report

needs_mpl = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib (simrec[plots])"
)
NAN = float("nan")
IMG = re.compile(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]+"')
SOCIAL_COLUMNS = ("edges", "follows", "unfollows", "homophily", "echo_chamber", "shares")


def _metrics(
    steps: int = 6, social: bool = False, llm: bool = False, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "step": np.arange(steps),
            "sessions": rng.integers(5, 20, steps),
            "pages": rng.integers(10, 40, steps),
            "ctr": rng.random(steps),
            "mean_rating": 1 + 4 * rng.random(steps),
            "pages_per_session": 1 + rng.random(steps),
            "voluntary_exits": rng.integers(0, 5, steps),
            "mean_satisfaction": rng.random(steps),
            "retrained": [False] * steps,
        }
    )
    df.loc[2, "mean_rating"] = NAN  # no ratings at step 2: a gap
    if social:
        for col in SOCIAL_COLUMNS:
            df[col] = rng.random(steps)
        df.loc[[0, 3], "homophily"] = NAN  # measured only at some steps
    if llm:
        df["llm_calls"] = rng.integers(0, 50, steps)
        df["llm_prompt_tokens"] = rng.integers(0, 5000, steps)
    return df


def _run(
    path: Path,
    metrics: pd.DataFrame | None,
    description: str = "A small test scenario",
    cascades: pd.DataFrame | None = None,
) -> Path:
    path.mkdir(parents=True)
    manifest = {
        "name": path.name,
        "status": "completed",
        "seed": 7,
        "scenario": {
            "name": "test-scenario",
            "description": description,
            "recommender": {"name": "mf"},
            "policy": {"name": "choice"},
        },
        "timings_s": {"run": 1.5, "total": 2.0},
        "phase_timings_s": {"recommend": 0.5, "browse": 0.7},
        "totals": {"sessions": 42, "clicks": 17},
        "steps_completed": 6,
    }
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if metrics is not None:
        metrics.to_parquet(path / "metrics.parquet")
    if cascades is not None:
        cascades.to_parquet(path / "cascades.parquet")
    return path


def _cascades(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "cascade": np.arange(n),
            "root_user": rng.integers(0, 10, n),
            "item": rng.integers(0, 10, n),
            "start_step": rng.integers(0, 6, n),
            "size": rng.geometric(0.5, n),
            "depth": rng.geometric(0.7, n) - 1,
            "breadth": rng.integers(1, 4, n),
            "reach": rng.integers(1, 20, n),
        }
    )


@needs_mpl
def test_run_report_without_social(tmp_path: Path) -> None:
    run = _run(tmp_path / "plain", _metrics())
    out = write_run_report(run)
    assert out == run / "report.html"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for part in ("Run plain", "Summary", "Behaviour over time", "Last-step metrics"):
        assert part in text
    for part in ("test-scenario", "mf", "choice", "completed", "Totals", "Timings (s)"):
        assert part in text
    assert "Social graph" not in text and "<h2>LLM</h2>" not in text
    assert len(IMG.findall(text)) == 1  # one grid for the behaviour section
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temp file left


@needs_mpl
def test_run_report_with_social_llm_and_cascades(tmp_path: Path) -> None:
    run = _run(tmp_path / "social", _metrics(social=True, llm=True), cascades=_cascades())
    text = write_run_report(run).read_text(encoding="utf-8")
    assert "Social graph" in text and "<h2>LLM</h2>" in text
    assert "cascade size and depth distribution" in text
    assert len(IMG.findall(text)) == 4  # behaviour, social, cascade histograms, LLM


@needs_mpl
def test_cascade_histogram_needs_cascades(tmp_path: Path) -> None:
    empty = _cascades().iloc[:0]
    run = _run(tmp_path / "empty", _metrics(social=True), cascades=empty)
    text = write_run_report(run).read_text(encoding="utf-8")
    assert "Social graph" in text
    assert "cascade size and depth distribution" not in text
    assert len(IMG.findall(text)) == 2


@needs_mpl
def test_run_report_escapes_manifest_text(tmp_path: Path) -> None:
    run = _run(tmp_path / "evil", _metrics(), description='<script>alert("x")</script> & co')
    text = write_run_report(run).read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in text


@needs_mpl
def test_run_report_is_deterministic(tmp_path: Path) -> None:
    run = _run(tmp_path / "det", _metrics(social=True), cascades=_cascades())
    first = write_run_report(run).read_bytes()
    second = write_run_report(run).read_bytes()
    assert first == second


def test_run_report_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # any import of it raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    run = _run(tmp_path / "noplots", _metrics(social=True), cascades=_cascades())
    text = write_run_report(run).read_text(encoding="utf-8")
    assert "install simrec[plots] for plots" in text
    assert "<img" not in text
    assert "Behaviour over time" in text and "Last-step metrics" in text and "Totals" in text


def test_run_report_without_metrics_or_manifest(tmp_path: Path) -> None:
    run = tmp_path / "bare"
    run.mkdir()
    text = write_run_report(run).read_text(encoding="utf-8")
    assert "Run bare" in text and "No metrics.parquet" in text
    assert "Behaviour over time" not in text and "<img" not in text
    with pytest.raises(DataError):
        write_run_report(tmp_path / "missing")


@needs_mpl
def test_comparison_report(tmp_path: Path) -> None:
    random_run = _run(tmp_path / "runs" / "echo" / "random", _metrics(social=True, seed=1))
    mf_run = _run(tmp_path / "runs" / "echo" / "mf", _metrics(social=True, llm=True, seed=2))
    write_run_report(random_run)  # only one variant has its own report
    out_dir = tmp_path / "reports" / "echo"
    out = write_comparison_report(out_dir, {"random": random_run, "mf": mf_run}, title="Echo <1>")
    assert out == out_dir / "report.html"
    text = out.read_text(encoding="utf-8")
    assert "Echo &lt;1&gt;" in text and "Echo <1>" not in text
    assert "<td>random</td>" in text and "<td>mf</td>" in text
    assert 'href="../../runs/echo/random/report.html"' in text
    assert "runs/echo/mf/report.html" not in text
    assert "Behaviour over time" in text and "Social graph" in text and "Key metrics" in text
    assert "<h2>LLM</h2>" not in text  # LLM columns exist in one variant only
    assert len(IMG.findall(text)) == 2
    assert (
        out.read_bytes()
        == write_comparison_report(
            out_dir, {"random": random_run, "mf": mf_run}, title="Echo <1>"
        ).read_bytes()
    )

    stacked = pd.read_parquet(out_dir / "comparison.parquet")
    assert stacked.columns[0] == "variant"
    assert stacked["variant"].tolist() == ["random"] * 6 + ["mf"] * 6
    assert (
        "llm_calls" in stacked
        and stacked.loc[stacked["variant"] == "random", "llm_calls"].isna().all()
    )
    mf_rows = stacked.loc[stacked["variant"] == "mf"].reset_index(drop=True)
    pd.testing.assert_series_equal(
        mf_rows["ctr"], pd.read_parquet(mf_run / "metrics.parquet")["ctr"], check_names=False
    )


def test_comparison_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write_comparison_report(tmp_path / "out", {})
    with pytest.raises(DataError):
        write_comparison_report(tmp_path / "out", {"x": _run(tmp_path / "x", None)})


def _drawn_axes(monkeypatch: pytest.MonkeyPatch, module: object) -> list:
    """Every matplotlib axes the report module draws (``png_img`` records its figures)."""
    from simrec.io import report

    figures: list = []
    draw = report.png_img

    def record(fig: object, alt: str) -> str:
        figures.append(fig)
        return draw(fig, alt)

    monkeypatch.setattr(module, "png_img", record)
    return figures


def assert_integer_step_ticks(figures: list) -> int:
    """Every step axis of ``figures`` ticks whole numbers only; returns how many were checked."""
    checked = 0
    for fig in figures:  # drawn into their PNG already: tick labels have their text
        for ax in fig.axes:
            if ax.get_xlabel() != "step":
                continue
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.xaxis.get_majorticklocs() if lo <= t <= hi]
            labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            assert labels and all(lab.lstrip("−-").isdigit() for lab in labels), labels
            checked += 1
    return checked


@needs_mpl
def test_step_axes_tick_whole_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simrec.io import report

    figures = _drawn_axes(monkeypatch, report)
    run = _run(tmp_path / "short", _metrics(steps=4, social=True, llm=True), cascades=_cascades())
    write_run_report(run)
    assert assert_integer_step_ticks(figures) == 6 + 4 + 2  # behaviour, social and LLM panels
    cascade_axes = [a for fig in figures for a in fig.axes if a.get_xlabel() in ("size", "depth")]
    assert cascade_axes and all(
        float(t).is_integer() for ax in cascade_axes for t in ax.xaxis.get_majorticklocs()
    )
    figures.clear()
    other = _run(tmp_path / "other", _metrics(steps=3, seed=4))
    write_comparison_report(tmp_path / "cmp", {"a": run, "b": other})
    assert assert_integer_step_ticks(figures) == 6


def test_every_table_scrolls_sideways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simrec.io import report
    from tests.io.test_report_texts import parse

    monkeypatch.setattr(report, "figure_class", lambda: None)  # tables only: fast
    run = _run(tmp_path / "wide", _metrics(social=True, llm=True))
    html = write_run_report(run).read_text(encoding="utf-8")
    assert ".wide{overflow-x:auto" in html

    def walk(node: list, parent: list | None) -> int:
        found = 0
        if node[0] == "table":
            assert parent is not None and parent[0] == "div" and parent[1].get("class") == "wide"
            found += 1
        return found + sum(walk(c, node) for c in node[2] if isinstance(c, list))

    assert walk(parse(html), None) >= 4  # header, summary tables, last-step metrics
    other = _run(tmp_path / "b", _metrics(seed=3))
    cmp_html = write_comparison_report(tmp_path / "cmp", {"a": run, "b": other}).read_text()
    assert walk(parse(cmp_html), None) == 2  # variants, key metrics
