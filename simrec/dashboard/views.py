"""What the dashboard's panels show, as plain data (no Solara, no figures): testable alone.

* :func:`lorenz` — the exposure curve of the catalog's impressions.
* :class:`GraphSample` — a fixed sample of the social graph's users with a layout, and
  the ties among them as they are now.
* :class:`UserView` — one user: public fields, state, persona, recent events, texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from simrec.dashboard.live import LiveRun
from simrec.io.events import EVENT_TYPES, VIA_TYPES
from simrec.io.texts import read_texts
from simrec.social.graph import SocialGraph

__all__ = ["GraphSample", "UserView", "default_user", "favourite_genres", "live_graph", "lorenz"]

#: Users drawn in the social-graph panel at most (a larger graph is sampled).
GRAPH_NODES = 120
#: Texts shown per user (the latest).
TEXTS_SHOWN = 6
#: Events listed per user (the latest), and the kinds listed (impressions and skips are counted).
EVENTS_SHOWN = 10
LISTED_EVENTS = ("click", "rating", "share", "exit")


def lorenz(exposure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve of ``exposure``: share of items (least shown first) vs share of impressions.

    Both arrays start at 0 and end at 1 (an all-zero ``exposure`` gives the diagonal).
    """
    counts = np.sort(np.asarray(exposure, dtype=np.float64))
    n = len(counts)
    x = np.linspace(0.0, 1.0, n + 1)
    total = counts.sum()
    if n == 0 or total <= 0:
        return x, x.copy()
    return x, np.concatenate([[0.0], np.cumsum(counts) / total])


def live_graph(live: LiveRun) -> SocialGraph:
    """The social graph as it is now (the living one, or the world's if ties never change)."""
    social = live.model.social
    return social.graph if social is not None else live.model.world.graph


def favourite_genres(live: LiveRun, users: np.ndarray) -> np.ndarray:
    """Each user's most watched genre in the training data (an index into ``genre_names``; -1: none)."""
    world = live.model.world
    train, genres = world.train, world.catalog.genres
    counts = np.zeros((len(users), genres.shape[1]), np.int64)
    if genres.shape[1] == 0:
        return np.full(len(users), -1, np.int64)
    row = np.full(world.population.n_users, -1, np.int64)
    row[users] = np.arange(len(users))
    keep = row[train.user] >= 0
    np.add.at(counts, row[train.user[keep]], genres[train.item[keep]].astype(np.int64))
    fav = counts.argmax(axis=1)
    return np.where(counts.max(axis=1) > 0, fav, -1)


def default_user(live: LiveRun) -> int:
    """The user the panel opens on: the first LLM-driven user, else the most followed one."""
    mask = live.model.policy.llm_users()
    if mask is not None and mask.any():
        return int(np.flatnonzero(mask)[0])
    graph = live_graph(live)
    return int(np.argmax(graph.in_degree())) if graph.n_arcs else 0


@dataclass(frozen=True)
class GraphSample:
    """A fixed sample of users to draw, their positions and colours (built once per run).

    Attributes:
        nodes: ``[n]`` user indices, sorted.
        pos: Position of each node (a spring layout of the sample's ties at the start).
        colour: ``[n]`` each node's favourite genre (see :func:`favourite_genres`).
    """

    nodes: np.ndarray
    pos: dict[int, tuple[float, float]]
    colour: np.ndarray

    @classmethod
    def build(cls, live: LiveRun, focus: int, size: int = GRAPH_NODES) -> GraphSample:
        """Up to ``size`` users around ``focus``: a snowball over its ties (friends, then theirs, ...),
        filled up with random users if the snowball stops short (seeded by the run's seed)."""
        graph = live_graph(live)
        rng = np.random.default_rng([live.cfg.seed, focus, size])
        chosen, seen, frontier = [focus], {focus}, [focus]
        while frontier and len(chosen) < size:
            reached = []
            for u in frontier:
                ties = np.union1d(graph.following(u), graph.followers(u))
                for v in rng.permutation(ties).tolist():
                    if v not in seen and len(chosen) < size:
                        seen.add(v)
                        chosen.append(v)
                        reached.append(v)
            frontier = reached
        rest = np.setdiff1d(np.arange(graph.n_users), np.asarray(chosen))
        extra = rng.choice(rest, size=min(size - len(chosen), len(rest)), replace=False)
        nodes = np.sort(np.concatenate([np.asarray(chosen), extra]).astype(np.int64))
        g = _subgraph(graph, nodes)
        pos = nx.spring_layout(g, seed=int(rng.integers(2**31)), iterations=50)
        return cls(nodes, {int(k): (float(v[0]), float(v[1])) for k, v in pos.items()}, favourite_genres(live, nodes))

    def ties(self, graph: SocialGraph) -> np.ndarray:
        """``[E, 2]`` the ties among the sample's users in ``graph`` now."""
        e = graph.edges()
        inside = np.isin(e[:, 0], self.nodes) & np.isin(e[:, 1], self.nodes)
        return e[inside]


def _subgraph(graph: SocialGraph, nodes: np.ndarray) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(nodes.tolist())
    e = graph.edges()
    inside = np.isin(e[:, 0], nodes) & np.isin(e[:, 1], nodes)
    g.add_edges_from(e[inside].tolist())
    return g


@dataclass(frozen=True)
class UserView:
    """One user, as the user panel shows them.

    Attributes:
        user: User index.
        public: Public fields (``users.parquet``: index, raw id, demographics).
        state: Mood, fatigue, sessions and pages so far; followers and following now.
        llm_driven: Whether the user decides through the LLM.
        persona: The LLM-driven user's persona ("" otherwise).
        events: The user's events in the last steps (step, page, position, title, event, value, via,
            policy), oldest first; see :meth:`shown_events` for what the panel lists.
        texts: The latest texts the user wrote (step, kind, stars, title, text).
    """

    user: int
    public: dict[str, object]
    state: dict[str, object]
    llm_driven: bool
    persona: str
    events: pd.DataFrame
    texts: pd.DataFrame

    @classmethod
    def of(cls, live: LiveRun, user: int) -> UserView:
        """Read ``user``'s view of ``live`` now."""
        model = live.model
        world = model.world
        titles = world.catalog.titles
        public = world.population.public_frame().iloc[user].to_dict()
        st = model.state
        graph = live_graph(live)
        state = {
            "satisfaction": round(float(st.satisfaction[user]), 3), "fatigue": round(float(st.fatigue[user]), 3),
            "sessions": int(st.sessions[user]), "pages": int(st.pages[user]),
            "followers": len(graph.followers(user)), "following": len(graph.following(user)),
        }  # fmt: skip
        mask = model.policy.llm_users()
        llm_driven = bool(mask is not None and mask[user])
        persona = model.mind.personas([user])[0].text if llm_driven and model.mind is not None else ""
        return cls(user, public, state, llm_driven, persona, _events(live, user, titles), _texts(live, user, titles))

    def event_counts(self) -> dict[str, int]:
        """How many events of each type the kept steps hold (impressions, clicks, skips, ...)."""
        counts = self.events["event"].value_counts()
        return {name: int(counts.get(name, 0)) for name in EVENT_TYPES}

    def shown_events(self, limit: int = EVENTS_SHOWN) -> pd.DataFrame:
        """The latest clicks, ratings, shares and exits (impressions and skips are only counted)."""
        ev = self.events
        return ev[ev["event"].isin(LISTED_EVENTS)].tail(limit).reset_index(drop=True)


def _events(live: LiveRun, user: int, titles: np.ndarray) -> pd.DataFrame:
    ev = live.tap.events_of(user)
    assert live.parts.sink is not None
    policies = np.asarray(live.parts.sink.policies, dtype=object)
    named = np.asarray(titles, dtype=object)
    return pd.DataFrame({
        "step": ev.step, "page": ev.page, "position": ev.position,
        "title": np.where(ev.item >= 0, named[np.maximum(ev.item, 0)], ""),
        "event": np.asarray(EVENT_TYPES, dtype=object)[ev.event], "value": ev.value,
        "via": np.asarray(VIA_TYPES, dtype=object)[ev.via], "policy": policies[ev.policy],
    })  # fmt: skip


def _texts(live: LiveRun, user: int, titles: np.ndarray) -> pd.DataFrame:
    texts = read_texts(live.folder.path)
    mine = texts[texts["user"] == user].tail(TEXTS_SHOWN)
    named = np.asarray(titles, dtype=object)
    item = mine["item"].to_numpy()
    stars = mine["stars"].to_numpy(np.float64)
    return pd.DataFrame({
        "step": mine["step"].to_numpy(), "kind": mine["kind"].to_numpy(),
        "stars": np.where(stars > 0, stars, np.nan),  # 0: no stars go with this text (shown as –)
        "title": np.where(item >= 0, named[np.maximum(item, 0)], ""), "text": mine["text"].to_numpy(),
    })  # fmt: skip
