"""The memory embedder talks to the LLM block's server: the first of llm.servers when it lists several."""

from __future__ import annotations

from simrec.agents.mind import build_embedder
from simrec.config.schema import LLMConfig, MemoryConfig


def test_openai_embedder_uses_the_first_listed_server() -> None:
    llm = LLMConfig(backend="openai", servers=["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"])
    emb = build_embedder(MemoryConfig(embedder="openai", embed_model="e"), llm)
    assert emb.base_url == "http://127.0.0.1:8001/v1"


def test_ollama_embedder_uses_the_first_listed_server_or_the_host() -> None:
    listed = LLMConfig(backend="ollama", servers=["http://127.0.0.1:11500", "http://127.0.0.1:11501"])
    assert build_embedder(MemoryConfig(embedder="ollama", embed_model="e"), listed).host == "http://127.0.0.1:11500"
    one = LLMConfig(backend="ollama", host="http://10.0.0.2:11434")
    assert build_embedder(MemoryConfig(embedder="ollama", embed_model="e"), one).host == "http://10.0.0.2:11434"
