"""A recommender from outside simrec plugs in by import path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from tests.helpers import small_scenario


def test_own_recommender_by_import_path(tmp_path: Path) -> None:
    cfg = small_scenario(
        tmp_path,
        **{"recommender.name": "tests.plugins.toprated:TopRated", "recommender.params": "{min_ratings: 3}"},
    )
    result = run_scenario(cfg)
    ev = read_events(result.run_dir)
    shown = ev.loc[ev["event"] == "impression", "item"].to_numpy()
    # TopRated shows the same ranked list to everyone: only k × pages distinct items appear.
    k = cfg.environment.page_size * cfg.environment.pages_per_session
    assert len(np.unique(shown)) <= k
    assert result.totals["clicks"] > 0
