"""The stacked rating model: closer to held-out ratings than one biased MF, seeded, shaped like it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.core.als import explicit_als
from simrec.data.load import load_dataset
from simrec.world.build import build_world
from simrec.world.stacked import fit_stacked
from tests.helpers import ml100k_scenario, small_scenario


def _rmse(model, inter) -> float:
    rated = np.isfinite(inter.rating)
    pred = model.predict(inter.user[rated], inter.item[rated])
    return float(np.sqrt(np.mean((pred - inter.rating[rated]) ** 2)))


def test_stacked_beats_one_mf_on_ml100k_heldout(tmp_path: Path, ml100k_dir: Path) -> None:
    cfg = ml100k_scenario(tmp_path, ml100k_dir, **{"agents.taste.rating_model": "stacked"})
    world = build_world(cfg)
    t, taste = world.train, cfg.agents.taste
    single = explicit_als(t.user, t.item, t.rating, world.dataset.n_users, world.dataset.n_items,
                          factors=taste.rating_factors, reg=taste.rating_reg, iterations=15,
                          rng=np.random.default_rng(0))  # fmt: skip
    stacked, one = _rmse(world.taste.rating, world.heldout), _rmse(single, world.heldout)
    assert stacked < one - 0.01, (stacked, one)
    pred, real = world.taste.rating_oof
    assert len(pred) == len(real) == int(np.isfinite(t.rating).sum())
    # Out-of-fold predictions are honest: no better than held-out ones by a wide margin.
    assert np.sqrt(np.mean((pred - real) ** 2)) > stacked - 0.03


def test_stacked_is_seeded_and_predicts_like_an_explicit_model(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"environment.data.interactions_per_user": 30})
    dataset = load_dataset(cfg.environment.data, np.random.default_rng(0))
    inter = dataset.interactions
    taste = cfg.agents.taste.model_copy(update={"rating_model": "stacked", "stack_seeds": 2, "stack_folds": 3})
    a, oof_a, _ = fit_stacked(inter, dataset, taste, seed=11)
    b, oof_b, _ = fit_stacked(inter, dataset, taste, seed=11)
    users, items = np.arange(20), np.arange(60).reshape(20, 3)
    pa = a.predict(users, items)
    assert pa.shape == (20, 3) and pa.dtype == np.float32
    np.testing.assert_array_equal(pa, b.predict(users, items))
    np.testing.assert_array_equal(oof_a, oof_b)
    np.testing.assert_allclose(pa[:, 1], a.predict(users, items[:, 1]), rtol=1e-6)
    assert a.predict(users[:0], items[:0]).shape == (0, 3)


def test_stacked_needs_ratings(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path)
    dataset = load_dataset(cfg.environment.data, np.random.default_rng(0))
    few = dataset.interactions.take(np.arange(4))
    with pytest.raises(ValueError, match="at least"):
        fit_stacked(few, dataset, cfg.agents.taste, seed=0)
