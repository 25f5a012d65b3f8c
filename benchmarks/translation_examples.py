"""Few-shot example selection for the translator: sentence shape vs embedding retrieval vs both.

    python benchmarks/translation_examples.py --proofwriter DEV.json --folio FOLIO.jsonl \
        [--model local] [--per-dataset 30] [--cache runs/translate-cache.sqlite]

Each sentence is translated once (the greedy sample, as the first of LINC's samples is) with its three
examples chosen each way, and the formula is checked against a gold formula with Z3:

* ProofWriter: gold from a translator of ProofWriter's sentence grammar (below; its labels were read by
  hand); a formula is **correct** when it is logically equivalent to the gold one with names matched the
  way LINC matches them (case, plural, 'the'; :func:`~thinkgraph.agents.vocab.predicate_key`).
* FOLIO: gold from the annotations (``premises-FOL``); FOLIO's names are the annotator's choice, so a
  formula is **correct** when it is equivalent to the gold one **up to renaming** (some arity-preserving
  one-to-one renaming of its predicates and constants makes them equivalent).

ProofWriter sentences are taken from problems 100+ (the LINC evaluation uses the first 20): every rule,
every negated fact and the question, until ``--per-dataset``; FOLIO: distinct sentences in file order.
Last line: one JSON object with each method's correct count per dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from thinkgraph.agents.formalize import split_sentences
from thinkgraph.agents.translator import SentenceTranslator, TranslatorConfig, check_formula
from thinkgraph.agents.vocab import constant_key, predicate_key
from thinkgraph.llm import load_model
from thinkgraph.logic import fol
from thinkgraph.logic.fol import Atom, Const, Formula, Func, Var, parse, to_unicode, vocabulary
from thinkgraph.provers.z3 import Z3Prover

METHODS = ("shape", "embedding", "both")

# -- ProofWriter's grammar → gold formulas -----------------------------------------------------------
_SUBJ = r"(?P<s>something|someone|it|they|(?:the )?[a-z]+(?: [a-z]+)??)"
_ADJ = re.compile(rf"^{_SUBJ} (?:is|are) (?P<neg>not )?(?P<adj>[a-z]+)$")
_REL = re.compile(rf"^{_SUBJ} (?P<neg>does not |do not )?(?P<verb>[a-z]+) (?P<o>(?:the )?[a-z]+(?: [a-z]+)?)$")
_VERBS = {"chase", "eat", "see", "need", "like", "visit"}


def _term(text: str) -> str:
    text = text.removeprefix("the ").strip()
    return "x" if text in ("something", "someone", "it", "they") else text.replace(" ", "_")


def _clause(text: str) -> str | None:
    m = _ADJ.match(text)
    if m:
        return f"{'¬' if m['neg'] else ''}{m['adj'].capitalize()}({_term(m['s'])})"
    m = _REL.match(text)
    if m:
        verb = m["verb"] if m["neg"] else m["verb"].removesuffix("s")
        if verb not in _VERBS:
            return None
        pred = verb.capitalize() + "s"
        return f"{'¬' if m['neg'] else ''}{pred}({_term(m['s'])}, {_term(m['o'])})"
    return None


def proofwriter_gold(sentence: str) -> str | None:
    """The formula of a ProofWriter sentence, or None outside the grammar this knows."""
    s = sentence.strip().rstrip(".").lower()
    m = re.match(r"^if (.+) then (.+)$", s)
    if m:
        conds = [_clause(c.strip()) for c in m[1].split(" and ")]
        head = _clause(m[2].strip())
        if head is None or any(c is None for c in conds):
            return None
        body = " ∧ ".join(c for c in conds if c)
        f = f"({body}) → {head}" if len(conds) > 1 else f"{body} → {head}"
        return f"∀x ({f})" if "(x" in f or "x)" in f else f
    m = re.match(r"^(?:all )?([a-z]+(?:, [a-z]+)*) (?:things|people) are (not )?([a-z]+)$", s)
    if m:
        adjs = [a.strip().capitalize() + "(x)" for a in m[1].split(",")]
        body = " ∧ ".join(adjs)
        body = f"({body})" if len(adjs) > 1 else body
        return f"∀x ({body} → {'¬' if m[2] else ''}{m[3].capitalize()}(x))"
    if s.startswith(("all ", "if ")):
        return None
    return _clause(s)


def proofwriter_sentences(path: Path, limit: int) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for rec in json.loads(path.read_text())[100:]:
        question = re.sub(r"^.*\? ", "", rec["question"]).strip()
        for s in [*split_sentences(rec["context"]), question]:
            wanted = s.startswith(("If ", "All ")) or " things are " in s or " people are " in s
            wanted = wanted or " not " in s or s == question
            gold = proofwriter_gold(s)
            if wanted and gold and s not in seen:
                seen.add(s)
                out.append((rec["id"], s, gold))
            if len(out) >= limit:
                return out
    return out


def folio_sentences(path: Path, limit: int) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text().splitlines()):
        rec = json.loads(line)
        if len(rec["premises"]) != len(rec["premises-FOL"]):
            continue  # a record whose sentences and formulas are not aligned
        pairs = list(zip(rec["premises"], rec["premises-FOL"], strict=True))
        pairs.append((rec["conclusion"], rec["conclusion-FOL"]))
        for s, f in pairs:
            s = s.strip()
            try:
                parse(f, and_or="right")
            except fol.FOLParseError:
                continue
            if s not in seen:
                seen.add(s)
                out.append((f"folio-{n}", s, f))
            if len(out) >= limit:
                return out
    return out


# -- equivalence -------------------------------------------------------------------------------------
def _rename(f: Formula, preds: dict[tuple[str, int], str], consts: dict[str, str]) -> Formula:
    def term(t: Var | Const | Func) -> Var | Const | Func:
        if isinstance(t, Const):
            return Const(consts.get(t.name, t.name))
        if isinstance(t, Func):
            return Func(t.name, tuple(term(a) for a in t.args))
        return t

    return fol.map_atoms(
        f, lambda a: Atom(preds.get((a.pred, len(a.args)), a.pred), tuple(term(t) for t in a.args)), term
    )


def _equivalent(prover: Z3Prover, a: Formula, b: Formula) -> bool:
    try:
        one = prover.entails([a], b)
        two = prover.entails([b], a)
    except Exception:
        return False
    return one.label == "True" and two.label == "True" and not one.timed_out and not two.timed_out


def equivalent_by_keys(prover: Z3Prover, cand: Formula, gold: Formula) -> bool:
    """Equivalent once names are matched as LINC matches them (case, plural, 'the', underscores)."""
    gv, cv = vocabulary([gold]), vocabulary([cand])
    gp = {(predicate_key(n), a): n for n, a in gv.predicates}
    gc = {constant_key(c): c for c in gv.constants}
    preds = {(n, a): gp.get((predicate_key(n), a), n) for n, a in cv.predicates}
    consts = {c: gc.get(constant_key(c), c) for c in cv.constants}
    return _equivalent(prover, _rename(cand, preds, consts), gold)


def equivalent_up_to_renaming(prover: Z3Prover, cand: Formula, gold: Formula, limit: int = 400) -> bool:
    """Equivalent under some arity-preserving one-to-one renaming of predicates and constants."""
    gv, cv = vocabulary([gold]), vocabulary([cand])
    arities = sorted({a for _, a in gv.predicates} | {a for _, a in cv.predicates})
    groups = []
    for a in arities:
        g = sorted(n for n, x in gv.predicates if x == a)
        c = sorted(n for n, x in cv.predicates if x == a)
        if len(g) != len(c):
            return False
        groups.append((a, c, g))
    gconst, cconst = sorted(gv.constants), sorted(cv.constants)
    if len(gconst) != len(cconst):
        return False
    pred_maps = itertools.product(
        *[[list(zip(c, p, strict=True)) for p in itertools.permutations(g)] for _, c, g in groups]
    )
    tried = 0
    for combo in pred_maps:
        preds = {(cn, a): gn for (a, _, _), pairs in zip(groups, combo, strict=True) for cn, gn in pairs}
        for perm in itertools.permutations(gconst):
            consts = dict(zip(cconst, perm, strict=True))
            if _equivalent(prover, _rename(cand, preds, consts), gold):
                return True
            tried += 1
            if tried >= limit:
                return False
    return False


async def translate_all(model: Any, sentences: list[str], method: str) -> list[str | None]:
    config = TranslatorConfig(samples=1, example_selection=method)  # type: ignore[arg-type]
    translator = SentenceTranslator(model, config)
    out: list[str | None] = []
    for n, s in enumerate(sentences):
        start = time.perf_counter()
        samples = await translator.translate(s)
        out.append(samples[0].formula)
        print(
            f"  [{method} {n + 1}/{len(sentences)}] {time.perf_counter() - start:.1f}s {s} ⇒ {samples[0].formula}",
            file=sys.stderr,
            flush=True,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--proofwriter", type=Path, required=True)
    ap.add_argument("--folio", type=Path, required=True)
    ap.add_argument("--model", default="local")
    ap.add_argument("--per-dataset", type=int, default=30)
    ap.add_argument("--cache", help="a sample cache: a rerun sends no request")
    ap.add_argument("--rows", type=Path, help="write one JSON line per sentence and method here")
    args = ap.parse_args()

    model = load_model(args.model, cache=args.cache)
    prover = Z3Prover(timeout_s=5, countermodels=False)
    datasets = {
        "proofwriter": proofwriter_sentences(args.proofwriter, args.per_dataset),
        "folio": folio_sentences(args.folio, args.per_dataset),
    }
    result: dict[str, Any] = {"model": args.model, "sentences": {k: len(v) for k, v in datasets.items()}}
    rows = []
    start = time.perf_counter()
    for name, items in datasets.items():
        sentences = [s for _, s, _ in items]
        for method in METHODS:
            formulas = asyncio.run(translate_all(model, sentences, method))
            strict = renamed = 0
            for (pid, s, g), f in zip(items, formulas, strict=True):
                gold = parse(g, and_or="right")
                cand = check_formula(f) if f else None
                ok_keys = cand is not None and equivalent_by_keys(prover, cand, gold)
                ok_ren = ok_keys or (cand is not None and equivalent_up_to_renaming(prover, cand, gold))
                strict += ok_keys
                renamed += ok_ren
                rows.append(
                    {
                        "dataset": name,
                        "id": pid,
                        "sentence": s,
                        "gold": to_unicode(gold),
                        "method": method,
                        "formula": f,
                        "correct_names": ok_keys,
                        "correct_renamed": ok_ren,
                    }
                )
            result[f"{name}_{method}_correct"] = strict if name == "proofwriter" else renamed
            result[f"{name}_{method}_correct_names"] = strict
            result[f"{name}_{method}_correct_renamed"] = renamed
    for method in METHODS:
        result[f"total_{method}_correct"] = sum(result[f"{d}_{method}_correct"] for d in datasets)
    result["total_sentences"] = sum(len(v) for v in datasets.values())
    result["seconds"] = round(time.perf_counter() - start, 1)
    if args.rows:
        args.rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
