"""Deductive verification of chain-of-thought in the Natural Program format ("Deductive Verification of
Chain-of-Thought Reasoning", Ling et al., NeurIPS 2023).

The model writes its reasoning as a Natural Program: the premises are numbered ``#1 .. #n``, each step continues
the numbering and names the premises and earlier steps it uses (``#5. (by #1, #4) Max is a dumpus.``), and the last
line names the answer (``Answer: False``).  Each step is then checked by its own model call that sees **only** the
step and what it cites, never the whole problem, with several votes per step; a step that cites nothing, or a
number that is not a premise or an earlier step, fails without a call.  The answer line is checked the same way
(the claim "the statement is true / false" against the steps it cites, by default the last one).

A chain is accepted only when every step passes (majority or unanimity of its votes, the paper's
"unanimity-plurality" rule across and within steps).  These are model checks, not a certificate: an accepted answer
has status ``voted`` and its evidence lists every step's votes; otherwise the node abstains and names the failing
step, its text, the facts it cites and the votes.  ``Uncertain`` is never accepted: a deduction shows what follows,
not that something does not.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from thinkgraph.agents.natural_program import (
    NP_SYSTEM,
    ChainParseError,
    NaturalProgram,
    NPStep,
    format_natural_program,
    natural_program_samples,
    parse_natural_program,
    render_np_prompt,
)
from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.logic.records import Answer, Evidence, Label, Problem
from thinkgraph.messages import ChatMessage, Record, ToolCall

Rule = Literal["majority", "unanimous"]
ANSWER_STEP = 0  # StepVerdict.number of the answer line's check

CHECK_SYSTEM = (
    "You check one step of a deduction. You see some facts and a statement said to follow from them. The words may "
    "be invented (like 'wumpus'): take the facts as true and use no outside knowledge. Decide whether the statement "
    "follows from these facts alone; check the subject, the property and every 'not'. Explain in one or two short "
    "sentences, then end with one line 'Verdict: yes' or 'Verdict: no'."
)


class StepVerdict(Record):
    """One step's check: ``number`` (0 for the answer line), its text and citations, the cited facts as shown to
    the checker, the votes, whether it passed, and ``structural`` — why it failed without a call, if it did."""

    number: int
    text: str
    cites: tuple[int, ...] = ()
    cited: tuple[str, ...] = ()
    yes: int = 0
    no: int = 0
    unclear: int = 0
    passed: bool
    structural: str = ""
    replies: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "answer" if self.number == ANSWER_STEP else f"step #{self.number}"

    def describe(self) -> str:
        verdict = "passed" if self.passed else "failed"
        if self.structural:
            return f"{self.name} {verdict} without a check: {self.structural}"
        votes = self.yes + self.no + self.unclear
        extra = f", {self.no} no" + (f", {self.unclear} unclear" if self.unclear else "")
        return f"{self.name} {verdict} {self.yes}/{votes}" + ("" if self.passed else extra)

    def detail(self) -> str:
        """The failing-step report: number, text, the facts it cites and the votes."""
        cited = "; ".join(self.cited) if self.cited else "nothing"
        return f"{self.describe()}: {self.text!r} citing {cited}"


class ChainVerdict(Record):
    """A chain's verdict: every step's, the answer it names, whether all passed; ``error`` when the reply was no
    Natural Program at all (nothing was checked)."""

    steps: tuple[StepVerdict, ...] = ()
    answer: Label | None = None
    passed: bool = False
    error: str = ""
    calls: int = 0

    @property
    def failing(self) -> StepVerdict | None:
        return next((s for s in self.steps if not s.passed), None)

    def describe(self) -> str:
        if self.error:
            return f"not a Natural Program ({self.error})"
        if self.passed:
            return f"verified, answer {self.answer}: " + ", ".join(s.describe() for s in self.steps)
        failing = self.failing
        return f"rejected at {failing.detail()}" if failing is not None else "rejected"


# ----------------------------------------------------------------------------- verification

_VERDICT = re.compile(r"verdict\s*[:\-]?\s*\**\s*(yes|no)\b", re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_OPENING = re.compile(r"^\W*(yes|no)\b(?!\s*(?:or|/)\s)", re.IGNORECASE)


def parse_vote(text: str) -> bool | None:
    """A checker's vote: the last ``Verdict: yes/no``; failing that, a reply that opens with yes / no, or a last
    line naming only one of them; else ``None`` (unclear)."""
    found = _VERDICT.findall(text)
    if found:
        return found[-1].lower() == "yes"
    opening = _OPENING.match(text)
    if opening is not None:
        return opening.group(1).lower() == "yes"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    words = {w.lower() for w in _YES_NO.findall(lines[-1])} if lines else set()
    return (words == {"yes"}) if len(words) == 1 else None


def render_check_prompt(facts: Sequence[str], statement: str) -> list[ChatMessage]:
    """The prompt of one step's check: only the cited facts and the step's statement."""
    listed = "\n".join(facts)
    user = f"Facts:\n{listed}\n\nStatement: {statement}\n\nDoes the statement follow from these facts alone?"
    return [ChatMessage(role="system", content=CHECK_SYSTEM), ChatMessage(role="user", content=user)]


def _claim(conclusion: str, answer: Label) -> str:
    return f'The statement "{conclusion}" is {answer.lower()}.'


def _structural(number: int, cites: Sequence[int], known: dict[int, str]) -> str:
    if not cites:
        return "it cites no premise or earlier step"
    bad = [k for k in cites if k not in known]
    if bad:
        return f"it cites {', '.join(f'#{k}' for k in bad)}, which is no premise or earlier step"
    return ""


async def check_step(
    model: ChatModel,
    number: int,
    text: str,
    cites: Sequence[int],
    known: dict[int, str],
    *,
    votes: int = 3,
    rule: Rule = "majority",
    temperature: float = 0.7,
    max_tokens: int = 128,
    seed: int | None = 0,
    tracer: Any = None,
) -> StepVerdict:
    """One step checked against what it cites (``known``: number → statement of every premise and earlier step):
    a structural failure without a call, else ``votes`` samples of one request, passed by ``rule``."""
    cited = tuple(f"#{k}. {known[k]}" for k in cites if k in known)
    problem = _structural(number, cites, known)
    start = time.perf_counter()
    if problem:
        verdict = StepVerdict(
            number=number, text=text, cites=tuple(cites), cited=cited, passed=False, structural=problem
        )
    else:
        request = ChatRequest(
            messages=tuple(render_check_prompt(cited, text)),
            n=votes,
            temperature=temperature if votes > 1 else 0.0,
            max_tokens=max_tokens,
            seed=seed,
        )
        replies = (await model.chat(request)).texts
        cast = [parse_vote(r) for r in replies]
        yes, no = cast.count(True), cast.count(False)
        passed = yes == votes if rule == "unanimous" else yes * 2 > votes
        verdict = StepVerdict(
            number=number,
            text=text,
            cites=tuple(cites),
            cited=cited,
            yes=yes,
            no=no,
            unclear=len(cast) - yes - no,
            passed=passed,
            replies=tuple(replies),
        )
    if tracer is not None:
        tracer.emit(
            ToolCall(
                tool="deductive.check_step",
                input={"step": verdict.name, "text": text, "cites": list(cites), "cited": list(cited)},
                output={
                    "passed": verdict.passed,
                    "yes": verdict.yes,
                    "no": verdict.no,
                    "unclear": verdict.unclear,
                    "summary": verdict.describe(),
                },
                seconds=time.perf_counter() - start,
                error=verdict.structural,
            )
        )
    return verdict


async def verify_chain(
    model: ChatModel,
    premises: Sequence[str],
    steps: Sequence[NPStep],
    votes: int = 3,
    *,
    conclusion: str | None = None,
    answer: Label | None = None,
    answer_cites: Sequence[int] = (),
    rule: Rule = "majority",
    temperature: float = 0.7,
    max_tokens: int = 128,
    seed: int | None = 0,
    tracer: Any = None,
) -> ChainVerdict:
    """Check every step (concurrently) against only what it cites; with ``conclusion`` and ``answer`` also the
    answer line (the claim "the statement is <answer>" against ``answer_cites``, by default the last step).
    The chain passes when every check passes; ``Uncertain`` fails the answer check without a call."""
    known = {i + 1: p for i, p in enumerate(premises)}
    for s in steps:
        known.setdefault(s.number, s.text)
    kw: dict[str, Any] = {
        "votes": votes,
        "rule": rule,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        "tracer": tracer,
    }
    # a step sees only statements numbered before it: a later step's number fails structurally
    jobs = [check_step(model, s.number, s.text, s.cites, _before(known, s.number), **kw) for s in steps]
    if conclusion is not None and answer is not None:
        jobs.append(_check_answer(model, known, steps, conclusion, answer, answer_cites, kw))
    verdicts = tuple(await asyncio.gather(*jobs))
    return ChainVerdict(
        steps=verdicts,
        answer=answer,
        passed=bool(verdicts) and all(v.passed for v in verdicts),
        calls=sum(1 for v in verdicts if not v.structural),
    )


def _before(known: dict[int, str], number: int) -> dict[int, str]:
    return {k: v for k, v in known.items() if k < number}


async def _check_answer(
    model: ChatModel,
    known: dict[int, str],
    steps: Sequence[NPStep],
    conclusion: str,
    answer: Label,
    answer_cites: Sequence[int],
    kw: dict[str, Any],
) -> StepVerdict:
    claim = _claim(conclusion, answer)
    cites = tuple(answer_cites) or ((steps[-1].number,) if steps else ())
    if answer == "Uncertain":
        return StepVerdict(
            number=ANSWER_STEP,
            text=claim,
            cites=cites,
            passed=False,
            structural="a deduction shows what follows, not that a statement is undetermined",
        )
    return await check_step(model, ANSWER_STEP, claim, cites, known, **kw)


async def verify_reply(model: ChatModel, problem: Problem, text: str, votes: int = 3, **kw: Any) -> ChainVerdict:
    """Parse one reply and verify it (a reply that is no Natural Program gives a verdict with ``error``)."""
    try:
        program = parse_natural_program(text, problem.premises)
    except ChainParseError as err:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return ChainVerdict(error=f"{err}; reply begins {first[:100]!r}")
    return await verify_chain(
        model,
        problem.premises,
        program.steps,
        votes,
        conclusion=problem.conclusion,
        answer=program.answer,
        answer_cites=program.answer_cites,
        **kw,
    )


# ----------------------------------------------------------------------------- chains → answer

Select = Literal["first", "vote"]
METHOD = "deductive verification (Natural Program, Ling et al., 2023; model checks, no certificate)"


async def verify_chains(
    model: ChatModel, problem: Problem, texts: Sequence[str], *, select: Select = "first", **kw: Any
) -> list[ChainVerdict]:
    """Verify the replies in order; with ``select="first"`` stop after the first that passes (the rest are not
    checked, so they get no verdict)."""
    out: list[ChainVerdict] = []
    for text in texts:
        verdict = await verify_reply(model, problem, text, **kw)
        out.append(verdict)
        if verdict.passed and select == "first":
            break
    return out


def _chain_lines(verdicts: Sequence[ChainVerdict]) -> str:
    return "; ".join(f"chain {i + 1} {v.describe()}" for i, v in enumerate(verdicts))


def deductive_answer(
    problem: Problem, texts: Sequence[str], verdicts: Sequence[ChainVerdict], select: Select = "first"
) -> tuple[Answer, int | None]:
    """The answer the verified chains support, and the index of the chain it comes from.

    ``first``: the first verified chain's answer; ``vote``: the answer most verified chains name (a tie between
    verified chains that disagree abstains).  No verified chain: abstain, naming every chain's failing step."""
    verified = [(i, v) for i, v in enumerate(verdicts) if v.passed and v.answer is not None]
    counts: Counter[Label] = Counter(v.answer for _, v in verified if v.answer is not None)
    common = counts.most_common()
    tie = len(common) > 1 and common[0][1] == common[1][1]
    if not verified or (select == "vote" and tie):
        why = "verified chains disagree" if verified else "no chain passed every check"
        return (
            Answer(
                problem_id=problem.id,
                value=None,
                status="abstained",
                evidence=Evidence(
                    votes={str(k): n for k, n in counts.items()},
                    samples=len(texts),
                    failed_samples=len(texts) - len(verified),
                    reason=f"{METHOD}: {why}; {_chain_lines(verdicts)}",
                    rationales=tuple(texts),
                ),
            ),
            None,
        )
    if select == "first":
        index, chosen = verified[0]
    else:
        index, chosen = next((i, v) for i, v in verified if v.answer == common[0][0])
    label = chosen.answer
    assert label is not None
    return (
        Answer(
            problem_id=problem.id,
            value=label,
            status="voted",
            evidence=Evidence(
                votes={str(k): n for k, n in counts.items()},
                samples=len(texts),
                failed_samples=len(texts) - len(verified),
                agreement=counts[label] / len(verified),
                reason=f"{METHOD}: answer from chain {index + 1}; {_chain_lines(verdicts)}",
                rationales=(texts[index], *(t for i, t in enumerate(texts) if i != index)),
            ),
        ),
        index,
    )


__all__ = [
    "ANSWER_STEP",
    "CHECK_SYSTEM",
    "METHOD",
    "NP_SYSTEM",
    "ChainParseError",
    "ChainVerdict",
    "NPStep",
    "NaturalProgram",
    "Rule",
    "Select",
    "StepVerdict",
    "check_step",
    "deductive_answer",
    "format_natural_program",
    "natural_program_samples",
    "parse_natural_program",
    "parse_vote",
    "render_check_prompt",
    "render_np_prompt",
    "verify_chain",
    "verify_chains",
    "verify_reply",
]
