"""Share cascades: every share carries a cascade id, a parent share and a depth.

A user who shares an item they received through a friend's share continues
that share's cascade (``parent`` = the share that reached them, ``depth`` + 1);
any other share starts a cascade of its own (depth 0). Per cascade:

- ``size``: shares in it (the root counts);
- ``depth``: the deepest share's depth (a lone root has depth 0);
- ``breadth``: the most shares at any one depth;
- ``reach``: distinct users who were shown the cascade's item in their social slot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simrec.core.arrays import unique_sorted

_COLS = ("step", "user", "item", "cascade", "parent", "depth", "seeded")


class CascadeLog:
    """All shares of a run, in the order they happened (share id = row)."""

    def __init__(self) -> None:
        self._cols: dict[str, np.ndarray] = {
            "step": np.empty(0, np.int32),
            "user": np.empty(0, np.int32),
            "item": np.empty(0, np.int32),
            "cascade": np.empty(0, np.int64),
            "parent": np.empty(0, np.int64),
            "depth": np.empty(0, np.int32),
            "seeded": np.empty(0, bool),
        }
        self._reach_keys: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._cols["step"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name]

    def add(
        self, step: int, users: np.ndarray, items: np.ndarray, parents: np.ndarray, seeded: bool = False
    ) -> np.ndarray:
        """Record shares; ``parents[j]`` is the share that brought the item to ``users[j]``, or -1.

        Returns:
            The new share ids.
        """
        users = np.asarray(users, np.int32)
        parents = np.asarray(parents, np.int64)
        n0, n = len(self), len(users)
        ids = np.arange(n0, n0 + n, dtype=np.int64)
        if len(parents) and parents.max(initial=-1) >= n0:
            raise ValueError("a share's parent must be an earlier share")
        has = parents >= 0
        cascade = np.where(has, self._cols["cascade"][np.where(has, parents, 0)] if n0 else ids, ids)
        depth = np.where(has, self._cols["depth"][np.where(has, parents, 0)] + 1 if n0 else 0, 0)
        new = {
            "step": np.full(n, step, np.int32), "user": users, "item": np.asarray(items, np.int32),
            "cascade": cascade.astype(np.int64), "parent": parents, "depth": depth.astype(np.int32),
            "seeded": np.full(n, seeded, bool),
        }  # fmt: skip
        for k, v in new.items():
            self._cols[k] = np.concatenate([self._cols[k], v])
        return ids

    def reached(self, shares: np.ndarray, users: np.ndarray) -> None:
        """Note that ``users[j]`` was shown the item of share ``shares[j]`` in a social slot."""
        shares = np.asarray(shares, np.int64)
        if len(shares):
            self._reach_keys.append(self._cols["cascade"][shares] * (2**32) + np.asarray(users, np.int64))

    def table(self) -> pd.DataFrame:
        """One row per cascade: root user, item, start step, size, depth, breadth, reach, seeded."""
        c = self._cols
        if len(self) == 0:
            return pd.DataFrame(
                {k: pd.Series(dtype=t) for k, t in (("cascade", "int64"), ("root_user", "int32"), ("item", "int32"),
                 ("start_step", "int32"), ("size", "int64"), ("depth", "int32"), ("breadth", "int64"),
                 ("reach", "int64"), ("seeded", "bool"))}  # fmt: skip
            )
        ids, inv, size = np.unique(c["cascade"], return_inverse=True, return_counts=True)
        depth = np.zeros(len(ids), np.int32)
        np.maximum.at(depth, inv, c["depth"])
        level_keys, level_counts = np.unique(inv.astype(np.int64) * (2**31) + c["depth"], return_counts=True)
        breadth = np.zeros(len(ids), np.int64)
        np.maximum.at(breadth, level_keys // (2**31), level_counts)
        reach = np.zeros(len(ids), np.int64)
        if self._reach_keys:
            pairs = unique_sorted(np.concatenate(self._reach_keys))
            casc, cnt = np.unique(pairs // (2**32), return_counts=True)
            reach[np.searchsorted(ids, casc)] = cnt
        roots = ids  # a cascade's id is its root share's id
        return pd.DataFrame(
            {
                "cascade": ids, "root_user": c["user"][roots], "item": c["item"][roots],
                "start_step": c["step"][roots], "size": size.astype(np.int64), "depth": depth,
                "breadth": breadth, "reach": reach, "seeded": c["seeded"][roots],
            }  # fmt: skip
        )

    def shares_frame(self) -> pd.DataFrame:
        """One row per share (``share`` id, step, user, item, cascade, parent, depth, seeded)."""
        df = pd.DataFrame({k: self._cols[k] for k in _COLS})
        df.insert(0, "share", np.arange(len(self), dtype=np.int64))
        return df

    def stats(self) -> dict[str, float]:
        """Cascade counts and extremes over the run so far, plus the seeded cascades' size, depth, reach."""
        t = self.table()
        if t.empty:
            return {
                "cascades": 0, "cascade_max_size": 0, "cascade_mean_size": float("nan"), "cascade_max_depth": 0,
                "seed_cascade_size": 0, "seed_cascade_depth": 0, "seed_cascade_reach": 0,
            }  # fmt: skip
        seeded = t[t.seeded]
        return {
            "cascades": len(t),
            "cascade_max_size": int(t["size"].max()),
            "cascade_mean_size": float(t["size"].mean()),
            "cascade_max_depth": int(t["depth"].max()),
            "seed_cascade_size": int(seeded["size"].sum()),
            "seed_cascade_depth": int(seeded["depth"].max()) if len(seeded) else 0,
            "seed_cascade_reach": int(seeded["reach"].sum()),
        }
