"""Persistent replay cache: the same call (backend, model, sampling, messages,
schema, seed) is answered from SQLite instead of the model.

Re-running a scenario with the same seed therefore makes zero LLM calls and,
because every downstream step is seeded, produces identical outputs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from simrec.llm.types import Completion

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    backend TEXT,
    model TEXT
)
"""


def cache_key(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of everything that determines a reply."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ReplayCache:
    """A SQLite-backed map from call keys to completions.

    Args:
        path: The database file (created with its folder); ``":memory:"`` for a
            throwaway cache.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, or ``None`` (counts hits and misses)."""
        with self._lock:
            row = self._db.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return Completion(row[0], int(row[1]), int(row[2]))

    def put(self, key: str, completion: Completion, backend: str = "", model: str = "") -> None:
        """Store ``completion`` under ``key`` (an existing entry is kept)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                (key, completion.text, completion.prompt_tokens, completion.completion_tokens, backend, model),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
