from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thinkgraph.logic.fol import (
    And,
    Atom,
    Const,
    Eq,
    Exists,
    FOLParseError,
    ForAll,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    Var,
    Xor,
    parse,
    parse_lenient,
    to_prover9,
    to_unicode,
    vocabulary,
)


def test_unicode_and_ascii_notations_agree() -> None:
    uni = parse("∀x (Dog(x) → (¬Cat(x) ∧ ∃y Likes(x, y)))")
    ascii_ = parse("all x.(Dog(x) -> (-Cat(x) & exists y.Likes(x,y)))")
    assert uni == ascii_
    assert uni == ForAll(
        "x",
        Implies(
            Atom("Dog", (Var("x"),)),
            And((Not(Atom("Cat", (Var("x"),))), Exists("y", Atom("Likes", (Var("x"), Var("y")))))),
        ),
    )


def test_connectives_and_precedence() -> None:
    assert parse("A ∧ B ∨ C") == Or((And((Atom("A"), Atom("B"))), Atom("C")))
    assert parse("A ∧ B ∨ C", and_or="right") == And((Atom("A"), Or((Atom("B"), Atom("C")))))
    assert parse("A → B → C") == Implies(Atom("A"), Implies(Atom("B"), Atom("C")))
    assert parse("A ⊕ B") == Xor(Atom("A"), Atom("B"))
    assert parse("A ⟷ B") == parse("A <-> B") == Iff(Atom("A"), Atom("B"))
    assert parse("x = y") == Eq(Const("x"), Const("y"))
    assert parse("∀x ∀y (R(x, y) → x ≠ y)") == parse("all x y.(R(x,y) -> -(x = y))")


def test_quantifier_scope_extends_right_and_binds_variables() -> None:
    f = parse("∀x P(x) → Q(x)")
    assert f == ForAll("x", Implies(Atom("P", (Var("x"),)), Atom("Q", (Var("x"),))))
    # an unbound name is a constant
    assert parse("P(x)") == Atom("P", (Const("x"),))


def test_identifiers_with_unicode_apostrophes_hyphens_and_decimals() -> None:
    voc = vocabulary([parse("Owns(josé, y42.3billion) ∧ Growth’Stock(well-known)")])
    assert voc.constants == {"josé", "y42.3billion", "well-known"}
    assert ("Growth’Stock", 1) in voc.predicates


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("P(a) ∧ Q(b))", 11, "no matching '('"),
        ("(P(a) ∧ Q(b)", 12, "')'"),
        ("P(a), Q(b)", 4, "comma"),
        ("∀ (P(x))", 2, "variable"),
        ("P(a) ∧", 6, "ends"),
        ("", 0, "empty"),
        ("P(a) # Q(b)", 5, "unexpected character"),
    ],
)
def test_errors_carry_position_and_actionable_message(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FOLParseError) as info:
        parse(text)
    assert info.value.position == position
    assert fragment in info.value.message
    assert "⟪HERE⟫" in info.value.feedback()


def test_lenient_parse_repairs_only_trailing_unmatched_parentheses() -> None:
    f, repairs = parse_lenient("A(b) ⊕ C(b) → D(b) ∧ E(b))")
    assert f == parse("A(b) ⊕ C(b) → D(b) ∧ E(b)")
    assert repairs == ["dropped 1 unmatched ')' at the end"]
    with pytest.raises(FOLParseError):
        parse_lenient("A(b)) ∧ C(b)")


def test_prover9_printing_prefixes_constants() -> None:
    assert to_prover9(parse("∀x (P(x) → Q(x, y))")) == "all x (P(x) -> Q(x, c_y))"
    assert to_prover9(parse("A(b) ⊕ C(b)")) == "-(A(c_b) <-> C(c_b))"


# ----------------------------------------------------------------------------- property tests

NAMES = st.sampled_from(["P", "Q", "Red", "Likes"])
CONSTS = st.sampled_from(["a", "bob", "theCat"])
VARS = ["x", "y", "z"]


def formulas(bound: tuple[str, ...] = ()) -> st.SearchStrategy[Formula]:
    terms = st.one_of(CONSTS.map(Const), *([st.sampled_from(bound).map(Var)] if bound else []))
    atom = st.builds(lambda p, args: Atom(p, tuple(args)), NAMES, st.lists(terms, min_size=1, max_size=2))

    def extend(children: st.SearchStrategy[Formula]) -> st.SearchStrategy[Formula]:
        pair = st.tuples(children, children)
        return st.one_of(
            children.map(Not),
            st.lists(children, min_size=2, max_size=3).map(lambda ps: And(tuple(ps))),
            st.lists(children, min_size=2, max_size=3).map(lambda ps: Or(tuple(ps))),
            pair.map(lambda p: Xor(*p)),
            pair.map(lambda p: Implies(*p)),
            pair.map(lambda p: Iff(*p)),
        )

    base = st.recursive(atom, extend, max_leaves=6)
    if len(bound) >= 2:
        return base
    v = VARS[len(bound)]
    return st.one_of(
        base,
        st.deferred(lambda: formulas((*bound, v))).map(lambda b: ForAll(v, b)),
        st.deferred(lambda: formulas((*bound, v))).map(lambda b: Exists(v, b)),
    )


def _flat(f: Formula) -> Formula:
    """Normalise nested And/Or (printing flattens them)."""
    from thinkgraph.logic.fol import map_atoms

    def walk(g: Formula) -> Formula:
        if isinstance(g, And | Or):
            parts: list[Formula] = []
            for p in g.parts:
                q = walk(p)
                parts.extend(q.parts if type(q) is type(g) else (q,))  # type: ignore[union-attr]
            return type(g)(tuple(parts))
        if isinstance(g, Not):
            return Not(walk(g.body))
        if isinstance(g, Xor | Implies | Iff):
            return type(g)(walk(g.left), walk(g.right))
        if isinstance(g, ForAll | Exists):
            return type(g)(g.var, walk(g.body))
        return g

    return map_atoms(walk(f), lambda a: a)


@settings(max_examples=300, deadline=None)
@given(formulas())
def test_print_then_parse_round_trips(f: Formula) -> None:
    assert parse(to_unicode(f)) == _flat(f)
    # the ASCII printout parses too, to the same shape up to constant prefixes and xor expansion
    parse(to_prover9(f))


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("PQx(),.∀∃¬∧∨→↔⊕-&|<>= abc~!")), max_size=40))
def test_fuzzed_text_raises_only_the_typed_error(text: str) -> None:
    try:
        parse(text)
    except FOLParseError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30))
def test_fuzzed_unicode_raises_only_the_typed_error(text: str) -> None:
    try:
        parse(text)
    except FOLParseError:
        pass
