"""``graph/final.graphml``: the social graph with each user's public fields on its node.

Nodes are user indices (``0..n-1``, the ids of the graph's Parquet tables); each node
carries the scalar columns of ``users.parquet`` but the index itself (the raw
``user_id`` and, for MovieLens, ``age``, ``gender``, ``occupation``, ``zip``), as
GraphML ``long``, ``double``, ``boolean`` or ``string`` data. GraphML has no missing
value, so a missing field (``None``, ``NaN``) is left off that node only. Edges carry
what the graph's ``to_networkx()`` gives them (trust and strikes).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simrec.io.manifest import atomic_path

log = logging.getLogger(__name__)

_NESTED = (list, tuple, dict, set, np.ndarray, bytes)


def _scalar(value: Any) -> Any:
    """A Python scalar GraphML can hold, or ``None`` for a missing value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)  # dates, decimals, ...: their text


def node_attributes(users: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """GraphML node data per user index from a ``users.parquet`` frame.

    Args:
        users: Public user fields with a ``user`` index column (else row ``i`` is user ``i``).

    Returns:
        ``{user index: {column: Python scalar}}`` for every scalar column but ``user``; a
        column that holds lists or arrays is skipped, a missing value is left out, and a
        column of mixed types becomes text.
    """
    index = users["user"].to_numpy(np.int64) if "user" in users else np.arange(len(users))
    attrs: dict[int, dict[str, Any]] = {int(u): {} for u in index}
    for col in users.columns:
        if col == "user":
            continue
        values = users[col].tolist()
        if any(isinstance(v, _NESTED) for v in values):
            log.debug("final.graphml skips the non-scalar users column %r", col)
            continue
        scalars = [_scalar(v) for v in values]
        if len({type(v) for v in scalars if v is not None}) > 1:  # one GraphML type per key
            scalars = [None if v is None else str(v) for v in scalars]
        for u, v in zip(index.tolist(), scalars, strict=True):
            if v is not None:
                attrs[u][str(col)] = v
    return attrs


def write_graphml(graph: Any, users: pd.DataFrame | None, path: Path) -> Path:
    """Write ``graph`` (a networkx graph over user indices) as GraphML, atomically.

    Args:
        graph: The graph, edges already carrying their data.
        users: ``users.parquet``'s frame, whose fields go on the nodes (``None``: bare nodes).
        path: The file, normally ``graph/final.graphml``.

    Returns:
        ``path``.
    """
    import networkx as nx

    if users is not None:
        attrs = node_attributes(users)
        nx.set_node_attributes(graph, {u: a for u, a in attrs.items() if u in graph})
    with atomic_path(Path(path)) as tmp:
        nx.write_graphml(graph, tmp)
    return Path(path)
