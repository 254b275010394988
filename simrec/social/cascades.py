"""Share cascades: every share carries a cascade id, a parent share and a depth.

A user who shares an item they received through a friend's share continues
that share's cascade (``parent`` = the share that reached them, ``depth`` + 1);
any other share starts a cascade of its own (depth 0). Per cascade:

- ``size``: shares in it (the root counts);
- ``depth``: the deepest share's depth (a lone root has depth 0);
- ``breadth``: the most shares at any one depth;
- ``reach``: distinct users who were shown the cascade's item in their social slot.

A cascade can only grow, or reach anyone, through shares still waiting in
inboxes. Once its newest share is older than ``horizon`` steps it is finished:
:meth:`CascadeLog.retire` writes its row and its shares to record logs
(:class:`~simrec.io.records.RecordLog`, on disk in a run folder) and drops them
from memory, so a long run keeps only the live cascades. The tables and the
statistics are the same as if everything had stayed in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simrec.core.arrays import isin, unique_sorted
from simrec.io.records import RecordLog

#: One share on disk (and the columns of :meth:`CascadeLog.shares_frame`).
SHARE_RECORD = np.dtype([
    ("share", "<i8"), ("step", "<i4"), ("user", "<i4"), ("item", "<i4"), ("cascade", "<i8"), ("parent", "<i8"),
    ("depth", "<i4"), ("seeded", "?"),
])  # fmt: skip
#: One finished cascade on disk (and the columns of :meth:`CascadeLog.table`).
CASCADE_RECORD = np.dtype([
    ("cascade", "<i8"), ("root_user", "<i4"), ("item", "<i4"), ("start_step", "<i4"), ("size", "<i8"),
    ("depth", "<i4"), ("breadth", "<i8"), ("reach", "<i8"), ("seeded", "?"),
])  # fmt: skip
#: Record log files of finished cascades and their shares, in a run's ``checkpoints/`` folder.
LOG_FILES = {"shares": "shares.bin", "cascades": "cascades.bin"}


def _cascade_rows(shares: np.ndarray, reach_keys: np.ndarray) -> np.ndarray:
    """One :data:`CASCADE_RECORD` per cascade of ``shares`` (whole cascades, in share order)."""
    ids, inv, size = np.unique(shares["cascade"], return_inverse=True, return_counts=True)
    out = np.zeros(len(ids), CASCADE_RECORD)
    if not len(ids):
        return out
    depth = np.zeros(len(ids), np.int32)
    np.maximum.at(depth, inv, shares["depth"])
    level_keys, level_counts = np.unique(inv.astype(np.int64) * (2**31) + shares["depth"], return_counts=True)
    breadth = np.zeros(len(ids), np.int64)
    np.maximum.at(breadth, level_keys // (2**31), level_counts)
    reach = np.zeros(len(ids), np.int64)
    if len(reach_keys):
        casc, cnt = np.unique(reach_keys // (2**32), return_counts=True)
        reach[np.searchsorted(ids, casc)] = cnt
    roots = shares[np.searchsorted(shares["share"], ids)]  # a cascade's id is its root share's id
    out["cascade"], out["root_user"], out["item"], out["start_step"] = ids, roots["user"], roots["item"], roots["step"]
    out["size"], out["depth"], out["breadth"], out["reach"], out["seeded"] = size, depth, breadth, reach, roots["seeded"]
    return out


class CascadeLog:
    """All shares of a run, in the order they happened (share id = its number in the run).

    Args:
        folder: Where finished cascades go (a run's ``checkpoints/``); ``None``: anonymous files.
        horizon: Steps after its newest share when a cascade is finished (``None``: never;
            everything stays in memory).
    """

    def __init__(self, folder: Path | None = None, horizon: int | None = None) -> None:
        self._rows = np.empty(0, SHARE_RECORD)
        self._n = 0
        self._reach_keys: list[np.ndarray] = []
        self.horizon = horizon
        self.logs = {
            name: RecordLog(None if folder is None else Path(folder) / file, dtype)
            for (name, file), dtype in zip(LOG_FILES.items(), (SHARE_RECORD, CASCADE_RECORD), strict=True)
        }
        #: Totals of the finished cascades (folded into :meth:`stats`).
        self._done = dict.fromkeys(("cascades", "shares", "max_size", "max_depth", "seed_size", "seed_depth", "seed_reach"), 0)

    def __len__(self) -> int:
        return self._n

    def get(self, name: str, shares: np.ndarray | int) -> np.ndarray:
        """Column ``name`` (``step``, ``user``, ``item``, ``cascade``, ``parent``, ``depth``, ``seeded``) of ``shares``.

        Raises:
            KeyError: a share of a finished cascade (no longer in memory).
        """
        asked = np.asarray(shares, np.int64)
        flat = asked.reshape(-1)
        rows = np.searchsorted(self._rows["share"], flat)
        if len(flat) and (rows.max() >= len(self._rows) or (self._rows["share"][rows] != flat).any()):
            raise KeyError("a share of a finished cascade was asked for")
        return self._rows[name][rows].reshape(asked.shape)

    def add(
        self, step: int, users: np.ndarray, items: np.ndarray, parents: np.ndarray, seeded: bool = False
    ) -> np.ndarray:
        """Record shares; ``parents[j]`` is the share that brought the item to ``users[j]``, or -1.

        Returns:
            The new share ids.
        """
        parents = np.asarray(parents, np.int64)
        n0, n = self._n, len(users)
        ids = np.arange(n0, n0 + n, dtype=np.int64)
        if len(parents) and parents.max(initial=-1) >= n0:
            raise ValueError("a share's parent must be an earlier share")
        has = parents >= 0
        new = np.zeros(n, SHARE_RECORD)
        new["share"], new["step"], new["user"], new["item"] = ids, step, users, items
        new["cascade"], new["parent"], new["seeded"] = ids, parents, seeded
        if has.any():
            new["cascade"][has] = self.get("cascade", parents[has])
            new["depth"][has] = self.get("depth", parents[has]) + 1
        self._rows = np.concatenate([self._rows, new])
        self._n += n
        return ids

    def reached(self, shares: np.ndarray, users: np.ndarray) -> None:
        """Note that ``users[j]`` was shown the item of share ``shares[j]`` in a social slot."""
        shares = np.asarray(shares, np.int64)
        if len(shares):
            self._reach_keys.append(self.get("cascade", shares) * (2**32) + np.asarray(users, np.int64))

    def _reach(self) -> np.ndarray:
        """The distinct (cascade, user) reach keys so far, sorted (kept as one array)."""
        keys = unique_sorted(np.concatenate(self._reach_keys)) if self._reach_keys else np.empty(0, np.int64)
        self._reach_keys = [keys] if len(keys) else []
        return keys

    def retire(self, step: int) -> int:
        """Write cascades finished by ``step`` to the logs and drop them from memory.

        Returns:
            How many cascades were finished.
        """
        if self.horizon is None or not len(self._rows):
            return 0
        rows = self._rows
        ids, inv = np.unique(rows["cascade"], return_inverse=True)
        last = np.full(len(ids), np.iinfo(np.int32).min, np.int64)
        np.maximum.at(last, inv, rows["step"])
        done = last < step - self.horizon
        if not done.any():
            return 0
        gone = done[inv]
        keys = self._reach()
        key_gone = isin(keys // (2**32), ids[done])
        table = _cascade_rows(rows[gone], keys[key_gone])
        self.logs["shares"].append(rows[gone])
        self.logs["cascades"].append(table)
        d, seeded = self._done, table[table["seeded"]]
        d["cascades"] += len(table)
        d["shares"] += int(table["size"].sum())
        d["max_size"] = max(d["max_size"], int(table["size"].max()))
        d["max_depth"] = max(d["max_depth"], int(table["depth"].max()))
        d["seed_size"] += int(seeded["size"].sum())
        d["seed_depth"] = max(d["seed_depth"], int(seeded["depth"].max()) if len(seeded) else 0)
        d["seed_reach"] += int(seeded["reach"].sum())
        self._rows = rows[~gone]
        self._reach_keys = [keys[~key_gone]] if (~key_gone).any() else []
        return len(table)

    def table(self) -> pd.DataFrame:
        """One row per cascade: root user, item, start step, size, depth, breadth, reach, seeded."""
        live = _cascade_rows(self._rows, self._reach())
        rows = np.concatenate([self.logs["cascades"].read(), live])
        rows = rows[np.argsort(rows["cascade"], kind="stable")]
        return pd.DataFrame({name: rows[name] for name in CASCADE_RECORD.names})

    def shares_frame(self) -> pd.DataFrame:
        """One row per share (``share`` id, step, user, item, cascade, parent, depth, seeded)."""
        rows = np.concatenate([self.logs["shares"].read(), self._rows])
        rows = rows[np.argsort(rows["share"], kind="stable")]
        return pd.DataFrame({name: rows[name] for name in SHARE_RECORD.names})

    def stats(self) -> dict[str, float]:
        """Cascade counts and extremes over the run so far, plus the seeded cascades' size, depth, reach."""
        t, d = _cascade_rows(self._rows, self._reach()), self._done
        seeded = t[t["seeded"]]
        n = d["cascades"] + len(t)
        return {
            "cascades": n,
            "cascade_max_size": max(d["max_size"], int(t["size"].max()) if len(t) else 0),
            "cascade_mean_size": (d["shares"] + int(t["size"].sum())) / n if n else float("nan"),
            "cascade_max_depth": max(d["max_depth"], int(t["depth"].max()) if len(t) else 0),
            "seed_cascade_size": d["seed_size"] + int(seeded["size"].sum()),
            "seed_cascade_depth": max(d["seed_depth"], int(seeded["depth"].max()) if len(seeded) else 0),
            "seed_cascade_reach": d["seed_reach"] + int(seeded["reach"].sum()),
        }

    def close(self) -> None:
        """Close the record logs."""
        for log in self.logs.values():
            log.close()
