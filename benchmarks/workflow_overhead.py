"""Overhead of thinkgraph's workflow layer over bare LangGraph, measured in one process.

Two nodes (``cot.reason`` → ``cot.vote``) with an instant scripted model: the compiled thinkgraph
workflow (typed messages validated on every read and write, trace events, the usage ledger, model
retries/accounting, budgets) against the same two node functions in a bare LangGraph ``StateGraph``
compiled once.  Runs alternate between the two so machine noise falls on both; medians are compared.
Also: a LINC run (translate → prove → vote, scripted translations, real Z3) against the same steps
in bare LangGraph.

    python benchmarks/workflow_overhead.py [--runs 1000]

Last line: JSON with ``overhead_ratio`` (two nodes; target ≤ 1.25), ``solve_overhead_ratio``
(``solve(problem, model, workflow="cot")``, the entry point existing callers use) and ``linc_overhead_ratio``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thinkgraph.agents.cot import cot_samples, cot_vote
from thinkgraph.agents.formalize import build_formalizations, translate_problem
from thinkgraph.agents.linc import prove_all
from thinkgraph.agents.translator import SentenceTranslator, TranslatorConfig
from thinkgraph.agents.voting import vote
from thinkgraph.graphs.library import cot_workflow, linc_workflow
from thinkgraph.messages import Problem
from thinkgraph.provers import Z3Prover
from thinkgraph.testing import ScriptedModel

PROBLEM = Problem(
    id="bench",
    premises=(
        "All squirrels are rodents.",
        "All rodents are mammals.",
        "Nutty is a squirrel.",
        "No mammal is a reptile.",
    ),
    conclusion="Nutty is a reptile.",
)
FORMULAS = {
    "All squirrels are rodents.": "∀x (Squirrel(x) → Rodent(x))",
    "All rodents are mammals.": "∀x (Rodent(x) → Mammal(x))",
    "Nutty is a squirrel.": "Squirrel(nutty)",
    "No mammal is a reptile.": "∀x (Mammal(x) → ¬Reptile(x))",
    "Nutty is a reptile.": "Reptile(nutty)",
}


def translations(request: Any, index: int) -> str:
    return FORMULAS[request.messages[-1].content.split("Sentence: ")[-1]]


class CotState(TypedDict, total=False):
    problem: Problem
    texts: list[str]
    answer: Any


def bare_cot(model: ScriptedModel) -> Any:
    from langgraph.graph import END, START, StateGraph

    async def reason(state: CotState) -> CotState:
        return {"texts": await cot_samples(model, state["problem"], 1, 0.7, 1024)}

    async def decide(state: CotState) -> CotState:
        return {"answer": cot_vote(state["problem"], state["texts"])}

    g: Any = StateGraph(CotState)
    g.add_node("reason", reason)
    g.add_node("vote", decide)
    g.add_edge(START, "reason")
    g.add_edge("reason", "vote")
    g.add_edge("vote", END)
    return g.compile()


class LincState(TypedDict, total=False):
    problem: Problem
    translations: Any
    outcomes: Any
    answer: Any


def bare_linc(model: ScriptedModel, prover: Z3Prover) -> Any:
    from langgraph.graph import END, START, StateGraph

    translator = SentenceTranslator(model, TranslatorConfig())

    async def translate(state: LincState) -> LincState:
        return {"translations": await translate_problem(state["problem"], translator)}

    async def prove(state: LincState) -> LincState:
        outcomes = build_formalizations(state["problem"], state["translations"], "sentence")
        return {"outcomes": await prove_all(outcomes, prover)}

    async def decide(state: LincState) -> LincState:
        return {"answer": await asyncio.to_thread(vote, state["problem"], state["outcomes"], 0.5, None, True)}

    g: Any = StateGraph(LincState)
    g.add_node("translate", translate)
    g.add_node("prove", prove)
    g.add_node("vote", decide)
    g.add_edge(START, "translate")
    g.add_edge("translate", "prove")
    g.add_edge("prove", "vote")
    g.add_edge("vote", END)
    return g.compile()


async def timed(fn: Any) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def compare(ours: Any, bare: Any, runs: int) -> tuple[float, float]:
    for _ in range(10):  # warm up both paths
        await ours()
        await bare()
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        a.append(await timed(ours))
        b.append(await timed(bare))
    return statistics.median(a), statistics.median(b)


async def main(runs: int) -> dict[str, Any]:
    model = ScriptedModel(lambda r, i: "The premises say so.\nAnswer: False")
    compiled = cot_workflow().compile()
    bare = bare_cot(model)

    async def ours() -> None:
        result = await compiled.run(PROBLEM, model=model)
        assert result.output is not None and result.output.value == "False"  # type: ignore[attr-defined]

    async def theirs() -> None:
        state = await bare.ainvoke({"problem": PROBLEM})
        assert state["answer"].value == "False"

    t_ours, t_bare = await compare(ours, theirs, runs)

    from thinkgraph.graphs.linc import solve

    async def via_solve() -> None:  # the entry point existing callers use (compiled once, then cached)
        answer = await solve(PROBLEM, model, workflow="cot")
        assert answer.value == "False"

    t_solve, t_bare2 = await compare(via_solve, theirs, runs)

    lmodel = ScriptedModel(translations)
    prover = Z3Prover(5.0)
    linc = linc_workflow().compile()
    lbare = bare_linc(lmodel, prover)

    async def linc_ours() -> None:
        result = await linc.run(PROBLEM, model=lmodel, prover=prover)
        assert result.output is not None and result.output.value == "False"  # type: ignore[attr-defined]

    async def linc_theirs() -> None:
        state = await lbare.ainvoke({"problem": PROBLEM})
        assert state["answer"].value == "False"

    l_ours, l_bare = await compare(linc_ours, linc_theirs, max(20, runs // 10))
    return {
        "runs": runs,
        "workflow_ms": round(t_ours * 1000, 3),
        "bare_langgraph_ms": round(t_bare * 1000, 3),
        "overhead_ratio": round(t_ours / t_bare, 3),
        "solve_ms": round(t_solve * 1000, 3),
        "solve_overhead_ratio": round(t_solve / t_bare2, 3),
        "linc_workflow_ms": round(l_ours * 1000, 3),
        "linc_bare_langgraph_ms": round(l_bare * 1000, 3),
        "linc_overhead_ratio": round(l_ours / l_bare, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    figures = asyncio.run(main(args.runs))
    print(f"two nodes: thinkgraph {figures['workflow_ms']} ms vs bare LangGraph {figures['bare_langgraph_ms']} ms")
    print(f"LINC: thinkgraph {figures['linc_workflow_ms']} ms vs bare LangGraph {figures['linc_bare_langgraph_ms']} ms")
    print(json.dumps(figures))
