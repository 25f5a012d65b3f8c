"""A persistent sample cache: :class:`CachedModel` wraps any :class:`~thinkgraph.llm.base.ChatModel`.

Samples are stored in SQLite under a canonical hash of the request — the model's id (``cache_id``, else its
name), the messages and every sampling parameter except ``n`` — **and the sample index**.  A request for ``n``
samples reads indices ``0 .. n-1`` and asks the model only for the missing ones: after an ``n=8`` request, an
``n=12`` request reuses the 8 and draws 4.  The missing samples ``i .. j`` are asked for as one request for
``j - i + 1`` samples with seed ``seed + i`` (:func:`~thinkgraph.llm.base.sample_slice`), so a cache never hands
out copies of one sample as different samples: a rerun returns exactly what was drawn, and sample ``i`` is
never sample ``j``.  By the same convention a seeded request's seed is where it starts in one stream of
samples: ``seed=2, n=3`` is samples 2..4 of the ``seed=0`` stream, so strategies that draw in batches (adaptive
consistency: seed ``s``, then ``s + k``…) share samples with one that drew them all at once.
The exception, on by default (``share_greedy``): a temperature-0 request is greedy, its
samples are one sample, so they share one entry (index 0) whatever their seed and ``n``.

A rerun of cached requests sends no request at all.  Cached samples are marked (``Completion.cached``,
``ChatResponse.cached`` and ``cached_usage``); their usage is what they cost when drawn, so a rerun accounts —
and meets budgets — exactly like the first run (:class:`~thinkgraph.llm.managed.ManagedModel` notes the cached
samples in the trace).

Safe to share: one connection behind a lock per process, WAL and a busy timeout across processes, one
transaction per call (a process killed mid-write leaves the samples of earlier calls intact, never a corrupt
file), and concurrent calls for the same request wait for one another instead of drawing twice.  The file
refuses to open anything that is not a thinkgraph cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from thinkgraph.llm.base import (
    ChatModel,
    ChatRequest,
    ChatResponse,
    Completion,
    ModelError,
    TokenLogprob,
    capabilities_of,
    check_request,
    sample_slice,
)
from thinkgraph.messages import Usage

FORMAT = "thinkgraph-sample-cache/1"

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    key TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, finish_reason TEXT NOT NULL, logprobs TEXT,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (key, idx)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('format', '"""
    + FORMAT
    + """');
"""
)


class CacheError(ValueError):
    """The cache file cannot be used (not a thinkgraph cache, unreadable, unwritable)."""


@dataclass(frozen=True)
class Sample:
    """One stored sample and its share of the usage of the call that drew it."""

    text: str
    finish_reason: str = "stop"
    logprobs: tuple[TokenLogprob, ...] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def canonical_request(model_id: str, request: ChatRequest, *, greedy: bool = False) -> str:
    """The canonical JSON a cache key hashes: the model id and every request field but ``n`` and the seed's value.

    A seeded request's samples are one stream: sample ``i`` of a request with seed ``s`` is sample ``s + i`` of
    the stream (the convention of :func:`~thinkgraph.llm.base.sample_slice`), so only *whether* a request is
    seeded is in the key, and the seed offsets the indices.  A greedy entry ignores the seed altogether."""
    payload = request.model_dump(mode="json", exclude={"n"})
    seed = payload.pop("seed", None)
    if not greedy:
        payload["seeded"] = seed is not None
    return json.dumps(
        {"format": FORMAT, "model": model_id, "request": payload},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def first_index(request: ChatRequest, *, greedy: bool = False) -> int:
    """The stream index of a request's first sample: its seed (0 when unseeded or greedy)."""
    return 0 if greedy or request.seed is None else request.seed


def cache_key(model_id: str, request: ChatRequest, *, greedy: bool = False) -> str:
    return hashlib.sha256(canonical_request(model_id, request, greedy=greedy).encode()).hexdigest()


class SampleCache:
    """The SQLite file: ``get`` the stored samples of a key, ``put`` new ones (one transaction)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        path = self.path
        if path.exists() and not path.is_file():
            raise CacheError(f"--cache {path}: is not a file")
        if not path.parent.is_dir():
            raise CacheError(f"--cache {path}: the folder {path.parent} does not exist")
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":  # never let SQLite touch a file that is not a database
                    raise CacheError(f"--cache {path}: not a thinkgraph sample cache (not an SQLite database)")
        try:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and not {"meta", "requests", "samples"} <= tables:
                conn.close()
                raise CacheError(f"--cache {path}: not a thinkgraph sample cache (it holds other tables)")
            if tables:
                row = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
                if row is None or row[0] != FORMAT:
                    conn.close()
                    raise CacheError(f"--cache {path}: a sample cache of another format ({row and row[0]!r})")
            conn.execute("PRAGMA journal_mode = WAL")  # only on our own files
            conn.execute("PRAGMA synchronous = NORMAL")
            if not tables:
                conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise CacheError(f"--cache {path}: not usable as a sample cache ({exc})") from exc
        self._conn = conn
        return conn

    def get(self, key: str, upto: int, start: int = 0) -> dict[int, Sample]:
        """The stored samples of ``key`` with ``start <= index < upto``."""
        with self._lock:
            try:
                rows = (
                    self._connect()
                    .execute(
                        "SELECT idx, text, finish_reason, logprobs, prompt_tokens, completion_tokens FROM samples "
                        "WHERE key = ? AND idx >= ? AND idx < ?",
                        (key, start, upto),
                    )
                    .fetchall()
                )
            except sqlite3.Error as exc:
                raise CacheError(f"cache {self.path}: cannot read it ({exc})") from exc
        out = {}
        for idx, text, finish, lps, prompt, completion in rows:
            logprobs = tuple(TokenLogprob.model_validate(x) for x in json.loads(lps)) if lps is not None else None
            out[int(idx)] = Sample(text, finish, logprobs, int(prompt), int(completion))
        return out

    def put(self, key: str, model_id: str, request_json: str, samples: dict[int, Sample]) -> None:
        """Store ``samples`` (index → sample) of ``key`` in one transaction; indices stored already stay."""
        if not samples:
            return
        now = time.time()
        rows = [
            (
                key,
                idx,
                s.text,
                s.finish_reason,
                json.dumps([t.model_dump() for t in s.logprobs]) if s.logprobs is not None else None,
                s.prompt_tokens,
                s.completion_tokens,
                now,
            )
            for idx, s in sorted(samples.items())
        ]
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "INSERT OR IGNORE INTO requests (key, model, request, created) VALUES (?, ?, ?, ?)",
                        (key, model_id, request_json, now),
                    )
                    conn.executemany("INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise CacheError(f"cache {self.path}: cannot write it ({exc})") from exc

    def count(self) -> int:
        """How many samples are stored."""
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def close(self) -> None:
        """Close the connection (a later call opens it again)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted indices as (start, count)."""
    out: list[tuple[int, int]] = []
    for i in sorted(indices):
        if out and out[-1][0] + out[-1][1] == i:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


def _shares(response: ChatResponse, first: int) -> dict[int, Sample]:
    """The samples of ``response`` (indices from ``first``), each with its share of the usage (remainders on the
    first), so the shares of all samples add up to the call's usage."""
    n = len(response.choices)
    p, p_extra = divmod(response.usage.prompt_tokens, n)
    c, c_extra = divmod(response.usage.completion_tokens, n)
    return {
        first + j: Sample(
            ch.text,
            ch.finish_reason,
            ch.logprobs,
            p + (p_extra if j == 0 else 0),
            c + (c_extra if j == 0 else 0),
        )
        for j, ch in enumerate(response.choices)
    }


class CachedModel:
    """``inner`` behind a persistent sample cache at ``path`` (a :class:`SampleCache` file, created if missing).

    ``share_greedy`` (default on): temperature-0 samples share one entry.  ``hits`` / ``misses`` count samples
    served from the cache / drawn from ``inner`` by this wrapper.  Lifecycle: like any model; ``aclose()``
    closes ``inner`` and the file (a later call opens it again)."""

    def __init__(self, inner: ChatModel, path: str | Path | SampleCache, *, share_greedy: bool = True) -> None:
        self.inner = inner
        self.name = inner.name
        self.store = path if isinstance(path, SampleCache) else SampleCache(path)
        self.share_greedy = share_greedy
        self.model_id: str = getattr(inner, "cache_id", None) or inner.name
        self.hits = 0
        self.misses = 0
        self._guard = threading.Lock()
        self._inflight: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Event] = {}

    @property
    def capabilities(self) -> frozenset[str]:
        return capabilities_of(self.inner)

    @asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        """One call per key at a time in this loop: a second identical call waits and then reads the cache."""
        loop = asyncio.get_running_loop()
        while True:
            with self._guard:
                busy = self._inflight.get((loop, key))
                if busy is None:
                    mine = self._inflight[(loop, key)] = asyncio.Event()
                    break
            await busy.wait()
        try:
            yield
        finally:
            with self._guard:
                del self._inflight[(loop, key)]
            mine.set()

    async def chat(self, request: ChatRequest) -> ChatResponse:
        check_request(self.name, capabilities_of(self.inner), request)
        start = time.perf_counter()
        greedy = self.share_greedy and request.temperature == 0.0
        canonical = canonical_request(self.model_id, request, greedy=greedy)
        key = hashlib.sha256(canonical.encode()).hexdigest()
        first = first_index(request, greedy=greedy)
        wanted = range(first, first + (1 if greedy else request.n))
        stream = request if request.seed is None else request.model_copy(update={"seed": 0})
        async with self._exclusive(key):
            stored = self.store.get(key, wanted.stop, wanted.start)
            missing = [i for i in wanted if i not in stored]
            fresh, parts, failure = await self._draw(stream, missing)
            self.store.put(key, self.model_id, canonical, fresh)  # what was drawn is kept, even beside a failure
        if failure is not None:
            raise failure
        return self._assemble(request, greedy, first, stored, fresh, parts, start)

    async def _draw(
        self, request: ChatRequest, missing: list[int]
    ) -> tuple[dict[int, Sample], list[ChatResponse], BaseException | None]:
        """Ask ``inner`` for the missing samples, one request per consecutive run, all at once; returns the samples
        of the runs that succeeded, their responses and the first failure."""
        if not missing:
            return {}, [], None
        runs = _runs(missing)
        results = await asyncio.gather(
            *[self.inner.chat(sample_slice(request, first, count)) for first, count in runs], return_exceptions=True
        )
        fresh: dict[int, Sample] = {}
        parts: list[ChatResponse] = []
        failure: BaseException | None = None
        for (first, count), result in zip(runs, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            if len(result.choices) != count:
                failure = failure or ModelError(
                    f"{self.name}: asked for {count} samples, got {len(result.choices)}; nothing cached"
                )
                continue
            fresh.update(_shares(result, first))
            parts.append(result)
        return fresh, parts, failure

    def _assemble(
        self,
        request: ChatRequest,
        greedy: bool,
        first: int,
        stored: dict[int, Sample],
        fresh: dict[int, Sample],
        parts: list[ChatResponse],
        start: float,
    ) -> ChatResponse:
        choices = []
        cached_prompt = cached_completion = 0
        for i in range(request.n):
            idx = first if greedy else first + i
            sample = stored.get(idx) or fresh[idx]
            cached = idx in stored or (greedy and i > 0)
            if cached:
                cached_prompt += sample.prompt_tokens
                cached_completion += sample.completion_tokens
            choices.append(
                Completion(
                    text=sample.text, finish_reason=sample.finish_reason, logprobs=sample.logprobs, cached=cached
                )
            )
        n_cached = sum(c.cached for c in choices)
        self.hits += n_cached
        self.misses += request.n - n_cached
        costs = [p.cost for p in parts if p.cost is not None]
        return ChatResponse(
            model=self.name,
            choices=tuple(choices),
            usage=Usage(
                prompt_tokens=cached_prompt + sum(p.usage.prompt_tokens for p in parts),
                completion_tokens=cached_completion + sum(p.usage.completion_tokens for p in parts),
            ),
            seconds=time.perf_counter() - start,
            cost=sum(costs) if costs else None,
            cached_usage=Usage(prompt_tokens=cached_prompt, completion_tokens=cached_completion),
        )

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.store.close()


__all__ = ["CacheError", "CachedModel", "Sample", "SampleCache", "cache_key", "canonical_request"]
