"""World building: synthetic and MovieLens worlds, population arrays, taste, graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.config import load_scenario
from simrec.world.build import build_world
from simrec.world.taste import TasteModel
from tests.helpers import ROOT, ml100k_scenario, small_scenario


@pytest.fixture(scope="module")
def ml_world(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path):
    cfg = ml100k_scenario(tmp_path_factory.mktemp("w"), ml100k_dir)
    return build_world(cfg)


def test_ml100k_world(ml_world) -> None:
    w = ml_world
    pop, cat = w.population, w.catalog
    assert pop.n_users == 943 and cat.n_items == 1682
    assert len(w.train) + len(w.heldout) == 100_000
    assert abs(len(w.heldout) / 100_000 - 0.2) < 0.01
    # popularity counts training interactions only
    assert cat.popularity.sum() == len(w.train)
    assert {"age", "gender", "occupation"} <= set(pop.demographics.columns)
    for trait in ("activity", "conformity", "diversity", "patience"):
        v = getattr(pop, trait)
        assert v.shape == (943,) and np.all((v > 0) & (v <= 1)), trait
    assert np.all(np.diff(pop.rating_cdf, axis=1) >= 0) and np.allclose(pop.rating_cdf[:, -1], 1)
    assert pop.genre_affinity.shape == (943, len(cat.genre_names))


def test_traits_follow_data(ml_world) -> None:
    pop, train = ml_world.population, ml_world.train
    # more training interactions → more active
    assert np.corrcoef(np.log1p(pop.n_train), pop.activity)[0, 1] > 0.5
    # conformity tracks how mainstream a user's history is
    pct = np.argsort(np.argsort(ml_world.catalog.popularity)) / len(ml_world.catalog.popularity)
    mainstream = np.bincount(train.user, weights=pct[train.item]) / np.maximum(pop.n_train, 1)
    assert np.corrcoef(mainstream, pop.conformity)[0, 1] > 0.5


def test_fitted_taste_ranks_heldout_items_high(ml_world) -> None:
    w = ml_world
    users = np.unique(w.heldout.user)[:300]
    all_items = np.broadcast_to(np.arange(w.catalog.n_items), (len(users), w.catalog.n_items))
    aff = w.taste.affinity(users, all_items)
    # mean percentile of held-out items in each user's affinity ranking
    pct = np.argsort(np.argsort(aff, axis=1), axis=1) / w.catalog.n_items
    row = {u: i for i, u in enumerate(users)}
    mask = np.isin(w.heldout.user, users)
    hp = pct[[row[u] for u in w.heldout.user[mask]], w.heldout.item[mask]]
    assert hp.mean() > 0.8, hp.mean()


def test_catalog_moments_are_exact() -> None:
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(7, 4)), rng.normal(size=(50, 4))
    mean, std = TasteModel.catalog_moments(u, v)
    full = u @ v.T
    np.testing.assert_allclose(mean, full.mean(axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std, full.std(axis=1), rtol=1e-4)


def test_synthetic_world_is_seeded(tmp_path: Path) -> None:
    a, b = build_world(small_scenario(tmp_path)), build_world(small_scenario(tmp_path))
    c = build_world(small_scenario(tmp_path, seed=9))
    assert np.array_equal(a.train.item, b.train.item) and np.array_equal(a.population.activity, b.population.activity)
    assert not np.array_equal(a.train.item, c.train.item)
    assert a.catalog.titles[0] == b.catalog.titles[0]


def test_quickstart_world_uses_archetypes_and_graph() -> None:
    cfg = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    w = build_world(cfg)
    assert w.population.n_users == 1000 and w.catalog.n_items == 2000
    arch = w.dataset.latent["archetype"]
    assert set(arch) == {"blockbuster fan", "comfort viewer", "thrill seeker", "cinephile", "explorer"}
    # archetype genre likes show up in the derived genre affinity
    g = w.catalog.genre_names.index("Action")
    fans = arch == "blockbuster fan"
    assert w.population.genre_affinity[fans, g].mean() > w.population.genre_affinity[~fans, g].mean()
    # watts_strogatz k=6: 3,000 edges
    assert w.graph.n_edges == 1000 * 6 // 2
    assert "archetype" not in w.population.public_frame().columns


@pytest.mark.parametrize("directed", [False, True])
def test_no_social_builder_gives_the_builders_empty_graph(tmp_path: Path, directed: bool) -> None:
    from simrec.core.rng import child_rng
    from simrec.social.builders import build_graph

    cfg = small_scenario(tmp_path, **{"environment.social.builder": "none", "environment.social.directed": directed})
    w = build_world(cfg)
    ref = build_graph(cfg.environment.social, w.population.n_users, child_rng(cfg.seed, "world", "social"))
    assert w.graph.n_edges == 0 and w.graph.directed is directed
    for name in ("n_users", "directed", "src", "dst", "trust", "strikes"):
        a, b = getattr(w.graph, name), getattr(ref, name)
        assert np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype, name


def test_train_scores_in_blocks_equal_one_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simrec.world import build

    w = build_world(small_scenario(tmp_path))
    monkeypatch.setattr(build, "_SCORE_BLOCK", 13)
    blocked = build._train_scores(w.taste, w.train)
    assert blocked.dtype == np.float32
    assert np.array_equal(blocked, w.taste.rating.predict(w.train.user, w.train.item))
