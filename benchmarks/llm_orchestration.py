"""Overhead of the shared LLM layer (issue: LLM orchestration throughput; issue 17: many endpoints).

Starts loopback OpenAI-compatible stub servers, each in its own process (plain
``asyncio`` streams, HTTP/1.1 keep-alive), that answer every
``POST /v1/chat/completions`` with one fixed, schema-valid JSON completion
after sleeping a configurable time (50 ms by default), then sends 2,000
structured requests through :class:`simrec.llm.openai_compat.OpenAIBackend`
(``generate``, concurrency 64, replay cache off) and prints:

* "Orchestration efficiency with 1 and 4 loopback endpoints" (``--endpoints``):
  the same requests spread over 1 and over 4 stub servers (``servers=``, the
  least-outstanding pool of :mod:`simrec.llm.endpoints`), for both transports:
  efficiency at concurrency 64 (target ≥ 0.95) and the client's CPU per request
  (medians of ``--repeat`` runs), next to a backend with no HTTP at all (it awaits
  ``asyncio.sleep``): what the machine allows the event loop;
* wall time and efficiency = ideal / wall, where ideal = n × sleep / concurrency
  (target ≥ 0.95), and the implied framework overhead per request with the
  stub's sleep taken out = (wall − ideal) × concurrency / n (target < 1 ms);
* CPU time per request in this (client) process and in the stub process;
* more direct measures of the per-request cost of each layer:
  the shared layer alone (a backend whose call returns at once), the shared
  layer plus the openai/httpx client (an in-memory transport, no sockets), and
  a full loopback round trip at concurrency 1 with a zero-sleep stub;
* the throughput ceiling (zero-sleep stub at concurrency 64), which tells
  whether 64 × 1 / sleep requests per second are reachable on this machine;
* with ``--variants``, the same run through other HTTP paths (``client.post``
  without the SDK's parameter transform; the SDK's aiohttp transport when
  ``aiohttp`` is installed), to show what the client costs; simrec's own lean
  path is the headline's ``transport=aiohttp`` run.

The two targets measure different things: (wall − ideal) × concurrency / n is
the time each request's slot is held beyond the sleep, which includes waiting
for the CPU behind the other requests of its wave; efficiency 0.85 already
means ≈ 8.8 ms of it at 50 ms and concurrency 64, 0.95 ≈ 2.6 ms. Client CPU per
request is the direct figure for "our layer's cost per request".

Loopback only; every loop is bounded and the stubs exit by themselves.

Usage: python benchmarks/llm_orchestration.py [--n 2000] [--concurrency 64] [--sleep-ms 50]
       [--endpoints 1 4] [--repeat 3] [--skip-layers] [--variants]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from simrec.llm.base import BaseBackend, Call, CallSettings
from simrec.llm.openai_compat import OpenAIBackend
from simrec.llm.types import Completion, LLMRequest, LLMResponse

REPLY = '{"watch": [3, 1], "leave": false}'
STUB_LIFETIME_S = 600.0  # the stub exits after this even if nobody stops it


class Pick(BaseModel):
    """The small schema every request asks for."""

    watch: list[int] = Field(default_factory=list, max_length=5)
    leave: bool


# -- the stub server (runs in a child process) ------------------------------------
def _completion_body(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 24, "completion_tokens": 12, "total_tokens": 36},
        }
    ).encode()


def _response(code: int, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found"}.get(code, "Error")
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _serve(port_out: Any, sleep_by_model: dict[str, float]) -> None:
    stats = {"requests": 0}
    chat_bodies: dict[str, bytes] = {}
    models = json.dumps(
        {"object": "list", "data": [{"id": m, "object": "model"} for m in sleep_by_model]}
    ).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                sleep = 0.0
                if method == "POST" and path.startswith("/v1/chat/completions"):
                    model = json.loads(body)["model"]
                    sleep = sleep_by_model.get(model, 0.0)
                    if model not in chat_bodies:
                        chat_bodies[model] = _completion_body(model)
                    out = _response(200, chat_bodies[model])
                    if sleep:
                        await asyncio.sleep(sleep)
                elif method == "GET" and path.startswith("/v1/models"):
                    out = _response(200, models)
                elif method == "GET" and path.startswith("/stats"):
                    out = _response(
                        200, json.dumps({**stats, "cpu_s": time.process_time()}).encode()
                    )
                else:
                    out = _response(404, b'{"error": "not found"}')
                writer.write(out)
                await writer.drain()
                stats["requests"] += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port_out.put(server.sockets[0].getsockname()[1])
    async with server:
        await asyncio.sleep(STUB_LIFETIME_S)


def stub_main(port_out: Any, sleep_by_model: dict[str, float]) -> None:
    """Entry point of the stub process."""
    asyncio.run(_serve(port_out, sleep_by_model))


def stub_stats(base_url: str) -> dict[str, float]:
    """The stub's request count and CPU time so far."""
    import httpx

    return httpx.get(base_url.removesuffix("/v1") + "/stats", timeout=5.0).json()


def stubs_stats(urls: list[str]) -> dict[str, float]:
    """Request counts and CPU seconds summed over several stubs."""
    rows = [stub_stats(u) for u in urls]
    return {"requests": sum(r["requests"] for r in rows), "cpu_s": sum(r["cpu_s"] for r in rows)}


def start_stubs(k: int, sleep_by_model: dict[str, float]) -> tuple[list[Any], list[str]]:
    """``k`` stub servers, each in its own process; their processes and base URLs (with /v1)."""
    ctx = mp.get_context("spawn")
    port_q = ctx.Queue()
    procs = [ctx.Process(target=stub_main, args=(port_q, sleep_by_model), daemon=True) for _ in range(k)]
    for proc in procs:
        proc.start()
    urls = [f"http://127.0.0.1:{port_q.get(timeout=60)}/v1" for _ in procs]
    return procs, sorted(urls)


def stop_stubs(procs: list[Any]) -> None:
    """End the stub processes."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=10)


# -- clients ----------------------------------------------------------------------
class NoopBackend(BaseBackend):
    """Answers at once: what is left is the shared layer's own cost."""

    name = "noop"

    async def _complete(self, call: Call) -> Completion:
        return Completion(REPLY, 24, 12)


class SleepBackend(BaseBackend):
    """Answers after ``asyncio.sleep``: the shared layer and the event loop, no HTTP, no server."""

    name = "sleep"
    sleep_s = 0.05

    async def _complete(self, call: Call) -> Completion:
        await asyncio.sleep(self.sleep_s)
        return Completion(REPLY, 24, 12)


def loop_ceiling(n: int, conc: int, sleep: float, repeat: int) -> float:
    """Median efficiency of :class:`SleepBackend`: what this machine allows without any HTTP."""
    import statistics

    effs = []
    for _ in range(repeat):
        be = SleepBackend(settings("sleep", conc))
        be.sleep_s = sleep
        try:
            be.generate(requests(conc))
            wall, _, out = timed(be, requests(n))
            check(out)
        finally:
            be.close()
        effs.append(n * sleep / conc / wall)
    return statistics.median(effs)


def settings(model: str, concurrency: int) -> CallSettings:
    return CallSettings(
        model=model,
        concurrency=concurrency,
        timeout_s=30.0,
        retries=0,
        backoff_s=0.0,
        max_tokens=32,
    )


def requests(n: int) -> list[LLMRequest]:
    system = "You are a viewer on a streaming site. Pick what you would watch from the page."
    return [
        LLMRequest.chat(system, f"Page for user {i}: items 1, 2, 3, 4, 5.", schema=Pick, agent=i)
        for i in range(n)
    ]


def timed(be: BaseBackend, reqs: list[LLMRequest]) -> tuple[float, float, list[LLMResponse]]:
    """Wall and client CPU seconds of one ``generate`` batch."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = be.generate(reqs)
    return time.perf_counter() - w0, time.process_time() - c0, out


def check(out: list[LLMResponse]) -> None:
    bad = [r for r in out if r.status != "ok"]
    if bad:
        raise SystemExit(
            f"{len(bad)} of {len(out)} requests did not come back ok, e.g. {bad[0].reason}: {bad[0].error}"
        )


def in_memory_openai(concurrency: int) -> OpenAIBackend:
    """An OpenAIBackend whose client talks to an in-memory transport (no sockets, no server)."""
    import httpx2
    from openai import AsyncOpenAI

    body = _completion_body("mem")

    def handler(request: Any) -> Any:
        return httpx2.Response(200, content=body, headers={"Content-Type": "application/json"})

    be = OpenAIBackend(settings("mem", concurrency), base_url="http://mem.invalid/v1")
    be._client = AsyncOpenAI(
        base_url=be.base_url,
        api_key="x",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    return be


class PostBackend(OpenAIBackend):
    """OpenAIBackend that sends its body with ``client.post``: skips the SDK's per-request
    walk of the parameters against its TypedDicts (which recurses through the JSON schema)."""

    async def _complete(self, call: Call) -> Completion:
        from openai.types.chat import ChatCompletion

        body = self._body(call, self.format_style)
        resp = await self._client_for_loop().post(
            "/chat/completions", body=body, cast_to=ChatCompletion
        )
        u = resp.usage
        return Completion(
            resp.choices[0].message.content or "",
            u.prompt_tokens if u else 0,
            u.completion_tokens if u else 0,
        )


def with_aiohttp(cls: type[OpenAIBackend]) -> type[OpenAIBackend]:
    """``cls`` with the SDK's aiohttp transport (``openai[aiohttp]``) instead of httpx."""

    class Aio(cls):  # type: ignore[valid-type,misc]
        def _client_for_loop(self, base_url: str | None = None) -> Any:
            if self._client is None:
                from openai import AsyncOpenAI, DefaultAioHttpClient

                self._client = AsyncOpenAI(
                    base_url=self.base_url,
                    api_key="x",
                    max_retries=0,
                    timeout=30.0,
                    http_client=DefaultAioHttpClient(),
                )
            return self._client

    Aio.__name__ = f"{cls.__name__} + aiohttp transport"
    return Aio


def variants(url: str, n: int, conc: int, sleep: float) -> None:
    """Efficiency and client CPU of other ways to make the same call (what the OpenAI SDK costs)."""
    import importlib.util

    kinds: list[type[OpenAIBackend]] = [OpenAIBackend, PostBackend]
    if importlib.util.find_spec("aiohttp") is not None:
        kinds += [with_aiohttp(OpenAIBackend), with_aiohttp(PostBackend)]
    else:
        print(
            "  (pip install aiohttp to also try the SDK's aiohttp transport)"
        )
    ideal = n * sleep / conc
    for kind in kinds:
        be = kind(settings("stub-sleep", conc), base_url=url)
        try:
            be.generate(requests(conc))
            wall, cpu, out = timed(be, requests(n))
            check(out)
        finally:
            be.close()
        print(
            f"  {kind.__name__:42s} efficiency {ideal / wall:5.3f}   client CPU {cpu / n * 1e3:6.3f} ms/req"
        )


def per_request_ms(make: Callable[[], BaseBackend], n: int, warm: int = 64) -> tuple[float, float]:
    """Wall and CPU milliseconds per request of ``n`` requests (after ``warm`` warm-up requests)."""
    be = make()
    try:
        be.generate(requests(warm))
        wall, cpu, out = timed(be, requests(n))
        check(out)
    finally:
        be.close()
    return wall / n * 1e3, cpu / n * 1e3


def over_endpoints(urls: list[str], n: int, conc: int, sleep: float, transport: str) -> dict[str, float]:
    """``n`` requests spread over the servers ``urls`` (one: the plain backend); the figures as a dict."""
    be = OpenAIBackend(settings("stub-sleep", conc), servers=urls, transport=transport)
    try:
        be.health_check()
        be.generate(requests(conc))  # warm-up: imports, connections
        s0 = stubs_stats(urls)
        wall, cpu, out = timed(be, requests(n))
        s1 = stubs_stats(urls)
        check(out)
    finally:
        be.close()
    served = s1["requests"] - s0["requests"] - len(urls)  # minus the /stats calls themselves
    shares = [row["ok"] for row in be.usage.servers.values()] if be.pool is not None else [n + conc]
    return {
        "efficiency": n * sleep / conc / wall,
        "client_ms": cpu / n * 1e3,
        "stub_ms": (s1["cpu_s"] - s0["cpu_s"]) / served * 1e3,
        "rate": n / wall,
        "spread": "/".join(str(x) for x in shares),
    }


def endpoints_table(counts: list[int], n: int, conc: int, sleep: float, repeat: int) -> None:
    """Print "Orchestration efficiency with 1 and 4 loopback endpoints" (``counts`` endpoints),
    each figure the median of ``repeat`` runs (efficiency also with its range)."""
    import statistics

    names = " and ".join(str(k) for k in counts)
    print(f"Orchestration efficiency with {names} loopback endpoints "
          f"({n} requests, concurrency {conc}, stub reply after {sleep * 1e3:g} ms, stubs in their own processes; "
          f"median of {repeat} runs)")  # fmt: skip
    print(f"  {'endpoints':>9s}  {'transport':9s}  {'efficiency (range)':>20s}  {'client CPU/req':>14s}  "
          f"{'stub CPU/req':>12s}  {'req/s':>6s}  requests per server, last run (warm-up included)")  # fmt: skip
    procs, urls = start_stubs(max(counts), {"stub-sleep": sleep})
    try:
        for k in counts:
            for transport in ("sdk", "aiohttp", "lean"):
                runs = [over_endpoints(urls[:k], n, conc, sleep, transport) for _ in range(repeat)]
                med = {key: statistics.median(r[key] for r in runs) for key in ("efficiency", "client_ms", "stub_ms", "rate")}
                lo, hi = min(r["efficiency"] for r in runs), max(r["efficiency"] for r in runs)
                print(f"  {k:9d}  {transport:9s}  {med['efficiency']:6.3f} ({lo:.3f}-{hi:.3f})  "
                      f"{med['client_ms']:11.3f} ms  {med['stub_ms']:9.3f} ms  {med['rate']:6.0f}  {runs[-1]['spread']}")  # fmt: skip
    finally:
        stop_stubs(procs)
    ceiling = loop_ceiling(n, conc, sleep, repeat)
    print(f"  no HTTP at all (a backend that awaits asyncio.sleep({sleep:g})): efficiency {ceiling:.3f}")
    print(f"  (target: efficiency >= 0.95; offered rate {conc / sleep:.0f} req/s; at most "
          f"{n / conc / math.ceil(n / conc):.3f} here: {n} requests are {n / conc:g} rounds of {conc})\n")


def headline(url: str, n: int, conc: int, sleep: float, transport: str) -> None:
    """Send ``n`` requests through the openai backend with ``transport`` and print the figures."""
    be = OpenAIBackend(settings("stub-sleep", conc), base_url=url, transport=transport)
    be.health_check()
    be.generate(requests(conc))  # warm-up: imports, connections
    s0 = stub_stats(url)
    wall, cpu, out = timed(be, requests(n))
    s1 = stub_stats(url)
    check(out)
    be.close()
    ideal = n * sleep / conc
    served = s1["requests"] - s0["requests"] - 1  # minus the /stats call itself
    print(f"OpenAIBackend (transport={transport}) -> loopback stub")
    print(f"  wall                       {wall:8.3f} s   (ideal {ideal:.3f} s)")
    print(f"  efficiency                 {ideal / wall:8.3f}     (target >= 0.95)")
    print(
        f"  framework overhead/request {cpu / n * 1e3:8.3f} ms  (target < 1 ms: client CPU per request, "
        "sleep excluded; one event loop)"
    )
    print(
        f"  slot time beyond the sleep {(wall - ideal) * conc / n * 1e3:8.3f} ms  "
        "((wall - ideal) x concurrency / n: includes queueing for the CPU behind the wave)"
    )
    print(
        f"  stub CPU per request       {(s1['cpu_s'] - s0['cpu_s']) / served * 1e3:8.3f} ms  (stub process)"
    )
    print(f"  achieved / offered rate    {n / wall:8.0f} / {conc / sleep:.0f} req/s\n")



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--sleep-ms", type=float, default=50.0)
    ap.add_argument(
        "--endpoints", type=int, nargs="+", default=[1, 4],
        help="numbers of stub servers to spread the requests over (default: 1 4)",
    )  # fmt: skip
    ap.add_argument("--repeat", type=int, default=3, help="runs per endpoints-table cell (median shown)")
    ap.add_argument("--skip-layers", action="store_true", help="only the endpoints table")
    ap.add_argument(
        "--variants", action="store_true", help="also time other ways to make the HTTP call"
    )
    args = ap.parse_args()
    n, conc, sleep = args.n, args.concurrency, args.sleep_ms / 1e3

    # 0. the issue-17 figure: 1 and 4 endpoints
    endpoints_table(sorted(set(args.endpoints)), n, conc, sleep, max(args.repeat, 1))
    if args.skip_layers:
        return

    procs, [url] = start_stubs(1, {"stub-sleep": sleep, "stub-fast": 0.0})
    try:
        print(
            f"stub: {url} (own process), reply after {args.sleep_ms:g} ms; {n} requests, concurrency {conc}\n"
        )

        # 1. the headline figure, for each transport of the openai backend
        for transport in ("sdk", "aiohttp", "lean"):
            headline(url, n, conc, sleep, transport)

        # 2. where the time per request goes
        noop_w, noop_c = per_request_ms(lambda: NoopBackend(settings("noop", conc)), n)
        mem_w, mem_c = per_request_ms(lambda: in_memory_openai(conc), n)
        rt_w, rt_c = per_request_ms(
            lambda: OpenAIBackend(settings("stub-fast", 1), base_url=url), n
        )
        s0 = stub_stats(url)
        cap_w, cap_c = per_request_ms(
            lambda: OpenAIBackend(settings("stub-fast", conc), base_url=url), n, warm=0
        )
        s1 = stub_stats(url)
        stub_cpu = (s1["cpu_s"] - s0["cpu_s"]) / n * 1e3
        lean_w, lean_c = per_request_ms(
            lambda: OpenAIBackend(settings("stub-fast", conc), base_url=url, transport="lean"), n, warm=0
        )
        print("per-request cost by layer (wall ms / client CPU ms)")
        print(
            f"  shared layer only (no-op backend, conc {conc})           {noop_w:7.3f} / {noop_c:6.3f}"
        )
        print(
            f"  + openai/httpx client, in-memory transport (conc {conc}) {mem_w:7.3f} / {mem_c:6.3f}"
        )
        print(
            f"  full loopback round trip, zero-sleep stub, conc 1       {rt_w:7.3f} / {rt_c:6.3f}"
        )
        print(f"  throughput ceiling, zero-sleep stub, conc {conc}          {cap_w:7.3f} / {cap_c:6.3f}"
              f"   -> {1e3 / cap_w:.0f} req/s (stub CPU {stub_cpu:.3f} ms/req)")  # fmt: skip
        print(f"  the same with transport=lean                          {lean_w:7.3f} / {lean_c:6.3f}"
              f"   -> {1e3 / lean_w:.0f} req/s")  # fmt: skip
        print(f"\n  client split: shared layer {noop_c:.3f} ms + openai/httpx {mem_c - noop_c:.3f} ms"
              f" + sockets {max(cap_c - mem_c, 0):.3f} ms of CPU per request")  # fmt: skip
        if args.variants:
            print(
                f"\nthe same {n} requests at {args.sleep_ms:g} ms, concurrency {conc}, other HTTP paths"
            )
            variants(url, n, conc, sleep)
    finally:
        stop_stubs(procs)


if __name__ == "__main__":
    main()
