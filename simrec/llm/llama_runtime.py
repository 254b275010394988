"""llama.cpp in this process: loading once per process, chat setup, a fast
grammar-constrained sampler and schema grammars (the bundled model files are
:mod:`simrec.llm.bundled`'s, llama.cpp's logs and threads :mod:`simrec.llm.llama_native`'s).

Used by :mod:`simrec.llm.llamacpp` (the backend); see its docstring for the
behaviour these pieces give.
"""


from __future__ import annotations

import atexit
import ctypes
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simrec.llm.bundled import BUNDLED_MODELS, DEFAULT_MODEL, INSTALL_HINT
from simrec.llm.llama_native import _route_native_logs
from simrec.llm.schema_utils import bounded_int_enums
from simrec.llm.types import LLMUnavailable, PermanentLLMError

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model loaded in this process, shared by every backend that uses it.

    Attributes:
        llm: The ``llama_cpp.Llama`` object.
        path: The GGUF file.
        load_s: Seconds the load took.
        merge_system: Whether system messages are folded into the first user
            turn (the chat template has no system role, as with Gemma).
        lock: Held while the model answers a call (llama.cpp contexts are not thread-safe).
    """

    llm: Any
    path: Path
    load_s: float
    merge_system: bool
    lock: threading.Lock
    _scorer: Any = None

    def scorer(self) -> Any:
        """The model's batched scorer (:class:`~simrec.llm.llama_scorer.BatchScorer`), made on first use."""
        if self._scorer is None:
            from simrec.llm.llama_scorer import BatchScorer

            self._scorer = BatchScorer(self.llm)
        return self._scorer

    def reset_scorer(self) -> None:
        """Drop the scorer (and its cached prefixes); the next call makes a fresh one."""
        if self._scorer is not None:
            self._scorer.close()
            self._scorer = None


# Prompts are evaluated in chunks of this many tokens, and a reused prefix is cut
# back to a multiple of it. Both paths then run the very same kernels on the
# very same chunks, so a reply does not depend on what the model saw before
# (llama.cpp's results shift in the last bits with the batch split, which flips
# samples). Costs ~10% of prompt throughput against 512-token chunks on CPU.
CHUNK = 64

# On a grammar rejection, resample among this many most likely tokens first.
RESAMPLE_TOP = 1024

_MODELS: dict[tuple[str, int, int, str], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
_GRAMMARS: dict[str, Any] = {}


def loaded_models() -> dict[tuple[str, int, int, str], LoadedModel]:
    """The models loaded in this process, keyed by ``(path, n_ctx, n_threads, adapter)``."""
    with _MODELS_LOCK:
        return dict(_MODELS)


def unload_models() -> None:
    """Free every loaded model (the next call loads again)."""
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    for m in models:
        with m.lock:
            m.reset_scorer()
            m.llm.close()


def _chat_setup(llm: Any) -> bool:
    """Pick the chat format for ``llm``; returns whether system turns must be merged.

    A GGUF with a chat template is formatted by it (llama-cpp-python's default).
    Gemma GGUFs without one (like the bundled 270M) get the ``gemma`` format,
    which drops system messages, so they are folded into the first user turn —
    what Gemma's own template does.
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    arch = llm.metadata.get("general.architecture", "")
    if template is None:
        if arch.startswith("gemma"):
            llm.chat_format = "gemma"
            return True
        log.warning(
            "%s has no chat template; llama-cpp-python formats prompts as '%s'. "
            "Use a GGUF that embeds its template for best results.",
            llm.model_path,
            llm.chat_format,
        )
        return False
    probe = [{"role": "system", "content": "SYSTEM-PROBE"}, {"role": "user", "content": "hi"}]
    try:
        prompt = Jinja2ChatFormatter(template, eos_token="", bos_token="")(messages=probe).prompt
    except Exception:  # noqa: BLE001 - templates raise anything (e.g. "System role not supported")
        return True
    return "SYSTEM-PROBE" not in prompt


class _GrammarLastSampler:
    """Grammar-constrained sampling that checks the grammar on few tokens, not the vocabulary.

    llama-cpp-python puts the grammar first in the sampler chain, so every token
    tests all vocabulary entries against it (262k for Gemma: ~25 ms a token, 4x
    the model's own cost). As llama.cpp's ``common_sampler`` does, this samples
    without the grammar and checks only the chosen token. When the grammar
    rejects it (often, with a base model), it resamples from the most likely
    :data:`RESAMPLE_TOP` tokens that the grammar allows, and from the whole
    vocabulary only if none is allowed. Accepted tokens are drawn from the
    grammar-constrained distribution; the resample differs from a full-vocabulary
    one only in tokens ranked beyond :data:`RESAMPLE_TOP`, which min-p and
    top-k sampling drop anyway.
    """

    def __init__(self, llm: Any, chain: Any, grammar: Any) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._c = llama_cpp
        self.chain = chain  # llama-cpp-python's LlamaSampler, built without the grammar
        self.grammar = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self.grammar:
            raise PermanentLLMError("llama.cpp rejected the grammar built from the reply schema")
        self.top = llama_cpp.llama_sampler_init_top_k(RESAMPLE_TOP)
        self.n_vocab = llm.n_vocab()
        self.cands = _internals.LlamaTokenDataArray(n_vocab=self.n_vocab)
        self.one_data = (llama_cpp.llama_token_data * 1)()
        self.one = llama_cpp.llama_token_data_array(
            data=self.one_data, size=1, selected=-1, sorted=False
        )

    def _allowed(self, token: int) -> bool:
        self.one_data[0].id, self.one_data[0].logit, self.one_data[0].p = token, 0.0, 0.0
        self.one.size, self.one.selected, self.one.sorted = 1, -1, False
        self._c.llama_sampler_apply(self.grammar, ctypes.byref(self.one))
        return bool(np.isfinite(self.one_data[0].logit))

    def _resample(self, ctx: Any, idx: int, shortlist: bool) -> int | None:
        c = self._c
        logits = np.ctypeslib.as_array(c.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        cands = self.cands
        cands.copy_logits(logits)
        cands.candidates.selected = -1
        arr = ctypes.byref(cands.candidates)
        if shortlist:
            c.llama_sampler_apply(self.top, arr)
        c.llama_sampler_apply(self.grammar, arr)
        cands.candidates.sorted = False  # the grammar put -inf among the sorted shortlist
        if (
            shortlist
            and not np.isfinite(cands.candidates_data.logit[: cands.candidates.size]).any()
        ):
            return None
        c.llama_sampler_apply(self.chain.sampler, arr)
        return int(cands.candidates_data.id[cands.candidates.selected])

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """Sample the next token (llama-cpp-python's ``LlamaSampler.sample`` interface)."""
        c = self._c
        # Samples with the chain and accepts the token into it (the penalty history; a no-op here).
        token = c.llama_sampler_sample(self.chain.sampler, ctx.ctx, idx)
        if not self._allowed(token):
            token = self._resample(ctx, idx, shortlist=True)
            if token is None:
                token = self._resample(ctx, idx, shortlist=False)
        c.llama_sampler_accept(self.grammar, token)
        return token

    def close(self) -> None:
        """Free the native samplers."""
        if self.grammar:
            self._c.llama_sampler_free(self.grammar)
            self._c.llama_sampler_free(self.top)
            self.grammar = self.top = None
        self.chain.close()

    def __del__(self) -> None:
        self.close()


_LLAMA_CLASS: list[type] = []


def _llama_class() -> type:
    """``llama_cpp.Llama`` with chunk-aligned prefix reuse and grammar-last sampling."""
    if _LLAMA_CLASS:
        return _LLAMA_CLASS[0]
    from llama_cpp import Llama

    class SimrecLlama(Llama):  # type: ignore[misc]
        _exact_until = 0  # KV positions below this were computed as whole prompt chunks
        _score_prefix: tuple[int, ...] | None = None  # the prefix a scoring call evaluated last

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            tokens = list(tokens)
            self._score_prefix = None  # generation overwrites the KV cache past what it reuses
            if kwargs.get("reset", True):
                if self.n_tokens > 0:
                    # Reuse only whole chunks of an earlier prompt: generated tokens were
                    # evaluated one at a time, a trailing partial chunk in a smaller batch.
                    limit = min(self.n_tokens, self._exact_until, len(tokens) - 1)
                    common = 0
                    for a, b in zip(self.input_ids[:limit], tokens[:limit]):
                        if a != b:
                            break
                        common += 1
                    # Llama.generate then reuses exactly the first n_tokens (they all match).
                    self.n_tokens = common // CHUNK * CHUNK
                self._exact_until = len(tokens) // CHUNK * CHUNK
            return super().generate(tokens, *args, **kwargs)

        def _init_sampler(self, *args: Any, grammar: Any = None, **kwargs: Any) -> Any:
            if grammar is None:
                return super()._init_sampler(*args, **kwargs)
            chain = super()._init_sampler(*args, grammar=None, **kwargs)
            try:
                return _GrammarLastSampler(self, chain, grammar)
            except (
                AttributeError,
                ImportError,
                TypeError,
            ) as exc:  # llama-cpp-python internals moved
                log.debug("grammar-last sampling unavailable (%s); using llama-cpp-python's", exc)
                chain.close()
                return super()._init_sampler(*args, grammar=grammar, **kwargs)

    _LLAMA_CLASS.append(SimrecLlama)
    return SimrecLlama


def load_model(path: Path, n_ctx: int, n_threads: int, adapter: Path | None = None) -> LoadedModel:
    """The shared model for ``(path, n_ctx, n_threads, adapter)``, loading it on first use.

    ``adapter`` is a LoRA adapter GGUF applied at load (llama-cpp-python's ``lora_path``).

    Raises:
        LLMUnavailable: if llama-cpp-python is missing or the file cannot be loaded.
    """
    key = (str(path), n_ctx, n_threads, str(adapter) if adapter is not None else "")
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        try:
            import llama_cpp
        except ImportError:
            raise LLMUnavailable(
                f"llama-cpp-python is not installed; the llamacpp backend needs it: `{INSTALL_HINT}`."
            ) from None
        if not path.is_file():
            raise LLMUnavailable(_missing_gguf(path))
        _route_native_logs(llama_cpp)
        if not _MODELS:
            # Free models before interpreter teardown: a Llama collected after llama_cpp's
            # module globals are gone raises in its __del__.
            atexit.unregister(unload_models)
            atexit.register(unload_models)
        start = time.perf_counter()
        try:
            llm = _llama_class()(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=CHUNK,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                # flash attention off: on 2 busy cores it made each generated token ~20x
                # slower here (SmolLM2 BF16: 25 ms without, 554 ms with, while another job
                # ran); on idle cores it is ~20% faster (8.7 against 10.6 ms)
                flash_attn=False,
                verbose=False,
                **({"lora_path": str(adapter)} if adapter is not None else {}),
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMUnavailable(
                f"llama.cpp could not load {path} ({exc}). Check that it is a GGUF file this "
                "llama-cpp-python version supports, or upgrade with "
                f"`pip install -U llama-cpp-python`."
            ) from None
        if adapter is not None:
            from simrec.llm.lora_gguf import check_lora_loaded

            try:
                check_lora_loaded(llm)  # llama-cpp-python carries on without a refused adapter
            except ValueError as exc:
                llm.close()
                raise LLMUnavailable(
                    f"llama.cpp refused the LoRA adapter {adapter} ({exc}); make it again with "
                    "`simrec tune SCENARIO` for this model."
                ) from None
        model = LoadedModel(
            llm, path, time.perf_counter() - start, _chat_setup(llm), threading.Lock()
        )
        _MODELS[key] = model
        log.info(
            "loaded %s in %.2f s (n_ctx=%d, n_threads=%d)", path, model.load_s, n_ctx, n_threads
        )
        return model


def _missing_gguf(path: Path) -> str:
    return (
        f"The GGUF model file {path} does not exist. Set llm.model to the path of a .gguf file, "
        f"or use a bundled model: {', '.join(BUNDLED_MODELS)} (unset: {DEFAULT_MODEL})."
    )


def _grammar(schema: dict[str, Any]) -> Any:
    """The llama.cpp grammar for a JSON schema (built once per schema)."""
    # Property order is kept: the model writes fields in the order the schema declares them.
    text = json.dumps(schema)
    grammar = _GRAMMARS.get(text)
    if grammar is None:
        from llama_cpp import LlamaGrammar

        try:
            grammar = LlamaGrammar.from_json_schema(
                json.dumps(bounded_int_enums(schema)), verbose=False
            )
        except Exception as exc:  # noqa: BLE001 - the converter raises bare Exceptions
            raise PermanentLLMError(
                f"llama.cpp cannot turn the reply schema into a grammar ({exc}); "
                "simplify the pydantic model (plain objects, lists, numbers, strings, enums)."
            ) from None
        _GRAMMARS[text] = grammar
    return grammar

