"""What a benchmark sweep runs: recommenders × scenarios × seeds (validated, from YAML or the CLI)."""

from __future__ import annotations

import fnmatch
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


class FamilySpec(Strict):
    """A robustness family of a bench with arms: arms compared with a baseline arm, seed by seed."""

    baseline: str = Field("clean", description="the arm the others are compared with")
    arms: list[str] = Field(min_length=1, description="the arms compared with the baseline")
    groups: list[Literal["target", "clickbait", "text"]] = Field(
        default_factory=lambda: ["target"], description="item groups whose exposure the family's plots show"
    )


class TextProbeSpec(Strict):
    """The text-attack family: paired pages, clean and attacked text (:func:`simrec.robustness.text_probe.text_uplift`)."""

    scenario: Path = Field(description="the scenario whose policy decides (llm, hybrid or choice)")
    overrides: list[str] = Field(default_factory=list, description="--set overrides of that scenario")
    controls: list[list[str]] = Field(
        default_factory=lambda: [["policy.name=choice"]],
        description="further override sets probed the same way (default: choice-mode users, the control)",
    )
    attacks: list[Literal["injection", "superlatives", "social_proof", "marker_forgery"]] = Field(
        default_factory=lambda: ["injection", "superlatives", "social_proof", "marker_forgery"]
    )
    defences: list[Literal["none", "strict_quoting", "sanitise", "classifier", "ignore_descriptions"]] = Field(
        default_factory=lambda: ["none"]
    )
    field: Literal["title", "description", "review"] = "title"
    users: int = Field(20, ge=1)
    items: int = Field(5, ge=1)
    page_size: int = Field(3, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)


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
    arms: dict[str, list[str]] = Field(
        default_factory=dict,
        description="named --set overrides, each run as its own arm of every scenario (e.g. clean and attacked); "
        "an arm's leaderboard is '<scenario>/<arm>'",
    )
    families: dict[str, FamilySpec] = Field(
        default_factory=dict, description="robustness families: arms compared with a baseline arm (robustness.md)"
    )
    text_probe: TextProbeSpec | None = Field(None, description="the text-attack family, measured on paired pages")
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
        for arm in self.arms:
            if not arm or any(c in arm for c in "/\\:") or arm.startswith("."):
                raise ValueError(f"arm name {arm!r} must be a plain folder name")
        for name, family in self.families.items():
            unknown = [a for a in [family.baseline, *family.arms] if a not in self.arms]
            if unknown:
                raise ValueError(f"families.{name} names arms {unknown} that arms does not define ({sorted(self.arms)})")
        return self


def overrides_for(overrides: list[str], scenario: Path | str) -> list[str]:
    """The ``--set`` overrides that apply to ``scenario``: plain ones, and ``NAME:key=value`` ones whose
    ``NAME`` is its file stem or a pattern matching it (``ml100k_*``; the prefix is taken off), so a
    bench of several worlds can point some scenarios at their data (``ml100k_*:environment.data.path=...``)."""
    stem = Path(scenario).stem
    out = []
    for item in overrides:
        key, eq, value = item.partition("=")
        name, colon, rest = key.partition(":")
        if not colon:
            out.append(item)
        elif fnmatch.fnmatchcase(stem, name):
            out.append(f"{rest}{eq}{value}")
    return out


def _scoped_names(overrides: list[str]) -> set[str]:
    return {key.partition(":")[0] for key in (o.partition("=")[0] for o in overrides) if ":" in key}


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
        if isinstance(data.get("text_probe"), dict) and "scenario" in data["text_probe"]:
            data["text_probe"] = {**data["text_probe"], "scenario": _spec_scenario(data["text_probe"]["scenario"], base)}
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
    check_scoped(spec)
    return spec


def check_scoped(spec: BenchSpec) -> None:
    """Every ``NAME:key=value`` override names one of the spec's scenarios (or its text probe's).

    Raises:
        ConfigError: naming the names or patterns that match none, and the known stems.
    """
    known = {Path(s).stem for s in spec.scenarios}
    if spec.text_probe is not None:
        known.add(Path(spec.text_probe.scenario).stem)
    probe = spec.text_probe.overrides if spec.text_probe is not None else []
    arms = [o for arm in spec.arms.values() for o in arm]
    unknown = {n for n in _scoped_names([*spec.overrides, *arms, *probe]) if not fnmatch.filter(known, n)}
    if unknown:
        raise ConfigError(
            f"overrides name scenarios {sorted(unknown)} that the bench does not run; NAME:key=value takes "
            f"a scenario's file stem: {', '.join(sorted(known))}"
        )
