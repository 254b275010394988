"""Prompts as llama.cpp sees them, and scoring calls answered one at a time.

:func:`split_prompt` formats a chat with the model's own template and cuts it into
the shared prefix and the question; :func:`choice_tokens` gives each choice's
first-token ids; :func:`score_choices` scores one call on the backend's main
context (the batched path is :mod:`simrec.llm.llama_scorer`).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from simrec.llm.llama_runtime import CHUNK, LoadedModel
from simrec.llm.schema_utils import merge_system
from simrec.llm.types import PermanentLLMError

_FORMATTERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_PREFIXES: OrderedDict[tuple[str, str, bool], list[int]] = OrderedDict()
_PREFIXES_KEPT = 512


def _formatter(llm: Any) -> Any:
    """``llm``'s chat formatter, compiled once per loaded model (compiling the Jinja template
    took a tenth of a page decision's time)."""
    key = llm._model
    if key not in _FORMATTERS:
        from llama_cpp import llama_chat_format as fmt

        template = llm.metadata.get("tokenizer.chat_template")
        if template is None:
            if llm.chat_format != "gemma":
                raise PermanentLLMError(f"{llm.model_path} has no chat template; scoring needs one")
            _FORMATTERS[key] = lambda messages: fmt.format_gemma(messages=messages)
        else:
            model = llm._model
            eos = model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else ""
            bos = model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else ""
            _FORMATTERS[key] = fmt.Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
    return _FORMATTERS[key]


def format_prompt(llm: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text ``llm``'s chat format makes of ``messages`` (with the assistant's turn opened)."""
    return _formatter(llm)(messages=messages).prompt


def _prefix_tokens(llm: Any, head: str, add_bos: bool) -> list[int]:
    """The tokens of a prefix text, kept for the last few hundred prefixes (a page's
    questions share one)."""
    key = (str(llm.model_path), head, add_bos)
    if key in _PREFIXES:
        _PREFIXES.move_to_end(key)
        return _PREFIXES[key]
    toks = llm.tokenize(head.encode("utf-8"), add_bos=add_bos, special=True)
    _PREFIXES[key] = toks
    if len(_PREFIXES) > _PREFIXES_KEPT:
        _PREFIXES.popitem(last=False)
    return toks


def split_prompt(llm: Any, messages: list[dict[str, str]], question: str) -> tuple[list[int], list[int]]:
    """The tokens of the shared prefix (everything before ``question``, the last message's
    own text) and of the rest of the formatted prompt."""
    text = format_prompt(llm, messages)
    at = text.rfind(question) if question else -1
    if at < 0:
        raise PermanentLLMError("the chat template drops the question; cannot score")
    head, tail = text[:at], text[at:]
    add_bos = str(llm.metadata.get("tokenizer.ggml.add_bos_token", "true")).lower() != "false"
    bos_text = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
    add_bos = add_bos and not (bos_text and head.startswith(bos_text))
    prefix = list(_prefix_tokens(llm, head, add_bos))
    rest = llm.tokenize(tail.encode("utf-8"), add_bos=False, special=True)
    return prefix, rest


_CHOICE_TOKENS: dict[tuple[str, tuple[str, ...]], list[list[int]]] = {}


def choice_tokens(llm: Any, choices: tuple[str, ...]) -> list[list[int]]:
    """For each choice, the first tokens of the ways a reply may begin with it (case, a space)."""
    key = (str(llm.model_path), choices)
    if key not in _CHOICE_TOKENS:
        out = []
        for c in choices:
            ids = set()
            for v in {c, c.lower(), c.capitalize(), c.upper()}:
                for text in (v, " " + v):
                    toks = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                    piece = llm.detokenize(toks[:1]).decode("utf-8", "replace").strip() if toks else ""
                    if piece and v.lower().startswith(piece.lower()):  # not a bare space token
                        ids.add(int(toks[0]))
            out.append(sorted(ids))
        flat = [t for ids in out for t in ids]
        if len(flat) != len(set(flat)):
            raise PermanentLLMError(f"the choices {choices} share a first token; reword them")
        _CHOICE_TOKENS[key] = out
    return _CHOICE_TOKENS[key]


def score_choices(
    model: LoadedModel, messages: list[dict[str, str]], choices: tuple[str, ...]
) -> tuple[list[float], int, int]:
    """The log-probability of each choice as the first word of the reply to ``messages``.

    The prefix (everything before the last message's text) is evaluated from an empty
    cache in whole chunks, and reused as long as the next call shares it exactly; the
    rest is evaluated after it. A score thus depends only on its own prompt, never on
    the calls before it. Call with ``model.lock`` held.

    Returns:
        ``(log-probabilities normalised over the choices, prompt tokens, tokens evaluated)``.
    """
    llm = model.llm
    question = messages[-1]["content"]
    if model.merge_system:
        messages = merge_system(messages)
    prefix, rest = split_prompt(llm, messages, question)
    if len(prefix) + len(rest) >= llm.n_ctx():
        raise PermanentLLMError(f"the prompt ({len(prefix) + len(rest)} tokens) exceeds the context window")
    evaluated = 0
    if llm._score_prefix != tuple(prefix):
        llm.reset()
        llm._ctx.kv_cache_clear()
        llm.eval(prefix)
        evaluated += len(prefix)
        llm._score_prefix = tuple(prefix)
    llm.n_tokens = len(prefix)
    llm.eval(rest)
    evaluated += len(rest)
    llm._exact_until = len(prefix) // CHUNK * CHUNK  # what a later generation may reuse exactly
    import llama_cpp

    raw = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)  # the last evaluated token's
    logits = np.ctypeslib.as_array(raw, shape=(llm.n_vocab(),)).astype(np.float64)
    top = logits.max()
    logp = logits - (top + np.log(np.exp(logits - top).sum()))
    per = [float(np.logaddexp.reduce(logp[ids])) for ids in choice_tokens(llm, choices)]
    m = max(per)
    total = m + float(np.log(sum(np.exp(v - m) for v in per)))
    return [v - total for v in per], len(prefix) + len(rest), evaluated
