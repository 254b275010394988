"""Sort-based set operations on integer key arrays.

numpy 2.x's ``np.unique`` (without ``return_*``) and ``np.isin`` take a hashing
path that is about ten times slower than a sort on 10^6 int64 keys; the social
phase runs these every step, so it uses these instead.
"""

from __future__ import annotations

import numpy as np


def unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``keys``."""
    keys = np.sort(np.asarray(keys))
    if len(keys) == 0:
        return keys
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])]


def isin_sorted(query: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(query, sorted_keys)`` for an already sorted ``sorted_keys``."""
    query = np.asarray(query)
    if len(sorted_keys) == 0 or len(query) == 0:
        return np.zeros(len(query), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return sorted_keys[pos] == query


def isin(query: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(query, keys)`` by sorting ``keys``."""
    return isin_sorted(query, np.sort(np.asarray(keys)))


def unique_sorted_merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted distinct values of two sorted arrays (a linear-time merge: timsort finds the two runs)."""
    merged = np.sort(np.concatenate([a, b]), kind="stable")
    if len(merged) == 0:
        return merged
    return merged[np.concatenate([[True], merged[1:] != merged[:-1]])]
