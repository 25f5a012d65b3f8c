"""Workflows as YAML data — loaded safely, every error located at FILE:LINE:COL with its field path.

    workflow: my-linc                 # name
    input: problem                    # input message type
    nodes:
      translate: {use: linc.translate, with: {samples: 5}, model: local}
      prove:     {use: linc.prove, with: {timeout_s: 5}}
      vote:      {use: linc.vote}
    edges:
      - {from: translate, to: prove}
      - {from: prove, to: vote}

plus ``description``, ``output`` (the result's message type), ``start`` (default: the first node; a
list of nodes runs them in parallel),
``routes`` (``{from: X, on: FIELD, cases: {VALUE: NODE}, default: NODE}``), ``max_steps`` (required
when the graph has a loop), ``budget`` (``{calls, tokens, seconds}``, also per node), and joins
(``{from: [a, b], to: c}``: ``c`` waits for both).

Safety: the file is only *composed* (PyYAML's safe composer: no object is ever constructed from a
tag), any tag outside YAML's plain types (``!!python/object``, ``!custom``) is refused, alias
expansion is bounded, and oversized or binary files are refused.  Node types come from the registry
only, so a workflow file can never import or run code.  All problems of a file are reported together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from thinkgraph.graphs.errors import WorkflowError, WorkflowIssue
from thinkgraph.graphs.workflow import END, Workflow
from thinkgraph.runtime import Budget

MAX_BYTES = 256 * 1024
MAX_NODES = 20_000  # YAML nodes after alias expansion
MAX_DEPTH = 64

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_TOP_KEYS = ("workflow", "description", "input", "output", "start", "max_steps", "budget", "nodes", "edges", "routes")
_NODE_KEYS = ("use", "with", "model", "budget", "description")
_EDGE_KEYS = ("from", "to")
_ROUTE_KEYS = ("from", "on", "cases", "default")
_BUDGET_KEYS = ("calls", "tokens", "seconds")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[WorkflowIssue] = []
        self.locations: dict[str, tuple[int, int]] = {}
        self.broken: set[str] = set()  # nodes whose entry could not be read

    def _nearest(self, path: str) -> tuple[int, int]:
        """The position of ``path``, else of its closest recorded parent, else the file's start."""
        while path:
            if path in self.locations:
                return self.locations[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return self.locations.get("", (1, 1))

    def add(self, message: str, path: str, at: tuple[int, int] | None = None, fix: str = "") -> None:
        line, col = at if at is not None else self.locations.get(path, self._nearest(path))
        self.issues.append(WorkflowIssue(message, path, fix=fix, file=self.file, line=line, col=col))


def _mark(node: Any) -> tuple[int, int]:
    m = node.start_mark
    return (m.line + 1, m.column + 1)


class _Budget:
    """Counts YAML nodes visited, so aliases cannot blow up into a billion entries."""

    def __init__(self) -> None:
        self.count = 0
        self.exceeded = False


def _to_data(node: Any, path: str, col: _Collector, budget: _Budget, depth: int = 0) -> Any:
    """Plain Python data from a composed YAML node, recording each path's position."""
    import yaml

    budget.count += 1
    if budget.count > MAX_NODES or depth > MAX_DEPTH:
        if not budget.exceeded:
            budget.exceeded = True
            col.add(
                f"the document expands to more than {MAX_NODES} values or nests deeper than {MAX_DEPTH} "
                "(an alias bomb?)",
                path,
                _mark(node),
                "write the workflow out without repeated aliases",
            )
        return None
    col.locations.setdefault(path, _mark(node))
    if node.tag not in _PLAIN_TAGS:
        col.add(
            f"tag {node.tag!r} is not allowed",
            path,
            _mark(node),
            "workflow files hold plain values only (strings, numbers, booleans, lists, mappings)",
        )
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                col.add("merge keys (<<) are not allowed", path, _mark(key_node), "write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                col.add("a mapping key must be a plain name", path, _mark(key_node))
                continue
            # keys are names: kept as written, so YAML 1.1's `on:`/`yes:` do not turn into booleans
            key = str(key_node.value)
            sub = f"{path}.{key}" if path else str(key)
            if key in out:
                col.add(f"duplicate key {key!r}", sub, _mark(key_node), "each key may appear once")
                continue
            col.locations[sub] = _mark(key_node)
            out[key] = _to_data(value_node, sub, col, budget, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, f"{path}.{i}", col, budget, depth + 1) for i, item in enumerate(node.value)]
    # a scalar: resolve it with the safe constructor (plain types only, checked above)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
        too_big = "digits" in str(exc) or isinstance(exc, OverflowError)
        message = "a number too large to read" if too_big else f"invalid value: {str(exc)[:200]}"
        col.add(message, path, _mark(node), "use a plain number or a string")
        return None
    finally:
        loader.dispose()


def _read_text(source: str | Path, col: _Collector) -> str | None:
    path = Path(source)
    try:
        if path.is_dir():
            col.add("is a directory, not a workflow file", "", (1, 1), "give the path of a .yaml file")
            return None
        if not path.exists():
            col.add("no such file", "", (1, 1), "check the path")
            return None
        if not path.is_file():  # a FIFO or a device (/dev/zero) would hang or never end
            col.add("not a regular file", "", (1, 1), "give the path of a .yaml file")
            return None
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        col.add(f"cannot read: {exc.strerror or exc}", "", (1, 1))
        return None
    if len(data) > MAX_BYTES:
        col.add(f"file is over {MAX_BYTES} bytes; workflow files are limited to that", "", (1, 1))
        return None
    return _decode(data, col)


def _decode(data: bytes, col: _Collector) -> str | None:
    if b"\x00" in data:
        col.add("binary file (contains NUL bytes), not YAML", "", (1, 1))
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col.add(f"not UTF-8 text (byte {exc.start})", "", (line, 1))
        return None
    return text


def _parse(text: str, col: _Collector) -> Any:
    import yaml

    if not text.strip() or all(ln.strip().startswith("#") or not ln.strip() for ln in text.splitlines()):
        col.add("empty workflow file", "", (1, 1), "start with `workflow: NAME` and a `nodes:` mapping")
        return None
    try:
        if not _shallow_enough(text, col):
            return None
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except RecursionError:
        col.add(f"the document nests deeper than {MAX_DEPTH} levels", "", (1, 1), "flatten it")
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or str(exc)
        fix = "indent with spaces, not tabs" if "\t" in problem or "tab" in problem.lower() else "fix the YAML syntax"
        col.add(f"YAML syntax error: {problem}" + (f" ({exc.context})" if exc.context else ""), "", at, fix)
        return None
    except yaml.YAMLError as exc:
        col.add(f"YAML error: {exc}", "", (1, 1))
        return None
    if root is None:
        col.add("empty workflow file", "", (1, 1), "start with `workflow: NAME` and a `nodes:` mapping")
        return None
    return _to_data(root, "", col, _Budget())


def _shallow_enough(text: str, col: _Collector) -> bool:
    """Walk the event stream (no recursion) and refuse documents nested deeper than ``MAX_DEPTH`` or
    with absurdly many values, before the recursive composer sees them."""
    import yaml

    depth = 0
    events = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        events += 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                col.add(
                    f"the document nests deeper than {MAX_DEPTH} levels",
                    "",
                    (event.start_mark.line + 1, event.start_mark.column + 1),
                    "flatten it",
                )
                return False
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if events > MAX_NODES * 2:
            col.add(f"the document has more than {MAX_NODES} values", "", (1, 1), "a workflow is small")
            return False
    return True


def _keys(data: dict[str, Any], allowed: tuple[str, ...], path: str, col: _Collector) -> None:
    import difflib

    for key in data:
        if key not in allowed:
            sub = f"{path}.{key}" if path else str(key)
            close = difflib.get_close_matches(str(key), allowed, n=1)
            fix = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            col.add(f"unknown field {key!r}", sub, fix=fix)


def _expect(value: Any, kind: type | tuple[type, ...], path: str, col: _Collector, what: str) -> bool:
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
    if not ok:
        col.add(f"expected {what}, got {_describe(value)}", path)
    return ok


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _budget(value: Any, path: str, col: _Collector) -> Budget | None:
    if not _expect(value, dict, path, col, "a mapping like {calls: 20, tokens: 50000, seconds: 600}"):
        return None
    _keys(value, _BUDGET_KEYS, path, col)
    ok = True
    for key in _BUDGET_KEYS:
        v = value.get(key)
        if v is None:
            continue
        whole = key != "seconds"
        kinds = int if whole else int | float
        if isinstance(v, bool) or not isinstance(v, kinds) or not math.isfinite(v) or v < 0:
            what = "a whole number ≥ 0" if whole else "a finite number of seconds ≥ 0"
            col.add(f"expected {what}, got {_describe(v)}", f"{path}.{key}")
            ok = False
    if not ok:
        return None
    return Budget(max_calls=value.get("calls"), max_tokens=value.get("tokens"), max_seconds=value.get("seconds"))


def _name(value: Any, path: str, col: _Collector, *, target: bool = True) -> str | None:
    """A node name (``target``: a place an edge may go, where ``END`` ends the run)."""
    if isinstance(value, str) and target and value == END:
        return value
    if isinstance(value, str) and _NAME.fullmatch(value) and not _reserved(value):
        return value
    col.add(
        f"expected a node name, got {_describe(value)}",
        path,
        fix="a name is a letter or _ then letters, digits, _ or - (at most 64), not END and not starting with __"
        + ("; END ends the run" if target else ""),
    )
    return None


def _reserved(name: str) -> bool:
    return name == END or name.startswith("__")


def _build(data: Any, col: _Collector) -> Workflow | None:
    if not isinstance(data, dict):
        col.add(f"a workflow file is a mapping, got {_describe(data)}", "", fix="start with `workflow: NAME`")
        return None
    _keys(data, _TOP_KEYS, "", col)
    name = data.get("workflow")
    if name is None:
        col.add("missing field 'workflow' (the workflow's name)", "workflow", col.locations.get("", (1, 1)))
        name = "?"
    elif not isinstance(name, str) or not name.strip():
        col.add(f"expected a name, got {_describe(name)}", "workflow")
        name = "?"
    kw: dict[str, Any] = {}
    for key in ("input", "output", "description"):
        if key in data and _expect(data[key], str, key, col, "a string"):
            kw[key] = data[key]
    if "start" in data:
        start = data["start"]
        if isinstance(start, list) and start:
            names = [_name(s, f"start.{i}", col, target=False) for i, s in enumerate(start)]
            if all(n is not None for n in names):
                kw["start"] = [n for n in names if n is not None]
        elif isinstance(start, str):
            if _name(start, "start", col, target=False) is not None:
                kw["start"] = start
        else:
            col.add(f"expected a node name or a list of them, got {_describe(start)}", "start")
    if "max_steps" in data:
        ms = data["max_steps"]
        if _expect(ms, int, "max_steps", col, "an integer ≥ 1") and ms < 1:
            col.add(f"expected an integer ≥ 1, got {ms}", "max_steps")
        elif isinstance(ms, int) and not isinstance(ms, bool):
            kw["max_steps"] = ms
    if "budget" in data:
        kw["budget"] = _budget(data["budget"], "budget", col)
    wf = Workflow(str(name), **kw)
    _nodes(data.get("nodes"), wf, col)
    _edges(data.get("edges"), wf, col)
    _routes(data.get("routes"), wf, col)
    return wf


def _nodes(nodes: Any, wf: Workflow, col: _Collector) -> None:
    if nodes is None:
        col.add("missing field 'nodes'", "nodes", col.locations.get("", (1, 1)), "add `nodes:` with at least one node")
    elif _expect(nodes, dict, "nodes", col, "a mapping of node name → {use: TYPE, with: {...}}"):
        for node_name, entry in nodes.items():
            if not _node(str(node_name), entry, wf, col):
                col.broken.add(str(node_name))


def _node(node_name: str, entry: Any, wf: Workflow, col: _Collector) -> bool:
    """Add one node entry to ``wf``; False (with the errors recorded) when it cannot be read."""
    path = f"nodes.{node_name}"
    if _name(node_name, path, col, target=False) is None:
        return False
    if not _expect(entry, dict, path, col, "a mapping like {use: linc.translate, with: {...}}"):
        return False
    _keys(entry, _NODE_KEYS, path, col)
    use = entry.get("use")
    if use is None:
        col.add("missing field 'use' (the node type)", f"{path}.use", col.locations.get(path))
        return False
    if not _expect(use, str, f"{path}.use", col, "a node type such as linc.translate"):
        return False
    params = entry.get("with", {})
    if params is None:
        params = {}
    if not _expect(params, dict, f"{path}.with", col, "a mapping of parameters"):
        params = {}
    model = entry.get("model")
    if model is not None and not _expect(model, str, f"{path}.model", col, "a model spec such as local"):
        model = None
    budget = _budget(entry["budget"], f"{path}.budget", col) if "budget" in entry else None
    wf.add(node_name, use, params, model=model, budget=budget)
    return True


def _entries(
    value: Any, field: str, shape: str, keys: tuple[str, ...], col: _Collector
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The mappings of a list field (``edges``, ``routes``) with their paths; malformed ones are reported."""
    if value is None or not _expect(value, list, field, col, f"a list of {shape}"):
        return
    for i, entry in enumerate(value):
        path = f"{field}.{i}"
        if _expect(entry, dict, path, col, f"a mapping {shape}"):
            _keys(entry, keys, path, col)
            yield path, entry


def _edges(edges: Any, wf: Workflow, col: _Collector) -> None:
    for path, e in _entries(edges, "edges", "{from: NODE, to: NODE}", _EDGE_KEYS, col):
        if "from" not in e or "to" not in e:
            col.add("an edge needs both 'from' and 'to'", path)
            continue
        target = _name(e["to"], f"{path}.to", col)
        src = e["from"]
        if isinstance(src, list):
            names = [_name(s, f"{path}.from.{j}", col, target=False) for j, s in enumerate(src)]
            if not names:
                col.add("a join needs at least one source", f"{path}.from")
                continue
            if target is not None and all(n is not None for n in names):
                wf.join([n for n in names if n is not None], target)
        else:
            s = _name(src, f"{path}.from", col, target=False)
            if s is not None and target is not None:
                wf.edge(s, target)


def _routes(routes: Any, wf: Workflow, col: _Collector) -> None:
    shape = "{from: NODE, on: FIELD, cases: {VALUE: NODE}, default: NODE}"
    for path, r in _entries(routes, "routes", shape, _ROUTE_KEYS, col):
        missing = [k for k in ("from", "on", "cases") if k not in r]
        if missing:
            col.add(f"a route needs {', '.join(missing)}", path)
            continue
        src = _name(r["from"], f"{path}.from", col, target=False)
        on = r["on"] if _expect(r["on"], str, f"{path}.on", col, "a field name") else None
        cases = r["cases"]
        if not _expect(cases, dict, f"{path}.cases", col, "a mapping {VALUE: NODE}"):
            continue
        good = {k: t for k, t in cases.items() if _name(t, f"{path}.cases.{k}", col) is not None}
        default = r.get("default")
        if default is not None and _name(default, f"{path}.default", col) is None:
            default = None
        if src is not None and on is not None and len(good) == len(cases):
            wf.route(src, on, good, default)


def _follows_from(issue: WorkflowIssue, col: _Collector) -> bool:
    """A graph problem that is only a consequence of an entry already reported as malformed (a node,
    edge or route that could not be read is missing from the graph)."""
    broken = col.broken
    if issue.node in broken or any(f"'{b}'" in issue.message for b in broken):
        return True
    if "which neither the input" in issue.message or "is unreachable" in issue.message:
        return True  # a dropped node, edge or route may be what would have connected or fed it
    return issue.message == "the workflow has no nodes"


def _load(text: str | None, col: _Collector) -> Workflow:
    data = _parse(text, col) if text is not None else None
    wf = _build(data, col) if not col.issues else None
    if wf is not None:
        wf.source = col.file
        wf.locations = col.locations
        structural = bool(col.issues)
        seen = {(i.path, i.message) for i in col.issues}
        for issue in wf.check():  # the graph's problems too: every error of the file at once
            if structural and _follows_from(issue, col):
                continue
            if (issue.path, issue.message) not in seen:
                seen.add((issue.path, issue.message))
                col.issues.append(issue)
    if col.issues:
        raise WorkflowError(sorted(col.issues, key=lambda i: (i.line, i.col)), getattr(wf, "name", ""))
    assert wf is not None
    return wf


def load_workflow(path: str | Path) -> Workflow:
    """Load and check a YAML workflow; raises :class:`WorkflowError` with every located problem."""
    col = _Collector(str(path))
    return _load(_read_text(path, col), col)


def loads_workflow(text: str | bytes, file: str = "<string>") -> Workflow:
    """:func:`load_workflow` for text in memory."""
    col = _Collector(file)
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            col.add(f"document is {len(text)} bytes; workflow files are limited to {MAX_BYTES}", "", (1, 1))
            raise WorkflowError(col.issues)
        decoded = _decode(text, col)
    else:
        if len(text.encode("utf-8", "replace")) > MAX_BYTES:
            col.add(f"document is over {MAX_BYTES} bytes; workflow files are limited to that", "", (1, 1))
            raise WorkflowError(col.issues)
        decoded = text
    return _load(decoded, col)


def dump_workflow(wf: Workflow) -> str:
    """The YAML text of ``wf`` (round-trips through :func:`loads_workflow`)."""
    import yaml

    return str(yaml.safe_dump(wf.to_dict(), sort_keys=False, allow_unicode=True))


__all__ = ["MAX_BYTES", "dump_workflow", "load_workflow", "loads_workflow"]
