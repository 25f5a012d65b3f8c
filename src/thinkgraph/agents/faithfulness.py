"""Model-free checks that a formula can be a translation of its sentence (polarity, grounding)."""

from __future__ import annotations

import re

from thinkgraph.agents.vocab import predicate_key
from thinkgraph.logic.fol import parse, vocabulary

_NEGATION = re.compile(r"\b(not|no|never|nothing|nobody|none|neither|nor|without)\b|n't\b", re.IGNORECASE)


_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse"}


def _stems(text: str) -> set[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", text) if len(w) >= 3]
    return {predicate_key(_IRREGULAR.get(w, w)) for w in words}


def _pieces(name: str) -> list[str]:
    return [p for p in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name) if len(p) >= 3] or [name]


def faithfulness_issues(sentence: str, formula: str) -> list[str]:
    """Model-free checks that a formula can be a translation of its sentence.

    * polarity: a negation in the formula needs a negation word in the sentence, and vice versa;
    * grounding: every predicate must name a word of the sentence (a piece of a CamelCase name is
      enough; a plural or verb ending may differ), so ``True(x)`` for "…then it eats the cow" fails.
    """
    issues = []
    if bool(_NEGATION.search(sentence)) != ("¬" in formula):
        issues.append("negation in the formula and in the sentence do not match")
    words = _stems(sentence)
    for name, _arity in sorted(vocabulary([parse(formula)]).predicates):
        stems = [predicate_key(p) for p in _pieces(name)]
        if not any(st.startswith(w) or w.startswith(st) for st in stems for w in words if min(len(st), len(w)) >= 3):
            issues.append(f"the predicate {name} names no word of the sentence")
    return issues
