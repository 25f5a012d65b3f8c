"""Hypothesis search (Wang et al., 2024, "Hypothesis Search: Inductive Reasoning with Language Models").

From input/output examples the model proposes ``K`` natural-language hypotheses (one request of ``n=K``
samples), implements each as a Python function, and the function runs in the sandbox on every training example.
Failures (which example, expected against got, or the exception) go back to the model for a bounded number of
revisions.  The first program that passes every example answers: applied to the test input (ARC) or given itself
(SyGuS), with the hypothesis, the program and each example it was checked on.  When none passes, the search
abstains, naming its best candidate and how many examples that one passed: it never guesses.

Checking goes through a :class:`ProgramChecker` (default :func:`sandbox_checker`, the bubblewrap sandbox of
:mod:`thinkgraph.tools.sandbox`), so tests can use a fake.  Every sandbox run is a ``ToolCall`` trace event (tool
``sandbox``); every hypothesis and program a ``SearchNode`` (hypothesis → program → revisions; score = the share
of examples passed, verdict ``passed``/``failed``/``timeout``/…).  Budgets (model calls, tokens, seconds) end the
search with ``stop_reason="budget_exhausted"``.

:func:`direct_answer` is the no-search baseline: the model writes the output grid, or the program, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from thinkgraph.agents.hypothesis_prompts import (
    Failure,
    direct_grid_messages,
    extract_code,
    failure_feedback,
    hypothesis_messages,
    parse_grid_reply,
    program_messages,
    revision_messages,
    syntax_problem,
)
from thinkgraph.agents.hypothesis_records import (
    Candidate,
    CheckedExample,
    HypothesisEvidence,
    HypothesisStop,
    ProgramAnswer,
)
from thinkgraph.agents.hypothesis_tasks import InductionTask, literal, same_value
from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.messages import ChatMessage, ToolCall
from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import budget_detail
from thinkgraph.search.base import Meter, SearchBudget, metered_chat
from thinkgraph.search.tree import Emitter, SearchTree, TreeNode

# ----------------------------------------------------------------------------- checking programs


@dataclass(frozen=True)
class CallResult:
    """One call of the program: its return value (JSON-decoded) or the exception it raised."""

    ok: bool
    value: Any = None
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ProgramRun:
    """One sandboxed run of a program over many inputs: the run's status (``ok``, ``timeout``, ``memory``,
    ``error``, ``killed``), a result per input, why the code did not load (``SyntaxError: …``; "" when it
    did) and the tail of stderr."""

    status: str
    outcomes: tuple[CallResult, ...]
    detail: str = ""
    seconds: float = 0.0
    load_error: str = ""


class ProgramChecker(Protocol):
    """Runs ``function`` of ``code`` on each argument list (synchronously; the search calls it in a thread)."""

    def __call__(self, code: str, function: str, inputs: Sequence[Sequence[Any]]) -> ProgramRun: ...


def sandbox_checker(
    timeout_s: float = 10.0, call_timeout_s: float = 2.0, memory_mb: int = 512, *, allow_unsandboxed: bool = False
) -> ProgramChecker:
    """A checker that runs programs with :func:`thinkgraph.tools.sandbox.call_function`: one sandbox start per
    program with every input in it, ``call_timeout_s`` per call within ``timeout_s`` for the run.  Without
    bubblewrap it refuses (:class:`~thinkgraph.tools.sandbox.SandboxUnavailable`) unless ``allow_unsandboxed``."""

    def check(code: str, function: str, inputs: Sequence[Sequence[Any]]) -> ProgramRun:
        from thinkgraph.tools.sandbox import SandboxLimits, call_function, default_runner

        limits = SandboxLimits(timeout_s=timeout_s, call_timeout_s=call_timeout_s, memory_mb=memory_mb)
        run = call_function(
            code, function, inputs, limits=limits, runner=default_runner(allow_unsandboxed=allow_unsandboxed)
        )
        outcomes = tuple(CallResult(o.ok, o.value, o.error, o.seconds) for o in run.outcomes)
        res = run.result
        return ProgramRun(
            status=str(res.status),
            outcomes=outcomes,
            detail=(res.stderr[-600:] or res.detail),
            seconds=res.seconds,
            load_error=run.load_error if not run.loaded else "",
        )

    return check


@dataclass(frozen=True)
class Check:
    """How a program did: each example checked, the failures (as feedback), its outputs on the test inputs."""

    checked: tuple[CheckedExample, ...]
    failures: tuple[Failure, ...]
    test_values: tuple[Any, ...]
    verdict: str
    run_problem: str

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checked if c.ok)


_RUN_PROBLEMS = {
    "timeout": "The run hit its time limit (an endless loop, or far too slow).",
    "memory": "The run used too much memory.",
    "killed": "The run was stopped (too many processes or too much output).",
}


def judge(task: InductionTask, run: ProgramRun) -> Check:
    """Compare a run's results with the examples (strictly, :func:`same_value`) and read its test outputs."""
    checked, failures = [], []
    missing = f"no result (the run ended: {run.status})"
    for i, ex in enumerate(task.examples):
        o = run.outcomes[i] if i < len(run.outcomes) else None
        ok = o is not None and o.ok and same_value(o.value, ex.output)
        error = missing if o is None else ("" if o.ok else o.error)
        got = o.value if o is not None and o.ok else None
        checked.append(CheckedExample(inputs=ex.args, expected=ex.output, got=got, error=error, ok=ok))
        if not ok:
            failures.append(Failure(i, got=got, error=error))
    tests: list[Any] = []
    for j, _args in enumerate(task.test_inputs):
        o = run.outcomes[len(task.examples) + j] if len(task.examples) + j < len(run.outcomes) else None
        value = task.to_grid(o.value) if o is not None and o.ok and task.kind == "arc" else None
        tests.append(value)
        if value is None:
            failures.append(Failure(j, got=o.value if o is not None else None, error=_error(o, missing), test=True))
    passed = sum(c.ok for c in checked)
    problem = _RUN_PROBLEMS.get(run.status, "")
    if run.load_error:  # nothing was called: the failures would only repeat "not run"
        problem, failures = f"The code failed to load: {run.load_error[-400:]}", []
    elif run.status == "error" and not run.outcomes:
        problem = f"The code failed before any call: {run.detail.strip()[-400:] or 'it exited with an error'}"
    if passed == len(task.examples):
        verdict = "passed" if all(t is not None for t in tests) else "test_failed"
    else:
        verdict = run.status if run.status != "ok" else "failed"
    return Check(tuple(checked), tuple(failures), tuple(tests), verdict, problem)


def _error(o: CallResult | None, missing: str) -> str:
    if o is None:
        return missing
    return "" if o.ok else o.error


# ----------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class HypothesisConfig:
    """``hypotheses``: K, drawn in one request (0: programs written from the examples alone, an ablation);
    ``revisions``: feedback rounds per hypothesis; ``max_tokens``: per program; ``hypothesis_tokens``: per
    hypothesis; ``temperature``: for the hypotheses; first programs are written at ``code_temperature``,
    revisions at ``revision_temperature`` (a small model at temperature 0 tends to repeat its program verbatim,
    feedback or not)."""

    hypotheses: int = 3
    revisions: int = 2
    temperature: float = 0.7
    code_temperature: float = 0.0
    revision_temperature: float = 0.7
    max_tokens: int = 300
    hypothesis_tokens: int = 120
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.hypotheses < 0 or self.revisions < 0:
            raise ValueError("hypotheses and revisions must be >= 0")
        if self.hypotheses > 1 and self.temperature <= 0:
            raise ValueError(f"{self.hypotheses} hypotheses need temperature > 0 (greedy gives one hypothesis)")


def _clean_hypothesis(text: str) -> str:
    text = text.strip().removeprefix("Rule:").removeprefix("rule:").strip()
    return " ".join(text.split())[:600]


class _Search:
    def __init__(
        self,
        model: ChatModel,
        task: InductionTask,
        config: HypothesisConfig,
        checker: ProgramChecker,
        tracer: Emitter | None,
    ) -> None:
        self.model, self.task, self.config, self.checker, self.tracer = model, task, config, checker, tracer
        self.tree: SearchTree[Any, Any] = SearchTree("hypothesis_search", tracer)
        self.root = self.tree.add(None, None, None, f"{task.id}: {len(task.examples)} examples")
        self.candidates: list[Candidate] = []
        self.found: tuple[Candidate, Check] | None = None
        self.hypotheses = 0
        self.sandbox_runs = 0
        self.sandbox_seconds = 0.0
        self.checks: dict[str, Check] = {}  # by the program's text (whitespace folded): a repeat is not rerun

    async def propose(self) -> list[str]:
        c = self.config
        request = ChatRequest(
            messages=tuple(hypothesis_messages(self.task)),
            n=c.hypotheses,
            temperature=c.temperature if c.hypotheses > 1 else 0.0,
            max_tokens=c.hypothesis_tokens,
            seed=c.seed,
        )
        texts = [_clean_hypothesis(t) for t in (await metered_chat(self.model, request)).texts]
        unique = list(dict.fromkeys(t for t in texts if t))
        self.hypotheses = len(unique)
        return unique or [""]  # no usable hypothesis: write programs from the examples alone

    async def write(self, messages: Sequence[ChatMessage], rnd: int) -> str:
        c = self.config
        temperature = c.code_temperature if rnd == 0 else c.revision_temperature
        seed = None if c.seed is None else c.seed + rnd  # each round its own sample
        request = ChatRequest(messages=tuple(messages), temperature=temperature, max_tokens=c.max_tokens, seed=seed)
        return (await metered_chat(self.model, request)).texts[0]

    async def run_program(self, code: str, node: TreeNode[Any, Any]) -> Check:
        inputs = self.task.call_inputs()
        start = time.perf_counter()
        run = await asyncio.to_thread(self.checker, code, self.task.function, inputs)
        seconds = time.perf_counter() - start
        self.sandbox_runs += 1
        self.sandbox_seconds += seconds
        check = judge(self.task, run)
        if self.tracer is not None:
            outcomes = [
                {"ok": o.ok, **({"value": literal(o.value, 200)} if o.ok else {"error": o.error[:200]})}
                for o in run.outcomes
            ]
            self.tracer.emit(
                ToolCall(
                    tool="sandbox",
                    input={
                        "search": self.tree.search_id,
                        "node_id": str(node.id),
                        "function": self.task.function,
                        "calls": len(inputs),
                        "code": code,
                    },
                    output={
                        "status": run.status,
                        "passed": check.passed,
                        "total": len(self.task.examples),
                        "verdict": check.verdict,
                        "outcomes": outcomes,
                    },
                    seconds=seconds,
                    error=check.run_problem or ("" if run.status == "ok" else run.status),
                )
            )
        return check

    async def attempt(
        self, hypothesis: str, messages: Sequence[ChatMessage], parent: TreeNode[Any, Any], rnd: int
    ) -> tuple[TreeNode[Any, Any], Candidate, Check | None, str]:
        """One program: write it, check it; returns its node, the candidate, the check (None when there was
        nothing to run) and the feedback for a revision."""
        reply = await self.write(messages, rnd)
        extraction = extract_code(reply, self.task.function)
        code = extraction.code or ""
        node = self.tree.add(parent, rnd, None, code or reply[:400])
        total = len(self.task.examples)
        check: Check | None = None
        if extraction.code is None:
            verdict, passed, feedback = "no_code", 0, extraction.problem
        elif problem := syntax_problem(code):
            verdict, passed = "syntax_error", 0
            feedback = f"{problem}\nReply with the whole corrected function in one ```python block."
        else:
            key = " ".join(code.split())
            repeated = key in self.checks
            check = self.checks[key] if repeated else await self.run_program(code, node)
            self.checks[key] = check
            verdict, passed = ("repeated" if repeated else check.verdict), check.passed
            limit = 2 if self.task.kind == "arc" else 3  # ARC rows are long: two failures say enough
            feedback = failure_feedback(self.task, passed, check.failures, check.run_problem, limit)
        node.score = passed / total if total else 0.0
        node.visits, node.value_sum, node.verdict = 1, node.score, verdict
        self.tree.updated(node)
        cand = Candidate(
            hypothesis=hypothesis,
            program=code,
            round=rnd,
            passed=passed,
            total=total,
            verdict=verdict,
            node_id=str(node.id),
        )
        self.candidates.append(cand)
        return node, cand, check, feedback

    async def pursue(self, hypothesis: str) -> bool:
        """Implement one hypothesis, revising on feedback (a program written again verbatim is not rerun, and the
        next round starts from the program prompt alone); True when a program passed."""
        parent = self.root
        if hypothesis:
            parent = self.tree.add(self.root, hypothesis, hypothesis, hypothesis)
        hyp_node = parent
        base = program_messages(self.task, hypothesis)
        messages: list[ChatMessage] = list(base)
        best = 0.0
        try:
            for rnd in range(self.config.revisions + 1):
                node, cand, check, feedback = await self.attempt(hypothesis, messages, parent, rnd)
                best = max(best, node.score or 0.0)
                if check is not None and check.verdict == "passed":
                    self.found = (cand, check)
                    return True
                # a model that rewrote an earlier program verbatim is stuck on it: start afresh, unprompted by it
                fresh = cand.verdict == "repeated"
                messages = list(base) if fresh else revision_messages(base, cand.program, feedback)
                parent = node
            return False
        finally:
            self.root.visits = len(self.candidates)
            if hyp_node is not self.root:
                hyp_node.score, hyp_node.visits, hyp_node.value_sum = best, 1, best
                hyp_node.verdict = "passed" if self.found is not None else "failed"
                self.tree.updated(hyp_node)

    def best(self) -> Candidate | None:
        if not self.candidates:
            return None
        return max(self.candidates, key=lambda c: (c.passed, c.verdict == "test_failed", -self.candidates.index(c)))

    def answer(self, meter: Meter, stop: HypothesisStop, detail: str) -> ProgramAnswer:
        task = self.task
        total = len(task.examples)
        common: dict[str, Any] = {
            "method": "hypothesis_search",
            "examples_total": total,
            "examples_shown": task.shown,
            "hypotheses": self.hypotheses,
            "programs": len(self.candidates),
            "sandbox_runs": self.sandbox_runs,
            "sandbox_seconds": round(self.sandbox_seconds, 3),
            "search_id": self.tree.search_id,
            "stop_reason": stop,
            "stop_detail": detail,
            "calls": meter.calls,
            "tokens": meter.tokens,
        }
        self.root.verdict = "passed" if self.found else "abstained"
        self.tree.updated(self.root)
        if self.found is not None:
            cand, check = self.found
            value: list[list[int]] | str = check.test_values[0] if task.kind == "arc" else cand.program
            shown = f" ({task.shown} shown)" if task.shown < total else ""
            ev = HypothesisEvidence(
                **common,
                hypothesis=cand.hypothesis,
                program=cand.program,
                checked=check.checked,
                best=cand,
                reason=f"the program passed all {total} examples{shown} in the sandbox (round {cand.round})",
            )
            return ProgramAnswer(
                question_id=task.id,
                answer_type=task.answer_type,
                value=value,
                status="verified",
                hypothesis=cand.hypothesis,
                program=cand.program,
                evidence=ev,
            )
        best = self.best()
        why = f"best candidate passed {best.passed}/{total} ({best.verdict})" if best is not None else "no program"
        ev = HypothesisEvidence(**common, best=best, reason=f"no program passed all {total} examples; {why}")
        return ProgramAnswer(
            question_id=task.id, answer_type=task.answer_type, value=None, status="abstained", evidence=ev
        )


async def hypothesis_search(
    model: ChatModel,
    task: InductionTask,
    config: HypothesisConfig | None = None,
    *,
    checker: ProgramChecker | None = None,
    budget: SearchBudget | None = None,
    tracer: Emitter | None = None,
) -> ProgramAnswer:
    """Search for a program that passes every example of ``task`` (see the module docstring)."""
    config = config or HypothesisConfig()
    search = _Search(model, task, config, checker or sandbox_checker(), tracer)
    meter = Meter(budget)
    stop: HypothesisStop = "done"
    detail = ""
    with meter.active():
        try:
            hypotheses = await search.propose() if config.hypotheses else [""]
            for h in hypotheses:
                if await search.pursue(h):
                    stop = "found"
                    break
        except BudgetExceeded as exc:
            stop, detail = "budget_exhausted", budget_detail(exc)
    return search.answer(meter, stop, detail)


async def direct_answer(
    model: ChatModel, task: InductionTask, *, max_tokens: int = 300, temperature: float = 0.0, seed: int | None = 0
) -> ProgramAnswer:
    """The no-search baseline: one call writes the test output (ARC) or the program (SyGuS); nothing is checked,
    so an answer is ``unverified`` (abstained when the reply holds no grid or no code)."""
    messages = direct_grid_messages(task) if task.kind == "arc" else program_messages(task)
    request = ChatRequest(messages=tuple(messages), temperature=temperature, max_tokens=max_tokens, seed=seed)
    response = await model.chat(request)
    reply = response.texts[0]
    usage = response.usage.prompt_tokens + response.usage.completion_tokens
    common: dict[str, Any] = {
        "method": "direct",
        "examples_total": len(task.examples),
        "examples_shown": task.shown,
        "calls": 1,
        "tokens": usage,
    }
    value: list[list[int]] | str | None
    if task.kind == "arc":
        value = parse_grid_reply(reply, task.one_row)
        program, reason = "", "no grid in the reply" if value is None else "written directly, not checked"
    else:
        extraction = extract_code(reply, task.function)
        value = program = extraction.code or ""
        reason = "no code in the reply" if not program else "written once, not checked"
        value = value or None
    return ProgramAnswer(
        question_id=task.id,
        answer_type=task.answer_type,
        value=value,
        status="unverified" if value is not None else "abstained",
        program=program,
        evidence=HypothesisEvidence(**common, program=program, reason=reason),
    )


__all__ = [
    "CallResult",
    "Check",
    "HypothesisConfig",
    "ProgramChecker",
    "ProgramRun",
    "direct_answer",
    "hypothesis_search",
    "judge",
    "sandbox_checker",
]
