"""An evaluation run on disk: one SQLite file with a manifest and one row per finished problem.

Each problem's row is written in its own transaction the moment it finishes, so a run stopped by Ctrl-C
or SIGKILL loses at most the problems in flight, and running the same command again skips the finished
ones.  The manifest (workflow and its parameters, model spec, dataset name, path and content hash,
thinkgraph version, start time) ties the file to one experiment: a different workflow, model or dataset
against an existing run is refused.

    store = RunStore.open("runs/linc.db")        # read
    store.manifest(); store.rows(); store.summary()
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    item_id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    line INTEGER NOT NULL,
    answer_type TEXT NOT NULL,
    gold TEXT,                 -- JSON
    value TEXT,                -- JSON: the prediction (None when abstained or failed)
    status TEXT NOT NULL,      -- verified | voted | answered | abstained | failed
    ending TEXT NOT NULL,      -- the run's ending
    correct INTEGER,           -- 1 / 0, NULL when not scorable
    confidence REAL,           -- for risk-coverage: agreement, or 1.0 for a verified answer
    calls INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    failed_calls INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    cost REAL,
    samples_total INTEGER,     -- for pass@k: samples drawn and samples correct
    samples_correct INTEGER,
    output TEXT,               -- JSON of the output message
    error TEXT NOT NULL DEFAULT '',
    finished_at REAL NOT NULL
);
"""

#: manifest keys that identify the experiment: a rerun must match them
IDENTITY = ("workflow", "workflow_hash", "model", "dataset", "dataset_sha256", "split", "holdout_fraction")


class RunStoreError(ValueError):
    """The run file cannot be used for this command (another experiment, not a run file); says why."""


@dataclass
class Row:
    item_id: str
    idx: int
    line: int
    answer_type: str
    gold: Any
    value: Any
    status: str
    ending: str
    correct: bool | None
    confidence: float | None = None
    calls: int = 0
    retries: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float | None = None
    samples_total: int | None = None
    samples_correct: int | None = None
    output: Any = None
    error: str = ""
    finished_at: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        """The row as ``thinkgraph report --rows`` prints it."""
        return {
            "id": self.item_id,
            "gold": self.gold,
            "value": self.value,
            "status": self.status,
            "correct": self.correct,
            "calls": self.calls,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "seconds": round(self.seconds, 3),
        }


_JSON_COLUMNS = ("gold", "value", "output")


class RunStore:
    """One run file.  Thread-safe; every ``add`` is its own committed transaction."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> RunStore:
        path = Path(path)
        if path.exists() and not path.is_file():
            raise RunStoreError(f"{path} is not a file")
        if not path.exists() and not create:
            raise RunStoreError(f"{path}: no such run file")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":  # never let SQLite touch a file that is not a database
                    raise RunStoreError(f"{path}: not a thinkgraph run file (not an SQLite database)")
        try:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and not {"manifest", "rows"} <= tables:
                conn.close()
                raise RunStoreError(f"{path}: not a thinkgraph run file (no manifest/rows tables)")
            if not tables and not create:
                conn.close()
                raise RunStoreError(f"{path}: not a thinkgraph run file (empty)")
            conn.execute("PRAGMA journal_mode = WAL")  # only on our own files
            conn.execute("PRAGMA synchronous = NORMAL")
            if create:
                conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise RunStoreError(f"{path}: not a thinkgraph run file ({exc})") from exc
        return cls(path, conn)

    @classmethod
    def start(cls, path: str | Path, manifest: dict[str, Any]) -> tuple[RunStore, int]:
        """Open ``path`` for ``manifest``'s experiment: a new file gets the manifest; an existing one must
        hold the same experiment (else :class:`RunStoreError`).  Returns the store and how many problems it
        already finished."""
        store = cls.open(path, create=True)
        old = store.manifest()
        if old:
            diffs = [k for k in IDENTITY if k in manifest and old.get(k) != manifest.get(k)]
            if diffs:
                store.close()
                what = ", ".join(f"{k}: {old.get(k)!r} there, {manifest.get(k)!r} now" for k in diffs)
                raise RunStoreError(
                    f"{path} holds another experiment ({what}); use another --out, or the same settings to resume it"
                )
        else:
            with store._lock:
                store._conn.execute("BEGIN")
                store._conn.executemany(
                    "INSERT OR REPLACE INTO manifest (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in manifest.items()],
                )
                store._conn.execute("COMMIT")
        return store, store.count()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ reading and writing

    def manifest(self) -> dict[str, Any]:
        with self._lock:
            return {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM manifest")}

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM rows").fetchone()[0])

    def finished_ids(self) -> set[str]:
        """Problems that need not run again: every row except ``failed`` ones (a rerun retries those)."""
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT item_id FROM rows WHERE status != 'failed'")}

    def add(self, row: Row) -> None:
        """Write one finished problem in its own transaction (a retried ``failed`` row is replaced)."""
        data = asdict(row)
        for key in _JSON_COLUMNS:
            data[key] = json.dumps(data[key], ensure_ascii=False, default=str)
        data["correct"] = None if row.correct is None else int(row.correct)
        cols = ", ".join(data)
        marks = ", ".join(f":{k}" for k in data)
        with self._lock:
            self._conn.execute(f"INSERT OR REPLACE INTO rows ({cols}) VALUES ({marks})", data)

    def rows(self) -> list[Row]:
        with self._lock:
            cur = self._conn.execute("SELECT * FROM rows ORDER BY idx")
            names = [d[0] for d in cur.description]
            raw = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        out = []
        for r in raw:
            for key in _JSON_COLUMNS:
                r[key] = json.loads(r[key]) if r[key] is not None else None
            r["correct"] = None if r["correct"] is None else bool(r["correct"])
            out.append(Row(**r))
        return out

    def summary(self) -> dict[str, Any]:
        from thinkgraph.evals.metrics import summarize

        return {"run": str(self.path), **self.manifest(), **summarize(self.rows())}


def read_runs(paths: Iterable[str | Path]) -> list[RunStore]:
    return [RunStore.open(p) for p in paths]


__all__ = ["IDENTITY", "Row", "RunStore", "RunStoreError", "read_runs"]
