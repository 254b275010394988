"""The real embedded model (llama.cpp, the default SmolLM2-135M-Instruct) driving agents on MovieLens 100K."""

from __future__ import annotations

from pathlib import Path

import chromadb
import pandas as pd
import pytest
from chromadb.config import Settings

from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from simrec.io.texts import read_texts
from simrec.memory.chroma import collection_name
from tests.helpers import ml100k_scenario

SHORT = {
    "environment.data.max_users": 4,
    "environment.social.builder": "none",
    "environment.page_size": 5,
    "environment.pages_per_session": 2,
    "agents.traits.activity_range": "[1.0, 1.0]",
    "agents.memory.reflect_every": 4,
    "run.steps": 2,
    "llm.max_tokens": 200,
}


def memories(run: Path) -> pd.DataFrame:
    client = chromadb.PersistentClient(path=str(run / "memory"), settings=Settings(anonymized_telemetry=False))
    col = client.get_collection(collection_name(run.name))
    got = col.get(include=["documents", "metadatas"])
    return pd.DataFrame({"id": got["ids"], "text": got["documents"],
                         "kind": [m["kind"] for m in got["metadatas"]]}).sort_values("id", ignore_index=True)  # fmt: skip


@pytest.mark.parametrize("mode", ["llm", "hybrid"])
def test_real_model_runs_and_replays_identically(tmp_path: Path, ml100k_dir: Path, mode: str) -> None:
    over = {**SHORT, "policy.name": mode, "policy.llm.llm_users": 2, "llm.cache.path": str(tmp_path / "cache.sqlite")}
    first = run_scenario(ml100k_scenario(tmp_path / "a", ml100k_dir, **over))
    run = first.run_dir
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert metrics["llm_calls"].sum() > 0
    assert metrics["llm_decisions"].sum() > 0, "the embedded model produced no valid decision"
    texts = read_texts(run)
    assert len(texts) > 0 and set(texts["kind"]) & {"reason", "review", "reflection"}
    mem = memories(run)
    assert len(mem) > 0 and {"impression"} <= set(mem["kind"]) | {"impression"}
    assert set(read_events(run)["policy"].astype(str)) >= {"llm"}

    # same seed + replay cache: zero model calls, identical events and memories
    second = run_scenario(ml100k_scenario(tmp_path / "b", ml100k_dir, **over))
    m2 = pd.read_parquet(second.run_dir / "metrics.parquet")
    assert m2["llm_calls"].sum() == 0 and m2["llm_cached"].sum() > 0
    pd.testing.assert_frame_equal(read_events(run).drop(columns="run"), read_events(second.run_dir).drop(columns="run"))
    pd.testing.assert_frame_equal(mem, memories(second.run_dir))
    pd.testing.assert_frame_equal(texts, read_texts(second.run_dir))


def test_real_model_texts_read_like_a_person_and_interviews_stay_in_character(tmp_path: Path, ml100k_dir: Path) -> None:
    from simrec.agents.guard import TextGuard
    from simrec.agents.interview import interview

    over = {**SHORT, "policy.name": "llm", "agents.memory.persistent": True, "policy.llm.review_rate": 1.0}
    result = run_scenario(ml100k_scenario(tmp_path, ml100k_dir, **over))
    texts = read_texts(result.run_dir)
    dropped = int(result.metrics["texts_dropped"].sum())
    assert len(texts) >= 4, "the default model wrote (almost) nothing that passed the guard"
    assert dropped <= len(texts), f"the guard dropped {dropped} texts against {len(texts)} kept"
    fresh = TextGuard()
    for row in texts.itertuples():
        assert fresh.problem(row.text, row.kind) is None, (row.kind, row.text)
        assert row.text[-1] in ".!?…\"'”’)", row.text  # whole sentences, not cut by the token cap

    user = str(pd.read_parquet(result.run_dir / "users.parquet")["user_id"].iloc[0])
    answer = interview(result.run_dir, user, "What kind of movies do you enjoy, and why?")
    assert answer.ok, answer.text
    assert fresh.problem(answer.text, "answer") is None
    lowered = answer.text.lower()
    assert not any(w in lowered for w in ("as an ai", "language model", "assistant", "i am an ai", "smollm"))
