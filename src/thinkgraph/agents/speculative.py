"""Speculative thinking: a small model writes the reasoning, a larger one takes over at reflection points.

After Yang et al., 2025, "Speculative Thinking: Enhancing Small-Model Reasoning with Large Model Guidance at
Inference Time".  The small model writes until it pauses at a *trigger* — a paragraph break, ``Wait``, ``But``
(stop sequences, configurable) — or until its segment's token cap.  At a trigger the small model *peeks* a few
tokens past the pause (a stop sequence is cut from the reply, so the peek is how the trigger that fired is
known) and the peek decides:

* it opens with a trigger as a whole word (``But`` — not ``Butter``; a paragraph break, optionally only when
  the next paragraph opens with one of ``paragraph_cues`` such as ``wait`` or ``alternatively``): a
  **reflection point**.  The trigger is kept, the rest of the peek dropped, and the large model continues the
  *same* text up to its next paragraph break or ``takeover_tokens``; then the small model resumes;
* anything else (a trigger inside a word, or a sampled peek that went elsewhere): it is the small model's own
  text, kept, and the small model goes on;
* nothing (the small model ended its turn without an answer): the large model gets one turn to finish.

The peek reproduces what the small model would have written at temperature 0; with sampling it is a fresh
draw.  It stops when the text states its final answer (``Answer: X``, the line complete), when ``max_tokens``
tokens are written (``max_tokens``), when a budget runs out (``budget_exhausted``), or when both models have
ended their turns without an answer (``ended``).

Continuing a partial text: ``continuation="prefill"`` (default) sends the text so far as a last, partial
assistant turn, which llama.cpp (the local backend) and vLLM-style servers continue; llama.cpp repeats the
prefill at the start of its reply, and the repeat is cut off here.  Backends that answer a new turn instead
(api.openai.com) need ``continuation="prompt"``: the text goes into the user turn with an instruction to
continue it.  The ledger counts each model's tokens from the usage its replies report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from thinkgraph.llm.base import ChatModel, ChatRequest, ChatResponse
from thinkgraph.messages import ChatMessage
from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search.base import Meter, SearchBudget, metered_chat

Writer = Literal["small", "large"]
SpeculativeStop = Literal["answered", "max_tokens", "budget_exhausted", "ended"]
Continuation = Literal["prefill", "prompt"]

#: Where the small model pauses: a paragraph break and the reflection cues of Yang et al. (2025).
DEFAULT_TRIGGERS: tuple[str, ...] = ("\n\n", "Wait", "wait,", "But", " but ")
#: Words that open a reflective paragraph (for ``paragraph_cues``).
REFLECTION_CUES: tuple[str, ...] = ("wait", "but", "hmm", "alternatively", "however", "let me check", "double-check")
END = "end"  # the trigger name of a takeover after the small model ended its turn
PARAGRAPH = "\n\n"

CONTINUE_PROMPT = (
    "\n\nHere is the reasoning so far. Continue it exactly from where it stops; write only the continuation, "
    "without repeating it:\n\n"
)

# the final answer, opening a line or a sentence: "Answer: 72", "**Final answer:** True", "So, the answer is: (B)";
# not "let's find the answer: first"
_FINAL = re.compile(
    r"(?:^|(?<=[.!?,;:)]))[ \t*#>_-]*(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*\**\s*[:\-]\s*\**\s*[^\s*]",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class SpeculativeConfig:
    """Settings of :func:`speculative_reason` (see the module docstring)."""

    triggers: tuple[str, ...] = DEFAULT_TRIGGERS
    paragraph_cues: tuple[str, ...] = ()  # empty: every paragraph break is a reflection point
    segment_tokens: int = 96
    takeover_tokens: int = 64
    peek_tokens: int = 4
    max_tokens: int = 768
    max_takeovers: int | None = None
    temperature: float = 0.0
    seed: int | None = None
    continuation: Continuation = "prefill"
    budget: SearchBudget = field(default_factory=SearchBudget)

    def __post_init__(self) -> None:
        if not self.triggers or any(not t for t in self.triggers):
            raise ValueError("triggers must be non-empty strings (stop sequences such as '\\n\\n' or 'Wait')")
        for name in ("segment_tokens", "takeover_tokens", "peek_tokens", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"SpeculativeConfig.{name} must be >= 1")


@dataclass(frozen=True)
class Segment:
    """A piece of the reasoning: who wrote it, its text, the completion tokens it cost (peeks included), the
    trigger a takeover started at (``"end"``: the small model had ended its turn) and the tokens before it."""

    writer: Writer
    text: str
    tokens: int
    trigger: str = ""
    after_tokens: int = 0


@dataclass(frozen=True)
class SpeculativeLedger:
    """Who wrote how much: completion tokens per model (``small_tokens`` includes ``peek_tokens``), segments,
    takeovers per trigger, and the calls and prompt + completion tokens of the whole run."""

    small_model: str
    large_model: str
    small_tokens: int
    large_tokens: int
    peek_tokens: int
    small_segments: int
    takeovers: int
    by_trigger: dict[str, int]
    calls: int
    tokens: int

    def summary(self) -> str:
        at = ", ".join(f"{show(t)} x{n}" for t, n in self.by_trigger.items())
        return (
            f"small {self.small_model} wrote {self.small_tokens} tokens in {self.small_segments} segments "
            f"({self.peek_tokens} of them peeks); large {self.large_model} wrote {self.large_tokens} tokens in "
            f"{self.takeovers} takeovers" + (f" (at {at})" if at else "")
        )


@dataclass(frozen=True)
class SpeculativeResult:
    text: str
    segments: tuple[Segment, ...]
    ledger: SpeculativeLedger
    answered: bool
    stop_reason: SpeculativeStop
    stop_detail: str = ""
    seconds: float = 0.0


def show(trigger: str) -> str:
    """A trigger as a note shows it: ``'\\n\\n'``, ``'Wait'``."""
    return repr(trigger)


def has_final_answer(text: str, complete: bool = True) -> bool:
    """Whether ``text`` states its final answer (``Answer: X``).  With ``complete=False`` (the reply was cut by
    its token cap) the answer line must be followed by a line break, so that ``Answer: 7`` cut from ``72`` is
    not taken."""
    found = list(_FINAL.finditer(text))
    if not found:
        return False
    return complete or "\n" in text[found[-1].end() :]


def strip_echo(reply: str, text: str) -> str:
    """The continuation in ``reply``: llama.cpp repeats a prefilled assistant text before what it adds."""
    return reply[len(text) :] if text and reply.startswith(text) else reply


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def classify_peek(before: str, peek: str, triggers: Sequence[str], cues: Sequence[str] = ()) -> str | None:
    """The trigger ``peek`` (what follows ``before``) opens with, as a whole word, or None.  A whitespace
    trigger (a paragraph break) counts only if the next words open with one of ``cues`` when there are any."""
    for trig in sorted(triggers, key=len, reverse=True):
        if not peek.startswith(trig):
            continue
        rest = peek[len(trig) :]
        if _word_char(trig[0]) and before[-1:] and _word_char(before[-1]):
            continue  # 'a' + 'wait,' in 'await,'
        if _word_char(trig[-1]) and rest[:1] and _word_char(rest[0]):
            continue  # 'But' in 'Butter'
        if not trig.strip() and cues:
            opening = rest.lstrip().lower()
            if not any(re.match(re.escape(c.lower()) + r"(?!\w)", opening) for c in cues):
                continue
        return trig
    return None


def continue_messages(base: Sequence[ChatMessage], text: str, how: Continuation) -> tuple[ChatMessage, ...]:
    """The prompt that makes a model continue ``text``: a partial assistant turn, or the text in the user turn."""
    if not text:
        return tuple(base)
    if how == "prefill":
        return (*base, ChatMessage(role="assistant", content=text))
    last = base[-1]
    return (*base[:-1], ChatMessage(role="user", content=last.content + CONTINUE_PROMPT + text))


class _Run:
    """One speculative run's state: the text, the segments and what each model has spent."""

    def __init__(self, small: ChatModel, large: ChatModel, base: Sequence[ChatMessage], cfg: SpeculativeConfig) -> None:
        self.small, self.large, self.base, self.cfg = small, large, base, cfg
        self.text = ""
        self.segments: list[Segment] = []
        self.spent: dict[Writer, int] = {"small": 0, "large": 0}
        self.peeks = 0

    @property
    def written(self) -> int:
        return self.spent["small"] + self.spent["large"]

    async def call(self, writer: Writer, max_tokens: int, stop: Sequence[str], prefix: str) -> tuple[str, str, int]:
        """``writer``'s continuation of ``prefix``: (its new text, the finish reason, its completion tokens)."""
        model = self.small if writer == "small" else self.large
        request = ChatRequest(
            messages=continue_messages(self.base, prefix, self.cfg.continuation),
            temperature=self.cfg.temperature,
            max_tokens=max(1, min(max_tokens, self.cfg.max_tokens - self.written)),
            stop=tuple(stop),
            seed=self.cfg.seed,
        )
        response: ChatResponse = await metered_chat(model, request)
        tokens = response.usage.completion_tokens
        self.spent[writer] += tokens
        choice = response.choices[0]
        return strip_echo(choice.text, prefix), choice.finish_reason, tokens

    def add(self, writer: Writer, text: str, start: int, trigger: str = "") -> None:
        """Append ``text``, written since the ledger stood at ``start`` tokens."""
        self.text += text
        self.segments.append(Segment(writer, text, self.written - start, trigger, start))

    def takeovers(self) -> int:
        return sum(s.writer == "large" for s in self.segments)


async def speculative_reason(
    small: ChatModel,
    large: ChatModel,
    messages: Sequence[ChatMessage],
    config: SpeculativeConfig | None = None,
    note: Callable[[str], None] | None = None,
) -> SpeculativeResult:
    """Reason with ``small``, handing the pen to ``large`` at reflection points (see the module docstring).

    ``messages`` is the prompt (system and user turns); ``note(text)`` is called once per takeover.  A budget
    that runs out — the config's or, inside a workflow, the run's — ends the run with ``budget_exhausted``;
    other model errors propagate."""
    cfg = config or SpeculativeConfig()
    run = _Run(small, large, messages, cfg)
    meter = Meter(cfg.budget)
    stop: SpeculativeStop = "max_tokens"
    detail = ""
    with meter.active():
        try:
            stop = await _loop(run, note)
        except BudgetExceeded as exc:
            stop, detail = "budget_exhausted", f"{exc.what} limit {exc.limit:g}"
    by_trigger: dict[str, int] = {}
    for s in run.segments:
        if s.writer == "large":
            by_trigger[s.trigger] = by_trigger.get(s.trigger, 0) + 1
    ledger = SpeculativeLedger(
        small_model=small.name,
        large_model=large.name,
        small_tokens=run.spent["small"],
        large_tokens=run.spent["large"],
        peek_tokens=run.peeks,
        small_segments=sum(s.writer == "small" for s in run.segments),
        takeovers=run.takeovers(),
        by_trigger=by_trigger,
        calls=meter.calls,
        tokens=meter.tokens,
    )
    return SpeculativeResult(
        text=run.text,
        segments=tuple(run.segments),
        ledger=ledger,
        answered=stop == "answered",
        stop_reason=stop,
        stop_detail=detail,
        seconds=meter.seconds,
    )


async def _loop(run: _Run, note: Callable[[str], None] | None) -> SpeculativeStop:
    cfg = run.cfg
    while run.written < cfg.max_tokens:
        start = run.written
        may_take_over = cfg.max_takeovers is None or run.takeovers() < cfg.max_takeovers
        text, finish, _ = await run.call("small", cfg.segment_tokens, cfg.triggers if may_take_over else (), run.text)
        if has_final_answer(run.text + text, complete=finish != "length"):
            run.add("small", text, start)
            return "answered"
        if finish == "length" or not may_take_over or run.written >= cfg.max_tokens:
            run.add("small", text, start)
            continue
        # the small model paused at a trigger, or ended its turn: a peek past the pause says which
        peek, peek_finish, peek_tokens = await run.call("small", cfg.peek_tokens, (), run.text + text)
        run.peeks += peek_tokens
        trigger = classify_peek(run.text + text, peek, cfg.triggers, cfg.paragraph_cues)
        if trigger is None and peek:  # not a reflection point: the peek is the small model's own text
            run.add("small", text + peek, start)
            if has_final_answer(run.text, complete=peek_finish != "length"):
                return "answered"
            continue
        if trigger is None:  # nothing past the pause: the small model ended its turn without an answer
            last = run.segments[-1] if run.segments else None
            if last is not None and last.writer == "large" and last.trigger == END and not text:
                run.add("small", text, start)
                return "ended"  # the large model's turn to finish did not finish it either
            trigger, kept = END, ""
        else:
            kept = trigger if not trigger.strip() else trigger.rstrip(" ")
        run.add("small", text + kept, start)
        if run.written >= cfg.max_tokens:
            break
        before = run.written
        added, finish, tokens = await run.call("large", cfg.takeover_tokens, (PARAGRAPH,), run.text)
        if finish != "length" and added.strip() and not has_final_answer(run.text + added):
            added += PARAGRAPH  # it wrote to a paragraph break (or ended its turn): the small model starts the next
        run.add("large", added, before, trigger)
        if note is not None:
            where = f"at {show(trigger)} after {before} tokens"
            note(f"large model {run.large.name} took over {where}, wrote {tokens} tokens")
        if has_final_answer(run.text, complete=finish != "length"):
            return "answered"
        if trigger == END and not added.strip():
            return "ended"
    return "max_tokens"


__all__ = [
    "DEFAULT_TRIGGERS",
    "REFLECTION_CUES",
    "Segment",
    "SpeculativeConfig",
    "SpeculativeLedger",
    "SpeculativeResult",
    "SpeculativeStop",
    "classify_peek",
    "continue_messages",
    "has_final_answer",
    "speculative_reason",
    "strip_echo",
]
