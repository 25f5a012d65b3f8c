"""Loaders for public benchmark files (the user supplies the path; nothing is bundled).

* FOLIO JSONL: ``premises``, ``premises-FOL``, ``conclusion``, ``conclusion-FOL``, ``label``.
* Logic-LM JSON (ProofWriter, PrOntoQA, …): a list of ``{id, context, question, options, answer}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.agents.linc import split_sentences
from thinkgraph.messages import Label, Problem


class DatasetError(ValueError):
    """A benchmark file could not be read; the message names the file and the line."""


@dataclass
class FolioRecord:
    line: int
    premises: list[str]
    premises_fol: list[str]
    conclusion: str
    conclusion_fol: str
    label: Label | None
    problems: list[str] = field(default_factory=list)

    def problem(self) -> Problem:
        return Problem(
            id=f"folio-{self.line}", premises=tuple(self.premises), conclusion=self.conclusion, gold=self.label
        )


_LABELS: dict[str, Label] = {"true": "True", "false": "False", "uncertain": "Uncertain", "unknown": "Uncertain"}


def load_folio(path: str | Path) -> list[FolioRecord]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: not JSON: {exc}") from exc
            missing = [k for k in ("premises-FOL", "conclusion-FOL") if k not in raw]
            if missing:
                raise DatasetError(f"{path}:{lineno}: missing {missing}; is this a FOLIO file?")
            label = _LABELS.get(str(raw.get("label", "")).lower())
            rec = FolioRecord(
                line=lineno,
                premises=list(raw.get("premises", [])),
                premises_fol=list(raw["premises-FOL"]),
                conclusion=str(raw.get("conclusion", "")),
                conclusion_fol=str(raw["conclusion-FOL"]),
                label=label,
            )
            if len(rec.premises) != len(rec.premises_fol):
                rec.problems.append(
                    f"{len(rec.premises)} premises but {len(rec.premises_fol)} formulas (sentence links unreliable)"
                )
            records.append(rec)
    return records


_ANSWER_LETTER: dict[str, Label] = {"A": "True", "B": "False", "C": "Uncertain"}
_QUESTION = re.compile(r"^.*?\?\s*", re.DOTALL)


def load_logiclm(path: str | Path, limit: int | None = None) -> list[Problem]:
    """ProofWriter/PrOntoQA in Logic-LM's format → problems (options A/B/C = True/False/Uncertain)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not JSON: {exc}") from exc
    problems = []
    for item in data[:limit]:
        question = _QUESTION.sub("", item["question"]).strip()
        problems.append(
            Problem(
                id=str(item["id"]),
                premises=tuple(split_sentences(item["context"])),
                conclusion=question,
                gold=_ANSWER_LETTER.get(str(item.get("answer"))),
            )
        )
    return problems
