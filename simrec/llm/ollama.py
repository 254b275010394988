"""A local or remote Ollama server through the official ``ollama`` client.

The reply's JSON schema goes to Ollama as ``format`` (Ollama constrains
decoding to it); seed, temperature, top-p and the completion cap go in
``options``. Token counts come from the server's ``prompt_eval_count`` and
``eval_count``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from simrec.core.errors import ConfigError
from simrec.llm.base import BaseBackend, Call, CallSettings
from simrec.llm.endpoints import EndpointPool, Unreachable
from simrec.llm.types import Completion, LLMUnavailable, PermanentLLMError, TransientLLMError

if TYPE_CHECKING:
    from simrec.config.schema import LLMConfig
    from simrec.llm.cache import ReplayCache
    from simrec.llm.usage import Usage

log = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"
_HEALTH_TIMEOUT_S = 5.0


def _with_tag(name: str) -> str:
    """``llama3.2`` → ``llama3.2:latest`` (Ollama's own default tag); tagged names unchanged."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class OllamaBackend(BaseBackend):
    """Chat calls to an Ollama server, with the reply's JSON schema as ``format``.

    Args:
        settings: Sampling and shared-layer settings (``settings.model`` is the Ollama model
            name, e.g. ``llama3.2`` or ``qwen2.5:0.5b``).
        host: Server URL, e.g. ``http://127.0.0.1:11434``.
        cache: Replay cache.
        usage: Accounting.
        servers: Several Ollama servers with the same model, used instead of ``host``: each
            call goes to the least busy one that is up, and a server that fails is skipped for
            a while and its calls re-sent to another (:class:`~simrec.llm.endpoints.EndpointPool`).
            Concurrency and budget stay one limit over all of them.
        revive_s: With ``servers``: how long a failed server is skipped before it is tried again.
    """

    name = "ollama"

    def __init__(
        self,
        settings: CallSettings,
        host: str = DEFAULT_HOST,
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
        servers: Sequence[str] | None = None,
        revive_s: float = 2.0,
    ) -> None:
        super().__init__(settings, cache, usage)
        hosts = [h.rstrip("/") for h in servers] if servers else [(host or DEFAULT_HOST).rstrip("/")]
        self.host = hosts[0]
        #: Several servers: the pool that routes between them (``None`` with one).
        self.pool = (
            EndpointPool(hosts, settings.timeout_s, revive_s, stats=self.usage.servers) if len(hosts) > 1 else None
        )
        self._client: Any = None  # the first server's client
        self._clients: dict[str, Any] = {}  # the other servers' clients
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_config(
        cls, cfg: LLMConfig, settings: CallSettings, cache: ReplayCache | None, usage: Usage
    ) -> OllamaBackend:
        """From the ``llm:`` block: ``host`` and ``model`` (required).

        Raises:
            ConfigError: if ``llm.model`` is not set.
        """
        if not cfg.model:
            raise ConfigError(
                "llm.backend 'ollama' needs llm.model, the name of a model the Ollama server has "
                "(e.g. `llm.model=llama3.2`; `ollama list` shows them, `ollama pull <model>` fetches one)."
            )
        return cls(settings, cfg.host, cache, usage, servers=cfg.servers)

    @property
    def hosts(self) -> list[str]:
        """Every server calls go to (one unless ``servers`` listed several)."""
        return self.pool.urls if self.pool is not None else [self.host]

    def describe(self) -> str:
        where = self.pool.describe() if self.pool is not None else self.host
        return f"Ollama at {where} (model {self.settings.model})"

    def _call_timeout_s(self) -> float | None:
        # With several servers the pool limits each server's try, so a timed-out call can move on.
        return None if self.pool is not None else self.settings.timeout_s

    # -- health -------------------------------------------------------------
    def _health(self) -> None:
        if self.pool is None:
            self._health_of(self.host)
        else:
            self.pool.check_health(self._health_of, "Ollama servers")

    def _health_of(self, host: str) -> None:
        """Check one server (raises :class:`Unreachable` if nothing answers, else ``LLMUnavailable``)."""
        url = f"{host}/api/tags"
        key = "llm.host" if self.pool is None else "llm.servers"
        try:
            resp = httpx.get(url, timeout=_HEALTH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"Cannot reach the Ollama server at {host} ({type(exc).__name__} on GET {url}). "
                f"Start Ollama with `ollama serve`, or set {key} to where it runs."
            ) from None
        if resp.status_code != 200:
            raise LLMUnavailable(
                f"The server at {host} answered HTTP {resp.status_code} to GET {url}; "
                f"is it an Ollama server? Set {key} to the Ollama URL (default http://127.0.0.1:11434)."
            )
        try:
            models = resp.json().get("models") or []
            names = {_with_tag(str(m.get("model") or m.get("name"))) for m in models}
        except (ValueError, AttributeError):
            raise LLMUnavailable(
                f"The server at {host} did not answer GET {url} like Ollama does. "
                f"Set {key} to the Ollama URL (default http://127.0.0.1:11434)."
            ) from None
        model = self.settings.model
        if _with_tag(model) not in names:
            have = ", ".join(sorted(names)) or "none"
            raise LLMUnavailable(
                f"The Ollama server at {host} does not have model '{model}' (it has: {have}). "
                f"Run `ollama pull {model}`, or set llm.model to one of those."
            )

    # -- calls --------------------------------------------------------------
    def _client_for_loop(self, host: str | None = None) -> Any:
        """The async client of ``host`` (default: the first server), made for the running loop
        (an httpx client is bound to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:
            self._client, self._clients, self._client_loop = None, {}, loop
        host = host or self.host
        client = self._client if host == self.host else self._clients.get(host)
        if client is None:
            from ollama import AsyncClient

            # The shared layer owns timeouts; the client's is only a backstop.
            client = AsyncClient(host=host, timeout=self.settings.timeout_s + 5.0)
            if host == self.host:
                self._client = client
            else:
                self._clients[host] = client
        return client

    def _options(self, call: Call) -> dict[str, Any]:
        return {
            "temperature": call.temperature,
            "top_p": call.top_p,
            "seed": call.seed,
            "num_predict": call.max_tokens,
        }

    async def _complete(self, call: Call) -> Completion:
        if self.pool is None:
            return await self._chat(call, self.host)
        return await self.pool.call(lambda ep: self._chat(call, ep.url))

    async def _chat(self, call: Call, host: str) -> Completion:
        """One chat call to ``host``."""
        import ollama

        client = self._client_for_loop(host)
        model = self.settings.model
        try:
            resp = await client.chat(
                model=model,
                messages=call.messages,
                format=call.json_schema,
                options=self._options(call),
                stream=False,
            )
        except ollama.ResponseError as exc:
            code = exc.status_code
            if code == 429 or code >= 500 or code < 0:
                raise TransientLLMError(
                    f"HTTP {code} from Ollama at {host}: {exc.error}"
                ) from None
            if code == 404:
                raise PermanentLLMError(
                    f"Ollama at {host} has no model '{model}' ({exc.error}). Run `ollama pull {model}`."
                ) from None
            raise PermanentLLMError(
                f"HTTP {code} from Ollama at {host}: {exc.error}"
            ) from None
        except httpx.TimeoutException as exc:
            raise TransientLLMError(
                f"Ollama at {host} timed out: {type(exc).__name__}", kind="timeout"
            ) from None
        except (ConnectionError, httpx.TransportError) as exc:
            # The client turns httpx.ConnectError into the builtin ConnectionError.
            raise TransientLLMError(f"connection to Ollama at {host} failed: {exc}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # the client could not read the reply
            raise PermanentLLMError(
                f"Ollama at {host} sent a reply that is not a chat response ({type(exc).__name__})"
            ) from None
        return _reply(resp, host)

    def close(self) -> None:
        """Close the HTTP clients, then the loop and the cache."""
        clients, loop = [self._client, *self._clients.values()], self._client_loop
        self._client, self._clients, self._client_loop = None, {}, None
        if loop is not None and loop is self._loop and not loop.is_closed():
            for client in clients:
                if client is not None:
                    self.on_own_loop(client.close)
        super().close()



def _count(value: Any) -> int:
    """A token count as the server sent it, or 0 where it sent none or nonsense."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else 0


def _reply(resp: Any, host: str) -> Completion:
    """The text and token counts of an Ollama chat response.

    Raises:
        PermanentLLMError: the response holds no text message.
    """
    message = getattr(resp, "message", None)
    text = getattr(message, "content", None)
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise PermanentLLMError(f"Ollama at {host} sent a message whose content is not text")
    return Completion(text, _count(getattr(resp, "prompt_eval_count", None)), _count(getattr(resp, "eval_count", None)))
