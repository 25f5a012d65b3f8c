"""Checkpoint storage for workflow runs: LangGraph's SQLite saver with a strict serializer, and the keys
that tie a thread to one workflow and one input."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from thinkgraph.graphs.errors import RunSetupError, RunUsageError
from thinkgraph.graphs.workflow import Workflow
from thinkgraph.messages import Message


def input_hash(message: Message) -> str:
    text = json.dumps(message.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(wf: Workflow) -> str:
    text = json.dumps(wf.to_dict(), sort_keys=True, default=str)
    return f"{wf.name}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@contextlib.asynccontextmanager
async def open_checkpointer(db: Path) -> AsyncIterator[Any]:
    """LangGraph's SQLite checkpointer with a strict serializer (no pickle, no import-path revival)
    and a busy timeout for concurrent writers."""
    try:
        import aiosqlite
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RunSetupError(f"checkpoints need langgraph-checkpoint-sqlite: pip install thinkgraph ({exc})") from exc
    import sqlite3

    if db.exists() and not db.is_file():
        raise RunUsageError(f"checkpoint {db} is not a regular file; give the path of a SQLite file")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunUsageError(f"checkpoint {db}: cannot create its folder ({exc.strerror or exc})") from exc
    try:
        conn = await aiosqlite.connect(str(db))
    except (sqlite3.Error, OSError) as exc:
        raise RunUsageError(f"checkpoint {db}: cannot open it as SQLite ({exc})") from exc
    try:
        try:
            await conn.execute("PRAGMA busy_timeout = 10000")
            await conn.execute("PRAGMA journal_mode = WAL")
            serde = JsonPlusSerializer(pickle_fallback=False, allowed_json_modules=None, allowed_msgpack_modules=None)
            saver = AsyncSqliteSaver(conn, serde=serde)
            await saver.setup()
        except (sqlite3.Error, OSError) as exc:
            raise RunUsageError(f"checkpoint {db}: not a usable SQLite checkpoint file ({exc})") from exc
        yield saver
    finally:
        await conn.close()


__all__ = ["fingerprint", "input_hash", "open_checkpointer"]
