"""The Ollama backend against a real loopback HTTP server speaking Ollama's wire format."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("ollama")

from simrec.config.schema import LLMConfig
from simrec.core.errors import ConfigError, SimrecError
from simrec.llm.base import CallSettings
from simrec.llm.factory import build_backend
from simrec.llm.ollama import OllamaBackend
from simrec.llm.types import LLMRequest, LLMUnavailable


class Pick(BaseModel):
    watch: list[int] = Field(default_factory=list)
    leave: bool


VALID = '{"watch": [4, 2], "leave": false}'


class FakeOllama:
    """What the stub server saw, and per-prompt counters for scripted failures."""

    def __init__(self) -> None:
        self.chats: list[dict[str, Any]] = []
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        # The first user message names the scenario, so a repair call gets the same treatment.
        last = next(m["content"] for m in body["messages"] if m["role"] == "user")
        with self.lock:
            self.chats.append(body)
            n = self.seen[last] = self.seen.get(last, 0) + 1
        if last == "error500" or (last == "flaky" and n == 1):
            return 500, {"error": "model runner crashed"}
        if last == "bad-request":
            return 400, {"error": "invalid options"}
        if last == "missing-model":
            return 404, {"error": f"model '{body['model']}' not found"}
        content = "I think you'd like the second one." if last == "invalid" else VALID
        return 200, {
            "model": body["model"],
            "created_at": "2025-01-01T00:00:00.000000Z",
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1000,
            "load_duration": 10,
            "prompt_eval_count": 17,
            "prompt_eval_duration": 100,
            "eval_count": 9,
            "eval_duration": 200,
        }


TAGS = {
    "models": [
        {
            "name": "tiny:latest",
            "model": "tiny:latest",
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 1234,
            "digest": "sha256:" + "0" * 64,
            "details": {
                "format": "gguf",
                "family": "llama",
                "parameter_size": "1M",
                "quantization_level": "Q4_0",
            },
        }
    ]
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeOllama]]:
    state = FakeOllama()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/api/tags":
                self._send(200, TAGS)
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/api/chat":
                self._send(404, {"error": "not found"})
                return
            self._send(*state.reply(body))

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def backend(host: str, model: str = "tiny", **kw: Any) -> OllamaBackend:
    base = {"model": model, "timeout_s": 5.0, "retries": 2, "backoff_s": 0.0, "seed": 1234}
    base.update(kw)
    return OllamaBackend(CallSettings(**base), host=host)


def ask(text: str) -> LLMRequest:
    return LLMRequest.chat("You are a viewer.", text, schema=Pick, agent=1, step=0)


def test_valid_reply_carries_schema_and_options(server) -> None:
    host, state = server
    be = backend(host)
    try:
        [r] = be.generate([ask("valid")])
    finally:
        be.close()
    assert r.status == "ok" and r.parsed == Pick(watch=[4, 2], leave=False)
    assert (r.prompt_tokens, r.completion_tokens) == (17, 9)
    body = next(b for b in reversed(state.chats) if b["messages"][1]["content"] == "valid")
    assert body["format"] == Pick.model_json_schema() and body["stream"] is False
    assert body["model"] == "tiny"
    opts = body["options"]
    assert opts["seed"] == 1234 and opts["num_predict"] == 200 and opts["temperature"] == 0.7
    assert opts["top_p"] == pytest.approx(0.95)
    assert body["messages"][0] == {"role": "system", "content": "You are a viewer."}
    c = be.usage.counters
    assert (c["calls"], c["prompt_tokens"], c["completion_tokens"]) == (1, 17, 9)


def test_invalid_reply_is_repaired_then_falls_back(server) -> None:
    host, state = server
    be = backend(host)
    try:
        [r] = be.generate([ask("invalid")])
    finally:
        be.close()
    assert r.status == "fallback" and r.reason == "invalid" and len(r.attempts) == 2
    # the repair call went to the server with the bad reply and the schema
    repair = [b for b in state.chats if len(b["messages"]) == 4]
    assert repair and repair[-1]["messages"][2]["role"] == "assistant"
    assert "JSON schema" in repair[-1]["messages"][3]["content"]
    c = be.usage.counters
    assert (c["calls"], c["invalid"], c["fallbacks"]) == (2, 2, 1)


def test_server_errors_are_retried_then_fall_back(server) -> None:
    host, _ = server
    be = backend(host, retries=2)
    try:
        [r] = be.generate([ask("error500")])
    finally:
        be.close()
    assert r.status == "fallback" and r.reason == "error" and "HTTP 500" in (r.error or "")
    assert "model runner crashed" in (r.error or "")
    c = be.usage.counters
    assert (c["retries"], c["errors"], c["calls"]) == (2, 1, 0)


def test_one_server_error_then_success(server) -> None:
    host, _ = server
    be = backend(host)
    try:
        [r] = be.generate([ask("flaky")])
    finally:
        be.close()
    assert r.status == "ok" and be.usage.counters["retries"] == 1


def test_client_errors_are_not_retried(server) -> None:
    host, _ = server
    be = backend(host, retries=3)
    try:
        bad, missing = be.generate([ask("bad-request"), ask("missing-model")])
    finally:
        be.close()
    assert bad.reason == "error" and "HTTP 400" in (bad.error or "")
    assert missing.reason == "error" and "ollama pull tiny" in (missing.error or "")
    assert be.usage.counters["retries"] == 0


def test_many_concurrent_requests_keep_order(server) -> None:
    host, _ = server
    be = backend(host, concurrency=8)
    try:
        out = be.generate([ask("valid") for _ in range(30)])
        again = be.generate([ask("valid")])  # the client survives between batches on the same loop
    finally:
        be.close()
    assert all(r.status == "ok" for r in [*out, *again])


def test_connection_refused_is_transient() -> None:
    be = backend(f"http://127.0.0.1:{_free_port()}", retries=1)
    try:
        [r] = be.generate([ask("valid")])
    finally:
        be.close()
    assert (
        r.reason == "error"
        and "connection" in (r.error or "")
        and be.usage.counters["retries"] == 1
    )


def test_health_ok(server) -> None:
    host, _ = server
    backend(host, model="tiny").health_check()
    backend(host, model="tiny:latest").health_check()


def test_health_unknown_model_says_pull(server) -> None:
    host, _ = server
    with pytest.raises(LLMUnavailable, match=r"ollama pull llama3\.2") as info:
        backend(host, model="llama3.2").health_check()
    assert "tiny:latest" in str(info.value)


def test_health_closed_port_names_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(LLMUnavailable, match="ollama serve") as info:
        backend(url).health_check()
    assert url in str(info.value) and isinstance(info.value, SimrecError)


def test_build_from_config(server, tmp_path) -> None:
    host, state = server
    cfg = LLMConfig(backend="ollama", host=host, model="tiny", seed=7, cache={"enabled": False})
    be = build_backend(cfg, seed=0, output_dir=tmp_path)
    try:
        assert isinstance(be, OllamaBackend) and host in be.describe()
        be.health_check()
        [r] = be.generate([ask("valid")])
    finally:
        be.close()
    assert r.ok and state.chats[-1]["options"]["seed"] == 7


def test_model_is_required() -> None:
    with pytest.raises(ConfigError, match="llm.model"):
        build_backend(LLMConfig(backend="ollama", cache={"enabled": False}), seed=0)


def _free_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
