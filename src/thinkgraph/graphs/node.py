"""Nodes: typed units of work, registered under dotted names.

A node is an async function (or a small class with an async ``__call__``) whose signature says what it
reads and writes::

    from thinkgraph.graphs import NodeContext, node

    class ShoutParams(BaseModel):
        times: int = 1

    @node("demo.shout", params=ShoutParams, needs=("model",))
    async def shout(ctx: NodeContext, problem: Problem, params: ShoutParams) -> Rationales:
        reply = await ctx.model.chat(ChatRequest.of([("user", problem.conclusion)]))
        return Rationales(texts=tuple(t.upper() * params.times for t in reply.texts))

* every parameter annotated with a :class:`~thinkgraph.messages.Message` type is a **read** (``X | None``
  is an optional read; ``list[X]`` reads every ``X`` written so far, e.g. by parallel branches);
* the return annotation is what it **writes** (one type, ``A | B`` for either, ``tuple[A, B]`` for both,
  ``None`` for nothing);
* ``params`` (a pydantic model) validates and documents its settings; ``ctx`` gives the run context:
  the model and provers it ``needs``, the tracer, budgets, and :meth:`NodeContext.interrupt`.

Node types come only from this registry: the built-in nodes, nodes registered in Python with
:func:`node`, and third-party packages through the ``thinkgraph.nodes`` entry-point group (each entry
point names a module that registers its nodes when imported).  A YAML file can never name an import path.
"""

from __future__ import annotations

import asyncio
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from thinkgraph.messages import Message

Need = Literal["model", "prover"]
_NEEDS = ("model", "prover")


class NodeDefinitionError(TypeError):
    """A node was declared wrongly (a developer error); the message says how to fix it."""


class NoParams(BaseModel):
    """Parameters of a node that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Read:
    """One input of a node: a message type, optional or not, one message or all of them."""

    name: str
    type: type[Message]
    optional: bool = False
    many: bool = False

    @property
    def kind(self) -> str:
        return self.type.kind_name()


@dataclass(frozen=True)
class NodeSpec:
    """A registered node type."""

    name: str
    fn: Callable[..., Any]
    reads: tuple[Read, ...]
    writes: tuple[type[Message], ...]
    params: type[BaseModel]
    needs: tuple[str, ...] = ()
    description: str = ""
    writes_all: bool = False  # tuple[A, B]: writes every listed type (else one of them)
    is_class: bool = False
    interrupts: bool = False  # may pause for a person (needs a checkpointer to resume)
    source: str = "thinkgraph"

    @property
    def write_kinds(self) -> tuple[str, ...]:
        return tuple(t.kind_name() for t in self.writes)

    @property
    def read_kinds(self) -> tuple[str, ...]:
        return tuple(r.kind for r in self.reads)

    def instantiate(self, params: BaseModel) -> Callable[..., Awaitable[Any]]:
        """The callable one compiled workflow uses (a class node is constructed once with its params)."""
        if self.is_class:
            obj = self.fn(params)
            return _as_async(obj.__call__)
        return _as_async(self.fn)

    def describe(self) -> dict[str, Any]:
        props = self.params.model_json_schema().get("properties", {})
        params = {}
        for pname, f in self.params.model_fields.items():
            ann = f.annotation
            params[pname] = {
                "type": _type_name(ann),
                "default": None if f.is_required() else _jsonable(f.get_default(call_default_factory=True)),
                "required": f.is_required(),
                "description": f.description or props.get(pname, {}).get("description", ""),
            }
        return {
            "name": self.name,
            "description": self.description,
            "reads": [{"name": r.name, "kind": r.kind, "optional": r.optional, "many": r.many} for r in self.reads],
            "writes": list(self.write_kinds),
            "writes_all": self.writes_all,
            "params": params,
            "needs": list(self.needs),
            "interrupts": self.interrupts,
            "source": self.source,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _type_name(ann: Any) -> str:
    if ann is None:
        return "None"
    if isinstance(ann, type) and get_origin(ann) is None:
        return ann.__name__
    return str(ann).replace("typing.", "")


def _as_async(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if inspect.iscoroutinefunction(fn):
        return fn

    async def run_in_thread(*args: Any, **kw: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kw)

    return run_in_thread


_REGISTRY: dict[str, NodeSpec] = {}
_loaded_builtins = False
_loaded_entry_points = False

F = TypeVar("F", bound=Callable[..., Any])


def _message_type(ann: Any) -> type[Message] | None:
    return ann if isinstance(ann, type) and issubclass(ann, Message) else None


def _is_union(ann: Any) -> bool:
    return get_origin(ann) in (Union, types.UnionType)


def _read_of(name: str, ann: Any, default: Any) -> Read:
    optional = default is not inspect.Parameter.empty
    if _is_union(ann):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) != len(get_args(ann)):
            optional = True
        if len(args) == 1:
            ann = args[0]
    many = False
    if get_origin(ann) in (list, Sequence, tuple) and get_args(ann):
        many, ann = True, get_args(ann)[0]
    t = _message_type(ann)
    if t is None:
        raise NodeDefinitionError(
            f"parameter {name!r} is annotated {ann!r}: a node's inputs must be Message types "
            "(X, X | None or list[X]); name the run context `ctx` and the settings `params`"
        )
    return Read(name=name, type=t, optional=optional, many=many)


def _writes_of(ann: Any) -> tuple[tuple[type[Message], ...], bool]:
    if ann is None or ann is type(None) or ann is inspect.Signature.empty:
        return (), False
    if _is_union(ann):
        out = []
        for a in get_args(ann):
            if a is type(None):
                continue
            t = _message_type(a)
            if t is None:
                raise NodeDefinitionError(f"return type {ann!r}: every member must be a Message type")
            out.append(t)
        return tuple(out), False
    if get_origin(ann) is tuple:
        out = []
        for a in get_args(ann):
            t = _message_type(a)
            if t is None:
                raise NodeDefinitionError(f"return type {ann!r}: every member must be a Message type")
            out.append(t)
        return tuple(out), True
    t = _message_type(ann)
    if t is None:
        raise NodeDefinitionError(f"return type {ann!r} is not a Message type (or a union / tuple of them)")
    return (t,), False


def _inspect(
    fn: Callable[..., Any], owner: type | None
) -> tuple[tuple[Read, ...], tuple[type[Message], ...], bool, Any]:
    target = fn
    try:
        hints = typing.get_type_hints(target, include_extras=False)
    except Exception as exc:
        raise NodeDefinitionError(f"cannot resolve the annotations of {fn!r}: {exc}") from exc
    sig = inspect.signature(target)
    reads: list[Read] = []
    params_ann: Any = None
    for pname, p in sig.parameters.items():
        if pname == "self" and owner is not None:
            continue
        if pname == "ctx":
            continue
        if pname == "params":
            params_ann = hints.get("params")
            continue
        if pname not in hints:
            raise NodeDefinitionError(f"parameter {pname!r} of {fn.__qualname__} needs a Message type annotation")
        reads.append(_read_of(pname, hints[pname], p.default))
    writes, writes_all = _writes_of(hints.get("return", inspect.Signature.empty))
    return tuple(reads), writes, writes_all, params_ann


def node(
    name: str,
    *,
    params: type[BaseModel] | None = None,
    needs: Sequence[str] = (),
    reads: Sequence[type[Message]] | None = None,
    writes: Sequence[type[Message]] | None = None,
    description: str | None = None,
    interrupts: bool = False,
    replace: bool = False,
) -> Callable[[F], F]:
    """Register an async function or a class as the node type ``name`` (a dotted name like ``my.node``).

    ``reads``/``writes`` override what the annotations say; ``needs`` lists what it takes from the run
    context (``"model"``, ``"prover"``).  Registering a taken name raises unless ``replace=True``.
    """
    if not isinstance(name, str) or not _valid_name(name):
        raise NodeDefinitionError(
            f"node name {name!r} must be dotted lower-case words like 'linc.translate' or 'my_pkg.step'"
        )
    for need in needs:
        if need not in _NEEDS:
            raise NodeDefinitionError(f"node {name}: unknown need {need!r}; choose from {', '.join(_NEEDS)}")

    def register(obj: F) -> F:
        is_class = inspect.isclass(obj)
        target = obj.__call__ if is_class else obj  # type: ignore[operator]
        if is_class and not inspect.iscoroutinefunction(target):
            raise NodeDefinitionError(f"node class {obj.__qualname__} needs an `async def __call__(self, ctx, ...)`")
        r, w, w_all, params_ann = _inspect(target, obj if is_class else None)  # type: ignore[arg-type]
        if reads is not None:
            r = tuple(Read(name=t.kind_name(), type=t) for t in reads)
        if writes is not None:
            w = tuple(writes)
        if is_class and params_ann is None:
            try:
                params_ann = typing.get_type_hints(obj.__init__).get("params")  # type: ignore[misc]
            except Exception:
                params_ann = None
        p = params or params_ann or getattr(obj, "Params", None) or NoParams
        if not (isinstance(p, type) and issubclass(p, BaseModel)):
            raise NodeDefinitionError(f"node {name}: params must be a pydantic model class, not {p!r}")
        if name in _REGISTRY and not replace:
            old = _REGISTRY[name]
            if getattr(old.fn, "__qualname__", None) != getattr(obj, "__qualname__", None) or getattr(
                old.fn, "__module__", None
            ) != getattr(obj, "__module__", None):
                raise NodeDefinitionError(
                    f"node type {name!r} is already registered (by {old.source}); pick another name"
                )
        doc = description if description is not None else (inspect.getdoc(obj) or "").split("\n\n")[0]
        _REGISTRY[name] = NodeSpec(
            name=name,
            fn=obj,
            reads=r,
            writes=w,
            params=p,
            needs=tuple(needs),
            description=doc.replace("\n", " "),
            writes_all=w_all,
            is_class=is_class,
            interrupts=interrupts,
            source=getattr(obj, "__module__", "?"),
        )
        return obj

    return register


def _valid_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", name))


def _load_builtins() -> None:
    global _loaded_builtins
    if not _loaded_builtins:
        _loaded_builtins = True
        import thinkgraph.nodes  # noqa: F401  (registers the built-in nodes)


def _load_entry_points() -> list[str]:
    """Import every module of the ``thinkgraph.nodes`` entry-point group; returns load errors."""
    global _loaded_entry_points
    errors: list[str] = []
    if _loaded_entry_points:
        return errors
    _loaded_entry_points = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="thinkgraph.nodes"):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not break every workflow
            errors.append(f"entry point {ep.name} ({ep.value}): {type(exc).__name__}: {exc}")
    _entry_point_errors.extend(errors)
    return errors


_entry_point_errors: list[str] = []


def registry() -> dict[str, NodeSpec]:
    """Every registered node type (built-ins, Python registrations and entry points)."""
    _load_builtins()
    _load_entry_points()
    return dict(_REGISTRY)


def get_node(name: str) -> NodeSpec | None:
    _load_builtins()
    _load_entry_points()  # always (once): a plugin may replace a built-in
    return _REGISTRY.get(name)


def plugin_errors() -> list[str]:
    """Entry points of the ``thinkgraph.nodes`` group that failed to load (shown by ``thinkgraph nodes``
    and with unknown node types)."""
    _load_entry_points()
    return list(_entry_point_errors)


def unregister(name: str) -> None:
    """Remove a node type (for tests and notebooks)."""
    _REGISTRY.pop(name, None)


@dataclass
class NodeContext:
    """What a node sees of its run: its name and settings, its model, provers, the tracer and ledger."""

    node: str
    run: Any  # thinkgraph.runtime.RunContext
    spec: NodeSpec
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> Any:
        """This node's model (its own when the workflow names one, else the run's), with retries,
        accounting and tracing."""
        m = self.run.model_for(self.node)
        if m is None:
            from thinkgraph.graphs.errors import RunSetupError

            raise RunSetupError(f"node {self.node} ({self.spec.name}) needs a model: pass model=... or --model SPEC")
        return m

    def prover(self, role: str = "main") -> Any:
        """The prover object the run supplies for ``role`` (``"main"`` or ``"second"``), if any."""
        return self.run.provers.get(role)

    @property
    def tracer(self) -> Any:
        return self.run.tracer

    @property
    def ledger(self) -> Any:
        return self.run.ledger

    @property
    def run_id(self) -> str:
        return str(self.run.run_id)

    def note(self, text: str) -> None:
        from thinkgraph.messages import Note

        self.run.tracer.emit(Note(node=self.node, text=text))

    def interrupt(self, payload: dict[str, Any]) -> Any:
        """Pause the run for a person and return their reply when it is resumed
        (``thinkgraph run --thread ID --resume '{...}'``).  The node is re-run from its start on resume,
        so call models before the interrupt only if the call is cheap to repeat — better in another node."""
        from langgraph.errors import GraphInterrupt
        from langgraph.types import interrupt

        from thinkgraph.messages import Interrupted

        try:
            return interrupt(payload)
        except GraphInterrupt:
            self.run.tracer.emit(Interrupted(node=self.node, payload=payload))
            raise


__all__ = [
    "NoParams",
    "NodeContext",
    "NodeDefinitionError",
    "NodeSpec",
    "Read",
    "get_node",
    "node",
    "plugin_errors",
    "registry",
    "unregister",
]
