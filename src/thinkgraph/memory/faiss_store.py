"""The faiss store: items in SQLite, vectors in a faiss index saved atomically beside them.

Index kinds (``index=``):

* ``flat`` — exact inner-product search (cosine on normalised vectors); deletions remove entries.
* ``hnsw`` — an HNSW graph (``M`` 32, ``efSearch`` 128 by default): sub-millisecond searches on 100k+
  vectors, no training; deletions leave stale entries that searches skip, and the index is rebuilt when
  they pass a quarter of it.
* ``ivf`` — an inverted file (``nlist`` ≈ √n clusters, searching 30% of them unless ``nprobe`` says),
  trained on the stored vectors and retrained when the store has grown fourfold; exact (flat) until the
  store has enough vectors to train.  Embeddings rarely fall into clean clusters, so IVF needs that many
  lists probed for recall ≥ 0.95 (``benchmarks/memory.py``); HNSW is the faster choice, and ``auto``'s.
* ``auto`` (the default) — ``flat`` below :data:`AUTO_APPROXIMATE_AT` items, ``hnsw`` from there.

The index file (``index.faiss``) is a header (the batch it reflects, its kind, a sha256 of the payload)
and ``faiss.serialize_index`` bytes, written to a temporary file, fsynced and renamed over the old one.
A file that is missing, unreadable, of another kind or checksum is ignored and the index is rebuilt from
SQLite; one that lags behind is brought up to date from the rows committed since.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from thinkgraph.memory._store import IndexedStore
from thinkgraph.memory.base import MemoryUsageError, need
from thinkgraph.memory.embed import Embedder

if TYPE_CHECKING:
    import numpy as np

IndexKind = Literal["auto", "flat", "hnsw", "ivf"]
AUTO_APPROXIMATE_AT = 50_000
IVF_MIN_TRAIN = 10_000
INDEX_FILE = "index.faiss"
_MAGIC = b"TGFAISS1"


class FaissMemory(IndexedStore):
    """A :class:`~thinkgraph.memory.base.Memory` over a faiss index (see the module docstring)."""

    def __init__(
        self,
        path: str | Path | None = None,
        embedder: Embedder | str | None = None,
        *,
        index: IndexKind | None = None,
        dim: int = 0,
        hnsw_m: int = 32,
        ef_search: int = 128,
        ef_construction: int = 80,
        nprobe: int = 0,
        threads: int = 0,
    ):
        self._faiss = need("faiss")
        self._np = need("numpy")
        self._faiss.omp_set_num_threads(threads or int(os.environ.get("THINKGRAPH_THREADS", "1")))
        self.hnsw_m, self.ef_search, self.ef_construction, self.nprobe = hnsw_m, ef_search, ef_construction, nprobe
        self._index: Any = None
        self._built_kind = "flat"
        self._trained_on = 0
        self._unsaved = 0
        super().__init__(path, embedder, dim=dim)
        stored = self._meta().get("index")
        if index is not None and index not in ("auto", "flat", "hnsw", "ivf"):
            raise MemoryUsageError(f"index {index!r}: choose auto, flat, hnsw or ivf")
        self.requested: str = index or stored or "auto"
        if index is not None and index != stored:
            self._set_meta(index=index)
        self._remove_dead_temp_files()

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self._built_kind

    # -- choosing and building ------------------------------------------------------------------------
    def _wanted_kind(self, n: int) -> str:
        if self.requested == "auto":
            return "hnsw" if n >= AUTO_APPROXIMATE_AT else "flat"
        if self.requested == "ivf" and n < IVF_MIN_TRAIN:
            return "flat"
        return self.requested

    def _new_index(self, kind: str, train: np.ndarray | None = None) -> Any:
        faiss = self._faiss
        d = self.dim
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = self.ef_construction
            hnsw.hnsw.efSearch = self.ef_search
            return faiss.IndexIDMap2(hnsw)
        if kind == "ivf":
            assert train is not None
            nlist = max(16, min(int(math.sqrt(len(train))), len(train) // 39))
            quantizer = faiss.IndexFlatIP(d)
            ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.train(train)
            ivf.nprobe = self._nprobe(nlist)
            self._trained_on = len(train)
            return ivf
        return faiss.IndexIDMap2(faiss.IndexFlatIP(d))

    def _nprobe(self, nlist: int) -> int:
        return min(nlist, self.nprobe or max(16, round(0.3 * nlist)))

    def _index_reset(self) -> None:
        self._index = None
        self._built_kind = "flat"
        self._trained_on = 0

    def _ensure(self, vecs: np.ndarray) -> None:
        if self._index is None:
            if not self.dim:
                self.dim = int(vecs.shape[1])
            n = len(self)
            kind = self._wanted_kind(n)
            train = self._training_sample() if kind == "ivf" else None
            self._index = self._new_index(kind, train)
            self._built_kind = kind

    def _training_sample(self, limit: int = 50_000) -> np.ndarray:
        """Every k-th stored vector, at most ``limit`` (deterministic: the same store trains the same index)."""
        np = self._np
        n = int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])
        step = max(1, -(-n // limit))
        cur = self._db.execute("SELECT vector FROM items ORDER BY rowid")
        rows = [v for i, (v,) in enumerate(cur) if i % step == 0][:limit]
        return np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(rows), -1)

    def _index_add(self, rowids: np.ndarray, vecs: np.ndarray) -> None:
        self._ensure(vecs)
        self._index.add_with_ids(self._np.ascontiguousarray(vecs, dtype=self._np.float32), rowids)
        self._unsaved += len(rowids)

    def _index_remove(self, rowids: np.ndarray) -> int:
        if self._index is None:
            return 0
        if self._built_kind == "hnsw":
            return len(rowids)  # HNSW cannot remove: stale entries, skipped at search
        self._index.remove_ids(self._faiss.IDSelectorBatch(rowids))
        self._unsaved += len(rowids)
        return 0

    def _index_size(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal) - self._stale

    def _index_search(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        faiss = self._faiss
        k = max(1, min(k, int(self._index.ntotal)))
        sel = faiss.IDSelectorBatch(allowed) if allowed is not None else None
        if self._built_kind == "hnsw":
            params: Any = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
        elif self._built_kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self._nprobe(int(self._index.nlist)))
        else:
            params = faiss.SearchParameters()
        if sel is not None:
            params.sel = sel
        scores, ids = self._index.search(q, k, params=params)
        return scores[0], ids[0]

    def _after_write(self) -> None:
        n = len(self)
        wanted = self._wanted_kind(n)
        entries = int(self._index.ntotal) if self._index is not None else 0
        too_stale = self._stale > 1000 and self._stale > 0.25 * max(entries, 1)
        retrain = self._built_kind == "ivf" and n >= 4 * self._trained_on
        if self._index is not None and (wanted != self._built_kind or too_stale or retrain):
            self._index_reset()
            self._sync(rebuild=True)
            self._save_index()
        elif self.path is not None and self._unsaved >= max(5_000, n // 5):
            self._save_index()

    # -- the index file -------------------------------------------------------------------------------
    def _save_index(self) -> None:
        if self.path is None or self._index is None or self._unsaved == 0:
            return
        payload = self._faiss.serialize_index(self._index).tobytes()
        header = {
            "kind": self._built_kind,
            "batch": self._synced_batch,
            "max_rowid": self._max_rowid,
            "stale": self._stale,
            "trained_on": self._trained_on,
            "dim": self.dim,
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        head = json.dumps(header).encode()
        target = self.path / INDEX_FILE
        tmp = self.path / f"{INDEX_FILE}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(_MAGIC + len(head).to_bytes(8, "little") + head)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._unsaved = 0

    def _open_index(self) -> None:
        if self.path is None:
            return
        try:
            data = (self.path / INDEX_FILE).read_bytes()
        except OSError:
            return
        try:
            if data[:8] != _MAGIC:
                return
            size = int.from_bytes(data[8:16], "little")
            header = json.loads(data[16 : 16 + size])
            payload = data[16 + size :]
            if hashlib.sha256(payload).hexdigest() != header["sha256"] or int(header["dim"]) != self.dim:
                return
            if header["kind"] != self._wanted_kind(len(self)) and self.requested != "auto":
                return  # the user asked for another kind: rebuild
            index = self._faiss.deserialize_index(self._np.frombuffer(payload, dtype=self._np.uint8))
        except (ValueError, KeyError, RuntimeError):
            return  # unreadable: rebuilt from SQLite
        self._index, self._built_kind = index, str(header["kind"])
        self._trained_on = int(header.get("trained_on", 0))
        self._synced_batch, self._max_rowid, self._stale = (
            int(header["batch"]),
            int(header["max_rowid"]),
            int(header["stale"]),
        )
        if self._built_kind == "hnsw":
            self._faiss.downcast_index(index.index).hnsw.efSearch = self.ef_search
        elif self._built_kind == "ivf":
            index.nprobe = self._nprobe(int(index.nlist))

    def _remove_dead_temp_files(self) -> None:
        if self.path is None:
            return
        for tmp in self.path.glob(f"{INDEX_FILE}.tmp-*"):
            try:
                pid = int(tmp.name.rsplit("-", 1)[1])
                os.kill(pid, 0)
            except ProcessLookupError:
                tmp.unlink(missing_ok=True)  # left by a writer that died mid-write
            except (ValueError, PermissionError, OSError):
                continue

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["requested_index"] = self.requested
        if self._built_kind == "ivf" and self._index is not None:
            out["ivf_nlist"] = int(self._index.nlist)
            out["ivf_nprobe"] = self._nprobe(int(self._index.nlist))
        return out


__all__ = ["AUTO_APPROXIMATE_AT", "INDEX_FILE", "FaissMemory", "IndexKind"]
