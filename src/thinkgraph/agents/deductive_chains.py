"""Test chains for the deductive verifier: a PrOntoQA gold proof as a sound Natural Program, and flawed copies
made by deterministic, seeded perturbations (for measuring "Deductive Verification of Chain-of-Thought
Reasoning", Ling et al., 2023, whose verifier is judged by accepting sound chains and rejecting flawed ones).

A PrOntoQA record's ``explanation`` alternates premise copies and derived steps (``Max is a yumpus.``, ``Each
yumpus is a dumpus.``, ``Max is a dumpus.``, ...).  Citations are computed by matching each sentence to the
context's premises: a derived step cites the premises listed since the previous derived step and that step.

Every flaw keeps the chain well-formed (each step cites premises or earlier steps), so only a check of meaning can
catch it:

* ``negate`` — one derived step says the opposite (``is`` ↔ ``is not``);
* ``swap_citation`` — one derived step cites an unrelated premise in place of the rule it used;
* ``replace_conclusion`` — the last step's property is replaced by another property of the context;
* ``skip_step`` — one derived step is removed, so the next one no longer follows from what it cites.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Literal

from thinkgraph.agents.natural_program import NPStep, format_natural_program
from thinkgraph.agents.strategies import content_words
from thinkgraph.logic.records import Label
from thinkgraph.messages import Record

FlawKind = Literal["negate", "swap_citation", "replace_conclusion", "skip_step"]
FLAWS: tuple[FlawKind, ...] = ("negate", "swap_citation", "replace_conclusion", "skip_step")


class TestChain(Record):
    """A chain to verify: ``kind`` is ``sound`` or the flaw; ``changed`` names the altered step (0: none)."""

    __test__ = False  # not a pytest class

    kind: Literal["sound", "negate", "swap_citation", "replace_conclusion", "skip_step"]
    premises: tuple[str, ...]
    steps: tuple[NPStep, ...]
    conclusion: str
    answer: Label
    changed: int = 0
    description: str = ""

    def text(self) -> str:
        return format_natural_program(self.steps, self.answer)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).rstrip(".").lower()


def sound_chain(premises: Sequence[str], explanation: Sequence[str], conclusion: str, answer: Label) -> TestChain:
    """The gold proof as a Natural Program.  :class:`ValueError` when a derived sentence has nothing to cite."""
    numbers: dict[str, int] = {}
    for i, p in enumerate(premises):
        numbers.setdefault(_norm(p), i + 1)
    steps: list[NPStep] = []
    pending: list[int] = []
    for sentence in explanation:
        k = numbers.get(_norm(sentence))
        if k is not None:
            pending.append(k)
            continue
        cites = ([steps[-1].number] if steps else []) + pending
        if not cites:
            raise ValueError(f"derived sentence {sentence!r} follows no premise")
        steps.append(NPStep(number=len(premises) + len(steps) + 1, cites=tuple(cites), text=sentence.strip()))
        pending = []
    if not steps:
        raise ValueError("the explanation derives nothing")
    return TestChain(kind="sound", premises=tuple(premises), steps=tuple(steps), conclusion=conclusion, answer=answer)


_NEG = [(" is not ", " is "), (" are not ", " are ")]
_POS = [(" is ", " is not "), (" are ", " are not ")]


def negated(sentence: str) -> str | None:
    """``sentence`` with its first ``is``/``are`` negated, or un-negated (None when it has neither)."""
    for old, new in _NEG + _POS:
        if old in f" {sentence} ":
            return f" {sentence} ".replace(old, new, 1).strip()
    return None


_PROPERTY = re.compile(r"^(?P<head>.*?\b(?:is|are)\s+(?:not\s+)?)(?:(?:a|an)\s+)?(?P<prop>[\w-]+)\.?$")
_ADJECTIVE = re.compile(r"\b(?P<verb>is|are)\s+(?:not\s+)?(?P<adj>[a-z][\w-]*)\.?$")


def _adjectives(premises: Sequence[str]) -> list[str]:
    """Properties named without an article (``Numpuses are sour.``; not ``Wumpuses are numpuses.``)."""
    found: list[str] = []
    for p in premises:
        m = _ADJECTIVE.search(p.strip())
        if m is None or m.group("adj") in ("a", "an", "the") or m.group("adj") in found:
            continue
        if m.group("verb") == "are" and m.group("adj").endswith("s"):
            continue  # a plural noun
        found.append(m.group("adj"))
    return found


def _rng(seed: int, kind: str, chain: TestChain) -> random.Random:
    return random.Random(f"{seed}:{kind}:{chain.conclusion}:{len(chain.steps)}")


def _replace(chain: TestChain, kind: FlawKind, index: int, step: NPStep, why: str) -> TestChain:
    steps = list(chain.steps)
    steps[index] = step
    return chain.model_copy(update={"kind": kind, "steps": tuple(steps), "changed": step.number, "description": why})


def _negate(chain: TestChain, rng: random.Random) -> TestChain | None:
    options = [i for i, s in enumerate(chain.steps) if negated(s.text) is not None]
    if not options:
        return None
    i = rng.choice(options)
    text = negated(chain.steps[i].text)
    assert text is not None
    why = f"step #{chain.steps[i].number} negated"
    return _replace(chain, "negate", i, chain.steps[i].model_copy(update={"text": text}), why)


def _swap_citation(chain: TestChain, rng: random.Random) -> TestChain | None:
    used = {k for s in chain.steps for k in s.cites}
    i = rng.randrange(len(chain.steps))
    step = chain.steps[i]
    words = content_words(step.text)
    unrelated = [k for k, p in enumerate(chain.premises, 1) if k not in used and not content_words(p) & words]
    if not unrelated:
        return None
    k = rng.choice(unrelated)
    cites = (*step.cites[:-1], k)
    why = f"step #{step.number} cites #{k} in place of #{step.cites[-1]}"
    return _replace(chain, "swap_citation", i, step.model_copy(update={"cites": cites}), why)


def _replace_conclusion(chain: TestChain, rng: random.Random) -> TestChain | None:
    last = chain.steps[-1]
    m = _PROPERTY.match(last.text.strip())
    if m is None:
        return None
    known = {**{k: p for k, p in enumerate(chain.premises, 1)}, **{s.number: s.text for s in chain.steps}}
    cited = " ".join(known.get(k, "") for k in last.cites)
    avoid = content_words(f"{last.text} {cited}")
    options = [a for a in _adjectives(chain.premises) if not content_words(a) & avoid]
    if not options:
        return None
    prop = rng.choice(options)
    text = f"{m.group('head')}{prop}."
    why = f"the last step's property {m.group('prop')!r} replaced by {prop!r}"
    return _replace(chain, "replace_conclusion", len(chain.steps) - 1, last.model_copy(update={"text": text}), why)


def _skip_step(chain: TestChain, rng: random.Random) -> TestChain | None:
    if len(chain.steps) < 2:
        return None
    j = rng.randrange(len(chain.steps) - 1)
    gone, after = chain.steps[j], chain.steps[j + 1]

    def renumber(k: int) -> int:
        return k - 1 if k > gone.number else k

    steps: list[NPStep] = []
    for i, s in enumerate(chain.steps):
        if i == j:
            continue
        cites = (gone.cites[0], *s.cites[1:]) if i == j + 1 else s.cites
        steps.append(s.model_copy(update={"number": renumber(s.number), "cites": tuple(renumber(k) for k in cites)}))
    why = f"step #{gone.number} ({gone.text!r}) skipped: {after.text!r} no longer follows"
    return chain.model_copy(
        update={"kind": "skip_step", "steps": tuple(steps), "changed": renumber(after.number), "description": why}
    )


_MAKERS = {
    "negate": _negate,
    "swap_citation": _swap_citation,
    "replace_conclusion": _replace_conclusion,
    "skip_step": _skip_step,
}


def flawed(chain: TestChain, kind: FlawKind, seed: int = 0) -> TestChain | None:
    """The sound ``chain`` with one flaw of ``kind`` (None when the chain has no room for it); the same seed gives
    the same flaw."""
    return _MAKERS[kind](chain, _rng(seed, kind, chain))


def flawed_chains(chain: TestChain, seed: int = 0) -> list[TestChain]:
    """One flawed copy per kind that applies, in the order of :data:`FLAWS`."""
    return [f for f in (flawed(chain, kind, seed) for kind in FLAWS) if f is not None]


__all__ = ["FLAWS", "FlawKind", "TestChain", "flawed", "flawed_chains", "negated", "sound_chain"]
