"""The paired text-uplift probe: zero for agents that never read text, found where a model is swayed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import simrec.robustness.text_probe as probe
from simrec.core.errors import ConfigError
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.robustness.text_probe import COLUMNS, text_uplift
from tests.helpers import small_scenario

ATTACKS = ("injection", "superlatives", "social_proof", "marker_forgery")


def test_choice_users_never_read_text_so_the_uplift_is_exactly_zero(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"policy.name": "choice"})
    table = text_uplift(cfg, ATTACKS, ("none", "sanitise"), users=30, items=4, seeds=(0, 1))
    assert list(table.columns) == list(COLUMNS) and len(table) == 8
    assert (table["pairs"] == 2 * 30 * 4).all() and (table["seeds"] == 2).all()
    assert (table["watch_clean"] > 0).all()  # the choice model does watch them
    for col in ("watch_uplift", "watch_uplift_lo", "watch_uplift_hi", "stars_uplift", "stars_uplift_lo", "stars_uplift_hi"):
        assert (table[col] == 0.0).all(), col
    assert (table["watch_clean"] == table["watch_attacked"]).all() and (table["llm_calls"] == 0).all()
    assert not list(tmp_path.iterdir())  # nothing written outside its temporary folder


def _best(call):
    """Yes (and five stars) when the question's title says "best"; lukewarm otherwise."""
    q = call.messages[-1]["content"]
    if call.choices == ("yes", "no"):
        return [0.9, 0.1] if "best" in q else [0.25, 0.75]
    return [0.01, 0.01, 0.03, 0.05, 0.9] if "best" in q else [0.1, 0.2, 0.4, 0.2, 0.1]


@pytest.fixture()
def swayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    opened: list[ScriptedBackend] = []

    def open_llm(cfg):
        opened.append(ScriptedBackend(CallSettings(model="scripted", seed=5), ["I liked it."], scorer=_best))
        return opened[-1]

    monkeypatch.setattr(probe, "open_llm", open_llm)
    cfg = small_scenario(tmp_path, **{"policy.name": "llm", "policy.llm.protocol": "scored", "llm.backend": "fake",
                                      "agents.memory.store": "memory", "robustness.text.field": "title"})  # fmt: skip
    return cfg, opened


def test_a_model_swayed_by_best_shows_an_uplift_for_superlatives_in_titles(swayed) -> None:
    cfg, opened = swayed
    table = text_uplift(cfg, ("superlatives", "injection"), ("none", "classifier"), users=20, items=5)
    assert len(opened) == 1  # one backend for every arm
    row = table.set_index(["attack", "defence"])
    sup = row.loc[("superlatives", "none")]
    assert sup["watch_uplift"] > 0.3 and sup["watch_uplift_lo"] > 0 and sup["watch_attacked"] > sup["watch_clean"]
    assert sup["stars_uplift"] > 0 and sup["stars_uplift_lo"] > 0 and sup["stars_attacked"] > sup["stars_clean"]
    assert sup["pairs"] == 100 and sup["llm_calls"] > 2 * 100  # two arms, a watch question per item of a page
    inj = row.loc[("injection", "none")]  # this model does not follow instructions: nothing to find
    assert inj["watch_uplift"] == 0 and inj["watch_uplift_lo"] == 0 == inj["watch_uplift_hi"]
    # the classifier does not flag praise alone: the uplift stays; it does flag and drop the injections
    assert row.loc[("superlatives", "classifier"), "watch_uplift"] == pytest.approx(sup["watch_uplift"])
    assert row.loc[("injection", "classifier"), "texts_flagged"] == 100
    again = text_uplift(cfg, ("superlatives",), users=20, items=5)
    assert again.iloc[0]["watch_uplift"] == sup["watch_uplift"]  # seeded end to end


def test_the_probe_reports_forged_markers_and_checks_its_arguments(swayed) -> None:
    cfg, _ = swayed
    rows = []
    table = text_uplift(cfg, ("marker_forgery",), users=6, items=3, page_size=4, progress=rows.append)
    assert len(rows) == 1 and rows[0]["markers_neutralised"] == table.iloc[0]["markers_neutralised"] >= 18
    assert np.isfinite(table.iloc[0]["watch_uplift"])
    with pytest.raises(ConfigError, match="attacks"):
        text_uplift(cfg, ("flattery",))
    with pytest.raises(ConfigError):
        text_uplift(cfg, ("injection",), page_size=0)
