"""Errors of the workflow layer: located problems in a workflow, and run set-up failures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkflowIssue:
    """One problem in a workflow: where (node, field path, file position), what, and the fix."""

    message: str
    path: str = ""  # field path, e.g. "nodes.translate.with.samples"
    node: str = ""
    fix: str = ""
    file: str = ""
    line: int = 0  # 1-based; 0 when unknown
    col: int = 0

    def located(self, file: str, line: int, col: int) -> WorkflowIssue:
        return WorkflowIssue(self.message, self.path, self.node, self.fix, file, line, col)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}:{self.col}: " if self.line else f"{self.file}: "
        path = f"{self.path}: " if self.path else (f"node {self.node}: " if self.node else "")
        fix = f" — {self.fix}" if self.fix else ""
        return f"{where}{path}{self.message}{fix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "node": self.node,
            "message": self.message,
            "fix": self.fix,
        }


class WorkflowError(ValueError):
    """A workflow is invalid.  ``issues`` holds every problem found, each located and with its fix."""

    def __init__(self, issues: list[WorkflowIssue], name: str = "") -> None:
        self.issues = list(issues)
        self.name = name
        head = f"workflow {name!r}" if name else "workflow"
        body = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"{head} has {len(self.issues)} problem(s):\n{body}")


class RunSetupError(RuntimeError):
    """A run could not start (no model for a node that needs one, a model that cannot load, a bad input)."""


class RunUsageError(RunSetupError, ValueError):
    """A run was asked for something it cannot do (a bad input, a thread of another workflow or input,
    nothing to resume): the caller's mistake, reported before anything runs (CLI exit code 2)."""


class NodeRunError(RuntimeError):
    """A node could not finish for a reason of the workflow or of the node's own code (an input no path
    wrote, a route value with no case, an exception in the node).  Ends the run ``failed``, keeping the
    messages finished nodes wrote."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"node {node}: {message}")
        self.node = node


class StepLimitReached(RuntimeError):
    """A run hit its workflow's ``max_steps`` (a loop went round too often)."""

    def __init__(self, limit: int, node: str) -> None:
        super().__init__(f"step limit {limit} reached before node {node!r} could run")
        self.limit = limit
        self.node = node


__all__ = ["NodeRunError", "RunSetupError", "RunUsageError", "StepLimitReached", "WorkflowError", "WorkflowIssue"]
