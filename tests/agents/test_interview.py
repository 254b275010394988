"""`simrec interview`: an agent of a finished run answers from its persona and memories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from simrec.agents.interview import interview
from simrec.env.runner import run_scenario
from simrec.io.texts import read_texts
from tests.agents.test_llm_policy import GOOD
from tests.helpers import ROOT, small_scenario

#: What the scripted model says in an interview (plain text: JSON would fail the text guard).
ANSWER = "The tense ones stayed with me; the slow drama lost me halfway."


def test_interview_after_an_llm_run(tmp_path: Path) -> None:
    cfg = small_scenario(
        tmp_path,
        **{"policy.name": "llm", "llm.backend": "fake", "run.steps": 2, "environment.data.n_users": 12,
           "llm.chat_kwargs": json.dumps({"replies": {"What did you think": ANSWER, "": GOOD}}),
           "agents.memory.reflect_every": 0},  # fmt: skip
    )
    run = run_scenario(cfg).run_dir
    users = pd.read_parquet(run / "users.parquet")
    talker = int(read_texts(run).query("kind == 'reason'")["user"].iloc[0])
    raw = str(users.loc[users["user"] == talker, "user_id"].iloc[0])
    answer = interview(run, raw, "What did you think of the films?")
    assert answer.ok and answer.persona and answer.memories
    assert all(m.startswith(("Watched", "Skipped", "I wrote")) for m in answer.memories)
    assert any("A gripping page of picks" in m or "tense and clever" in m for m in answer.memories)

    proc = subprocess.run(
        [sys.executable, "-m", "simrec", "interview", str(run), "--user", raw, "What did you think?"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "memory:" in proc.stderr and proc.stdout.strip()

    bad = subprocess.run(
        [sys.executable, "-m", "simrec", "interview", str(run), "--user", "no-such-user", "hi"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "no-such-user" in bad.stderr and "Traceback" not in bad.stderr
