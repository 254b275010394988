"""The bench's report.html: its leaderboard tables scroll sideways, its step axes tick whole steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.bench.runner import run_bench
from simrec.bench.spec import load_spec
from tests.io.test_report import assert_integer_step_ticks, needs_mpl
from tests.io.test_report_texts import parse, rows, section

TINY = """name: tiny
seed: 1
environment:
  data: {source: synthetic, n_users: 100, n_items: 120, n_genres: 5, interactions_per_user: 8}
  page_size: 5
  pages_per_session: 2
run: {steps: 3}
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A 2 recommenders × 2 seeds bench of three steps, and the figures its report drew."""
    import simrec.bench.report as bench_report

    out = tmp_path_factory.mktemp("bench")
    scenario = out / "tiny.yaml"
    scenario.write_text(TINY)
    spec = load_spec(
        None, scenarios=[str(scenario)], recommenders=["random", "most_popular"], seeds=2,
        executor="serial", output_dir=str(out), name="b",
    )  # fmt: skip
    figures: list = []
    draw = bench_report.png_img

    def record(fig: object, alt: str) -> str:
        figures.append(fig)
        return draw(fig, alt)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench_report, "png_img", record)
        result = run_bench(spec)
    return result.bench_dir, figures


def test_leaderboard_table_scrolls_sideways(bench: tuple[Path, list]) -> None:
    html = (bench[0] / "report.html").read_text(encoding="utf-8")
    assert ".wide{overflow-x:auto" in html and "tabular-nums;white-space:nowrap}" in html
    nodes = section(parse(html), "tiny")
    board = rows(next(n for n in nodes if n[0] == "div"))
    assert board[0][:4] == ["rank", "recommender", "seeds", "click_rate"]
    assert len(board[0]) > 10 and sorted(r[1] for r in board[1:]) == ["most_popular", "random"]
    assert all(" ± " in cell for r in board[1:] for cell in r[3:] if cell != "–")


@needs_mpl
def test_over_time_plots_tick_whole_steps(bench: tuple[Path, list]) -> None:
    _, figures = bench
    assert len(figures) == 2  # over time, exposure
    assert assert_integer_step_ticks(figures) == 6  # one panel per OVER_TIME metric
