"""``thinkgraph sandbox run|check``: run a Python file in the sandbox; say what isolation this machine has.

Until ``thinkgraph.cli`` registers these, ``python -m thinkgraph.tools.commands sandbox run FILE.py`` runs
them with the same arguments and exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


def _usage(message: str) -> Exception:
    from thinkgraph.cli import UsageError

    return UsageError(message)


def _setup(message: str) -> Exception:
    from thinkgraph.cli import SetupError

    return SetupError(message)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _usage(f"--input {path}: {exc.strerror or exc}") from exc


def cmd_sandbox_run(args: argparse.Namespace) -> int:
    """Run FILE.py; exit 0 when its status is ok, 1 otherwise (2: usage, 4: no isolation available)."""
    from pydantic import ValidationError

    from thinkgraph.tools.sandbox import SandboxLimits, SandboxUnavailable, SandboxUsageError, run_program

    path = Path(args.file)
    if not path.is_file():
        raise _usage(f"{args.file}: no such file")
    try:
        limits = SandboxLimits(
            timeout_s=args.timeout,
            memory_mb=args.memory_mb,
            max_processes=args.max_processes,
            max_output_bytes=args.max_output_bytes,
        )
    except ValidationError as exc:
        raise _usage("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
    stdin = _read_input(args.input) if args.input else None
    try:
        result = run_program(path, stdin=stdin, limits=limits, allow_unsandboxed=args.allow_unsandboxed)
    except SandboxUnavailable as exc:
        raise _setup(str(exc)) from exc
    except SandboxUsageError as exc:
        raise _usage(str(exc)) from exc
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        cut = [n for n, t in (("stdout", result.stdout_truncated), ("stderr", result.stderr_truncated)) if t]
        exit_text = f"exit code {result.exit_code}" if result.exit_code is not None else f"signal {result.signal}"
        detail = f": {result.detail}" if result.detail else ""
        note = f"; {' and '.join(cut)} truncated" if cut else ""
        print(
            f"sandbox ({result.sandbox}): {result.status}{detail} ({exit_text}, {result.seconds:.2f}s{note})",
            file=sys.stderr,
        )
    return 0 if result.ok else 1


def cmd_sandbox_check(args: argparse.Namespace) -> int:
    """Say which runner this machine gives and what bounds a run; exit 4 when there is no isolation."""
    from thinkgraph.tools import _cgroup
    from thinkgraph.tools._launch import launcher_works
    from thinkgraph.tools.sandbox import SandboxUnavailable, default_runner

    facts: dict[str, object] = {"cgroup": _cgroup.available(), "vfork_launcher": launcher_works()}
    try:
        runner = default_runner()
        facts.update(runner=runner.name, isolated=runner.isolated, runs_as=getattr(runner, "runs_as", ""), problem="")
        facts["python"] = getattr(runner, "python", "")
    except SandboxUnavailable as exc:
        facts.update(runner="", isolated=False, runs_as="", problem=str(exc))
    if args.json:
        print(json.dumps(facts))
    else:
        if facts["isolated"]:
            print(f"isolation: {facts['runner']} (namespaces, read-only system, private /tmp, no network)")
            print(f"the program runs as: {facts['runs_as']}, with {facts['python']}")
        else:
            print(f"isolation: none — {facts['problem']}")
        how = "a cgroup (exact)" if facts["cgroup"] else "counting /proc every 20 ms (and RLIMIT_NPROC if not root)"
        print(f"process limit and kill-all: {how}")
    return 0 if facts["isolated"] else 4


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be > 0 and ≤ 86400, got {text}")
    return value


def _whole(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value

    return parse


def add_sandbox_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register ``sandbox run|check`` on the main parser (``add(name, help)`` makes a subparser)."""
    from thinkgraph.cli import _Parser

    box = add("sandbox", "run model-written Python isolated (bubblewrap), with time, memory and process limits")
    sub = box.add_subparsers(dest="sandbox_command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="run FILE.py in the sandbox: exit 0 when its status is ok, 1 when not",
        description="Status: ok, timeout, memory, error (non-zero exit) or killed (signal, process or output "
        "limit).  Without --json: the program's stdout and stderr, then a summary line on stderr.",
    )
    run.add_argument("file", help="the Python program")
    run.add_argument("--timeout", type=_positive_float, default=10.0, help="wall-clock seconds (default 10)")
    run.add_argument("--memory-mb", type=_whole(32), default=512, help="memory per process in MiB (default 512)")
    run.add_argument("--max-processes", type=_whole(1), default=32, help="processes+threads at once (default 32)")
    run.add_argument(
        "--max-output-bytes", type=_whole(1024), default=1 << 20, help="stdout/stderr kept each (default 1 MiB)"
    )
    run.add_argument("--input", metavar="FILE", help="the program's stdin ('-': this command's stdin)")
    run.add_argument("--json", action="store_true", help="print the result as one JSON object")
    run.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="without bubblewrap, run anyway with limits only (the program can read files and use the network)",
    )
    run.set_defaults(func=cmd_sandbox_run)
    check = sub.add_parser("check", help="which isolation this machine gives (exit 4 when none)")
    check.add_argument("--json", action="store_true", help="print the facts as one JSON object")
    check.set_defaults(func=cmd_sandbox_check)


def main(argv: list[str] | None = None) -> int:
    """``python -m thinkgraph.tools.commands sandbox …`` (the same exit codes as ``thinkgraph``)."""
    from thinkgraph.cli import EXIT_CODES, SetupError, UsageError, _Parser

    parser = _Parser(prog="thinkgraph", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=EXIT_CODES)

    add_sandbox_commands(add)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        return _fail(exc, 2)
    except SetupError as exc:
        return _fail(exc, 4)
    return code


def _fail(exc: Exception, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


def _exit() -> NoReturn:
    sys.exit(main())


__all__ = ["add_sandbox_commands", "cmd_sandbox_check", "cmd_sandbox_run", "main"]

if __name__ == "__main__":
    _exit()
