"""One benchmark cell: a recommender on a scenario with a seed, run and scored.

:func:`run_cell` takes and returns plain dicts so it runs unchanged in a local
process pool, in-process, or as a Ray task; a cell's result depends only on its
own description, so every executor gives the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simrec.bench.spec import BenchSpec, overrides_for


@dataclass(frozen=True)
class Cell:
    """What one cell runs.

    Attributes:
        scenario: Scenario YAML path.
        recommender: Leaderboard label.
        name: Registered recommender name (or import path).
        params: Recommender parameters.
        retrain_every: Refit interval (``None``: the scenario's).
        seed: Root seed.
        steps: Override of ``run.steps`` (``None``: the scenario's).
        overrides: ``--set`` overrides for every cell.
        run_dir: Where the run folder goes (its parent; the folder is named after the cell).
    """

    scenario: str
    recommender: str
    name: str
    params: dict[str, Any]
    retrain_every: int | None
    seed: int
    steps: int | None
    overrides: list[str] = field(default_factory=list)
    run_dir: str = "runs"
    arm: str | None = None
    arm_overrides: list[str] = field(default_factory=list)

    @property
    def board(self) -> str:
        """The leaderboard the cell belongs to: ``<scenario>``, or ``<scenario>/<arm>`` in a bench with arms."""
        stem = Path(self.scenario).stem
        return stem if self.arm is None else f"{stem}/{self.arm}"

    @property
    def cell_id(self) -> str:
        """``<scenario>[/<arm>]/<recommender>/seed-<n>``: also the run folder's path below the bench folder."""
        return f"{self.board}/{self.recommender}/seed-{self.seed}"


def cells_of(spec: BenchSpec, bench_dir: Path) -> list[Cell]:
    """Every cell of ``spec``, scenario-major, then arm, then recommender, then seed."""
    arms: list[tuple[str | None, list[str]]] = list(spec.arms.items()) or [(None, [])]
    return [  # fmt: skip
        Cell(str(s), r.key, r.name, dict(r.params), r.retrain_every if r.retrain_every is not None
             else spec.retrain_every, seed, spec.steps, list(spec.overrides), str(bench_dir / "cells"),
             arm, list(arm_overrides))
        for s in spec.scenarios
        for arm, arm_overrides in arms
        for r in spec.recommenders
        for seed in spec.seeds
    ]


def cell_config(cell: Cell):
    """The scenario of a cell: its overrides, then recommender, seed, steps and output folder.

    The recommender block is replaced whole (a scenario's params for another
    recommender must not leak into this one); ``retrain_every`` keeps the
    scenario's value unless the entry sets one.
    """
    from simrec.config import load_scenario
    from simrec.config.schema import RecommenderConfig

    cell_dir = Path(cell.run_dir) / Path(cell.cell_id).parent
    scoped = overrides_for([*cell.overrides, *cell.arm_overrides], cell.scenario)
    overrides = [*scoped, f"seed={cell.seed}", f"run.output_dir={cell_dir}",
                 f"run.name=seed-{cell.seed}", "run.export=[]", "run.report=false"]  # fmt: skip
    if cell.steps is not None:
        overrides.append(f"run.steps={cell.steps}")
    cfg = load_scenario(cell.scenario, overrides)
    cfg.variants = {}  # a cell is one run; the bench is the comparison
    every = cfg.recommender.retrain_every if cell.retrain_every is None else cell.retrain_every
    cfg.recommender = RecommenderConfig(
        name=cell.name, params=cell.params, retrain_every=every, exclude_seen=cfg.recommender.exclude_seen
    )
    return cfg


def run_cell(cell_dict: dict[str, Any]) -> dict[str, Any]:
    """Run one cell (given as ``asdict(Cell)``) and return its metrics row.

    The row holds the cell's identity, :func:`~simrec.metrics.run.run_metrics`
    of its run folder, and ``wall_s`` (seconds for the whole cell).
    """
    from simrec.env.runner import run_scenario
    from simrec.metrics.run import run_metrics

    cell = Cell(**cell_dict)
    start = time.perf_counter()
    result = run_scenario(cell_config(cell))
    row: dict[str, Any] = {
        "scenario": cell.board,
        "recommender": cell.recommender,
        "seed": cell.seed,
        "run_dir": str(result.run_dir),
    }
    row.update(run_metrics(result.run_dir))
    if cell.arm is not None:
        row["arm"] = cell.arm
        from simrec.robustness.metrics import robustness_metrics

        row.update(robustness_metrics(result.run_dir))
    row["wall_s"] = time.perf_counter() - start
    return row


def as_dicts(cells: list[Cell]) -> list[dict[str, Any]]:
    """Cells as plain dicts (what executors ship to workers)."""
    return [asdict(c) for c in cells]
