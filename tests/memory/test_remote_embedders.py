"""Ollama and OpenAI-compatible embedders against embedding servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from simrec.agents.mind import build_store
from simrec.config.schema import LLMConfig, MemoryConfig
from simrec.core.errors import ConfigError
from simrec.memory.base import MemoryRecord
from simrec.memory.embedders import HashingEmbedder, OllamaEmbedder, OpenAIEmbedder

REFERENCE = HashingEmbedder(dim=32)  # the "model" the stub serves


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if body["model"] != "embed-tiny":
            self._send(404, {"error": f"model '{body['model']}' not found"})
            return
        vecs = (REFERENCE.embed(texts) * 3.0).tolist()  # unnormalised on purpose
        if self.path == "/api/embed":
            self._send(200, {"model": body["model"], "embeddings": vecs})
        elif self.path == "/v1/embeddings":
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vecs)]
            self._send(200, {"object": "list", "data": data[::-1], "model": body["model"],
                             "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip
        else:
            self._send(404, {"error": "no such path"})


@pytest.fixture(scope="module")
def server() -> str:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


TEXTS = ["a tense thriller", "a gentle romance", "another tense thriller night"]


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_remote_embedders_match_the_served_model(server: str, kind: str) -> None:
    emb = OllamaEmbedder("embed-tiny", host=server) if kind == "ollama" else OpenAIEmbedder("embed-tiny", f"{server}/v1")
    vecs = emb.embed(TEXTS * 30)  # several batches
    assert emb.dim == 32 and vecs.shape == (90, 32)
    np.testing.assert_allclose(vecs[:3], REFERENCE.embed(TEXTS), atol=1e-6)  # normalised, in order
    with pytest.raises(ConfigError, match="no-such-model"):
        (OllamaEmbedder("no-such-model", host=server) if kind == "ollama"
         else OpenAIEmbedder("no-such-model", f"{server}/v1")).embed(["x"])  # fmt: skip


def test_remote_embedder_backs_a_chroma_store(server: str, tmp_path: Path) -> None:
    cfg = MemoryConfig(embedder="openai", embed_model="embed-tiny")
    llm = LLMConfig(backend="openai", base_url=f"{server}/v1")
    store = build_store(cfg, tmp_path, "remote", llm)
    store.add([MemoryRecord(1, 1, "rating", "Watched a tense thriller, rated 5/5"),
               MemoryRecord(1, 1, "rating", "Watched a gentle romance, rated 2/5")])  # fmt: skip
    store.flush()
    [[best, _]] = store.query([1], ["thriller"], 2, now=1)
    assert "thriller" in best.record.text
    store.close()
