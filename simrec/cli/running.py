"""``simrec run`` and ``simrec run --resume``: the progress bar, the resume banner, the run summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simrec.cli.common import console, fail, out, show
from simrec.core.errors import SimrecError

if TYPE_CHECKING:
    from simrec.env.runner import RunResult, StepInfo


def with_progress(
    call: Callable[[Callable[[StepInfo], None]], RunResult], total: int, done: int, quiet: bool, first: str,
    interrupted: str,
) -> None:  # fmt: skip
    """Run ``call(on_step)`` under a progress bar of ``total`` steps; print its summary or its error."""
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, disable=quiet, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task("steps", total=total, completed=done, info=first)

        def on_step(info: StepInfo) -> None:
            if info.page is not None:  # within a step: the LLM's work so far
                bar.update(task, completed=info.step, info=f"step {info.step + 1}: page {info.page + 1} played, "
                           f"{info.browsing:,} still browsing · {info.llm_calls:,} LLM calls")  # fmt: skip
                return
            rate = info.events / info.elapsed if info.elapsed > 0 else 0.0
            bar.update(task, completed=info.step, info=f"active users {info.sessions:,} · {rate:,.0f} events/s")

        try:
            result = call(on_step)
        except SimrecError as exc:
            bar.stop()
            fail(exc)
            return
        except KeyboardInterrupt:
            bar.stop()
            console.print(interrupted, highlight=False)
            raise typer.Exit(code=130) from None
    print_summary(result)


def resume(run_dir: Path, quiet: bool) -> None:
    """``simrec run --resume RUN_DIR``."""
    from simrec.env.checkpoint import latest
    from simrec.env.runner import resume_scenario
    from simrec.io.manifest_model import Manifest

    try:
        manifest = Manifest.read(run_dir)
        steps = int((manifest.scenario or {}).get("run", {}).get("steps", 0))
        file, positions, _, skipped = latest(run_dir)
    except SimrecError as exc:
        fail(exc)
        return
    for line in skipped:
        console.print(f"[yellow]skipped a damaged checkpoint[/]: {line}", highlight=False)
    console.print(f"[bold]simrec[/] resuming [cyan]{run_dir}[/] from step {positions.step} of {steps} "
                  f"({file.path.name})", highlight=False)  # fmt: skip
    with_progress(
        lambda on_step: resume_scenario(run_dir, progress=on_step), steps, positions.step, quiet, "restoring…",
        f"[yellow]interrupted[/]: resume it again with `simrec run --resume {run_dir}`.",
    )


def say_adapter(cfg) -> None:  # noqa: ANN001
    """Which embedded model LLM-driven agents think with (tuned or not)."""
    from simrec.agents.policies.base import policy_uses_llm
    from simrec.io.adapters import resolve_llm

    try:
        if cfg.llm.backend != "llamacpp" or not policy_uses_llm(cfg.policy):
            return
        adapter = resolve_llm(cfg).adapter
    except SimrecError:
        return  # the run itself reports it
    model = cfg.llm.model or "smollm2-135m"
    if adapter == "none":
        console.print(f"LLM-driven agents think with the untuned {model}; `simrec tune {cfg.name}` teaches it "
                      "this data set's users.", highlight=False)  # fmt: skip
    else:
        console.print(f"LLM-driven agents think with {model} tuned for this scenario ({adapter}).", highlight=False)


def print_summary(result) -> None:  # noqa: ANN001
    """The table a finished run prints: totals, timings, the run folder, and the first texts agents wrote."""
    if result.variants:
        print_variants(result)
        return
    t = result.totals
    table = Table(title=f"run {result.run_dir.name}", show_header=False)
    impressions = t.get("impressions", 0)
    rows = [
        ("steps", str(len(result.metrics))),
        ("sessions", f"{t.get('sessions', 0):,}"),
        ("impressions", f"{impressions:,}"),
        ("clicks", f"{t.get('clicks', 0):,}"),
        ("click rate", f"{t.get('clicks', 0) / impressions:.3f}" if impressions else "-"),
        ("pages per session", f"{t.get('pages', 0) / max(t.get('sessions', 0), 1):.2f}"),
        ("events written", f"{t.get('events', 0):,}"),
        ("simulate time", f"{result.timings.get('simulate', 0):.2f} s"),
        ("run folder", str(result.run_dir)),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    from simrec.io.texts import read_texts

    texts = read_texts(result.run_dir)
    if len(texts):
        import pandas as pd

        ids = pd.read_parquet(result.run_dir / "users.parquet", columns=["user", "user_id"]).set_index("user")["user_id"]
        sample = Table(title="what LLM-driven agents wrote (first lines; all in texts.parquet; user: raw user id)")
        for col in ("step", "user", "kind", "stars", "text"):
            sample.add_column(col)
        for row in texts.head(8).itertuples():
            sample.add_row(str(row.step), str(ids.get(row.user, row.user)), row.kind, f"{row.stars:g}" if row.stars else "",
                           escape(row.text))  # what an agent wrote is text, never markup
        out.print(sample)


def print_variants(result) -> None:
    """One row per variant: behaviour and, when the graph lives, its social state at the last step."""
    keys = [("ctr", "click rate"), ("mean_rating", "mean rating"), ("pages_per_session", "pages/session"),
            ("homophily", "homophily"), ("echo_chamber", "echo chamber"), ("shares", "shares")]  # fmt: skip
    table = Table(title=f"variants of {result.run_dir.name} (report.html compares them)")
    table.add_column("variant")
    last = {n: r.metrics.iloc[-1] for n, r in result.variants.items() if len(r.metrics)}
    shown = [(k, label) for k, label in keys if all(k in row for row in last.values())]
    for _, label in shown:
        table.add_column(label, justify="right")
    for name, row in last.items():
        table.add_row(name, *(f"{float(row[k]):.3f}" if k != "shares" else f"{int(row[k]):,}" for k, _ in shown))
    show(table)
    out.print(f"run folder: {result.run_dir}")
