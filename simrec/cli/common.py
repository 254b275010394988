"""What every ``simrec`` command shares: the two consoles, the one way to fail, scenario loading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simrec.core.errors import SimrecError

console = Console(stderr=True)
out = Console()


def show(table: Table) -> None:
    """Print a table of figures on stdout whole: wider than the terminal, it runs on rather
    than cutting headers and numbers to ``…`` (:func:`simrec.bench.leaderboard.print_fitted`)."""
    from simrec.bench.leaderboard import print_fitted

    print_fitted(out, table)


def say_error(exc: BaseException) -> None:
    """Print ``exc`` as the one-paragraph error every command gives (its text verbatim, not markup)."""
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def fail(exc: SimrecError) -> NoReturn:
    """:func:`say_error`, then exit with code 2."""
    say_error(exc)
    raise typer.Exit(code=2)


def load(scenario: Path, overrides: list[str]):  # noqa: ANN202 - ScenarioConfig, imported lazily
    """Load a scenario; MovieLens data without a cache dir gets ``$SIMREC_CACHE_DIR``."""
    from simrec.config import load_scenario

    cfg = load_scenario(scenario, overrides)
    if cfg.environment.data.source == "movielens" and cfg.environment.data.cache_dir is None:
        cfg = load_scenario(scenario, env_overrides(scenario, overrides) + overrides)
    return cfg


def load_or_fail(scenario: Path, overrides: list[str]):  # noqa: ANN202 - ScenarioConfig, imported lazily
    """:func:`load`, or the command's clean error (exit 2) when the scenario is rejected."""
    try:
        return load(scenario, overrides)
    except SimrecError as exc:
        fail(exc)


def env_overrides(cfg_path: Path | None, overrides: list[str]) -> list[str]:
    """Defaults taken from the environment, before the user's own overrides."""
    extra = []
    cache = os.environ.get("SIMREC_CACHE_DIR")
    if cache and not any(o.startswith("environment.data.cache_dir=") for o in overrides):
        extra.append(f"environment.data.cache_dir={cache}")
    return extra
