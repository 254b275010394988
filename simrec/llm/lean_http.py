"""The leanest path to an OpenAI-compatible server (``llm.transport: lean``):
a minimal HTTP/1.1 client on ``asyncio`` protocols, no dependency.

It POSTs ``/chat/completions`` bodies over keep-alive connections (one request
at a time on each; a pool of idle ones per server) and reads replies with a
``Content-Length``, chunked, or ending at the close of the connection. Against
a fast local server it costs about half the client CPU per request of the
aiohttp path (:mod:`simrec.llm.fast_http`) and a fifteenth of the official SDK's
(``benchmarks/llm_orchestration.py`` measures all three); most of what is left
is the kernel's work of sending on a socket. Status codes reach the backend as :class:`~simrec.llm.fast_http.ChatHTTPError`,
exactly as on the aiohttp path. ``https://`` URLs use the system's certificates.

Timeouts are the shared layer's: a call cancelled mid-reply closes its
connection, which is never reused. A reused connection that the server had
closed while it was idle (uvicorn closes them after 5 s) is replaced once,
transparently.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from simrec.llm.fast_http import ChatHTTPError, completion_of
from simrec.llm.types import Completion, PermanentLLMError, TransientLLMError

_MAX_HEAD = 64 * 1024  # bytes of status line and headers a reply may have


class _Stale(ConnectionError):
    """The connection closed before any byte of the reply came back."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._head: tuple[int, int | None, bool, bool] | None = None  # status, length, chunked, keep-alive
        self._got = False

    # -- asyncio.Protocol ----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._got = True
        self._buf += data
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            done = self._parse()
        except ValueError as exc:
            self._waiter.set_exception(PermanentLLMError(f"unreadable HTTP reply ({exc})"))
            self.close()
            return
        if done is not None:
            self._waiter.set_result(done)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        head = self._head
        if head is not None and head[1] is None and not head[2]:  # the body ends with the connection
            waiter.set_result((head[0], bytes(self._buf), False))
        elif not self._got:
            waiter.set_exception(_Stale("the connection closed before the reply"))
        else:
            waiter.set_exception(ConnectionError("the connection closed in the middle of the reply"))

    # -- requests ------------------------------------------------------------
    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        """Send ``data`` (a whole request); the future gets (status, body, keep-alive)."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._buf.clear()
        self._head, self._got = None, False
        self.transport.write(data)
        return self._waiter

    def close(self) -> None:
        """Close the connection (it is not reused)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> tuple[int, bytes, bool] | None:
        """The reply, once all of it is in; ``None`` until then. Raises ``ValueError`` on nonsense."""
        buf = self._buf
        while self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise ValueError("headers too long")
                return None
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/"):
                raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
            status = int(rest[:3])
            if 100 <= status < 200:
                continue  # an interim reply (100 Continue): the real one follows
            length, chunked, conn = None, False, ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                elif name == "connection":
                    conn = value.strip().lower()
            keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
            if status in (204, 304):
                length = 0
            self._head = (status, None if chunked else length, chunked, keep)
        status, length, chunked, keep = self._head
        if chunked:
            body = _dechunk(buf)
            if body is None:
                return None
            return status, body, keep
        if length is None:
            return None  # until the connection closes
        if len(buf) < length:
            return None
        return status, bytes(buf[:length]), keep and len(buf) == length


def _dechunk(buf: bytearray) -> bytes | None:
    """The body of a complete chunked message in ``buf``, or ``None`` if more is to come."""
    out = bytearray()
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)  # trailers, if any, end with an empty line
            return bytes(out) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


class LeanChatClient:
    """POSTs ``/chat/completions`` bodies over pooled keep-alive HTTP/1.1 connections.

    Args:
        base_url: Server URL including the API prefix (``http(s)://host:port/v1``).
        api_key: Bearer key (never logged).
        timeout_s: Kept for the interface of :class:`~simrec.llm.fast_http.FastChatClient`;
            the shared layer's timeout covers each call.

    Raises:
        ValueError: if ``base_url`` is not an ``http://`` or ``https://`` URL.
    """

    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.timeout_s = timeout_s
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        netloc = parts.netloc.rsplit("@", 1)[-1]
        self._head = (
            f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {netloc}\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
            "Accept: application/json\r\nUser-Agent: simrec\r\nContent-Length: "
        ).encode()
        self._idle: list[_Conn] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never the key
        return f"LeanChatClient({self.url!r})"

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Send one chat completion request and return its text and token counts."""
        return completion_of(await self.complete_raw(body), self.url)

    async def complete_raw(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one chat completion request and return the decoded JSON reply."""
        payload = json.dumps(body).encode()
        request = b"%s%d\r\n\r\n%s" % (self._head, len(payload), payload)
        for fresh_only in (False, True):
            conn, reused = await self._acquire(fresh_only)
            try:
                status, data, keep = await conn.request(request)
            except _Stale:
                conn.close()
                if reused and not fresh_only:
                    continue  # the server had closed it while idle: once more on a new one
                raise TransientLLMError(f"connection to {self.url} failed: closed before the reply") from None
            except ConnectionError as exc:
                conn.close()
                raise TransientLLMError(f"connection to {self.url} failed: {exc}") from None
            except BaseException:  # cancelled (a timeout) or worse: the connection is out of step
                conn.close()
                raise
            if keep and not conn.closed:
                self._idle.append(conn)
            else:
                conn.close()
            break
        if status >= 400:
            raise ChatHTTPError(status, data[:500].decode(errors="replace"))
        try:
            reply = json.loads(data)
        except ValueError:
            raise PermanentLLMError(f"{self.url} answered with something that is not JSON") from None
        if not isinstance(reply, dict):
            raise PermanentLLMError(f"{self.url} answered with something that is not a chat completion")
        return reply

    async def _acquire(self, fresh_only: bool) -> tuple[_Conn, bool]:
        """An idle connection (and ``True``), or a new one (and ``False``)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that made them
            self._drop_idle()
            self._loop = loop
        while self._idle and not fresh_only:
            conn = self._idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn, True
        try:
            _, conn = await loop.create_connection(
                _Conn, self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None
            )
        except OSError as exc:
            raise TransientLLMError(f"connection to {self.url} failed: {type(exc).__name__}: {exc}") from None
        return conn, False

    def _drop_idle(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def close(self) -> None:
        """Close the idle connections."""
        self._drop_idle()
