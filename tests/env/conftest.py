"""Fixtures the Gymnasium environment's tests share."""

from __future__ import annotations

import pytest

from simrec.env.gym import resolve_scenario
from simrec.world.build import World, build_world


@pytest.fixture(scope="module")
def world() -> World:
    """The environment's default world (200 synthetic users × 300 items), once per module."""
    return build_world(resolve_scenario(None))
