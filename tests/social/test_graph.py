"""SocialGraph: construction, lookups, changes and networkx exchange."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.social.graph import SocialGraph


def _arcs(g: SocialGraph) -> set[tuple[int, int]]:
    return set(zip(g.src.tolist(), g.dst.tolist(), strict=True))


def test_from_edges_drops_duplicates_and_self_loops() -> None:
    g = SocialGraph.from_edges(
        5, np.array([[0, 1], [0, 1], [2, 2], [3, 1], [1, 0]]), directed=True, trust=0.3
    )
    assert _arcs(g) == {(0, 1), (1, 0), (3, 1)}
    assert g.n_arcs == g.n_edges == 3
    assert list(g.keys) == sorted(g.keys)
    assert g.src.dtype == np.int32 and g.trust.dtype == np.float32 and g.strikes.dtype == np.int16
    assert np.allclose(g.trust, 0.3) and not g.strikes.any()


def test_from_edges_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="0..3"):
        SocialGraph.from_edges(4, np.array([[0, 4]]), directed=False)


def test_friendship_graph_holds_both_arcs() -> None:
    g = SocialGraph.from_edges(4, np.array([[0, 1], [1, 0], [2, 3], [1, 1]]), directed=False)
    assert _arcs(g) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert g.n_arcs == 4 and g.n_edges == 2
    assert np.array_equal(g.out_degree(), g.in_degree())


def test_empty_graph() -> None:
    g = SocialGraph.empty(3)
    assert g.n_arcs == 0 and g.n_edges == 0 and not g.directed
    assert g.following(1).size == 0 and g.followers(1).size == 0


def test_arc_index_and_has_arc() -> None:
    g = SocialGraph.from_edges(4, np.array([[0, 1], [2, 3], [3, 0]]), directed=True)
    idx = g.arc_index(np.array([0, 2, 1, 3, 3]), np.array([1, 3, 0, 0, 3]))
    assert idx[2] == -1 and idx[4] == -1
    assert g.src[idx[0]] == 0 and g.dst[idx[0]] == 1
    assert g.src[idx[3]] == 3 and g.dst[idx[3]] == 0
    assert g.has_arc(np.array([0, 1]), np.array([1, 0])).tolist() == [True, False]
    # a query past the last key
    assert g.arc_index(np.array([3]), np.array([3])).tolist() == [-1]


def test_following_and_followers() -> None:
    g = SocialGraph.from_edges(5, np.array([[0, 3], [0, 1], [2, 1], [4, 1], [1, 0]]), directed=True)
    assert g.following(0).tolist() == [1, 3]
    assert g.followers(1).tolist() == [0, 2, 4]
    assert g.following(3).tolist() == [] and g.followers(2).tolist() == []
    assert g.out_degree().tolist() == [2, 1, 1, 0, 1] and g.in_degree().tolist() == [1, 3, 0, 1, 0]


def test_add_ignores_existing_and_self_ties() -> None:
    g = SocialGraph.from_edges(4, np.array([[0, 1]]), directed=True, trust=0.5)
    added = g.add(np.array([0, 2, 2, 3, 1]), np.array([1, 2, 3, 0, 0]), trust=0.9)
    assert added == 3
    assert _arcs(g) == {(0, 1), (2, 3), (3, 0), (1, 0)}
    assert g.trust[g.arc_index(np.array([0]), np.array([1]))[0]] == pytest.approx(0.5)
    for a, b in ((2, 3), (3, 0), (1, 0)):
        assert g.trust[g.arc_index(np.array([a]), np.array([b]))[0]] == pytest.approx(0.9)
    assert list(g.keys) == sorted(g.keys)
    assert g.add(np.array([0]), np.array([1]), trust=0.1) == 0
    assert g.following(2).tolist() == [3]  # lookups see the change


def test_add_in_friendship_graph_adds_both_arcs() -> None:
    g = SocialGraph.from_edges(4, np.array([[0, 1]]), directed=False)
    assert g.add(np.array([2, 1]), np.array([3, 0]), trust=0.7) == 1
    assert _arcs(g) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert g.n_edges == 2
    assert g.trust[g.arc_index(np.array([3]), np.array([2]))[0]] == pytest.approx(0.7)


def test_remove_directed_and_friendship() -> None:
    d = SocialGraph.from_edges(3, np.array([[0, 1], [1, 0], [1, 2]]), directed=True)
    assert d.remove(d.arc_index(np.array([0]), np.array([1]))) == 1
    assert _arcs(d) == {(1, 0), (1, 2)}
    f = SocialGraph.from_edges(3, np.array([[0, 1], [1, 2]]), directed=False)
    f.trust[:] = np.arange(f.n_arcs)
    kept = f.trust[f.arc_index(np.array([2]), np.array([1]))[0]]
    assert f.remove(f.arc_index(np.array([1]), np.array([0]))) == 1
    assert _arcs(f) == {(1, 2), (2, 1)}
    assert f.trust[f.arc_index(np.array([2]), np.array([1]))[0]] == kept
    assert f.followers(0).tolist() == [] and f.remove(np.array([], np.int64)) == 0


def test_edges_list_each_friendship_once() -> None:
    f = SocialGraph.from_edges(4, np.array([[1, 0], [3, 2], [0, 2]]), directed=False)
    assert sorted(map(tuple, f.edges().tolist())) == [(0, 1), (0, 2), (2, 3)]
    frame = f.edges_frame()
    assert list(frame.columns) == ["source", "target"] and len(frame) == f.n_edges == 3
    assert (frame["source"] < frame["target"]).all()
    d = SocialGraph.from_edges(3, np.array([[1, 0], [0, 1]]), directed=True)
    assert len(d.edges_frame()) == 2
    assert list(d.arcs_frame().columns) == ["source", "target", "trust", "strikes"]


def test_to_networkx_round_trip_directed() -> None:
    rng = np.random.default_rng(0)
    g = SocialGraph.from_edges(30, rng.integers(0, 30, size=(80, 2)), directed=True)
    g.trust[:] = rng.random(g.n_arcs).astype(np.float32)
    g.strikes[:] = rng.integers(0, 4, g.n_arcs)
    nxg = g.to_networkx()
    assert nxg.is_directed() and nxg.number_of_nodes() == 30
    assert set(nxg.edges()) == _arcs(g)
    for a, b, t, k in zip(g.src, g.dst, g.trust, g.strikes, strict=True):
        data = nxg.edges[int(a), int(b)]
        assert data["trust"] == pytest.approx(float(t)) and data["strikes"] == int(k)
        assert type(data["strikes"]) is int and type(data["trust"]) is float  # GraphML-ready
    back = SocialGraph.from_networkx(nxg, 30, trust=0.5)
    assert back.directed and np.array_equal(back.src, g.src) and np.array_equal(back.dst, g.dst)
    plain = g.to_networkx(attributes=False)
    assert set(plain.edges()) == _arcs(g) and not plain.edges[int(g.src[0]), int(g.dst[0])]


def test_to_networkx_round_trip_friendship() -> None:
    rng = np.random.default_rng(1)
    g = SocialGraph.from_edges(25, rng.integers(0, 25, size=(60, 2)), directed=False)
    g.trust[:] = rng.random(g.n_arcs).astype(np.float32)
    g.strikes[:] = rng.integers(0, 4, g.n_arcs)
    nxg = g.to_networkx()
    assert not nxg.is_directed() and nxg.number_of_edges() == g.n_edges
    assert {tuple(sorted(e)) for e in nxg.edges()} == set(map(tuple, g.edges().tolist()))
    for a, b, data in nxg.edges(data=True):
        lo, hi = min(a, b), max(a, b)
        there = g.arc_index(np.array([lo]), np.array([hi]))[0]
        back = g.arc_index(np.array([hi]), np.array([lo]))[0]
        assert data["trust_source"] == pytest.approx(float(g.trust[there]))
        assert data["trust_target"] == pytest.approx(float(g.trust[back]))
        assert (data["strikes_source"], data["strikes_target"]) == (g.strikes[there], g.strikes[back])
    back = SocialGraph.from_networkx(nxg, 25)
    assert not back.directed and np.array_equal(back.keys, g.keys)


def test_vectorised_arc_gathers_match_a_loop() -> None:
    rng = np.random.default_rng(7)
    n = 60
    g = SocialGraph.from_edges(n, rng.integers(0, n, size=(400, 2)), directed=True)
    users = rng.integers(0, n, size=25)  # repeats allowed
    row, arc = g.following_arcs(users)
    got = sorted(zip(row.tolist(), g.dst[arc].tolist(), strict=True))
    want = sorted(
        (r, int(b))
        for r, u in enumerate(users)
        for a, b in zip(g.src, g.dst, strict=True)
        if a == u
    )
    assert got == want
    row, arc = g.follower_arcs(users)
    got = sorted(zip(row.tolist(), g.src[arc].tolist(), strict=True))
    want = sorted(
        (r, int(a))
        for r, u in enumerate(users)
        for a, b in zip(g.src, g.dst, strict=True)
        if b == u
    )
    assert got == want
    assert np.array_equal(g.dst[g.follower_arcs(users)[1]], users[g.follower_arcs(users)[0]])
    empty_row, empty_arc = g.following_arcs(np.array([], np.int64))
    assert empty_row.size == 0 and empty_arc.size == 0


def test_copy_is_independent() -> None:
    g = SocialGraph.from_edges(3, np.array([[0, 1]]), directed=False)
    c = g.copy()
    c.add(np.array([1]), np.array([2]), trust=0.5)
    c.trust[:] = 0.0
    assert g.n_edges == 1 and np.allclose(g.trust, 0.5) and c.n_edges == 2
