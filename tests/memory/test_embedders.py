"""Embedders: the hashing fake and the bundled all-MiniLM-L6-v2, both offline."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.memory.embedders import EMBEDDERS, Embedder, HashingEmbedder, MiniLMEmbedder


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_registry_names() -> None:
    assert {"hashing", "minilm"} <= set(EMBEDDERS.names())
    assert EMBEDDERS.get("hashing") is HashingEmbedder


def test_hashing_is_deterministic_across_instances() -> None:
    texts = ["watched Heat, rated 5: tense", "a friend liked Toy Story"]
    a, b = HashingEmbedder().embed(texts), HashingEmbedder().embed(texts)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[1:], HashingEmbedder().embed(texts[1:]))  # batch-independent


@pytest.mark.parametrize("dim", [16, 256, 1000])
def test_hashing_dims_and_unit_norm(dim: int) -> None:
    emb = HashingEmbedder(dim=dim)
    assert isinstance(emb, Embedder)
    v = emb.embed(["one text", "another, longer text with words"])
    assert v.shape == (2, dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)


def test_hashing_similar_texts_are_closer() -> None:
    v = HashingEmbedder().embed(
        [
            "watched The Matrix, rated 5: great action",
            "watched The Matrix, rated 4: good action",
            "my cat sleeps all day",
        ]
    )
    assert cos(v[0], v[1]) > 0.5 > cos(v[0], v[2])


def test_hashing_empty_text_and_empty_batch() -> None:
    emb = HashingEmbedder(dim=32)
    v = emb.embed(["", "!!!"])
    assert v.shape == (2, 32) and not v.any()
    assert emb.embed([]).shape == (0, 32)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_minilm_loads_offline_unit_384(minilm: MiniLMEmbedder) -> None:
    v = minilm.embed(
        ["A man is eating food.", "Someone is having a meal.", "The stock market crashed today."]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32 and minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert cos(v[0], v[1]) > cos(v[0], v[2]) + 0.3
    assert minilm.embed([]).shape == (0, 384)
