"""The social graph (networkx). Simple seeded builders; dynamics live in simrec.social."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from simrec.config.schema import SocialConfig
from simrec.core.errors import ConfigError


@dataclass
class SocialGraph:
    """Who knows whom. Nodes are user indices ``0..n-1``."""

    graph: nx.Graph

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return self.graph.number_of_edges()

    def edges_frame(self) -> pd.DataFrame:
        """Edges as a frame with ``source`` and ``target`` user indices."""
        edges = np.array(list(self.graph.edges()), dtype=np.int32).reshape(-1, 2)
        return pd.DataFrame({"source": edges[:, 0], "target": edges[:, 1]})


def build_graph(cfg: SocialConfig, n_users: int, rng: np.random.Generator) -> SocialGraph:
    """Build the configured graph over ``n_users`` users, seeded from ``rng``."""
    seed = int(rng.integers(2**31 - 1))
    if cfg.builder == "none":
        g = nx.empty_graph(n_users)
    elif cfg.builder == "watts_strogatz":
        if cfg.k >= n_users:
            raise ConfigError(f"social.k={cfg.k} must be smaller than the number of users ({n_users}).")
        g = nx.watts_strogatz_graph(n_users, cfg.k, cfg.p, seed=seed)
    elif cfg.builder == "barabasi_albert":
        if cfg.m >= n_users:
            raise ConfigError(f"social.m={cfg.m} must be smaller than the number of users ({n_users}).")
        g = nx.barabasi_albert_graph(n_users, cfg.m, seed=seed)
    else:  # pragma: no cover - the schema's Literal rejects anything else
        raise ConfigError(f"Unknown social builder '{cfg.builder}'.")
    return SocialGraph(g)
