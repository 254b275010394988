"""What a benchmark sweep runs: recommenders × scenarios × seeds (validated, from YAML or the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from simrec.config.schema import Strict
from simrec.config.shipped import scenario_path
from simrec.core.errors import ConfigError

#: Leaderboard metrics, in column order; ``higher`` says which direction is better.
LEADERBOARD_METRICS: dict[str, bool] = {
    "click_rate": True,
    "avg_rating": True,
    "satisfaction": True,
    "pages_per_session": True,
    "exit_rate": False,
    "return_rate": True,
    "precision": True,
    "recall": True,
    "intra_list_diversity": True,
    "novelty": True,
    "coverage": True,
    "exposure_gini": False,
    "popularity_bias": False,
}


class RecommenderEntry(Strict):
    """One contestant: a registered recommender (or ``package.module:Class``) with its settings."""

    name: str
    label: str | None = Field(None, description="name on the leaderboard (default: name)")
    params: dict[str, Any] = Field(default_factory=dict)
    retrain_every: int | None = Field(None, ge=0, description="refit every N steps (default: the scenario's)")

    @property
    def key(self) -> str:
        """The leaderboard name."""
        return self.label or self.name


class BenchSpec(Strict):
    """A sweep: every recommender on every scenario with every seed, as interactive episodes.

    Each cell is a full simrec run (the recommender retrains in the loop as its
    scenario says) whose run folder is scored by :func:`simrec.metrics.run.run_metrics`.
    """

    name: str = "bench"
    scenarios: list[Path] = Field(min_length=1)
    recommenders: list[RecommenderEntry] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    steps: int | None = Field(None, ge=1, description="override every scenario's run.steps")
    retrain_every: int | None = Field(
        None, ge=0, description="refit every N steps for every recommender without its own (default: the scenario's)"
    )
    overrides: list[str] = Field(default_factory=list, description="--set overrides applied to every scenario")
    executor: Literal["local", "ray", "serial"] = "local"
    workers: int | None = Field(None, ge=1, description="parallel cells (default: CPU count)")
    ray_address: str | None = Field(None, description="ray: cluster address (default: start a local instance)")
    primary: str = Field("click_rate", description="the metric the leaderboard is ranked by")
    output_dir: Path = Path("runs")

    @model_validator(mode="after")
    def _check(self) -> BenchSpec:
        keys = [r.key for r in self.recommenders]
        if len(set(keys)) != len(keys):
            raise ValueError(f"recommender labels must be distinct, got {keys}; give duplicates a label")
        if self.primary not in LEADERBOARD_METRICS:
            raise ValueError(f"primary must be one of {', '.join(LEADERBOARD_METRICS)}, got '{self.primary}'")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        return self


def _spec_scenario(entry: str, base: Path) -> str:
    """A spec file's scenario entry: a path relative to the spec's folder, or a shipped name."""
    try:
        return str(scenario_path(entry, base))
    except ConfigError:  # reported by load_spec, unless the command line replaces the list
        return str(Path(entry) if Path(entry).is_absolute() else base / entry)


def load_spec(path: Path | None = None, **fields: Any) -> BenchSpec:
    """A :class:`BenchSpec` from a YAML file (relative scenario paths resolve against it) and/or fields.

    Fields given here override the file's. A plain ``seeds: 3`` means seeds 0, 1, 2.

    Raises:
        ConfigError: naming the file and the problem.
    """
    data: dict[str, Any] = {}
    source = "<command line>"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"Bench spec not found: {path}.")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping, not {type(data).__name__}.")
        base = path.resolve().parent
        data["scenarios"] = [_spec_scenario(p, base) for p in data.get("scenarios", [])]
        data.setdefault("name", path.stem)
    data.update({k: v for k, v in fields.items() if v is not None})
    if isinstance(data.get("seeds"), int):
        data["seeds"] = list(range(data["seeds"]))
    data["recommenders"] = [{"name": r} if isinstance(r, str) else r for r in data.get("recommenders", [])]
    try:
        spec = BenchSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid bench spec {source}: {problems}") from None
    try:  # a path, or the name of a shipped scenario (simrec bench --scenario quickstart)
        spec.scenarios = [scenario_path(s) for s in spec.scenarios]
    except ConfigError as exc:
        raise ConfigError(f"Bench spec {source}: {exc}") from None
    return spec
