"""Ask an agent of a finished run a question; it answers in character.

The run's scenario (from its manifest) rebuilds the same world (seeded), the
agent's persona comes from its training data, and its memories come back from
the run's persistent ChromaDB store, so the answer draws on what the agent saw,
watched and felt during the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simrec.io.adapters import resolve_llm
from simrec.agents.guard import TextGuard
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError, DataError


@dataclass
class Answer:
    """An interview answer and what it drew on."""

    user: int
    persona: str
    memories: list[str]
    text: str
    ok: bool


def _scenario(run_dir: Path) -> ScenarioConfig:
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise DataError(f"{run_dir} is not a simrec run folder (no manifest.json).")
    data = json.loads(path.read_text(encoding="utf-8"))["scenario"]
    if (data.get("llm") or {}).get("api_key") == "**********":
        data["llm"]["api_key"] = None  # masked in the manifest; the loader's environment lookup applies
    from simrec.config.loader import load_scenario

    return load_scenario(data=data)


def _user_index(run_dir: Path, user_id: str) -> int:
    users = pd.read_parquet(run_dir / "users.parquet", columns=["user", "user_id"])
    hit = users.loc[users["user_id"].astype(str) == str(user_id), "user"]
    if hit.empty:
        some = ", ".join(str(v.item() if hasattr(v, "item") else v) for v in users["user_id"].head(3))
        raise ConfigError(
            f"User {user_id} is not a user of {run_dir}: --user takes a raw user id (the user_id column of "
            f"users.parquet, e.g. {some}), as the run summary prints them."
        )
    return int(hit.iloc[0])


def interview(run_dir: Path, user_id: str, question: str, k: int = 5) -> Answer:
    """Answer ``question`` as user ``user_id`` of the run in ``run_dir``."""
    from simrec.agents.mind import Mind, build_store
    from simrec.agents.prompts import render_interview
    from simrec.llm.factory import build_backend
    from simrec.llm.types import LLMRequest
    from simrec.world.build import build_world

    run_dir = Path(run_dir)
    cfg = _scenario(run_dir)
    if not (run_dir / "memory").is_dir():
        raise DataError(
            f"{run_dir} has no agent memory (memory/): only runs in llm or hybrid mode with "
            "agents.memory.persistent: true keep memories to interview."
        )
    user = _user_index(run_dir, user_id)
    world = build_world(cfg)
    store = build_store(cfg.agents.memory, run_dir, run_dir.name, cfg.llm)
    try:
        mind = Mind(cfg.agents.memory, world, store)
        persona = mind.personas([user])[0]
        now = int(json.loads((run_dir / "manifest.json").read_text())["steps_completed"])
        memories = [r.record.text for r in store.query([user], [question], k, now)[0]]
    finally:
        store.close()
    llm = build_backend(resolve_llm(cfg), cfg.seed, run_dir.parent)
    plain = cfg.policy.llm.protocol == "scored" or (cfg.policy.llm.protocol == "auto" and llm.default_protocol == "scored")
    try:
        llm.health_check()
        if plain:  # the scored protocol's short plain prompt, which a small model can follow
            from simrec.agents.prompts import load_template
            from simrec.agents.questions import ScoredPrompts

            p = ScoredPrompts(load_template("scored", cfg.policy.llm.prompt_version), 80)
            request = p.text_request(p.system(persona.text, memories[:3]), p.question("interview", asked=question),
                                     user, -1, 0, "interview", sentences=2)  # fmt: skip
        else:
            request = LLMRequest(render_interview(persona, memories, question), agent=user, purpose="interview",
                                 max_tokens=160)  # fmt: skip
        [resp] = llm.generate([request])
    finally:
        llm.close()
    if not resp.ok:
        return Answer(user, persona.text, memories, f"(no answer: the LLM call failed: {resp.error})", False)
    text = (resp.text or "").strip()
    if plain:
        from simrec.agents.questions import first_sentences

        text = first_sentences(text, 2)
    why = TextGuard().problem(text, "answer", [m.content for m in request.messages])
    if why is not None:
        return Answer(user, persona.text, memories, f"(no answer: the model's reply was dropped by the text guard: {why})", False)
    return Answer(user, persona.text, memories, text, True)
