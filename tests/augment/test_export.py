"""Augmented exports round-trip: atomic, Parquet and CSV files read back into the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrec.augment.generate import augment, choose_users, cold_users, export_augmented
from simrec.core.errors import ConfigError
from simrec.io.recbole import read_recbole_inter
from tests.helpers import small_scenario


def _expected(aug, origin: str, inter) -> pd.DataFrame:
    users = pd.read_parquet(aug.run_dir / "users.parquet")
    items = pd.read_parquet(aug.run_dir / "items.parquet")
    return pd.DataFrame({
        "user_id": users["user_id"].to_numpy()[inter.user].astype(str),
        "item_id": items["item_id"].to_numpy()[inter.item].astype(str),
        "rating": inter.rating.astype(np.float64),
        "timestamp": inter.timestamp.astype(np.float64),
        "origin": origin,
    })  # fmt: skip


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["user_id", "item_id", "rating", "timestamp", "origin"]].copy()
    for c in ("user_id", "item_id", "origin"):
        out[c] = out[c].astype(str)
    for c in ("rating", "timestamp"):
        out[c] = pd.to_numeric(out[c]).astype(np.float64)
    return out.reset_index(drop=True)


@pytest.fixture(scope="module", params=[(None, None), (4.0, None), (None, 2)],
                ids=["all-watches", "min-rating-4", "max-2-per-user"])  # fmt: skip
def augmented(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("aug")
    cfg = small_scenario(tmp, **{"environment.data.split.max_train": 3, "environment.data.split.cold_share": 0.5,
                                 "run.steps": 2})  # fmt: skip
    min_rating, max_per_user = request.param
    aug = augment(cfg, users="cold", cold_max=3, steps=2, min_rating=min_rating, max_per_user=max_per_user)
    return aug, export_augmented(aug, tmp / "data"), tmp / "data"


def test_synthetic_rows_belong_to_cold_users_only(augmented) -> None:
    aug, _, _ = augmented
    counts = np.bincount(aug.train.user, minlength=aug.n_users)
    assert np.array_equal(aug.users, np.flatnonzero(counts <= 3))
    assert 0 < len(aug.users) < aug.n_users  # cold_share 0.5: some users keep all their data
    assert len(aug.synthetic) > 0
    assert np.isin(aug.synthetic.user, aug.users).all()
    if aug.min_rating is not None:
        assert (aug.synthetic.rating >= aug.min_rating).all()
    if aug.max_per_user is not None:
        assert np.bincount(aug.synthetic.user).max() == aug.max_per_user


def test_exports_round_trip(augmented) -> None:
    aug, written, folder = augmented
    expected = pd.concat(
        [_expected(aug, "real", aug.train), _expected(aug, "sim", aug.synthetic)], ignore_index=True
    )
    atomic = read_recbole_inter(folder / f"{aug.run_dir.name}.inter")
    parquet = pd.read_parquet(folder / "interactions.parquet")
    csv = pd.read_csv(folder / "interactions.csv", dtype={"user_id": str, "item_id": str})
    for table in (atomic, parquet, csv):
        pd.testing.assert_frame_equal(_norm(table), expected)
    assert (folder / "run-manifest.json").is_file()
    assert set(written) >= {"recbole", "parquet", "csv", "manifest"}


def test_choose_users() -> None:
    from simrec.data.types import Interactions

    train = Interactions.from_arrays(np.array([0, 0, 0, 2]), np.array([1, 2, 3, 1]))
    assert cold_users(train, 4, 1).tolist() == [1, 2, 3]
    assert choose_users("all", train, 4, 1).tolist() == [0, 1, 2, 3]
    assert choose_users(np.array([3, 1, 3]), train, 4, 1).tolist() == [1, 3]
    with pytest.raises(ConfigError):
        choose_users("warm", train, 4, 1)
    with pytest.raises(ConfigError):
        choose_users(np.array([4]), train, 4, 1)
