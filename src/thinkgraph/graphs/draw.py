"""Drawings of a workflow, made offline: Mermaid text (paste into any Mermaid renderer) and a
terminal drawing (nodes in order, each with its type, what it reads and writes, and where it goes)."""

from __future__ import annotations

import re

from thinkgraph.graphs.node import get_node
from thinkgraph.graphs.workflow import END, Workflow


def _mid(name: str) -> str:
    """A Mermaid id: unique per node name (a-b and a_b differ)."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "n_" + safe if safe == name else f"n_{safe}_{sum(map(ord, name)) % 9973}"


def _label(text: str) -> str:
    return text.replace('"', "'").replace("|", "/")


def to_mermaid(wf: Workflow) -> str:
    """The workflow as a Mermaid flowchart."""
    lines = ["flowchart TD", f'  start(["{_label(wf.input)}"])']
    for name, use in wf.nodes.items():
        lines.append(f'  {_mid(name)}["{_label(name)}<br/><small>{_label(use.use)}</small>"]')
    lines.append('  stop(["end"])')
    for start in wf.start_nodes:
        lines.append(f"  start --> {_mid(start)}")
    has_out = set()
    for source, targets in wf.successors().items():
        for target, label in targets:
            has_out.add(source)
            dest = "stop" if target == END else _mid(target)
            arrow = f" -->|{_label(label)}| " if label else " --> "
            lines.append(f"  {_mid(source)}{arrow}{dest}")
    for name in wf.nodes:
        if name not in has_out:
            lines.append(f"  {_mid(name)} --> stop")
    return "\n".join(lines)


def to_text(wf: Workflow) -> str:
    """A terminal drawing: one box per node in the order a run meets them, arrows to what follows."""
    order = _order(wf)
    succ = wf.successors()
    has_out = {s for s, ts in succ.items() if ts}
    out = [f"workflow {wf.name}: input {wf.input}" + (f", output {wf.output}" if wf.output else "")]
    if wf.max_steps is not None:
        out[0] += f", at most {wf.max_steps} steps"
    starts = wf.start_nodes
    if len(starts) > 1:
        out.append(f"  ├─▶ {', '.join(starts)} start in parallel from the input")
    out.append("  │")
    for i, name in enumerate(order):
        use = wf.nodes[name]
        spec = get_node(use.use)
        reads = (
            ", ".join(r.kind + ("?" if r.optional else "") + ("[]" if r.many else "") for r in spec.reads)
            if spec
            else "?"
        )
        writes = ", ".join(spec.write_kinds) if spec else "?"
        title = f"{name}  ({use.use})"
        detail = f"reads {reads or '—'}  →  writes {writes or '—'}"
        extras = []
        if use.params:
            extras.append(", ".join(f"{k}={v!r}" for k, v in use.params.items()))
        if use.model:
            extras.append(f"model {use.model}")
        width = max(len(title), len(detail), *(len(e) for e in extras)) + 2
        out.append("  ┌" + "─" * width + "┐")
        for text in (title, detail, *extras):
            out.append("  │ " + text.ljust(width - 1) + "│")
        out.append("  └" + "─" * width + "┘")
        targets = succ.get(name, [])
        natural = order[i + 1] if i + 1 < len(order) else None
        for target, label in targets:
            arrow = "end" if target == END else target
            how = f" [{label}]" if label else ""
            marker = "  ▼" if target == natural and not label and len(targets) == 1 else f"  ├─▶ {arrow}{how}"
            out.append(marker)
        if name not in has_out:
            out.append("  ▼ end")
    return "\n".join(out)


def _order(wf: Workflow) -> list[str]:
    """Nodes in breadth-first order from the start, then any unreachable ones."""
    succ = wf.successors()
    seen: list[str] = []
    queue = list(wf.start_nodes)
    while queue:
        n = queue.pop(0)
        if n in seen or n not in wf.nodes:
            continue
        seen.append(n)
        queue.extend(t for t, _ in succ.get(n, []) if t != END)
    return seen + [n for n in wf.nodes if n not in seen]


__all__ = ["to_mermaid", "to_text"]
