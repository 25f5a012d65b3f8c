"""``thinkgraph chat``: the chat interface in a terminal (Rich).

Steps stream in as they happen; each model call and tool call gets a number, and ``show N`` expands it
(the prompt and every reply, or a tool's input and output).  ``trace`` prints the run as a tree with the
calls folded to one line each, ``tree`` the search trees, and the answer comes with its evidence and the
usage ledger.  Runs are stored in the same history as the web app's.  Model output is printed as plain
text (Rich markup in it is escaped), never interpreted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from thinkgraph.messages import (
    TRACE_EVENT,
    Interrupted,
    ModelRequest,
    ModelResponse,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    Note,
    RouteChosen,
    RunFinished,
    SearchNode,
    ToolCall,
    TraceEvent,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: Any) -> str:
    """Untrusted text (model output, inputs, errors) with terminal control characters made visible, so an
    escape sequence in a reply cannot retitle the window, clear the screen, write the clipboard or fake output."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def clean(value: Any) -> Any:
    """:func:`safe` applied to every string inside a JSON-like value."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, dict):
        return {safe(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


COMMANDS = "commands: show N (expand call N) · trace · tree (search trees) · new (ask again) · quit"


class TraceView:
    """What the terminal knows about one run: its events, numbered calls, and search trees."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.events: list[TraceEvent] = []
        self.items: list[tuple[ModelRequest, ModelResponse | None] | ToolCall] = []
        self._calls: dict[str, int] = {}
        self.trees: dict[str, dict[str, SearchNode]] = {}

    def add(self, event: TraceEvent) -> None:
        """Record an event (its text made safe for a terminal) and print its one-line form."""
        event = TRACE_EVENT.validate_python(clean(event.model_dump(mode="json")))
        self.events.append(event)
        line = self._line(event)
        if line is not None:
            self.console.print(line)

    def _line(self, e: TraceEvent) -> Text | None:
        if isinstance(e, NodeStarted):
            return Text.assemble(("▶ ", "cyan"), (e.node, "bold"))
        if isinstance(e, NodeFinished):
            return Text.assemble(("✔ ", "green"), (e.node, "bold"), (f" {e.seconds:.2f}s ", "dim"), e.summary)
        if isinstance(e, NodeFailed):
            return Text.assemble(("✘ ", "red"), (e.node, "bold"), f" {e.error_type}: {e.error}")
        if isinstance(e, ModelRequest):
            self.items.append((e, None))
            self._calls[e.call_id] = len(self.items)
            last = e.messages[-1].content.strip().splitlines()[-1] if e.messages else ""
            return Text.assemble((f"  [{len(self.items)}] ", "magenta"), f"→ {e.model}: ", (last[:90], "dim"))
        if isinstance(e, ModelResponse):
            k = self._calls.get(e.call_id)
            if k is not None:
                req = self.items[k - 1]
                assert isinstance(req, tuple)
                self.items[k - 1] = (req[0], e)
            shown = f"error: {e.error}" if e.error else " | ".join(t.strip()[:60] for t in e.texts)
            return Text.assemble(
                (f"  [{k or '?'}] ", "magenta"), f"← {e.seconds:.2f}s {e.usage.completion_tokens} tok: ", (shown, "dim")
            )
        if isinstance(e, ToolCall):
            self.items.append(e)
            result = f"error: {e.error}" if e.error else json.dumps(e.output)[:100]
            number = f"  [{len(self.items)}] "
            return Text.assemble((number, "magenta"), ("⚙ ", "yellow"), f"{e.tool}: ", (result, "dim"))
        if isinstance(e, RouteChosen):
            return Text(f"  ↪ {e.on} = {e.value} → {e.target}", style="blue")
        if isinstance(e, Note):
            return Text(f"  · {e.text}", style="dim")
        if isinstance(e, Interrupted):
            return Text(f"  ⏸ waits for a person: {json.dumps(e.payload)}", style="yellow")
        if isinstance(e, SearchNode):
            tree = self.trees.setdefault(e.search, {})
            new = e.node_id not in tree
            tree[e.node_id] = e
            if new and len(tree) <= 3:  # the first few; `tree` shows them all
                return Text(f"  ◆ {e.algorithm} node {e.node_id}: {e.text[:60]}", style="dim")
            return None
        return None

    def show(self, k: int) -> RenderableType:
        """Item ``k`` expanded: a model call's prompt and replies, or a tool call's input and output."""
        if not 1 <= k <= len(self.items):
            return Text(f"no call {k}; calls are numbered 1..{len(self.items)}", style="red")
        item = self.items[k - 1]
        if isinstance(item, ToolCall):
            body: list[RenderableType] = [Text("input", style="bold"), Text(json.dumps(item.input, indent=2))]
            body += [Text("error" if item.error else "output", style="bold")]
            body += [Text(item.error or json.dumps(item.output, indent=2))]
            return Panel(Group(*body), title=f"[{k}] {escape(item.tool)} ({item.seconds:.2f}s)")
        req, resp = item
        parts: list[RenderableType] = []
        for m in req.messages:
            parts += [Text(m.role, style="bold cyan"), Text(m.content)]
        if resp is None:
            parts.append(Text("(no reply recorded)", style="dim"))
        else:
            if resp.error:
                parts.append(Text(f"error: {resp.error}", style="red"))
            for i, t in enumerate(resp.texts):
                parts += [Text(f"reply {i + 1}" if len(resp.texts) > 1 else "reply", style="bold green"), Text(t)]
            u = resp.usage
            tokens = f"{u.prompt_tokens} prompt + {u.completion_tokens} completion tokens"
            parts.append(Text(f"{resp.seconds:.2f}s · {tokens}"))
        return Panel(Group(*parts), title=f"[{k}] model call · {escape(req.model)} · node {escape(req.node)}")

    def trace_tree(self) -> Tree:
        """The run as a tree: nodes, with their calls folded to one line each (``show N`` expands)."""
        root = Tree(Text("trace", style="bold"))
        branches: dict[str, Tree] = {}
        numbers = {id(it if isinstance(it, ToolCall) else it[0]): i + 1 for i, it in enumerate(self.items)}
        for e in self.events:
            node = e.node or "(run)"
            if isinstance(e, NodeStarted | RunFinished) or not node:
                continue
            branch = branches.get(node)
            if branch is None:
                branch = branches[node] = root.add(Text(node, style="bold"))
            if isinstance(e, NodeFinished):
                branch.label = Text.assemble(("✔ ", "green"), (node, "bold"), (f" {e.seconds:.2f}s ", "dim"), e.summary)
            elif isinstance(e, NodeFailed):
                branch.label = Text.assemble(("✘ ", "red"), (node, "bold"), f" {e.error}")
            elif isinstance(e, ModelRequest | ToolCall):
                what = f"model call {e.model}" if isinstance(e, ModelRequest) else f"tool {e.tool}"
                branch.add(Text(f"[{numbers.get(id(e), '?')}] {what}", style="dim"))
            elif isinstance(e, RouteChosen | Note):
                line = self._line(e)
                if line is not None:
                    branch.add(line)
        return root

    def search_trees(self) -> list[Tree]:
        out = []
        for search, nodes in self.trees.items():
            first = next(iter(nodes.values()))
            root = Tree(Text(f"search {search} · {first.algorithm} · {len(nodes)} nodes", style="bold"))
            made: dict[str, Tree] = {}
            pending = list(nodes.values())
            for _ in range(len(pending) + 1):  # parents before children, whatever the event order
                rest = []
                for n in pending:
                    parent = made.get(n.parent) if n.parent else root
                    if parent is None and n.parent not in nodes:
                        parent = root
                    if parent is None:
                        rest.append(n)
                        continue
                    stats = [f"visits {n.visits}"] if n.visits else []
                    stats += [f"value {n.value:.3f}"] if n.value is not None else []
                    stats += [f"score {n.score:.3f}"] if n.score is not None else []
                    made[n.node_id] = parent.add(
                        Text.assemble(n.text or n.node_id, (f"  {' · '.join(stats)} ", "dim"), (n.verdict, "yellow"))
                    )
                pending = rest
                if not pending:
                    break
            out.append(root)
        return out


def render_output(ending: str, output: dict[str, Any] | None) -> RenderableType:
    """The run's result: for an answer, its status, value and evidence; else the output as JSON."""
    if output is None:
        return Panel(Text(f"no output ({ending})", style="red"), title="result")
    if output.get("kind") != "answer":
        return Panel(Text(json.dumps(output, indent=2)), title=f"{ending} · {output.get('kind', 'output')}")
    status = str(output.get("status", ending))
    style = {"verified": "green", "voted": "yellow"}.get(status, "red")
    value = output.get("value")
    parts: list[RenderableType] = [
        Text.assemble((f" {status} ", f"bold white on {style}"), "  ", (str(value) if value else "no answer", "bold"))
    ]
    parts += _evidence(output.get("evidence") or {})
    return Panel(Group(*parts), title=f"answer · {ending}")


def _evidence(ev: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if ev.get("reason"):
        parts.append(Text(str(ev["reason"])))
    if ev.get("votes"):
        votes = Table(title="vote", caption=f"{ev.get('samples', 0)} samples, {ev.get('failed_samples', 0)} failed")
        votes.add_column("label")
        votes.add_column("votes", justify="right")
        for label, n in sorted(ev["votes"].items(), key=lambda kv: -kv[1]):
            votes.add_row(str(label), str(n))
        parts.append(votes)
    f = ev.get("formalization")
    if f:
        table = Table(title="formalization")
        for col in ("", "sentence", "formula"):
            table.add_column(col)
        for row in [*f.get("premises", []), f.get("conclusion")]:
            if row:
                idx = "conclusion" if row["index"] < 0 else f"P{row['index'] + 1}"
                table.add_row(idx, Text(row["sentence"]), Text(row["formula"]))
        parts.append(table)
    v = ev.get("verdict")
    if v:
        cert = v.get("certificate") or {}
        parts.append(Text(f"solver {v.get('solver')}: {v.get('label')}", style="bold"))
        if cert.get("premises_used"):
            used = ", ".join(f"P{i + 1}" for i in cert["premises_used"])
            parts.append(Text(f"the proof uses premises {used} (unsat core)"))
        for key, label in (("model_goal_true", "conclusion true in"), ("model_goal_false", "conclusion false in")):
            m = cert.get(key)
            if m:
                consts = ", ".join(f"{k}={val}" for k, val in sorted((m.get("constants") or {}).items()))
                atoms = ", ".join(m.get("true_atoms") or []) or "(none)"
                parts.append(Text(f"{label}: domain {{{', '.join(m.get('domain') or [])}}}; {consts}; true: {atoms}"))
    for k, val in (ev.get("solver_agreement") or {}).items():
        parts.append(Text(f"second checker {k}: {val}"))
    for i, r in enumerate(ev.get("rationales") or []):
        parts.append(Text(f"rationale {i + 1} (not checked): {r[:400]}", style="dim"))
    return parts


def usage_table(usage: dict[str, Any]) -> Table:
    table = Table(title="usage ledger")
    for col in ("node", "calls", "samples", "prompt tok", "completion tok", "model s"):
        table.add_column(col, justify="left" if col == "node" else "right")
    for node, u in usage.items():
        table.add_row(
            node,
            str(u.get("calls", 0)),
            str(u.get("samples", 0)),
            str(u.get("prompt_tokens", 0)),
            str(u.get("completion_tokens", 0)),
            f"{u.get('seconds', 0.0):.2f}",
            style="bold" if node == "total" else None,
        )
    return table


def _prompt_input(console: Console, workflow: dict[str, Any], ask: Callable[[str], str]) -> dict[str, Any]:
    schema = workflow.get("input_schema") or {}
    required = set(schema.get("required") or [])
    data: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if name in ("kind", "id", "gold"):
            continue
        is_list = prop.get("type") == "array" or any(p.get("type") == "array" for p in prop.get("anyOf", []))
        while True:
            if is_list:
                console.print(f"[bold]{escape(name)}[/bold] — one per line, an empty line ends:")
                items = []
                while line := ask("  ").strip():
                    items.append(line)
                value: Any = items
            else:
                value = ask(f"{name}: ").strip()
            if value or name not in required:
                break
            console.print(Text(f"{name} is required", style="red"))
        if value:
            data[name] = value
    return data


def _read_input(text: str) -> Any:
    path = Path(text)
    if not text.lstrip().startswith("{") and path.is_file():
        text = path.read_text(encoding="utf-8")
    return json.loads(text)


async def _ask_once(
    manager: Any,
    console: Console,
    args: argparse.Namespace,
    data: Any,
    ask: Callable[[str], str] | None = None,
) -> tuple[TraceView, Any]:
    """Run one input and print its result; a run that waits for a person is asked with ``ask`` (if given)."""
    view = TraceView(console)
    record = await manager.start(args.workflow, data, model=args.model, on_event=view.add)
    final = await manager.wait(record.id)
    while final.status == "waiting" and ask is not None:
        asked = clean(final.interrupt or {})
        question = asked.get("question", "Approve?")
        pending = asked.get("answer")
        if pending:
            console.print(render_output("waiting", pending))
        reply = (await asyncio.to_thread(ask, f"{question} [y]es / [n]o (a reason may follow): ")).strip()
        approve = reply.lower().startswith("y")
        reason = reply[1:].strip(" :,-") if reply[:1].lower() in ("y", "n") else reply
        await manager.resume(record.id, {"approve": approve, "reason": reason}, on_event=view.add)
        final = await manager.wait(record.id)
    if final.status == "waiting":
        question = safe((final.interrupt or {}).get("question", ""))
        console.print(Text(f"waiting for a person: {question}", style="yellow"))
    else:
        console.print(render_output(final.ending or final.status, clean(final.output)))
    if final.error:
        console.print(Text(f"error: {safe(final.error)}", style="red"))
    if final.usage:
        console.print(usage_table(clean(final.usage)))
    return view, final


async def _once(manager: Any, console: Console, args: argparse.Namespace) -> int:
    from thinkgraph.cli import UsageError

    try:
        data = _read_input(args.input)
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--input: {exc}") from exc
    view, final = await _ask_once(manager, console, args, data)
    if args.expand:
        for k in range(1, len(view.items) + 1):
            console.print(view.show(k))
        for tree in view.search_trees():
            console.print(tree)
    codes = {"answered": 0, "abstained": 3, "budget_exhausted": 3, "step_limit": 3, "interrupted": 6}
    return codes.get(final.ending, 5)


async def _loop(
    manager: Any, console: Console, args: argparse.Namespace, workflow: dict[str, Any], ask: Callable[[str], str]
) -> int:
    console.print(f"thinkgraph chat · workflow {args.workflow} · model {manager.default_model}\n{COMMANDS}")
    view: TraceView | None = None
    while True:
        if view is None:
            from thinkgraph.ui.runs import BadRequest

            data = await asyncio.to_thread(_prompt_input, console, workflow, ask)
            try:
                view, _final = await _ask_once(manager, console, args, data, ask)
            except BadRequest as exc:  # e.g. an input that does not fit: say so and ask again
                console.print(Text(f"error: {exc}", style="red"))
                continue
            console.print(Text(COMMANDS, style="dim"))
        command = (await asyncio.to_thread(ask, "› ")).strip()
        if command in ("quit", "exit", "q"):
            return 0
        if command == "new":
            view = None
        elif command == "trace":
            console.print(view.trace_tree())
        elif command == "tree":
            trees = view.search_trees()
            console.print(*trees) if trees else console.print("no search tree in this run")
        elif command.startswith("show") and command[4:].strip().isdigit():
            console.print(view.show(int(command[4:].strip())))
        elif command:
            console.print(COMMANDS)


def run_chat(args: argparse.Namespace, ask: Callable[[str], str] = input, console: Console | None = None) -> int:
    """The terminal chat (``thinkgraph chat``): one input with ``--input``, else a prompt loop."""
    from thinkgraph.cli import UsageError
    from thinkgraph.ui.runs import BadRequest, RunManager
    from thinkgraph.ui.store import UIStore, data_dir

    console = console or Console()
    store = UIStore(Path(args.store) if args.store else data_dir() / "ui.sqlite")
    manager = RunManager(store, models=[args.model or "local"], workflow_dirs=args.workflows or ())

    async def main() -> int:
        try:
            workflows = {w["name"]: w for w in manager.workflows() if "error" not in w}
            if args.workflow not in workflows:
                raise UsageError(f"unknown workflow {args.workflow!r}; known: {', '.join(sorted(workflows))}")
            if args.input:
                return await _once(manager, console, args)
            return await _loop(manager, console, args, workflows[args.workflow], ask)
        except BadRequest as exc:
            raise UsageError(str(exc)) from exc
        except EOFError:
            return 0
        finally:
            await manager.aclose()
            store.close()

    return asyncio.run(main())
