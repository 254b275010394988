"""simrec's own HTTP/1.1 client (``llm.transport: lean``) against a loopback
server that sends scripted bytes: lengths, chunked bodies, bodies ending at the
close, interim replies, keep-alive reuse and a connection the server closed
while it was idle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from simrec.llm.fast_http import ChatHTTPError
from simrec.llm.lean_http import LeanChatClient
from simrec.llm.types import PermanentLLMError, TransientLLMError

REPLY = {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
BODY = json.dumps(REPLY).encode()


def length_reply(body: bytes = BODY, status: int = 200, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked_reply(body: bytes = BODY) -> bytes:
    half = len(body) // 2
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]))
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


async def serve(script: Callable[[int, int], tuple[bytes, bool]]) -> tuple[asyncio.AbstractServer, list[int], list[bytes]]:
    """A server answering request ``r`` on connection ``c`` with ``script(c, r)`` = (bytes, close after)."""
    conns = [0]
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c = conns[0]
        conns[0] += 1
        r = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
                seen.append(head + await reader.readexactly(n))
                out, close = script(c, r)
                r += 1
                for k in range(0, len(out), 7):  # in small pieces: the parser must wait for the rest
                    writer.write(out[k : k + 7])
                    await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, conns, seen


def run(script: Callable[[int, int], tuple[bytes, bool]], n: int = 3, pause: float = 0.0) -> tuple[list, int, list[bytes]]:
    async def main() -> tuple[list, int, list[bytes]]:
        server, conns, seen = await serve(script)
        port = server.sockets[0].getsockname()[1]
        client = LeanChatClient(f"http://127.0.0.1:{port}/v1", "sk-test", 5.0)
        out = []
        try:
            for _ in range(n):
                try:
                    out.append(await client.complete({"model": "m", "messages": []}))
                except Exception as exc:  # noqa: BLE001
                    out.append(exc)
                await asyncio.sleep(pause)
        finally:
            await client.close()
            server.close()
        return out, conns[0], seen

    return asyncio.run(main())


def test_keep_alive_reuses_one_connection_and_sends_a_proper_request() -> None:
    out, conns, seen = run(lambda c, r: (length_reply(), False))
    assert [o.text for o in out] == ["hi"] * 3 and out[0].prompt_tokens == 3 and conns == 1
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Authorization: Bearer sk-test" in head and json.loads(body) == {"model": "m", "messages": []}


def test_chunked_and_interim_replies() -> None:
    out, _, _ = run(lambda c, r: (b"HTTP/1.1 100 Continue\r\n\r\n" + chunked_reply(), False))
    assert [o.text for o in out] == ["hi"] * 3


def test_connection_close_and_a_body_ending_with_the_connection() -> None:
    def script(c: int, r: int) -> tuple[bytes, bool]:
        if c == 0:
            return length_reply(extra="Connection: close\r\n"), True
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY, True

    out, conns, _ = run(script)
    assert [o.text for o in out] == ["hi"] * 3 and conns == 3


def test_a_connection_closed_while_idle_is_replaced_once() -> None:
    # The server answers one request per connection and closes it without saying so.
    out, conns, _ = run(lambda c, r: (length_reply(), True), pause=0.05)
    assert [o.text for o in out] == ["hi"] * 3 and conns == 3


def test_error_statuses_and_nonsense() -> None:
    out, _, _ = run(lambda c, r: (length_reply(b'{"error": "busy"}', status=503), False), n=1)
    assert isinstance(out[0], ChatHTTPError) and out[0].status == 503 and "busy" in out[0].message
    out, _, _ = run(lambda c, r: (length_reply(b"<html>"), False), n=1)
    assert isinstance(out[0], PermanentLLMError) and "not JSON" in str(out[0])
    out, _, _ = run(lambda c, r: (b"SSH-2.0-OpenSSH\r\n\r\n", True), n=1)
    assert isinstance(out[0], PermanentLLMError) and "unreadable HTTP reply" in str(out[0])
    out, _, _ = run(lambda c, r: (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{", True), n=1)
    assert isinstance(out[0], TransientLLMError) and "middle of the reply" in str(out[0])


def test_refused_connection_is_transient_and_urls_are_checked() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = LeanChatClient(f"http://127.0.0.1:{port}/v1", "k", 1.0)
    with pytest.raises(TransientLLMError, match="connection to .* failed"):
        asyncio.run(client.complete({"model": "m"}))
    with pytest.raises(ValueError, match="not an http"):
        LeanChatClient("ftp://example.org/v1", "k", 1.0)
    assert "k" not in repr(LeanChatClient("https://example.org/v1", "secret-key", 1.0))


def test_a_reused_connection_dropped_before_the_reply_is_retried_on_a_new_one() -> None:
    # Connection 0 answers once, then takes the second request and closes without a byte
    # (a keep-alive timeout racing the request); the client sends it again on connection 1.
    def script(c: int, r: int) -> tuple[bytes, bool]:
        return (b"", True) if (c, r) == (0, 1) else (length_reply(), False)

    out, conns, seen = run(script, n=3)
    assert [getattr(o, "text", o) for o in out] == ["hi"] * 3 and conns == 2 and len(seen) == 4


def test_a_new_connection_dropped_before_the_reply_is_an_error() -> None:
    out, _, _ = run(lambda c, r: (b"", True), n=1)
    assert isinstance(out[0], TransientLLMError) and "closed before the reply" in str(out[0])
