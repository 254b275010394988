"""RDMA detection of fake profiles (by hand and on MovieLens 100K) and denoising."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.attacks.defence import RDMAFilter, denoise, rdma_scores, robust_z
from simrec.attacks.shilling import fake_profiles
from simrec.config.robustness import ShillingConfig
from simrec.data.movielens import load_movielens
from simrec.data.types import Dataset, Interactions
from simrec.world.catalog import Catalog

NAN = np.nan


def tiny() -> Interactions:
    # item 0: 5, 3 (mean 4, NR 2); item 1: 1, 2, 3 (mean 2, NR 3); user 3 only unrated; user 4 nothing
    return Interactions.from_arrays(
        [0, 0, 1, 1, 2, 3, 3], [0, 1, 0, 1, 1, 0, 1], [5, 1, 3, 2, 3, NAN, NAN], np.arange(7)
    )


def test_rdma_by_hand() -> None:
    s = rdma_scores(tiny(), 5, 3)
    assert s.dtype == np.float64 and s.shape == (5,)
    expected = [(1 / 2 + 1 / 3) / 2, (1 / 2 + 0) / 2, 1 / 3]
    assert s[:3].tolist() == pytest.approx(expected)
    assert np.isnan(s[3]) and np.isnan(s[4])


def test_rdma_refuses_indices_beyond_the_sizes() -> None:
    with pytest.raises(ValueError, match="beyond"):
        rdma_scores(tiny(), 3, 3)
    with pytest.raises(ValueError, match="beyond"):
        rdma_scores(tiny(), 5, 1)


def test_calibrate_suspects_and_apply() -> None:
    inter = tiny()
    f = RDMAFilter.calibrate(inter, 5, 3, 0.4)
    z = robust_z(rdma_scores(inter, 5, 3))[:3]
    assert f.threshold == pytest.approx(np.quantile(z, 0.6))
    flagged = f.suspects(inter, 5, 3)
    assert flagged.tolist() == [True, False, False, False, False], "above the threshold; no rating is never suspect"
    kept, users = f.apply(inter, 5, 3)
    assert users.dtype == np.int64 and users.tolist() == [0]
    assert (kept.user != 0).all() and len(kept) == len(inter) - 2
    assert kept.timestamp.tolist() == [2, 3, 4, 5, 6], "rows keep their order"
    lax = RDMAFilter(threshold=1.0)
    same, none = lax.apply(inter, 5, 3)
    assert same is inter and len(none) == 0


def test_robust_z_removes_the_scale_of_the_scores() -> None:
    s = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    z = robust_z(s)
    assert z[2] == 0.0 and np.isnan(z[5]), "the median maps to 0; NaN stays NaN"
    assert robust_z(s * 0.01)[:5] == pytest.approx(z[:5]), "a log ten times as long (scores / 10) reads the same"
    assert z[4] > 10 > z[3]


def test_calibrate_without_ratings_flags_nobody() -> None:
    unrated = Interactions.from_arrays([0, 1], [0, 1])
    f = RDMAFilter.calibrate(unrated, 2, 2, 0.01)
    assert f.threshold == np.inf and not f.suspects(tiny(), 5, 3).any()
    with pytest.raises(ValueError, match="false_positive_rate"):
        RDMAFilter.calibrate(tiny(), 5, 3, 0.0)


def test_denoise() -> None:
    inter = Interactions.from_arrays([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [1, NAN, 3, 2, 5], np.arange(5))
    kept, n = denoise(inter, 3.0, False)
    assert n == 2 and kept.timestamp.tolist() == [1, 2, 4], "below 3 dropped, 3 kept, unrated kept"
    kept, n = denoise(inter, None, True)
    assert n == 1 and kept.timestamp.tolist() == [0, 2, 3, 4]
    kept, n = denoise(inter, 2.0, True)
    assert n == 2 and kept.timestamp.tolist() == [2, 3, 4]
    for args in ((None, False), (1.0, False), (0.5, False)):
        same, n = denoise(inter, *args)
        assert same is inter and n == 0
    rated = inter.take(np.isfinite(inter.rating))
    same, n = denoise(rated, None, True)
    assert same is rated and n == 0


# --- MovieLens 100K: the calibrated filter against 50 fake users × 30 fillers of each kind ---


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path) -> tuple[Dataset, Catalog, np.ndarray]:
    ds = load_movielens("100k", ml100k_dir)
    cat = Catalog.from_dataset(ds, ds.interactions)
    counts = cat.popularity
    seen = np.flatnonzero(counts > 0)
    pool = seen[counts[seen] <= np.median(counts[seen])]  # the "unpopular" target pool
    targets = np.sort(np.random.default_rng(0).choice(pool, 1, replace=False))
    return ds, cat, targets


def test_calibrated_threshold_flags_about_the_rate_of_training_users(ml100k) -> None:
    ds, _, _ = ml100k
    f = RDMAFilter.calibrate(ds.interactions, ds.n_users, ds.n_items, 0.01)
    flagged = f.suspects(ds.interactions, ds.n_users, ds.n_items).sum()
    assert flagged <= np.ceil(0.01 * ds.n_users)


#: Fake profiles (of 50) the filter must catch at least, per kind; seen on ml-100k over 10 targets × 3 seeds:
#: random 37–46, average 15–23, bandwagon 24–32, segment 41–45 (genuine flagged 7–12 of 943).
MIN_CAUGHT = {"random": 30, "average": 8, "bandwagon": 15, "segment": 30}


@pytest.mark.parametrize("kind", list(MIN_CAUGHT))
def test_rdma_filter_against_each_attack_on_ml100k(ml100k, kind: str) -> None:
    ds, cat, targets = ml100k
    n_users = ds.n_users + 50
    f = RDMAFilter.calibrate(ds.interactions, ds.n_users, ds.n_items, 0.01)
    cfg = ShillingConfig(kind=kind, fake_users=50, filler_items=30, selected_items=10)
    fake = fake_profiles(cfg, ds.interactions, cat, ds.scale, targets, ds.n_users, 0, np.random.default_rng(0))
    both = Interactions.concat([ds.interactions, fake])
    kept, users = f.apply(both, n_users, ds.n_items)
    caught = int((users >= ds.n_users).sum())
    genuine = int((users < ds.n_users).sum())
    print(f"rdma {kind}: {caught}/50 fakes caught, {genuine}/{ds.n_users} genuine flagged")
    assert genuine <= 0.03 * ds.n_users
    assert caught >= MIN_CAUGHT[kind]
    assert len(kept) == len(both) - int(np.isin(both.user, users).sum())


def test_average_attack_is_stealthier_than_random_on_ml100k(ml100k) -> None:
    ds, cat, targets = ml100k
    f = RDMAFilter.calibrate(ds.interactions, ds.n_users, ds.n_items, 0.01)
    caught = {}
    for kind in ("random", "average"):
        cfg = ShillingConfig(kind=kind, fake_users=50, filler_items=30)
        fake = fake_profiles(cfg, ds.interactions, cat, ds.scale, targets, ds.n_users, 0, np.random.default_rng(1))
        caught[kind] = f.suspects(Interactions.concat([ds.interactions, fake]), ds.n_users + 50, ds.n_items)[ds.n_users :].sum()
    assert caught["average"] < caught["random"]
