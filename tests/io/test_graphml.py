"""Tests of final.graphml: user fields on the nodes, trust and strikes on the edges, read back
with networkx."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from simrec.io.graphml import node_attributes, write_graphml
from simrec.social.graph import SocialGraph

NAN = float("nan")


def _users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": np.arange(4, dtype=np.int32),
            "user_id": np.array([196, 186, 22, 2**40], np.int64),  # beyond GraphML's 32-bit int
            "age": [24.0, NAN, 31.0, 40.0],
            "gender": ["M", "F", None, "F"],
            "member": [True, False, True, True],
            "zip_code": ["85711", 94043, "E2A 1B3", "02139"],  # mixed types: written as text
            "taste": [np.zeros(2), np.ones(2), np.zeros(2), np.ones(2)],  # not a scalar
        }
    )


def test_node_attributes_skip_missing_and_nested_values() -> None:
    attrs = node_attributes(_users())
    assert attrs[0] == {"user_id": 196, "age": 24.0, "gender": "M", "member": True, "zip_code": "85711"}
    assert attrs[1] == {"user_id": 186, "gender": "F", "member": False, "zip_code": "94043"}  # no age
    assert "gender" not in attrs[2] and attrs[3]["user_id"] == 2**40
    assert all(type(a["user_id"]) is int and type(a["member"]) is bool for a in attrs.values())


@pytest.mark.parametrize("directed", [False, True])
def test_graphml_round_trip_with_networkx(tmp_path: Path, directed: bool) -> None:
    graph = SocialGraph.from_edges(4, np.array([[0, 1], [1, 2], [3, 0], [2, 3]]), directed=directed)
    rng = np.random.default_rng(3)
    graph.trust[:] = rng.random(graph.n_arcs).astype(np.float32)
    graph.strikes[:] = rng.integers(0, 5, graph.n_arcs)
    users = _users()
    path = write_graphml(graph.to_networkx(), users, tmp_path / "graph" / "final.graphml")

    g = nx.read_graphml(path, node_type=int)
    assert g.is_directed() == directed and sorted(g.nodes) == [0, 1, 2, 3]
    for row in users.itertuples():
        node = g.nodes[row.user]
        assert node["user_id"] == row.user_id and node["member"] == row.member
        assert node["zip_code"] == str(row.zip_code) and "taste" not in node
        assert ("age" in node) == pd.notna(row.age) and ("gender" in node) == pd.notna(row.gender)
    assert g.nodes[0]["age"] == 24.0 and g.nodes[2]["age"] == 31.0

    arcs = graph.arcs_frame()
    state = {(int(a), int(b)): (t, int(k)) for a, b, t, k in arcs.itertuples(index=False)}
    assert g.number_of_edges() == graph.n_edges
    for a, b, data in g.edges(data=True):
        if directed:
            t, k = state[a, b]
            assert data["trust"] == pytest.approx(t, abs=1e-6) and data["strikes"] == k
        else:
            lo, hi = min(a, b), max(a, b)
            assert data["trust_source"] == pytest.approx(state[lo, hi][0], abs=1e-6)
            assert data["trust_target"] == pytest.approx(state[hi, lo][0], abs=1e-6)
            assert (data["strikes_source"], data["strikes_target"]) == (state[lo, hi][1], state[hi, lo][1])
    text = path.read_text(encoding="utf-8")
    assert 'attr.name="user_id" attr.type="long"' in text and 'attr.name="strikes' in text
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # written atomically


def test_graphml_without_users_has_bare_nodes(tmp_path: Path) -> None:
    graph = SocialGraph.from_edges(3, np.array([[0, 1]]), directed=False)
    g = nx.read_graphml(write_graphml(graph.to_networkx(), None, tmp_path / "g.graphml"), node_type=int)
    assert g.number_of_nodes() == 3 and g.nodes[0] == {}
