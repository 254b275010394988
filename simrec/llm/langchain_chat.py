"""Any LangChain chat model (``langchain_core`` ``BaseChatModel``) as a backend.

Name the class as ``"package.module:Class"`` in ``llm.chat_model`` with its
keyword arguments in ``llm.chat_kwargs`` (e.g. ``langchain_openai:ChatOpenAI``
with ``{"model": "gpt-4o-mini"}``), or hand a ready model instance to
:class:`LangChainBackend`. Sampling settings are the model's own (set them
through ``chat_kwargs``); the reply's JSON schema is given to the model as an
instruction and validated by the shared layer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from simrec.core.errors import ConfigError
from simrec.core.registry import import_target
from simrec.llm.base import BaseBackend, Call, CallSettings
from simrec.llm.types import Completion, TransientLLMError

if TYPE_CHECKING:
    from simrec.config.schema import LLMConfig
    from simrec.llm.cache import ReplayCache
    from simrec.llm.usage import Usage

SCHEMA_HINT = "Reply with only a JSON object matching this JSON schema, and nothing else:\n{schema}"


def _estimate_tokens(text: str) -> int:
    """A rough, deterministic token count (whitespace words) for models that report none."""
    return len(text.split())


class LangChainBackend(BaseBackend):
    """Calls ``await model.ainvoke(messages)`` on a LangChain chat model.

    Args:
        settings: Shared-layer settings (``settings.model`` only names the model in the cache key).
        model: A ``langchain_core.language_models.BaseChatModel`` instance.
        schema_hint: Add the reply's JSON schema to the system message (turn off if the
            model already constrains its output, e.g. one built with ``with_structured_output``
            that still returns a message).
        cache: Replay cache.
        usage: Accounting.
    """

    name = "langchain"

    def __init__(
        self,
        settings: CallSettings,
        model: Any,
        schema_hint: bool = True,
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(settings, cache, usage)
        if not callable(getattr(model, "ainvoke", None)):
            raise ConfigError(
                f"{type(model).__name__} is not a LangChain chat model (it has no `ainvoke`). "
                "Pass a langchain_core BaseChatModel, e.g. langchain_openai.ChatOpenAI(...)."
            )
        self.model = model
        self.schema_hint = schema_hint

    @classmethod
    def from_config(
        cls, cfg: LLMConfig, settings: CallSettings, cache: ReplayCache | None, usage: Usage
    ) -> LangChainBackend:
        """From the ``llm:`` block: ``chat_model`` (``"package.module:Class"``) and ``chat_kwargs``.

        Raises:
            ConfigError: if ``chat_model`` is missing or cannot be built with ``chat_kwargs``.
            RegistryError: if ``chat_model`` cannot be imported.
        """
        if not cfg.chat_model:
            raise ConfigError(
                "llm.backend 'langchain' needs llm.chat_model, the chat model class as "
                "'package.module:Class' (e.g. 'langchain_openai:ChatOpenAI'), and its arguments in llm.chat_kwargs."
            )
        target = import_target(cfg.chat_model)
        try:
            model = target(**cfg.chat_kwargs)
        except Exception as exc:  # the model's own validation: any error type
            raise ConfigError(
                f"Cannot build llm.chat_model '{cfg.chat_model}' with llm.chat_kwargs "
                f"{sorted(cfg.chat_kwargs)}: {type(exc).__name__}: {exc}"
            ) from exc
        return cls(settings, model, cache=cache, usage=usage)

    def describe(self) -> str:
        cls = type(self.model)
        return f"LangChain {cls.__module__}.{cls.__qualname__}"

    def _messages(self, call: Call) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        msgs = [dict(m) for m in call.messages]
        if call.json_schema is not None and self.schema_hint:
            hint = SCHEMA_HINT.format(schema=json.dumps(call.json_schema, separators=(",", ":")))
            # Into the leading system message: many providers reject system messages elsewhere.
            if msgs and msgs[0]["role"] == "system":
                msgs[0]["content"] = f"{msgs[0]['content']}\n\n{hint}"
            else:
                msgs.insert(0, {"role": "system", "content": hint})
        return [kinds[m["role"]](content=m["content"]) for m in msgs]

    async def _complete(self, call: Call) -> Completion:
        messages = self._messages(call)
        try:
            reply = await self.model.ainvoke(messages)
        except Exception as exc:  # noqa: BLE001 -- a LangChain model may raise anything; retrying is the safe guess
            raise TransientLLMError(
                f"{self.describe()} failed: {type(exc).__name__}: {exc}"
            ) from None
        text = reply.content if isinstance(reply.content, str) else _content_text(reply.content)
        meta = getattr(reply, "usage_metadata", None)
        if meta:
            prompt, completion = int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
        else:
            prompt = sum(_estimate_tokens(str(m.content)) for m in messages)
            completion = _estimate_tokens(text)
        return Completion(text, prompt, completion)


def _content_text(content: Any) -> str:
    """The text parts of a multi-part message content (a list of strings and ``{"type": "text"}`` blocks)."""
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)
