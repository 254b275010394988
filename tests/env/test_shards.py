"""Sharded runs: the same files whatever the number of shards, on a local Ray instance too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import ConfigError
from simrec.env import shards as shards_mod
from simrec.env.runner import resume_scenario, run_scenario
from simrec.env.shards import canonical_events, shard_bounds, sharding_problems
from simrec.io.events import list_parts, read_events
from tests.env.test_run import check_log_consistency
from tests.helpers import small_scenario

SAME_FILES = ("metrics.parquet", "users.parquet", "items.parquet", "train.parquet", "agents.parquet")
#: The Ray test's run: the refits are covered by the local-pool test (same workers, same merge).
LIGHT = {"recommender.name": "most_popular", "recommender.retrain_every": 0, "run.steps": 2}
SCALE = {"environment.data.n_users": 400, "run.steps": 3, "recommender.name": "mf", "recommender.retrain_every": 2}


def sharded(tmp_path: Path, name: str, shards: int, pool: str, monkeypatch: pytest.MonkeyPatch, **over: object) -> Path:
    """Run the small scenario with ``shards`` shards on the ``pool`` (``local`` or ``ray``)."""
    real = shards_mod.ShardedModel.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["pool"] = pool
        real(self, *args, **kwargs)

    monkeypatch.setattr(shards_mod.ShardedModel, "__init__", init)
    cfg = small_scenario(tmp_path / name, **{**SCALE, "run.shards": shards, **over})
    return run_scenario(cfg).run_dir


def unsharded(tmp_path: Path, name: str, **over: object) -> Path:
    cfg = small_scenario(tmp_path / name, **{**SCALE, "run.random_streams": "per_user", **over})
    return run_scenario(cfg).run_dir


def assert_same_run(a: Path, b: Path) -> None:
    for name in SAME_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(canonical_events(read_events(a)), canonical_events(read_events(b)))


def test_bounds_cover_every_user_once() -> None:
    for n, s in ((10, 3), (7, 7), (1000, 1)):
        b = shard_bounds(n, s)
        assert b[0] == 0 and b[-1] == n and (np.diff(b) >= 0).all() and len(b) == s + 1


def test_local_shards_give_the_unsharded_per_user_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = unsharded(tmp_path, "ref")
    ev = read_events(ref)
    check_log_consistency(ev, 5)
    assert ev["event"].astype(str).eq("click").sum() > 50  # the run did something
    for n in (1, 3):
        run = sharded(tmp_path, f"s{n}", n, "local", monkeypatch)
        assert_same_run(ref, run)
        names = [p.name for p in list_parts(run / "events.parquet")]
        assert {name[: len("part-s000")] for name in names} == {f"part-s{s:03d}" for s in range(n)}


def test_a_sharded_run_resumes_to_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards_mod, "DEFAULT_POOL", "local")
    over = {"run.steps": 4, "run.checkpoint_every": 2, "run.chunk_rows": 1000}
    whole = run_scenario(small_scenario(tmp_path / "whole", **{**SCALE, "run.shards": 2, **over})).run_dir
    crashed = run_scenario(small_scenario(tmp_path / "crashed", **{**SCALE, "run.shards": 2, **over})).run_dir
    manifest = json.loads((crashed / "manifest.json").read_text())
    assert manifest["checkpoint"]["step"] == 2
    manifest["status"] = "failed"  # as if the process died after step 4's files: resume from step 2
    (crashed / "manifest.json").write_text(json.dumps(manifest))
    resume_scenario(crashed)
    assert_same_run(whole, crashed)
    assert json.loads((crashed / "manifest.json").read_text())["events_rows"] == len(read_events(crashed))


def test_per_user_streams_differ_from_batch_draws_but_match_in_law(tmp_path: Path) -> None:
    per_user = pd.read_parquet(unsharded(tmp_path, "p") / "metrics.parquet")
    batch = pd.read_parquet(run_scenario(small_scenario(tmp_path / "b", **SCALE)).run_dir / "metrics.parquet")
    assert not per_user["clicks"].equals(batch["clicks"])
    assert per_user["ctr"].mean() == pytest.approx(batch["ctr"].mean(), rel=0.25)


def test_sharded_run_refuses_what_it_cannot_shard(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"run.shards": 2, "policy.name": "hybrid"})
    assert sharding_problems(cfg)
    with pytest.raises(ConfigError, match="choice policy"):
        run_scenario(cfg)
    with pytest.raises(ConfigError, match="per_user"):
        small_scenario(tmp_path, **{"run.shards": 2, "run.random_streams": "batch"})


def test_ray_shards_give_identical_files_for_1_2_3_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")  # in the dev extra; the import is what this guards, not the path
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        runs = {n: sharded(tmp_path, f"ray{n}", n, "ray", monkeypatch, **LIGHT) for n in (1, 2, 3)}
    finally:
        ray.shutdown()
    for n in (2, 3):
        assert_same_run(runs[1], runs[n])
    assert_same_run(unsharded(tmp_path, "ref", **LIGHT), runs[2])
