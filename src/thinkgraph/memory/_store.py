"""What every store shares: items, metadata and vectors in SQLite (the source of truth), batches, filters.

An implementation adds only its index (:class:`IndexedStore` leaves ``_index_*`` to it).  The index is
derived data: it records the batch it reflects, and on open — or when another process has written — the
store brings it up to date from SQLite (new rows added, deleted rows removed or skipped), so a stale or
missing index file is never wrong, only slower to open.

SQLite layout (``items.sqlite`` in the store folder): ``meta`` (format, dim, embedder, index, batch counter),
``items`` (rowid = the index id, never reused; id, text, metadata JSON, float32 vector blob, batch) and
``deletions`` (rowid, batch) so an index written before a deletion learns of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from thinkgraph.memory.base import Hit, Item, MemoryStoreError, MemoryUsageError, Where, dump_metadata, where_sql
from thinkgraph.memory.embed import Embedder, normalize, shared_embedder

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
FORMAT = "thinkgraph-memory/1"
DB_NAME = "items.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL,
    metadata TEXT NOT NULL, vector BLOB NOT NULL, batch INTEGER NOT NULL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS deletions (rowid INTEGER PRIMARY KEY, batch INTEGER NOT NULL);
"""
# a filtered search over at most this many matching items is exact (numpy over their vectors)
EXACT_FILTER_LIMIT = 20_000


class IndexedStore:
    """A :class:`~thinkgraph.memory.base.Memory` over SQLite; subclasses provide the vector index.

    ``path``: the store's folder (created), or ``None`` for a store in memory.  ``embedder``: an
    :class:`~thinkgraph.memory.embed.Embedder` or a spec; ``None`` uses the one the store was created
    with (or none: then items need vectors and searches need vector queries)."""

    kind = "abstract"

    def __init__(self, path: str | Path | None = None, embedder: Embedder | str | None = None, *, dim: int = 0):
        self.path = Path(path) if path is not None else None
        self._lock = threading.RLock()
        self._closed = False
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path / DB_NAME, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
        else:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        meta = self._meta()
        if meta.get("format", FORMAT) != FORMAT:
            raise MemoryStoreError(f"{self.path}: a store of format {meta['format']!r}; this version reads {FORMAT}")
        spec = embedder if isinstance(embedder, str) else getattr(embedder, "spec", None)
        stored = meta.get("embedder")
        if spec and stored and spec != stored:
            raise MemoryStoreError(
                f"{self.path}: the store's vectors come from embedder {stored!r}, not {spec!r}: "
                f"open it with embedder={stored!r} (--embedder {stored}) or use another folder"
            )
        self._embedder_arg = embedder if embedder is not None else stored
        self._embedder: Embedder | None = embedder if embedder is not None and not isinstance(embedder, str) else None
        self.dim = int(meta.get("dim", 0)) or dim
        self._spec = spec or stored
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
        if dim and int(meta.get("dim", 0) or dim) != dim:
            raise MemoryStoreError(f"{self.path}: the store holds {meta['dim']}-d vectors, not {dim}-d")
        self._synced_batch = -1  # the batch the index reflects
        self._max_rowid = 0  # the largest rowid in the index
        self._stale = 0  # ids in the index whose items were deleted (skipped at search)

    # -- meta -----------------------------------------------------------------------------------------
    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, **values: Any) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    def _db_batch(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'batch'").fetchone()
        return int(row[0]) if row else 0

    @property
    def embedder(self) -> Embedder | None:
        if self._embedder is None and isinstance(self._embedder_arg, str):
            self._embedder = shared_embedder(self._embedder_arg)  # one model per spec in a process
        return self._embedder

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryUsageError("this store is closed: open it again")

    # -- writing --------------------------------------------------------------------------------------
    def _vectors(self, items: list[Item]) -> np.ndarray:
        import numpy as np

        need_text = [i for i, it in enumerate(items) if it.vector is None]
        rows: list[Any] = [None] * len(items)
        if need_text:
            emb = self.embedder
            if emb is None:
                raise MemoryUsageError("items without vectors need an embedder: open the store with embedder='default'")
            computed = emb.embed([items[i].text for i in need_text])
            for j, i in enumerate(need_text):
                rows[i] = computed[j]
        for i, it in enumerate(items):
            if it.vector is not None:
                rows[i] = np.asarray(it.vector, dtype=np.float32).reshape(-1)
        dims = {int(r.shape[0]) for r in rows}
        if len(dims) > 1 or (self.dim and dims != {self.dim}):
            raise MemoryUsageError(f"vectors of size {sorted(dims)} for a store of {self.dim or 'mixed'}-d vectors")
        return normalize(np.stack(rows))

    def add(self, items: Iterable[Item | str | Mapping[str, Any]]) -> list[str]:
        batch_items = [Item.of(x) for x in items]
        if not batch_items:
            return []
        with self._lock:
            self._check_open()
            vecs = self._vectors(batch_items)
            ids = [it.id if it.id is not None else uuid.uuid4().hex for it in batch_items]
            if len(set(ids)) != len(ids):
                raise MemoryUsageError("one batch names the same id twice")
            rows = [(i, it.text, dump_metadata(it.metadata)) for i, it in zip(ids, batch_items, strict=True)]
            now = time.time()

            def write(batch: int) -> None:
                if self._spec:  # the first batch names the embedder its vectors came from
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('embedder', ?)", (self._spec,))
                if not self.dim:
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(vecs.shape[1]),))
                self._delete_rows(ids, batch)
                self._db.executemany(
                    "INSERT INTO items (id, text, metadata, vector, batch, added) VALUES (?, ?, ?, ?, ?, ?)",
                    [(i, t, m, vecs[n].tobytes(), batch, now) for n, (i, t, m) in enumerate(rows)],
                )

            self._commit(write)
            self.dim = self.dim or int(vecs.shape[1])
            return ids

    def delete(self, ids: Iterable[str]) -> int:
        wanted = [str(i) for i in ids]
        if not wanted:
            return 0
        with self._lock:
            self._check_open()
            return self._commit(lambda batch: self._delete_rows(wanted, batch))

    def _commit(self, write: Callable[[int], T]) -> T:
        """Run ``write(batch)`` in one transaction that also bumps the batch counter, then update the index."""
        self._sync()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            batch = self._db_batch() + 1
            out = write(batch)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('batch', ?)", (str(batch),))
            self._before_commit(batch)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._sync()
        self._after_write()
        return out

    def _before_commit(self, batch: int) -> None:
        """A hook for tests that kill a writer inside its transaction."""

    def _delete_rows(self, ids: list[str], batch: int) -> int:
        found: list[int] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            q = f"SELECT rowid FROM items WHERE id IN ({', '.join('?' * len(chunk))})"
            found.extend(r for (r,) in self._db.execute(q, chunk))
        if found:
            self._db.executemany("INSERT OR REPLACE INTO deletions VALUES (?, ?)", [(r, batch) for r in found])
            self._db.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in found])
        return len(found)

    # -- index upkeep ---------------------------------------------------------------------------------
    def _sync(self, rebuild: bool = False) -> None:
        """Bring the index up to the committed batches (rows added or deleted since, by anyone);
        ``rebuild``: build it again from the stored rows (a new kind, too many stale entries)."""
        import numpy as np

        if not rebuild and self._db_batch() == self._synced_batch:
            return
        self._db.execute("BEGIN")  # one snapshot of the database for what follows
        try:
            batch = self._db_batch()
            if self._synced_batch < 0 and not rebuild:
                self._open_index()
            if rebuild or self._synced_batch < 0 or self._synced_batch > batch:  # no usable index: build it
                self._index_reset()
                self._max_rowid, self._stale = 0, 0
            else:
                removed = [
                    r
                    for (r,) in self._db.execute(
                        "SELECT rowid FROM deletions WHERE batch > ? AND rowid <= ?",
                        (self._synced_batch, self._max_rowid),
                    )
                ]
                if removed:
                    self._stale += self._index_remove(np.asarray(removed, dtype=np.int64))
            self._add_rows_after(self._max_rowid)
            self._synced_batch = batch
        finally:
            self._db.execute("COMMIT")

    def _add_rows_after(self, rowid: int) -> None:
        import numpy as np

        cur = self._db.execute("SELECT rowid, vector FROM items WHERE rowid > ? ORDER BY rowid", (rowid,))
        while chunk := cur.fetchmany(20_000):
            rowids = np.fromiter((r for r, _ in chunk), dtype=np.int64, count=len(chunk))
            vecs = np.frombuffer(b"".join(v for _, v in chunk), dtype=np.float32).reshape(len(chunk), -1)
            self._index_add(rowids, vecs)
            self._max_rowid = int(rowids[-1])

    def _open_index(self) -> None:
        """Load a saved index and set ``_synced_batch``, ``_max_rowid`` and ``_stale`` from it; leave
        ``_synced_batch`` negative when there is none (the index is then built from the rows)."""

    def _after_write(self) -> None:
        """Called after every committed batch (an index may rebuild, or save itself)."""

    # -- reading --------------------------------------------------------------------------------------
    def _query_vector(self, query: Any) -> np.ndarray:
        import numpy as np

        if isinstance(query, str):
            emb = self.embedder
            if emb is None:
                raise MemoryUsageError("a text query needs an embedder: open the store with embedder='default'")
            q = emb.embed([query])
        else:
            q = normalize(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if self.dim and q.shape[1] != self.dim:
            raise MemoryUsageError(f"a {q.shape[1]}-d query for a store of {self.dim}-d vectors")
        return q

    def search(self, query: Any, k: int = 5, where: Where | None = None) -> list[Hit]:
        import numpy as np

        if k <= 0:
            return []
        cond, args = where_sql(where)
        with self._lock:
            self._check_open()
            q = self._query_vector(query)
            self._sync()
            if self._index_size() == 0:
                return []
            if where:
                allowed = np.fromiter(
                    (r for (r,) in self._db.execute(f"SELECT rowid FROM items WHERE {cond}", args)), dtype=np.int64
                )
                if len(allowed) == 0:
                    return []
                if len(allowed) <= EXACT_FILTER_LIMIT:
                    return self._exact(q, allowed, k)
                scores, rowids = self._index_search(q, k + self._stale, allowed)
            else:
                scores, rowids = self._index_search(q, k + self._stale, None)
            return self._hits(scores, rowids, k)

    def _exact(self, q: np.ndarray, rowids: np.ndarray, k: int) -> list[Hit]:
        import numpy as np

        vecs: list[bytes] = []
        ids: list[int] = []
        for start in range(0, len(rowids), 500):
            chunk = [int(r) for r in rowids[start : start + 500]]
            q_sql = f"SELECT rowid, vector FROM items WHERE rowid IN ({', '.join('?' * len(chunk))})"
            for r, v in self._db.execute(q_sql, chunk):
                ids.append(r)
                vecs.append(v)
        mat = np.frombuffer(b"".join(vecs), dtype=np.float32).reshape(len(ids), -1)
        scores = mat @ q[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return self._hits(scores[order], np.asarray(ids, dtype=np.int64)[order], k)

    def _hits(self, scores: Any, rowids: Any, k: int) -> list[Hit]:
        pairs = [(int(r), float(s)) for r, s in zip(rowids, scores, strict=True) if int(r) >= 0]
        if not pairs:
            return []
        q = f"SELECT rowid, id, text, metadata FROM items WHERE rowid IN ({', '.join('?' * len(pairs))})"
        rows = {r: (i, t, m) for r, i, t, m in self._db.execute(q, [r for r, _ in pairs])}
        out = [Hit(rows[r][0], rows[r][1], s, json.loads(rows[r][2])) for r, s in pairs if r in rows]
        return out[:k]

    def get(self, ids: Iterable[str]) -> list[Item]:
        import numpy as np

        wanted = [str(i) for i in ids]
        out: dict[str, Item] = {}
        with self._lock:
            self._check_open()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                q = f"SELECT id, text, metadata, vector FROM items WHERE id IN ({', '.join('?' * len(chunk))})"
                for i, t, m, v in self._db.execute(q, chunk):
                    out[i] = Item(t, json.loads(m), i, np.frombuffer(v, dtype=np.float32).tolist())
        return [out[i] for i in wanted if i in out]

    def items(self, where: Where | None = None, limit: int | None = None) -> list[Item]:
        """Stored items (without vectors) in the order they were added, filtered by ``where``."""
        cond, args = where_sql(where)
        sql = f"SELECT id, text, metadata FROM items WHERE {cond} ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            self._check_open()
            return [Item(t, json.loads(m), i) for i, t, m in self._db.execute(sql, args)]

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            self._sync()
            meta = self._meta()
            disk = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file()) if self.path else 0
            return {
                "store": str(self.path) if self.path else ":memory:",
                "implementation": type(self).__name__,
                "items": len(self),
                "dim": self.dim,
                "embedder": meta.get("embedder"),
                "batches": self._db_batch(),
                "index": self.kind,
                "index_entries": self._index_size(),
                "stale_index_entries": self._stale,
                "bytes_on_disk": disk,
            }

    def persist(self) -> None:
        with self._lock:
            self._check_open()
            self._sync()
            self._save_index()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.persist()
            finally:
                self._closed = True
                self._db.close()

    def __enter__(self) -> IndexedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the index (subclasses) -----------------------------------------------------------------------
    def _index_reset(self) -> None:
        raise NotImplementedError

    def _index_add(self, rowids: np.ndarray, vecs: np.ndarray) -> None:
        raise NotImplementedError

    def _index_remove(self, rowids: np.ndarray) -> int:
        """Remove ids; returns how many stay behind as stale entries (skipped at search)."""
        raise NotImplementedError

    def _index_search(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _index_size(self) -> int:
        raise NotImplementedError

    def _save_index(self) -> None:
        """Write the index beside the items (atomically); stores without an index file do nothing."""
