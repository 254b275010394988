"""The synthetic world generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.core.errors import ConfigError
from simrec.data.synthetic import RATING_PROBS, generate_synthetic, load_archetypes
from tests.helpers import ROOT


def make(seed: int = 0, **kw):
    args = {"n_users": 500, "n_items": 800, "n_genres": 10, "dim": 8, "interactions_per_user": 15.0}
    args.update(kw)
    return generate_synthetic(rng=np.random.default_rng(seed), **args)


def test_shapes_and_invariants() -> None:
    ds = make()
    inter = ds.interactions
    assert ds.n_users == 500 and ds.n_items == 800 and ds.genres.shape == (800, 10)
    assert ds.genres.any(axis=1).all(), "every item has a genre"
    pairs = inter.user.astype(np.int64) * 800 + inter.item
    assert len(np.unique(pairs)) == len(pairs), "no repeated (user, item)"
    per_user = np.bincount(inter.user, minlength=500)
    assert per_user.min() >= 1 and 10 < per_user.mean() < 22
    assert set(np.unique(inter.rating)) <= {1, 2, 3, 4, 5}
    dist = np.bincount(inter.rating.astype(int), minlength=6)[1:] / len(inter)
    assert np.abs(dist - RATING_PROBS).max() < 0.02
    assert ds.items["title"].is_unique
    assert all(isinstance(t, str) and t for t in ds.items["text"])


def test_popularity_is_skewed_and_taste_matters() -> None:
    ds = make()
    pop = np.bincount(ds.interactions.item, minlength=800)
    top = np.sort(pop)[::-1]
    assert top[:80].sum() > 0.25 * pop.sum(), "top 10% of items draw a large share"
    lat = ds.latent
    chosen = np.einsum("nd,nd->n", lat["user_factors"][ds.interactions.user], lat["item_factors"][ds.interactions.item])
    rnd = np.einsum("nd,nd->n", lat["user_factors"][ds.interactions.user],
                    lat["item_factors"][np.random.default_rng(1).integers(800, size=len(chosen))])  # fmt: skip
    assert chosen.mean() > rnd.mean() + 0.1


def test_same_seed_same_world() -> None:
    a, b, c = make(3), make(3), make(4)
    assert np.array_equal(a.interactions.item, b.interactions.item)
    assert a.items["title"].tolist() == b.items["title"].tolist()
    assert not np.array_equal(a.interactions.item[:100], c.interactions.item[:100])


def test_archetypes(tmp_path: Path) -> None:
    arch = load_archetypes(ROOT / "agents" / "archetypes" / "default.yaml")
    ds = make(archetypes=arch, n_genres=16)
    assert set(ds.latent["archetype"]) == {a["name"] for a in arch}
    assert ds.latent["trait_priors"].shape == (500, 4, 2)
    bad = tmp_path / "a.yaml"
    bad.write_text("archetypes: [{name: x, share: 0}]\n")
    with pytest.raises(ConfigError, match="positive share"):
        load_archetypes(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_archetypes(tmp_path / "missing.yaml")
