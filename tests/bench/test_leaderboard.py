"""The leaderboard's terminal tables: every column name whole, on wide and narrow terminals."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from simrec.bench.leaderboard import leaderboard, print_fitted, terminal_table

COLS = ["click_rate", "avg_rating", "return_rate", "recall", "coverage", "exposure_gini"]
TINY = """name: tiny
seed: 1
environment:
  data: {source: synthetic, n_users: 100, n_items: 120, n_genres: 5, interactions_per_user: 8}
  page_size: 5
  pages_per_session: 2
run: {steps: 2}
"""


def _board(recommenders: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    cells = pd.DataFrame(
        [{"scenario": "tiny", "recommender": r, "seed": s, "wall_s": 2.0,
          **{c: rng.random() for c in COLS}} for r in recommenders for s in range(3)]
    )  # fmt: skip
    return leaderboard(cells)


def headers(text: str) -> list[str]:
    """The column names of the first table in ``text``, joining the lines a header broke over."""
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if line.lstrip().startswith("┏"))
    rule = next(i for i in range(top, len(lines)) if lines[i].lstrip().startswith("┡"))
    rows = [
        [part.strip() for part in line.strip().strip("┃").split("┃")]
        for line in lines[top + 1 : rule]
    ]
    return ["".join(parts) for parts in zip(*rows, strict=True)]


def _render(board: pd.DataFrame, width: int) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None)
    print_fitted(console, terminal_table(board, "tiny", COLS, console.width))
    return buf.getvalue()


@pytest.mark.parametrize("width", [200, 80, 50])
def test_column_names_are_never_cut(width: int) -> None:
    board = _board(["most_popular", "random", "mf"])
    text = _render(board, width)
    assert "…" not in text
    assert headers(text) == ["rank", "recommender", *COLS, "s/cell"]
    for rec in ("most_popular", "random", "mf"):
        assert rec in text
    widest = max(len(line) for line in text.splitlines())
    if width >= 80:  # six metrics fit 80 columns (stacked), and one line per row in 200
        assert widest <= width
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == (3 if width == 200 else 6)  # the ± CI under its mean when narrow


def test_bench_command_on_an_80_column_terminal(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simrec.cli import app

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    args = ["bench", "--scenario", str(scenario), "--rec", "random", "--rec", "most_popular",
            "--seeds", "2", "--executor", "serial", "--out", str(tmp_path), "--name", "n", "-q"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert headers(result.output) == ["rank", "recommender", *COLS, "s/cell"]
    table = [line for line in result.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 80
