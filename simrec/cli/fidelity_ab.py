"""``simrec fidelity --ab``: the A/B-ranking study under a progress bar, and its tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simrec.cli.common import console, out, show

if TYPE_CHECKING:
    from simrec.config.schema import ScenarioConfig
    from simrec.fidelity.result import ABRanking


@contextmanager
def ab_study(
    recommenders: list[str] | None, seeds: int, steps: int | None, executor: str, quiet: bool
) -> Iterator[Callable[[ScenarioConfig, Path, int], ABRanking]]:
    """The study as ``run_fidelity``'s ``ab`` callback, its progress drawn by a bar this block owns.

    The recommender names are checked here, before the scorecard's work starts.

    Raises:
        ConfigError: for an unknown recommender name.
    """
    from simrec.core.errors import ConfigError
    from simrec.fidelity.ab import check_recommenders, default_recommenders, measure_ab

    names = check_recommenders(recommenders or default_recommenders())
    if executor not in ("local", "serial", "ray"):
        raise ConfigError(f"--ab-executor must be local, serial or ray; got '{executor}'.")
    with Progress(TextColumn("A/B ranking"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, disable=quiet) as bar:  # fmt: skip
        task = bar.add_task("ab", total=None, info="scorecard first…")

        def on_progress(note: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, info=note)

        def study(cfg: ScenarioConfig, folder: Path, seed: int) -> ABRanking:
            console.print(
                f"A/B ranking: {len(names)} recommenders ({', '.join(names)}) × {seeds} seeds, "
                f"{steps or cfg.run.steps} steps each ({executor}), then each fitted on the real training split",
                highlight=False,
            )
            bar.update(task, info="bench…")
            return measure_ab(
                cfg, folder, seed, names, seeds, steps, executor=executor, progress=on_progress
            )

        yield study


def print_ab(ab: ABRanking) -> None:
    """Per recommender the real and simulated values and ranks; then τ and ρ with their intervals."""
    from simrec.fidelity.writers import ab_tables

    per_rec, agree = ab_tables(ab)
    shown = Table(title="A/B ranking: real held-out vs simulated (value (rank), mean over users)")
    for c in per_rec.columns:
        shown.add_column(c, justify="left" if c == "recommender" else "right")
    for row in per_rec.itertuples(index=False):
        shown.add_row(*(str(v) for v in row))
    show(shown)
    rank = Table(title="ranking agreement (percentile bootstrap over users)")
    for c in agree.columns:
        rank.add_column(c, justify="left" if c == "metric" else "right")
    for r in agree.to_dict("records"):
        rank.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()))
    show(rank)
    wall = ab.info.get("timings_s", {})
    out.print(
        f"A/B ranking: {sum(wall.values()):.0f} s (bench {wall.get('simulated', 0):.0f} s, real-side fits "
        f"and scoring {wall.get('real_and_scoring', 0):.0f} s); bench: {ab.info.get('bench_dir')}"
    )
