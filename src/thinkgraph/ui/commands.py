"""The ``serve`` and ``chat`` subcommands (kept here so ``thinkgraph.cli`` stays small and light)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path


def _need_ui_extra() -> None:
    missing = []
    for module in ("starlette", "uvicorn", "rich"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        from thinkgraph.cli import SetupError

        raise SetupError(f"the chat interface needs {', '.join(missing)}: pip install 'thinkgraph[ui]'")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, not {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    from thinkgraph.ui.server import check_bind, serve

    token = args.token or os.environ.get("THINKGRAPH_TOKEN") or None
    check_bind(args.host, token)  # refused before any import or bind
    _need_ui_extra()
    for d in args.workflows or []:
        if not Path(d).is_dir():
            from thinkgraph.cli import UsageError

            raise UsageError(f"--workflows {d}: not a folder")

    def ready(url: str) -> None:
        shown = url + (f"?token={token}" if token else "")
        print(f"thinkgraph: serving on {shown} (Ctrl-C stops)", file=sys.stderr, flush=True)

    from thinkgraph.runtime import Budget

    budget = Budget(max_calls=args.max_calls, max_seconds=args.max_seconds)
    serve(
        budget=None if budget.is_empty() else budget,
        max_concurrent=args.max_concurrent,
        host=args.host,
        port=args.port,
        token=token,
        models=tuple(args.model or ["local"]),
        store_path=args.store,
        workflow_dirs=tuple(args.workflows or ()),
        extra_hosts=tuple(args.allow_host or ()),
        ready=ready,
    )
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    _need_ui_extra()
    from thinkgraph.ui.terminal import run_chat

    return run_chat(args)


def add_ui_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register ``serve`` and ``chat`` on the main parser (``add(name, help)`` makes a subparser)."""
    serve = add("serve", "the chat interface in the browser: a local web app with live traces")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token)")
    serve.add_argument("--port", type=_port, default=8765, help="port (default 8765)")
    serve.add_argument(
        "--model",
        "-m",
        action="append",
        metavar="SPEC",
        help="a model spec clients may use (repeatable; the first is the default; default: local)",
    )
    serve.add_argument("--token", help="require Authorization: Bearer TOKEN (or THINKGRAPH_TOKEN)")
    serve.add_argument(
        "--workflows", action="append", metavar="DIR", help="offer the YAML workflows in this folder (repeatable)"
    )
    serve.add_argument("--store", metavar="DB", help="the history file (default: the user data dir's ui.sqlite)")
    serve.add_argument(
        "--allow-host", action="append", metavar="NAME", help="another Host header to answer (e.g. a DNS name)"
    )
    serve.add_argument("--max-concurrent", type=_positive, default=2, help="runs at once (default 2; others queue)")
    serve.add_argument("--max-calls", type=_positive, help="budget per run: model calls")
    serve.add_argument("--max-seconds", type=_positive, help="budget per run: seconds")
    serve.set_defaults(func=cmd_serve)

    chat = add("chat", "the chat interface in the terminal: live steps, a collapsible trace, the evidence")
    chat.add_argument("--workflow", "-w", default="linc", help="a workflow name (default linc)")
    chat.add_argument("--workflows", action="append", metavar="DIR", help="also offer YAML workflows in this folder")
    chat.add_argument("--model", "-m", help="model spec (default: local)")
    chat.add_argument("--input", "-i", help="ask this input (JSON text or file) and exit, instead of prompting")
    chat.add_argument("--store", metavar="DB", help="the history file (default: the user data dir's ui.sqlite)")
    chat.add_argument("--expand", action="store_true", help="with --input: print the whole trace expanded")
    chat.set_defaults(func=cmd_chat)
