"""A loopback stub LLM server for tests: real sockets, HTTP/1.1 keep-alive, one
background thread with its own event loop per server.

It speaks enough of both wire formats for the ``openai`` backend
(``GET /v1/models``, ``POST /v1/chat/completions``, scoring calls with
``logprobs`` included) and the ``ollama`` backend
(``GET /api/tags``, ``POST /api/chat``), answers every chat with :data:`REPLY`
after ``delay_s``, and can die mid-run (``die_after``: the next chat after that
many drops every connection and stops listening) and come back on the same port
(:meth:`StubServer.revive`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

REPLY = '{"watch": [3, 1], "leave": false}'


@dataclass
class InFlight:
    """Chats in flight over a group of stubs (to check one concurrency limit covers them all)."""

    now: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def _openai_body(model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 24, "completion_tokens": 12, "total_tokens": 36},
    }).encode()  # fmt: skip


#: What a scoring call (``logprobs``) gets: the first token's alternatives.
TOP_LOGPROBS = [{"token": t, "logprob": lp} for t, lp in
                (("yes", -0.4), ("no", -1.2), ("4", -0.9), ("3", -1.3), ("5", -1.6), ("2", -2.5), ("1", -3.0))]  # fmt: skip


def _scored_body(model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"}, "finish_reason": "length",
                     "logprobs": {"content": [{"token": "yes", "logprob": -0.4, "top_logprobs": TOP_LOGPROBS}]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
    }).encode()  # fmt: skip


def _ollama_body(model: str) -> bytes:
    return json.dumps({
        "model": model, "created_at": "2025-01-01T00:00:00.000000Z",
        "message": {"role": "assistant", "content": REPLY}, "done": True, "done_reason": "stop",
        "prompt_eval_count": 17, "eval_count": 9,
    }).encode()  # fmt: skip


def _tags() -> bytes:
    return json.dumps({"models": [{"name": "tiny:latest", "model": "tiny:latest", "size": 1,
                                   "digest": "sha256:" + "0" * 64, "modified_at": "2025-01-01T00:00:00Z"}]}).encode()  # fmt: skip


def _response(code: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class StubServer:
    """One stub server on ``127.0.0.1`` (a free port unless ``port`` is given).

    Args:
        delay_s: How long each chat takes.
        die_after: Die when a chat arrives after this many have (``None``: never).
        status: Answer chats with this HTTP status instead of 200 (e.g. 503).
        in_flight: A shared counter of chats in flight (several stubs may share one).
    """

    def __init__(
        self,
        delay_s: float = 0.0,
        die_after: int | None = None,
        status: int = 200,
        in_flight: InFlight | None = None,
    ) -> None:
        self.delay_s = delay_s
        self.die_after = die_after
        self.status = status
        self.in_flight = in_flight or InFlight()
        self.chats = 0  # chats answered
        self.received = 0  # chats that arrived
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._run(self._listen())

    # -- control (from the test's thread) -----------------------------------
    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self._server is not None

    def kill(self) -> None:
        """Drop every connection and stop listening (connections are then refused)."""
        self._run(self._die())

    def revive(self, die_after: int | None = None) -> None:
        """Listen again on the same port."""
        self.die_after = None if die_after is None else self.received + die_after
        self._run(self._listen())

    def close(self) -> None:
        """Kill the server and end its thread."""
        self.kill()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- the server (on its own loop) ---------------------------------------
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _die(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                length = 0
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if method == "POST" and path in ("/v1/chat/completions", "/api/chat"):
                    if self.die_after is not None and self.received >= self.die_after:
                        await self._die()
                        return
                    self.received += 1
                    self.in_flight.enter()
                    try:
                        await asyncio.sleep(self.delay_s)
                    finally:
                        self.in_flight.leave()
                    if not self.alive:
                        return  # killed while this chat was in flight
                    sent = json.loads(body)
                    model = sent["model"]
                    if self.status != 200:
                        out = _response(self.status, b'{"error": "stub failure"}')
                    else:
                        self.chats += 1
                        if not path.startswith("/v1"):
                            reply = _ollama_body(model)
                        else:
                            reply = _scored_body(model) if sent.get("logprobs") else _openai_body(model)
                        out = _response(200, reply)
                elif method == "GET" and path == "/v1/models":
                    out = _response(200, b'{"object": "list", "data": [{"id": "tiny", "object": "model"}]}')
                elif method == "GET" and path == "/api/tags":
                    out = _response(200, _tags())
                else:
                    out = _response(404, b'{"error": "not found"}')
                writer.write(out)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
