"""The synthetic world generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.core.errors import ConfigError
from simrec.data import synthetic
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


# --- the fast sampling helpers equal the plain numpy they replace --------------------


def _reference_sample(rng, user_f, item_f, buzz, counts, chunk):
    """The sampler as first written (whole-chunk searchsorted, stable argsorts)."""
    n_users, n_items = len(user_f), len(item_f)
    exposure = np.exp(buzz - buzz.max())
    cdf = np.cumsum(exposure / exposure.sum())
    by_count = np.argsort(counts, kind="stable")
    users, items = [], []
    for start in range(0, n_users, chunk):
        members = by_count[start : start + chunk]
        m = len(members)
        max_n = int(counts[members].max())
        n_cand = min(n_items, max(4 * max_n, 32))
        cand = np.searchsorted(cdf, rng.random((m, n_cand)), side="right").clip(0, n_items - 1)
        score = np.einsum("md,mcd->mc", user_f[members], item_f[cand]) + rng.gumbel(size=(m, n_cand)) * 0.7
        order = np.argsort(cand, axis=1, kind="stable")
        sc = np.take_along_axis(cand, order, axis=1)
        dup = np.zeros_like(sc, dtype=bool)
        dup[:, 1:] = sc[:, 1:] == sc[:, :-1]
        dup_orig = np.empty_like(dup)
        np.put_along_axis(dup_orig, order, dup, axis=1)
        score[dup_orig] = -np.inf
        top = np.argsort(-score, axis=1, kind="stable")[:, :max_n]
        chosen = np.take_along_axis(cand, top, axis=1)
        valid = np.take_along_axis(score, top, axis=1) > -np.inf
        keep = (np.arange(max_n)[None, :] < counts[members, None]) & valid
        users.append(members[np.nonzero(keep)[0]])
        items.append(chosen[keep])
    return np.concatenate(users).astype(np.int32), np.concatenate(items).astype(np.int32)


@pytest.mark.parametrize("block_cells", [64, 1 << 15])
def test_sampler_equals_reference(monkeypatch: pytest.MonkeyPatch, block_cells: int) -> None:
    monkeypatch.setattr(synthetic, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(5)
    n_users, n_items = 700, 120  # few items: many duplicate candidates, users short of items
    user_f = rng.normal(size=(n_users, 6)).astype(np.float32)
    item_f = rng.normal(size=(n_items, 6)).astype(np.float32)
    buzz = rng.normal(size=n_items) * 1.5
    counts = rng.integers(1, 60, size=n_users)
    got = synthetic._sample_interactions(np.random.default_rng(1), user_f, item_f, buzz, counts, chunk=100)
    want = _reference_sample(np.random.default_rng(1), user_f, item_f, buzz, counts, chunk=100)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[0].dtype == got[1].dtype == np.int32


def test_cdf_search_equals_searchsorted() -> None:
    rng = np.random.default_rng(0)
    w = np.exp(rng.normal(size=5000) * 3.0)  # many steps far below one table bucket
    cdf = np.cumsum(w / w.sum())
    search = synthetic._CdfSearch(cdf)
    k = 1 << search.bits
    edges = np.arange(0, k, 977) / k  # bucket edges exactly
    x = np.concatenate([rng.random(200_000), cdf[:-1], np.nextafter(cdf[:-1], 0), edges, [0.0, np.nextafter(1.0, 0)]])
    x = x[: len(x) // 7 * 7].reshape(-1, 7)  # any shape
    got = search(x)
    assert got.dtype == np.int32 and got.shape == x.shape
    assert np.array_equal(got, np.searchsorted(cdf, x, side="right"))
    short = cdf * 0.999  # a CDF that ends below 1: draws past it land on len(cdf)
    y = rng.random(10_000)
    assert np.array_equal(synthetic._CdfSearch(short)(y), np.searchsorted(short, y, side="right"))


@pytest.mark.parametrize("n_items", [50, 1 << 30])
def test_dup_mask_flags_repeats(n_items: int) -> None:
    rng = np.random.default_rng(2)
    cand = rng.integers(0, 40, size=(30, 25)) * (n_items // 40)
    mask = synthetic._dup_mask(cand, n_items)
    want = np.array([[c in row[:j] for j, c in enumerate(row)] for row in cand.tolist()])
    assert np.array_equal(mask, want) and mask.any()


def test_top_rows_equals_stable_argsort_where_finite() -> None:
    rng = np.random.default_rng(3)
    neg = np.round(rng.normal(size=(400, 30)), 1)  # many exact ties
    neg[rng.random(neg.shape) < 0.2] = np.inf
    neg[:50] = rng.normal(size=(50, 30))  # and rows without ties
    got = synthetic._top_rows(neg.copy(), 10)
    want = np.argsort(neg, axis=1, kind="stable")[:, :10]
    finite = np.isfinite(np.take_along_axis(neg, want, axis=1))
    assert np.array_equal(np.where(finite, got, -1), np.where(finite, want, -1))
    assert np.array_equal(np.isfinite(np.take_along_axis(neg, got, axis=1)), finite)


@pytest.mark.parametrize("grouped", [True, False])
def test_sort_by_user_time_equals_lexsort(monkeypatch: pytest.MonkeyPatch, grouped: bool) -> None:
    monkeypatch.setattr(synthetic, "_ROW_BLOCK", 37)
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 30, size=300)
    u = np.repeat(rng.permutation(300), lengths).astype(np.int32)
    if not grouped:
        u = rng.permutation(u)
    ts = rng.integers(0, 50, size=len(u)).astype(np.int32)  # many ties within a user
    col = rng.normal(size=len(u)).astype(np.float32)
    out_u, out_ts, out_col = synthetic._sort_by_user_time(u, ts, 50, col)
    order = np.lexsort((ts, u))
    assert np.array_equal(out_u, u[order]) and out_u.dtype == np.int32
    assert np.array_equal(out_ts, ts[order]) and np.array_equal(out_col, col[order])
