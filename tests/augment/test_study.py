"""Augment on a small slice of ml-100k runs end to end and writes its report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from simrec.augment.study import run_augment
from simrec.cli import app
from simrec.core.errors import ConfigError
from tests.helpers import ROOT, ml100k_scenario


def test_augment_ml100k_slice_end_to_end(tmp_path: Path, ml100k_dir: Path) -> None:
    cfg = ml100k_scenario(tmp_path, ml100k_dir, **{"environment.data.max_users": 150,
                                                   "environment.data.split.max_train": 5})  # fmt: skip
    study = run_augment(cfg, users="cold", seeds=2, steps=2, loop_rec="most_popular")
    folder = study.folder
    assert folder.name == "ml100k_compare-augment"
    for name in ("lift.csv", "lift.md", "report.html", "manifest.json"):
        assert (folder / name).is_file(), name
    lift = pd.read_csv(folder / "lift.csv")
    assert len(lift) == 2 * 2 * 2  # seeds × groups × metrics
    assert set(lift["metric"]) == {"recall@10", "ndcg@10"} and set(lift["group"]) == {"all", "cold"}
    assert (lift["synthetic_rows"] > 0).all()
    for col in ("real", "augmented", "control", "control_top", "popular", "lift", "lift_control", "lift_top"):
        assert lift[col].notna().all(), col
    np.testing.assert_allclose(lift["lift_control"], lift["augmented"] - lift["control"])
    np.testing.assert_allclose(lift["lift_top"], lift["augmented"] - lift["control_top"])
    for p in ("p_value", "p_control", "p_top"):
        assert (study.summary[p].between(0, 1) | study.summary[p].isna()).all(), p
    assert "real+control" in (folder / "lift.md").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["options"]["seeds"] == [7, 8] and "versions" in manifest
    assert manifest["options"]["loop_rec"] == "most_popular"
    assert (folder / "data" / "interactions.parquet").is_file()
    assert (
        "<img" in (folder / "report.html").read_text()
        or "matplotlib" in (folder / "report.html").read_text()
    )
    again = run_augment(cfg, users="cold", seeds=[7], steps=1)
    assert again.folder.name == "ml100k_compare-augment-2"  # never clobbers
    with pytest.raises(ConfigError):
        run_augment(cfg, seeds=1, steps=1, max_per_user=0)


def test_cli_augment_prints_the_lift_table(tmp_path: Path, ml100k_dir: Path) -> None:
    args = ["augment", str(ROOT / "scenarios" / "ml100k_compare.yaml"), "--seeds", "2", "--steps", "1",
            "--out", str(tmp_path), "--set", f"environment.data.path={ml100k_dir}",
            "--set", "environment.data.max_users=100", "--set", "environment.data.split.max_train=5",
            "--rec-param", "factors=8", "--rec-param", "iterations=3"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "lift" in result.output and "cold" in result.output
    manifest = json.loads((tmp_path / "ml100k_compare-augment" / "manifest.json").read_text())
    assert manifest["options"]["rec_params"] == {"factors": 8, "iterations": 3}  # --rec-param values parsed as YAML
    md = (tmp_path / "ml100k_compare-augment" / "lift.md").read_text()
    assert "recall@10" in md and "lift vs control" in md and "lift vs top-popular" in md
