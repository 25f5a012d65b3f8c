"""``thinkgraph memory add|search|stats`` (kept here so ``thinkgraph.cli`` stays small and light)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _usage(message: str) -> Exception:
    from thinkgraph.cli import UsageError

    return UsageError(message)


def _open(args: argparse.Namespace, create: bool) -> Any:
    from thinkgraph.memory import MemoryUnavailable, open_memory
    from thinkgraph.memory.base import MemoryStoreError

    store = Path(args.store)
    if not create and not (store / "items.sqlite").exists():
        raise _usage(f"--store {store}: no memory there (thinkgraph memory add --store {store} ... creates one)")
    from thinkgraph.memory import stored_embedder

    embedder = args.embedder or stored_embedder(store) or "default"
    try:
        return open_memory(store, embedder, index=getattr(args, "index", None))
    except MemoryStoreError as exc:
        raise _usage(str(exc)) from exc
    except MemoryUnavailable as exc:
        from thinkgraph.cli import SetupError

        raise SetupError(str(exc)) from exc


def _read_items(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        raise _usage(f"--file {path}: {exc.strerror or exc}") from exc
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _usage(f"{path}:{n}: not JSON ({exc.msg}); each line is an object with text") from exc
            if isinstance(value, str):
                value = {"text": value}
            yield n, value


def cmd_memory_add(args: argparse.Namespace) -> int:
    from thinkgraph.memory.base import Item, MemoryUsageError

    if (args.text is None) == (args.file is None):
        raise _usage("give --text TEXT or --file FILE.jsonl (one of them)")
    meta = {}
    if args.metadata:
        try:
            meta = json.loads(args.metadata)
        except json.JSONDecodeError as exc:
            raise _usage(f"--metadata: not JSON ({exc.msg})") from exc
        if not isinstance(meta, dict):
            raise _usage("--metadata must be a JSON object")
    mem = _open(args, create=True)
    added = 0
    try:
        if args.text is not None:
            added = len(mem.add([Item(args.text, meta, args.id)]))
        else:
            batch: list[Item] = []
            for n, value in _read_items(args.file):
                try:
                    item = Item.of(value)
                except MemoryUsageError as exc:
                    raise _usage(f"{args.file}:{n}: {exc}") from exc
                batch.append(Item(item.text, {**meta, **item.metadata}, item.id, item.vector))
                if len(batch) >= args.batch:
                    added += len(mem.add(batch))
                    batch = []
            added += len(mem.add(batch))
        stats = mem.stats()
    except MemoryUsageError as exc:
        raise _usage(str(exc)) from exc
    finally:
        mem.close()
    print(f"added {added} item(s); {stats['items']} in {args.store} ({stats['index']} index)", file=sys.stderr)
    return 0


def cmd_memory_search(args: argparse.Namespace) -> int:
    from thinkgraph.memory.base import MemoryUsageError

    where = None
    if args.where:
        try:
            where = json.loads(args.where)
        except json.JSONDecodeError as exc:
            raise _usage(f"--where: not JSON ({exc.msg})") from exc
    mem = _open(args, create=False)
    try:
        hits = mem.search(args.query, k=args.k, where=where)
    except MemoryUsageError as exc:
        raise _usage(str(exc)) from exc
    finally:
        mem.close()
    for h in hits:
        if args.json:
            print(json.dumps(h.to_json(), ensure_ascii=False))
        else:
            meta = f"  {json.dumps(h.metadata, ensure_ascii=False)}" if h.metadata else ""
            print(f"{h.score:.3f}  {h.id}  {h.text}{meta}")
    if not hits and not args.json:
        print("no items", file=sys.stderr)
    return 0


def cmd_memory_stats(args: argparse.Namespace) -> int:
    mem = _open(args, create=False)
    try:
        stats = mem.stats()
    finally:
        mem.close()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        for key, value in stats.items():
            print(f"{key}: {value}")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def add_memory_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register ``memory add|search|stats`` on the main parser (``add(name, help)`` makes a subparser)."""
    from thinkgraph.cli import _Parser

    mem = add("memory", "a memory of texts searched by meaning (faiss + sentence-transformers)")
    sub = mem.add_subparsers(dest="memory_command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", required=True, metavar="DIR", help="the memory folder")
        p.add_argument(
            "--embedder",
            metavar="SPEC",
            help="default (all-MiniLM-L6-v2, offline), st:NAME_OR_PATH, openai:MODEL[@URL] or hash[:DIM] "
            "(default: the store's own; a new store gets default)",
        )

    a = sub.add_parser("add", help="add --text T, or every line of --file F.jsonl ({text, metadata?, id?})")
    common(a)
    a.add_argument("--text", help="one text to add")
    a.add_argument("--file", help='a JSONL file: {"text", "metadata"?, "id"?, "vector"?} a line (\'-\': stdin)')
    a.add_argument("--metadata", metavar="JSON", help='metadata for every item added, e.g. \'{"source": "notes"}\'')
    a.add_argument("--id", help="the id of the --text item (default: a new one; an existing id is replaced)")
    a.add_argument("--batch", type=_positive, default=1000, help="items per atomic batch (default 1000)")
    a.add_argument("--index", choices=["auto", "flat", "hnsw", "ivf"], help="index kind (default auto: by size)")
    a.set_defaults(func=cmd_memory_add)

    s = sub.add_parser("search", help="the items nearest a query: score, id, text, metadata")
    common(s)
    s.add_argument("query", help="the text to search for")
    s.add_argument("-k", type=_positive, default=5, help="how many hits (default 5)")
    s.add_argument("--where", metavar="JSON", help='metadata filter, e.g. \'{"kind": "episode"}\'')
    s.add_argument("--json", action="store_true", help="one JSON line per hit: id, text, score, metadata")
    s.set_defaults(func=cmd_memory_search)

    st = sub.add_parser("stats", help="items, dimensions, index kind, embedder, batches, size on disk")
    common(st)
    st.add_argument("--json", action="store_true", help="print them as one JSON object")
    st.set_defaults(func=cmd_memory_stats)


__all__ = ["add_memory_commands"]
