"""Batched next-word scoring on llama.cpp: many questions that share prefixes, one decode.

A :class:`BatchScorer` owns a llama.cpp context of its own on the loaded model's
weights (nothing is loaded twice), with many sequences in one KV cache:

* **Prefix slots.** Each distinct prefix (the system message and persona of a
  user) is evaluated once, alone, from an empty sequence, in whole chunks, and
  kept in a slot; the least recently used slot is dropped when all are taken. A
  user's prefix thus serves every page of their session, not only one page.
* **Questions in one batch.** Each question gets a scratch sequence that shares
  its prefix's cache cells (``llama_memory_seq_cp``: no copy); all questions of a
  call go into as few decodes as the batch size allows, and the last token's
  logits of each are read. Scratch sequences are dropped afterwards.

A question's score depends only on its prefix and its own tokens (attention is
masked per sequence); the prefix is always computed the same way, so a rerun
with the same calls gives the same scores.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simrec.llm.types import PermanentLLMError

#: Prefix tokens are evaluated in chunks of this many (as the backend's prompts are).
CHUNK = 64


@dataclass(frozen=True)
class ScoreJob:
    """One question: its prefix and rest as token ids, and each choice's first-token ids."""

    prefix: tuple[int, ...]
    rest: tuple[int, ...]
    choices: tuple[tuple[int, ...], ...]


class BatchScorer:
    """Scores :class:`ScoreJob` s on ``llm``'s weights in a many-sequence context of its own.

    Args:
        llm: A loaded ``llama_cpp.Llama`` (its model, adapter and thread settings are used).
        slots: Prefixes kept at once.
        n_ctx: Cache cells shared by every slot and scratch sequence.
        n_batch: Tokens per decode.
        max_questions: Scratch sequences (questions answered per decode at most).
    """

    def __init__(self, llm: Any, slots: int = 32, n_ctx: int = 8192, n_batch: int = 512, max_questions: int = 32) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._c = llama_cpp
        self.llm = llm
        self.slots = slots
        self.max_questions = max_questions
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = slots + max_questions
        params.kv_unified = True
        # flash attention: with many sequences in one cache, attention runs over every
        # used cell of it; measured ~20% faster per question token on 2 cores
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.n_threads = llm.context_params.n_threads
        params.n_threads_batch = llm.context_params.n_threads_batch
        self.ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        if getattr(llm, "_lora_adapter", None):
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(llm._lora_adapter)
            scales = (ctypes.c_float * 1)(float(getattr(llm, "lora_scale", 1.0)))
            if llama_cpp.llama_set_adapters_lora(self.ctx.ctx, adapters, 1, scales):
                raise PermanentLLMError("llama.cpp could not apply the LoRA adapter to the scoring context")
        self.n_batch = n_batch
        self.n_ctx = n_ctx
        self.batch = _internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        self.n_vocab = llm.n_vocab()
        self._slots: OrderedDict[tuple[int, ...], int] = OrderedDict()
        self.evaluated = 0
        """Tokens evaluated so far (prefixes once per slot, then question tokens)."""

    # -- cache bookkeeping ---------------------------------------------------------
    def _rm(self, seq: int) -> None:
        self._c.llama_memory_seq_rm(self.ctx.memory, seq, -1, -1)

    def _used(self) -> int:
        return sum(len(p) for p in self._slots)

    def _decode(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        """One decode of ``(token, position, sequence, wants_logits)`` rows."""
        b = self.batch.batch
        b.n_tokens = len(rows)
        for i, (tok, pos, seq, logits) in enumerate(rows):
            b.token[i] = tok
            b.pos[i] = pos
            b.seq_id[i][0] = seq
            b.n_seq_id[i] = 1
            b.logits[i] = logits
        rc = self._c.llama_decode(self.ctx.ctx, b)
        if rc != 0:
            raise PermanentLLMError(f"llama.cpp decode failed ({rc}): the scoring cache is full")
        self.evaluated += len(rows)

    def _slot(self, prefix: tuple[int, ...], need: int) -> int:
        """The sequence holding ``prefix``, evaluating it into a free slot if needed."""
        if prefix in self._slots:
            self._slots.move_to_end(prefix)
            return self._slots[prefix]
        taken = set(self._slots.values())
        while self._slots and (len(self._slots) >= self.slots or self._used() + len(prefix) + need > self.n_ctx):
            _, seq = self._slots.popitem(last=False)
            self._rm(seq)
            taken.discard(seq)
        if len(prefix) + need > self.n_ctx:
            raise PermanentLLMError(f"a prompt of {len(prefix) + need} tokens exceeds the scoring cache")
        seq = min(set(range(self.slots)) - taken)
        for start in range(0, len(prefix), CHUNK):
            part = prefix[start : start + CHUNK]
            self._decode([(t, start + i, seq, False) for i, t in enumerate(part)])
        self._slots[prefix] = seq
        return seq

    # -- scoring -------------------------------------------------------------------------
    def score(self, jobs: Sequence[ScoreJob]) -> list[list[float]]:
        """Each job's log-probabilities over its choices (normalised over them), in order."""
        out: list[list[float] | None] = [None] * len(jobs)
        order = sorted(range(len(jobs)), key=lambda i: jobs[i].prefix)  # one prefix at a time
        i = 0
        while i < len(order):
            prefix = jobs[order[i]].prefix
            group = []
            while i < len(order) and jobs[order[i]].prefix == prefix:
                group.append(order[i])
                i += 1
            self._score_group(prefix, [jobs[g] for g in group], group, out)
        return out  # type: ignore[return-value]  # every slot is filled (or an error raised)

    def _score_group(self, prefix: tuple[int, ...], jobs: list[ScoreJob], where: list[int], out: list) -> None:
        need = sum(len(j.rest) for j in jobs[: self.max_questions])
        seq = self._slot(prefix, need)
        n = len(prefix)
        start = 0
        while start < len(jobs):
            # as many questions as fit one decode
            end, tokens = start, 0
            while end < len(jobs) and end - start < self.max_questions and tokens + len(jobs[end].rest) <= self.n_batch:
                tokens += len(jobs[end].rest)
                end += 1
            if end == start:
                raise PermanentLLMError(f"a question of {len(jobs[start].rest)} tokens exceeds the batch")
            rows, last = [], []
            for q, job in enumerate(jobs[start:end]):
                scratch = self.slots + q
                self._c.llama_memory_seq_cp(self.ctx.memory, seq, scratch, 0, n)
                rows += [(t, n + k, scratch, k == len(job.rest) - 1) for k, t in enumerate(job.rest)]
                last.append(len(rows) - 1)
            try:
                self._decode(rows)
                for job, idx, w in zip(jobs[start:end], last, where[start:end], strict=True):
                    raw = self._c.llama_get_logits_ith(self.ctx.ctx, idx)
                    logits = np.ctypeslib.as_array(raw, shape=(self.n_vocab,)).astype(np.float64)
                    out[w] = _choice_logprobs(logits, job.choices)
            finally:
                for q in range(end - start):
                    self._rm(self.slots + q)
            start = end

    # -- short texts -------------------------------------------------------------------
    def generate(
        self, prefix: tuple[int, ...], rest: tuple[int, ...], max_tokens: int, temperature: float,
        top_p: float, seed: int, sentences: int | None = None,
    ) -> tuple[list[int], int]:  # fmt: skip
        """A reply to ``prefix + rest`` of at most ``max_tokens`` tokens, and the prompt tokens evaluated.

        The prefix comes from its slot (a page's scoring questions and its texts share
        it), so only ``rest`` is evaluated. Tokens are drawn as llama.cpp's default
        sampler chain draws them (top-k 40, top-p, min-p 0.05, temperature) from a
        generator seeded with ``seed``; temperature 0 takes the most likely token.
        Stops at an end-of-generation token, and, with ``sentences``, once that many
        sentences have ended (:func:`simrec.llm.sentences.has_sentences`): the tokens up
        to there are the ones a longer generation would start with.
        """
        from simrec.llm.sentences import has_sentences

        seq = self._slot(prefix, len(rest) + max_tokens)
        n = len(prefix)
        scratch = self.slots
        before = self.evaluated
        rng = np.random.default_rng(seed)
        vocab = self.llm._model.vocab
        out: list[int] = []
        self._c.llama_memory_seq_cp(self.ctx.memory, seq, scratch, 0, n)
        try:
            rows = [(t, n + k, scratch, k == len(rest) - 1) for k, t in enumerate(rest)]
            for start in range(0, len(rows), self.n_batch):
                self._decode(rows[start : start + self.n_batch])
            prompt = self.evaluated - before
            pos = n + len(rest)
            for _ in range(max_tokens):
                raw = self._c.llama_get_logits_ith(self.ctx.ctx, -1)
                logits = np.ctypeslib.as_array(raw, shape=(self.n_vocab,)).astype(np.float64)
                tok = _sample(logits, temperature, top_p, rng)
                if self._c.llama_vocab_is_eog(vocab, tok):
                    break
                out.append(tok)
                if len(out) == max_tokens:
                    break
                if sentences and has_sentences(self.llm.detokenize(out).decode("utf-8", "replace"), sentences):
                    break
                self._decode([(tok, pos, scratch, True)])
                pos += 1
        finally:
            self._rm(scratch)
        return out, prompt

    def close(self) -> None:
        """Free the context and the batch."""
        self.batch.close()
        self.ctx.close()


def _sample(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator, top_k: int = 40, min_p: float = 0.05) -> int:
    """One token from ``logits`` by llama.cpp's default chain: top-k, top-p, min-p, temperature."""
    if temperature <= 0:
        return int(np.argmax(logits))
    k = min(top_k, len(logits))
    idx = np.argpartition(-logits, k - 1)[:k]
    idx = idx[np.lexsort((idx, -logits[idx]))]  # by logit, ties by id: the same order every time
    p = np.exp(logits[idx] - logits[idx[0]])
    p /= p.sum()
    keep = int(np.searchsorted(np.cumsum(p), top_p) + 1) if top_p < 1 else len(idx)
    keep = max(1, min(keep, int((p >= min_p * p[0]).sum())))
    idx = idx[:keep]
    z = logits[idx] / temperature
    q = np.exp(z - z.max())
    return int(idx[rng.choice(len(idx), p=q / q.sum())])


def _choice_logprobs(logits: np.ndarray, choices: tuple[tuple[int, ...], ...]) -> list[float]:
    top = logits.max()
    logp = logits - (top + np.log(np.exp(logits - top).sum()))
    per = [float(np.logaddexp.reduce(logp[list(ids)])) for ids in choices]
    m = max(per)
    total = m + float(np.log(sum(np.exp(v - m) for v in per)))
    return [v - total for v in per]
