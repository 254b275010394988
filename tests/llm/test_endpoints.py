"""Several servers behind one backend (simrec.llm.endpoints): least-outstanding
routing, health tracking and failover, first on the pool alone (a fake clock),
then through the ``openai`` (both transports) and ``ollama`` backends against
loopback stub servers with real sockets, one of which dies mid-run."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field, ValidationError

from simrec.config.schema import LLMConfig
from simrec.llm.base import CallSettings
from simrec.llm.endpoints import EndpointPool
from simrec.llm.factory import build_backend
from simrec.llm.openai_compat import OpenAIBackend
from simrec.llm.types import LLMRequest, LLMUnavailable, PermanentLLMError, TransientLLMError
from simrec.llm.usage import Budget, Usage
from tests.llm.stub_server import InFlight, StubServer


class Pick(BaseModel):
    watch: list[int] = Field(default_factory=list)
    leave: bool


def ask(n: int) -> LLMRequest:
    return LLMRequest.chat("You are a viewer.", f"Page {n}.", schema=Pick, agent=n, step=0)


def settings(**kw) -> CallSettings:
    base = {"model": "tiny", "timeout_s": 5.0, "retries": 0, "backoff_s": 0.0, "concurrency": 6}
    base.update(kw)
    return CallSettings(**base)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stubs() -> Iterator[list[StubServer]]:
    made: list[StubServer] = []
    yield made
    for s in made:
        s.close()


def start(made: list[StubServer], n: int, **kw) -> list[StubServer]:
    new = [StubServer(**kw) for _ in range(n)]
    made.extend(new)
    return new


# -- the pool alone ------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def pool(n: int = 3, **kw) -> tuple[EndpointPool, Clock]:
    clock = Clock()
    return EndpointPool([f"http://s{i}/v1" for i in range(n)], revive_s=1.0, max_revive_s=4.0, clock=clock, **kw), clock


def test_pick_is_least_outstanding_then_fewest_requests_then_order() -> None:
    p, _ = pool()
    a, b, c = p.endpoints
    assert p.pick() is a
    a.outstanding = 2
    b.outstanding = 1
    assert p.pick() is c
    c.outstanding = 1
    b.stats["requests"] = 5
    assert p.pick() is c  # b and c tie on outstanding; c has had fewer requests
    assert p.pick(frozenset({2})) is b


def test_a_failed_server_is_skipped_then_probed_once_at_a_time() -> None:
    p, clock = pool()
    a, b, _ = p.endpoints
    p.mark_down(a, "HTTP 503")
    assert a.state(clock()) == "down" and a.stats["failures"] == 1 and a.stats["down"] == 1
    assert p.pick() is b
    p.mark_down(a, "in flight when it fell")  # a second failure while down adds no extra wait
    assert a.streak == 1 and a.stats["failures"] == 2 and a.stats["down"] == 1
    clock.t += 1.0
    assert a.state(clock()) == "probe" and p.pick() is a
    a.outstanding = 1  # one probe in flight: nothing else goes there
    assert p.pick() is b
    a.outstanding = 0
    p.mark_down(a, "still dead")  # the probe failed: skipped twice as long
    assert a.streak == 2 and a.down_until == clock() + 2.0
    clock.t += 2.0
    p.mark_up(a)
    assert a.state(clock()) == "up" and a.streak == 0 and a.stats["ok"] == 1


def test_back_off_is_capped() -> None:
    p, clock = pool()
    a = p.endpoints[0]
    waits = []
    for _ in range(5):
        p.mark_down(a, "dead")
        waits.append(a.down_until - clock())
        clock.t = a.down_until
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]  # doubling from revive_s up to max_revive_s
    assert a.streak == 5 and a.stats["down"] == 5


def test_every_server_down_tries_the_one_due_back_soonest() -> None:
    p, clock = pool()
    a, b, c = p.endpoints
    p.mark_down(b, "x")
    clock.t += 0.5
    p.mark_down(a, "x")
    p.mark_down(c, "x")
    assert p.pick() is b
    assert p.pick(frozenset({1})) is None


def test_call_fails_over_and_counts() -> None:
    p, _ = pool()
    seen: list[str] = []

    async def send(ep) -> str:
        seen.append(ep.url)
        if ep.order == 0:
            raise TransientLLMError("connection refused")
        return ep.url

    assert asyncio.run(p.call(send)) == "http://s1/v1"
    assert seen == ["http://s0/v1", "http://s1/v1"]
    assert p.stats["http://s0/v1"] == {"requests": 1, "ok": 0, "failures": 1, "resent": 1, "down": 1}
    assert p.stats["http://s1/v1"]["ok"] == 1
    assert all(ep.outstanding == 0 for ep in p.endpoints)


def test_call_names_every_server_when_all_fail() -> None:
    p, _ = pool(2)

    async def send(ep) -> str:
        raise TransientLLMError(f"HTTP 503 from {ep.url}")

    with pytest.raises(TransientLLMError, match=r"none of the 2 LLM servers answered") as info:
        asyncio.run(p.call(send))
    assert "http://s0/v1" in str(info.value) and "http://s1/v1" in str(info.value)
    assert [ep.stats["resent"] for ep in p.endpoints] == [1, 0]


def test_a_request_error_is_not_the_servers_fault() -> None:
    p, clock = pool()

    async def send(ep) -> str:
        raise PermanentLLMError("HTTP 400: bad request")

    with pytest.raises(PermanentLLMError):
        asyncio.run(p.call(send))
    a = p.endpoints[0]
    assert a.state(clock()) == "up" and a.stats == {"requests": 1, "ok": 0, "failures": 0, "resent": 0, "down": 0}


def test_a_timeout_on_one_server_moves_the_call_on() -> None:
    p = EndpointPool(["http://slow/v1", "http://fast/v1"], timeout_s=0.05)

    async def send(ep) -> str:
        if "slow" in ep.url:
            await asyncio.sleep(10)
        return ep.url

    assert asyncio.run(p.call(send)) == "http://fast/v1"
    assert p.stats["http://slow/v1"]["failures"] == 1


def test_pool_refuses_duplicates_and_nothing() -> None:
    with pytest.raises(ValueError, match="twice"):
        EndpointPool(["http://a/v1", "http://a/v1/"])
    with pytest.raises(ValueError, match="at least one"):
        EndpointPool([])


# -- configuration ---------------------------------------------------------------
def test_config_servers_are_checked() -> None:
    cfg = LLMConfig(backend="openai", servers=["http://127.0.0.1:8000/v1/", "http://127.0.0.1:8001/v1"])
    assert cfg.servers == ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]
    bad = [
        ({"backend": "openai", "servers": []}, "empty"),
        ({"backend": "openai", "servers": ["127.0.0.1:8000"]}, "not a server URL"),
        ({"backend": "openai", "servers": ["http://a/v1", "http://a/v1/"]}, "more than once"),
        ({"backend": "openai", "servers": ["http://a/v1"], "base_url": "http://b/v1"}, "both set"),
        ({"backend": "ollama", "servers": ["http://a:1"], "host": "http://b:2"}, "llm.host are both set"),
        ({"backend": "llamacpp", "servers": ["http://a:1"]}, "openai and ollama"),
    ]
    for kw, message in bad:
        with pytest.raises(ValidationError, match=message):
            LLMConfig(**kw)


def test_one_server_in_the_list_is_the_plain_backend(stubs) -> None:
    [s] = start(stubs, 1)
    cfg = LLMConfig(backend="openai", servers=[s.openai_url], model="tiny", cache={"enabled": False})
    be = build_backend(cfg, seed=0)
    try:
        assert be.pool is None and be.base_url == s.openai_url
        assert be.generate([ask(0)])[0].ok
    finally:
        be.close()
    assert "servers" not in be.usage.summary()


# -- the openai backend against loopback servers -----------------------------------
def openai_backend(urls: list[str], transport: str, **kw) -> OpenAIBackend:
    usage = kw.pop("usage", None)
    revive_s = kw.pop("revive_s", 0.2)
    return OpenAIBackend(settings(**kw), servers=urls, transport=transport, usage=usage, revive_s=revive_s)


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "lean"])
def test_a_slow_server_gets_fewer_requests(stubs, transport: str) -> None:
    fast1, slow, fast2 = start(stubs, 1) + start(stubs, 1, delay_s=0.3) + start(stubs, 1)
    be = openai_backend([fast1.openai_url, slow.openai_url, fast2.openai_url], transport, concurrency=6)
    try:
        out = be.generate([ask(i) for i in range(60)])
    finally:
        be.close()
    assert all(r.status == "ok" for r in out)
    assert fast1.chats + slow.chats + fast2.chats == 60
    assert slow.chats < min(fast1.chats, fast2.chats) / 2, (fast1.chats, slow.chats, fast2.chats)
    rows = be.usage.summary()["servers"]
    assert [rows[s.openai_url]["ok"] for s in (fast1, slow, fast2)] == [fast1.chats, slow.chats, fast2.chats]
    assert be.usage.counters["calls"] == 60
    assert "3 servers" in be.describe() and slow.openai_url in be.describe()


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "lean"])
def test_a_server_that_dies_mid_run_loses_nothing_and_is_retried_later(stubs, transport: str) -> None:
    a, b, c = start(stubs, 3, delay_s=0.02)
    b.die_after = 5
    be = openai_backend([a.openai_url, b.openai_url, c.openai_url], transport, retries=0, revive_s=0.05)
    be.pool.max_revive_s = 0.2
    try:
        be.health_check()
        out = be.generate([ask(i) for i in range(60)])
        assert all(r.status == "ok" for r in out), [r.error for r in out if not r.ok][:2]
        assert not b.alive and 0 < b.chats <= 5 and a.chats + b.chats + c.chats == 60
        row = be.usage.servers[b.openai_url]
        assert row["ok"] == b.chats and row["failures"] >= 1 and row["down"] >= 1 and row["resent"] == row["failures"]
        c0 = be.usage.counters
        assert (c0["calls"], c0["retries"], c0["fallbacks"]) == (60, 0, 0)  # failover, not the shared retries

        answered_before = b.chats
        b.revive()
        time.sleep(0.3)  # past the longest back-off
        again = be.generate([ask(i) for i in range(60, 90)])
    finally:
        be.close()
    assert all(r.status == "ok" for r in again)
    assert b.chats > answered_before and be.usage.servers[b.openai_url]["ok"] == b.chats
    assert be.pool.endpoints[1].streak == 0


def test_concurrency_and_budget_are_one_limit_over_all_servers(stubs) -> None:
    shared = InFlight()
    servers = start(stubs, 3, delay_s=0.05, in_flight=shared)
    urls = [s.openai_url for s in servers]
    be = openai_backend(urls, "lean", concurrency=4)
    try:
        assert all(r.ok for r in be.generate([ask(i) for i in range(24)]))
    finally:
        be.close()
    assert shared.peak == 4  # not 4 per server
    assert all(s.chats > 0 for s in servers)

    capped = openai_backend(urls, "aiohttp", concurrency=1, usage=Usage(budget=Budget(max_calls=7)))
    before = sum(s.chats for s in servers)
    try:
        out = capped.generate([ask(i) for i in range(20)])
    finally:
        capped.close()
    assert sum(s.chats for s in servers) - before == 7
    assert sum(r.ok for r in out) == 7 and all(r.reason == "budget" for r in out if not r.ok)


@pytest.mark.parametrize("transport", ["aiohttp", "lean"])
def test_a_call_that_times_out_on_one_server_is_answered_by_another(stubs, transport: str) -> None:
    hung, ok = start(stubs, 1, delay_s=30.0) + start(stubs, 1)
    be = openai_backend([hung.openai_url, ok.openai_url], transport, timeout_s=0.5, concurrency=1)
    try:
        [r] = be.generate([ask(0)])
    finally:
        be.close()
    assert r.status == "ok" and ok.chats == 1
    assert be.usage.servers[hung.openai_url]["failures"] == 1 and be.usage.counters["timeouts"] == 0


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "lean"])
def test_every_server_down_retries_then_falls_back_naming_them(transport: str) -> None:
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    be = openai_backend(urls, transport, retries=2, revive_s=0.01)
    try:
        [r] = be.generate([ask(0)])
    finally:
        be.close()
    assert r.status == "fallback" and r.reason == "error"
    assert all(u in (r.error or "") for u in urls) and "none of the 2 LLM servers answered" in r.error
    assert be.usage.counters["retries"] == 2


def test_a_server_answering_5xx_is_routed_around(stubs) -> None:
    broken, ok = start(stubs, 1, status=503) + start(stubs, 1)
    be = openai_backend([broken.openai_url, ok.openai_url], "lean", revive_s=60.0, concurrency=2)
    try:
        out = be.generate([ask(i) for i in range(10)])
    finally:
        be.close()
    assert all(r.ok for r in out) and ok.chats == 10
    assert be.usage.servers[broken.openai_url]["down"] == 1  # marked down once, then skipped


def test_health_check_starts_without_an_unreachable_server(stubs) -> None:
    [s] = start(stubs, 1)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    be = openai_backend([dead, s.openai_url], "aiohttp")
    try:
        be.health_check()
        assert be.pool.endpoints[0].streak == 1
        assert all(r.ok for r in be.generate([ask(i) for i in range(5)]))
    finally:
        be.close()
    assert s.chats == 5
    other = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailable, match="None of the 2 servers") as info:
        openai_backend([dead, other], "aiohttp").health_check()
    assert dead in str(info.value) and other in str(info.value)


def test_servers_come_from_the_config_and_reach_the_manifest_summary(stubs) -> None:
    servers = start(stubs, 2)
    cfg = LLMConfig(backend="openai", servers=[s.openai_url for s in servers], model="tiny",
                    transport="aiohttp", cache={"enabled": False})  # fmt: skip
    be = build_backend(cfg, seed=0)
    try:
        assert isinstance(be, OpenAIBackend) and be.urls == cfg.servers
        assert all(r.ok for r in be.generate([ask(i) for i in range(8)]))
    finally:
        be.close()
    rows = be.usage.summary()["servers"]
    assert set(rows) == set(cfg.servers) and sum(r["ok"] for r in rows.values()) == 8


# -- the ollama backend ------------------------------------------------------------
def test_ollama_over_several_servers_survives_one_dying(stubs) -> None:
    pytest.importorskip("ollama")
    from simrec.llm.ollama import OllamaBackend

    a, b = start(stubs, 2, delay_s=0.02)
    a.die_after = 4
    cfg = LLMConfig(backend="ollama", servers=[a.ollama_url, b.ollama_url], model="tiny",
                    retries=0, concurrency=4, cache={"enabled": False})  # fmt: skip
    be = build_backend(cfg, seed=0)
    assert isinstance(be, OllamaBackend) and be.hosts == [a.ollama_url, b.ollama_url]
    try:
        be.health_check()
        out = be.generate([ask(i) for i in range(30)])
    finally:
        be.close()
    assert all(r.status == "ok" for r in out), [r.error for r in out if not r.ok][:2]
    assert not a.alive and 0 < a.chats <= 4 and a.chats + b.chats == 30 and be.usage.counters["retries"] == 0
    assert be.usage.servers[a.ollama_url]["failures"] >= 1
    assert "2 servers" in be.describe()


def test_ollama_health_names_every_unreachable_server() -> None:
    pytest.importorskip("ollama")
    from simrec.llm.ollama import OllamaBackend

    hosts = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    with pytest.raises(LLMUnavailable, match="None of the 2 Ollama servers") as info:
        OllamaBackend(settings(), servers=hosts).health_check()
    assert all(h in str(info.value) for h in hosts) and "llm.servers" in str(info.value)


def test_a_hybrid_run_over_two_servers_one_dying_mid_run(stubs, tmp_path) -> None:
    import json

    from simrec.env.runner import run_scenario
    from simrec.io.events import read_events
    from tests.helpers import small_scenario

    a, b = start(stubs, 2, delay_s=0.005)
    a.die_after = 15
    cfg = small_scenario(tmp_path, **{
        "llm.backend": "openai", "llm.servers": f"[{a.openai_url},{b.openai_url}]", "llm.model": "tiny",
        "llm.transport": "lean", "llm.concurrency": 4, "llm.retries": 0, "llm.timeout_s": 10,
        "policy.name": "hybrid", "policy.llm.llm_users": 4, "policy.llm.protocol": "scored", "run.steps": 1,
        "run.report": False, "agents.memory.store": "memory",
    })  # fmt: skip
    result = run_scenario(cfg)
    events = read_events(result.run_dir)
    assert (events["policy"] == "llm").any() and not (events["policy"] == "fallback").any()
    usage = json.loads((result.run_dir / "manifest.json").read_text())["llm"]
    assert usage["fallbacks"] == 0 and usage["retries"] == 0 and usage["calls"] > 15
    assert "2 servers" in usage["target"]
    rows = usage["servers"]
    assert set(rows) == {a.openai_url, b.openai_url}
    assert not a.alive and rows[a.openai_url]["ok"] == a.chats <= 15 and rows[a.openai_url]["failures"] >= 1
    assert rows[b.openai_url]["ok"] == b.chats and a.chats + b.chats == usage["calls"]
