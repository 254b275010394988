"""UserStreams: sane distributions, and each user's draws independent of the batch around them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simrec.core.streams import PURPOSES, UserStreams, streams_for

N = 100_000


@pytest.fixture(scope="module")
def streams() -> UserStreams:
    return UserStreams(20261204)


def test_uniform_moments_and_open_interval(streams: UserStreams) -> None:
    u = streams.uniform(np.arange(N), 0, 0, "choose", 10)
    assert u.shape == (N, 10) and u.dtype == np.float64
    assert 0.0 < u.min() and u.max() < 1.0
    # mean 1/2 (sd of the mean ~ 0.29/1000), variance 1/12
    assert abs(u.mean() - 0.5) < 0.002
    assert abs(u.var() - 1 / 12) < 0.001
    assert stats.kstest(u[:, 3], "uniform").pvalue > 1e-3


def test_extremes_stay_inside_the_interval() -> None:
    from simrec.core.streams import _to_unit

    z = np.array([0, 2**64 - 1, 2**63], np.uint64)
    out = np.empty(3)
    _to_unit(z, out)
    assert out[0] == 2.0**-53 and out[1] == 1.0 - 2.0**-53 and out[2] == 0.5 + 2.0**-53
    assert np.isfinite(-np.log(-np.log(out))).all()


def test_ks_against_normal_and_gumbel(streams: UserStreams) -> None:
    users = np.arange(N)
    assert stats.kstest(streams.normal(users, 4, 2, "rating_noise"), "norm").pvalue > 1e-3
    assert stats.kstest(streams.gumbel(users, 4, 2, "choose"), "gumbel_r").pvalue > 1e-3
    assert stats.kstest(streams.uniform(users, 4, 2, "leave"), "uniform").pvalue > 1e-3


def test_a_bad_generator_would_fail_the_ks_test() -> None:
    skewed = np.random.default_rng(0).random(N) ** 1.02  # a 2% distortion
    assert stats.kstest(skewed, "uniform").pvalue < 1e-3


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_no_correlation_between_neighbours(streams: UserStreams) -> None:
    u = streams.uniform(np.arange(N), 7, 1, "choose", 4)
    limit = 4.5 / np.sqrt(N)  # ~4.5 standard errors
    assert abs(_corr(u[:-1], u[1:])) < limit  # adjacent users
    assert abs(_corr(u[:, :-1], u[:, 1:])) < limit  # adjacent slots
    later = streams.uniform(np.arange(N), 8, 1, "choose", 4)
    next_page = streams.uniform(np.arange(N), 7, 2, "choose", 4)
    assert abs(_corr(u, later)) < limit  # adjacent steps
    assert abs(_corr(u, next_page)) < limit  # adjacent pages
    # products of neighbours (not just linear correlation): E[u_i u_j] = 1/4
    assert abs(float((u[:-1, 0] * u[1:, 0]).mean()) - 0.25) < 0.003


def test_seeds_purposes_steps_and_pages_give_different_numbers(streams: UserStreams) -> None:
    users = np.arange(1000)
    base = streams.uniform(users, 1, 0, "leave")
    others = [
        UserStreams(streams.seed + 1).uniform(users, 1, 0, "leave"),
        streams.uniform(users, 1, 0, "arrive"),
        streams.uniform(users, 2, 0, "leave"),
        streams.uniform(users, 1, 1, "leave"),
        streams.uniform(users, 1, -1, "leave"),
    ]
    for other in others:
        assert not np.any(other == base)
        assert abs(_corr(base, other)) < 0.15
    assert len(set(PURPOSES.values())) == len(PURPOSES)
    assert streams.uniform(users, 1, 0, PURPOSES["leave"]).tolist() == base.tolist()


def test_same_key_same_numbers() -> None:
    users = np.arange(50)
    a = UserStreams(9).gumbel(users, 3, 1, "choose", 6)
    b = UserStreams(9).gumbel(users, 3, 1, "choose", 6)
    np.testing.assert_array_equal(a, b)
    assert streams_for(3, "policy") == streams_for(3, "policy")
    assert streams_for(3, "policy") != streams_for(3, "model")
    assert streams_for(3, "policy") != streams_for(4, "policy")


def test_split_permuted_and_subset_batches_agree(streams: UserStreams) -> None:
    rng = np.random.default_rng(1)
    users = rng.choice(10**7, size=5000, replace=False)
    whole = streams.uniform(users, 5, 3, "choose", 7)
    parts = np.array_split(np.arange(len(users)), [1, 17, 2000, 4999])
    joined = np.concatenate([streams.uniform(users[p], 5, 3, "choose", 7) for p in parts])
    np.testing.assert_array_equal(joined, whole)
    perm = rng.permutation(len(users))
    np.testing.assert_array_equal(streams.uniform(users[perm], 5, 3, "choose", 7), whole[perm])
    sub = np.sort(rng.choice(len(users), 300, replace=False))
    np.testing.assert_array_equal(streams.normal(users[sub], 5, 3, "choose", 7), streams.normal(users, 5, 3, "choose", 7)[sub])
    np.testing.assert_array_equal(streams.uniform(users[:1], 5, 3, "choose", 7)[0], whole[0])


def test_batches_larger_than_a_chunk_agree_with_small_ones(streams: UserStreams) -> None:
    users = np.arange(200_000)
    whole = streams.uniform(users, 0, 0, "arrive")
    np.testing.assert_array_equal(whole[123_456:123_460], streams.uniform(users[123_456:123_460], 0, 0, "arrive"))
    grid = streams.gumbel(users[:50_000], 0, 0, "choose", 3)
    np.testing.assert_array_equal(grid[40_000:40_002], streams.gumbel(users[40_000:40_002], 0, 0, "choose", 3))


def test_slots_pick_single_columns_of_the_grid(streams: UserStreams) -> None:
    users = np.arange(400)
    grid = streams.normal(users, 2, 1, "rating_noise", 5)
    cols = np.random.default_rng(2).integers(0, 5, 400)
    np.testing.assert_array_equal(streams.normal(users, 2, 1, "rating_noise", slots=cols), grid[users, cols])
    np.testing.assert_array_equal(streams.normal(users, 2, 1, "rating_noise"), grid[:, 0])


def test_empty_and_bad_inputs(streams: UserStreams) -> None:
    assert streams.uniform(np.array([], np.int64), 0, 0, "leave").shape == (0,)
    assert streams.gumbel(np.array([], np.int64), 0, 0, "choose", 4).shape == (0, 4)
    assert streams.uniform(np.arange(3), 0, 0, "choose", 0).shape == (3, 0)
    with pytest.raises(ValueError, match="unknown purpose"):
        streams.uniform(np.arange(3), 0, 0, "nope")
    with pytest.raises(ValueError, match="non-negative"):
        streams.uniform(np.array([-1]), 0, 0, "leave")
    with pytest.raises(ValueError, match="integer"):
        streams.uniform(np.array([0.5]), 0, 0, "leave")
    with pytest.raises(ValueError, match="not both"):
        streams.uniform(np.arange(3), 0, 0, "leave", 2, slots=np.zeros(3, int))
    with pytest.raises(ValueError, match="shaped like users"):
        streams.uniform(np.arange(3), 0, 0, "leave", slots=np.zeros(2, int))
    with pytest.raises(ValueError, match="seed"):
        UserStreams(-1)
