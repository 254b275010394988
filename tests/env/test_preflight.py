"""`simrec validate` rejects what `simrec run` rejects, before anything is written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simrec.cli import app
from simrec.config.shipped import shipped_scenarios
from simrec.core.errors import ConfigError
from simrec.env.preflight import check_params, preflight
from simrec.env.runner import run_scenario
from tests.helpers import small_scenario

cli = CliRunner()


def both(tmp_path: Path, *sets: str, data_block: dict | None = None) -> tuple[str, str]:
    """Messages of `simrec validate` and `simrec run` on the small scenario with ``sets``."""
    import yaml

    data = small_scenario(tmp_path).model_dump(mode="json", exclude_defaults=True)
    if data_block is not None:
        data["environment"]["data"] = data_block
    data.setdefault("run", {})["output_dir"] = str(tmp_path / "runs")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    args = [x for s in sets for x in ("--set", s)]
    v = cli.invoke(app, ["validate", str(path), *args])
    r = cli.invoke(app, ["run", "--quiet", str(path), *args])
    assert v.exit_code == r.exit_code == 2, (v.output, r.output)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing written
    return " ".join(v.output.split()), " ".join(r.output.split())


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["recommender.name=mff"], "Unknown recommender 'mff'"),
        (["recommender.name=mf", "recommender.params.factor=16"], "takes no parameter 'factor'. Did you mean 'factors'?"),
        (["recommender.name=mf", "recommender.params.rng=3"], "simrec passes 'rng'"),
        (["recommender.name=mf", "recommender.params.factors=x"], "factors must be an integer"),  # the constructor's own check
        (["recommender.name=mf", "recommender.params.factors=1000000000000"], "factors must be at most 4,096"),
        (["recommender.name=item_knn", "recommender.params.shrink=inf"], "shrink must be a finite number"),
        (["policy.name=nowhere.module:Policy"], "Cannot import module 'nowhere.module'"),
        (["policy.name=collections:OrderedDict"], "not a subclass of simrec.agents.policies.base.BasePolicy"),
        (["policy.name=hybrid", "llm.backend=nope"], "nope"),
        (["environment.social.builder=tests.plugins.nothing:build"], "tests.plugins.nothing"),
        (["environment.data.n_users=100000000000"], "n_users"),
        (["name=a/b"], "names the run folder"),
    ],
)
def test_validate_and_run_reject_alike(tmp_path: Path, sets: list[str], expected: str) -> None:
    v, r = both(tmp_path, *sets)
    assert expected in v and expected in r
    assert "Traceback" not in v + r


def test_missing_data_file_is_caught_by_validate(tmp_path: Path) -> None:
    v, r = both(tmp_path, data_block={"source": "file", "path": str(tmp_path / "nope.csv")})
    assert "nope.csv" in v and "nope.csv" in r


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_shipped_scenarios_pass_preflight(name: str, ml100k_dir: Path) -> None:
    from simrec.config import load_scenario

    sets = [f"environment.data.path={ml100k_dir}"] if "ml100k" in name else []
    preflight(load_scenario(shipped_scenarios()[name], sets))


def test_check_params_reports_missing_and_accepts_kwargs() -> None:
    def needs(a: int, b: int = 1, *, rng: object = None) -> None: ...

    def anything(**kw: object) -> None: ...

    with pytest.raises(ConfigError, match="needs a"):
        check_params(needs, {"b": 2}, "x", "recommender.params")
    check_params(needs, {"a": 1}, "x", "recommender.params")
    check_params(anything, {"whatever": 1}, "x", "recommender.params")


def test_run_files_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        run_dir = run_scenario(small_scenario(tmp_path, **{"run.steps": 2, "run.export": "[csv]"})).run_dir
    finally:
        os.umask(old)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"report.html", "manifest.json", "metrics.parquet", "events.csv"} <= {p.name for p in files}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, modes


def test_a_run_failing_before_its_first_step_leaves_its_folder_for_the_next(tmp_path: Path) -> None:
    from simrec.env.model import SimModel

    cfg = small_scenario(tmp_path, **{"run.steps": 2})
    step = SimModel.step

    def boom(self: SimModel) -> None:
        raise RuntimeError("boom")

    SimModel.step = boom  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            run_scenario(cfg)
    finally:
        SimModel.step = step  # type: ignore[method-assign]
    assert (tmp_path / "small" / "manifest.json").is_file()
    again = run_scenario(cfg)
    assert again.run_dir == tmp_path / "small" and not (tmp_path / "small-2").exists()
