"""Where the chat interface keeps its runs: one SQLite file in the user's data directory.

A run row holds what was asked (workflow, model, input), how it ended (status, ending, output, usage) and
belongs to a conversation; its trace events are rows of their own, in emission order (``seq`` from 0),
so a page reopened later — or after a restart — replays exactly what a live viewer saw.

Lifecycle: ``UIStore(path)`` opens (creating the schema), ``close()`` closes.  Runs that were still
running in a process that is gone (a killed server or chat) are marked ``lost`` on open and whenever such
a run is read through :class:`~thinkgraph.ui.runs.RunManager`: nothing is silently left "running".
Several processes may share the file (a server and a terminal chat); each run records the process
that runs it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: statuses a run moves through; the last four are final
RUN_STATUSES = ("running", "waiting", "finished", "failed", "lost", "replay")
#: this process's identity in the ``runs.instance`` column (a pid alone can be reused after a restart)
INSTANCE = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    conversation TEXT NOT NULL REFERENCES conversations(id),
    workflow TEXT NOT NULL,
    model TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    ending TEXT NOT NULL DEFAULT '',
    output TEXT,
    usage TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    finished REAL,
    owner INTEGER NOT NULL DEFAULT 0,
    instance TEXT NOT NULL DEFAULT '',
    interrupt TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_conversation ON runs(conversation, created);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""


def data_dir() -> Path:
    """The user's data directory for thinkgraph: ``$THINKGRAPH_DATA_DIR``, else ``$XDG_DATA_HOME/thinkgraph``,
    else ``~/.local/share/thinkgraph``."""
    explicit = os.environ.get("THINKGRAPH_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "thinkgraph"


@dataclass
class RunRecord:
    """One stored run, as the HTTP API returns it (``to_dict``)."""

    id: str
    conversation: str
    workflow: str
    model: str
    input: dict[str, Any]
    status: str
    ending: str = ""
    output: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created: float = 0.0
    finished: float | None = None
    interrupt: dict[str, Any] | None = None  # what a waiting run asks a person

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "conversation": self.conversation,
            "workflow": self.workflow,
            "model": self.model,
            "input": self.input,
            "status": self.status,
            "ending": self.ending,
            "output": self.output,
            "usage": self.usage,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
            "interrupt": self.interrupt,
        }


class UIStore:
    """Runs, conversations and trace events in SQLite (WAL; safe to use from several threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self.mark_lost()

    def mark_lost(self) -> None:
        """Runs left 'running' by a process that is gone (a server or chat that was killed) become 'lost'.
        Runs of a live process — another server or terminal chat sharing this file — are left alone."""
        rows = self._query("SELECT id, owner, instance FROM runs WHERE status='running'")
        gone = [run_id for run_id, owner, instance in rows if not _alive(int(owner), instance)]
        if gone:
            with self._tx() as db:
                db.executemany(
                    "UPDATE runs SET status='lost', error='the process running it stopped before it finished', "
                    "finished=? WHERE id=? AND status='running'",
                    [(time.time(), run_id) for run_id in gone],
                )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ conversations and runs

    def new_conversation(self, conversation_id: str, title: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO conversations(id, title, created) VALUES (?, ?, ?)",
                (conversation_id, title[:200], time.time()),
            )

    def has_conversation(self, conversation_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM conversations WHERE id=?", (conversation_id,)))

    def add_run(self, run: RunRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs(id, conversation, workflow, model, input, status, ending, output, usage, error, "
                "created, finished, owner, instance) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.id,
                    run.conversation,
                    run.workflow,
                    run.model,
                    json.dumps(run.input),
                    run.status,
                    run.ending,
                    json.dumps(run.output) if run.output is not None else None,
                    json.dumps(run.usage),
                    run.error,
                    run.created or time.time(),
                    run.finished,
                    os.getpid(),
                    INSTANCE,
                ),
            )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        ending: str = "",
        output: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
        error: str = "",
        interrupt: dict[str, Any] | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, ending=?, output=?, usage=?, error=?, finished=?, interrupt=? WHERE id=?",
                (
                    status,
                    ending,
                    json.dumps(output) if output is not None else None,
                    json.dumps(usage or {}),
                    error,
                    time.time(),
                    json.dumps(interrupt) if interrupt is not None else None,
                    run_id,
                ),
            )

    def resume_run(self, run_id: str) -> bool:
        """Mark a waiting run as running again (in this process); False when it was not waiting."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE runs SET status='running', finished=NULL, interrupt=NULL, owner=?, instance=? "
                "WHERE id=? AND status='waiting'",
                (os.getpid(), INSTANCE, run_id),
            )
            return cur.rowcount == 1

    def count_events(self, run_id: str) -> int:
        return int(self._query("SELECT COUNT(*) FROM events WHERE run_id=?", (run_id,))[0][0])

    def add_events(self, run_id: str, first_seq: int, events: Iterable[str]) -> None:
        """Append already-serialised events, numbered from ``first_seq``."""
        rows = [(run_id, first_seq + i, e) for i, e in enumerate(events)]
        if rows:
            with self._tx() as db:
                db.executemany("INSERT INTO events(run_id, seq, event) VALUES (?,?,?)", rows)

    def events(self, run_id: str, after: int = -1) -> list[str]:
        """The run's serialised events with ``seq > after``, in order."""
        rows = self._query("SELECT event FROM events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after))
        return [r[0] for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,))
        return _run(rows[0]) if rows else None

    def runs(self, limit: int = 200, conversation: str | None = None) -> list[RunRecord]:
        """Newest first; all runs of one conversation oldest first."""
        if conversation is not None:
            rows = self._query(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE conversation=? ORDER BY created", (conversation,)
            )
        else:
            rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        return [_run(r) for r in rows]

    def conversations(self, limit: int = 100) -> list[dict[str, Any]]:
        """Conversations, most recently active first, each with its run count and latest run."""
        rows = self._query(
            "SELECT c.id, c.title, c.created, COUNT(r.id), MAX(r.created), "
            "(SELECT r2.id FROM runs r2 WHERE r2.conversation = c.id ORDER BY r2.created DESC LIMIT 1) "
            "FROM conversations c LEFT JOIN runs r ON r.conversation = c.id GROUP BY c.id "
            "ORDER BY COALESCE(MAX(r.created), c.created) DESC LIMIT ?",
            (limit,),
        )
        return [
            {"id": r[0], "title": r[1], "created": r[2], "runs": r[3], "updated": r[4] or r[2], "last_run": r[5]}
            for r in rows
        ]


_RUN_COLUMNS = (
    "id, conversation, workflow, model, input, status, ending, output, usage, error, created, finished, interrupt"
)


def _alive(pid: int, instance: str) -> bool:
    """Whether the process that runs a run is still there: this one, or another live process (a pid
    reused by a restarted server, e.g. pid 1 in a container, is not the same process)."""
    if instance == INSTANCE:
        return True
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=row[0],
        conversation=row[1],
        workflow=row[2],
        model=row[3],
        input=json.loads(row[4]),
        status=row[5],
        ending=row[6],
        output=json.loads(row[7]) if row[7] is not None else None,
        usage=json.loads(row[8]),
        error=row[9],
        created=row[10],
        finished=row[11],
        interrupt=json.loads(row[12]) if row[12] is not None else None,
    )
