"""The answer of hypothesis search (Wang et al., 2024) and of its no-search baseline, with the evidence behind it.

A :class:`ProgramAnswer` is ``verified`` when a program passed every example in the sandbox (the answer carries the
hypothesis, the program and each example it was checked on), ``unverified`` when the model wrote the answer once
without any check (the direct baseline), and ``abstained`` when nothing passed — then the evidence names the best
candidate and how many examples it passed, and no value is given.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from thinkgraph.messages import Message, Record

ProgramStatus = Literal["verified", "unverified", "abstained"]
#: why a search stopped: it found a program, tried everything (``done``), or ran out of budget
HypothesisStop = Literal["found", "done", "budget_exhausted"]


class CheckedExample(Record):
    """One example a program was run on: the arguments, what it had to return, what it returned (or raised)."""

    inputs: tuple[Any, ...]
    expected: Any
    got: Any = None
    error: str = ""
    ok: bool


class Candidate(Record):
    """A program tried: the hypothesis it implements, the code, its revision round and how it did."""

    hypothesis: str
    program: str
    round: int = 0  # 0: first implementation; k: k-th revision
    passed: int = 0
    total: int = 0
    verdict: str = (
        ""  # passed | failed | repeated | timeout | memory | error | killed | no_code | syntax_error | test_failed
    )
    node_id: str = ""


class HypothesisEvidence(Record):
    """What backs (or fails to back) a :class:`ProgramAnswer`.

    ``checked``: the answer's program on every example (all ``ok`` when verified); ``best``: the candidate that
    passed most examples (for an abstention); ``examples_shown``: how many examples the prompts showed (SyGuS
    problems may have more constraints than are shown: every one is still checked)."""

    method: str
    hypothesis: str = ""
    program: str = ""
    checked: tuple[CheckedExample, ...] = ()
    examples_total: int = 0
    examples_shown: int = 0
    best: Candidate | None = None
    hypotheses: int = 0
    programs: int = 0
    sandbox_runs: int = 0
    sandbox_seconds: float = 0.0
    search_id: str = ""
    stop_reason: HypothesisStop = "done"
    stop_detail: str = ""
    calls: int = 0
    tokens: int = 0
    reason: str = ""

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checked if c.ok)


class ProgramAnswer(Message):
    """An induced answer: a grid (ARC: the program's output on the test input) or a program (SyGuS)."""

    kind: Literal["program_answer"] = "program_answer"
    question_id: str = ""
    answer_type: Literal["grid", "program"] = "grid"
    value: list[list[int]] | str | None
    status: ProgramStatus
    hypothesis: str = ""
    program: str = ""
    evidence: HypothesisEvidence = Field(default_factory=lambda: HypothesisEvidence(method=""))

    def abstained(self) -> bool:
        return self.status == "abstained" or self.value is None

    def summary(self) -> str:
        ev = self.evidence
        if self.abstained():
            best = f"; best candidate passed {ev.best.passed}/{ev.best.total}" if ev.best is not None else ""
            return f"— [abstained, {ev.method}{best}]"
        shown = self.value if isinstance(self.value, str) else str(self.value)
        first = shown.strip().splitlines()[0] if shown.strip() else shown
        checked = f", passed {ev.passed}/{ev.examples_total} examples" if ev.checked else ""
        return f"{first[:120]} [{self.status}, {ev.method}{checked}]"

    def render(self) -> str:
        ev = self.evidence
        lines = [self.summary()]
        if self.hypothesis:
            lines.append(f"hypothesis: {self.hypothesis}")
        if self.program:
            lines.append("program:")
            lines.extend("  " + ln for ln in self.program.rstrip().splitlines())
        if isinstance(self.value, list):
            lines.append(f"answer: {self.value}")
        if ev.checked:
            lines.append(
                f"checked on {len(ev.checked)} examples ({ev.examples_shown} shown to the model): {ev.passed} passed"
            )
        if ev.best is not None and self.abstained():
            lines.append(f"best candidate ({ev.best.verdict}, {ev.best.passed}/{ev.best.total}):")
            lines.extend("  " + ln for ln in ev.best.program.rstrip().splitlines())
        if ev.reason:
            lines.append(f"reason: {ev.reason}")
        stop = ev.stop_reason + (f" ({ev.stop_detail})" if ev.stop_detail else "")
        lines.append(
            f"stopped: {stop}; {ev.hypotheses} hypotheses, {ev.programs} programs, {ev.sandbox_runs} sandbox runs, "
            f"{ev.calls} calls, {ev.tokens} tokens"
        )
        return "\n".join(lines)


__all__ = ["Candidate", "CheckedExample", "HypothesisEvidence", "HypothesisStop", "ProgramAnswer", "ProgramStatus"]
