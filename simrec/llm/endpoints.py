"""Several servers of one model behind one backend: routing, health and failover.

:class:`EndpointPool` sends each call to the server with the fewest requests in
flight (ties: the one that has had fewer requests, then the listed order, so
the choice is deterministic). A server that fails a call (connection refused or
dropped, a timeout, HTTP 429 or 5xx: any :class:`TransientLLMError`) is marked
down and the call is sent again at once to another server, so nothing is lost
while one is left. A down server is skipped for ``revive_s`` seconds (doubling
on each failure in a row, up to ``max_revive_s``), then gets one probe call at a
time until one succeeds. When every server is down, a call tries the one due
back soonest; if that fails too, the error names every server and the shared
layer's retries with backoff (:class:`simrec.llm.base.BaseBackend`) take over.

The pool adds no concurrency limit of its own: the shared layer's one semaphore
and one budget cover all the servers together. Each server's counts (requests
sent, answered, failed, re-sent elsewhere, times marked down) live in the
``stats`` mapping given to the pool, which :class:`~simrec.llm.usage.Usage`
writes into the run's manifest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from simrec.llm.types import LLMUnavailable, TransientLLMError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Per-server counters, in the order the manifest shows them.
STATS = ("requests", "ok", "failures", "resent", "down")


class Unreachable(LLMUnavailable):
    """Nothing answered at a server's URL (a pool starts without it; one server alone fails)."""


@dataclass
class Endpoint:
    """One server of a pool and its state.

    Attributes:
        url: The server's URL, as configured (no trailing slash).
        order: Its position in the configured list (the last tie-break).
        outstanding: Calls in flight to it now.
        streak: Failures in a row (0: healthy).
        down_until: ``clock()`` time before which it is skipped (while ``streak > 0``).
        stats: Its counters (:data:`STATS`).
    """

    url: str
    order: int
    outstanding: int = 0
    streak: int = 0
    down_until: float = 0.0
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATS, 0))

    def state(self, now: float) -> str:
        """``"up"``, ``"down"`` (skipped until ``down_until``) or ``"probe"`` (one call at a time)."""
        if self.streak == 0:
            return "up"
        return "down" if now < self.down_until else "probe"


class EndpointPool:
    """Least-outstanding routing with health tracking and failover over ``urls``.

    Args:
        urls: The servers (two or more make sense; one works too).
        timeout_s: Time limit of one call to one server (``None``: none here; the
            transport's own limit still applies). A call that runs past it counts
            as that server's failure and is sent to another one.
        revive_s: How long a server that just failed is skipped.
        max_revive_s: The longest it is skipped after failures in a row.
        stats: Where the per-server counters live, keyed by URL (a fresh dict by default;
            pass :attr:`simrec.llm.usage.Usage.servers` to have them in the manifest).
        clock: Monotonic time in seconds (tests pass their own).

    Raises:
        ValueError: if ``urls`` is empty or lists a server twice.
    """

    def __init__(
        self,
        urls: Sequence[str],
        timeout_s: float | None = None,
        revive_s: float = 2.0,
        max_revive_s: float = 30.0,
        stats: dict[str, dict[str, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cleaned = [u.rstrip("/") for u in urls]
        if not cleaned:
            raise ValueError("an endpoint pool needs at least one server URL")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"the server list names a server twice: {cleaned}")
        self.timeout_s = timeout_s
        self.revive_s = revive_s
        self.max_revive_s = max_revive_s
        self.clock = clock
        self.stats = stats if stats is not None else {}
        self.endpoints = [Endpoint(u, i) for i, u in enumerate(cleaned)]
        for ep in self.endpoints:
            ep.stats = self.stats.setdefault(ep.url, dict.fromkeys(STATS, 0))

    @property
    def urls(self) -> list[str]:
        """The servers, in the configured order."""
        return [ep.url for ep in self.endpoints]

    def describe(self) -> str:
        """``"3 servers: url1, url2, url3"``."""
        return f"{len(self.endpoints)} servers: {', '.join(self.urls)}"

    # -- choosing ---------------------------------------------------------
    def pick(self, exclude: frozenset[int] = frozenset()) -> Endpoint | None:
        """The server the next call goes to, or ``None`` when none not in ``exclude`` may take it.

        Servers that are up, and down servers due for a probe with nothing in flight, are
        candidates; the one with the fewest calls in flight wins (then fewer requests so far,
        then the listed order). When nothing is a candidate and ``exclude`` is empty, the down
        server due back soonest is tried anyway (a call never waits here).
        """
        now = self.clock()
        best: Endpoint | None = None
        best_key: tuple[int, int, int] | None = None
        for ep in self.endpoints:
            if ep.order in exclude:
                continue
            state = ep.state(now)
            if state == "down" or (state == "probe" and ep.outstanding > 0):
                continue
            key = (ep.outstanding, ep.stats["requests"], ep.order)
            if best_key is None or key < best_key:
                best, best_key = ep, key
        if best is None and not exclude:
            best = min(self.endpoints, key=lambda e: (e.down_until, e.order))
        return best

    # -- health -----------------------------------------------------------
    def mark_down(self, ep: Endpoint, reason: str) -> None:
        """Record a failure of ``ep``: it is skipped for a while (longer after failures in a row)."""
        ep.stats["failures"] += 1
        now = self.clock()
        if ep.streak > 0 and now < ep.down_until:
            return  # already down: calls that were in flight when it fell add no extra wait
        ep.streak += 1
        wait = min(self.revive_s * 2 ** (ep.streak - 1), self.max_revive_s)
        ep.down_until = now + wait
        ep.stats["down"] += 1
        log.warning("LLM server %s is down (%s); skipping it for %.1f s", ep.url, reason, wait)

    def mark_up(self, ep: Endpoint) -> None:
        """Record a success of ``ep``: it is healthy again."""
        ep.stats["ok"] += 1
        if ep.streak:
            log.info("LLM server %s answers again", ep.url)
            ep.streak, ep.down_until = 0, 0.0

    def check_health(self, probe: Callable[[str], None], what: str = "servers") -> None:
        """Probe every server at the start of a run: those that answer nothing are marked down
        (and tried again later); only when none answers does the run stop.

        Args:
            probe: Checks one URL; raises :class:`Unreachable` when nothing answers there
                (any other :class:`LLMUnavailable`, e.g. a missing model, stops the run at once).
            what: How the servers are named in messages (``"Ollama servers"``).

        Raises:
            LLMUnavailable: no server in the list can be reached.
        """
        unreachable = []
        for ep in self.endpoints:
            try:
                probe(ep.url)
            except Unreachable as exc:
                unreachable.append(str(exc))
                self.mark_down(ep, "unreachable at start")
        if len(unreachable) == len(self.endpoints):
            raise LLMUnavailable(
                f"None of the {len(unreachable)} {what} in llm.servers can be reached: " + " ".join(unreachable)
            )
        if unreachable:
            log.warning("starting without %d of %d %s (retried later): %s",
                        len(unreachable), len(self.endpoints), what, " ".join(unreachable))  # fmt: skip

    # -- calling ----------------------------------------------------------
    async def call(self, send: Callable[[Endpoint], Awaitable[_T]]) -> _T:
        """``await send(endpoint)`` on the chosen server, re-sent to another one on failure.

        Errors other than :class:`TransientLLMError` (a 4xx answer, a reply that cannot be
        read) are the request's, not the server's: they pass through at once.

        Raises:
            TransientLLMError: every server failed this call or is down; the message names them.
        """
        tried: set[int] = set()
        errors: list[str] = []
        timeouts = 0
        while True:
            ep = self.pick(frozenset(tried))
            if ep is None:
                raise TransientLLMError(
                    f"none of the {len(self.endpoints)} LLM servers answered "
                    f"({'; '.join(errors) or 'all down'}); servers: {', '.join(self.urls)}",
                    kind="timeout" if errors and timeouts == len(errors) else "error",
                )
            tried.add(ep.order)
            ep.outstanding += 1
            ep.stats["requests"] += 1
            try:
                async with asyncio.timeout(self.timeout_s):
                    result = await send(ep)
            except TimeoutError:
                self.mark_down(ep, f"timed out after {self.timeout_s:g} s")
                errors.append(f"{ep.url}: timed out after {self.timeout_s:g} s")
                timeouts += 1
            except TransientLLMError as exc:
                self.mark_down(ep, str(exc))
                errors.append(f"{ep.url}: {exc}")
                timeouts += exc.kind == "timeout"
            else:
                self.mark_up(ep)
                return result
            finally:
                ep.outstanding -= 1
            if self.pick(frozenset(tried)) is not None:
                ep.stats["resent"] += 1
