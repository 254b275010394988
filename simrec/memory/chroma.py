"""``chroma``: agents' memories persisted in a ChromaDB collection.

Retrieval never calls Chroma: the store keeps every memory in an in-process
:class:`~simrec.memory.scoring.MemoryMirror` and ranks there (one vectorised
pass for a whole batch of agents). Chroma is the durable copy: ``flush`` writes
the records added since the last flush in batches, and opening an existing
persistent collection loads the mirror back from it, so a run's memories (and
its retrieval results) survive a restart.

Chroma never computes an embedding here. Every write carries our embeddings,
and the collection's embedding function is :class:`SimrecEmbeddingFunction`,
which wraps the store's own embedder, so even a direct
``collection.query(query_texts=...)`` by a user embeds with simrec's embedder
instead of Chroma's default (which downloads a model and fails offline).
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simrec.memory.base import MemoryRecord, MemoryStoreError
from simrec.memory.embedders import EMBEDDERS, Embedder
from simrec.memory.memory import InMemoryStore
from simrec.memory.scoring import MemoryMirror

logger = logging.getLogger(__name__)

# Rows per collection.get while loading: Chroma's SQLite backend fails with
# "too many SQL variables" somewhere between 32,000 and 40,000 rows.
_LOAD_PAGE = 20_000
# Chroma never searches this index for simrec (the mirror does), so it is built
# cheaply: about twice the write throughput of Chroma's defaults (ef 100, M 16).
DEFAULT_HNSW: dict[str, Any] = {"space": "cosine", "ef_construction": 32, "max_neighbors": 8}
_EPHEMERAL_IDS = itertools.count()
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def collection_name(name: str) -> str:
    """Turn ``name`` into a valid ChromaDB collection name, deterministically.

    Chroma wants 3-512 characters from ``[a-z0-9._-]`` (we also lower-case),
    starting and ending with a letter or digit, no ``..`` and no IPv4 address.
    """
    s = re.sub(r"[^a-z0-9._-]+", "-", str(name).lower())
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", s)[:512]
    s = re.sub(r"[^a-z0-9]+$", "", s)
    if len(s) < 3:
        s = f"mem-{s}" if s else "memory"
    if _IPV4.match(s):
        s = f"mem-{s}"
    return s


def embedder_id(embedder: Embedder) -> str:
    """The name that rebuilds ``embedder``: its registry name, else ``module:Class``."""
    name = getattr(embedder, "name", None)
    if isinstance(name, str) and name in EMBEDDERS:
        return name
    cls = type(embedder)
    return f"{cls.__module__}:{cls.__qualname__}"


def build_embedder(config: dict[str, Any]) -> Embedder:
    """Rebuild an embedder from :meth:`SimrecEmbeddingFunction.get_config` output."""
    cls = EMBEDDERS.get(config["embedder"])
    dim = int(config["dim"])
    remote = config.get("remote")
    if remote:  # served embedders: model and URL (never a key)
        embedder = cls(**remote)
        return embedder
    try:
        embedder = cls(dim=dim)
    except TypeError:
        embedder = cls()
    if int(embedder.dim) != dim:
        raise ValueError(
            f"Embedder {config['embedder']} has dim {embedder.dim}, the collection {dim}."
        )
    return embedder


@functools.cache
def _chromadb() -> Any:
    try:
        import chromadb
    except ImportError:
        raise MemoryStoreError(
            "The chroma memory store needs the package chromadb (pip install -e '.[memory]'); "
            "or set memory.store: memory for an in-process store without persistence."
        ) from None
    return chromadb


@functools.cache
def embedding_function_class() -> type:
    """``SimrecEmbeddingFunction``, defined (and registered with Chroma) on first use.

    Defined lazily so importing this module imports neither chromadb nor changes
    its registry of embedding functions.
    """
    _chromadb()
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    class SimrecEmbeddingFunction(EmbeddingFunction[Documents]):
        """A Chroma embedding function that calls a simrec embedder."""

        def __init__(self, embedder: Embedder) -> None:
            self.embedder = embedder

        def __call__(self, input: Documents) -> Embeddings:
            return list(np.asarray(self.embedder.embed(list(input)), dtype=np.float32))

        @staticmethod
        def name() -> str:
            return "simrec"

        def get_config(self) -> dict[str, Any]:
            cfg: dict[str, Any] = {"embedder": embedder_id(self.embedder), "dim": int(self.embedder.dim)}
            url = getattr(self.embedder, "host", None) or getattr(self.embedder, "base_url", None)
            if url is not None:
                key = "host" if hasattr(self.embedder, "host") else "base_url"
                cfg["remote"] = {"model": self.embedder.model, key: url}
            return cfg

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> SimrecEmbeddingFunction:
            return SimrecEmbeddingFunction(build_embedder(config))

        def default_space(self) -> str:
            return "cosine"

        def supported_spaces(self) -> list[str]:
            return ["cosine", "ip", "l2"]

    register_embedding_function(SimrecEmbeddingFunction)
    return SimrecEmbeddingFunction


class ChromaMemoryStore(InMemoryStore):
    """Memories in a ChromaDB collection, retrieved from an in-process mirror.

    Args:
        path: Folder of a persistent Chroma database (e.g. ``runs/x/memory``;
            created if missing), or ``None`` for an in-process ephemeral one.
        collection: Collection name (one per run); sanitised with
            :func:`collection_name`.
        embedder: An embedder, or its name in ``EMBEDDERS``. Reopening a
            collection needs the embedder it was written with.
        decay: Recency decay per step, in (0, 1].
        batch_size: Records per Chroma write (capped at Chroma's maximum).
        hnsw: Chroma HNSW settings for a new collection (see :data:`DEFAULT_HNSW`).

    Raises:
        MemoryStoreError: when the path cannot hold a Chroma database, the
            collection was written by another embedder, or chromadb is missing.
    """

    name = "chroma"

    def __init__(
        self,
        path: Path | str | None = None,
        collection: str = "memory",
        embedder: Embedder | str = "hashing",
        decay: float = 0.95,
        batch_size: int = 5000,
        hnsw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(embedder, decay)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.path = None if path is None else Path(path)
        self.stats.update({"write_s": 0.0, "written": 0, "load_s": 0.0, "loaded": 0})
        self._queue: list[tuple[list[MemoryRecord], np.ndarray, np.ndarray]] = []
        self._client = self._open_client()
        max_batch = getattr(self._client, "get_max_batch_size", None)
        self.batch_size = (
            min(int(batch_size), int(max_batch())) if callable(max_batch) else int(batch_size)
        )
        base = collection_name(collection)
        self.collection_name = base if self.path is not None else f"{base}-e{next(_EPHEMERAL_IDS)}"
        self.collection = self._open_collection(dict(DEFAULT_HNSW if hnsw is None else hnsw))
        self._load()

    # -- opening -------------------------------------------------------------

    def _open_client(self) -> Any:
        chromadb = _chromadb()
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.path is None:
            try:
                return chromadb.EphemeralClient(settings=settings)
            except ValueError as exc:
                raise MemoryStoreError(f"Cannot start an in-process ChromaDB: {exc}.") from exc
        if self.path.exists() and not self.path.is_dir():
            raise MemoryStoreError(
                f"Memory store path {self.path} is a file, not a folder; give a folder "
                "(e.g. runs/<name>/memory) or remove the file."
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        except Exception as exc:  # chromadb raises assorted types for a bad folder
            raise MemoryStoreError(
                f"Cannot open a ChromaDB memory store at {self.path}: {exc}. Check that the folder is "
                "writable and holds a ChromaDB database (or is empty), and that no process opened "
                "it with other settings."
            ) from exc

    def _open_collection(self, hnsw: dict[str, Any]) -> Any:
        ef = embedding_function_class()(self.embedder)
        meta = {"simrec_embedder": embedder_id(self.embedder), "simrec_dim": int(self.embedder.dim)}
        try:
            col = self._client.get_or_create_collection(
                self.collection_name,
                configuration={"hnsw": hnsw},
                metadata=meta,
                embedding_function=ef,
            )
        except Exception as exc:
            raise MemoryStoreError(
                f"Cannot open memory collection '{self.collection_name}' in {self._where()}: {exc}"
            ) from exc
        have = col.metadata or {}
        if (have.get("simrec_embedder"), have.get("simrec_dim")) != (
            meta["simrec_embedder"],
            meta["simrec_dim"],
        ):
            raise MemoryStoreError(
                f"Memory collection '{self.collection_name}' in {self._where()} was written with embedder "
                f"{have.get('simrec_embedder')!r} (dim {have.get('simrec_dim')}), not "
                f"{meta['simrec_embedder']!r} (dim {meta['simrec_dim']}). Open it with the embedder it was "
                "written with, or use another collection or folder."
            )
        return col

    def _where(self) -> str:
        return f"ChromaDB at {self.path}" if self.path is not None else "the in-process ChromaDB"

    def _load(self) -> None:
        """Fill the mirror from the collection (a few paged ``get`` calls)."""
        total = self.collection.count()
        if total == 0:
            return
        t0 = time.perf_counter()
        embs: list[np.ndarray] = []
        metas: list[dict[str, Any]] = []
        docs: list[str] = []
        for offset in range(0, total, _LOAD_PAGE):
            page = self.collection.get(
                include=["embeddings", "metadatas", "documents"], limit=_LOAD_PAGE, offset=offset
            )
            embs.append(
                np.asarray(page["embeddings"], dtype=np.float32).reshape(-1, self.embedder.dim)
            )
            metas.extend(page["metadatas"])
            docs.extend(page["documents"])
        try:
            seqs = np.fromiter((m["seq"] for m in metas), np.int64, len(metas))
            records = [
                MemoryRecord(int(m["agent"]), int(m["step"]), m["kind"], d, float(m["importance"]))
                for m, d in zip(metas, docs)
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise MemoryStoreError(
                f"Memory collection '{self.collection_name}' in {self._where()} holds records simrec did not "
                f"write ({exc!r}); use another collection name or folder."
            ) from exc
        order = np.argsort(seqs, kind="stable")
        if len(np.unique(seqs)) != total:
            raise MemoryStoreError(
                f"Loading '{self.collection_name}' from {self._where()} returned {len(np.unique(seqs))} distinct "
                f"records of {total}; the collection may be damaged."
            )
        self.mirror.append([records[i] for i in order], np.concatenate(embs)[order], seqs[order])
        self.stats["load_s"] = time.perf_counter() - t0
        self.stats["loaded"] = total
        logger.debug(
            "loaded %d memories from %s in %.2fs", total, self._where(), self.stats["load_s"]
        )

    # -- writing -------------------------------------------------------------

    def _ingested(self, records: list[MemoryRecord], vecs: np.ndarray, seqs: np.ndarray) -> None:
        self._queue.append((records, vecs, seqs))

    def flush(self) -> None:
        """Embed buffered records and write everything not yet written, in batches."""
        self._check_open()
        self._ingest()
        if not self._queue:
            return
        records = [r for chunk in self._queue for r in chunk[0]]
        vecs = np.concatenate([chunk[1] for chunk in self._queue])
        seqs = np.concatenate([chunk[2] for chunk in self._queue])
        done = 0
        t0 = time.perf_counter()
        try:
            for start in range(0, len(records), self.batch_size):
                self._write(
                    records[start : start + self.batch_size],
                    vecs[start : start + self.batch_size],
                    seqs[start : start + self.batch_size],
                )
                done = min(start + self.batch_size, len(records))
        except Exception as exc:
            raise MemoryStoreError(
                f"Writing memories to {self._where()} failed after {done} of {len(records)} records: {exc}. "
                "The rest stay queued; flush again once the cause is fixed."
            ) from exc
        finally:
            self._queue = (
                [(records[done:], vecs[done:], seqs[done:])] if done < len(records) else []
            )
            self.stats["write_s"] += time.perf_counter() - t0
            self.stats["written"] += done

    def _write(self, records: Sequence[MemoryRecord], vecs: np.ndarray, seqs: np.ndarray) -> None:
        seq_list = seqs.tolist()
        self.collection.add(
            ids=[f"{r.agent}:{s}" for r, s in zip(records, seq_list)],
            embeddings=vecs,
            metadatas=[
                {
                    "agent": r.agent,
                    "step": r.step,
                    "kind": r.kind,
                    "importance": float(r.importance),
                    "seq": s,
                }
                for r, s in zip(records, seq_list)
            ],
            documents=[r.text for r in records],
        )

    def truncate(self, next_seq: int) -> int:
        """Delete the memories from insertion number ``next_seq`` on (what a run wrote after
        the checkpoint it resumes from) and reload the mirror; returns how many were deleted."""
        self._check_open()
        self.flush()
        before = self.collection.count()
        self.collection.delete(where={"seq": {"$gte": int(next_seq)}})
        self.mirror = MemoryMirror(self.embedder.dim, self.mirror.decay)
        self._load()
        return before - self.collection.count()

    @property
    def unwritten(self) -> int:
        """Records added but not yet written to Chroma."""
        return len(self._pending) + sum(len(chunk[0]) for chunk in self._queue)

    def close(self) -> None:
        """Flush, then release the Chroma client (an ephemeral collection is dropped)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self.path is None:
            try:
                self._client.delete_collection(self.collection_name)
            except Exception:  # noqa: BLE001 - the data is in memory only and goes anyway
                logger.debug("could not drop ephemeral collection %s", self.collection_name)
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
