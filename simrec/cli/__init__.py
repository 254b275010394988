"""The ``simrec`` command line (typer + rich).

The CLI is the only place that configures logging and reads environment
variables (``SIMREC_CACHE_DIR``: where downloaded data sets are cached).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simrec.cli import running
from simrec.cli.common import console, fail, load, load_or_fail, out, say_error, show
from simrec.cli.running import say_adapter, with_progress
from simrec.core.errors import SimrecError

app = typer.Typer(
    name="simrec",
    help="Agent-based user simulation for recommender systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("simrec")
        except PackageNotFoundError:  # a checkout on sys.path without an install
            number = "unknown (not installed)"
        out.print(f"simrec {number}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """Agent-based user simulation for recommender systems."""


@app.command()
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario YAML or shipped name, e.g. quickstart")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Override a key: path.to.key=value (repeatable)")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Parent folder of the run folder")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run folder name")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the run in this folder from its last checkpoint"),
    ] = None,
) -> None:
    """Run a scenario and write its run folder (or --resume one that crashed or was interrupted)."""
    from simrec.env.runner import run_scenario

    if resume is not None:
        if scenario is not None or set_ or out_dir is not None or name is not None:
            fail(SimrecError("--resume takes the run folder alone: the scenario, --set, --out and --name "
                              "are the ones the run started with (in its manifest.json)."))  # fmt: skip
            return
        running.resume(resume, quiet)
        return
    if scenario is None:
        fail(SimrecError("Give a scenario (a YAML file or a shipped name; `simrec list` shows them), "
                          "or --resume RUN_DIR."))  # fmt: skip
        return
    overrides = list(set_ or [])
    if out_dir is not None:
        overrides.append(f"run.output_dir={out_dir}")
    if name is not None:
        overrides.append(f"run.name={name}")
    cfg = load_or_fail(scenario, overrides)
    n_runs = max(1, len(cfg.variants))
    what = f"{cfg.run.steps} steps" + (f" × {n_runs} variants: {', '.join(cfg.variants)}" if cfg.variants else "")
    console.print(f"[bold]simrec[/] running [cyan]{cfg.name}[/] ({what})")
    say_adapter(cfg)
    with_progress(
        lambda on_step: run_scenario(cfg, progress=on_step), cfg.run.steps * n_runs, 0, quiet, "building world…",
        "[yellow]interrupted[/]: the run folder keeps every event part and metric written so far (manifest status: "
        "interrupted); `simrec run --resume <run folder>` continues it from its last checkpoint.",
    )

@app.command("list")
def list_() -> None:
    """List what is registered (recommenders, policies, LLM backends, embedders, memory stores, ...)."""
    from simrec.cli.listing import registry_rows

    table = Table(title="simrec registry")
    table.add_column("kind")
    table.add_column("names")
    table.add_column("set with")
    for kind, names, where in registry_rows():
        table.add_row(kind, ", ".join(names) or "-", where)
    out.print(table)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (runs/<name>)")],
    fmt: Annotated[
        list[str] | None, typer.Option("--format", "-f", help="recbole, csv or parquet (repeatable)")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write (default: inside the run)")] = None,
) -> None:
    """Export a run's real + simulated interactions (RecBole atomic files, CSV, Parquet)."""
    from simrec.io.export import export_run

    try:
        written = export_run(run_dir, fmt or ["recbole"], out_dir)
    except SimrecError as exc:
        fail(exc)
        return
    from simrec.io.export import INCOMPLETE_NOTE

    for kind, paths in written.items():
        for p in paths:
            if p.name == INCOMPLETE_NOTE:
                console.print(f"[yellow]incomplete run[/]: {p.read_text(encoding='utf-8').strip()} (noted in {p})",
                              highlight=False)  # fmt: skip
            else:
                out.print(f"{kind}: {p}")


@app.command()
def interview(
    run_dir: Annotated[Path, typer.Argument(help="A run folder of an llm or hybrid run")],
    question: Annotated[str, typer.Argument(help="What to ask")],
    user: Annotated[str, typer.Option("--user", "-u", help="Raw user id (as in users.parquet)")],
    k: Annotated[int, typer.Option(help="Memories to draw on")] = 5,
) -> None:
    """Ask a simulated user of a finished run a question; it answers in character from its memories."""
    from simrec.agents.interview import interview as ask

    try:
        answer = ask(run_dir, user, question, k)
    except SimrecError as exc:
        fail(exc)
        return
    console.print(f"[dim]persona:[/] {escape(answer.persona)}", highlight=False)
    for m in answer.memories:  # what agents wrote is text, never markup
        console.print(f"[dim]memory:[/] {escape(m)}", highlight=False)
    out.print(answer.text, highlight=False, markup=False)
    if not answer.ok:
        raise typer.Exit(code=1)


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML or shipped name (simrec list)")],
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="path.to.key=value")] = None,
) -> None:
    """Check a scenario and print the resolved configuration."""
    import yaml

    from simrec.env.preflight import preflight

    try:
        cfg = load(scenario, list(set_ or []))
        preflight(cfg)
    except SimrecError as exc:
        fail(exc)
        return
    out.print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


@app.command()
def bench(
    spec: Annotated[Path | None, typer.Argument(help="Bench spec YAML (benches/*.yaml); options override it")] = None,
    scenario: Annotated[list[Path] | None, typer.Option("--scenario", help="Scenario YAML or shipped name (repeatable)")] = None,
    rec: Annotated[list[str] | None, typer.Option("--rec", "-r", help="Recommender name (repeatable)")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds 0..N-1")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Steps per episode (run.steps)")] = None,
    executor: Annotated[str | None, typer.Option("--executor", "-e", help="local (processes), ray or serial")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Parallel cells")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Scenario override (repeatable); NAME:key=value only for the scenario NAME (its file stem)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Parent folder of the bench folder")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Bench folder name")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    select_on: Annotated[str | None, typer.Option("--select-on", help="validation: first choose the calibrated "
                                                  "agents' settings on a validation part of training")] = None,
) -> None:
    """Run recommenders × scenarios × seeds as interactive episodes; write a leaderboard."""
    from simrec.bench.runner import run_bench
    from simrec.bench.spec import check_scoped, load_spec

    try:
        extra = list(set_ or [])
        fields = {"scenarios": [str(p) for p in scenario] if scenario else None, "recommenders": rec or None,
                  "seeds": seeds, "steps": steps, "executor": executor, "workers": workers,
                  "output_dir": str(out_dir) if out_dir else None, "name": name}  # fmt: skip
        plan = load_spec(spec, **fields)
        if extra:  # every scenario the bench runs gets them (the cells' and the text probe's); NAME:key=value one
            plan = plan.model_copy(update={"overrides": [*plan.overrides, *extra]})
            if plan.text_probe is not None:
                probe = plan.text_probe.model_copy(update={"overrides": [*plan.text_probe.overrides, *extra]})
                plan = plan.model_copy(update={"text_probe": probe})
            check_scoped(plan)
    except SimrecError as exc:
        fail(exc)
        return
    arms = len(plan.arms) or 1
    total = len(plan.scenarios) * arms * len(plan.recommenders) * len(plan.seeds)
    console.print(
        f"[bold]simrec bench[/] {plan.name}: {len(plan.recommenders)} recommenders × {len(plan.scenarios)} "
        f"scenarios{f' × {arms} arms' if plan.arms else ''} × {len(plan.seeds)} seeds = {total} cells ({plan.executor})"
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, disable=quiet) as bar:  # fmt: skip
        task = bar.add_task("cells", total=total, info="")

        def on_cell(done: int, total: int, row: dict) -> None:
            info = f"{row['scenario']}/{row['recommender']}/seed {row['seed']}: {row['wall_s']:.1f} s"
            bar.update(task, completed=done, info=info)

        from simrec.bench.runner import text_probe_rows

        rows = text_probe_rows(plan)
        text_task = bar.add_task("text probe", total=rows, info="text probe rows, after the cells") if rows else None

        def on_text_row(done: int, total: int, row: dict) -> None:
            info = f"text probe {row['model']} {row['attack']}/{row['defence']}: uplift {row['watch_uplift']:+.3f}"
            bar.update(text_task, completed=done, info=info)

        try:
            result = run_bench(plan, progress=on_cell, text_progress=on_text_row)
        except SimrecError as exc:
            bar.stop()
            fail(exc)
            return
    cols = ["click_rate", "avg_rating", "return_rate", "recall", "coverage", "exposure_gini"]
    from simrec.bench.leaderboard import print_fitted, terminal_table

    board = result.leaderboard
    if plan.arms and len(board):  # one table per scenario's first arm; every arm's is in leaderboard.md
        first = next(iter(plan.arms))
        board = board[board["scenario"].astype(str).str.endswith(f"/{first}")]
    for scen, g in board.groupby("scenario", sort=False):
        title = f"{scen} (mean ± 95% CI over {len(plan.seeds)} seeds)"
        # a narrow terminal gets headers broken after "_", never cut to "click…"
        print_fitted(out, terminal_table(g, title, [c for c in cols if c in g], out.width))
    out.print(f"leaderboard: {result.bench_dir / 'leaderboard.md'}  report: {result.bench_dir / 'report.html'}")
    if (result.bench_dir / "robustness.md").is_file():
        out.print(f"robustness: {result.bench_dir / 'robustness.md'}  report: {result.bench_dir / 'robustness.html'}")
    out.print(f"wall time {result.wall_s:.1f} s")


@app.command()
def tune(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML or shipped name (its data's training split)")],
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps (tune.steps)")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="Time budget in seconds (tune.budget_s)")] = None,
    users: Annotated[int | None, typer.Option("--users", help="Users to learn from (tune.users)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="path.to.key=value (repeatable)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    select_on: Annotated[str | None, typer.Option("--select-on", help="validation: first choose the calibrated "
                                                  "agents' settings on a validation part of training")] = None,
) -> None:
    """Teach the embedded model this scenario's users (LoRA, training split only); later runs use it."""
    overrides = list(set_ or [])
    for key, value in (("steps", steps), ("budget_s", budget), ("users", users)):
        if value is not None:
            overrides.append(f"tune.{key}={value}")
    cfg = load_or_fail(scenario, overrides)
    from simrec.tune.train import tune as run_tune

    t = cfg.tune
    console.print(
        f"[bold]simrec tune[/] {cfg.name}: LoRA rank {t.rank} on {cfg.llm.model or 'smollm2-135m'}, "
        f"{t.users} users, {t.steps} steps, budget {t.budget_s:g} s"
    )
    with Progress(TextColumn("tuning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, disable=quiet) as bar:  # fmt: skip
        task = bar.add_task("tune", total=t.steps, info="loading the model…")
        try:
            result = run_tune(cfg, on_progress=lambda i, n, note: bar.update(task, completed=i, info=note))
        except (SimrecError, ValueError) as exc:
            bar.stop()
            fail(exc if isinstance(exc, SimrecError) else SimrecError(str(exc)))
            return
    aucs = result.valid_auc
    out.print(
        f"validation AUC (watch?): untuned {aucs.get(0, float('nan')):.3f} → kept step {result.best_step}: "
        f"{aucs.get(result.best_step, float('nan')):.3f}; {result.steps_done} steps in {result.train_seconds:.0f} s "
        f"({result.seconds:.0f} s in all, {result.threads} threads)"
        + (" [yellow]cut by the time budget[/]" if result.cut_by_budget else "")
    )
    acc = result.valid_watch_accuracy
    if result.best_step in acc and 0 in acc:
        a0, a1 = acc[0], acc[result.best_step]
        out.print(
            f"validation watch accuracy: drawn from σ(ℓ) {a0['drawn']:.3f} → {a1['drawn']:.3f}, "
            f"greedy {a0['greedy']:.3f} → {a1['greedy']:.3f} (policy.llm.watch_temperature 1 / 0)"
        )
    out.print(f"adapter: {result.folder / 'adapter.gguf'} (runs of this scenario use it: llm.adapter: auto)")


def _selection_progress(done: int, total: int, name: str) -> None:
    if done == 1 or done == total or done % 16 == 0:
        console.print(f"selection on validation: {done}/{total} candidates ({name})")


@app.command()
def fidelity(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (its data split gives the held-out interactions)")],
    mode: Annotated[list[str] | None, typer.Option("--mode", "-m", help="choice, llm or hybrid (repeatable)")] = None,
    ratio: Annotated[list[str] | None, typer.Option("--ratio", help="1:1, 1:2, 1:3 or 1:9 (repeatable)")] = None,
    negatives: Annotated[list[str] | None, typer.Option("--negatives", help="uniform, popularity (repeatable)")] = None,
    users: Annotated[int | None, typer.Option("--users", help="At most N users per list set")] = None,
    llm_users: Annotated[int | None, typer.Option("--llm-users", help="LLM-driven users in hybrid mode")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Steps of the short simulation (0: none)")] = 3,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="path.to.key=value (repeatable)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Parent folder of the <name>-fidelity folder")] = None,
    ab: Annotated[bool, typer.Option("--ab", help="Also rank recommenders on real held-out data and in simulation "
                                     "(simrec bench) and compare the rankings (Kendall τ, Spearman ρ)")] = False,
    ab_recommender: Annotated[list[str] | None, typer.Option("--ab-recommender", help="Recommender for --ab "
                                                             "(repeatable; default: the zoo)")] = None,
    ab_seeds: Annotated[int, typer.Option("--ab-seeds", min=1, help="Seeds of the --ab bench")] = 2,
    ab_steps: Annotated[int | None, typer.Option("--ab-steps", min=1, help="Steps of each --ab episode "
                                                 "(default: the scenario's run.steps)")] = None,
    ab_executor: Annotated[str, typer.Option("--ab-executor", help="local (processes), serial or ray")] = "local",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    select_on: Annotated[str | None, typer.Option("--select-on", help="validation: first choose the calibrated "
                                                  "agents' settings on a validation part of training")] = None,
) -> None:
    """Score how human the agents are: Agent4Rec's protocol, rating fidelity, popularity, session length
    and, with --ab, whether simulated users rank recommenders as real held-out data does."""
    from contextlib import nullcontext

    from simrec.cli.fidelity_ab import ab_study, print_ab
    from simrec.fidelity.protocol import NEGATIVES, RATIOS
    from simrec.fidelity.scorecard import run_fidelity

    overrides = list(set_ or []) + ([f"run.output_dir={out_dir}"] if out_dir is not None else [])
    try:
        cfg = load(scenario, overrides)
        if ab:
            from simrec.fidelity.ab import check_heldout

            check_heldout(cfg)
        console.print(f"[bold]simrec fidelity[/] {cfg.name}: modes {', '.join(mode or ['choice'])}"
                      + (", A/B ranking" if ab else ""))  # fmt: skip
        with ab_study(ab_recommender, ab_seeds, ab_steps, ab_executor, quiet) if ab else nullcontext() as study:
            table = run_fidelity(cfg, modes=tuple(mode or ["choice"]), ratios=tuple(ratio or RATIOS), users=users,
                                 negatives=tuple(negatives or NEGATIVES), simulate_steps=steps, llm_users=llm_users,
                                 ab=study, select_on=select_on, progress=None if quiet else _selection_progress)  # fmt: skip
    except SimrecError as exc:
        fail(exc)
        return
    cols = ["users", "skipped", "accuracy", "precision", "recall", "f1", "picked"]
    if (table["mode"] != "choice").any():
        cols += ["llm_users", "accuracy_llm"]
    shown = Table(title="discrimination (Agent4Rec protocol)")
    for c in ["mode", "negatives", "ratio", *cols]:
        shown.add_column(c, justify="left" if c in ("mode", "negatives") else "right")
    for r in table.to_dict("records"):
        shown.add_row(r["mode"], r["negatives"], r["ratio"],
                      *(str(r[c]) if c in ("users", "skipped", "llm_users") else f"{r[c]:.3f}" for c in cols))  # fmt: skip
    show(shown)
    rt = Table(title="rating fidelity (held-out rated items)")
    llm = (table["mode"] != "choice").any()
    for c in ("mode", "rmse", "mae", "rated", "JS divergence", *(("rmse (LLM-driven)", "rated (LLM-driven)") if llm else ())):
        rt.add_column(c, justify="left" if c == "mode" else "right")
    for r in table.attrs["ratings"]:
        extra = (f"{r['rmse_llm']:.3f}", str(r["n_rated_llm"])) if llm else ()
        rt.add_row(r["mode"], f"{r['rmse']:.3f}", f"{r['mae']:.3f}", str(r["n_rated"]), f"{r['js_divergence']:.4f}", *extra)
    show(rt)
    if table.attrs.get("calibration"):
        fitted = table.attrs["calibration"]["params"]
        out.print("calibrated on training data: " + ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in fitted.items() if not isinstance(v, list)))  # fmt: skip
    if table.attrs.get("selection"):
        sel = table.attrs["selection"]
        out.print(f"chosen on validation: {sel['chosen']} (objective {sel['objective_value']:.3f} over "
                  f"{sel['candidates']} candidates): " + ", ".join(f"{k}={v}" for k, v in sel["overrides"].items()))  # fmt: skip
    if table.attrs.get("ab") is not None:
        print_ab(table.attrs["ab"])
    out.print(f"scorecard: {Path(table.attrs['folder']) / 'scorecard.md'}")


@app.command()
def augment(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (split.max_train down-samples training)")],
    users: Annotated[str, typer.Option("--users", help="cold or all: whose synthetic watches are kept")] = "cold",
    cold_max: Annotated[int, typer.Option("--cold-max", help="Cold users have at most N training interactions")] = 5,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds (simulation and recommender)")] = 3,
    steps: Annotated[int | None, typer.Option("--steps", help="Simulation steps (default 1; 0: the scenario's)")] = 1,
    loop_rec: Annotated[str, typer.Option("--loop-rec", help="Recommender the agents are simulated under "
                                          "(default most_popular; 'scenario': the scenario's own)")] = "most_popular",
    rec: Annotated[str, typer.Option("--rec", help="Recommender trained on real vs real + synthetic")] = "mf",
    rec_param: Annotated[list[str] | None, typer.Option("--rec-param", help="k=v parameter of --rec (repeatable; "
                                                        "default: the scenario's if it runs --rec)")] = None,
    min_rating: Annotated[float | None, typer.Option("--min-rating", help="Keep synthetic watches rated >= R")] = None,
    max_per_user: Annotated[int | None, typer.Option("--max-per-user", help="Keep <= N synthetic watches per user")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="path.to.key=value (repeatable)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Parent folder of the <name>-augment folder")] = None,
) -> None:
    """Add agents' synthetic watches to real data and measure the Recall@10 / NDCG@10 lift.

    Default design (see simrec.augment): agents simulated for 1 step under a most-popular
    recommender; --rec trained on real-only, real + synthetic and real + two popularity controls
    (same rows per user, popular unseen items: sampled in proportion to popularity, and the most
    popular; no simulator); a most-popular ranking as reference.
    """
    import yaml

    from simrec.augment.study import run_augment
    from simrec.augment.writers import SUMMARY_HEADER, summary_rows

    overrides = list(set_ or []) + ([f"run.output_dir={out_dir}"] if out_dir is not None else [])
    params = {k.strip(): yaml.safe_load(v) for k, _, v in (p.partition("=") for p in rec_param or [])} or None
    try:
        cfg = load(scenario, overrides)
        console.print(f"[bold]simrec augment[/] {cfg.name}: {users} users, {seeds} seeds, {rec}")
        study = run_augment(cfg, users=users, cold_max=cold_max, seeds=seeds, steps=steps or None, rec=rec,
                            rec_params=params, min_rating=min_rating, max_per_user=max_per_user,
                            loop_rec=None if loop_rec == "scenario" else loop_rec)  # fmt: skip
    except SimrecError as exc:
        fail(exc)
        return
    table = Table(title="Recall@10 / NDCG@10 on real held-out data, mean over seeds")
    for c in SUMMARY_HEADER:
        table.add_column(c, justify="left" if c in ("group", "metric") else "right")
    for row in summary_rows(study.summary):
        table.add_row(*(str(c) for c in row))
    show(table)
    out.print(f"lift: {study.folder / 'lift.md'}  report: {study.folder / 'report.html'}")


@app.command()
def dashboard(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML or shipped name")] = Path("echo_chamber"),
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="path.to.key=value (repeatable)")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="Variant to start with (default: the first)")] = None,
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free one)")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0: all)")] = "127.0.0.1",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Keep the runs' folders here (default: a "
                                                 "temporary folder, deleted on exit)")] = None,
    fetch_assets: Annotated[bool, typer.Option("--fetch-assets", help="Put Solara's front-end files in its cache "
                                               "with npm (for machines without the jsDelivr CDN), then exit")] = False,
) -> None:
    """Step a scenario in the browser (Mesa's SolaraViz): metrics, social graph, exposure, users."""
    from importlib.util import find_spec

    if find_spec("solara") is None:
        fail(SimrecError('The dashboard needs Mesa\'s visualisation: pip install "simrec[viz]" '
                         '(or pip install "mesa[viz]==3.3.1").'))  # fmt: skip
    from simrec.cli.common import env_overrides
    from simrec.dashboard import assets, server

    if fetch_assets:
        try:
            written = assets.fetch(assets.missing())
        except SimrecError as exc:
            fail(exc)
        out.print(f"Solara's front-end files are in {assets.cache_dir()}"
                  + (f" (fetched {', '.join(p.name for p in written)})" if written else " (all there already)"))
        return
    overrides = list(set_ or [])
    cfg = load_or_fail(scenario, overrides)
    if cfg.environment.data.source == "movielens" and cfg.environment.data.cache_dir is None:
        overrides = env_overrides(scenario, overrides) + overrides
    if port and not server.port_is_free(host, port):
        fail(SimrecError(f"Port {port} on {host} is in use; choose another with --port N (0: any free one)."))
    launch = server.Launch.create(scenario, overrides, variant, out_dir)
    try:
        first = launch.check()
    except SimrecError as exc:
        if launch.temporary:
            import shutil

            shutil.rmtree(launch.out_dir, ignore_errors=True)
        fail(exc)
    where = f"{launch.out_dir} (temporary: deleted on exit)" if launch.temporary else launch.out_dir
    console.print(f"[bold]simrec dashboard[/] {cfg.name}" + (f" (variant {first.run_name})" if cfg.variants else "")
                  + f", {first.run.steps} steps; run folders go to {where}", highlight=False)  # fmt: skip
    if assets.missing():
        console.print("The page's front-end files are not cached yet: Solara fetches them from the jsDelivr CDN "
                      "on first load. Without access to it, run `simrec dashboard --fetch-assets` once (npm).",
                      highlight=False)  # fmt: skip
    try:
        code = server.serve(launch, host, port, lambda url: out.print(f"dashboard: {url}  (Ctrl-C stops it)"))
    except RuntimeError as exc:
        fail(SimrecError(str(exc)))
    if code not in (0, 130):
        raise typer.Exit(code=code)
    console.print("dashboard stopped", highlight=False)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except SimrecError as exc:  # anything that slipped past a command's own handler
        say_error(exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
