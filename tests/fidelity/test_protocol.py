"""The discrimination protocol: list construction and scoring on worlds with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.core.errors import ConfigError
from simrec.fidelity.protocol import RATIOS, build_lists, run_protocol, score_choices
from simrec.world.build import build_world
from tests.fidelity.worlds import N_GENRES, N_USERS, PER_GENRE, FakePicker, one_genre_scenario


@pytest.fixture(scope="module")
def genre_world(tmp_path_factory):
    return build_world(one_genre_scenario(tmp_path_factory.mktemp("one_genre")))


def _genre_of(items):
    return items // PER_GENRE


@pytest.mark.parametrize("negatives", ["uniform", "popularity"])
@pytest.mark.parametrize("ratio", list(RATIOS))
def test_known_answers_on_single_genre_users(genre_world, ratio, negatives):
    n_pos, n_neg = RATIOS[ratio]
    size = n_pos + n_neg  # 20, except 6 + 12 = 18 at 1:2 (the numbers)
    lists = build_lists(genre_world, ratio, np.random.default_rng(0), negatives=negatives)
    assert len(lists) == N_USERS and lists.n_skipped == 0
    # Every positive is of the user's genre, every negative of another one.
    np.testing.assert_array_equal(_genre_of(lists.items) == (lists.users % N_GENRES)[:, None], lists.labels)

    genre_picker = FakePicker(lambda u, it: _genre_of(it) == (u % N_GENRES)[:, None])
    perfect = score_choices(run_protocol(genre_picker, genre_world, lists).clicks, lists.labels).means()
    assert perfect["accuracy"] == perfect["precision"] == perfect["recall"] == perfect["f1"] == 1.0

    everything = score_choices(run_protocol(FakePicker(lambda u, it: np.ones(it.shape, bool)), genre_world, lists).clicks,
                               lists.labels).means()  # fmt: skip
    assert everything["accuracy"] == pytest.approx(n_pos / size) and everything["recall"] == 1.0
    assert everything["precision"] == pytest.approx(n_pos / size)

    nothing = score_choices(run_protocol(FakePicker(lambda u, it: np.zeros(it.shape, bool)), genre_world, lists).clicks,
                            lists.labels)  # fmt: skip
    assert nothing.means()["accuracy"] == pytest.approx(n_neg / size)
    assert not np.isnan(nothing.precision).any() and nothing.means()["precision"] == 0.0 and nothing.means()["f1"] == 0.0


def test_pages_are_neutral_and_untold(genre_world):
    lists = build_lists(genre_world, "1:3", np.random.default_rng(1))
    picker = FakePicker(lambda u, it: np.zeros(it.shape, bool))
    run_protocol(picker, genre_world, lists)
    (batch,) = picker.seen_batches
    assert batch.items.shape == (N_USERS, 20) and batch.page == 0
    assert not batch.satisfaction.any() and not batch.fatigue.any()


def test_choice_model_prefers_the_liked_genre(genre_world):
    from simrec.agents.policies.base import PageBatch
    from simrec.agents.policies.choice import ChoicePolicy
    from simrec.config.schema import ChoiceParams

    params = ChoiceParams(position_decay=0.0)
    policy = ChoicePolicy(params, genre_world.catalog, genre_world.population, genre_world.taste, np.random.default_rng(2))
    lists = build_lists(genre_world, "1:1", np.random.default_rng(2))
    zeros = np.zeros(len(lists), np.float32)
    u = policy.utilities(PageBatch(0, 0, lists.users, lists.items, zeros, zeros))
    pos = np.where(lists.labels, u, np.nan)
    neg = np.where(~lists.labels, u, np.nan)
    assert (np.nanmean(pos, axis=1) > np.nanmean(neg, axis=1)).all()  # every user prefers its genre
    scores = score_choices(run_protocol(policy, genre_world, lists).clicks, lists.labels).means()
    assert scores["precision"] > 0.5  # better than chance, whatever the outside option


def test_score_choices_by_hand():
    labels = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    picked = np.array([[1, 0, 1, 0], [0, 0, 0, 0]], bool)
    s = score_choices(picked, labels)
    np.testing.assert_allclose(s.accuracy, [0.5, 0.75])
    np.testing.assert_allclose(s.precision, [0.5, 0.0])
    np.testing.assert_allclose(s.recall, [0.5, 0.0])
    np.testing.assert_allclose(s.f1, [0.5, 0.0])


@pytest.fixture(scope="module")
def ml_world(ml100k_dir, tmp_path_factory):
    from tests.helpers import ml100k_scenario

    return build_world(ml100k_scenario(tmp_path_factory.mktemp("ml"), ml100k_dir))


def _keys(users, items, n_items):
    return set((np.asarray(users, np.int64) * n_items + np.asarray(items)).tolist())


@pytest.mark.parametrize("negatives", ["uniform", "popularity"])
@pytest.mark.parametrize("ratio", list(RATIOS))
def test_list_invariants_on_ml100k(ml_world, ratio, negatives):
    n_pos, n_neg = RATIOS[ratio]
    n_items = ml_world.dataset.n_items
    lists = build_lists(ml_world, ratio, np.random.default_rng(3), n_users=150, negatives=negatives)
    size = n_pos + n_neg
    assert lists.items.shape == (150, size) and lists.labels.shape == (150, size)
    assert (lists.labels.sum(axis=1) == n_pos).all()
    held = _keys(ml_world.heldout.user, ml_world.heldout.item, n_items)
    train = _keys(ml_world.train.user, ml_world.train.item, n_items)
    rows, cols = np.nonzero(lists.labels)
    assert _keys(lists.users[rows], lists.items[rows, cols], n_items) <= held
    rows, cols = np.nonzero(~lists.labels)
    assert not _keys(lists.users[rows], lists.items[rows, cols], n_items) & (held | train)
    assert all(len(set(r)) == size for r in lists.items.tolist())
    # Shuffled: positives are spread over the positions, not in a block.
    assert lists.labels[:, :n_pos].mean() < 0.9
    # Skipped users are counted: those with fewer held-out items than P.
    held_counts = np.bincount(ml_world.heldout.user, minlength=ml_world.population.n_users)
    assert lists.n_skipped == int((held_counts < n_pos).sum())
    # Seeded: the same generator state gives the same lists.
    again = build_lists(ml_world, ratio, np.random.default_rng(3), n_users=150, negatives=negatives)
    np.testing.assert_array_equal(again.items, lists.items)
    np.testing.assert_array_equal(again.labels, lists.labels)


def test_popularity_matched_negatives_look_like_positives(ml_world):
    pop = np.log1p(np.bincount(ml_world.train.item, minlength=ml_world.dataset.n_items))
    means = {}
    for kind in ("uniform", "popularity"):
        lists = build_lists(ml_world, "1:3", np.random.default_rng(4), n_users=300, negatives=kind)
        p = pop[lists.items]
        means[kind] = (p[lists.labels].mean(), p[~lists.labels].mean())
        if kind == "popularity":
            q = np.linspace(0.1, 0.9, 9)
            np.testing.assert_allclose(np.quantile(p[~lists.labels], q), np.quantile(p[lists.labels], q), atol=0.35)
    assert abs(means["popularity"][0] - means["popularity"][1]) < 0.15
    assert means["uniform"][0] - means["uniform"][1] > 1.0  # uniform negatives are far less popular


def test_bad_ratio_is_an_error(genre_world):
    with pytest.raises(ConfigError, match="ratio"):
        build_lists(genre_world, "1:4", np.random.default_rng(0))
