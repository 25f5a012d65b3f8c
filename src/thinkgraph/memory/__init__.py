"""Memory: texts remembered with their metadata and found again by meaning.

* :mod:`~thinkgraph.memory.base` — the :class:`Memory` protocol (add, search by text or vector with
  metadata filters, delete, persist, reopen; atomic batches), :class:`Item`, :class:`Hit`;
* :mod:`~thinkgraph.memory.embed` — the :class:`Embedder` protocol and :func:`load_embedder` (default:
  sentence-transformers all-MiniLM-L6-v2, offline; ``st:NAME``, ``openai:MODEL@URL``, ``hash``);
* :mod:`~thinkgraph.memory.faiss_store` (:class:`FaissMemory`) and :mod:`~thinkgraph.memory.numpy_store`
  (:class:`NumpyMemory`) — the implementations; :func:`open_memory` picks one;
* uses: :mod:`~thinkgraph.memory.examples` (few-shot examples for the translator),
  :mod:`~thinkgraph.memory.premises` (premise retrieval for provers), :mod:`~thinkgraph.memory.episodic`
  (answers recalled across sessions, re-verified before use), :mod:`~thinkgraph.memory.nodes`
  (``memory.retrieve`` and ``memory.remember``), :mod:`~thinkgraph.memory.commands` (``thinkgraph memory``).

Importing this package is light: numpy, faiss, torch and sentence-transformers load on first use
(``pip install 'thinkgraph[memory]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from thinkgraph.memory.base import Hit, Item, Memory, MemoryStoreError, MemoryUnavailable, MemoryUsageError

if TYPE_CHECKING:
    from thinkgraph.memory.embed import Embedder


def open_memory(
    path: str | Path | None,
    embedder: Embedder | str | None = None,
    *,
    index: str | None = None,
    backend: str = "auto",
    **options: Any,
) -> Memory:
    """Open (or create) the store in folder ``path`` (``None``: in memory).  ``backend``: ``faiss``,
    ``numpy`` or ``auto`` (faiss when installed).  ``index``: ``auto``, ``flat``, ``hnsw`` or ``ivf``
    (faiss only).  ``embedder``: a spec or an :class:`Embedder`; ``None`` reuses the store's own."""
    if backend not in ("auto", "faiss", "numpy"):
        raise MemoryUsageError(f"backend {backend!r}: choose auto, faiss or numpy")
    if backend == "auto":
        import importlib.util

        backend = "faiss" if importlib.util.find_spec("faiss") is not None else "numpy"
    if backend == "numpy":
        if index not in (None, "auto", "flat"):
            raise MemoryUsageError(f"index {index!r} needs faiss: pip install 'thinkgraph[memory]'")
        from thinkgraph.memory.numpy_store import NumpyMemory

        return NumpyMemory(path, embedder, **options)
    from thinkgraph.memory.faiss_store import FaissMemory

    return FaissMemory(path, embedder, index=index, **options)  # type: ignore[arg-type]


def stored_embedder(path: str | Path) -> str | None:
    """The embedder spec a store's vectors came from (None: no store there, or no item added yet)."""
    import sqlite3

    from thinkgraph.memory._store import DB_NAME

    db_path = Path(path) / DB_NAME
    if not db_path.exists():
        return None
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return str(row[0]) if row else None


__all__ = [
    "Hit",
    "Item",
    "Memory",
    "MemoryStoreError",
    "MemoryUnavailable",
    "MemoryUsageError",
    "open_memory",
    "stored_embedder",
]
