"""A tiny synthetic world for checking plug-ins (built in milliseconds)."""

from __future__ import annotations

from simrec.config import load_scenario
from simrec.config.schema import ScenarioConfig
from simrec.world.build import World, build_world

#: The tiny world's scenario: 30 users, 40 items in 4 genres, a small-world friendship graph.
TINY_SCENARIO = {
    "name": "tiny",
    "environment": {
        "data": {
            "source": "synthetic",
            "n_users": 30,
            "n_items": 40,
            "n_genres": 4,
            "interactions_per_user": 8,
        },
        "page_size": 5,
        "pages_per_session": 2,
        "social": {"builder": "watts_strogatz", "k": 4},
    },
    "run": {"steps": 2, "export": []},
}


def tiny_scenario(seed: int = 0, overrides: list[str] | tuple[str, ...] = ()) -> ScenarioConfig:
    """The tiny world's scenario, validated.

    Args:
        seed: The scenario's root seed.
        overrides: ``path.to.key=value`` strings, e.g. ``["policy.params.watch=3"]``.
    """
    return load_scenario(data={**TINY_SCENARIO, "seed": seed}, overrides=overrides)


def tiny_world(seed: int = 0) -> World:
    """The world of :func:`tiny_scenario` (catalog, population, taste, graph, training data)."""
    return build_world(tiny_scenario(seed))
