"""Token, call and cost accounting per call, per agent and per step, with budget caps."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

COUNTERS = (
    "requests", "calls", "cache_hits", "cache_misses", "invalid", "repaired", "fallbacks",
    "retries", "timeouts", "errors", "prompt_tokens", "completion_tokens",
)  # fmt: skip


@dataclass(frozen=True)
class Prices:
    """Price per 1,000 prompt and completion tokens."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Cost of a call."""
        return prompt_tokens / 1000 * self.prompt_per_1k + completion_tokens / 1000 * self.completion_per_1k


@dataclass(frozen=True)
class Budget:
    """Caps on real (uncached) LLM use; ``None`` means no cap."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None


@dataclass
class Usage:
    """Counters of one run's LLM use.

    ``calls`` and tokens count what the model actually processed; answers from
    the replay cache are counted as ``cache_hits`` and their tokens as
    ``replayed_tokens``, and do not consume the budget.
    """

    prices: Prices = field(default_factory=Prices)
    budget: Budget = field(default_factory=Budget)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    fallback_reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    replayed_tokens: int = 0
    cost: float = 0.0
    per_agent: dict[str, dict[str, float]] = field(default_factory=dict)
    per_step: dict[int, dict[str, float]] = field(default_factory=dict)
    #: Per-server counters of a backend with several servers (see :mod:`simrec.llm.endpoints`).
    servers: dict[str, dict[str, int]] = field(default_factory=dict)
    _exhausted: str | None = None

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        self.counters[name] += n

    def record_call(self, agent: Any, step: int | None, prompt: int, completion: int, cached: bool) -> None:
        """Account one model call (or its replay from the cache)."""
        if cached:
            self.replayed_tokens += prompt + completion
        else:
            self.counters["calls"] += 1
            self.counters["prompt_tokens"] += prompt
            self.counters["completion_tokens"] += completion
            self.cost += self.prices.cost(prompt, completion)
        for table, key in ((self.per_agent, str(agent)), (self.per_step, step)):
            if key is None or key == "None":
                continue
            row = table.setdefault(key, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached": 0})
            # "calls" are model calls; answers replayed from the cache count as "cached".
            row["calls"] += int(not cached)
            row["cached"] += int(cached)
            row["prompt_tokens"] += prompt
            row["completion_tokens"] += completion

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens the model processed."""
        return self.counters["prompt_tokens"] + self.counters["completion_tokens"]

    def exhausted(self) -> str | None:
        """Which cap has been reached, as a sentence, or ``None``."""
        if self._exhausted:
            return self._exhausted
        b = self.budget
        if b.max_calls is not None and self.counters["calls"] >= b.max_calls:
            self._exhausted = f"LLM call budget reached ({self.counters['calls']} of max_calls={b.max_calls})"
        elif b.max_tokens is not None and self.total_tokens >= b.max_tokens:
            self._exhausted = f"LLM token budget reached ({self.total_tokens} of max_tokens={b.max_tokens})"
        elif b.max_cost is not None and self.cost >= b.max_cost:
            self._exhausted = f"LLM cost budget reached ({self.cost:.4f} of max_cost={b.max_cost})"
        return self._exhausted

    def summary(self) -> dict[str, Any]:
        """Totals for the manifest (with ``servers``, each server's counts, when there are several)."""
        out = {
            **self.counters,
            "replayed_tokens": self.replayed_tokens,
            "cost": round(self.cost, 6),
            "fallback_reasons": dict(self.fallback_reasons),
            "budget_exhausted": self._exhausted,
        }
        if self.servers:
            out["servers"] = {url: dict(row) for url, row in self.servers.items()}
        return out

    def step_row(self, step: int) -> dict[str, float]:
        """This step's calls and tokens (zeros if none)."""
        return dict(self.per_step.get(step, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached": 0}))
