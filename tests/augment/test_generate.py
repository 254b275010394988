"""simrec.augment.generate: the simulation behind an augmented data set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simrec.augment.generate import simulate
from simrec.config import load_scenario


def test_a_scenario_with_variants_simulates_once(tmp_path: Path) -> None:
    """echo_chamber compares two variants; augmenting it runs the scenario itself, one run folder."""
    cfg = load_scenario("echo_chamber", ["run.steps=1", "environment.data.n_users=60",
                                         "environment.data.n_items=80"])  # fmt: skip
    assert cfg.variants
    run_dir = simulate(cfg, None, tmp_path, seed=3)
    assert (run_dir / "train.parquet").is_file() and not (run_dir / "comparison.parquet").exists()
    assert len(pd.read_parquet(run_dir / "train.parquet")) > 0
