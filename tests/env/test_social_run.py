"""Runs with a living social graph: files, events, determinism, and runs without one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from simrec.env.runner import run_scenario
from simrec.io.events import list_parts, read_events
from tests.helpers import SOCIAL, small_scenario


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_social_run_files_events_and_metrics_agree(tmp_path: Path) -> None:
    result = run_scenario(small_scenario(tmp_path, **SOCIAL))
    run, m = result.run_dir, result.metrics
    ev = read_events(run)
    kind = ev["event"].astype(str)
    via = ev["via"].astype(str)
    social_imp = ev[(kind == "impression") & (via == "social")]
    assert len(social_imp) == m["social_impressions"].sum() > 0
    assert (social_imp["page"] == 0).all() and (social_imp["position"] == 0).all()
    assert (kind == "share").sum() == m["shares"].sum() > 0
    shares = pd.read_parquet(run / "shares.parquet")
    assert len(shares) == m["shares"].sum()
    # every shared item was watched in the same session (choice mode shares liked items)
    shared = ev[kind == "share"][["session", "item"]]
    clicked = ev[kind == "click"][["session", "item"]]
    assert len(shared.merge(clicked, on=["session", "item"])) == len(shared)
    cascades = pd.read_parquet(run / "cascades.parquet")
    assert cascades["size"].sum() == len(shares)
    assert m["cascades"].iloc[-1] == len(cascades)
    edges = pd.read_parquet(run / "graph" / "edges-final.parquet")
    assert m["edges"].iloc[-1] == len(edges) // 2
    assert sorted(p.name for p in (run / "graph").iterdir()) == [
        "edges-final.parquet", "edges-initial.parquet", "edges-step-0002.parquet",
        "edges-step-0004.parquet", "final.graphml",
    ]  # fmt: skip
    g = nx.read_graphml(run / "graph" / "final.graphml")
    assert g.number_of_edges() == len(edges) // 2
    assert np.isfinite(m[["homophily", "taste_assortativity", "echo_chamber"]].to_numpy()).all()
    manifest = (run / "manifest.json").read_text()
    assert '"social"' in manifest and "report.html" in {p.name for p in run.iterdir()}


def test_social_run_is_reproducible(tmp_path: Path) -> None:
    runs = [run_scenario(small_scenario(tmp_path / str(i), **SOCIAL)).run_dir for i in range(2)]
    files = ["metrics.parquet", "cascades.parquet", "shares.parquet", "graph/edges-final.parquet", "graph/final.graphml"]
    for f in files:
        assert digest(runs[0] / f) == digest(runs[1] / f), f
    parts = [[digest(p) for p in list_parts(r / "events.parquet")] for r in runs]
    assert parts[0] == parts[1]
    other = run_scenario(small_scenario(tmp_path / "other", **{**SOCIAL, "seed": 4})).run_dir
    assert digest(other / "shares.parquet") != digest(runs[0] / "shares.parquet")


def test_without_a_graph_or_with_dynamics_off_there_are_no_social_columns(tmp_path: Path) -> None:
    plain = run_scenario(small_scenario(tmp_path / "a")).metrics
    off = run_scenario(small_scenario(tmp_path / "b", **{**SOCIAL, "environment.social.dynamics.enabled": False}))
    for m in (plain, off.metrics):
        assert "shares" not in m and "homophily" not in m
    assert (read_events(off.run_dir)["via"].astype(str) == "recommender").all()
    assert not (off.run_dir / "cascades.parquet").exists()


def test_directed_follow_graph_from_an_edge_list_file(tmp_path: Path) -> None:
    # A scenario file next to its edge list: the relative path resolves against the scenario's folder.
    from simrec.world.build import build_world

    raw = build_world(small_scenario(tmp_path)).population.user_ids
    users = [str(u) for u in raw]
    rows = ["follower,followee"] + [f"{users[i]},{users[(i * 7 + 1) % len(users)]}" for i in range(len(users))]
    rows.append("no-such-user,also-missing")
    (tmp_path / "edges.csv").write_text("\n".join(rows) + "\n")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "name: follow\nseed: 2\n"
        "environment:\n  data: {source: synthetic, n_users: 200, n_items: 300, n_genres: 8, interactions_per_user: 12}\n"
        "  page_size: 5\n  pages_per_session: 4\n"
        "  social: {builder: edge_list, path: edges.csv, source_col: follower, target_col: followee, directed: true,\n"
        "           dynamics: {share_rate: 0.5}}\n"
        f"run: {{steps: 3, output_dir: '{tmp_path / 'runs'}', export: []}}\n"
    )
    from simrec.config import load_scenario

    cfg = load_scenario(scenario)
    assert cfg.environment.social.path == tmp_path / "edges.csv"
    result = run_scenario(cfg)
    initial = pd.read_parquet(result.run_dir / "graph" / "edges-initial.parquet")
    assert len(initial) == len(users)  # one arc per good row; the unknown ids were dropped
    g = nx.read_graphml(result.run_dir / "graph" / "final.graphml")
    assert g.is_directed()
    assert result.metrics["shares"].sum() > 0 and result.metrics["social_impressions"].sum() > 0


def test_finished_cascades_on_disk_change_no_table_or_metric(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Cascades retired to checkpoints/ (inbox_ttl 1: finished after 4 quiet steps) give the tables and
    per-step cascade metrics of a run that keeps every share in memory."""
    from simrec.social.cascades import CascadeLog

    over = {**SOCIAL, "environment.social.dynamics.inbox_ttl": 1, "run.steps": 12, "recommender.name": "mf",
            "recommender.params.factors": 4, "recommender.retrain_every": 3}  # fmt: skip
    kept = run_scenario(small_scenario(tmp_path / "kept", **over))
    retired_rows = (kept.run_dir / "checkpoints" / "cascades.bin").stat().st_size
    assert retired_rows > 0  # cascades were finished and written out during the run
    monkeypatch.setattr(CascadeLog, "retire", lambda self, step: 0)
    memory = run_scenario(small_scenario(tmp_path / "memory", **over))
    assert not (memory.run_dir / "checkpoints" / "cascades.bin").exists()
    for name in ("shares.parquet", "cascades.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(kept.run_dir / name), pd.read_parquet(memory.run_dir / name))
    cols = [c for c in kept.metrics.columns if c.startswith(("cascade", "shares", "seed_"))]
    pd.testing.assert_frame_equal(kept.metrics[cols], memory.metrics[cols])
    pd.testing.assert_frame_equal(read_events(kept.run_dir), read_events(memory.run_dir))
