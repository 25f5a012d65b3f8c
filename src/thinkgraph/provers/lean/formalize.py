"""Natural-language math to a Lean statement (autoformalization, Wu et al., 2022): the model writes a
``theorem``, Lean checks that it elaborates (``:= by sorry`` must end as ``sorry``, not ``error``), and on
failure the model is shown Lean's message and tries again.  A statement that elaborates is not yet a faithful
one: it goes to a person (``lean.review``) before any proving.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.messages import ChatMessage
from thinkgraph.provers.lean.backend import LeanBackend
from thinkgraph.provers.lean.prove import split_theorem
from thinkgraph.provers.lean.source import Declaration

FORMALIZE_SYSTEM = (
    "You translate math problems into Lean 4 theorem statements for core Lean 4 (Nat, Int, List; there is no "
    "Mathlib, so no ℝ, Finset or Nat.Prime). Write `Nat` and `Int`, not ℕ and ℤ. Reply with one ```lean block "
    "holding exactly one theorem whose proof is `by sorry`."
)

_FENCE = re.compile(r"```(?:lean4?)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_HEAD = re.compile(r"\btheorem\s+\S+")


def extract_statement(reply: str) -> str | None:
    """``theorem NAME binders : type`` from a reply (everything before its ``:=``)."""
    blocks = _FENCE.findall(reply)
    code = blocks[-1] if blocks else reply
    m = _HEAD.search(code)
    if not m:
        return None
    rest = code[m.start() :]
    at = rest.find(":=")
    statement = (rest[:at] if at >= 0 else rest).strip()
    return statement.replace("ℕ", "Nat").replace("ℤ", "Int") or None


@dataclass(frozen=True)
class FormalizeResult:
    statement: str | None
    elaborates: bool
    tries: int
    error: str = ""


async def formalize(
    model: ChatModel,
    text: str,
    backend: LeanBackend,
    *,
    attempts: int = 3,
    max_tokens: int = 256,
    temperature: float = 0.0,
    timeout_s: float | None = None,
) -> FormalizeResult:
    """A statement for ``text`` that Lean elaborates, within ``attempts`` tries (Lean's error fed back)."""
    messages = [
        ChatMessage(role="system", content=FORMALIZE_SYSTEM),
        ChatMessage(role="user", content=f"Problem:\n{text.strip()}\n\nWrite the Lean 4 theorem statement."),
    ]
    statement: str | None = None
    error = ""
    for tries in range(1, attempts + 1):
        reply = (
            await model.chat(ChatRequest(messages=tuple(messages), max_tokens=max_tokens, temperature=temperature))
        ).texts[0]
        statement = extract_statement(reply)
        if statement is None:
            error = "no `theorem NAME ... : ...` found in the reply"
        else:
            try:
                name, body = split_theorem(statement)
            except ValueError as exc:
                error = str(exc)
            else:
                batch = await asyncio.to_thread(backend.check, [Declaration(name, body, "by sorry")], timeout_s)
                result = batch.results[0]
                if result.status == "sorry":
                    return FormalizeResult(statement, True, tries)
                error = result.message or result.status
        messages += [
            ChatMessage(role="assistant", content=reply),
            ChatMessage(role="user", content=f"Lean rejected it: {error[:600]}\nFix the statement; same format."),
        ]
    return FormalizeResult(statement, False, attempts, error)


__all__ = ["FORMALIZE_SYSTEM", "FormalizeResult", "extract_statement", "formalize"]
