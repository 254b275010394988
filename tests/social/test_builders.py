"""Graph builders: determinism, sizes, SBM homophily, edge lists, directions, plug-ins, taste groups."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from simrec.config.schema import SocialConfig
from simrec.core.errors import ConfigError, DataError
from simrec.social.builders import GRAPH_BUILDERS, BuildContext, build_graph, sbm_probabilities
from simrec.social.graph import SocialGraph
from simrec.social.groups import taste_groups

N = 200


def my_builder(
    cfg: SocialConfig, n_users: int, rng: np.random.Generator, context: BuildContext
) -> nx.Graph:
    """A plug-in: a ring with chords ``params['step']`` apart."""
    step = int(cfg.params.get("step", 1))
    return nx.Graph([(u, (u + step) % n_users) for u in range(n_users)])


def _planted(n_per: int = 500, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.eye(16)[:k] * 5.0
    truth = np.repeat(np.arange(k), n_per)
    return centers[truth] + rng.normal(0, 0.3, size=(len(truth), 16)), truth


def _edge_file(tmp_path: Path, rows: dict[str, list[Any]], name: str = "ties.csv") -> Path:
    path = tmp_path / name
    frame = pd.DataFrame(rows)
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if name.endswith((".tsv", ".tab")) else ",", index=False)
    return path


def _config(builder: str, tmp_path: Path, **kw: Any) -> SocialConfig:
    if builder == "edge_list":
        rng = np.random.default_rng(5)
        kw.setdefault(
            "path",
            _edge_file(
                tmp_path, {"source": rng.integers(0, N, 300), "target": rng.integers(0, N, 300)}
            ),
        )
        kw.setdefault("ids", "index")
    return SocialConfig(builder=builder, **kw)


def _context(n: int = N) -> BuildContext:
    return BuildContext(np.arange(n), np.random.default_rng(9).normal(size=(n, 8)))


def _build(
    cfg: SocialConfig, seed: int, n: int = N, context: BuildContext | None = None
) -> SocialGraph:
    return build_graph(cfg, n, np.random.default_rng(seed), context or _context(n))


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("builder", GRAPH_BUILDERS.names())
def test_every_builder_is_seeded(builder: str, directed: bool, tmp_path: Path) -> None:
    cfg = _config(builder, tmp_path, directed=directed)
    a, b, c = _build(cfg, 1), _build(cfg, 1), _build(cfg, 2)
    assert isinstance(a, SocialGraph) and a.directed is directed and a.n_users == N
    assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
    assert np.allclose(a.trust, cfg.dynamics.trust_init)
    if builder not in ("none", "edge_list"):  # the only builders without randomness
        assert a.n_arcs > 0
        assert not (np.array_equal(a.src, c.src) and np.array_equal(a.dst, c.dst))


def test_registry_names_match_schema() -> None:
    from simrec.config.schema import SOCIAL_BUILDERS

    assert set(GRAPH_BUILDERS.names()) == set(SOCIAL_BUILDERS)


def test_none_has_no_ties() -> None:
    assert _build(SocialConfig(builder="none"), 0).n_arcs == 0


def test_barabasi_albert_sizes() -> None:
    g = _build(SocialConfig(builder="barabasi_albert", m=3), 0)
    assert g.n_edges == (N - 3) * 3
    assert g.out_degree().min() == 3


def test_watts_strogatz_sizes() -> None:
    g = _build(SocialConfig(builder="watts_strogatz", k=6, p=0.2), 0)
    assert g.n_edges == N * 6 // 2
    assert g.out_degree().mean() == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"builder": "barabasi_albert", "m": 5}, "m=5"),
        ({"builder": "watts_strogatz", "k": 6}, "k=6"),
    ],
)
def test_too_few_users_is_a_config_error(over: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"social\.{key}.*\(5, from environment.data\)"):
        _build(SocialConfig(**over), 0, n=5)


def test_sbm_degree_and_homophily_on_planted_taste() -> None:
    taste, truth = _planted()
    cfg = SocialConfig(builder="sbm", blocks=4, mean_degree=10.0, homophily=0.8)
    g = build_graph(
        cfg, len(truth), np.random.default_rng(3), BuildContext(np.arange(len(truth)), taste)
    )
    assert not g.directed
    assert g.out_degree().mean() == pytest.approx(10.0, rel=0.1)
    assert (truth[g.src] == truth[g.dst]).mean() == pytest.approx(0.8, abs=0.05)


def test_sbm_needs_taste() -> None:
    with pytest.raises(ConfigError, match="taste"):
        build_graph(
            SocialConfig(builder="sbm"),
            N,
            np.random.default_rng(0),
            BuildContext(np.arange(N), None),
        )


def test_sbm_probabilities_hit_the_targets() -> None:
    sizes = np.array([50, 150, 300])
    p_in, p_out = sbm_probabilities(sizes, 8.0, 0.7)
    n = sizes.sum()
    inside = (sizes * (sizes - 1) * p_in).sum() / n
    outside = (sizes * (n - sizes) * p_out).sum() / n
    assert inside + outside == pytest.approx(8.0) and inside / (inside + outside) == pytest.approx(
        0.7
    )
    assert sbm_probabilities(np.array([10]), 4.0, 0.5) == (pytest.approx(4 / 9), 0.0)
    assert sbm_probabilities(np.array([3, 3]), 100.0, 0.5) == (1.0, 1.0)  # clipped


def test_edge_list_raw_ids_map_and_drop_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = np.array([10, 20, 30, 40])
    path = _edge_file(tmp_path, {"a": [10, 20, 99, 30, 40], "b": [20, 30, 10, 77, 10]})
    cfg = SocialConfig(
        builder="edge_list", path=path, source_col="a", target_col="b", directed=True
    )
    with caplog.at_level(logging.WARNING, logger="simrec.social.builders"):
        g = build_graph(cfg, 4, np.random.default_rng(0), BuildContext(ids, None))
    assert _arcs(g) == {(0, 1), (1, 2), (3, 0)}  # source follows target, as given
    assert "dropped 2 of 5 rows" in caplog.text


def test_edge_list_compares_as_strings_when_types_differ(tmp_path: Path) -> None:
    path = _edge_file(tmp_path, {"source": [1, 2, 3], "target": [2, 3, None]}, name="ties.tsv")
    ids = np.array(["1", "2", "3"], dtype=object)
    g = build_graph(
        SocialConfig(builder="edge_list", path=path),
        3,
        np.random.default_rng(0),
        BuildContext(ids, None),
    )
    # ints with a gap are read as floats: 2.0 and 3.0 still match "2" and "3"; the empty cell is dropped
    assert not g.directed and set(map(tuple, g.edges().tolist())) == {(0, 1), (1, 2)}
    assert g.n_arcs == 4


def test_edge_list_index_ids_and_parquet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _edge_file(
        tmp_path, {"source": [0, 1, 5, -1], "target": [1, 2, 0, 0]}, name="ties.parquet"
    )
    cfg = SocialConfig(builder="edge_list", path=path, ids="index")
    with caplog.at_level(logging.WARNING, logger="simrec.social.builders"):
        g = build_graph(cfg, 3, np.random.default_rng(0), BuildContext(np.arange(3), None))
    assert set(map(tuple, g.edges().tolist())) == {(0, 1), (1, 2)}
    assert "dropped 2 of 4 rows" in caplog.text


def test_edge_list_errors(tmp_path: Path) -> None:
    ctx = BuildContext(np.arange(3), None)
    with pytest.raises(DataError, match="does not exist"):
        build_graph(
            SocialConfig(builder="edge_list", path=tmp_path / "nope.csv"),
            3,
            np.random.default_rng(0),
            ctx,
        )
    path = _edge_file(tmp_path, {"from": [0], "to": [1]})
    with pytest.raises(DataError, match=r"ties\.csv.*\['source', 'target'\].*\['from', 'to'\]"):
        build_graph(SocialConfig(builder="edge_list", path=path), 3, np.random.default_rng(0), ctx)
    path = _edge_file(tmp_path, {"source": [7, 8], "target": [9, 1]}, name="unknown.csv")
    with pytest.raises(DataError, match="none of its 2 rows"):
        build_graph(SocialConfig(builder="edge_list", path=path), 3, np.random.default_rng(0), ctx)


def _arcs(g: SocialGraph) -> set[tuple[int, int]]:
    return set(zip(g.src.tolist(), g.dst.tolist(), strict=True))


@pytest.mark.parametrize("builder", ["barabasi_albert", "watts_strogatz", "sbm"])
def test_directed_reciprocity(builder: str) -> None:
    ties = _build(SocialConfig(builder=builder), 4)
    mutual = _build(SocialConfig(builder=builder, directed=True, reciprocity=1.0), 4)
    assert mutual.directed and _arcs(mutual) == _arcs(ties)
    assert mutual.has_arc(mutual.dst, mutual.src).all()
    single = _build(SocialConfig(builder=builder, directed=True, reciprocity=0.0), 4)
    assert not single.has_arc(single.dst, single.src).any()
    assert single.n_arcs == ties.n_edges
    assert {tuple(sorted(a)) for a in _arcs(single)} == set(map(tuple, ties.edges().tolist()))
    half = _build(SocialConfig(builder=builder, directed=True, reciprocity=0.5), 4)
    share = half.has_arc(half.dst, half.src).sum() / 2 / ties.n_edges
    assert 0.35 < share < 0.65


def test_undirected_edge_list_becomes_friendships(tmp_path: Path) -> None:
    path = _edge_file(tmp_path, {"source": [0, 1], "target": [1, 0]})
    g = build_graph(
        SocialConfig(builder="edge_list", path=path, ids="index"), 2, np.random.default_rng(0)
    )
    assert g.n_edges == 1 and g.n_arcs == 2


def test_plugin_builder_with_params() -> None:
    cfg = SocialConfig(
        builder="tests.social.test_builders:my_builder", params={"step": 2}, directed=False
    )
    g = build_graph(cfg, 10, np.random.default_rng(0))
    assert g.n_edges == 10 and g.has_arc(np.array([0]), np.array([2])).all()


def test_plugin_returning_garbage_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unusable edges"):
        build_graph(
            SocialConfig(builder="tests.social.test_builders:_bad_builder"),
            3,
            np.random.default_rng(0),
        )


def _bad_builder(
    cfg: SocialConfig, n_users: int, rng: np.random.Generator, context: BuildContext
) -> np.ndarray:
    return np.array([[0, n_users]])


# --- taste groups ------------------------------------------------------------------------


def test_taste_groups_recover_planted_clusters_deterministically() -> None:
    taste, truth = _planted(n_per=300, k=4, seed=1)
    a = taste_groups(taste, 4, np.random.default_rng(0))
    b = taste_groups(taste, 4, np.random.default_rng(0))
    assert a.dtype == np.int32 and np.array_equal(a, b)
    assert len(set(zip(a.tolist(), truth.tolist(), strict=True))) == 4  # a perfect matching
    first = [int(np.flatnonzero(a == g)[0]) for g in range(a.max() + 1)]
    assert first == sorted(first) and a[0] == 0  # ids in order of first appearance


def test_taste_groups_scale_free_of_norm() -> None:
    taste, truth = _planted(n_per=100, k=3, seed=2)
    scaled = taste * np.random.default_rng(3).uniform(0.1, 10.0, size=(len(taste), 1))
    labels = taste_groups(scaled, 3, np.random.default_rng(0))
    assert len(set(zip(labels.tolist(), truth.tolist(), strict=True))) == 3


def test_taste_groups_small_and_degenerate_inputs() -> None:
    rng = np.random.default_rng(0)
    three = rng.normal(size=(3, 4))
    assert sorted(taste_groups(three, 10, rng).tolist()) == [0, 1, 2]  # k > n
    same = np.tile([1.0, 2.0], (6, 1))
    assert taste_groups(same, 4, rng).tolist() == [0] * 6  # one distinct row
    zeros = np.vstack([np.zeros((3, 2)), [[1.0, 0.0], [0.0, 2.0]]])
    labels = taste_groups(zeros, 5, rng)
    assert labels.max() == 2 and len(set(labels[:3].tolist())) == 1
    assert taste_groups(np.empty((0, 4)), 3, rng).shape == (0,)
    with pytest.raises(ValueError):
        taste_groups(three, 0, rng)
