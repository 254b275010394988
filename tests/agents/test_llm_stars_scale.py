"""LLM-driven agents on other rating scales: their 1-5 stars stand on half stars, are placed on others."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrec.agents.mind import Mind, build_store
from simrec.agents.policies.base import PageBatch, build_policy
from simrec.config.schema import MemoryConfig
from simrec.core.rng import child_rng
from simrec.data.scale import HALF_STARS, RatingScale
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.testing import check_policy
from simrec.world.build import build_world
from tests.helpers import small_scenario


def _scorer(call):
    """Yes to every item, four stars, no shares."""
    if call.choices == ("yes", "no"):
        return (
            [1e-7, 1.0]
            if call.messages[-1]["content"].startswith("Would you tell")
            else [1.0, 1e-7]
        )
    return [1e-7, 1e-7, 1e-7, 1.0, 1e-7]


def _policy(tmp_path: Path, mode: str, scale: tuple[float, float, float]):
    lo, hi, step = scale
    cfg = small_scenario(tmp_path, **{
        "policy.name": mode, "policy.llm.llm_users": 10, "policy.llm.protocol": "scored",
        "policy.llm.reason_rate": 1.0, "environment.data.rating_scale.min": lo,
        "environment.data.rating_scale.max": hi, "environment.data.rating_scale.step": step,
    })  # fmt: skip
    world = build_world(cfg)
    mem = MemoryConfig(store="memory", reflect_every=0)
    mind = Mind(mem, world, build_store(mem, None, "test"))
    llm = ScriptedBackend(
        CallSettings(model="scripted"), lambda call: "I liked it a lot.", scorer=_scorer
    )
    return world, mind, build_policy(cfg.policy, world, child_rng(0, "policy"), llm, mind, None)


def _page(n: int, k: int = 5) -> PageBatch:
    users = np.arange(n)
    items = np.tile(np.arange(k), (n, 1))
    return PageBatch(1, 0, users, items, np.zeros(n, np.float32), np.zeros(n, np.float32))


def test_llm_stars_stand_on_half_stars(tmp_path: Path) -> None:
    world, _, policy = _policy(tmp_path, "llm", (0.5, 5, 0.5))
    assert world.dataset.scale == HALF_STARS
    dec = policy.decide(_page(10)).validate(_page(10))
    rated = dec.ratings[dec.ratings > 0]
    assert dec.ratings.dtype == np.float32 and len(rated) and (rated == 4.0).all()
    # 1..5 are half-star levels: nothing to snap
    assert "llm_stars_snapped" not in policy.counters()


def test_hybrid_half_stars_reach_memories(tmp_path: Path) -> None:
    _, mind, policy = _policy(tmp_path, "hybrid", (0.5, 5, 0.5))
    records: list = []
    mind.remember = records.extend  # type: ignore[method-assign]
    dec = policy.decide(_page(40))
    rated = dec.ratings[dec.ratings > 0]
    # the choice model's half stars
    assert HALF_STARS.on_scale(rated).all() and (rated != np.round(rated)).any()
    said = [r.text for r in records if r.text.startswith("Watched")]
    assert said and any(t.endswith(("rated 0.5/5", "rated 3.5/5", "rated 4.5/5", "rated 2.5/5", "rated 1.5/5"))
                        or ".5/5:" in t for t in said)  # fmt: skip
    assert not any(".0/5" in t for t in said)  # whole stars read as before: "rated 4/5"


def test_llm_stars_are_placed_on_a_ten_point_scale_and_counted(tmp_path: Path) -> None:
    _, _, policy = _policy(tmp_path, "llm", (1, 10, 1))
    dec = policy.decide(_page(10))
    rated = dec.ratings[dec.ratings > 0]
    # 4 of 1..5 is 1 + 3 · 9/4 = 7.75 on 1..10: the nearest level is 8, and it needed snapping
    assert dec.ratings.dtype == np.int8 and len(rated) and (rated == 8).all()
    assert policy.counters()["llm_stars_snapped"] == len(rated)
    assert RatingScale(1, 10, 1).on_scale(rated).all()


def test_the_choice_policy_keeps_the_contract_on_half_stars(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{
        "environment.data.rating_scale.min": 0.5, "environment.data.rating_scale.max": 5,
        "environment.data.rating_scale.step": 0.5,
    })  # fmt: skip
    world = build_world(cfg)
    check_policy(build_policy(cfg.policy, world, child_rng(0, "policy")), world)


def test_reasons_keep_the_stars_the_decision_stored(tmp_path: Path) -> None:
    _, _, policy = _policy(tmp_path, "llm", (1, 10, 1))
    dec = policy.decide(_page(10))
    reasons = [t for t in policy.texts if t.kind == "reason"]
    assert reasons  # reason_rate 1 and a scripted reply that passes the guard
    for t in reasons:
        assert t.stars == float(dec.ratings[t.user, t.item])  # page row = user, column = item and t.stars != 4.0  # placed on 1..10, not the LLM's 4


def test_texts_written_before_stars_were_floats_still_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simrec.io.texts import TextRow, TextSink, read_texts

    folder = tmp_path / "run" / "texts.parquet"
    folder.mkdir(parents=True)
    old = pa.table({"step": pa.array([0], pa.int32()), "session": pa.array([1], pa.int64()),
                    "page": pa.array([0], pa.int16()), "user": pa.array([2], pa.int32()),
                    "item": pa.array([3], pa.int32()), "kind": ["reason"], "stars": pa.array([4], pa.int8()),
                    "text": ["Loved it."]})  # fmt: skip
    pq.write_table(old, folder / "part-00000.parquet")
    sink = TextSink(folder)
    sink.add([TextRow(1, 1, 0, 2, 5, "reason", 3.5, "Half good.")])
    sink.close()
    texts = read_texts(tmp_path / "run")
    assert list(texts["stars"]) == [4.0, 3.5]
