"""Explicit, named, seeded randomness.

One root seed becomes a :class:`numpy.random.SeedSequence`; each component asks
for a child by name (``"world"``, ``"policy"``, ``"recommender"`` ...). The same
root seed and name always give the same stream, independent of the order in
which components are created, so adding a component never shifts another's draws.
"""

from __future__ import annotations

import zlib

import numpy as np


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def seed_sequence(seed: int, *names: str) -> np.random.SeedSequence:
    """Return the seed sequence of the child ``names`` of root ``seed``.

    Args:
        seed: The run's root seed (a non-negative integer).
        *names: Path of child names, e.g. ``("world", "synthetic")``.
    """
    return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(_name_key(n) for n in names))


def child_rng(seed: int, *names: str) -> np.random.Generator:
    """Return a fresh generator for the named child stream of ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *names))


def mixed_seed(base: int, *parts: int) -> int:
    """A 31-bit seed of ``base`` (e.g. an LLM backend's seed, itself a child of the root seed)
    and ``parts`` (agent, step, page, ...): one LLM request's sampling seed."""
    state = np.random.SeedSequence([int(base), *(int(p) for p in parts)]).generate_state(1)
    return int(state[0]) % (2**31 - 1)
