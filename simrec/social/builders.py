"""Seeded social-graph builders and :func:`build_graph`, which turns any of them into a ``SocialGraph``.

A builder is ``fn(cfg, n_users, rng, context)`` returning a networkx graph, a
:class:`SocialGraph` or ``[E, 2]`` user-index pairs. The built-in ones are named
in :data:`GRAPH_BUILDERS`; any ``"package.module:function"`` is a plug-in with
the same signature (its settings in ``cfg.params``). Undirected results are ties;
an array is read as ties of a friendship graph, or as arcs (source follows
target) of a follow graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from numpy.random import Generator

from simrec.config.schema import SocialConfig
from simrec.core.arrays import unique_sorted
from simrec.core.errors import ConfigError, DataError
from simrec.core.registry import Registry
from simrec.data.files import _read_any
from simrec.social.graph import SocialGraph
from simrec.social.groups import taste_groups

logger = logging.getLogger(__name__)

BuilderResult = nx.Graph | SocialGraph | np.ndarray

GRAPH_BUILDERS: Registry[Callable[..., BuilderResult]] = Registry(
    "social builder",
    {
        "none": "simrec.social.builders:build_none",
        "edge_list": "simrec.social.builders:build_edge_list",
        "barabasi_albert": "simrec.social.builders:build_barabasi_albert",
        "watts_strogatz": "simrec.social.builders:build_watts_strogatz",
        "sbm": "simrec.social.builders:build_sbm",
    },
)

# block pairs with at most this many user pairs are enumerated and sampled without replacement
_DENSE_PAIRS = 1_000_000


@dataclass(frozen=True)
class BuildContext:
    """What a builder may know about the users besides their number.

    Attributes:
        user_ids: Raw user ids of the data set (index = user index).
        taste: Hidden per-user taste vectors ``[n_users, d]``, or None.
    """

    user_ids: np.ndarray
    taste: np.ndarray | None = None


def build_graph(
    cfg: SocialConfig, n_users: int, rng: np.random.Generator, context: BuildContext | None = None
) -> SocialGraph:
    """Build the configured graph over ``n_users`` users, seeded from ``rng``.

    Args:
        cfg: The ``environment.social`` block.
        n_users: Number of users.
        rng: Seeded generator (all randomness of the builder and of tie directions).
        context: Raw user ids and hidden taste; by default ids ``0..n-1`` and no taste.

    Raises:
        ConfigError: on impossible settings or a plug-in returning something unusable.
        DataError: on an unreadable or unusable edge list.
    """
    if context is None:
        context = BuildContext(np.arange(n_users), None)
    builder = GRAPH_BUILDERS.get(cfg.builder)
    result = builder(cfg, n_users, rng, context)
    trust = cfg.dynamics.trust_init
    if isinstance(result, SocialGraph):
        if result.directed == cfg.directed and result.n_users == n_users:  # reuse its sorted arcs
            return SocialGraph(n_users, cfg.directed, result.src.astype(np.int32), result.dst.astype(np.int32), np.full(len(result.src), trust, np.float32), np.zeros(len(result.src), np.int16))
        edges, arcs = result.edges(), result.directed
    elif isinstance(result, nx.Graph):
        edges = np.array(list(result.edges()), dtype=np.int64).reshape(-1, 2)
        arcs = result.is_directed()
    elif isinstance(result, np.ndarray):
        edges, arcs = result, cfg.directed
    else:
        raise ConfigError(
            f"social builder '{cfg.builder}' returned {type(result).__name__}; "
            "return a networkx graph, a SocialGraph or an [E, 2] array of user indices."
        )
    try:
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if cfg.directed and not arcs:
            edges = orient_ties(edges, cfg.reciprocity, rng)
        return SocialGraph.from_edges(n_users, edges, directed=cfg.directed, trust=trust)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"social builder '{cfg.builder}' returned unusable edges: {exc}") from exc


def orient_ties(ties: np.ndarray, reciprocity: float, rng: np.random.Generator) -> np.ndarray:
    """Turn undirected ties into arcs: mutual with chance ``reciprocity``, else one random direction.

    Self-loops and repeated ties are dropped first, so every tie is decided once.
    """
    t = np.asarray(ties, dtype=np.int64).reshape(-1, 2)
    t = t[t[:, 0] != t[:, 1]]
    n = int(t.max()) + 1 if len(t) else 1
    keys = unique_sorted(t.min(axis=1) * n + t.max(axis=1))
    t = np.stack([keys // n, keys % n], axis=1)
    mutual = rng.random(len(t)) < reciprocity
    flip = rng.random(len(t)) < 0.5
    one = t[~mutual]
    one = np.where(flip[~mutual][:, None], one[:, ::-1], one)
    both = t[mutual]
    return np.concatenate([both, both[:, ::-1], one])


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


# --- builders -----------------------------------------------------------------


def build_none(cfg: SocialConfig, n_users: int, rng: Generator, context: BuildContext) -> nx.Graph:
    """No ties at all."""
    return nx.empty_graph(n_users)


def build_barabasi_albert(
    cfg: SocialConfig, n_users: int, rng: Generator, context: BuildContext
) -> nx.Graph:
    """Preferential attachment: each new user ties to ``cfg.m`` existing ones."""
    if cfg.m >= n_users:
        raise ConfigError(f"environment.social.m={cfg.m} must be smaller than the number of users ({n_users}, from environment.data).")
    return nx.barabasi_albert_graph(n_users, cfg.m, seed=_seed(rng))


def build_watts_strogatz(
    cfg: SocialConfig, n_users: int, rng: Generator, context: BuildContext
) -> nx.Graph:
    """Small world: a ring of ``cfg.k`` neighbours per user, rewired with chance ``cfg.p``."""
    if cfg.k >= n_users:
        raise ConfigError(f"environment.social.k={cfg.k} must be smaller than the number of users ({n_users}, from environment.data).")
    return nx.watts_strogatz_graph(n_users, cfg.k, cfg.p, seed=_seed(rng))


def build_sbm(
    cfg: SocialConfig, n_users: int, rng: Generator, context: BuildContext
) -> SocialGraph:
    """Stochastic block model over taste groups (homophily).

    Blocks are ``taste_groups(context.taste, cfg.blocks)``. With block sizes
    ``s_b``, ``p_in = h D n / sum s_b (s_b - 1)`` and
    ``p_out = (1 - h) D n / sum s_b (n - s_b)`` give an expected degree ``D``
    (``cfg.mean_degree``) with a share ``h`` (``cfg.homophily``) of ties inside
    the block (before clipping to [0, 1]). Edges of each block pair are
    sampled with numpy: a binomial count, then uniform distinct pairs.
    """
    if context.taste is None or len(context.taste) != n_users:
        raise ConfigError("social.builder 'sbm' needs a taste model (one taste vector per user).")
    blocks = taste_groups(context.taste, cfg.blocks, rng)
    sizes = np.bincount(blocks).astype(np.int64)
    p_in, p_out = sbm_probabilities(sizes, cfg.mean_degree, cfg.homophily)
    members = np.split(np.argsort(blocks, kind="stable"), np.cumsum(sizes)[:-1])
    parts = []
    for a in range(len(sizes)):
        for b in range(a, len(sizes)):
            p = p_in if a == b else p_out
            if p > 0:
                parts.append(_sample_block_pair(members[a], members[b], a == b, p, n_users, rng))
    edges = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
    return SocialGraph.from_edges(n_users, edges, directed=False, trust=cfg.dynamics.trust_init)


def sbm_probabilities(
    sizes: np.ndarray, mean_degree: float, homophily: float
) -> tuple[float, float]:
    """Within- and between-block tie chances for the wanted mean degree and within-block share."""
    s = np.asarray(sizes, dtype=np.float64)
    n = s.sum()
    within = float((s * (s - 1)).sum())  # ordered within-block pairs
    between = float((s * (n - s)).sum())  # ordered between-block pairs
    if between == 0:  # one block: every tie is inside
        return (min(1.0, mean_degree * n / within) if within else 0.0), 0.0
    if within == 0:  # singleton blocks: every tie is between
        return 0.0, min(1.0, mean_degree * n / between)
    p_in = homophily * mean_degree * n / within
    p_out = (1.0 - homophily) * mean_degree * n / between
    return float(np.clip(p_in, 0.0, 1.0)), float(np.clip(p_out, 0.0, 1.0))


def _sample_block_pair(
    a: np.ndarray, b: np.ndarray, same: bool, p: float, n: int, rng: Generator
) -> np.ndarray:
    """Each unordered pair of ``a x b`` (distinct users) is a tie with chance ``p``."""
    pairs = len(a) * (len(a) - 1) // 2 if same else len(a) * len(b)
    m = int(rng.binomial(pairs, p)) if pairs else 0
    if m == 0:
        return np.empty((0, 2), np.int64)
    if pairs <= _DENSE_PAIRS:
        if same:
            i, j = np.triu_indices(len(a), 1)
            u, v = a[i], a[j]
        else:
            u, v = np.repeat(a, len(b)), np.tile(b, len(a))
        pick = rng.choice(pairs, size=m, replace=False)
        return np.stack([u[pick], v[pick]], axis=1).astype(np.int64)
    keys = np.empty(0, np.int64)
    while len(keys) < m:
        draw = int((m - len(keys)) * 1.05) + 16
        u = a[rng.integers(len(a), size=draw)].astype(np.int64)
        v = (a if same else b)[rng.integers(len(a) if same else len(b), size=draw)].astype(np.int64)
        ok = u != v
        lo, hi = np.minimum(u[ok], v[ok]), np.maximum(u[ok], v[ok])
        keys = pd.unique(np.concatenate([keys, lo * n + hi]))  # keeps first-draw order
    keys = keys[:m]
    return np.stack([keys // n, keys % n], axis=1)


def build_edge_list(
    cfg: SocialConfig, n_users: int, rng: Generator, context: BuildContext
) -> np.ndarray:
    """Ties from ``cfg.path`` (CSV, TSV, Parquet): columns ``cfg.source_col`` and ``cfg.target_col``.

    With ``cfg.ids == "raw"`` values are raw user ids of the data set, with
    ``"index"`` 0-based user indices. Rows naming unknown users are dropped
    (a warning gives the count).

    Raises:
        DataError: if the file is missing or unreadable, lacks a column, or has no usable row.
    """
    path = Path(cfg.path or "")
    if not path.is_file():
        raise DataError(
            f"The social edge list {path} does not exist. Check environment.social.path."
        )
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else None
    frame = _read_any(path, [], sep, what="social edge list")
    missing = [c for c in (cfg.source_col, cfg.target_col) if c not in frame.columns]
    if missing:
        raise DataError(
            f"The social edge list {path} has no column(s) {missing}; its columns are {list(frame.columns)}. "
            "Set environment.social.source_col / target_col to match."
        )
    if cfg.ids == "raw":
        src, dst = (
            _raw_to_index(frame[c], context.user_ids) for c in (cfg.source_col, cfg.target_col)
        )
    else:
        src, dst = (_index_values(frame[c], n_users) for c in (cfg.source_col, cfg.target_col))
    ok = (src >= 0) & (dst >= 0)
    dropped = int((~ok).sum())
    if not ok.any():
        raise DataError(
            f"The social edge list {path}: none of its {len(frame)} rows names two known users "
            f"(ids='{cfg.ids}'). Check environment.social.ids and the id columns."
        )
    if dropped:
        what = "unknown user ids" if cfg.ids == "raw" else f"user indices outside 0..{n_users - 1}"
        logger.warning(
            "social edge list %s: dropped %d of %d rows with %s.", path, dropped, len(frame), what
        )
    return np.stack([src[ok], dst[ok]], axis=1)


def _raw_to_index(values: pd.Series, user_ids: np.ndarray) -> np.ndarray:
    """User index of each raw id, -1 where unknown (strings compared when the types differ)."""
    ids = pd.Series(np.asarray(user_ids))
    if pd.api.types.is_integer_dtype(values) and pd.api.types.is_integer_dtype(ids):
        return pd.Index(ids.to_numpy(np.int64)).get_indexer(values.to_numpy(np.int64))
    return pd.Index(_id_strings(ids)).get_indexer(_id_strings(values))


def _id_strings(values: pd.Series) -> np.ndarray:
    """Ids as strings; whole floats (an int column with gaps) lose their ``.0``."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    return values.astype(str).str.strip().to_numpy(object)


def _index_values(values: pd.Series, n_users: int) -> np.ndarray:
    """0-based user indices, -1 where missing, fractional or out of range."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    ok = np.isfinite(v) & (v == np.floor(v)) & (v >= 0) & (v < n_users)
    return np.where(ok, v, -1).astype(np.int64)
