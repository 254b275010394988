"""Any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, OpenAI itself)
through the official ``openai`` client.

The API key comes from ``llm.api_key`` or the environment variable named by
``llm.api_key_env`` (read by the config loader, never by this module) and is
never logged or written to a manifest.
"""

from __future__ import annotations

from typing import Any

import httpx

from simrec.llm.base import BaseBackend, Call, CallSettings
from simrec.llm.cache import ReplayCache
from simrec.llm.types import Completion, LLMUnavailable, PermanentLLMError, TransientLLMError
from simrec.llm.usage import Usage

_NO_KEY = "not-needed"  # local servers accept any key; the client insists on one


class OpenAIBackend(BaseBackend):
    """Chat completions against ``base_url`` with the reply's JSON schema as ``response_format``.

    Args:
        settings: Sampling and shared-layer settings (``settings.model`` is the served model name).
        base_url: Server URL including the API prefix, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: The key, if the server needs one.
        response_format: ``"json_schema"`` (OpenAI structured outputs; llama.cpp and vLLM
            accept it too), ``"json_object"`` (schema sent llama-cpp-python style) or ``"none"``.
        cache: Replay cache.
        usage: Accounting.
    """

    name = "openai"

    def __init__(
        self,
        settings: CallSettings,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        response_format: str = "json_schema",
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(settings, cache, usage)
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or _NO_KEY
        self.response_format = response_format
        self._client: Any = None

    @classmethod
    def from_config(cls, cfg, settings, cache, usage):  # noqa: ANN001, ANN206
        """From the ``llm:`` block: ``base_url``, ``api_key``, ``model``."""
        key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
        return cls(settings, cfg.base_url or "https://api.openai.com/v1", key, cache=cache, usage=usage)

    def describe(self) -> str:
        return f"{self.base_url} (model {self.settings.model})"

    def _client_for_loop(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            # Retries and timeouts are the shared layer's job.
            self._client = AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self.settings.timeout_s
            )
        return self._client

    def _health(self) -> None:
        url = f"{self.base_url}/models"
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            resp = httpx.get(url, headers=headers, timeout=5.0)
        except httpx.HTTPError as exc:
            raise LLMUnavailable(
                f"Cannot reach the OpenAI-compatible server at {self.base_url} ({type(exc).__name__}). "
                "Start one (e.g. `python -m llama_cpp.server --model model.gguf --port 8000`, vLLM, LM Studio) "
                "and set llm.base_url to its URL including /v1, or choose another llm.backend."
            ) from None
        if resp.status_code in (401, 403):
            raise LLMUnavailable(
                f"The server at {self.base_url} refused the API key (HTTP {resp.status_code}). "
                "Set llm.api_key or the environment variable named by llm.api_key_env."
            )
        if resp.status_code >= 500:
            raise LLMUnavailable(f"The server at {self.base_url} answered HTTP {resp.status_code} to {url}.")

    def _format(self, call: Call) -> dict[str, Any] | None:
        if call.json_schema is None or self.response_format == "none":
            return None
        if self.response_format == "json_object":
            return {"type": "json_object", "schema": call.json_schema}
        return {"type": "json_schema", "json_schema": {"name": call.schema_name, "schema": call.json_schema}}

    async def _complete(self, call: Call) -> Completion:
        import openai

        client = self._client_for_loop()
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "messages": call.messages,
            "max_tokens": call.max_tokens,
            "temperature": call.temperature,
            "top_p": call.top_p,
            "seed": call.seed,
        }
        fmt = self._format(call)
        if fmt is not None:
            kwargs["response_format"] = fmt
        try:
            resp = await client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as exc:
            raise TransientLLMError(f"timed out: {exc}", kind="timeout") from None
        except openai.APIConnectionError as exc:
            raise TransientLLMError(f"connection to {self.base_url} failed: {exc}") from None
        except openai.APIStatusError as exc:
            code = exc.status_code
            if code == 429 or code >= 500:
                raise TransientLLMError(f"HTTP {code} from {self.base_url}") from None
            raise PermanentLLMError(f"HTTP {code} from {self.base_url}: {exc.message}") from None
        text = resp.choices[0].message.content or ""
        u = resp.usage
        return Completion(text, int(u.prompt_tokens) if u else 0, int(u.completion_tokens) if u else 0)

    def close(self) -> None:
        if self._client is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.run_until_complete(self._client.close())
        super().close()
