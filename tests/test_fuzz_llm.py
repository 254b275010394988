"""Fuzzed LLM replies: every parser and both page protocols end in a parsed reply or a counted fallback.

CI runs a seeded budget (``SIMREC_FUZZ_REPLIES`` replies in all, default 800); ``benchmarks/fuzz.py``
runs 10,000 and prints the counts.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simrec.agents.mind import Mind, build_store
from simrec.agents.policies.base import PageBatch, build_policy
from simrec.agents.schemas import page_decision_schema, ranked_list_schema
from simrec.agents.untrusted import clean_untrusted
from simrec.config.schema import MemoryConfig
from simrec.core.rng import child_rng
from simrec.llm.base import CallSettings, extract_json, normalise_logprobs, parse_reply, parse_scores
from simrec.llm.types import PermanentLLMError
from simrec.llm.fake import ScriptedBackend
from simrec.llm.langchain_chat import _content_text
from simrec.llm.openai_compat import _scored
from simrec.testing.fuzz import _json_values, llm_replies
from simrec.world.build import build_world
from tests.helpers import small_scenario

REPLIES = int(os.environ.get("SIMREC_FUZZ_REPLIES", "800"))
#: Replies each page draws in the policy tests (one per call, cycling).
PER_PAGE = 12
FAST = {"deadline": None, "derandomize": True, "database": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}  # fmt: skip


@settings(max_examples=REPLIES // 3, **FAST)
@given(llm_replies())
def test_parsers_accept_or_reject_any_reply_cleanly(text: str) -> None:
    for schema in (page_decision_schema(5), ranked_list_schema(10)):
        try:
            parsed = parse_reply(text, schema)
        except ValueError:
            continue
        assert isinstance(parsed, schema)
    try:
        extract_json(text)
    except ValueError:
        pass
    try:
        scores = parse_scores(text, 2)
        assert len(scores) == 2
    except ValueError:
        pass
    assert isinstance(clean_untrusted(text, 60), str) and len(clean_untrusted(text, 60)) <= 60 + 1


@settings(max_examples=REPLIES // 6, **FAST)
@given(st.one_of(_json_values(), st.fixed_dictionaries({"choices": st.lists(st.fixed_dictionaries({"logprobs": st.fixed_dictionaries({"content": st.lists(st.fixed_dictionaries({"top_logprobs": st.lists(st.fixed_dictionaries({"token": _json_values(0), "logprob": _json_values(0)}), max_size=5)}), max_size=2)})}), max_size=2), "usage": _json_values(0)})))  # fmt: skip
def test_openai_logprob_replies_score_or_fail_permanently(data: object) -> None:
    try:
        done = _scored(data, ("yes", "no"), "http://x")  # type: ignore[arg-type]
    except PermanentLLMError:
        return
    scores = parse_scores(done.text, 2)
    assert all(math.isfinite(s) for s in scores)


@settings(max_examples=REPLIES // 10, **FAST)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6), _json_values())
def test_logprobs_and_content_blocks(values: list[float], content: object) -> None:
    try:
        out = normalise_logprobs(values)
        assert len(out) == len(values)
    except ValueError:
        pass
    assert isinstance(_content_text(content if isinstance(content, list) else [content]), str)


def _world_and_mind(tmp: Path, protocol: str):  # noqa: ANN202
    cfg = small_scenario(tmp, **{"policy.name": "llm", "policy.llm.llm_users": 6, "policy.llm.protocol": protocol,
                                 "policy.llm.reason_rate": 1.0, "policy.llm.review_rate": 1.0})  # fmt: skip
    world = build_world(cfg)
    return cfg, world


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    return {p: _world_and_mind(tmp_path_factory.mktemp(p), p) for p in ("json", "scored")}


def _scores_from(values: list[float]):  # noqa: ANN202
    it = itertools.cycle(values or [0.5])

    def scorer(call):  # noqa: ANN001, ANN202
        return [next(it) for _ in call.choices]

    return scorer


@pytest.mark.parametrize("protocol", ["json", "scored"])
def test_policies_survive_any_replies_and_count_every_fallback(worlds: dict[str, tuple], protocol: str) -> None:
    cfg, world = worlds[protocol]
    pages = {"n": 0}

    @settings(max_examples=max(REPLIES // (4 * PER_PAGE), 5), **FAST)
    @given(st.lists(llm_replies(), min_size=1, max_size=PER_PAGE),
           st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=PER_PAGE))  # fmt: skip
    def one(replies: list[str], scores: list[float]) -> None:
        it = itertools.cycle(replies)
        llm = ScriptedBackend(CallSettings(model="fuzz"), lambda call: next(it), scorer=_scores_from(scores))
        mem = MemoryConfig(store="memory", reflect_every=1)
        mind = Mind(mem, world, build_store(mem, None, "fuzz"))
        policy = build_policy(cfg.policy, world, child_rng(0, "policy"), llm, mind, None)
        users = np.nonzero(policy.llm_mask)[0]
        items = np.tile(np.arange(5), (len(users), 1)) + 3
        batch = PageBatch(1, 0, users, items, np.zeros(len(users), np.float32), np.zeros(len(users), np.float32))
        dec = policy.decide(batch).validate(batch)
        stats = policy.stats
        assert stats["llm_decisions"] + stats["llm_fallbacks"] == len(users)
        assert stats["llm_fallbacks"] == 0 or sum(llm.usage.fallback_reasons.values()) > 0
        assert ((dec.ratings >= 0) & (dec.ratings <= 5)).all()
        written = list(policy.end_step(1).texts) + list(mind.end_step(1, llm))
        for row in written:  # what the guard let through reads like a person, not a template
            assert "<|im_start|>" not in row.text and "{{" not in row.text and "\x00" not in row.text
        pages["n"] += 1

    one()
    assert pages["n"] >= 5


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback server that answers /api/chat with whatever body the test sets (``state["body"]``)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"body": b"{}"}
    tags = json.dumps({"models": [{"name": "tiny:latest", "model": "tiny:latest"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(tags)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self._send(state["body"])

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _ollama_bodies() -> st.SearchStrategy[bytes]:
    """Bodies an Ollama-speaking server might send: chat responses with odd fields, any JSON, junk bytes."""
    import json

    chat = st.fixed_dictionaries(
        {"model": _json_values(0), "message": st.one_of(_json_values(0), st.fixed_dictionaries(
            {"role": _json_values(0), "content": st.one_of(llm_replies(), _json_values(0))})),
         "done": _json_values(0)},
        optional={"prompt_eval_count": _json_values(0), "eval_count": _json_values(0)},
    )  # fmt: skip
    as_json = st.one_of(chat, _json_values()).map(lambda v: json.dumps(v, allow_nan=True).encode())
    return st.one_of(as_json, st.binary(max_size=200), llm_replies().map(lambda t: t.encode("utf-8", "surrogatepass")))


@settings(max_examples=REPLIES // 10, **FAST)
@given(body=_ollama_bodies())
def test_ollama_replies_parse_or_fall_back(ollama_server: tuple[str, dict[str, bytes]], body: bytes) -> None:
    from pydantic import BaseModel

    from simrec.llm.ollama import OllamaBackend
    from simrec.llm.types import LLMRequest

    class Pick(BaseModel):
        watch: list[int]
        leave: bool

    host, state = ollama_server
    state["body"] = body
    be = OllamaBackend(CallSettings(model="tiny", timeout_s=5.0, retries=0, backoff_s=0.0, seed=1), host=host)
    try:
        [r] = be.generate([LLMRequest.chat("You are a viewer.", "Pick.", schema=Pick, agent=1, step=0)])
    finally:
        be.close()
    assert r.status in ("ok", "fallback")
    assert r.status == "fallback" or isinstance(r.parsed, Pick)
    c = be.usage.counters
    assert c["fallbacks"] == (r.status == "fallback")
    assert c["prompt_tokens"] >= 0 and c["completion_tokens"] >= 0
