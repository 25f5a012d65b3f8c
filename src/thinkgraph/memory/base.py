"""The :class:`Memory` protocol: a store of texts with metadata, searched by meaning.

Lifecycle of a store::

    mem = open_memory("runs/mem", embedder="default")   # open (creates the folder) or reopen
    ids = mem.add(["All cats are mammals.", Item("Tom is a cat.", {"kind": "fact"})])  # one atomic batch
    hits = mem.search("Is Tom a mammal?", k=3, where={"kind": "fact"})             # by text or by vector
    mem.delete(ids[:1])                                                           # one atomic batch too
    mem.persist()        # flush derived files (an index); committed batches are durable without it
    mem.close()          # persist and release; a closed store refuses calls

* **Batches are atomic**: each :meth:`Memory.add` / :meth:`Memory.delete` call commits as one unit.  A
  process killed during a call leaves the store as it was after the previous call, never half a batch
  and never a corrupt index.
* **Items** are a text, a JSON-serialisable metadata mapping, an id (given, or assigned) and a vector
  (given, or computed by the store's :class:`~thinkgraph.memory.embed.Embedder`).  Adding an id that is
  already stored replaces that item.
* **Scores** are cosine similarities (vectors are L2-normalised when stored), best first.
* **Filters** (``where``) match top-level metadata keys: a value must be equal, a list/tuple value means
  "any of these", ``None`` means the key is missing or null.

Implementations: :class:`~thinkgraph.memory.faiss_store.FaissMemory` (faiss: exact, HNSW or IVF) and
:class:`~thinkgraph.memory.numpy_store.NumpyMemory` (exact numpy search; in memory or on disk).  Both keep
items in SQLite and pass one conformance suite (``tests/test_memory_conformance.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    pass

Where = Mapping[str, Any]


class MemoryUsageError(ValueError):
    """A developer error using a store (wrong vector size, a text query without an embedder, a bad filter);
    the message says the fix."""


class MemoryStoreError(RuntimeError):
    """A store that cannot be opened (another format, another embedder, an unreadable file)."""


class MemoryUnavailable(RuntimeError):
    """An optional dependency is missing; the message names the extra to install."""


def need(module: str, extra: str = "memory") -> Any:
    """Import ``module`` or raise :class:`MemoryUnavailable` with the install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MemoryUnavailable(f"{module} is not installed: pip install 'thinkgraph[{extra}]' ({exc})") from exc


@dataclass(frozen=True)
class Item:
    """One item to add (or one read back by :meth:`Memory.get`)."""

    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    vector: Sequence[float] | None = None

    @staticmethod
    def of(value: Item | str | Mapping[str, Any]) -> Item:
        """An item from a text, an :class:`Item` or a JSON object ``{"text", "metadata"?, "id"?, "vector"?}``."""
        if isinstance(value, Item):
            return value
        if isinstance(value, str):
            return Item(value)
        if isinstance(value, Mapping):
            unknown = set(value) - {"text", "metadata", "id", "vector"}
            if "text" not in value or not isinstance(value["text"], str) or unknown:
                raise MemoryUsageError(
                    "an item is {'text': str, 'metadata'?: {...}, 'id'?: str, 'vector'?: [floats]}"
                    + (f"; unknown keys {sorted(unknown)}" if unknown else "; 'text' (a string) is missing")
                )
            meta = value.get("metadata") or {}
            if not isinstance(meta, Mapping):
                raise MemoryUsageError("an item's 'metadata' must be a JSON object")
            ident = value.get("id")
            return Item(value["text"], dict(meta), None if ident is None else str(ident), value.get("vector"))
        raise MemoryUsageError(f"cannot add {type(value).__name__}: pass a str, an Item or a mapping with 'text'")


@dataclass(frozen=True)
class Hit:
    """One search result: the item and its cosine similarity to the query."""

    id: str
    text: str
    score: float
    metadata: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "score": round(self.score, 6), "metadata": self.metadata}


@runtime_checkable
class Memory(Protocol):
    """A persistent (or in-memory) store of items searched by vector similarity.  See the module docstring."""

    def add(self, items: Iterable[Item | str | Mapping[str, Any]]) -> list[str]:
        """Add (or replace, by id) items as one atomic batch; returns their ids in order."""
        ...

    def search(self, query: Any, k: int = 5, where: Where | None = None) -> list[Hit]:
        """The ``k`` items nearest to ``query`` (a text, or a vector) that match ``where``, best first."""
        ...

    def get(self, ids: Iterable[str]) -> list[Item]:
        """The stored items with these ids (missing ids are skipped), with their vectors."""
        ...

    def delete(self, ids: Iterable[str]) -> int:
        """Remove items (one atomic batch); returns how many existed."""
        ...

    def __len__(self) -> int: ...

    def persist(self) -> None:
        """Write derived files (an index) so the next open is fast; committed batches never need it."""
        ...

    def close(self) -> None: ...

    def stats(self) -> dict[str, Any]:
        """Counts, sizes and settings (items, dim, index kind, embedder, batches, bytes on disk)."""
        ...


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def where_sql(where: Where | None) -> tuple[str, list[Any]]:
    """A SQL condition (over the ``metadata`` JSON column) and its parameters for a ``where`` filter."""
    if not where:
        return "1", []
    if not isinstance(where, Mapping):
        raise MemoryUsageError("where must be a mapping of metadata key → value (or list of values)")
    parts: list[str] = []
    args: list[Any] = []
    for key, value in where.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise MemoryUsageError(f"filter key {key!r}: use a plain metadata key (letters, digits, _ . -)")
        path = f'$."{key}"'
        if value is None:
            parts.append("json_extract(metadata, ?) IS NULL")
            args.append(path)
        elif isinstance(value, list | tuple | set | frozenset):
            values = [_scalar(key, v) for v in value]
            if not values:
                parts.append("0")
                continue
            parts.append(f"json_extract(metadata, ?) IN ({', '.join('?' * len(values))})")
            args.extend([path, *values])
        else:
            parts.append("json_extract(metadata, ?) = ?")
            args.extend([path, _scalar(key, value)])
    return " AND ".join(parts), args


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)  # JSON true/false read back by SQLite as 1/0
    if isinstance(value, str | int | float):
        return value
    raise MemoryUsageError(f"filter {key}={value!r}: values must be strings, numbers, booleans, None or lists of them")


def dump_metadata(meta: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(meta), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryUsageError(f"metadata must be JSON-serialisable: {exc}") from exc


__all__ = [
    "Hit",
    "Item",
    "Memory",
    "MemoryStoreError",
    "MemoryUnavailable",
    "MemoryUsageError",
    "Where",
    "dump_metadata",
    "need",
    "where_sql",
]
