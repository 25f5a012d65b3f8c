"""Prove FOLIO-format records from their gold formulas — no model involved.

For each record: parse every formula (repairing only what a general rule can: unmatched closing
parentheses at the end), prove with Z3 and, when available, Prover9, and compare with the label.
Mixed ∧/∨ without parentheses is read the way ``and_or`` says (FOLIO's annotators write English
"A and B or C" as ``A ∧ B ∨ C`` meaning ``A ∧ (B ∨ C)``, hence the default ``right``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.evals.datasets import FolioRecord, load_folio
from thinkgraph.logic.fol import FOLParseError, Formula, parse_lenient
from thinkgraph.messages import Verdict
from thinkgraph.provers import Prover, Z3Prover


@dataclass
class RecordResult:
    line: int
    gold: str | None
    verdict: Verdict | None = None
    parse_error: str = ""
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    second: Verdict | None = None

    @property
    def correct(self) -> bool:
        return self.verdict is not None and self.verdict.label == self.gold

    @property
    def agree(self) -> bool | None:
        if self.verdict is None or self.second is None:
            return None
        return self.verdict.label == self.second.label

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "gold": self.gold,
            "z3": self.verdict.label if self.verdict else None,
            "correct": self.correct,
            "parse_error": self.parse_error or None,
            "repairs": self.repairs,
            "warnings": self.warnings,
            "prover9": self.second.label if self.second else None,
            "timed_out": bool(self.verdict and self.verdict.timed_out),
            "inconsistent": bool(self.verdict and self.verdict.inconsistent_premises),
        }


def _parse_all(rec: FolioRecord, and_or: str) -> tuple[list[Formula], Formula, list[str]]:
    repairs: list[str] = []
    premises = []
    for i, text in enumerate(rec.premises_fol):
        try:
            f, fixes = parse_lenient(text, and_or=and_or)
        except FOLParseError as err:
            raise FOLParseError(f"premise {i + 1}: {err.message}", err.text, err.position, err.code) from err
        premises.append(f)
        repairs += [f"premise {i + 1}: {r}" for r in fixes]
    try:
        goal, fixes = parse_lenient(rec.conclusion_fol, and_or=and_or)
    except FOLParseError as err:
        raise FOLParseError(f"conclusion: {err.message}", err.text, err.position, err.code) from err
    repairs += [f"conclusion: {r}" for r in fixes]
    return premises, goal, repairs


def check_records(
    records: Iterable[FolioRecord],
    prover: Prover | None = None,
    second: Prover | None = None,
    and_or: str = "right",
    on_result: Callable[[RecordResult], None] | None = None,
) -> list[RecordResult]:
    prover = prover or Z3Prover(timeout_s=5.0, countermodels=False)
    results = []
    for rec in records:
        res = RecordResult(line=rec.line, gold=rec.label, warnings=list(rec.problems))
        try:
            premises, goal, res.repairs = _parse_all(rec, and_or)
        except FOLParseError as err:
            res.parse_error = str(err)
        else:
            res.verdict = prover.entails(premises, goal)
            if second is not None:
                res.second = second.entails(premises, goal)
        results.append(res)
        if on_result:
            on_result(res)
    return results


def summary(results: list[RecordResult], seconds: float) -> dict[str, Any]:
    n = len(results)
    parsed = sum(r.verdict is not None for r in results)
    correct = sum(r.correct for r in results)
    out: dict[str, Any] = {
        "records": n,
        "parsed": parsed,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "seconds": round(seconds, 3),
        "z3_seconds": round(sum(r.verdict.seconds for r in results if r.verdict), 3),
    }
    both = [r for r in results if r.agree is not None]
    if both:
        out["prover9_checked"] = len(both)
        out["prover9_agree"] = sum(bool(r.agree) for r in both)
    return out


def run_check(
    path: str | Path, *, and_or: str = "right", use_prover9: bool = True
) -> tuple[list[RecordResult], dict[str, Any]]:
    records = load_folio(path)
    second = None
    if use_prover9:
        from thinkgraph.provers.base import ProverUnavailable

        try:
            from thinkgraph.provers.prover9 import Prover9

            second = Prover9(timeout_s=5.0)
        except ProverUnavailable:
            second = None
    start = time.perf_counter()
    results = check_records(records, second=second, and_or=and_or)
    return results, summary(results, time.perf_counter() - start)
