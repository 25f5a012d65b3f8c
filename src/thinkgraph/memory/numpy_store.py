"""A small exact store: every vector in one numpy matrix, searched by a matrix-vector product.

For unit tests, for stores of a few thousand items, and where faiss is not installed.  With a folder it
persists like any store (SQLite is the truth; the matrix is rebuilt from it when the store opens); with
``path=None`` it lives in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from thinkgraph.memory._store import IndexedStore
from thinkgraph.memory.base import need
from thinkgraph.memory.embed import Embedder

if TYPE_CHECKING:
    import numpy as np


class NumpyMemory(IndexedStore):
    """Exact cosine search over an in-memory numpy matrix (see the module docstring)."""

    kind = "numpy-exact"

    def __init__(self, path: str | Path | None = None, embedder: Embedder | str | None = None, *, dim: int = 0):
        self._np = need("numpy")
        self._reset_arrays()
        super().__init__(path, embedder, dim=dim)

    def _reset_arrays(self) -> None:
        np = self._np
        self._ids = np.zeros(0, dtype=np.int64)
        self._mat = np.zeros((0, 0), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)

    def _index_reset(self) -> None:
        self._reset_arrays()

    def _index_add(self, rowids: np.ndarray, vecs: np.ndarray) -> None:
        np = self._np
        if self._mat.shape[0] == 0:
            self._mat = np.array(vecs, dtype=np.float32)
        else:
            self._mat = np.concatenate([self._mat, vecs.astype(np.float32)])
        self._ids = np.concatenate([self._ids, rowids.astype(np.int64)])
        self._alive = np.concatenate([self._alive, np.ones(len(rowids), dtype=bool)])

    def _index_remove(self, rowids: np.ndarray) -> int:
        self._alive &= ~self._np.isin(self._ids, rowids)
        return 0

    def _index_size(self) -> int:
        return int(self._alive.sum())

    def _index_search(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        np = self._np
        mask = self._alive if allowed is None else self._alive & np.isin(self._ids, allowed)
        idx = np.flatnonzero(mask)
        scores = self._mat[idx] @ q[0]
        k = min(k, len(idx))
        top = np.argpartition(-scores, k - 1)[:k] if 0 < k < len(idx) else np.arange(len(idx))
        order = top[np.argsort(-scores[top], kind="stable")]
        return scores[order], self._ids[idx[order]]


__all__ = ["NumpyMemory"]
