"""Reading benchmark files (the user supplies the path; nothing is bundled), and the two original loaders.

* :func:`load_folio` — FOLIO JSONL (``premises``, ``premises-FOL``, ``conclusion``, ``conclusion-FOL``,
  ``label``) as :class:`FolioRecord` s, with their annotations, for the gold-formula checker.
* :func:`load_logiclm` — ProofWriter/PrOntoQA in Logic-LM's JSON layout as :class:`Problem` s.

Every benchmark, these two included, has a loader in :mod:`thinkgraph.evals.loaders`
(``load_dataset(name, path)``), which reports malformed records instead of stopping at them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.logic.records import Label, Problem


class DatasetError(ValueError):
    """A benchmark file could not be read; the message names the file (and the line where there is one)."""

    def __init__(self, message: str, *, path: str | Path | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.reason = reason or message


def read_text(path: str | Path) -> str:
    """The whole file as text (UTF-8, a byte-order mark dropped), or :class:`DatasetError` saying why not."""
    p = Path(path)
    try:
        if p.is_dir():
            raise DatasetError(f"{p}: is a directory, not a file", path=p, reason="is a directory, not a file")
        data = p.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{p}: no such file", path=p, reason="no such file") from None
    except (OSError, ValueError) as exc:  # permissions, a path with a NUL byte, …
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DatasetError(f"{p}: cannot read: {reason}", path=p, reason=f"cannot read: {reason}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise DatasetError(f"{p}: {reason}", path=p, reason=reason) from None


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


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where} is not a list of strings")
    return list(value)


def _folio_record(raw: Any, path: str | Path, lineno: int) -> FolioRecord:
    where = f"{path}:{lineno}"
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: not a JSON object; is this a FOLIO file?")
    missing = [k for k in ("premises-FOL", "conclusion-FOL") if k not in raw]
    if missing:
        raise DatasetError(f"{where}: missing {missing}; is this a FOLIO file?")
    if not isinstance(raw["conclusion-FOL"], str):
        raise DatasetError(f"{where}: conclusion-FOL is not a string")
    rec = FolioRecord(
        line=lineno,
        premises=_strings(raw.get("premises", []), f"{where}: premises"),
        premises_fol=_strings(raw["premises-FOL"], f"{where}: premises-FOL"),
        conclusion=str(raw.get("conclusion", "")),
        conclusion_fol=raw["conclusion-FOL"],
        label=_LABELS.get(str(raw.get("label", "")).lower()),
    )
    if len(rec.premises) != len(rec.premises_fol):
        rec.problems.append(
            f"{len(rec.premises)} premises but {len(rec.premises_fol)} formulas (sentence links unreliable)"
        )
    return rec


def load_folio(path: str | Path) -> list[FolioRecord]:
    """Every record of a FOLIO JSONL file; :class:`DatasetError` at the first line that is not a FOLIO record."""
    records = []
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            raw: Any = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DatasetError(f"{path}:{lineno}: not JSON: {exc}") from exc
        records.append(_folio_record(raw, path, lineno))
    return records


def load_logiclm(path: str | Path, limit: int | None = None) -> list[Problem]:
    """ProofWriter/PrOntoQA in Logic-LM's format → problems (options A/B/C = True/False/Uncertain);
    :class:`DatasetError` at the first malformed record."""
    from thinkgraph.evals.loaders import load_dataset

    report = load_dataset("proofwriter", path)
    if limit == 0:
        return []
    items = report.items[:limit]
    last = items[-1].line if limit is not None and len(items) == limit and items else None
    bad = [m for m in report.malformed if last is None or m.line < last]
    if bad:
        raise DatasetError(f"{path}:{bad[0].line}: {bad[0].message}")
    return [Problem.model_validate(item.input) for item in items]


__all__ = ["DatasetError", "FolioRecord", "load_folio", "load_logiclm", "read_text"]
