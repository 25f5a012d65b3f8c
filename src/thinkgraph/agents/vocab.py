"""Vocabulary alignment: names that differ only in case, plural, 'the' or 'is' become one name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from thinkgraph.logic.fol import Atom, Const, Formula, Func, Var


def predicate_key(name: str) -> str:
    """Names that differ only in case, underscores, 'is'/'are' prefixes or a plural/3rd-person 's'."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = re.sub(r"^(is|are|does)(?=[a-z]{3})", "", key)
    if len(key) > 3 and key.endswith("ies"):
        key = key[:-3] + "y"
    elif len(key) > 3 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    return key


def constant_key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"^the(?=[a-z]{2})", "", key)


@dataclass
class Vocab:
    """The shared vocabulary of one formalization: canonical names keyed by their alignment key."""

    predicates: dict[tuple[str, int], str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)

    def align(self, f: Formula) -> Formula:
        """Rename predicates/constants onto names already in use; record new ones."""
        from thinkgraph.logic import fol

        def term(t: Var | Const | Func) -> Var | Const | Func:
            if isinstance(t, Const):
                return Const(self.constants.setdefault(constant_key(t.name), t.name))
            if isinstance(t, Func):
                return Func(t.name, tuple(term(a) for a in t.args))
            return t

        def atom(a: Atom) -> Atom:
            name = self.predicates.setdefault((predicate_key(a.pred), len(a.args)), a.pred)
            return Atom(name, tuple(term(t) for t in a.args))

        return fol.map_atoms(f, atom, term)

    def predicate_names(self) -> list[str]:
        return [f"{n}({', '.join('xyzwuv'[i] for i in range(a))})" for (_, a), n in self.predicates.items()]
