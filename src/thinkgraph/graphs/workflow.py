"""The workflow builder: nodes, edges, routes, joins and loops — checked statically before anything runs.

    wf = (
        Workflow("my-linc", input="problem")
        .add("translate", "linc.translate", {"samples": 5})
        .add("prove", "linc.prove", {"timeout_s": 5})
        .add("vote", "linc.vote")
        .edge("translate", "prove")
        .edge("prove", "vote")
    )
    compiled = wf.compile()              # every problem at once, or WorkflowError
    result = compiled.run_sync(problem, model=load_model("local"))

:meth:`Workflow.check` finds every problem at once — unknown node types, parameters that do not
validate, dangling edges, unreachable nodes, an edge along which no message type passes, a node
whose inputs nothing before it writes, route cases that name no node, a loop without ``max_steps`` —
each with the node, the field path and the fix.  :meth:`Workflow.compile` compiles to LangGraph once
(:mod:`thinkgraph.graphs.compiled`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from thinkgraph.graphs.errors import WorkflowError, WorkflowIssue
from thinkgraph.graphs.node import NodeSpec, get_node, plugin_errors, registry
from thinkgraph.messages import MessageError, message_kinds, message_type
from thinkgraph.runtime import Budget

if TYPE_CHECKING:
    from thinkgraph.graphs.compiled import CompiledWorkflow

END = "END"
_NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_MODEL_KINDS = ("local", "openai", "litellm", "replay", "vllm")


@dataclass
class NodeUse:
    """One node of a workflow: its name there, its registered type, its settings and model."""

    name: str
    use: str
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    budget: Budget | None = None


@dataclass
class Edge:
    sources: tuple[str, ...]  # several sources: a join (the target waits for all of them)
    target: str


@dataclass
class Route:
    """After ``source``, go to ``cases[value of field on]``, else ``default``."""

    source: str
    on: str
    cases: dict[str, str]
    default: str | None = None


def norm_case(value: Any) -> str:
    """How route values compare: booleans as true/false (also when written True/False), None as null,
    everything else as its string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = str(value)
    return text.lower() if text.lower() in ("true", "false", "null") else text


def _enumerable(annotation: Any) -> set[str] | None:
    """The values a field can take when they can be listed (bool, Literal, Optional of those), else None."""
    from typing import Literal, Union, get_args, get_origin

    if annotation is bool:
        return {"true", "false"}
    origin = get_origin(annotation)
    if origin is Literal:
        return {norm_case(v) for v in get_args(annotation)}
    if origin is Union or type(annotation).__name__ == "UnionType":
        out: set[str] = set()
        for arg in get_args(annotation):
            if arg is type(None):
                out.add("null")
                continue
            sub = _enumerable(arg)
            if sub is None:
                return None
            out |= sub
        return out
    return None


class Workflow:
    """A graph of registered nodes, built in Python or loaded from YAML (:func:`load_workflow`)."""

    def __init__(
        self,
        name: str,
        *,
        input: str = "problem",
        output: str | None = None,
        start: str | list[str] | None = None,
        max_steps: int | None = None,
        description: str = "",
        budget: Budget | None = None,
    ) -> None:
        self.name = name
        self.input = input
        self.output = output
        self.start = start
        self.max_steps = max_steps
        self.description = description
        self.budget = budget
        self.nodes: dict[str, NodeUse] = {}
        self.edges: list[Edge] = []
        self.routes: list[Route] = []
        self.source: str = ""  # the YAML file it came from, if any
        self.locations: dict[str, tuple[int, int]] = {}  # field path -> (line, col) in ``source``

    # ------------------------------------------------------------------ building

    def add(
        self,
        name: str,
        use: str,
        params: Mapping[str, Any] | BaseModel | None = None,
        *,
        model: str | None = None,
        budget: Budget | None = None,
    ) -> Workflow:
        """Add a node ``name`` of the registered type ``use`` with its parameters."""
        if name in self.nodes:
            raise WorkflowError([WorkflowIssue(f"node {name!r} is added twice", node=name, fix="use another name")])
        if isinstance(params, BaseModel):
            params = params.model_dump()
        self.nodes[name] = NodeUse(name, use, dict(params or {}), model, budget)
        return self

    def edge(self, source: str, target: str) -> Workflow:
        """After ``source``, run ``target`` (several edges from one node fan out in parallel)."""
        self.edges.append(Edge((source,), target))
        return self

    def join(self, sources: Iterable[str], target: str) -> Workflow:
        """Run ``target`` once all of ``sources`` (parallel branches) have finished; it can read every
        branch's messages with a ``list[X]`` input (the messages channel appends, it never overwrites)."""
        self.edges.append(Edge(tuple(sources), target))
        return self

    def route(self, source: str, on: str, cases: Mapping[Any, str], default: str | None = None) -> Workflow:
        """After ``source``, go to the node named by ``cases`` for the value of its output's field ``on``."""
        self.routes.append(Route(source, on, {norm_case(k): v for k, v in cases.items()}, default))
        return self

    def set_params(self, overrides: Mapping[str, Any]) -> Workflow:
        """Override parameters: ``{"translate.samples": 5}`` (``NODE.PARAM``); ``NODE.model`` sets a model."""
        issues = []
        for key, value in overrides.items():
            node_name, _, param = key.partition(".")
            if node_name not in self.nodes or not param:
                issues.append(
                    WorkflowIssue(
                        f"--set {key}: no node {node_name!r}" if param else f"--set {key}: expected NODE.PARAM=VALUE",
                        fix=f"nodes are: {', '.join(self.nodes)}",
                    )
                )
                continue
            if param == "model":
                self.nodes[node_name].model = str(value)
            else:
                self.nodes[node_name].params[param] = value
        if issues:
            raise WorkflowError(issues, self.name)
        return self

    def copy(self) -> Workflow:
        wf = Workflow(
            self.name,
            input=self.input,
            output=self.output,
            start=self.start,
            max_steps=self.max_steps,
            description=self.description,
            budget=self.budget,
        )
        wf.nodes = {k: NodeUse(v.name, v.use, dict(v.params), v.model, v.budget) for k, v in self.nodes.items()}
        wf.edges = [Edge(e.sources, e.target) for e in self.edges]
        wf.routes = [Route(r.source, r.on, dict(r.cases), r.default) for r in self.routes]
        wf.source, wf.locations = self.source, dict(self.locations)
        return wf

    @property
    def start_nodes(self) -> list[str]:
        """Where a run begins: ``start`` (one node, or several that run in parallel), else the first node."""
        if isinstance(self.start, list):
            return list(self.start)
        if self.start:
            return [self.start]
        return [next(iter(self.nodes))] if self.nodes else []

    @property
    def start_node(self) -> str | None:
        starts = self.start_nodes
        return starts[0] if starts else None

    # ------------------------------------------------------------------ checking

    def _issue(self, message: str, path: str = "", node: str = "", fix: str = "") -> WorkflowIssue:
        issue = WorkflowIssue(message, path, node, fix)
        if self.source:
            line, col = self._locate(path)
            issue = issue.located(self.source, line, col)
        return issue

    def _locate(self, path: str) -> tuple[int, int]:
        while path:
            if path in self.locations:
                return self.locations[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return self.locations.get("", (1, 1))

    def check(self) -> list[WorkflowIssue]:
        """Every problem of this workflow (empty when it is valid)."""
        issues: list[WorkflowIssue] = []
        specs = self._check_nodes(issues)
        self._check_input_output(issues, specs)
        succ = self._check_edges(issues)
        self._check_routes(issues, specs, succ)
        if not self.nodes:
            issues.append(self._issue("the workflow has no nodes", "nodes", fix="add at least one node"))
            return issues
        starts = self.start_nodes
        unknown = [(i, s) for i, s in enumerate(starts) if s not in self.nodes]
        if unknown:
            for i, s in unknown:
                issues.append(self._unknown_node(s, f"start.{i}" if isinstance(self.start, list) else "start"))
            return issues
        if not starts:
            issues.append(self._issue("start names no node", "start", fix="name the node (or nodes) to begin with"))
            return issues
        reach: set[str] = set()
        for s in starts:
            reach |= _reachable(s, succ)
        for name in self.nodes:
            if name not in reach:
                issues.append(
                    self._issue(
                        f"node {name!r} is unreachable from the start ({', '.join(starts)})",
                        f"nodes.{name}",
                        name,
                        "connect it with an edge or a route case, or remove it",
                    )
                )
        self._check_flow(issues, specs, succ, starts)
        cycle = next((c for c in (_find_cycle(s, succ) for s in starts) if c), [])
        if cycle and self.max_steps is None:
            issues.append(
                self._issue(
                    f"loop {' → '.join(cycle)} has no bound",
                    "max_steps",
                    cycle[0],
                    "set max_steps: N (the most node runs a problem may take)",
                )
            )
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            issues.append(self._issue(f"max_steps must be an integer ≥ 1, not {self.max_steps!r}", "max_steps"))
        return issues

    def _unknown_node(self, name: str, path: str) -> WorkflowIssue:
        close = difflib.get_close_matches(str(name), list(self.nodes), n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"nodes are: {', '.join(self.nodes) or '(none)'}"
        return self._issue(f"no node named {name!r}", path, fix=fix)

    def _check_nodes(self, issues: list[WorkflowIssue]) -> dict[str, NodeSpec]:
        specs: dict[str, NodeSpec] = {}
        for name, use in self.nodes.items():
            if name == END or name.startswith("__") or not _NODE_NAME.fullmatch(name):
                issues.append(
                    self._issue(
                        f"node name {name!r} is not allowed",
                        f"nodes.{name}",
                        name,
                        "a name is a letter or _ then letters, digits, _ or - (at most 64), not END and not "
                        "starting with __",
                    )
                )
            spec = get_node(use.use)
            if spec is None:
                known = sorted(registry())
                close = difflib.get_close_matches(use.use, known, n=3)
                fix = f"did you mean {', '.join(close)}?" if close else "see `thinkgraph nodes` for the node types"
                broken = plugin_errors()
                if broken:
                    fix += f"; plugins that failed to load: {'; '.join(broken)}"
                issues.append(self._issue(f"unknown node type {use.use!r}", f"nodes.{name}.use", name, fix))
                continue
            specs[name] = spec
            self._check_params(issues, name, use, spec)
            if use.model is not None:
                self._check_model(issues, name, use.model)
        return specs

    def _check_params(self, issues: list[WorkflowIssue], name: str, use: NodeUse, spec: NodeSpec) -> None:
        fields = spec.params.model_fields
        for key, value in use.params.items():
            if key not in fields and spec.params.model_config.get("extra") != "allow":
                # unknown keys are errors, even where the model would ignore them
                issues.append(self._issue("unknown parameter", f"nodes.{name}.with.{key}", name, _param_fix(spec, key)))
                continue
            expected = _scalar_mismatch(fields.get(key), value)
            if expected:
                issues.append(
                    self._issue(
                        f"expected {expected}, got {type(value).__name__} {value!r}",
                        f"nodes.{name}.with.{key}",
                        name,
                        _param_fix(spec, key),
                    )
                )
        try:
            spec.params.model_validate(use.params)
        except ValidationError as exc:
            for err in exc.errors():
                first = str(err["loc"][0]) if err["loc"] else ""
                if err.get("type") == "extra_forbidden" or _scalar_mismatch(fields.get(first), use.params.get(first)):
                    continue  # reported above
                loc = ".".join(str(x) for x in err["loc"])
                issues.append(
                    self._issue(
                        _pydantic_message(err),
                        f"nodes.{name}.with.{loc}" if loc else f"nodes.{name}.with",
                        name,
                        _param_fix(spec, first),
                    )
                )

    def _check_model(self, issues: list[WorkflowIssue], name: str, model: str) -> None:
        host = _remote_host(model)
        if self.source and host is not None:
            issues.append(
                self._issue(
                    f"the workflow file names a model on another host ({host}); a shared file must not "
                    "send your problems and API keys elsewhere",
                    f"nodes.{name}.model",
                    name,
                    f"name the model on the command line instead (--set {name}.model=SPEC), or use a "
                    "loopback server (127.0.0.1 / localhost)",
                )
            )
        if self.source and model.startswith("vllm:") and "@" not in model.split("#", 1)[0]:
            issues.append(
                self._issue(
                    "the workflow file would start a vLLM server (a managed process); a shared file must not "
                    "start programs",
                    f"nodes.{name}.model",
                    name,
                    f"attach to a running server (vllm:MODEL@http://127.0.0.1:8000/v1), or name the model on the "
                    f"command line (--set {name}.model=vllm:MODEL)",
                )
            )
        if model.split(":", 1)[0] not in _MODEL_KINDS:
            issues.append(
                self._issue(
                    f"unknown model spec {model!r}",
                    f"nodes.{name}.model",
                    name,
                    "use local, local:small, local:/path.gguf, openai:MODEL[@URL], vllm:MODEL[@URL], "
                    "litellm:PROVIDER/MODEL or replay:FILE",
                )
            )

    def _check_input_output(self, issues: list[WorkflowIssue], specs: dict[str, NodeSpec]) -> None:
        try:
            message_type(self.input)
        except MessageError:
            issues.append(
                self._issue(
                    f"unknown input message type {self.input!r}",
                    "input",
                    fix=f"one of: {', '.join(sorted(message_kinds()))}",
                )
            )
        if self.output is not None:
            written = {k for s in specs.values() for k in s.write_kinds}
            if self.output not in written and self.output != self.input:
                issues.append(
                    self._issue(
                        f"output {self.output!r} is written by no node",
                        "output",
                        fix=f"nodes write: {', '.join(sorted(written)) or '(nothing)'}",
                    )
                )

    def _check_edges(self, issues: list[WorkflowIssue]) -> dict[str, set[str]]:
        succ: dict[str, set[str]] = {n: set() for n in self.nodes}
        seen: set[tuple[tuple[str, ...], str]] = set()
        for i, e in enumerate(self.edges):
            if (e.sources, e.target) in seen:
                issues.append(
                    self._issue(
                        f"edge {' + '.join(e.sources)} → {e.target} is listed twice", f"edges.{i}", fix="remove one"
                    )
                )
            seen.add((e.sources, e.target))
            ok = True
            for j, s in enumerate(e.sources):
                if s not in self.nodes:
                    where = f"edges.{i}.from" if len(e.sources) == 1 else f"edges.{i}.from.{j}"
                    issues.append(self._unknown_node(s, where))
                    ok = False
            if e.target != END and e.target not in self.nodes:
                issues.append(self._unknown_node(e.target, f"edges.{i}.to"))
                ok = False
            if ok and e.target != END:
                for s in e.sources:
                    succ[s].add(e.target)
        return succ

    def _check_routes(self, issues: list[WorkflowIssue], specs: dict[str, NodeSpec], succ: dict[str, set[str]]) -> None:
        seen: set[str] = set()
        for i, r in enumerate(self.routes):
            base = f"routes.{i}"
            if r.source not in self.nodes:
                issues.append(self._unknown_node(r.source, f"{base}.from"))
                continue
            if r.source in seen:
                issues.append(
                    self._issue(
                        f"node {r.source!r} has two routes", base, r.source, "merge them into one route with more cases"
                    )
                )
            seen.add(r.source)
            if any(r.source in e.sources for e in self.edges):
                issues.append(
                    self._issue(
                        f"node {r.source!r} has both a route and edges",
                        base,
                        r.source,
                        "its route chooses the next node; remove the edges or make them route cases",
                    )
                )
            if not r.cases:
                issues.append(self._issue("a route needs at least one case", f"{base}.cases", r.source))
            for value, target in r.cases.items():
                if target != END and target not in self.nodes:
                    issues.append(self._unknown_node(target, f"{base}.cases.{value}"))
                elif target != END:
                    succ[r.source].add(target)
            if r.default is not None:
                if r.default != END and r.default not in self.nodes:
                    issues.append(self._unknown_node(r.default, f"{base}.default"))
                elif r.default != END:
                    succ[r.source].add(r.default)
            spec = specs.get(r.source)
            if spec is not None:
                fields = {f for t in spec.writes for f in t.model_fields}
                if not spec.writes:
                    issues.append(
                        self._issue(
                            f"node {r.source!r} ({spec.name}) writes no message, so there is no field to route on",
                            f"{base}.from",
                            r.source,
                        )
                    )
                elif r.on not in fields:
                    kinds = ", ".join(spec.write_kinds)
                    issues.append(
                        self._issue(
                            f"{r.source!r} writes {kinds}, which has no field {r.on!r}",
                            f"{base}.on",
                            r.source,
                            f"route on one of: {', '.join(sorted(fields - {'kind'}))}",
                        )
                    )
                else:
                    self._check_cases(issues, r, base, spec)

    def _check_cases(self, issues: list[WorkflowIssue], r: Route, base: str, spec: NodeSpec) -> None:
        """Case values must be values the field can take; without a default they must cover them all."""
        values: set[str] | None = set()
        for t in spec.writes:
            field = t.model_fields.get(r.on)
            if field is None:
                continue
            allowed = _enumerable(field.annotation)
            if allowed is None or values is None:
                values = None
            else:
                values |= allowed
        if values is not None:
            for value in r.cases:
                if value not in values:
                    issues.append(
                        self._issue(
                            f"{r.on} is never {value!r}",
                            f"{base}.cases.{value}",
                            r.source,
                            f"{r.on} takes: {', '.join(sorted(values))}",
                        )
                    )
            missing = sorted(values - set(r.cases))
            if missing and r.default is None:
                issues.append(
                    self._issue(
                        f"route after {r.source!r} has no case for {r.on} = {', '.join(missing)} and no default",
                        f"{base}.default",
                        r.source,
                        "add cases for them or a default: NODE (END ends the run)",
                    )
                )
        elif r.default is None:
            issues.append(
                self._issue(
                    f"route after {r.source!r} on {r.on} has no default, and {r.on} can take values no case names",
                    f"{base}.default",
                    r.source,
                    "add default: NODE (END ends the run)",
                )
            )

    def _check_flow(
        self, issues: list[WorkflowIssue], specs: dict[str, NodeSpec], succ: dict[str, set[str]], starts: list[str]
    ) -> None:
        # along every plain edge some message type must pass
        for i, e in enumerate(self.edges):
            if e.target == END or e.target not in specs:
                continue
            target = specs[e.target]
            if not target.reads:
                continue
            for s in e.sources:
                if s not in specs:
                    continue
                passed = set(specs[s].write_kinds) & set(target.read_kinds)
                if not passed:
                    issues.append(
                        self._issue(
                            f"edge {s} → {e.target}: {s} ({specs[s].name}) writes "
                            f"{', '.join(specs[s].write_kinds) or 'nothing'}, but {e.target} ({target.name}) reads "
                            f"{', '.join(target.read_kinds)}",
                            f"edges.{i}",
                            e.target,
                            "connect a node that writes what it reads, or insert a node that converts",
                        )
                    )
        # every required input must be the workflow's input or written on every path to the node
        if len(specs) < len(self.nodes):
            return  # an unknown node type (reported) may write what the others read: no follow-on errors
        anywhere, always = self._availability(specs, succ, starts)
        for name, spec in specs.items():
            for r in spec.reads:
                if r.optional or r.kind in always.get(name, set()):
                    continue
                if r.kind in anywhere.get(name, set()):
                    message = f"node {name!r} ({spec.name}) reads {r.kind}, but not every path to it writes {r.kind}"
                    fix = f"make the read optional ({r.kind} | None), or write {r.kind} on every path to {name!r}"
                else:
                    message = (
                        f"node {name!r} ({spec.name}) reads {r.kind}, which neither the input ({self.input}) nor "
                        "any node before it writes"
                    )
                    fix = f"add a node that writes {r.kind} before {name!r}, or change the workflow's input"
                issues.append(self._issue(message, f"nodes.{name}", name, fix))

    def _availability(
        self, specs: dict[str, NodeSpec], succ: dict[str, set[str]], starts: list[str]
    ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Message kinds that reach each node on *some* path and on *every* path (a data-flow fixpoint:
        plain edges and route cases are alternatives, a join's sources all arrive)."""
        groups: dict[str, list[tuple[str, ...]]] = {n: [] for n in self.nodes}
        for e in self.edges:
            if e.target in groups and all(s in self.nodes for s in e.sources):
                groups[e.target].append(e.sources)
        for r in self.routes:
            for t in {*r.cases.values(), *([r.default] if r.default else [])}:
                if t in groups and r.source in self.nodes:
                    groups[t].append((r.source,))
        writes = {n: set(specs[n].write_kinds) if n in specs else set() for n in self.nodes}
        universe = {self.input} | {k for w in writes.values() for k in w}
        always = {n: ({self.input} if n in starts else set(universe)) for n in self.nodes}
        anywhere: dict[str, set[str]] = {n: {self.input} for n in self.nodes}
        for _ in range(len(self.nodes) + 2):  # monotone: converges in at most |nodes| rounds
            changed = False
            for n in self.nodes:
                if n in starts or not groups[n]:
                    continue
                ins = [set().union(*(always[s] | writes[s] for s in g)) for g in groups[n]]
                new = {self.input} | set.intersection(*ins)
                some = {self.input} | set().union(*(anywhere[s] | writes[s] for g in groups[n] for s in g))
                if new != always[n] or some != anywhere[n]:
                    always[n], anywhere[n], changed = new, some, True
            if not changed:
                break
        return anywhere, always

    def validate(self) -> Workflow:
        """Raise :class:`WorkflowError` with every problem, or return self."""
        issues = self.check()
        if issues:
            raise WorkflowError(issues, self.name)
        return self

    def compile(self) -> CompiledWorkflow:
        """Check, then compile to LangGraph once; the result runs any number of problems."""
        from thinkgraph.graphs.compiled import CompiledWorkflow

        self.validate()
        return CompiledWorkflow(self.copy())

    # ------------------------------------------------------------------ data

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of this workflow (``load_workflow`` reads it back)."""
        nodes: dict[str, Any] = {}
        for n in self.nodes.values():
            entry: dict[str, Any] = {"use": n.use}
            if n.params:
                entry["with"] = dict(n.params)
            if n.model:
                entry["model"] = n.model
            if n.budget is not None and not n.budget.is_empty():
                entry["budget"] = _budget_dict(n.budget)
            nodes[n.name] = entry
        out: dict[str, Any] = {"workflow": self.name}
        if self.description:
            out["description"] = self.description
        out["input"] = self.input
        if self.output:
            out["output"] = self.output
        if self.start:
            out["start"] = self.start
        if self.max_steps is not None:
            out["max_steps"] = self.max_steps
        if self.budget is not None and not self.budget.is_empty():
            out["budget"] = _budget_dict(self.budget)
        out["nodes"] = nodes
        out["edges"] = [
            {"from": e.sources[0] if len(e.sources) == 1 else list(e.sources), "to": e.target} for e in self.edges
        ]
        if self.routes:
            out["routes"] = [
                {"from": r.source, "on": r.on, "cases": dict(r.cases), **({"default": r.default} if r.default else {})}
                for r in self.routes
            ]
        return out

    def successors(self) -> dict[str, list[tuple[str, str]]]:
        """node -> [(target, label)] for drawing: plain edges have an empty label, route cases their value."""
        out: dict[str, list[tuple[str, str]]] = {n: [] for n in self.nodes}
        for e in self.edges:
            for s in e.sources:
                if s in out:
                    out[s].append((e.target, "join" if len(e.sources) > 1 else ""))
        for r in self.routes:
            if r.source in out:
                for value, target in r.cases.items():
                    out[r.source].append((target, f"{r.on}={value}"))
                if r.default:
                    out[r.source].append((r.default, "default"))
        return out


def _remote_host(spec: str) -> str | None:
    """The host of a model spec's server URL (``openai:M@URL``) when it is not this machine, else None."""
    from urllib.parse import urlparse

    if "@" not in spec:
        return None
    import ipaddress

    url = spec.split("@", 1)[1].split("#", 1)[0]
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:  # 127.0.0.1, ::1 — but not a name like 127.evil.example
            return None
    except ValueError:
        pass
    return host or url


def _budget_dict(b: Budget) -> dict[str, Any]:
    return {
        k: v
        for k, v in {"calls": b.max_calls, "tokens": b.max_tokens, "seconds": b.max_seconds}.items()
        if v is not None
    }


def _scalar_mismatch(field: Any, value: Any) -> str:
    """What a number or boolean parameter expects when ``value`` is only coerced into it by pydantic's lax
    mode (``true`` for an int, ``"3"`` for a float, ``1`` for a bool); '' when it is fine."""
    if field is None:
        return ""
    ann = field.annotation
    if ann is bool and not isinstance(value, bool):
        return "true or false"
    if ann in (int, float) and (isinstance(value, bool) or isinstance(value, str)):
        return "a whole number" if ann is int else "a number"
    return ""


def _pydantic_message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        return "unknown parameter"
    if "input" in err and err.get("type") != "missing":
        return f"{msg} (got {err['input']!r})"
    return msg


def _param_fix(spec: NodeSpec, param: str) -> str:
    fields = spec.params.model_fields
    if param in fields:
        f = fields[param]
        default = "" if f.is_required() else f"; default {f.get_default(call_default_factory=True)!r}"
        ann = f.annotation
        tname = ann.__name__ if isinstance(ann, type) else str(ann).replace("typing.", "")
        return f"{param} takes {tname}{default}"
    close = difflib.get_close_matches(param, list(fields), n=1)
    if close:
        return f"did you mean {close[0]!r}? {spec.name} takes: {', '.join(fields) or '(no parameters)'}"
    return f"{spec.name} takes: {', '.join(fields) or '(no parameters)'}"


def _reachable(start: str, succ: Mapping[str, Iterable[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for t in succ.get(stack.pop(), ()):
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


def _find_cycle(start: str, succ: Mapping[str, Iterable[str]]) -> list[str]:
    """One cycle reachable from ``start`` as a node path (first node repeated at the end), or [].
    Iterative, so a workflow of thousands of nodes cannot exhaust the stack."""
    color: dict[str, int] = {start: 1}
    path = [start]
    stack = [iter(sorted(succ.get(start, ())))]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            color[path.pop()] = 2
            continue
        state = color.get(node, 0)
        if state == 1:
            return [*path[path.index(node) :], node]
        if state == 0:
            color[node] = 1
            path.append(node)
            stack.append(iter(sorted(succ.get(node, ()))))
    return []


def has_cycle(wf: Workflow) -> bool:
    succ = {n: {t for t, _ in ts if t != END} for n, ts in wf.successors().items()}
    return any(_find_cycle(s, succ) for s in wf.start_nodes if s in wf.nodes)


__all__ = ["END", "Edge", "NodeUse", "Route", "Workflow", "has_cycle", "norm_case"]
