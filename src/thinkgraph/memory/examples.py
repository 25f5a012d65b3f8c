"""Few-shot examples for the translator, retrieved from a memory.

:class:`RetrievedExamples` selects the ``k`` examples for a sentence from two sources: the shipped
example bank (embedded once; the vectors are cached) and, optionally, a store of formalizations that
the user's own runs *verified* (:func:`remember_formalization` adds them; nothing unverified goes in).
Three ways to rank them (``TranslatorConfig.example_selection``):

* ``shape`` — today's sentence-shape similarity (:func:`thinkgraph.agents.examples.shape`), no embedder;
* ``embedding`` — cosine similarity of sentence embeddings;
* ``both`` — the sum of the two scores (shape similarity and cosine similarity, each in [0, 1]).

The most similar example goes last, nearest the question, as :meth:`ExampleBank.select` does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from thinkgraph.agents.examples import Example, ExampleBank, shape_similarity
from thinkgraph.logic.records import Formalization
from thinkgraph.memory.base import Hit, Item, Memory
from thinkgraph.memory.embed import Embedder, load_embedder, shared_embedder

if TYPE_CHECKING:
    import numpy as np

Selection = Literal["shape", "embedding", "both"]
FORMALIZATION = "formalization"  # the metadata kind of remembered sentence → formula pairs


class RetrievedExamples:
    """Examples for a sentence from the bank and a store of verified formalizations (see the module)."""

    def __init__(
        self,
        bank: ExampleBank,
        selection: Selection = "embedding",
        embedder: Embedder | str = "default",
        store: Memory | None = None,
        *,
        store_candidates: int = 8,
    ):
        self.bank = bank
        self.selection = selection
        self._embedder_arg = embedder
        self._embedder: Embedder | None = None
        self.store = store
        self.store_candidates = store_candidates
        self._bank_vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self._embedder_arg)
        return self._embedder

    def _bank_matrix(self) -> np.ndarray:
        with self._lock:
            if self._bank_vectors is None:
                self._bank_vectors = self.embedder.embed([e.sentence for e in self.bank.examples])
            return self._bank_vectors

    def candidates(self, sentence: str) -> list[tuple[Example, float, float]]:
        """Every bank example and the nearest stored formalizations, each with (shape, cosine) scores."""
        out: list[tuple[Example, float, float]] = []
        need_cos = self.selection != "shape"
        cos: Sequence[float] = [0.0] * len(self.bank.examples)
        query = None
        if need_cos:
            query = self.embedder.embed([sentence])
            cos = (self._bank_matrix() @ query[0]).tolist()
        for ex, c in zip(self.bank.examples, cos, strict=True):
            out.append((ex, shape_similarity(sentence, ex.sentence), max(float(c), 0.0)))
        if self.store is not None and len(self.store) > 0:
            own = getattr(self.store, "embedder", None)
            if own is None and query is None:
                return out
            # by vector when the store's vectors come from the same embedder, else by text (its own)
            same = own is None or (query is not None and own.spec == self.embedder.spec)
            q = query[0] if query is not None and same else sentence
            hits: list[Hit] = self.store.search(q, k=self.store_candidates, where={"kind": FORMALIZATION})
            seen = {e.sentence for e in self.bank.examples}
            for h in hits:
                formula = h.metadata.get("formula")
                if isinstance(formula, str) and h.text not in seen and h.text != sentence:
                    seen.add(h.text)
                    out.append((Example(h.text, formula), shape_similarity(sentence, h.text), max(h.score, 0.0)))
        return out

    def select(self, sentence: str, k: int) -> list[Example]:
        """The ``k`` best examples for ``sentence``, most similar last."""
        if k <= 0:
            return []

        def score(c: tuple[Example, float, float]) -> float:
            _, s, e = c
            return {"shape": s, "embedding": e, "both": s + e}[self.selection]

        ranked = sorted(self.candidates(sentence), key=score, reverse=True)[:k]
        return [ex for ex, _, _ in reversed(ranked)]


_SHARED: dict[tuple[object, ...], RetrievedExamples] = {}
_SHARED_LOCK = threading.Lock()


def shared_retriever(
    bank: ExampleBank, selection: Selection, embedder: str, store_path: str | None
) -> RetrievedExamples:
    """One retriever per (bank, selection, embedder, store) in a process, so the embedding model loads
    once and the bank is embedded once however many translators are made."""
    key = (tuple(bank.examples), selection, embedder, store_path)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            from thinkgraph.memory import open_memory

            store = None
            if store_path:
                from thinkgraph.memory import stored_embedder

                store = open_memory(store_path, shared_embedder(stored_embedder(store_path) or embedder))
            found = _SHARED[key] = RetrievedExamples(bank, selection, shared_embedder(embedder), store)
        return found


def _formalization_item(sentence: str, formula: str, run_id: str, problem_id: str) -> Item:
    import hashlib

    ident = "fml-" + hashlib.sha256(" ".join(sentence.split()).encode()).hexdigest()[:24]
    meta = {"kind": FORMALIZATION, "formula": formula, "verified": True, "run_id": run_id, "problem_id": problem_id}
    return Item(sentence, meta, ident)


def remember_formalization(
    store: Memory, sentence: str, formula: str, *, run_id: str = "", problem_id: str = ""
) -> str:
    """Add one verified sentence → formula pair.  Its id comes from the sentence, so a sentence is stored
    once and a later verified formula replaces the earlier."""
    return store.add([_formalization_item(sentence, formula, run_id, problem_id)])[0]


def remember_formalizations(
    store: Memory, formalization: Formalization, *, run_id: str = "", problem_id: str = ""
) -> list[str]:
    """Add every sentence → formula pair of a formalization whose answer was *verified* (one batch).
    The caller checks the verification: :meth:`EpisodicMemory.remember` and ``memory.remember`` do."""
    pairs = {s.sentence: s.formula for s in (*formalization.premises, formalization.conclusion)}
    return store.add([_formalization_item(s, f, run_id, problem_id) for s, f in pairs.items()])


__all__ = [
    "FORMALIZATION",
    "RetrievedExamples",
    "Selection",
    "remember_formalization",
    "remember_formalizations",
    "shared_retriever",
]
