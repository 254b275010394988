"""A lean HTTP path for OpenAI-compatible chat completions (``llm.transport: aiohttp``).

The official ``openai`` client costs about 2 ms of CPU per request on a small
machine (it walks every request's parameters, JSON schema included, and its
HTTP stack is heavy), which caps a 2-core client at a few hundred requests per
second. Against a fast local server (vLLM, llama.cpp) that, not the server, is
the bottleneck. This path speaks the same wire protocol with one pooled
``aiohttp`` session and costs a fraction of that; status codes map onto the
shared layer's transient/permanent errors exactly as the SDK path does
(:class:`ChatHTTPError` carries the status to the backend, which maps it).
``llm.transport: lean`` (:mod:`simrec.llm.lean_http`) goes further, without aiohttp.
"""

from __future__ import annotations

import json
from typing import Any

from simrec.llm.types import Completion, PermanentLLMError, TransientLLMError


def completion_of(data: dict[str, Any], url: str) -> Completion:
    """The text and token counts of a decoded chat completion reply from ``url``.

    Raises:
        PermanentLLMError: if ``data`` is not a chat completion.
    """
    try:
        text = data["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise PermanentLLMError(f"{url} answered with something that is not a chat completion") from None
    usage = data.get("usage") or {}
    return Completion(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


class ChatHTTPError(Exception):
    """The server answered with an error status (mapped onto retry/no-retry by the caller)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class FastChatClient:
    """POSTs ``/chat/completions`` bodies with a pooled aiohttp session (created lazily).

    Args:
        base_url: Server URL including the API prefix (``.../v1``).
        api_key: Bearer key (never logged).
        timeout_s: Total timeout per request (the shared layer also enforces one).
        limit: Connection pool size.
    """

    def __init__(self, base_url: str, api_key: str, timeout_s: float, limit: int = 256) -> None:
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.timeout_s = timeout_s
        self.limit = limit
        self._session: Any = None

    async def _get_session(self) -> Any:
        if self._session is None or self._session.closed:
            try:
                import aiohttp
            except ImportError:
                raise PermanentLLMError(
                    "llm.transport 'aiohttp' needs the aiohttp package: pip install aiohttp "
                    "(or use llm.transport: sdk)."
                ) from None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                json_serialize=json.dumps,
            )
        return self._session

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Send one chat completion request and return its text and token counts."""
        return completion_of(await self.complete_raw(body), self.url)

    async def complete_raw(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one chat completion request and return the decoded JSON reply."""
        import aiohttp

        session = await self._get_session()
        try:
            async with session.post(self.url, data=json.dumps(body), headers=self._headers) as resp:
                status = resp.status
                payload = await resp.read()
        except TimeoutError as exc:
            raise TransientLLMError(f"timed out: {exc}", kind="timeout") from None
        except aiohttp.ClientError as exc:
            raise TransientLLMError(f"connection to {self.url} failed: {type(exc).__name__}") from None
        if status >= 400:
            raise ChatHTTPError(status, payload[:500].decode(errors="replace"))
        try:
            data = json.loads(payload)
        except ValueError:
            raise PermanentLLMError(f"{self.url} answered with something that is not JSON") from None
        if not isinstance(data, dict):
            raise PermanentLLMError(f"{self.url} answered with something that is not a chat completion")
        return data

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
