"""Few-shot examples for the translator and their selection by sentence *shape*.

Selection by meaning (sentence embeddings), and examples from the user's verified runs, live in
:mod:`thinkgraph.memory.examples`; :class:`~thinkgraph.agents.translator.TranslatorConfig` chooses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources


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
        best = sorted(self.examples, key=lambda e: _similarity(query, shape(e.sentence)), reverse=True)[:k]
        return list(reversed(best))


def _similarity(query: set[str], feats: set[str]) -> float:
    same_polarity = ("positive" in feats) == ("positive" in query)
    return len(query & feats) / (len(query | feats) or 1) * (1.0 if same_polarity else 0.2)


def shape_similarity(sentence: str, other: str) -> float:
    """How alike two sentences are in shape, 0..1: the Jaccard similarity of their :func:`shape`
    features, a fifth of it when one is negative and the other is not."""
    return _similarity(shape(sentence), shape(other))
