"""From translated samples to formalizations: per-sample programs and the per-sentence consensus.

Pure functions: they build new records and never change what they are given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from thinkgraph.agents.translator import SentenceTranslator, Vocab, majority
from thinkgraph.logic.fol import parse, to_unicode, vocabulary
from thinkgraph.logic.records import (
    CONSENSUS,
    Formalization,
    Predicate,
    Problem,
    ProvedSample,
    SentenceFormula,
    SentenceTranslations,
    Translations,
)

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (on ., ! or ? followed by a capitalised word)."""
    return [s.strip() for s in _SENT.split(text.strip()) if s.strip()]


async def translate_problem(problem: Problem, translator: SentenceTranslator) -> Translations:
    """Samples for each premise, then the conclusion (last).  Sentences go in order, so with
    ``vocabulary_hint`` the names the first parsed sample used so far are offered to the next sentence."""
    hint = translator.config.vocabulary_hint
    vocab = Vocab()
    out: list[SentenceTranslations] = []
    for sentence in [*problem.premises, problem.conclusion]:
        results = await translator.translate(sentence, vocab.predicate_names())
        first = next((r.formula for r in results if r.formula is not None), None)
        if hint and first is not None:
            vocab.align(parse(first))
        out.append(SentenceTranslations(sentence=sentence, samples=tuple(results)))
    return Translations(sentences=tuple(out))


def build_formalizations(
    problem: Problem, translations: Translations | Sequence[SentenceTranslations], mode: str = "program"
) -> list[ProvedSample]:
    """One formalization per sample; with ``sentence`` voting, first a consensus formalization made of
    each sentence's majority formula (sample index ``CONSENSUS``).  All share one vocabulary: names
    differing only in case, plural or 'the' are merged.  Nothing is proved yet (no verdicts)."""
    per_sentence = translations.sentences if isinstance(translations, Translations) else tuple(translations)
    sentences = [*problem.premises, problem.conclusion]
    if len(per_sentence) != len(sentences):
        raise ValueError(f"{len(per_sentence)} translated sentences for a problem of {len(sentences)} sentences")
    vocab = Vocab()
    aligned: list[list[str | None]] = []
    for st in per_sentence:
        row: list[str | None] = []
        for r in st.samples:
            row.append(to_unicode(vocab.align(parse(r.formula))) if r.formula is not None else None)
        aligned.append(row)
    k = max((len(row) for row in aligned), default=0)
    programs: list[tuple[int, list[str | None]]] = [
        (i, [row[i] if i < len(row) else None for row in aligned]) for i in range(k)
    ]
    shares: tuple[float, ...] = ()
    repaired: tuple[bool, ...] = ()
    if mode == "sentence":
        votes = [majority(row) for row in aligned]
        shares = tuple(share for _, share in votes)
        repaired = tuple(
            any(f == best and r.repaired for f, r in zip(row, st.samples, strict=True))
            for row, st, (best, _) in zip(aligned, per_sentence, votes, strict=True)
        )
        programs.insert(0, (CONSENSUS, [formula for formula, _ in votes]))
    outcomes = []
    for i, program in programs:
        agreement = shares if i == CONSENSUS else ()
        fixed = repaired if i == CONSENSUS else ()
        missing = [j for j, f in enumerate(program) if f is None]
        if missing:
            j = missing[0]
            err = next((r.error for r in per_sentence[j].samples if r.error), "no formula")
            failure = f"sentence {j + 1} ({sentences[j]!r}) not formalized: {err}"
            outcomes.append(
                ProvedSample(
                    sample=i, formalization=None, failure=failure, sentence_agreement=agreement, sentence_repaired=fixed
                )
            )
            continue
        formulas = [f for f in program if f is not None]
        outcomes.append(
            ProvedSample(
                sample=i,
                formalization=_formalization(sentences, formulas, i),
                sentence_agreement=agreement,
                sentence_repaired=fixed,
            )
        )
    return outcomes


def _formalization(sentences: Sequence[str], formulas: Sequence[str], sample: int) -> Formalization:
    parsed = [parse(f) for f in formulas]
    voc = vocabulary(parsed)
    items = [
        SentenceFormula(index=j, sentence=s, formula=f)
        for j, (s, f) in enumerate(zip(sentences, formulas, strict=True))
    ]
    concl = items[-1].model_copy(update={"index": -1})
    return Formalization(
        premises=tuple(items[:-1]),
        conclusion=concl,
        predicates=tuple(Predicate(name=n, arity=a) for n, a in sorted(voc.predicates)),
        constants=tuple(sorted(voc.constants)),
        sample=sample,
    )


__all__ = ["build_formalizations", "split_sentences", "translate_problem"]
