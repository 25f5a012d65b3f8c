"""The built-in workflows, and how a workflow is named: a registered name, a :class:`Workflow`, a
compiled workflow, or a YAML path.  Compiled workflows are cached, so repeated runs compile once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from thinkgraph.graphs.compiled import CompiledWorkflow
from thinkgraph.graphs.errors import WorkflowError, WorkflowIssue
from thinkgraph.graphs.workflow import Workflow


def linc_workflow(
    translate: dict[str, Any] | None = None, prove: dict[str, Any] | None = None, vote: dict[str, Any] | None = None
) -> Workflow:
    """translate → prove → vote (LINC with per-sentence consensus voting by default)."""
    return (
        Workflow("linc", input="problem", output="answer", description="LINC: translate to FOL, prove, vote")
        .add("translate", "linc.translate", translate or {})
        .add("prove", "linc.prove", prove or {})
        .add("vote", "linc.vote", vote or {})
        .edge("translate", "prove")
        .edge("prove", "vote")
    )


def cot_workflow(reason: dict[str, Any] | None = None) -> Workflow:
    """reason → vote (chain of thought; answers carry only the vote)."""
    return (
        Workflow("cot", input="problem", output="answer", description="chain of thought, voted")
        .add("reason", "cot.reason", reason or {})
        .add("vote", "cot.vote")
        .edge("reason", "vote")
    )


def auto_workflow() -> Workflow:
    """classify → LINC for deductive problems, chain of thought for everything else."""
    return (
        Workflow(
            "auto", input="problem", output="answer", description="route deductive problems to LINC, others to CoT"
        )
        .add("classify", "route.classify")
        .add("translate", "linc.translate")
        .add("prove", "linc.prove")
        .add("vote", "linc.vote")
        .add("reason", "cot.reason")
        .add("cot_vote", "cot.vote")
        .route("classify", on="category", cases={"deductive": "translate"}, default="reason")
        .edge("translate", "prove")
        .edge("prove", "vote")
        .edge("reason", "cot_vote")
    )


def ensemble_workflow() -> Workflow:
    """LINC and chain of thought in parallel from the start, joined by ``answers.combine``."""
    return (
        Workflow(
            "ensemble",
            input="problem",
            output="answer",
            start=["translate", "reason"],
            description="LINC and chain of thought in parallel; the strongest evidence decides",
        )
        .add("translate", "linc.translate")
        .add("prove", "linc.prove")
        .add("vote", "linc.vote")
        .add("reason", "cot.reason")
        .add("cot_vote", "cot.vote")
        .add("combine", "answers.combine")
        .edge("translate", "prove")
        .edge("prove", "vote")
        .edge("reason", "cot_vote")
        .join(["vote", "cot_vote"], "combine")
    )


BUILTIN: dict[str, Callable[[], Workflow]] = {
    "linc": linc_workflow,
    "cot": cot_workflow,
    "auto": auto_workflow,
    "ensemble": ensemble_workflow,
}

_CACHE: dict[str, CompiledWorkflow] = {}
_CACHE_MAX = 64


def _key(wf: Workflow) -> str:
    return json.dumps(wf.to_dict(), sort_keys=True, default=str)


def compile_cached(wf: Workflow) -> CompiledWorkflow:
    """Compile ``wf``, reusing an earlier compilation of an identical workflow."""
    key = _key(wf)
    hit = _CACHE.get(key)
    if hit is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        hit = _CACHE[key] = wf.compile()
    return hit


def get_workflow(spec: str | Workflow | CompiledWorkflow | Path) -> Workflow | CompiledWorkflow:
    """A workflow by name (``linc``, ``cot``, ``auto``), from a YAML file, or as given.  Raises
    :class:`WorkflowError` at once for an unknown name or an invalid file."""
    if isinstance(spec, Workflow | CompiledWorkflow):
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and (spec.endswith((".yaml", ".yml")) or "/" in spec)):
        from thinkgraph.graphs.yaml_loader import load_workflow

        return load_workflow(spec)
    if isinstance(spec, str) and spec in BUILTIN:
        return BUILTIN[spec]()
    names = ", ".join(sorted(BUILTIN))
    raise WorkflowError(
        [WorkflowIssue(f"unknown workflow {spec!r}", fix=f"use one of {names}, or a path to a YAML workflow")]
    )


def resolve(
    spec: str | Workflow | CompiledWorkflow | Path, overrides: dict[str, Any] | None = None
) -> CompiledWorkflow:
    """The compiled workflow for ``spec`` with ``NODE.PARAM`` overrides applied (cached)."""
    wf = get_workflow(spec)
    if isinstance(wf, CompiledWorkflow):
        if overrides:
            wf = wf.workflow.copy()
        else:
            return wf
    wf = wf.copy()
    if overrides:
        wf.set_params(overrides)
    return compile_cached(wf)


__all__ = [
    "BUILTIN",
    "auto_workflow",
    "compile_cached",
    "cot_workflow",
    "ensemble_workflow",
    "get_workflow",
    "linc_workflow",
    "resolve",
]
