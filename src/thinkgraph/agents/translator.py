"""Natural language → first-order logic, one sentence per model call (the LINC translator).

Small models degenerate when asked to translate a whole context at once; one sentence per call, with
a few short examples and the vocabulary built so far, keeps them on track.  Each sentence gets ``k``
samples; a sample that does not parse is sent back once with the parser's message for repair.

Everything a model sees is rendered by the pure function :func:`render_prompt`, and every request is
recorded in the trace.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.agents.examples import Example, ExampleBank, shape
from thinkgraph.agents.faithfulness import faithfulness_issues
from thinkgraph.agents.prompts import FOL_GRAMMAR, SYSTEM_PROMPT, render_prompt, render_repair
from thinkgraph.agents.vocab import Vocab, constant_key, predicate_key
from thinkgraph.llm.base import ChatModel, ChatRequest, ModelError, ModelUnavailable, capabilities_of
from thinkgraph.logic.fol import Atom, Const, FOLParseError, ForAll, Formula, Func, Var, parse, to_unicode, vocabulary
from thinkgraph.logic.records import TranslationSample
from thinkgraph.messages import ChatMessage

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


SampleResult = TranslationSample  # the earlier name


class TranslatorConfig(BaseModel):
    """How sentences are translated.  Validated: a misspelt or out-of-range setting raises at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(default=3, ge=1, le=64, description="samples per sentence")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0, description="temperature of the non-greedy samples")
    greedy_first: bool = Field(default=True, description="the first sample is greedy (temperature 0)")
    fixed_examples: bool = Field(default=False, description="every example as a fixed, cacheable prompt prefix")
    nearest_examples: int = Field(default=3, ge=0, le=32, description="examples nearest in shape per sentence")
    example_selection: Literal["shape", "embedding", "both"] = Field(
        default="shape",
        description="rank examples by sentence shape, by embedding similarity, or by both (summed)",
    )
    example_store: str | None = Field(
        default=None, description="a memory folder of verified formalizations to draw examples from too"
    )
    embedder: str = Field(default="default", description="the embedder spec for embedding selection")
    vocabulary_hint: bool = Field(default=False, description="list predicates used so far (hurt a 1.5B model)")
    use_grammar: bool = Field(default=True, description="constrain output with the GBNF grammar of the notation")
    repair: bool = Field(default=True, description="send a rejected sample back with the reason")
    repair_turns: int = Field(default=1, ge=1, le=4, description="repair turns per rejected sample")
    repair_faithfulness: bool = Field(
        default=True,
        description="a formula that fails the faithfulness checks (polarity, a predicate the sentence does not "
        "name, e.g. True(x)) goes back to the model with the issue, like a parse error",
    )
    max_tokens: int = Field(default=96, ge=1, le=4096)
    seed: int = 0


class SentenceTranslator:
    """Translates sentences one at a time with ``k`` samples each; parse failures get one repair turn."""

    def __init__(self, model: ChatModel, config: TranslatorConfig | None = None, bank: ExampleBank | None = None):
        self.model = model
        self.config = config or TranslatorConfig()
        self.bank = bank or ExampleBank.default()
        self._retriever: Any = None
        # a backend that cannot constrain decoding (api.openai.com) gets plain requests: the parser and
        # its repair turn still catch malformed formulas
        self.grammar_supported = "grammar" in capabilities_of(model)

    def _request(self, messages: list[ChatMessage], n: int, temperature: float, seed: int) -> ChatRequest:
        c = self.config
        return ChatRequest(
            messages=tuple(messages),
            n=n,
            temperature=temperature,
            max_tokens=c.max_tokens,
            stop=("\n",),
            seed=seed,
            grammar=FOL_GRAMMAR if c.use_grammar and self.grammar_supported else None,
        )

    def _uses_memory(self) -> bool:
        return self.config.example_selection != "shape" or self.config.example_store is not None

    def select_examples(self, sentence: str) -> list[Example]:
        """The few-shot examples for ``sentence``: by shape from the bank (the default), or retrieved
        (:mod:`thinkgraph.memory.examples`) when the config names an embedding selection or a store."""
        c = self.config
        if not self._uses_memory():
            return self.bank.select(sentence, c.nearest_examples)
        if self._retriever is None:
            from thinkgraph.memory.examples import shared_retriever

            self._retriever = shared_retriever(self.bank, c.example_selection, c.embedder, c.example_store)
        return list(self._retriever.select(sentence, c.nearest_examples))

    async def translate(self, sentence: str, known: Sequence[str] = ()) -> list[TranslationSample]:
        c = self.config
        fixed = self.bank.examples if c.fixed_examples else []
        known = known if c.vocabulary_hint else ()
        if self._uses_memory():  # an embedding model call: off the event loop
            nearest = await asyncio.to_thread(self.select_examples, sentence)
        else:
            nearest = self.select_examples(sentence)
        messages = render_prompt(sentence, fixed, nearest, known)
        requests = []
        if c.greedy_first:
            requests.append(self._request(messages, 1, 0.0, c.seed))
        rest = c.samples - len(requests)
        if rest > 0:
            requests.append(self._request(messages, rest, c.temperature, c.seed + 1))
        responses = await asyncio.gather(*[self.model.chat(r) for r in requests])
        raws = [text for resp in responses for text in resp.texts]
        results = [self._check(i, raw, sentence) for i, raw in enumerate(raws)]
        if c.repair:
            repaired = await asyncio.gather(*[self._repair(messages, r, sentence) for r in results])
            results = list(repaired)
        return results

    def _check(self, index: int, raw: str, sentence: str = "") -> TranslationSample:
        text = extract_formula(raw)
        try:
            formula = to_unicode(check_formula(text))
        except FOLParseError as err:
            return TranslationSample(index=index, raw=raw, error=err.feedback())
        issues: tuple[str, ...] = ()
        if sentence and self.config.repair_faithfulness:
            issues = tuple(faithfulness_issues(sentence, formula))
        return TranslationSample(index=index, raw=raw, formula=formula, issues=issues)

    @staticmethod
    def _feedback(result: TranslationSample) -> str:
        if result.error is not None:
            return result.error
        return f"The formula {result.formula} does not fit the sentence: {'; '.join(result.issues)}."

    async def _repair(self, messages: list[ChatMessage], result: TranslationSample, sentence: str) -> TranslationSample:
        """``result`` itself when it parsed and passed the faithfulness checks; else the outcome of up to
        ``repair_turns`` turns, each sending the last rejected output back with the reason.  A parsed formula is
        replaced only by one with fewer faithfulness issues (a repair never makes a sample worse)."""
        best = result
        current = result
        turns = self.config.repair_turns
        for turn in range(1, turns + 1):
            if best.error is None and not best.issues:
                break
            request = self._request(
                render_repair(messages, current.raw, self._feedback(current)), 1, 0.0, self.config.seed + turn - 1
            )
            try:
                response = await self.model.chat(request)
            except ModelUnavailable:
                raise  # a set-up failure, not a bad sample
            except ModelError as exc:
                if best.error is not None:
                    return best.model_copy(update={"error": f"{best.error} (repair failed: {exc})"})
                return best
            current = self._check(result.index, response.texts[0], sentence)
            if current.formula is None:
                continue
            if best.formula is None or len(current.issues) < len(best.issues):
                best = result.model_copy(
                    update={"formula": current.formula, "error": None, "repaired": True, "issues": current.issues}
                )
        if best.formula is None:
            n = "one repair" if turns == 1 else f"{turns} repairs"
            return best.model_copy(update={"error": f"{current.error or best.error} (after {n})"})
        return best


def majority(formulas: Sequence[str | None]) -> tuple[str | None, float]:
    """The most common parsed formula and its share of all samples (failures count against it)."""
    counts = Counter(f for f in formulas if f is not None)
    if not counts:
        return None, 0.0
    best, n = counts.most_common(1)[0]
    return best, n / len(formulas)


__all__ = [
    "FOL_GRAMMAR",
    "SYSTEM_PROMPT",
    "Atom",
    "Const",
    "Example",
    "ExampleBank",
    "ForAll",
    "Formula",
    "Func",
    "SampleResult",
    "SentenceTranslator",
    "TranslationSample",
    "TranslatorConfig",
    "Var",
    "Vocab",
    "check_formula",
    "constant_key",
    "extract_formula",
    "faithfulness_issues",
    "majority",
    "parse",
    "predicate_key",
    "render_prompt",
    "render_repair",
    "shape",
    "vocabulary",
]
