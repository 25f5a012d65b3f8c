"""Answer extractors: the final answer a sampled solution names, normalised so that equal answers compare
equal (self-consistency votes over them).  An extractor is any ``fn(text) -> str | None`` (None: no answer).

* :func:`extract_number` — GSM8K style: the number after ``####`` or ``Answer:``, else the last number;
  ``1,000`` → ``1000``, ``3.50`` → ``3.5``, ``$7`` → ``7``;
* :func:`extract_choice` — an option letter: ``Answer: (B)``, ``the answer is C``, else a lone last letter;
* :func:`extract_label` — True / False / Uncertain (``Unknown`` is ``Uncertain``);
* :func:`extract_yes_no` — yes / no;
* :func:`extract_answer_line` — whatever follows the last ``Answer:`` (a number normalised as a number).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

Extractor = Callable[[str], str | None]

_NUMBER = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_MARKED = re.compile(r"(?:####|answer\s*(?:is)?\s*[:=]?)\s*\**\s*(-?\$?\s?\d[\d,]*(?:\.\d+)?(?:/\d+)?)", re.I)
_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:\-]\s*\**\s*(.+)", re.I)
_CHOICE_MARKED = re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*\**\s*\(?([A-Ha-h])\)?(?![A-Za-z])")
_CHOICE_LONE = re.compile(r"(?<![A-Za-z])\(?([A-H])\)?(?![A-Za-z])")
_LABEL = re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*\**\s*(true|false|uncertain|unknown)", re.I)
_LABEL_ANY = re.compile(r"\b(true|false|uncertain|unknown)\b", re.I)
_YES_NO = re.compile(r"\b(yes|no)\b", re.I)


def normalise_number(raw: str) -> str | None:
    """``"1,000"`` → ``"1000"``, ``"3.50"`` → ``"3.5"``, ``"-$4"`` → ``"-4"``, ``"6/4"`` → ``"3/2"``."""
    text = raw.replace(",", "").replace("$", "").replace(" ", "").strip().rstrip(".")
    if not text:
        return None
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    if "/" in text:
        return f"{value.numerator}/{value.denominator}"
    return format(float(value), ".10g")


def extract_number(text: str) -> str | None:
    marked = _MARKED.findall(text)
    if marked:
        return normalise_number(marked[-1])
    found = _NUMBER.findall(text)
    return normalise_number(found[-1]) if found else None


def extract_choice(text: str) -> str | None:
    marked = _CHOICE_MARKED.findall(text)
    if marked:
        return marked[-1].upper()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if lines:
        lone = _CHOICE_LONE.findall(lines[-1])
        if len(lone) == 1:
            return lone[0]
    return None


def _label(word: str) -> str:
    w = word.lower()
    return {"true": "True", "false": "False"}.get(w, "Uncertain")


def extract_label(text: str) -> str | None:
    marked = _LABEL.findall(text)
    if marked:
        return _label(marked[-1])
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    found = _LABEL_ANY.findall(lines[-1]) if lines else []
    return _label(found[-1]) if found else None


def extract_yes_no(text: str) -> str | None:
    marked = _ANSWER_LINE.findall(text)
    source = marked[-1] if marked else text
    found = _YES_NO.findall(source)
    return found[-1].lower() if found else None


def extract_answer_line(text: str) -> str | None:
    found = _ANSWER_LINE.findall(text)
    if not found:
        return None
    value = found[-1].strip().strip("*.").strip()
    if not value:
        return None
    if _NUMBER.fullmatch(value):
        return normalise_number(value)
    return value.lower()


EXTRACTORS: dict[str, Extractor] = {
    "number": extract_number,
    "choice": extract_choice,
    "label": extract_label,
    "yesno": extract_yes_no,
    "answer_line": extract_answer_line,
}


def extractor_named(name: str) -> Extractor:
    """An extractor by name: number, choice, label, yesno or answer_line."""
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ValueError(f"unknown answer extractor {name!r}; choose from {', '.join(EXTRACTORS)}") from None


__all__ = [
    "EXTRACTORS",
    "Extractor",
    "extract_answer_line",
    "extract_choice",
    "extract_label",
    "extract_number",
    "extract_yes_no",
    "extractor_named",
    "normalise_number",
]
