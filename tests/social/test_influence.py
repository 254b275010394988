"""Friends' recent likes: ``social_pull`` against a naive loop, and ``RecentLikes`` bookkeeping."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from simrec.social.graph import SocialGraph
from simrec.social.influence import RecentLikes, social_pull

N_USERS, N_ITEMS = 60, 40


def _graph(seed: int = 0) -> SocialGraph:
    g = nx.gnp_random_graph(N_USERS, 0.12, seed=seed, directed=True)
    graph = SocialGraph.from_networkx(g, N_USERS)
    graph.trust = np.random.default_rng(seed).uniform(0.05, 1.0, graph.n_arcs).astype(np.float32)
    return graph


def _naive_pull(
    graph: SocialGraph, steps: list[tuple[np.ndarray, np.ndarray]], window: int, decay: float,
    users: np.ndarray, items: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Σ_{f followed by u} trust[u→f] · Σ_{likes of i by f in the window} decay^age, by plain loops."""
    recent = steps[-window:]
    out = np.zeros(items.shape, np.float64)
    for r, u in enumerate(users):
        for a in range(graph.n_arcs):
            if graph.src[a] != u:
                continue
            f, trust = int(graph.dst[a]), float(graph.trust[a])
            for j, i in enumerate(items[r]):
                total = 0.0
                for age, (lu, li) in enumerate(reversed(recent)):
                    for uu, ii in zip(lu, li, strict=True):
                        if uu == f and ii == i:
                            total += decay**age
                out[r, j] += trust * total
    return out


def _random_steps(rng: np.random.Generator, n_steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    steps = []
    for _ in range(n_steps):
        n = int(rng.integers(40, 90))
        # a small item range so friends' likes overlap the queried items often
        steps.append((rng.integers(0, N_USERS, n), rng.integers(0, 12, n)))
    return steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_social_pull_matches_naive_loop(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    graph = _graph(seed)
    window, decay = 2, 0.6
    likes = RecentLikes(N_USERS, N_ITEMS, window=window, decay=decay)
    steps = _random_steps(rng, 3)
    for u, i in steps:
        likes.push(u, i)
    users = rng.choice(N_USERS, 25, replace=False)
    items = rng.integers(0, 15, (25, 8))
    got = social_pull(graph, likes, users, items)
    want = _naive_pull(graph, steps, window, decay, users, items)
    assert got.shape == items.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (want > 0).sum() > 20  # the comparison is not vacuous
    # the oldest step has dropped out: counting all three steps gives a different answer
    with_oldest = _naive_pull(graph, steps, 3, decay, users, items)
    assert not np.allclose(got, with_oldest, rtol=1e-5, atol=1e-6)


def test_social_pull_zero_for_empty_graph_or_no_likes() -> None:
    rng = np.random.default_rng(5)
    users = np.arange(10)
    items = rng.integers(0, N_ITEMS, (10, 4))
    likes = RecentLikes(N_USERS, N_ITEMS, window=2, decay=0.5)
    likes.push(rng.integers(0, N_USERS, 200), rng.integers(0, N_ITEMS, 200))
    empty = SocialGraph.empty(N_USERS, directed=True)
    out = social_pull(empty, likes, users, items)
    assert out.shape == items.shape and not out.any()

    graph = _graph(0)
    assert social_pull(graph, likes, users, items).any()  # the same likes do pull through ties
    none = RecentLikes(N_USERS, N_ITEMS, window=2, decay=0.5)
    assert none.empty
    assert not social_pull(graph, none, users, items).any()
    none.push(np.empty(0, np.int64), np.empty(0, np.int64))  # a step without likes
    assert none.empty
    assert not social_pull(graph, none, users, items).any()


def test_likes_leave_the_window() -> None:
    graph = SocialGraph.from_edges(3, np.array([[0, 1]]), directed=True, trust=0.5)
    likes = RecentLikes(3, 5, window=2, decay=0.5)
    likes.push(np.array([1]), np.array([2]))

    def pull() -> float:
        return float(social_pull(graph, likes, np.array([0]), np.array([[2]]))[0, 0])

    assert pull() == pytest.approx(0.5)  # trust 0.5 × age 0
    likes.push(np.empty(0, np.int64), np.empty(0, np.int64))
    assert pull() == pytest.approx(0.25)  # × decay^1
    likes.push(np.empty(0, np.int64), np.empty(0, np.int64))
    assert pull() == 0.0 and likes.empty


def test_last_like_keeps_each_users_latest_like() -> None:
    likes = RecentLikes(5, 10, window=1, decay=0.5)
    np.testing.assert_array_equal(likes.last_like, [-1] * 5)
    likes.push(np.array([0, 1, 0]), np.array([3, 4, 7]))  # user 0 liked 3 then 7 in one step
    np.testing.assert_array_equal(likes.last_like, [7, 4, -1, -1, -1])
    likes.push(np.array([1, 2]), np.array([9, 1]))
    np.testing.assert_array_equal(likes.last_like, [7, 9, 1, -1, -1])
    likes.push(np.empty(0, np.int64), np.empty(0, np.int64))
    likes.push(np.empty(0, np.int64), np.empty(0, np.int64))
    # last_like outlives the window: it is the latest like ever, not within the window
    assert likes.empty
    np.testing.assert_array_equal(likes.last_like, [7, 9, 1, -1, -1])


def test_duplicate_likes_in_one_step_count_twice() -> None:
    """The likes matrix is built from COO triplets, whose duplicates scipy sums: a user
    liking the same item twice in one step pulls twice as hard as a single like."""
    graph = SocialGraph.from_edges(3, np.array([[0, 1], [2, 1]]), directed=True, trust=0.4)
    likes = RecentLikes(3, 5, window=2, decay=0.5)
    likes.push(np.array([1, 1, 1]), np.array([3, 3, 2]))
    assert likes.matrix()[1, 3] == pytest.approx(2.0)
    out = social_pull(graph, likes, np.array([0, 2]), np.array([[3, 2], [2, 4]]))
    np.testing.assert_allclose(out, [[0.8, 0.4], [0.4, 0.0]], rtol=1e-6)
