"""Helpers the Gymnasium environment's tests share (tests/env/test_gym*.py)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from simrec.world.build import World

OBS_KEYS = {"user", "history", "ratings", "page", "session"}


@contextmanager
def strict() -> Iterator[None]:
    """Every warning becomes an error (Gymnasium's checkers report through warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def train_items(world: World, user: int) -> set[int]:
    """The items of ``user``'s training history (seen before the episode)."""
    return set(world.train.item[world.train.user == user].tolist())
