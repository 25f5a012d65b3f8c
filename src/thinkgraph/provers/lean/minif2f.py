"""miniF2F (Zheng et al., 2022) statements rewritten for core Lean: the ones that need no Mathlib.

Every miniF2F Lean 4 file imports Mathlib.  A statement about plain ℕ/ℤ arithmetic means the same in core
Lean, because Mathlib adds no instance of its own for ``+ - * / % ^ ∣ ≤ <`` on ``Nat`` and ``Int``
(it uses core's).  The rewrite:

* ``ℕ`` → ``Nat``, ``ℤ`` → ``Int`` (the notations are Mathlib's);
* the header (``import Mathlib``, ``set_option maxHeartbeats 0``, ``open BigOperators Real Nat Topology Rat``)
  is dropped — so a bare ``gcd`` opened from ``Nat`` is not accepted, only qualified core names;
* the statement is kept only when every name in it is a bound variable, a hypothesis, or one of
  :data:`CORE_NAMES` (``Nat``, ``Int``, ``Nat.gcd``, ``Nat.lcm``, ``Int.gcd``, ``Int.natAbs``, ``Int.toNat``,
  ``Nat.succ``…), and it uses no Mathlib-only notation (``ℝ ℚ ℂ``, ``∑ ∏``, ``|x|``, ``√``, ``!``, ``⌊ ⌋``,
  ``∈``, set-builder braces, ``[MOD n]``, a bare ``↑`` whose target type core Lean may infer differently).
  Anything else — ``Nat.Prime``, ``Finset``, ``Real.sqrt``, ``Even``, ``Nat.factorial``, ``Nat.digits`` —
  keeps it out.

:func:`core_statements` reads the items of ``thinkgraph.evals.loaders.load_dataset("minif2f", DIR)`` and
returns the statements that pass, each as binders-and-type ready for a
:class:`~thinkgraph.provers.lean.source.Declaration`, with the reason for every one left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from thinkgraph.provers.lean.check import blank_comments

CORE_NAMES = frozenset(
    """
    Nat Int Prop True False Nat.gcd Nat.lcm Int.gcd Int.lcm Int.natAbs Int.toNat Int.ofNat Nat.succ Nat.pred
    Nat.sub Nat.add Nat.mul Nat.div Nat.mod Nat.pow Int.emod Int.ediv Int.fmod Int.fdiv Int.tmod Int.tdiv
    Int.negSucc Nat.min Nat.max min max
    """.split()
)
BINDER_WORDS = frozenset({"fun", "λ", "∀", "∃", "let", "have", "show", "from", "if", "then", "else"})
_MATHLIB_SYMBOLS = (
    "ℝ",
    "ℚ",
    "ℂ",
    "∑",
    "∏",
    "√",
    "⌊",
    "⌋",
    "⌈",
    "⌉",
    "∈",
    "∉",
    "π",
    "[MOD",
    "[ZMOD",
    "!",
    "|",
    "{",
    "⁻¹",
    "•",
    "∘",
    "∫",
    "↑",
)
_THEOREM = re.compile(r"^\s*(?:theorem|lemma)\s+(?P<name>\S+)\s*(?P<rest>.*)$", re.DOTALL)
_WORD = re.compile(r"[^\W\d][\w'₀-₉.]*", re.UNICODE)
_BOUND = re.compile(r"[(\[{⦃∀∃λ]\s*((?:[^\W\d][\w'₀-₉]*\s*)+):")
_FUN = re.compile(r"(?:fun|λ|∀|∃)\s+((?:[^\W\d][\w'₀-₉]*\s*)+)[,=:]")


@dataclass(frozen=True)
class CoreStatement:
    """A miniF2F statement in core Lean: ``statement`` is the binders and type (no ``theorem name``)."""

    name: str
    statement: str
    original: str
    file: str = ""


def rewrite(text: str) -> tuple[str | None, str]:
    """``(binders and type in core Lean, "")``, or ``(None, why it needs Mathlib)`` for one statement
    (``theorem NAME binders : type``, as the miniF2F loader gives it)."""
    m = _THEOREM.match(blank_comments(text))
    if not m:
        return None, "not a theorem statement"
    body = m["rest"].strip()
    if body.endswith(":="):
        body = body[:-2].rstrip()
    for sym in _MATHLIB_SYMBOLS:
        if sym in body:
            return None, f"uses {sym!r} (Mathlib notation)"
    body = body.replace("ℕ", "Nat").replace("ℤ", "Int")
    bound = set()
    for pattern in (_BOUND, _FUN):
        for group in pattern.findall(body):
            bound.update(group.split())
    for word in _WORD.findall(body):
        word = word.rstrip(".")
        if word in bound or word in CORE_NAMES or word in BINDER_WORDS:
            continue
        head = word.split(".")[0]
        if head in bound:  # a field of a bound variable, e.g. h.1
            continue
        return None, f"uses {word!r} (not in core Lean, or not known to be the same there)"
    return body, ""


def core_statements(items: Iterable[Any]) -> tuple[list[CoreStatement], dict[str, str]]:
    """The statements of loaded miniF2F items that core Lean can state, and why each other one cannot."""
    kept: list[CoreStatement] = []
    left: dict[str, str] = {}
    for item in items:
        text = item.input["text"] if isinstance(item.input, dict) else str(item.input)
        name = str(item.meta.get("name", item.id))
        statement, why = rewrite(text)
        if statement is None:
            left[name] = why
        else:
            kept.append(CoreStatement(name, statement, text, str(item.meta.get("file", ""))))
    return kept, left


__all__ = ["CORE_NAMES", "CoreStatement", "core_statements", "rewrite"]
