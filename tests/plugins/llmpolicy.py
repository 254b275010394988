"""A plug-in policy that consults the LLM once per user and page (for run-level LLM tests)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from simrec.agents.policies.base import Decisions, PageBatch
from simrec.agents.policies.choice import ChoicePolicy
from simrec.llm.types import LLMRequest


class Verdict(BaseModel):
    leave: bool = False


class AskingPolicy(ChoicePolicy):
    """The choice model, except that the LLM may make a user leave."""

    uses_llm = True

    @classmethod
    def from_world(cls, cfg, world, rng, llm=None):  # noqa: ANN001, ANN206
        policy = cls(cfg.choice, world.catalog, world.population, world.taste, rng)
        policy.llm = llm
        return policy

    def decide(self, batch: PageBatch) -> Decisions:
        dec = super().decide(batch)
        requests = [
            LLMRequest.chat("You browse a streaming site.", f"Page {batch.page}: leave?", schema=Verdict,
                            agent=int(u), step=batch.step, seed=int(u))  # fmt: skip
            for u in batch.users
        ]
        replies = self.llm.generate(requests)
        leave = np.array([r.ok and r.parsed.leave for r in replies], dtype=bool)
        dec.exits = dec.exits | leave
        return dec
