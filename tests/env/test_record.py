"""Event rows of a page: fixed order, bounded blocks, and what each run.log setting keeps."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.agents.policies.base import Decisions
from simrec.env.record import LOG_KINDS, PageRows, page_event_blocks, page_events
from simrec.io.events import EVENT_TYPES, EventBatch


def page(seed: int = 0, n: int = 7, k: int = 4, shares: bool = True) -> PageRows:
    rng = np.random.default_rng(seed)
    clicks = rng.random((n, k)) < 0.4
    ratings = np.where(clicks & (rng.random((n, k)) < 0.7), rng.integers(1, 6, (n, k)), 0).astype(np.int8)
    exits = rng.random(n) < 0.3
    dec = Decisions(clicks, ratings, exits, np.zeros(n, np.float32), np.zeros(n, np.float32))
    return PageRows(
        step=3, page=1, sessions=np.arange(n, dtype=np.int64) + 100, users=np.arange(n) * 2, items=rng.integers(0, 50, (n, k)),
        decisions=dec, ended=exits | (rng.random(n) < 0.2), policy_codes=np.zeros(n, np.int8), timestamp=1234,
        via=(rng.random((n, k)) < 0.1).astype(np.int8), shares=(clicks & (rng.random((n, k)) < 0.5)) if shares else None,
    )  # fmt: skip


def frame(batch: EventBatch) -> dict[str, np.ndarray]:
    return {name: getattr(batch, name) for name in ("step", "session", "page", "position", "user", "item", "event", "value", "policy", "timestamp", "via")}


def test_order_and_counts() -> None:
    p = page()
    ev = page_events(**p.__dict__)
    n, k = p.items.shape
    kinds = [EVENT_TYPES[c] for c in ev.event]
    n_rated, n_shared, n_ended = int((p.decisions.ratings > 0).sum()), int(p.shares.sum()), int(p.ended.sum())
    assert kinds == ["impression"] * (n * k) + [
        "click" if c else "skip" for c in p.decisions.clicks.reshape(-1)
    ] + ["rating"] * n_rated + ["share"] * n_shared + ["exit"] * n_ended
    assert np.array_equal(ev.item[: n * k], p.items.reshape(-1))
    assert np.array_equal(ev.position[: n * k], np.tile(np.arange(k), n))
    assert np.array_equal(ev.user[: n * k], np.repeat(p.users, k))
    exits = ev.event == EVENT_TYPES.index("exit")
    assert np.array_equal(ev.value[exits], p.decisions.exits[p.ended].astype(np.float32))
    assert (ev.item[exits] == -1).all() and (ev.position[exits] == -1).all()
    rated = ev.event == EVENT_TYPES.index("rating")
    assert np.array_equal(ev.value[rated], p.decisions.ratings[p.decisions.ratings > 0].astype(np.float32))
    assert np.isnan(ev.value[~(rated | exits)]).all()
    assert np.array_equal(ev.via[: n * k], p.via.reshape(-1))


@pytest.mark.parametrize("max_rows", [1, 3, 5, 28, 1000])
def test_blocks_are_bounded_and_concatenate_to_the_page(max_rows: int) -> None:
    p = page(seed=max_rows)
    whole = page_events(**p.__dict__)
    blocks = list(page_event_blocks(p, max_rows))
    assert all(0 < len(b) <= max_rows for b in blocks)
    joined = EventBatch.concat(blocks)
    for name, col in frame(whole).items():
        np.testing.assert_array_equal(getattr(joined, name), col, err_msg=name)


@pytest.mark.parametrize("mode", ["interactions", "aggregates"])
def test_log_kinds_keep_the_full_log_rows_in_order(mode: str) -> None:
    p = page(seed=5)
    whole = page_events(**p.__dict__)
    kept = EventBatch.concat(list(page_event_blocks(p, 4, LOG_KINDS[mode])))
    keep = np.isin(whole.event, [EVENT_TYPES.index(k) for k in LOG_KINDS[mode]])
    assert len(kept) == int(keep.sum())
    for name, col in frame(whole).items():
        np.testing.assert_array_equal(getattr(kept, name), col[keep], err_msg=name)
    if mode == "interactions":
        assert {EVENT_TYPES[c] for c in kept.event} == {"click", "rating", "share", "exit"}


def test_no_shares_no_share_rows() -> None:
    ev = page_events(**page(shares=False).__dict__)
    assert EVENT_TYPES.index("share") not in set(ev.event.tolist())
