"""Speculative thinking: a small model writes the reasoning, a larger one takes over at reflection points.

After Yang et al., 2025, "Speculative Thinking: Enhancing Small-Model Reasoning with Large Model Guidance at
Inference Time".  The small model writes in short chunks (``chunk_tokens``).  Each chunk is searched for a
*trigger* — a paragraph break, ``Wait``, ``But`` (configurable), a word only as a whole word (``But``, not
``Butter``; ``wait,``, not ``await,``); with ``paragraph_cues`` a paragraph break counts only when the next
paragraph opens with one of them (``wait``, ``alternatively``…), as Yang et al. gate it.  At the first trigger
the chunk is cut right after it (the cue is kept, what the small model wrote past it is dropped) and the large
model continues the *same* text up to its next paragraph break or ``takeover_tokens``; then the small model
resumes.  When the small model ends its turn without an answer, the large model gets one turn to finish.

Why chunks and not stop sequences: a stop sequence is cut from the reply *before* it, and the reply does not say
which one fired; continuing a text cut there also breaks tokenization (llama.cpp's Qwen writes ``:\\n\\n`` as
one token: a text cut to ``steps:`` is not continued with a paragraph break).  Cutting after the trigger keeps
the text natural for the next writer; the price is the dropped rest of a chunk (``discarded`` characters).

It stops when the text states its final answer (``Answer: X``, the line complete: ``answered``), when
``max_tokens`` tokens are written (``max_tokens``), when a budget runs out (``budget_exhausted``), or when both
models ended their turns without one (``ended``).

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

#: Where the large model takes over: a paragraph break and the reflection cues of Yang et al. (2025).
DEFAULT_TRIGGERS: tuple[str, ...] = ("\n\n", "Wait", "wait,", "But", " but ")
#: Words that open a reflective paragraph (for ``paragraph_cues``).
REFLECTION_CUES: tuple[str, ...] = ("wait", "but", "hmm", "alternatively", "however", "let me check", "double-check")
END = "end"  # the trigger of a takeover after the small model ended its turn
PARAGRAPH = "\n\n"
_LOOKBACK = 48  # characters of the text before a chunk searched with it (a trigger may span the boundary)

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
    chunk_tokens: int = 24
    takeover_tokens: int = 64
    max_tokens: int = 768
    max_takeovers: int | None = None
    temperature: float = 0.0
    seed: int | None = None
    continuation: Continuation = "prefill"
    budget: SearchBudget = field(default_factory=SearchBudget)

    def __post_init__(self) -> None:
        if not self.triggers or any(not t for t in self.triggers):
            raise ValueError("triggers must be non-empty strings, such as '\\n\\n' or 'Wait'")
        for name in ("chunk_tokens", "takeover_tokens", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"SpeculativeConfig.{name} must be >= 1")


@dataclass(frozen=True)
class Segment:
    """A stretch of the reasoning one model wrote: its text, the completion tokens it cost (dropped text
    included), the trigger a takeover started at (``"end"``: the small model had ended its turn), and how many
    tokens had been written before it."""

    writer: Writer
    text: str
    tokens: int
    trigger: str = ""
    after_tokens: int = 0


@dataclass(frozen=True)
class SpeculativeLedger:
    """Who wrote how much: completion tokens per model (as their replies report them), segments, takeovers per
    trigger, the characters of small-model text dropped past a trigger, and the calls and prompt + completion
    tokens of the whole run."""

    small_model: str
    large_model: str
    small_tokens: int
    large_tokens: int
    small_segments: int
    takeovers: int
    by_trigger: dict[str, int]
    discarded: int
    calls: int
    tokens: int

    def summary(self) -> str:
        at = ", ".join(f"{show(t)} x{n}" for t, n in self.by_trigger.items())
        return (
            f"small {self.small_model} wrote {self.small_tokens} tokens in {self.small_segments} segments "
            f"({self.discarded} characters dropped past triggers); large {self.large_model} wrote "
            f"{self.large_tokens} tokens in {self.takeovers} takeovers" + (f" (at {at})" if at else "")
        )


@dataclass(frozen=True)
class SpeculativeResult:
    text: str
    segments: tuple[Segment, ...]
    ledger: SpeculativeLedger
    stop_reason: SpeculativeStop
    stop_detail: str = ""
    seconds: float = 0.0

    @property
    def answered(self) -> bool:
        return self.stop_reason == "answered"


def show(trigger: str) -> str:
    """A trigger as notes show it: ``'\\n\\n'``, ``'Wait'``."""
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


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _cue_end(after: str, cues: Sequence[str]) -> int | None:
    """Where the cue that opens ``after`` (past leading spaces) ends, or None."""
    lead = len(after) - len(after.lstrip())
    opening = after[lead:].lower()
    for cue in sorted(cues, key=len, reverse=True):
        if re.match(re.escape(cue.lower()) + r"(?!\w)", opening):
            return lead + len(cue)
    return None


def _cut_after(s: str, i: int, trig: str, cues: Sequence[str]) -> int | None:
    """Where the text kept for the large model ends when ``trig`` occurs at ``s[i:]``; None: not a reflection
    point (a word inside a longer word; a paragraph break without a cue after it, when ``cues`` gate those)."""
    j = i + len(trig)
    if _word(trig[0]) and i > 0 and _word(s[i - 1]):
        return None  # 'a' + 'wait,' in 'await,'
    if _word(trig[-1]) and j < len(s) and _word(s[j]):
        return None  # 'But' in 'Butter'
    if not trig.strip():
        if not cues:
            return j
        end = _cue_end(s[j:], cues)
        return None if end is None else j + end
    return len(s[:j].rstrip(" "))  # ' but ' keeps ' but'


def find_trigger(text: str, chunk: str, triggers: Sequence[str], cues: Sequence[str] = ()) -> tuple[str, int] | None:
    """The first reflection point that ``chunk`` (written after ``text``) reaches: the trigger and how many
    characters of ``chunk`` to keep (through the trigger, or through the cue after a paragraph break when
    ``cues`` gate those).  A word trigger counts only as a whole word; one at the very end of the chunk counts
    (the next chunk cannot be seen yet)."""
    start = max(0, len(text) - _LOOKBACK)
    s = text[start:] + chunk
    base = len(text) - start  # where the chunk begins in s
    best: tuple[int, int, str, int] | None = None  # position, -length, trigger, cut of the earliest match
    for trig in triggers:
        i = s.find(trig)
        while i >= 0:
            cut = _cut_after(s, i, trig, cues)
            if cut is not None and cut > base and (best is None or (i, -len(trig)) < best[:2]):
                best = (i, -len(trig), trig, cut)
            i = s.find(trig, i + 1)
    return None if best is None else (best[2], best[3] - base)


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
        self.discarded = 0

    @property
    def written(self) -> int:
        return self.spent["small"] + self.spent["large"]

    async def call(self, writer: Writer, max_tokens: int, stop: Sequence[str] = ()) -> tuple[str, str]:
        """``writer``'s continuation of the text: (its new text, the finish reason)."""
        model = self.small if writer == "small" else self.large
        request = ChatRequest(
            messages=continue_messages(self.base, self.text, self.cfg.continuation),
            temperature=self.cfg.temperature,
            max_tokens=max(1, min(max_tokens, self.cfg.max_tokens - self.written)),
            stop=tuple(stop),
            seed=self.cfg.seed,
        )
        response: ChatResponse = await metered_chat(model, request)
        self.spent[writer] += response.usage.completion_tokens
        choice = response.choices[0]
        return strip_echo(choice.text, self.text), choice.finish_reason

    def add(self, writer: Writer, text: str, start: int, trigger: str = "") -> None:
        """Append ``text``, written since the ledger stood at ``start`` tokens (a small model's chunks merge)."""
        last = self.segments[-1] if self.segments else None
        if writer == "small" and not text and self.written == start:
            return  # nothing written, nothing spent
        if writer == "small" and last is not None and last.writer == "small":
            self.segments[-1] = Segment(
                "small", last.text + text, last.tokens + self.written - start, "", last.after_tokens
            )
        else:
            self.segments.append(Segment(writer, text, self.written - start, trigger, start))
        self.text += text

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
        small_segments=sum(s.writer == "small" for s in run.segments),
        takeovers=run.takeovers(),
        by_trigger=by_trigger,
        discarded=run.discarded,
        calls=meter.calls,
        tokens=meter.tokens,
    )
    return SpeculativeResult(run.text, tuple(run.segments), ledger, stop, detail, meter.seconds)


async def _loop(run: _Run, note: Callable[[str], None] | None) -> SpeculativeStop:
    cfg = run.cfg
    while run.written < cfg.max_tokens:
        start = run.written
        chunk, finish = await run.call("small", cfg.chunk_tokens)
        may_take_over = cfg.max_takeovers is None or run.takeovers() < cfg.max_takeovers
        found = find_trigger(run.text, chunk, cfg.triggers, cfg.paragraph_cues) if may_take_over else None
        kept = chunk if found is None else chunk[: found[1]]
        if has_final_answer(run.text + kept, complete=found is not None or finish != "length"):
            run.add("small", kept, start)
            return "answered"
        if found is not None:
            trigger = found[0]
            run.discarded += len(chunk) - len(kept)
        elif finish == "length" and chunk:
            run.add("small", chunk, start)
            continue
        else:  # the small model ended its turn (or wrote nothing) without an answer
            last = run.segments[-1] if run.segments else None
            if not may_take_over or (last is not None and last.trigger == END and not chunk.strip()):
                run.add("small", chunk, start)
                return "ended"  # (the large model's turn to finish did not finish it either)
            trigger = END
        run.add("small", kept, start)
        if run.written >= cfg.max_tokens:
            break
        before = run.written
        added, finish = await run.call("large", cfg.takeover_tokens, (PARAGRAPH,))
        if finish != "length" and added.strip() and not has_final_answer(run.text + added):
            added += PARAGRAPH  # it wrote to a paragraph break (or ended its turn): the small model starts the next
        run.add("large", added, before, trigger)
        if note is not None:
            where = f"at {show(trigger)} after {before} tokens"
            note(f"large model {run.large.name} took over {where}, wrote {run.written - before} tokens")
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
    "continue_messages",
    "find_trigger",
    "has_final_answer",
    "speculative_reason",
    "strip_echo",
]
