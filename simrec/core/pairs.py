"""``PairSet``: a set of ``(row, col)`` pairs whose memory stops growing.

Which items each user has watched is asked every step and grows with every
watch. As sorted ``int64`` keys it costs 8 bytes a pair without bound; as a bit
matrix it costs ``rows × cols / 8`` bytes whatever it holds. :class:`PairSet`
keeps sorted keys while they are the smaller and turns into the bit matrix once
they would outgrow it, so a long run's memory levels off at the bit matrix.
"""

from __future__ import annotations

import numpy as np

from simrec.core.arrays import isin_sorted, unique_sorted, unique_sorted_merge


class PairSet:
    """Distinct ``(row, col)`` pairs of an ``n_rows × n_cols`` grid.

    Args:
        n_rows: Rows of the grid (users).
        n_cols: Columns of the grid (items).
        rows: Pairs to start with (row indices) ...
        cols: ... and their column indices.
    """

    def __init__(self, n_rows: int, n_cols: int, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> None:
        self.n_rows, self.n_cols = int(n_rows), int(n_cols)
        self._keys: np.ndarray | None = np.empty(0, np.int64)
        self._bits: np.ndarray | None = None
        if rows is not None and cols is not None:
            self.add(rows, cols)

    @property
    def dense(self) -> bool:
        """Whether the pairs are held as a bit matrix."""
        return self._bits is not None

    @property
    def nbytes(self) -> int:
        """Bytes the pairs take."""
        return int(self._bits.nbytes if self._bits is not None else self._keys.nbytes)  # type: ignore[union-attr]

    def _key(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(rows, np.int64) * self.n_cols + np.asarray(cols, np.int64)

    def add(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Add the pairs ``(rows[j], cols[j])`` (already present ones are fine)."""
        keys = self._key(rows, cols)
        if not len(keys):
            return
        if self._bits is not None:
            np.bitwise_or.at(self._bits, keys >> 3, (1 << (keys & 7)).astype(np.uint8))
            return
        assert self._keys is not None
        self._keys = unique_sorted_merge(self._keys, unique_sorted(keys))
        bitmap_bytes = -(-self.n_rows * self.n_cols // 8)
        if self._keys.nbytes >= bitmap_bytes:
            self._bits = np.zeros(bitmap_bytes, np.uint8)
            held, self._keys = self._keys, None
            np.bitwise_or.at(self._bits, held >> 3, (1 << (held & 7)).astype(np.uint8))

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Per pair, whether it is in the set."""
        keys = self._key(rows, cols)
        if self._bits is not None:
            return ((self._bits[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1).astype(bool)
        assert self._keys is not None
        return isin_sorted(keys, self._keys)
