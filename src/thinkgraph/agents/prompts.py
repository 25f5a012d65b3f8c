"""Prompts for the NL→FOL translator, as data: rendered by pure functions, recorded on every trace step.

:func:`render_prompt` builds what the model sees for one sentence (fixed examples, the examples nearest
in shape, the sentence); :func:`render_repair` sends a rejected output back with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from thinkgraph.agents.examples import Example
from thinkgraph.messages import ChatMessage

SYSTEM_PROMPT = (
    "You translate one English sentence into first-order logic.\n"
    "Notation: ∀x (...) for all, ∃x (...) there exists, ¬ not, ∧ and, ∨ or, ⊕ either-or (exclusive), "
    "→ implies, ↔ if and only if.\n"
    "Predicates are capitalised words applied to arguments, like Big(anne) or Likes(x, y). "
    "Constants are lower-case names of individuals, like anne or lion (drop 'the'). "
    "Variables are x, y, z and must be bound by ∀ or ∃.\n"
    "Reuse the predicate and constant names already in use when they fit. "
    "Answer with the formula only, on one line."
)

# GBNF for the notation above: any output it admits is a well-formed formula (balanced parentheses,
# known connectives), so constrained decoding removes syntax errors altogether.
FOL_GRAMMAR = r"""
root    ::= formula
formula ::= unary (" " binop " " unary)*
unary   ::= "¬" unary | quant | atom | "(" formula ")"
quant   ::= ("∀" | "∃") var " " unary
atom    ::= pred "(" term (", " term)* ")"
pred    ::= [A-Z] [a-zA-Z0-9]{0,40}
term    ::= [a-z] [a-zA-Z0-9_]{0,40}
var     ::= [x-z]
binop   ::= "∧" | "∨" | "→" | "↔" | "⊕"
"""


def render_prompt(
    sentence: str, fixed: Sequence[Example], nearest: Sequence[Example] = (), known: Sequence[str] = ()
) -> list[ChatMessage]:
    """The messages for translating ``sentence``: the fixed examples first (an unchanging, cacheable
    prefix), then the examples nearest in shape, then the sentence."""
    msgs = [ChatMessage(role="system", content=SYSTEM_PROMPT)]
    for ex in [*fixed, *nearest]:
        msgs.append(ChatMessage(role="user", content=f"Sentence: {ex.sentence}"))
        msgs.append(ChatMessage(role="assistant", content=ex.formula))
    hint = f"Predicates in use: {', '.join(known)}.\n" if known else ""
    msgs.append(ChatMessage(role="user", content=f"{hint}Sentence: {sentence}"))
    return msgs


def render_repair(previous: list[ChatMessage], output: str, error: str) -> list[ChatMessage]:
    return [
        *previous,
        ChatMessage(role="assistant", content=output),
        ChatMessage(role="user", content=f"{error} Write the corrected formula only, on one line."),
    ]
