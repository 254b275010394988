"""Community detection: vectorised label propagation against Louvain, and the ``auto`` switch."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from simrec.social import communities
from simrec.social.communities import detect_communities, label_propagation_labels
from simrec.social.graph import SocialGraph
from simrec.social.metrics import louvain_labels, modularity


def _two_cliques(k: int = 20) -> SocialGraph:
    g = nx.disjoint_union(nx.complete_graph(k), nx.complete_graph(k))
    g.add_edge(k - 1, k)  # the one bridge
    return SocialGraph.from_networkx(g, 2 * k)


def _planted() -> tuple[SocialGraph, np.ndarray]:
    g = nx.planted_partition_graph(10, 200, 0.1, 0.002, seed=3)
    return SocialGraph.from_networkx(g, g.number_of_nodes()), np.repeat(np.arange(10), 200)


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_two_cliques_split_into_their_halves(seed: int) -> None:
    graph = _two_cliques(20)
    labels = label_propagation_labels(graph, np.random.default_rng(seed))
    assert labels.dtype == np.int32 and labels.shape == (40,)
    np.testing.assert_array_equal(labels, np.repeat([0, 1], 20))


def test_planted_partition_close_to_louvain() -> None:
    graph, truth = _planted()
    labels = label_propagation_labels(graph, np.random.default_rng(0))
    k = len(np.unique(labels))
    assert 8 <= k <= 12
    q_lp = modularity(graph, labels)
    q_louvain = modularity(graph, louvain_labels(graph, seed=0))
    assert q_lp == pytest.approx(q_louvain, abs=0.05)
    assert q_lp > 0.6  # a real partition, not a trivial one
    # the planted blocks are sparse across (p_out = 0.002): communities are (nearly) pure blocks
    purity = sum(np.bincount(truth[labels == c]).max() for c in range(k)) / len(truth)
    assert purity >= 0.95


def test_same_rng_seed_same_labels_numbered_by_smallest_member() -> None:
    graph, _ = _planted()
    a = label_propagation_labels(graph, np.random.default_rng(42))
    b = label_propagation_labels(graph, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    k = len(np.unique(a))
    assert a[0] == 0
    assert sorted(np.unique(a).tolist()) == list(range(k))
    # numbered in order of each community's smallest member
    first = [int(np.flatnonzero(a == c)[0]) for c in range(k)]
    assert first == sorted(first)


def test_directed_graph_is_read_as_undirected() -> None:
    # Two 8-cliques where every tie points one way only (i → j for i < j), joined by one arc.
    k = 8
    g = nx.DiGraph()
    g.add_nodes_from(range(2 * k))
    for base in (0, k):
        g.add_edges_from((base + i, base + j) for i in range(k) for j in range(i + 1, k))
    g.add_edge(k - 1, k)
    graph = SocialGraph.from_networkx(g, 2 * k)
    assert graph.directed
    labels = label_propagation_labels(graph, np.random.default_rng(0))
    # Following arcs only, node 0 has no in-arcs and the last node no out-arcs; read as
    # undirected, each clique is one community.
    np.testing.assert_array_equal(labels, np.repeat([0, 1], k))


def test_empty_graph_every_node_its_own_community() -> None:
    graph = SocialGraph.empty(7)
    labels = label_propagation_labels(graph, np.random.default_rng(0))
    np.testing.assert_array_equal(labels, np.arange(7))
    assert labels.dtype == np.int32
    directed = label_propagation_labels(
        SocialGraph.empty(5, directed=True), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(directed, np.arange(5))


def test_auto_uses_louvain_up_to_the_arc_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def fake_louvain(graph: SocialGraph, seed: int) -> np.ndarray:
        ran.append("louvain")
        return np.zeros(graph.n_users, np.int32)

    def fake_lp(graph: SocialGraph, rng: np.random.Generator) -> np.ndarray:
        ran.append("label_propagation")
        return np.ones(graph.n_users, np.int32)

    monkeypatch.setattr(communities, "louvain_labels", fake_louvain)
    monkeypatch.setattr(communities, "label_propagation_labels", fake_lp)
    graph = _two_cliques(5)  # 2 * 10 + 1 edges = 42 arcs
    assert graph.n_arcs == 42

    monkeypatch.setattr(communities, "LOUVAIN_MAX_ARCS", 42)  # at the limit: Louvain
    np.testing.assert_array_equal(detect_communities(graph, seed=1), np.zeros(10))
    monkeypatch.setattr(communities, "LOUVAIN_MAX_ARCS", 41)  # above it: label propagation
    np.testing.assert_array_equal(detect_communities(graph, seed=1), np.ones(10))
    assert ran == ["louvain", "label_propagation"]

    # explicit methods ignore the limit
    ran.clear()
    detect_communities(graph, seed=1, method="louvain")
    monkeypatch.setattr(communities, "LOUVAIN_MAX_ARCS", 10_000)
    detect_communities(graph, seed=1, method="label_propagation")
    assert ran == ["louvain", "label_propagation"]


def test_detect_communities_real_methods_agree_with_direct_calls() -> None:
    graph, _ = _planted()
    np.testing.assert_array_equal(
        detect_communities(graph, seed=5, method="louvain"), louvain_labels(graph, seed=5)
    )
    np.testing.assert_array_equal(
        detect_communities(graph, seed=5, method="label_propagation"),
        label_propagation_labels(graph, np.random.default_rng(5)),
    )
