"""UserState: arrivals from a generator or from per-user streams."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.agents.state import UserState
from simrec.core.streams import UserStreams


def _state(n: int) -> tuple[UserState, np.ndarray]:
    rng = np.random.default_rng(0)
    state = UserState.initial(n)
    state.satisfaction[:] = rng.uniform(-1, 1, n)
    return state, rng.uniform(0.05, 0.9, n)


def test_generator_arrivals_are_one_draw_per_row() -> None:
    state, activity = _state(500)
    got = state.start_sessions(activity, np.random.default_rng(3))
    p = activity * np.clip(1.0 + 0.6 * state.satisfaction, 0.2, 1.0)
    np.testing.assert_array_equal(got, np.nonzero(np.random.default_rng(3).random(500) < p)[0])


def test_stream_arrivals_do_not_depend_on_the_other_rows() -> None:
    state, activity = _state(2000)
    streams = UserStreams(9)
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    whole = np.zeros(2000, bool)
    whole[state.start_sessions(activity, rng, streams=streams, step=4)] = True
    assert rng.bit_generator.state == before
    p = activity * np.clip(1.0 + 0.6 * state.satisfaction, 0.2, 1.0)
    assert abs(whole.mean() - p.mean()) < 0.03
    for rows in (np.arange(1000, 2000), np.random.default_rng(2).permutation(2000)[:700]):
        shard = UserState.initial(len(rows))
        shard.satisfaction[:] = state.satisfaction[rows]
        hit = shard.start_sessions(activity[rows], streams=streams, step=4, users=rows)
        np.testing.assert_array_equal(np.isin(np.arange(len(rows)), hit), whole[rows])
    later = np.zeros(2000, bool)
    later[state.start_sessions(activity, streams=streams, step=5)] = True
    assert not np.array_equal(later, whole)


def test_start_sessions_says_what_it_needs() -> None:
    state, activity = _state(10)
    with pytest.raises(ValueError, match="rng or streams"):
        state.start_sessions(activity)
    with pytest.raises(ValueError, match="step"):
        state.start_sessions(activity, streams=UserStreams(1))
    with pytest.raises(ValueError, match="one id per row"):
        state.start_sessions(activity, streams=UserStreams(1), step=0, users=np.arange(3))
