"""First-order logic: an immutable AST, a parser for two notations, and printers.

Notations accepted by :func:`parse`:

* FOLIO Unicode: ``∀x (P(x) → Q(x))``, ``∃x``, ``¬``, ``∧``, ``∨``, ``⊕`` (exclusive or),
  ``→``, ``↔`` / ``⟷``, ``=`` and ``≠``.
* NLTK / Prover9 ASCII (as used by LINC): ``all x.(P(x) -> Q(x))``, ``exists x.``, ``-``/``~``,
  ``&``, ``|``, ``->``, ``<->``.

The two notations may be mixed.  A quantifier directly followed by a parenthesised group scopes over
that group (``∀x (P(x)) → Q`` is ``(∀x P(x)) → Q``); otherwise — ``all x.`` or ``∀x P(x) → Q(x)`` —
its scope extends as far to the right as possible (the NLTK convention).  An identifier bound by
an enclosing quantifier is a variable; any other term identifier is a constant.

Every syntax problem raises :class:`FOLParseError`, which carries the position and a message
written so that a language model can act on it (see :meth:`FOLParseError.feedback`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "And",
    "Atom",
    "Const",
    "Eq",
    "Exists",
    "FOLParseError",
    "ForAll",
    "Formula",
    "Func",
    "Iff",
    "Implies",
    "Not",
    "Or",
    "Term",
    "Var",
    "Vocabulary",
    "Xor",
    "map_atoms",
    "parse",
    "parse_lenient",
    "subformulas",
    "to_prover9",
    "to_unicode",
    "vocabulary",
]


class FOLParseError(ValueError):
    """A formula could not be parsed.  ``position`` is a 0-based character offset into ``text``."""

    def __init__(self, message: str, text: str, position: int, code: str = "syntax") -> None:
        self.code = code
        self.message = message
        self.text = text
        self.position = position
        super().__init__(f"{message} at position {position}: {self._excerpt()}")

    def _excerpt(self) -> str:
        lo = max(0, self.position - 30)
        return self.text[lo : self.position] + "⟪HERE⟫" + self.text[self.position : self.position + 30]

    def feedback(self) -> str:
        """A one-paragraph explanation suitable for sending back to a model for repair."""
        return (
            f"The formula `{self.text}` is not well-formed: {self.message} "
            f"(character {self.position}, marked ⟪HERE⟫: `{self._excerpt()}`)."
        )


# ----------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Const:
    name: str


@dataclass(frozen=True, slots=True)
class Func:
    name: str
    args: tuple[Term, ...]


Term = Var | Const | Func


@dataclass(frozen=True, slots=True)
class Atom:
    pred: str
    args: tuple[Term, ...] = ()


@dataclass(frozen=True, slots=True)
class Eq:
    left: Term
    right: Term


@dataclass(frozen=True, slots=True)
class Not:
    body: Formula


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Formula, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Formula, ...]


@dataclass(frozen=True, slots=True)
class Xor:
    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Implies:
    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Iff:
    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class ForAll:
    var: str
    body: Formula


@dataclass(frozen=True, slots=True)
class Exists:
    var: str
    body: Formula


Formula = Atom | Eq | Not | And | Or | Xor | Implies | Iff | ForAll | Exists


# ----------------------------------------------------------------------------- lexer

_SYMBOLS: list[tuple[str, str]] = [
    # longest first
    ("<->", "IFF"),
    ("->", "IMP"),
    ("=>", "IMP"),
    ("!=", "NEQ"),
    ("∀", "ALL"),
    ("∃", "EX"),
    ("¬", "NOT"),
    ("~", "NOT"),
    ("-", "NOT"),
    ("!", "NOT"),
    ("∧", "AND"),
    ("&", "AND"),
    ("∨", "OR"),
    ("|", "OR"),
    ("⊕", "XOR"),
    ("→", "IMP"),
    ("⇒", "IMP"),
    ("↔", "IFF"),
    ("⟷", "IFF"),
    ("⇔", "IFF"),
    ("≠", "NEQ"),
    ("=", "EQ"),
    ("(", "LP"),
    (")", "RP"),
    (",", "COMMA"),
    (".", "DOT"),
]
_WORD_OPS = {"all": "ALL", "forall": "ALL", "exists": "EX"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _is_ident_char(ch: str, first: bool) -> bool:
    if ch == "_" or ch.isalpha():
        return True
    if first:
        return False
    return ch.isdigit() or ch in "'’" or unicodedata.category(ch) in ("Mn", "Mc")


def _joins_ident(text: str, j: int) -> bool:
    """A '-' between letters (``well-known``) or a '.' between digits (``42.3``) stays in a name."""
    if j + 1 >= len(text):
        return False
    before, ch, after = text[j - 1], text[j], text[j + 1]
    if ch == "-":
        return before.isalnum() and after.isalnum()
    return ch == "." and before.isdigit() and after.isdigit()


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if _is_ident_char(ch, True) or ch.isdigit():
            j = i + 1
            while j < n and (_is_ident_char(text[j], False) or _joins_ident(text, j)):
                j += 1
            word = text[i:j]
            toks.append(_Tok(_WORD_OPS.get(word, "ID"), word, i))
            i = j
            continue
        for sym, kind in _SYMBOLS:
            if text.startswith(sym, i):
                toks.append(_Tok(kind, sym, i))
                i += len(sym)
                break
        else:
            raise FOLParseError(f"unexpected character {ch!r}", text, i)
    toks.append(_Tok("EOF", "", n))
    return toks


# ----------------------------------------------------------------------------- parser

_VARLIKE = re.compile(r"[a-z][0-9]*")
_BINARY_NAMES = {"AND": "∧", "OR": "∨", "XOR": "⊕", "IMP": "→", "IFF": "↔"}


class _Parser:
    def __init__(self, text: str, and_or: str = "precedence") -> None:
        if and_or not in ("precedence", "right"):
            raise ValueError("and_or must be 'precedence' or 'right'")
        self.and_or = and_or
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.bound: list[str] = []

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, message: str, tok: _Tok | None = None, code: str = "syntax") -> FOLParseError:
        tok = tok or self.peek()
        return FOLParseError(message, self.text, tok.pos, code)

    def expect(self, kind: str, what: str) -> _Tok:
        tok = self.peek()
        if tok.kind != kind:
            found = "the end of the formula" if tok.kind == "EOF" else repr(tok.text)
            raise self.fail(f"expected {what} but found {found}")
        return self.next()

    def parse(self) -> Formula:
        if self.peek().kind == "EOF":
            raise self.fail("the formula is empty")
        f = self.iff()
        tok = self.peek()
        if tok.kind != "EOF":
            if tok.kind == "RP":
                raise self.fail("unbalanced parenthesis: this ')' has no matching '('", code="unmatched_close")
            if tok.kind == "COMMA":
                raise self.fail("a comma cannot join formulas; use ∧ (and) or ∨ (or)")
            raise self.fail(f"unexpected {tok.text!r} after a complete formula; join formulas with a connective")
        return f

    # precedence (loosest first): ↔, →, ∨/⊕, ∧, unary
    def iff(self) -> Formula:
        left = self.imp()
        while self.peek().kind == "IFF":
            self.next()
            left = Iff(left, self.imp())
        return left

    def imp(self) -> Formula:
        left = self.disj()
        if self.peek().kind == "IMP":
            self.next()
            return Implies(left, self.imp())  # right associative
        return left

    def disj(self) -> Formula:
        """A chain of operands joined by ∧, ∨ and ⊕ at one parenthesis level."""
        operands = [self.unary()]
        ops: list[str] = []
        while self.peek().kind in ("AND", "OR", "XOR"):
            ops.append(self.next().kind)
            operands.append(self.unary())
        mixed = "AND" in ops and ("OR" in ops or "XOR" in ops)
        if mixed and self.and_or == "right":
            return _fold_right(operands, ops)
        return _fold_precedence(operands, ops)

    def unary(self) -> Formula:
        tok = self.peek()
        if tok.kind == "NOT":
            self.next()
            return Not(self.unary())
        if tok.kind in ("ALL", "EX"):
            return self.quantified()
        if tok.kind == "LP":
            self.next()
            inner = self.iff()
            if self.peek().kind == "COMMA":
                raise self.fail("a comma cannot join formulas; use ∧ (and) or ∨ (or)")
            self.expect("RP", "')' to close the parenthesis")
            return inner
        if tok.kind == "ID":
            return self.atom()
        if tok.kind == "EOF":
            raise self.fail("the formula ends where a sub-formula was expected")
        if tok.kind == "RP":
            raise self.fail("unbalanced parenthesis or missing sub-formula before ')'")
        if tok.kind in _BINARY_NAMES:
            raise self.fail(f"the connective {tok.text!r} is missing its left-hand formula")
        raise self.fail(f"unexpected {tok.text!r} where a formula was expected")

    def quantified(self) -> Formula:
        qtok = self.next()
        if self.peek().kind != "ID":
            raise self.fail(f"expected a variable after the quantifier {qtok.text!r}")
        names = [self.next().text]
        # further variables: `∀x, y`, `all x y.` or `∀x y (...)` with short variable-like names
        while True:
            tok = self.peek()
            if tok.kind == "COMMA" and self.toks[self.i + 1].kind == "ID":
                self.next()
                names.append(self.next().text)
            elif tok.kind == "ID" and _VARLIKE.fullmatch(tok.text) and self.toks[self.i + 1].kind != "COMMA":
                names.append(self.next().text)
            else:
                break
        # `∀x (…)`: the parenthesised group is the scope; `all x.` or `∀x P(x) → …`: as far right as possible
        narrow = self.peek().kind == "LP"
        if self.peek().kind == "DOT":
            self.next()
        self.bound.extend(names)
        try:
            body = self.unary() if narrow else self.iff()
        finally:
            del self.bound[len(self.bound) - len(names) :]
        for name in reversed(names):
            body = ForAll(name, body) if qtok.kind == "ALL" else Exists(name, body)
        return body

    def atom(self) -> Formula:
        tok = self.next()
        if self.peek().kind == "LP":
            args = self.args()
            if self.peek().kind in ("EQ", "NEQ"):
                raise self.fail("a predicate application cannot be compared with '='; '=' relates terms")
            return Atom(tok.text, args)
        if self.peek().kind in ("EQ", "NEQ"):
            op = self.next().kind
            left = self.term_from(tok)
            right = self.term()
            eq = Eq(left, right)
            return Not(eq) if op == "NEQ" else eq
        return Atom(tok.text, ())

    def args(self) -> tuple[Term, ...]:
        self.expect("LP", "'('")
        if self.peek().kind == "RP":
            raise self.fail("empty argument list; write a 0-ary predicate without parentheses")
        out = [self.term()]
        while self.peek().kind == "COMMA":
            self.next()
            out.append(self.term())
        self.expect("RP", "')' or ',' in the argument list")
        return tuple(out)

    def term(self) -> Term:
        tok = self.peek()
        if tok.kind != "ID":
            if tok.kind in ("ALL", "EX") and tok.text.isalpha():
                tok = _Tok("ID", tok.text, tok.pos)
            else:
                found = "the end of the formula" if tok.kind == "EOF" else repr(tok.text)
                raise self.fail(f"expected a term (a variable or constant) but found {found}")
        self.next()
        return self.term_from(tok)

    def term_from(self, tok: _Tok) -> Term:
        if self.peek().kind == "LP":
            return Func(tok.text, self.args())
        if tok.text in self.bound:
            return Var(tok.text)
        return Const(tok.text)


def _join(op: str, left: Formula, right: Formula) -> Formula:
    if op == "XOR":
        return Xor(left, right)
    cls = And if op == "AND" else Or
    lparts = left.parts if isinstance(left, cls) else (left,)
    rparts = right.parts if isinstance(right, cls) else (right,)
    return cls((*lparts, *rparts))


def _fold_precedence(operands: list[Formula], ops: list[str]) -> Formula:
    """Standard precedence: ∧ binds tighter than ∨ and ⊕, which associate to the left."""
    groups: list[Formula] = [operands[0]]
    joins: list[str] = []
    for op, right in zip(ops, operands[1:], strict=True):
        if op == "AND":
            groups[-1] = _join("AND", groups[-1], right)
        else:
            joins.append(op)
            groups.append(right)
    out = groups[0]
    for op, right in zip(joins, groups[1:], strict=True):
        out = Xor(out, right) if op == "XOR" else _join("OR", out, right)
    return out


def _fold_right(operands: list[Formula], ops: list[str]) -> Formula:
    """Left-to-right reading with the right operand grouped: ``A ∧ B ∨ C`` is ``A ∧ (B ∨ C)``."""
    out = operands[-1]
    for op, left in zip(reversed(ops), reversed(operands[:-1]), strict=True):
        out = _join(op, left, out)
    return out


def parse(text: str, *, and_or: str = "precedence") -> Formula:
    """Parse one formula in FOLIO Unicode or NLTK/Prover9 ASCII notation.

    ``and_or`` decides how ``∧`` mixed with ``∨``/``⊕`` without parentheses is read: ``"precedence"``
    (default; ``A ∧ B ∨ C`` is ``(A ∧ B) ∨ C``) or ``"right"`` (``A ∧ (B ∨ C)``, the way several
    hand-annotated datasets write English "A and B or C").
    """
    if not isinstance(text, str):
        raise FOLParseError("a formula must be a string", str(text), 0)
    return _Parser(text, and_or).parse()


def parse_lenient(text: str, *, and_or: str = "precedence") -> tuple[Formula, list[str]]:
    """Parse, repairing what a general rule can: unmatched closing parentheses at the end.

    Returns the formula and the repairs made (empty when the text was well-formed).  Anything else
    still raises :class:`FOLParseError`.
    """
    try:
        return parse(text, and_or=and_or), []
    except FOLParseError as err:
        toks = _tokenize(text)
        tail = [t for t in toks if t.pos >= err.position and t.kind != "EOF"]
        if not tail or any(t.kind != "RP" for t in tail) or err.code != "unmatched_close":
            raise
        fixed = text[: err.position].rstrip()
        return parse(fixed, and_or=and_or), [f"dropped {len(tail)} unmatched ')' at the end"]


# ----------------------------------------------------------------------------- printers


def _term_str(t: Term, const: dict[str, str] | None = None) -> str:
    if isinstance(t, Var):
        return t.name
    if isinstance(t, Const):
        return const.get(t.name, t.name) if const else t.name
    return f"{t.name}({', '.join(_term_str(a, const) for a in t.args)})"


_UNI = {
    "not": "¬",
    "and": " ∧ ",
    "or": " ∨ ",
    "xor": " ⊕ ",
    "imp": " → ",
    "iff": " ↔ ",
    "all": "∀",
    "ex": "∃",
    "neq": " ≠ ",
    "eq": " = ",
}
_P9 = {
    "not": "-",
    "and": " & ",
    "or": " | ",
    "imp": " -> ",
    "iff": " <-> ",
    "all": "all ",
    "ex": "exists ",
    "neq": " != ",
    "eq": " = ",
}


def _needs_parens(f: Formula) -> bool:
    return isinstance(f, And | Or | Xor | Implies | Iff | ForAll | Exists)


def _fmt(f: Formula, s: dict[str, str], const: dict[str, str] | None, pred: dict[str, str] | None) -> str:
    def sub(g: Formula) -> str:
        text = _fmt(g, s, const, pred)
        return f"({text})" if _needs_parens(g) else text

    match f:
        case Atom(p, args):
            name = pred.get(p, p) if pred else p
            return f"{name}({', '.join(_term_str(a, const) for a in args)})" if args else name
        case Eq(left, right):
            return f"{_term_str(left, const)}{s['eq']}{_term_str(right, const)}"
        case Not(Eq(left, right)):
            return f"{_term_str(left, const)}{s['neq']}{_term_str(right, const)}"
        case Not(body):
            return f"{s['not']}{sub(body)}"
        case And(parts):
            return s["and"].join(sub(p) for p in parts)
        case Or(parts):
            return s["or"].join(sub(p) for p in parts)
        case Xor(left, right):
            if "xor" in s:
                return f"{sub(left)}{s['xor']}{sub(right)}"
            return f"{s['not']}({sub(left)}{s['iff']}{sub(right)})"
        case Implies(left, right):
            return f"{sub(left)}{s['imp']}{sub(right)}"
        case Iff(left, right):
            return f"{sub(left)}{s['iff']}{sub(right)}"
        case ForAll(var, body):
            return (
                f"{s['all']}{var} {sub(body) if not isinstance(body, ForAll | Exists) else _fmt(body, s, const, pred)}"
            )
        case Exists(var, body):
            return (
                f"{s['ex']}{var} {sub(body) if not isinstance(body, ForAll | Exists) else _fmt(body, s, const, pred)}"
            )
    raise TypeError(f"not a formula: {f!r}")


def to_unicode(f: Formula) -> str:
    """Print in FOLIO's Unicode notation; ``parse(to_unicode(f)) == f``."""
    return _fmt(f, _UNI, None, None)


def to_prover9(f: Formula, *, const_prefix: str = "c_", pred_prefix: str = "") -> str:
    """Print in Prover9/NLTK ASCII notation.

    Constants are prefixed (default ``c_``) so Prover9 never mistakes a constant named like a
    variable (``x``, ``u``…) for a free, implicitly universal variable.
    """
    voc = vocabulary([f])
    const = {c: const_prefix + _ascii_name(c) for c in voc.constants}
    pred = {p: pred_prefix + _ascii_name(p) for p, _ in voc.predicates}
    return _fmt(f, _P9, const, pred)


def _ascii_name(name: str) -> str:
    out = []
    for ch in name:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            out.append(ch)
        else:
            out.append(f"_u{ord(ch):x}_")
    return "".join(out)


# ----------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Predicates (name, arity), constants and functions (name, arity) used by formulas."""

    predicates: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    constants: frozenset[str] = field(default_factory=frozenset)
    functions: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    def arity_clashes(self) -> list[str]:
        """Names used as predicates with two different arities."""
        seen: dict[str, set[int]] = {}
        for name, arity in self.predicates:
            seen.setdefault(name, set()).add(arity)
        return sorted(n for n, a in seen.items() if len(a) > 1)


def _walk_terms(t: Term) -> Iterator[Term]:
    yield t
    if isinstance(t, Func):
        for a in t.args:
            yield from _walk_terms(a)


def subformulas(f: Formula) -> Iterator[Formula]:
    yield f
    match f:
        case Not(body) | ForAll(_, body) | Exists(_, body):
            yield from subformulas(body)
        case And(parts) | Or(parts):
            for p in parts:
                yield from subformulas(p)
        case Xor(left, right) | Implies(left, right) | Iff(left, right):
            yield from subformulas(left)
            yield from subformulas(right)
        case _:
            pass


def map_atoms(f: Formula, atom: Callable[[Atom], Formula], term: Callable[[Term], Term] | None = None) -> Formula:
    """Rebuild ``f`` with every atom replaced by ``atom(a)`` (and equality terms by ``term(t)``)."""

    def walk(g: Formula) -> Formula:
        match g:
            case Atom():
                return atom(g)
            case Eq(left, right):
                return Eq(term(left), term(right)) if term else g
            case Not(body):
                return Not(walk(body))
            case And(parts):
                return And(tuple(walk(p) for p in parts))
            case Or(parts):
                return Or(tuple(walk(p) for p in parts))
            case Xor(left, right):
                return Xor(walk(left), walk(right))
            case Implies(left, right):
                return Implies(walk(left), walk(right))
            case Iff(left, right):
                return Iff(walk(left), walk(right))
            case ForAll(var, body):
                return ForAll(var, walk(body))
            case Exists(var, body):
                return Exists(var, walk(body))
        raise TypeError(f"not a formula: {g!r}")

    return walk(f)


def vocabulary(formulas: list[Formula]) -> Vocabulary:
    preds: set[tuple[str, int]] = set()
    consts: set[str] = set()
    funcs: set[tuple[str, int]] = set()
    for f in formulas:
        for g in subformulas(f):
            terms: tuple[Term, ...] = ()
            if isinstance(g, Atom):
                preds.add((g.pred, len(g.args)))
                terms = g.args
            elif isinstance(g, Eq):
                terms = (g.left, g.right)
            for t in terms:
                for u in _walk_terms(t):
                    if isinstance(u, Const):
                        consts.add(u.name)
                    elif isinstance(u, Func):
                        funcs.add((u.name, len(u.args)))
    return Vocabulary(frozenset(preds), frozenset(consts), frozenset(funcs))
