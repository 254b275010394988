"""Variant runs end to end, and smoke runs of the shipped social scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from simrec.config import load_scenario
from simrec.env.runner import run_scenario
from tests.helpers import ROOT, small_scenario


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def test_variants_run_into_subfolders_and_compare(tmp_path: Path) -> None:
    cfg = small_scenario(
        tmp_path,
        **{
            "run.steps": 3,
            "environment.social.builder": "watts_strogatz",
            "variants": "{random: {recommender: {name: random}}, most_popular: {recommender: {name: most_popular}}}",
        },
    )
    assert list(cfg.variants) == ["random", "most_popular"]
    steps: list[int] = []
    result = run_scenario(cfg, progress=lambda info: steps.append(info.step))
    parent = result.run_dir
    assert parent == tmp_path / "small"
    assert steps == [1, 2, 3, 4, 5, 6]  # progress counts across variants

    for name, rec in (("random", "random"), ("most_popular", "most_popular")):
        run = parent / name
        m = manifest(run)
        assert m["status"] == "completed" and m["steps_completed"] == 3
        assert m["scenario"]["recommender"]["name"] == rec
        assert m["scenario"]["environment"]["social"]["builder"] == "watts_strogatz"
        assert m["social"]["edges_final"] > 0
        assert len(pd.read_parquet(run / "metrics.parquet")) == 3

    top = manifest(parent)
    assert top["kind"] == "variants" and top["status"] == "completed"
    assert set(top["variants"]) == {"random", "most_popular"}
    assert all(v["status"] == "completed" for v in top["variants"].values())
    assert {v["run_dir"] for v in top["variants"].values()} == {"random", "most_popular"}

    html = (parent / "report.html").read_text(encoding="utf-8")
    assert "random" in html and "most_popular" in html

    comp = pd.read_parquet(parent / "comparison.parquet")
    assert "variant" in comp.columns
    assert comp.groupby("variant").size().to_dict() == {"random": 3, "most_popular": 3}
    assert sorted(comp.loc[comp.variant == "random", "step"]) == [1, 2, 3]

    assert set(result.variants) == {"random", "most_popular"}
    assert result.variants["random"].run_dir == parent / "random"
    assert len(result.metrics) == 6
    # the recommenders differ, so the runs differ
    by = comp.set_index(["variant", "step"])["clicks"]
    assert not np.array_equal(by.loc["random"].to_numpy(), by.loc["most_popular"].to_numpy())
    assert result.totals["events"] == sum(r.totals["events"] for r in result.variants.values())


def test_viral_scenario_smoke(tmp_path: Path) -> None:
    cfg = load_scenario(
        ROOT / "scenarios" / "viral.yaml", [f"run.output_dir={tmp_path}", "run.steps=3"]
    )
    result = run_scenario(cfg)
    run = result.run_dir
    assert manifest(run)["status"] == "completed"

    metrics = pd.read_parquet(run / "metrics.parquet").sort_values("step")
    assert metrics["step"].tolist() == [1, 2, 3]
    size = metrics["seed_cascade_size"].to_numpy()
    assert size[0] > 0
    assert (np.diff(size) >= 0).all()

    cascades = pd.read_parquet(run / "cascades.parquet")
    shares = pd.read_parquet(run / "shares.parquet")
    seeded = cascades[cascades["seeded"]]
    assert len(seeded) >= 1
    assert (seeded["start_step"] == 1).all()
    counts = shares.groupby("cascade").size()
    assert (
        cascades.set_index("cascade")["size"] == counts.reindex(cascades["cascade"]).to_numpy()
    ).all()
    assert cascades["size"].sum() == len(shares)
    # the final metrics row agrees with the seeded cascades' total size
    assert size[-1] == seeded["size"].sum()
    assert shares.loc[shares["seeded"], "cascade"].isin(seeded["cascade"]).all()

    graphml = run / "graph" / "final.graphml"
    assert graphml.is_file()
    g = nx.read_graphml(graphml)
    arcs = pd.read_parquet(run / "graph" / "edges-final.parquet")
    assert not g.is_directed() and not cfg.environment.social.directed
    assert g.number_of_nodes() == cfg.environment.data.n_users
    assert len(arcs) % 2 == 0
    assert g.number_of_edges() == len(arcs) // 2
    assert g.number_of_edges() == manifest(run)["social"]["edges_final"]


def test_echo_chamber_scenario_smoke(tmp_path: Path) -> None:
    cfg = load_scenario(
        ROOT / "scenarios" / "echo_chamber.yaml", [f"run.output_dir={tmp_path}", "run.steps=3"]
    )
    assert set(cfg.variants) == {"random", "mf"}
    result = run_scenario(cfg)
    parent = result.run_dir
    assert manifest(parent)["status"] == "completed"
    for name in ("random", "mf"):
        run = parent / name
        assert run.is_dir() and manifest(run)["status"] == "completed"
        metrics = pd.read_parquet(run / "metrics.parquet")
        assert len(metrics) == 3
        for col in ("homophily", "echo_chamber", "taste_spread"):
            values = metrics[col].to_numpy(dtype=float)
            assert np.isfinite(values).all(), (name, col, values)
    assert set(result.variants) == {"random", "mf"}
