"""Small builders shared by tests (not fixtures, so tests can parametrise them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrec.config import load_scenario
from simrec.config.schema import ScenarioConfig

ROOT = Path(__file__).resolve().parents[1]


def small_scenario(tmp_path: Path, **over: Any) -> ScenarioConfig:
    """A fast synthetic scenario writing into ``tmp_path``; ``over`` are dotted overrides."""
    data = {
        "name": "small",
        "seed": 3,
        "environment": {
            "data": {"source": "synthetic", "n_users": 200, "n_items": 300, "n_genres": 8, "interactions_per_user": 12},
            "page_size": 5,
            "pages_per_session": 4,
        },
        "recommender": {"name": "most_popular"},
        "run": {"steps": 4, "output_dir": str(tmp_path), "export": []},
    }
    return load_scenario(data=data, overrides=[f"{k}={v}" for k, v in over.items()])


def ml100k_scenario(tmp_path: Path, ml100k_dir: Path, **over: Any) -> ScenarioConfig:
    """The shipped ml100k_compare scenario reading the local MovieLens copy."""
    overrides = [f"environment.data.path={ml100k_dir}", f"run.output_dir={tmp_path}"]
    overrides += [f"{k}={v}" for k, v in over.items()]
    return load_scenario(ROOT / "scenarios" / "ml100k_compare.yaml", overrides)


#: Overrides that give a small scenario a living social graph (shares, graph snapshots every 2 steps).
SOCIAL = {
    "environment.social.builder": "watts_strogatz",
    "environment.social.k": 4,
    "environment.social.dynamics.share_rate": 0.3,
    "environment.social.metrics.snapshot_every": 2,
}


#: The arrays of a policy's Decisions that splitting a batch must leave unchanged.
DECISION_FIELDS = ("clicks", "ratings", "exits", "satisfaction", "fatigue")


def assert_splits_decide_alike(policy: Any, batch: Any, whole: Any, rng: Any, tries: int) -> None:
    """Deciding ``batch`` in random splits of its rows gives ``whole`` (its Decisions), row for row."""
    import numpy as np

    n = len(batch)
    for _ in range(tries):
        order = rng.permutation(n)
        cuts = np.sort(rng.choice(np.arange(1, n), rng.integers(1, 6), replace=False))
        parts = [policy.decide(batch.take(rows)) for rows in np.split(order, cuts)]
        for name in DECISION_FIELDS:
            joined = np.concatenate([getattr(d, name) for d in parts])
            np.testing.assert_array_equal(joined, getattr(whole, name)[order], err_msg=name)
