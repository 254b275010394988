"""Social metrics against networkx's own functions and hand-computed cases."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from simrec.social.graph import SocialGraph
from simrec.social.metrics import (
    attribute_assortativity,
    echo_chamber_index,
    gini,
    graph_metrics,
    homophily,
    louvain_labels,
    modularity,
    neighbour_spread,
    numeric_assortativity,
    taste_spread,
)


def _karate() -> tuple[SocialGraph, np.ndarray]:
    g = nx.karate_club_graph()
    clubs = np.array([g.nodes[i]["club"] for i in range(g.number_of_nodes())])
    return SocialGraph.from_networkx(g, g.number_of_nodes()), clubs


def _gnp(n: int, p: float, directed: bool, seed: int) -> SocialGraph:
    return SocialGraph.from_networkx(nx.gnp_random_graph(n, p, seed=seed, directed=directed), n)


def _two_cliques(k: int = 6) -> tuple[SocialGraph, np.ndarray]:
    g = nx.disjoint_union(nx.complete_graph(k), nx.complete_graph(k))
    g.add_edge(0, k)
    return SocialGraph.from_networkx(g, 2 * k), np.repeat([0, 1], k)


def _nx_with(graph: SocialGraph, values: np.ndarray) -> nx.Graph:
    g = graph.to_networkx(attributes=False)
    nx.set_node_attributes(g, {i: v.item() for i, v in enumerate(values)}, "a")
    return g


def _sets(labels: np.ndarray) -> list[set[int]]:
    return [set(np.nonzero(labels == c)[0].tolist()) for c in np.unique(labels)]


GRAPHS = [
    pytest.param(lambda: _gnp(60, 0.08, False, 1), id="gnp"),
    pytest.param(lambda: _gnp(60, 0.08, True, 2), id="gnp-directed"),
    pytest.param(lambda: _karate()[0], id="karate"),
]


def test_karate_assortativity_and_modularity_match_networkx() -> None:
    graph, clubs = _karate()
    g = _nx_with(graph, clubs)
    assert attribute_assortativity(graph, clubs) == pytest.approx(
        nx.attribute_assortativity_coefficient(g, "a")
    )
    assert modularity(graph, clubs) == pytest.approx(nx.community.modularity(g, _sets(clubs)))
    assert 0.5 < attribute_assortativity(graph, clubs) < 1.0


@pytest.mark.parametrize("make", GRAPHS)
@pytest.mark.parametrize("n_labels", [2, 3, 7])
def test_attribute_assortativity_matches_networkx(make, n_labels: int) -> None:
    graph = make()
    labels = np.random.default_rng(n_labels).integers(0, n_labels, graph.n_users)
    expected = nx.attribute_assortativity_coefficient(_nx_with(graph, labels), "a")
    assert attribute_assortativity(graph, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("make", GRAPHS)
def test_attribute_assortativity_accepts_string_labels(make) -> None:
    graph = make()
    labels = np.array(["x", "y", "z"])[np.arange(graph.n_users) % 3]
    expected = nx.attribute_assortativity_coefficient(_nx_with(graph, labels), "a")
    assert attribute_assortativity(graph, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("make", GRAPHS)
def test_numeric_assortativity_on_degree_matches_networkx(make) -> None:
    graph = make()
    for degree in (graph.out_degree(), graph.in_degree()):
        expected = nx.numeric_assortativity_coefficient(_nx_with(graph, degree), "a")
        assert numeric_assortativity(graph, degree) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("make", GRAPHS)
def test_numeric_assortativity_on_small_ints_matches_networkx(make) -> None:
    graph = make()
    values = np.random.default_rng(5).integers(-3, 4, graph.n_users)
    expected = nx.numeric_assortativity_coefficient(_nx_with(graph, values), "a")
    assert numeric_assortativity(graph, values) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("make", GRAPHS)
def test_numeric_assortativity_on_real_values_matches_networkx(make) -> None:
    graph = make()
    values = np.random.default_rng(8).normal(size=graph.n_users)
    expected = nx.numeric_assortativity_coefficient(_nx_with(graph, values), "a")
    assert numeric_assortativity(graph, values) == pytest.approx(expected, abs=1e-9)


def test_numeric_assortativity_is_degree_assortativity() -> None:
    graph = _gnp(80, 0.06, False, 9)
    expected = nx.degree_assortativity_coefficient(graph.to_networkx(attributes=False))
    assert numeric_assortativity(graph, graph.out_degree()) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("make", GRAPHS)
@pytest.mark.parametrize("resolution", [1.0, 0.5, 2.0])
def test_modularity_matches_networkx(make, resolution: float) -> None:
    graph = make()
    g = graph.to_networkx(attributes=False)
    rng = np.random.default_rng(3)
    partitions = [
        rng.integers(0, 4, graph.n_users),
        np.zeros(graph.n_users, int),
        np.arange(graph.n_users),
        louvain_labels(graph, seed=1),
    ]
    for labels in partitions:
        expected = nx.community.modularity(g, _sets(labels), resolution=resolution)
        assert modularity(graph, labels, resolution) == pytest.approx(expected, abs=1e-12)


def test_two_cliques() -> None:
    graph, halves = _two_cliques(6)
    g = _nx_with(graph, halves)
    assert modularity(graph, halves) == pytest.approx(nx.community.modularity(g, _sets(halves)))
    assert modularity(graph, halves) > 0.45
    assert attribute_assortativity(graph, halves) == pytest.approx(
        nx.attribute_assortativity_coefficient(g, "a")
    )
    assert attribute_assortativity(graph, halves) > 0.9
    labels = louvain_labels(graph, seed=0)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, halves)
    # within one clique the label is shared: assortativity 1 once the bridge is gone
    graph.remove(graph.arc_index(np.array([0]), np.array([6])))
    assert attribute_assortativity(graph, halves) == pytest.approx(1.0)


def test_louvain_labels_match_networkx_and_are_ordered() -> None:
    graph = _gnp(40, 0.1, True, 4)
    g = graph.to_networkx(attributes=False).to_undirected()
    labels = louvain_labels(graph, seed=7, resolution=1.2)
    parts = nx.community.louvain_communities(g, seed=7, resolution=1.2)
    assert sorted(map(frozenset, _sets(labels)), key=min) == sorted(map(frozenset, parts), key=min)
    firsts = [int(np.nonzero(labels == c)[0][0]) for c in range(labels.max() + 1)]
    assert firsts == sorted(firsts)
    np.testing.assert_array_equal(labels, louvain_labels(graph, seed=7, resolution=1.2))


def _orthogonal_groups(
    cross: bool, directed: bool = False
) -> tuple[SocialGraph, np.ndarray, np.ndarray]:
    groups = np.repeat([0, 1], 5)
    profiles = np.where(groups[:, None] == np.arange(2), 2.0, 0.0)  # e_0 or e_1, scaled
    a, b = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    keep = (groups[a] != groups[b]) if cross else (groups[a] == groups[b])
    edges = np.stack([a[keep], b[keep]], axis=1)
    return SocialGraph.from_edges(10, edges, directed), profiles, groups


@pytest.mark.parametrize("directed", [False, True])
def test_echo_chamber_within_groups(directed: bool) -> None:
    graph, profiles, groups = _orthogonal_groups(cross=False, directed=directed)
    assert homophily(graph, profiles) == pytest.approx(1.0)
    assert taste_spread(profiles) == pytest.approx(0.5)  # random pairs: half alike, half orthogonal
    assert neighbour_spread(graph, profiles) == pytest.approx(0.0)
    assert echo_chamber_index(graph, profiles) == pytest.approx(1.0)
    assert attribute_assortativity(graph, groups) == pytest.approx(1.0)


def test_echo_chamber_across_groups() -> None:
    graph, profiles, groups = _orthogonal_groups(cross=True)
    assert homophily(graph, profiles) == pytest.approx(0.0)
    assert neighbour_spread(graph, profiles) == pytest.approx(1.0)
    assert echo_chamber_index(graph, profiles) == pytest.approx(-1.0)
    assert attribute_assortativity(graph, groups) == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", ["complete", "sparse_random"])
def test_echo_chamber_is_near_zero_for_taste_blind_graphs(kind: str) -> None:
    # ties drawn without regard to taste join pairs as different as random pairs
    n = 2000 if kind == "sparse_random" else 300
    profiles = np.random.default_rng(0).normal(size=(n, 8)) + np.eye(8)[0]
    g = nx.complete_graph(n) if kind == "complete" else nx.gnm_random_graph(n, 5 * n, seed=1)
    graph = SocialGraph.from_networkx(g, n)
    assert abs(echo_chamber_index(graph, profiles)) < 0.05


def test_zero_profiles() -> None:
    profiles = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    graph = SocialGraph.from_edges(4, np.array([[0, 1], [0, 2], [1, 2], [3, 1]]), directed=True)
    # arcs: 0→1 (zero), 0→2 (1), 1→2 (zero), 3→1 (zero)
    assert homophily(graph, profiles) == pytest.approx(0.25)
    assert taste_spread(profiles) == pytest.approx(0.0)
    # only arc 0→2 joins two profiles, and they are alike
    assert neighbour_spread(graph, profiles) == pytest.approx(0.0)
    assert np.isnan(echo_chamber_index(graph, profiles))  # taste_spread 0
    assert np.isnan(taste_spread(np.zeros((3, 2))))
    only_zero = SocialGraph.from_edges(4, np.array([[0, 1], [2, 3]]), directed=True)
    assert np.isnan(neighbour_spread(only_zero, profiles))


@pytest.mark.parametrize("directed", [False, True])
def test_profile_measures_match_loops(directed: bool) -> None:
    graph = _gnp(50, 0.1, directed, 11)
    rng = np.random.default_rng(6)
    profiles = rng.normal(size=(50, 5)) + 0.5
    profiles[rng.choice(50, 8, replace=False)] = 0.0

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0

    arcs = list(zip(graph.src.tolist(), graph.dst.tolist(), strict=True))
    assert homophily(graph, profiles) == pytest.approx(
        np.mean([cos(profiles[a], profiles[b]) for a, b in arcs])
    )
    ok = [u for u in range(50) if profiles[u].any()]
    unit = {u: profiles[u] / np.linalg.norm(profiles[u]) for u in ok}
    spread = np.mean([1 - unit[u] @ unit[v] for u in ok for v in ok])
    assert taste_spread(profiles) == pytest.approx(spread)
    dists = [1 - cos(unit[a], unit[b]) for a, b in arcs if a in unit and b in unit]
    assert neighbour_spread(graph, profiles) == pytest.approx(np.mean(dists))
    assert echo_chamber_index(graph, profiles) == pytest.approx(1 - np.mean(dists) / spread)


def test_neighbour_spread_averages_ties_not_neighbour_means() -> None:
    # two followees with opposite tastes: each tie is orthogonal to user 0 (distance 1)
    profiles = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    graph = SocialGraph.from_edges(3, np.array([[0, 1], [0, 2]]), directed=True)
    assert neighbour_spread(graph, profiles) == pytest.approx(1.0)
    opposite = SocialGraph.from_edges(3, np.array([[1, 2]]), directed=True)
    assert neighbour_spread(opposite, profiles) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([1, 1, 1, 1], 0.0),
        ([0, 0, 0, 4], 0.75),
        ([0, 0, 0, 0], 0.0),
        ([], 0.0),
        ([5], 0.0),
        ([0, 1], 0.5),
        ([1, 2, 3], 2 / 9),
    ],
)
def test_gini_known_values(counts: list[int], expected: float) -> None:
    assert gini(np.array(counts)) == pytest.approx(expected)


def test_gini_is_half_relative_mean_difference() -> None:
    x = np.random.default_rng(1).integers(0, 20, 50).astype(float)
    expected = np.abs(x[:, None] - x[None, :]).mean() / (2 * x.mean())
    assert gini(x) == pytest.approx(expected)
    assert gini(np.random.default_rng(2).permutation(x)) == pytest.approx(expected)
    with pytest.raises(ValueError):
        gini(np.array([1, -1]))


@pytest.mark.parametrize("directed", [False, True])
def test_empty_graph_is_nan(directed: bool) -> None:
    graph = SocialGraph.empty(5, directed=directed)
    labels = np.array([0, 0, 1, 1, 2])
    profiles = np.eye(5)
    assert np.isnan(attribute_assortativity(graph, labels))
    assert np.isnan(numeric_assortativity(graph, labels))
    assert np.isnan(modularity(graph, labels))
    assert np.isnan(homophily(graph, profiles))
    assert np.isnan(neighbour_spread(graph, profiles))
    assert np.isnan(echo_chamber_index(graph, profiles))
    m = graph_metrics(graph, profiles, labels, community_labels=labels)
    assert m["edges"] == 0.0
    assert np.isnan(m["mean_trust"]) and np.isnan(m["community_modularity"])
    assert m["communities"] == 3.0
    assert m["taste_spread"] == pytest.approx(taste_spread(profiles))


def test_single_label_is_nan_like_networkx() -> None:
    graph = _gnp(30, 0.2, False, 0)
    same = np.zeros(graph.n_users, int)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(nx.attribute_assortativity_coefficient(_nx_with(graph, same), "a"))
    assert np.isnan(attribute_assortativity(graph, same))
    assert np.isnan(numeric_assortativity(graph, same))


def test_graph_metrics_keys_and_values() -> None:
    graph, clubs = _karate()
    profiles = np.random.default_rng(4).normal(size=(graph.n_users, 6))
    groups = (clubs == "Officer").astype(int)
    comm = louvain_labels(graph, seed=0)
    m = graph_metrics(graph, profiles, groups, community_labels=comm)
    assert list(m) == [
        "edges", "mean_trust", "taste_assortativity", "homophily", "taste_modularity",
        "community_modularity", "communities", "taste_spread", "neighbour_spread", "echo_chamber",
    ]  # fmt: skip
    assert all(isinstance(v, float) for v in m.values())
    assert m["edges"] == 78.0
    assert m["mean_trust"] == pytest.approx(0.5)
    assert m["taste_assortativity"] == pytest.approx(attribute_assortativity(graph, clubs))
    assert m["taste_modularity"] == pytest.approx(modularity(graph, clubs))
    assert m["community_modularity"] == pytest.approx(modularity(graph, comm))
    assert m["communities"] == float(comm.max() + 1)
    assert m["homophily"] == pytest.approx(homophily(graph, profiles))
    assert m["echo_chamber"] == pytest.approx(echo_chamber_index(graph, profiles))
    bare = graph_metrics(graph, profiles, groups)
    assert np.isnan(bare["community_modularity"]) and np.isnan(bare["communities"])


def test_wrong_label_length_raises() -> None:
    graph, _ = _karate()
    with pytest.raises(ValueError):
        modularity(graph, np.zeros(3, int))
