"""The workflow SDK: register nodes, build workflows in Python or YAML, compile once, run many.

from thinkgraph.graphs import Workflow, node, load_workflow
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thinkgraph.graphs.errors import RunSetupError, StepLimitReached, WorkflowError, WorkflowIssue
from thinkgraph.graphs.node import NodeContext, NodeDefinitionError, NodeSpec, get_node, node, registry
from thinkgraph.graphs.workflow import END, Workflow

if TYPE_CHECKING:
    from thinkgraph.graphs.compiled import CompiledWorkflow, RunResult
    from thinkgraph.graphs.library import get_workflow, resolve
    from thinkgraph.graphs.yaml_loader import load_workflow, loads_workflow

_LAZY = {
    "CompiledWorkflow": "thinkgraph.graphs.compiled",
    "RunResult": "thinkgraph.graphs.compiled",
    "get_workflow": "thinkgraph.graphs.library",
    "resolve": "thinkgraph.graphs.library",
    "load_workflow": "thinkgraph.graphs.yaml_loader",
    "loads_workflow": "thinkgraph.graphs.yaml_loader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'thinkgraph.graphs' has no attribute {name!r}")


__all__ = [
    "END",
    "CompiledWorkflow",
    "NodeContext",
    "NodeDefinitionError",
    "NodeSpec",
    "RunResult",
    "RunSetupError",
    "StepLimitReached",
    "Workflow",
    "WorkflowError",
    "WorkflowIssue",
    "get_node",
    "get_workflow",
    "load_workflow",
    "loads_workflow",
    "node",
    "registry",
    "resolve",
]
