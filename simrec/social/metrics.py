"""Vectorised social metrics on a ``SocialGraph``, cheap enough to run every step.

Each metric works on the arc arrays (``src → dst``: "``src`` follows ``dst``") with
numpy/scipy, never a Python loop per edge. A friendship graph stores both arcs of
each tie, which is exactly how networkx counts an undirected edge in assortativity,
so one code path serves both kinds of graph. The functions agree with networkx:

* ``attribute_assortativity`` = ``nx.attribute_assortativity_coefficient``;
* ``numeric_assortativity`` = ``nx.numeric_assortativity_coefficient`` (the Pearson
  correlation of source and target value over arcs);
* ``modularity`` = ``nx.community.modularity`` (unweighted ``Graph`` / ``DiGraph``).

Where networkx divides by zero we return ``nan``: no arcs (networkx gives 0.0 for
attribute assortativity and raises for modularity), every arc endpoint sharing one
label, or a constant numeric value (networkx gives ``nan`` there too).

Echo-chamber measures (simrec's own). With ``û`` the unit profile of user ``u``
(users whose profile is all zeros have no direction and are left out of the spreads):

* ``homophily``: mean ``cos(p_a, p_b)`` over arcs ``a → b`` (0 for a zero profile);
* ``taste_spread``: the mean cosine distance ``1 - û·v̂`` between two users drawn at
  random, ``1 - |mean û|²`` (0: everyone alike);
* ``neighbour_spread``: the same distance averaged over arcs ``a → b`` whose two
  ends have a profile: how far apart the tastes of people and whom they follow are;
* ``echo_chamber_index``: ``1 - neighbour_spread / taste_spread``. 0: ties join
  tastes as different as random pairs (any random graph); 1: ties join identical
  tastes; below 0: ties join tastes further apart than random pairs.

``gini`` measures concentration of exposure counts over all items (zeros included).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from simrec.social.graph import SocialGraph


def _codes(labels: np.ndarray, n_users: int) -> tuple[np.ndarray, int]:
    """Dense integer codes ``0..k-1`` of a label per user, and ``k``."""
    labels = np.asarray(labels)
    if labels.shape[0] != n_users:
        raise ValueError(f"expected {n_users} labels, got {labels.shape[0]}")
    uniq, codes = np.unique(labels, return_inverse=True)
    return codes.reshape(-1), len(uniq)


def _mixing(graph: SocialGraph, labels: np.ndarray) -> tuple[float, float] | None:
    """Share of arcs inside a label, and the share expected from the labels' arc-end totals (``Σ a_k b_k``)."""
    codes, k = _codes(labels, graph.n_users)
    n = graph.n_arcs
    if n == 0:
        return None
    cs, cd = codes[graph.src], codes[graph.dst]
    inside = np.count_nonzero(cs == cd) / n
    return inside, float(np.dot(np.bincount(cs, minlength=k), np.bincount(cd, minlength=k))) / n**2


def attribute_assortativity(graph: SocialGraph, labels: np.ndarray) -> float:
    """Newman's assortativity of a categorical label (``nx.attribute_assortativity_coefficient``).

    Args:
        graph: The social graph.
        labels: ``[n_users]`` label per user (any sortable dtype).

    Returns:
        ``(tr e - Σ a_k b_k) / (1 - Σ a_k b_k)`` over the arc mixing matrix ``e``;
        ``nan`` with no arcs or when all arc endpoints share one label.
    """
    mix = _mixing(graph, labels)
    if mix is None:
        return float("nan")
    trace, s = mix
    return float((trace - s) / (1.0 - s)) if s < 1.0 else float("nan")


def numeric_assortativity(graph: SocialGraph, values: np.ndarray) -> float:
    """Pearson correlation of source and target values over arcs.

    This is what ``nx.numeric_assortativity_coefficient`` computes from the value
    mixing matrix, here for any real-valued attribute.

    Args:
        graph: The social graph.
        values: ``[n_users]`` numeric value per user.

    Returns:
        The correlation; ``nan`` with no arcs or a constant value on either end.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.shape[0] != graph.n_users:
        raise ValueError(f"expected {graph.n_users} values, got {x.shape[0]}")
    if graph.n_arcs == 0:
        return float("nan")
    x = x - x.mean()
    xs, xd = x[graph.src], x[graph.dst]
    xs, xd = xs - xs.mean(), xd - xd.mean()
    den = np.sqrt(np.dot(xs, xs) * np.dot(xd, xd))
    return float(np.dot(xs, xd) / den) if den > 0 else float("nan")


def modularity(graph: SocialGraph, communities: np.ndarray, resolution: float = 1.0) -> float:
    """Newman modularity of a partition (``nx.community.modularity``, unweighted).

    With ``A`` arcs, ``L_c`` arcs inside community ``c`` and ``out_c``/``in_c`` the arcs
    leaving/entering its members: ``Q = Σ_c L_c / A - γ out_c in_c / A²``; for a
    friendship graph (both arcs stored) this is the undirected formula.

    Args:
        graph: The social graph.
        communities: ``[n_users]`` integer community label per user.
        resolution: The resolution ``γ``.

    Returns:
        The modularity; ``nan`` for a graph without arcs.
    """
    mix = _mixing(graph, communities)
    if mix is None:
        return float("nan")
    inside, expected = mix
    return float(inside - resolution * expected)


def louvain_labels(graph: SocialGraph, seed: int, resolution: float = 1.0) -> np.ndarray:
    """Louvain communities (``nx.community.louvain_communities``) of the undirected view.

    Args:
        graph: The social graph (a follow graph is read as undirected).
        seed: Random seed for Louvain.
        resolution: The resolution ``γ``.

    Returns:
        ``[n_users]`` int32 labels, numbered by each community's smallest member.
    """
    g = graph.to_networkx(attributes=False)
    if g.is_directed():
        g = g.to_undirected()
    parts = nx.community.louvain_communities(g, seed=seed, resolution=resolution)
    labels = np.empty(graph.n_users, np.int32)
    for i, part in enumerate(sorted(parts, key=min)):
        labels[np.fromiter(part, np.int64, len(part))] = i
    return labels


def _unit(profiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalised rows (zero rows stay zero) and which rows are non-zero."""
    p = np.asarray(profiles, dtype=np.float64)
    norm = np.linalg.norm(p, axis=1)
    ok = norm > 0
    return p / np.where(ok, norm, 1.0)[:, None], ok


def _cos_rows(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise cosine of unit rows ``u`` with arbitrary rows ``v`` (0 where ``v`` is zero)."""
    norm = np.linalg.norm(v, axis=1)
    return np.einsum("ij,ij->i", u, v) / np.where(norm > 0, norm, np.inf)


def _followee_sums(graph: SocialGraph, profiles: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unit profiles, non-zero rows, Σ of followees' unit profiles, # followees with a profile."""
    unit, ok = _unit(profiles)
    n = graph.n_users
    if unit.shape[0] != n:
        raise ValueError(f"expected {n} profiles, got {unit.shape[0]}")
    ptr = np.concatenate([[0], np.cumsum(graph.out_degree())])  # arcs are sorted by source
    adj = sp.csr_matrix((np.ones(graph.n_arcs), graph.dst, ptr), shape=(n, n))
    sums = np.asarray(adj @ np.column_stack([unit, ok]))
    return unit, ok, sums[:, :-1], sums[:, -1]


def _homophily(graph: SocialGraph, unit: np.ndarray, sums: np.ndarray) -> float:
    # Σ over arcs a→b of û_a·û_b = Σ_a û_a · (Σ_{b followed by a} û_b)
    return float(np.einsum("ij,ij->", unit, sums)) / graph.n_arcs if graph.n_arcs else float("nan")


def _neighbour_spread(unit: np.ndarray, ok: np.ndarray, sums: np.ndarray, n_ok: np.ndarray) -> float:
    # Zero rows of ``unit`` add nothing to the dot products; count only arcs between two profiles.
    pairs = float(n_ok[ok].sum())
    if pairs == 0:
        return float("nan")
    return float(1.0 - np.einsum("ij,ij->", unit[ok], sums[ok]) / pairs)


def homophily(graph: SocialGraph, profiles: np.ndarray) -> float:
    """Mean cosine similarity of profiles over arcs (0 for a zero profile); ``nan`` without arcs."""
    unit, _, sums, _ = _followee_sums(graph, profiles)
    return _homophily(graph, unit, sums)


def taste_spread(profiles: np.ndarray) -> float:
    """Mean cosine distance of two random users with a profile, ``1 - |mean û|²`` (``nan`` if none)."""
    unit, ok = _unit(profiles)
    if not ok.any():
        return float("nan")
    centre = unit[ok].mean(axis=0)
    return float(max(1.0 - centre @ centre, 0.0))


def neighbour_spread(graph: SocialGraph, profiles: np.ndarray) -> float:
    """Mean cosine distance over arcs whose two ends have a non-zero profile (``nan`` if none)."""
    return _neighbour_spread(*_followee_sums(graph, profiles))


def echo_chamber_index(graph: SocialGraph, profiles: np.ndarray) -> float:
    """``1 - neighbour_spread / taste_spread``; ``nan`` if ``taste_spread`` is 0 or nan."""
    return _echo(neighbour_spread(graph, profiles), taste_spread(profiles))


def _echo(neigh: float, spread: float) -> float:
    return float(1.0 - neigh / spread) if spread > 1e-12 else float("nan")


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts, zeros included (no ``n/(n-1)`` correction).

    ``G = Σ_i (2i - n - 1) x_(i) / (n Σ x)`` over ascending ``x_(1..n)``: 0 when all are
    equal, ``(n-1)/n`` when one holds everything (``[0, 0, 0, 4]`` → 0.75). All zeros
    or no counts → 0.0.

    Raises:
        ValueError: If a count is negative.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64).reshape(-1))
    if len(x) and x[0] < 0:
        raise ValueError("gini needs non-negative counts")
    total = x.sum()
    if len(x) == 0 or total == 0:
        return 0.0
    n = len(x)
    return float(np.dot(2.0 * np.arange(1, n + 1) - n - 1.0, x) / (n * total))


def graph_metrics(
    graph: SocialGraph,
    profiles: np.ndarray,
    groups: np.ndarray,
    *,
    community_labels: np.ndarray | None = None,
) -> dict[str, float]:
    """The per-step social metrics of simrec.

    Args:
        graph: The social graph.
        profiles: ``[n_users, d]`` taste profiles (zero rows allowed).
        groups: ``[n_users]`` taste group per user.
        community_labels: Optional ``[n_users]`` community per user (e.g. ``louvain_labels``).

    Returns:
        ``edges``, ``mean_trust``, ``taste_assortativity``, ``homophily``,
        ``taste_modularity``, ``community_modularity``, ``communities``,
        ``taste_spread``, ``neighbour_spread`` and ``echo_chamber`` (``nan`` where undefined).
    """
    nan = float("nan")
    spread = taste_spread(profiles)
    unit, ok, sums, n_ok = _followee_sums(graph, profiles)
    neigh = _neighbour_spread(unit, ok, sums, n_ok)
    return {
        "edges": float(graph.n_edges),
        "mean_trust": float(np.mean(graph.trust, dtype=np.float64)) if graph.n_arcs else nan,
        "taste_assortativity": attribute_assortativity(graph, groups),
        "homophily": _homophily(graph, unit, sums),
        "taste_modularity": modularity(graph, groups),
        "community_modularity": nan
        if community_labels is None
        else modularity(graph, community_labels),
        "communities": nan if community_labels is None else float(len(np.unique(community_labels))),
        "taste_spread": spread,
        "neighbour_spread": neigh,
        "echo_chamber": _echo(neigh, spread),
    }
