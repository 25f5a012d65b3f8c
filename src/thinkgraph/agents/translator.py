"""Natural language → first-order logic, one sentence per model call (the LINC translator).

Small models degenerate when asked to translate a whole context at once; one sentence per call, with
a few short examples and the vocabulary built so far, keeps them on track.  Each sentence gets ``k``
samples; a sample that does not parse is sent back once with the parser's message for repair.

Everything a model sees is rendered by the pure function :func:`render_prompt`, and every request is
recorded in the trace.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

from thinkgraph.llm.base import ChatModel, ChatRequest, ModelError
from thinkgraph.logic.fol import (
    Atom,
    Const,
    FOLParseError,
    ForAll,
    Formula,
    Func,
    Var,
    parse,
    to_unicode,
    vocabulary,
)
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


@dataclass(frozen=True)
class Example:
    sentence: str
    formula: str


_SHAPE_WORDS = frozenset(
    "not no if then and or either both neither nor all every each some someone something somebody everyone "
    "everything anyone anything nothing nobody they it them is are does do only unless but".split()
)


def shape(text: str) -> set[str]:
    """What an example must share with a sentence to be a good model for it: its logical words and
    the number of 'the'-phrases, not its content words (examples use other names on purpose)."""
    words = re.findall(r"[a-z]+", text.lower())
    feats = {w for w in words if w in _SHAPE_WORDS}
    feats.add(f"the*{min(words.count('the'), 3)}")
    feats.add(f"comma*{min(text.count(','), 2)}")
    feats.add(f"len*{min(len(words) // 4, 4)}")
    if not feats & {"not", "no", "nothing", "nobody", "neither", "nor"}:
        feats.add("positive")
    return feats


@dataclass
class ExampleBank:
    """Few-shot examples: a fixed set (a cacheable prompt prefix) plus the ``k`` most similar in shape."""

    examples: list[Example]

    @classmethod
    def default(cls) -> ExampleBank:
        text = resources.files("thinkgraph.data").joinpath("fol_examples.jsonl").read_text(encoding="utf-8")
        return cls([Example(**json.loads(line)) for line in text.splitlines() if line.strip()])

    def select(self, sentence: str, k: int) -> list[Example]:
        """The ``k`` examples closest in shape, most similar last (nearest the question)."""
        if k <= 0:
            return []
        query = shape(sentence)

        def score(e: Example) -> float:
            feats = shape(e.sentence)
            same_polarity = ("positive" in feats) == ("positive" in query)
            return len(query & feats) / (len(query | feats) or 1) * (1.0 if same_polarity else 0.2)

        best = sorted(self.examples, key=score, reverse=True)[:k]
        return list(reversed(best))


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


_FENCE = re.compile(r"```[a-zA-Z]*")


def extract_formula(text: str) -> str:
    """The formula in a model's reply: drop code fences, labels and trailing prose/periods."""
    text = _FENCE.sub("", text).strip()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        line = re.sub(r"^(formula|fol|answer|translation)\s*[:=]\s*", "", line, flags=re.IGNORECASE)
        return line.strip().rstrip(".").strip().strip("`$")
    return ""


_VARIABLE_LIKE = re.compile(r"[u-z]\d*|some(one|thing|body)|every(one|thing|body)|any(one|thing|body)")


def check_formula(text: str) -> Formula:
    """Parse a model's formula.  Free variable-like names (``x``, ``y2``, and indefinite pronouns
    used as names: ``someone``, ``something``…) are closed universally, the convention Prover9 and LINC
    use for free variables."""
    f = parse(text)
    free = sorted(c for c in vocabulary([f]).constants if _VARIABLE_LIKE.fullmatch(c))
    if not free:
        return f
    f = _constants_to_vars(f, set(free))
    for name in reversed(free):
        f = ForAll(name, f)
    return f


def _constants_to_vars(f: Formula, names: set[str]) -> Formula:
    from thinkgraph.logic import fol

    def term(t: Var | Const | Func) -> Var | Const | Func:
        if isinstance(t, Const) and t.name in names:
            return Var(t.name)
        if isinstance(t, Func):
            return Func(t.name, tuple(term(a) for a in t.args))
        return t

    return fol.map_atoms(f, lambda a: Atom(a.pred, tuple(term(t) for t in a.args)), term)


# ----------------------------------------------------------------------------- faithfulness checks

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


# ----------------------------------------------------------------------------- vocabulary alignment


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


# ----------------------------------------------------------------------------- the agent


@dataclass
class SampleResult:
    index: int
    raw: str
    formula: str | None = None
    error: str | None = None
    repaired: bool = False


@dataclass
class TranslatorConfig:
    samples: int = 3
    temperature: float = 0.7
    greedy_first: bool = True
    fixed_examples: bool = False  # every example as a fixed, cacheable prompt prefix
    nearest_examples: int = 3  # then the k examples nearest in shape, right before the sentence
    vocabulary_hint: bool = False  # list predicates used so far (hurt a 1.5B model: it copied them)
    use_grammar: bool = True
    repair: bool = True
    max_tokens: int = 96
    seed: int = 0


class SentenceTranslator:
    """Translates sentences one at a time with ``k`` samples each; parse failures get one repair turn."""

    def __init__(self, model: ChatModel, config: TranslatorConfig | None = None, bank: ExampleBank | None = None):
        self.model = model
        self.config = config or TranslatorConfig()
        self.bank = bank or ExampleBank.default()

    def _request(self, messages: list[ChatMessage], n: int, temperature: float, seed: int) -> ChatRequest:
        c = self.config
        return ChatRequest(
            messages=tuple(messages),
            n=n,
            temperature=temperature,
            max_tokens=c.max_tokens,
            stop=("\n",),
            seed=seed,
            grammar=FOL_GRAMMAR if c.use_grammar else None,
        )

    async def translate(self, sentence: str, known: Sequence[str] = ()) -> list[SampleResult]:
        import asyncio

        c = self.config
        fixed = self.bank.examples if c.fixed_examples else []
        known = known if c.vocabulary_hint else ()
        messages = render_prompt(sentence, fixed, self.bank.select(sentence, c.nearest_examples), known)
        requests = []
        if c.greedy_first:
            requests.append(self._request(messages, 1, 0.0, c.seed))
        rest = c.samples - len(requests)
        if rest > 0:
            requests.append(self._request(messages, rest, c.temperature, c.seed + 1))
        responses = await asyncio.gather(*[self.model.chat(r) for r in requests])
        raws = [text for resp in responses for text in resp.texts]
        results = [self._check(i, raw) for i, raw in enumerate(raws)]
        if c.repair:
            await asyncio.gather(*[self._repair(messages, r) for r in results if r.error is not None])
        return results

    @staticmethod
    def _check(index: int, raw: str) -> SampleResult:
        text = extract_formula(raw)
        try:
            return SampleResult(index, raw, to_unicode(check_formula(text)))
        except FOLParseError as err:
            return SampleResult(index, raw, error=err.feedback())

    async def _repair(self, messages: list[ChatMessage], result: SampleResult) -> None:
        assert result.error is not None
        request = self._request(render_repair(messages, result.raw, result.error), 1, 0.0, self.config.seed)
        try:
            response = await self.model.chat(request)
        except ModelError as exc:
            result.error += f" (repair failed: {exc})"
            return
        fixed = self._check(result.index, response.texts[0])
        if fixed.formula is not None:
            result.formula, result.error, result.repaired = fixed.formula, None, True
        else:
            result.error = f"{fixed.error} (after one repair)"


def majority(formulas: Sequence[str | None]) -> tuple[str | None, float]:
    """The most common parsed formula and its share of all samples (failures count against it)."""
    counts = Counter(f for f in formulas if f is not None)
    if not counts:
        return None, 0.0
    best, n = counts.most_common(1)[0]
    return best, n / len(formulas)
