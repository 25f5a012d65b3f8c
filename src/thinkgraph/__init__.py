"""thinkgraph: LLM reasoning agents whose answers come with evidence.

    from thinkgraph import Problem, load_model, solve_sync
    answer = solve_sync(Problem(premises=("All men are mortal.", "Socrates is a man."),
                                conclusion="Socrates is mortal."), load_model("local"))
    print(answer.render())

Importing the package is light: solvers, LangGraph and model backends load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thinkgraph.messages import Answer, Evidence, Formalization, Problem, Verdict

__version__ = "0.1.0"

if TYPE_CHECKING:
    from thinkgraph.agents.linc import LincConfig
    from thinkgraph.agents.translator import TranslatorConfig
    from thinkgraph.graphs.linc import solve, solve_sync
    from thinkgraph.llm import load_model
    from thinkgraph.runtime import RunContext

_LAZY = {
    "LincConfig": "thinkgraph.agents.linc",
    "TranslatorConfig": "thinkgraph.agents.translator",
    "solve": "thinkgraph.graphs.linc",
    "solve_sync": "thinkgraph.graphs.linc",
    "load_model": "thinkgraph.llm",
    "RunContext": "thinkgraph.runtime",
}

__all__ = [
    "Answer",
    "Evidence",
    "Formalization",
    "LincConfig",
    "Problem",
    "RunContext",
    "TranslatorConfig",
    "Verdict",
    "load_model",
    "solve",
    "solve_sync",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'thinkgraph' has no attribute {name!r}")
