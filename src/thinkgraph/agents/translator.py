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
    Exists,
    FOLParseError,
    ForAll,
    Formula,
    Func,
    Var,
    parse,
    subformulas,
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


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@dataclass
class ExampleBank:
    """Few-shot examples; ``select`` returns all of them (``k=None``) or the ``k`` most similar."""

    examples: list[Example]

    @classmethod
    def default(cls) -> ExampleBank:
        text = resources.files("thinkgraph.data").joinpath("fol_examples.jsonl").read_text(encoding="utf-8")
        return cls([Example(**json.loads(line)) for line in text.splitlines() if line.strip()])

    def select(self, sentence: str, k: int | None) -> list[Example]:
        if k is None or k >= len(self.examples):
            return list(self.examples)
        query = _words(sentence)

        def score(e: Example) -> float:
            words = _words(e.sentence)
            return len(query & words) / (len(query | words) or 1)

        best = sorted(self.examples, key=score, reverse=True)[:k]
        return list(reversed(best))  # most similar last, nearest the question


def render_prompt(sentence: str, examples: Sequence[Example], known: Sequence[str] = ()) -> list[ChatMessage]:
    """The messages for translating ``sentence``.  Examples come first so the prefix stays cacheable."""
    msgs = [ChatMessage(role="system", content=SYSTEM_PROMPT)]
    for ex in examples:
        msgs.append(ChatMessage(role="user", content=f"Sentence: {ex.sentence}"))
        msgs.append(ChatMessage(role="assistant", content=ex.formula))
    hint = f"Names in use: {', '.join(known)}.\n" if known else ""
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


class UnboundVariableError(FOLParseError):
    pass


def check_formula(text: str) -> Formula:
    """Parse a model's formula and reject what parses but is surely wrong: unbound variables."""
    f = parse(text)
    for g in subformulas(f):
        if isinstance(g, Atom):
            for t in g.args:
                if isinstance(t, Const) and re.fullmatch(r"[u-z]\d*", t.name):
                    raise UnboundVariableError(
                        f"the variable {t.name} is not bound; add ∀{t.name} or ∃{t.name}, or use a constant name",
                        text,
                        text.find(t.name),
                    )
    return f


# ----------------------------------------------------------------------------- vocabulary alignment


def predicate_key(name: str) -> str:
    """Names that differ only in case, underscores, 'is'/'are' prefixes or a plural/3rd-person 's'."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = re.sub(r"^(is|are|does)(?=[a-z]{3})", "", key)
    if len(key) > 3 and key.endswith("ies"):
        key = key[:-3] + "y"
    elif len(key) > 3 and key.endswith("es") and key[-3] in "sxz":
        key = key[:-2]
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

        def term(t: Var | Const | Func) -> Var | Const | Func:
            if isinstance(t, Const):
                return Const(self.constants.setdefault(constant_key(t.name), t.name))
            if isinstance(t, Func):
                return Func(t.name, tuple(term(a) for a in t.args))
            return t

        def walk(g: Formula) -> Formula:
            from thinkgraph.logic import fol

            match g:
                case Atom(p, args):
                    name = self.predicates.setdefault((predicate_key(p), len(args)), p)
                    return Atom(name, tuple(term(a) for a in args))
                case fol.Eq(left, right):
                    return fol.Eq(term(left), term(right))
                case fol.Not(body):
                    return fol.Not(walk(body))
                case fol.And(parts):
                    return fol.And(tuple(walk(p) for p in parts))
                case fol.Or(parts):
                    return fol.Or(tuple(walk(p) for p in parts))
                case fol.Xor(a, b):
                    return fol.Xor(walk(a), walk(b))
                case fol.Implies(a, b):
                    return fol.Implies(walk(a), walk(b))
                case fol.Iff(a, b):
                    return fol.Iff(walk(a), walk(b))
                case ForAll(v, body):
                    return ForAll(v, walk(body))
                case Exists(v, body):
                    return Exists(v, walk(body))
            raise TypeError(g)

        return walk(f)

    def names(self) -> list[str]:
        preds = [f"{n}({', '.join('xyzwuv'[i] for i in range(a))})" for (_, a), n in self.predicates.items()]
        return preds + sorted(set(self.constants.values()))


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
    examples_k: int | None = None  # None: every example (fixed, cacheable prefix); k: retrieve k
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
        messages = render_prompt(sentence, self.bank.select(sentence, c.examples_k), known)
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


def known_names(formulas: Sequence[Formula]) -> list[str]:
    voc = vocabulary(list(formulas))
    preds = [f"{n}({', '.join('xyzwuv'[i] for i in range(a))})" for n, a in sorted(voc.predicates)]
    return preds + sorted(voc.constants)
