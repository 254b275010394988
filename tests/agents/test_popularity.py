"""Popularity words: bands of the catalog by training count, shown in the watch question."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.agents.popularity import BANDS, Popularity
from simrec.agents.prompts import load_template
from simrec.agents.questions import ScoredPrompts
from tests.agents.test_scored import _page, _policy


def test_bands_are_shares_of_the_catalog_ranked_by_count() -> None:
    counts = np.arange(1000)[::-1]  # distinct counts 999..0
    pop = Popularity(counts)
    shares = np.bincount(pop.band(counts), minlength=len(BANDS)) / len(counts)
    assert shares.tolist() == pytest.approx([s for s, _ in BANDS])
    assert pop.describe([999, 850, 500, 0]) == [
        "a big hit",
        "popular",
        "fairly known",
        "little known",
    ]


def test_an_item_nobody_watched_is_little_known_and_catching_on_moves_it_up() -> None:
    counts = np.r_[np.zeros(90), np.arange(1, 11)]  # most items never watched
    pop = Popularity(counts)
    assert pop.describe([0]) == ["little known"]
    assert pop.describe([counts.max() + 5]) == ["a big hit"]
    with pytest.raises(ValueError, match="one count per item"):
        Popularity([])


def test_the_watch_question_names_the_band_or_drops_the_clause() -> None:
    v3 = ScoredPrompts(load_template("scored", 3))  # v3: the question ends at its question mark
    assert v3.question("watch", "Heat", "Action, Crime", popularity="popular") == (
        'Would you watch "Heat" (Action, Crime; popular)?'
    )
    assert v3.question("watch", "Heat", "Action, Crime") == 'Would you watch "Heat" (Action, Crime)?'
    v2 = ScoredPrompts(load_template("scored", 2))
    assert v2.question("watch", "Heat", "Action, Crime", popularity="popular") == (
        'Would you watch "Heat" (Action, Crime; popular)? Answer yes or no.'
    )
    assert (
        v2.question("watch", "Heat", "Action, Crime")
        == 'Would you watch "Heat" (Action, Crime)? Answer yes or no.'
    )
    v1 = ScoredPrompts(load_template("scored", 1))  # v1 has no $popularity: unchanged
    assert (
        v1.question("watch", "Heat", "Action", popularity="popular")
        == 'Would you watch "Heat" (Action)? Answer yes or no.'
    )


def test_the_policy_asks_with_the_training_popularity_of_each_item(tmp_path: Path) -> None:
    world, llm, policy = _policy(tmp_path, "llm")
    batch = _page(world, np.arange(2))
    policy.decide(batch)
    counts = np.bincount(world.train.item, minlength=world.catalog.n_items)
    words = Popularity(counts).describe(counts[batch.items[0]])
    asked = [c.messages[-1]["content"] for c in llm.calls if c.choices == ("yes", "no")][:5]
    assert [q.rsplit("; ", 1)[1].split(")?")[0] for q in asked] == words
