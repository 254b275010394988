"""Checkers for plug-ins, as Gymnasium ships ``check_env``.

A plug-in author runs them on their own object; each raises a ``TypeError`` or an
``AssertionError`` that names what is wrong and how to fix it::

    from simrec.testing import check_policy, check_recommender

    check_policy(MyPolicy)              # a BasePolicy subclass, built over the tiny world
    check_policy(policy, world)         # or an instance, with the world it was built over
    check_recommender(MyRecommender)    # built with rng=... when it takes one
    check_recommender(rec, interactions=train, catalog=catalog)

Importing this package needs neither torch nor the LLM extras. The project's own
contract tests run both checkers on every registered implementation.
"""

from __future__ import annotations

from simrec.testing.policy import check_policy
from simrec.testing.recommender import check_recommender
from simrec.testing.worlds import tiny_scenario, tiny_world

__all__ = ["check_policy", "check_recommender", "tiny_scenario", "tiny_world"]
