"""One loader per public benchmark: a user-supplied file (or directory) in the benchmark's own format becomes
:class:`~thinkgraph.evals.items.EvalItem` s, each with its workflow input, gold answer and answer type.

Every record is validated; one that cannot be used becomes a :class:`~thinkgraph.evals.items.Malformed` entry
(its 1-based line in a JSONL or CSV file, its 1-based index in a JSON list, or for a directory the 1-based
index of the file, named in the message) and loading goes on.  A file that cannot be read at all (missing,
a directory where a file is expected, not JSON, not UTF-8) raises :class:`DatasetError`.

    report = load_dataset("gsm8k", "test.jsonl")
    for m in report.malformed:
        print(f"line {m.line}: {m.message}")

=================  =====================================================  ===========
name               reads                                                  answer type
=================  =====================================================  ===========
folio              FOLIO JSONL                                            label
proofwriter        Logic-LM JSON list (A/B/C = True/False/Unknown)        label
prontoqa           Logic-LM JSON list (A/B = True/False)                  label
logicaldeduction   Logic-LM JSON list, multiple choice                    choice
ar-lsat            Logic-LM JSON list, multiple choice                    choice
gsm8k              JSONL ``{question, answer}``, answer ending ``#### N``   number
procbench          JSONL ``{prompt, label: {init, intermediate, final}}``  steps
counterbench       JSONL ``{question, given_info, answer, type}``           yesno
corr2cause         CSV ``input,label,…`` ("Premise: … Hypothesis: …")      yesno
arc1d              directory of ARC JSON task files (1D-ARC)              grid
sygus              directory of SyGuS ``.sl`` PBE problems                program
minif2f            directory of Lean 4 ``.lean`` files                    proof
=================  =====================================================  ===========

The JSON formats also accept the other JSON layout (a JSON list where JSON Lines is usual, and the reverse).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from thinkgraph.agents.formalize import split_sentences
from thinkgraph.evals.datasets import DatasetError, read_text
from thinkgraph.evals.items import AnswerType, EvalItem, LoadReport, Malformed, Question
from thinkgraph.logic.records import Label, Problem

# ----------------------------------------------------------------------------- record checks


class RecordError(ValueError):
    """One record cannot be used: it is reported as malformed and loading goes on."""


#: what a record parser may raise on bad input; anything else is a bug and propagates
_RECORD_ERRORS = (RecordError, ValidationError, ValueError, TypeError, KeyError, IndexError, RecursionError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid {where or 'record'}: {first.get('msg', exc)}"
    if isinstance(exc, RecordError | DatasetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _object(value: Any, what: str = "the record") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"{what} is {_json_type(value)}, not a JSON object")
    return value


def _text(rec: dict[str, Any], key: str, *, empty_ok: bool = False) -> str:
    if key not in rec:
        raise RecordError(f"missing {key!r}")
    value = rec[key]
    if not isinstance(value, str):
        raise RecordError(f"{key!r} is {_json_type(value)}, not a string")
    if not empty_ok and not value.strip():
        raise RecordError(f"{key!r} is empty")
    return value


def _texts(rec: dict[str, Any], key: str) -> list[str]:
    if key not in rec:
        raise RecordError(f"missing {key!r}")
    value = rec[key]
    if not isinstance(value, list):
        raise RecordError(f"{key!r} is {_json_type(value)}, not a list of strings")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise RecordError(f"{key!r}[{i}] is {_json_type(v)}, not a string")
    return list(value)


def _optional_str(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    return value if isinstance(value, str) else ""


def _record_id(rec: dict[str, Any], key: str, fallback: str) -> str:
    value = rec.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return fallback


# ----------------------------------------------------------------------------- reading files

Records = list[tuple[int, Any]]


def _json_records(path: Path) -> tuple[Records, list[Malformed]]:
    """Records of a JSON list (numbered from 1) or of a JSON Lines file (numbered by line)."""
    text = read_text(path)
    head = text.lstrip()[:1]
    if not head:
        raise DatasetError(f"{path}: empty file", path=path, reason="empty file")
    if head in "[{":
        try:
            data = json.loads(text)
        except RecursionError:
            raise DatasetError(f"{path}: JSON nested too deeply", path=path, reason="JSON nested too deeply") from None
        except json.JSONDecodeError as exc:
            if head == "[":
                raise DatasetError(
                    f"{path}: not valid JSON: {exc}", path=path, reason=f"not valid JSON: {exc}"
                ) from None
        else:
            return (list(enumerate(data, 1)) if isinstance(data, list) else [(1, data)]), []
    return _jsonl_records(path, text)


def _jsonl_records(path: Path, text: str) -> tuple[Records, list[Malformed]]:
    records: Records = []
    bad: list[Malformed] = []
    for lineno, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 may sit inside a string
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except (json.JSONDecodeError, RecursionError) as exc:
            bad.append(Malformed(line=lineno, message=f"not JSON: {exc}"))
    if not records:
        reason = f"not JSON or JSON Lines (line {bad[0].line}: {bad[0].message})"
        raise DatasetError(f"{path}: {reason}", path=path, reason=reason)
    return records, bad


def _csv_records(path: Path, required: Iterable[str]) -> tuple[Records, list[Malformed]]:
    """Rows of a CSV file with a header, as dicts, numbered by the line each row starts on."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DatasetError(f"{path}: empty file", path=path, reason="empty file") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: not CSV: {exc}", path=path, reason=f"not CSV: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        reason = f"the CSV header {header} lacks the column(s) {missing}"
        raise DatasetError(f"{path}: {reason}", path=path, reason=reason)
    rows: Records = []
    bad: list[Malformed] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(Malformed(line=start, message=f"not CSV: {exc}"))
            if reader.line_num < start:
                break
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            bad.append(Malformed(line=start, message=f"{len(row)} fields where the header has {len(header)}"))
            continue
        rows.append((start, dict(zip(header, row, strict=True))))
    return rows, bad


def _natural_key(text: str) -> list[Any]:
    return [int(t) if i % 2 else t.lower() for i, t in enumerate(re.split(r"([0-9]+)", text))]


def _data_files(root: Path, suffix: str) -> tuple[list[tuple[str, Path]], list[Malformed]]:
    """``(relative name, path)`` of every ``suffix`` file under ``root`` (hidden ones skipped), in natural
    order; or ``root`` itself when it is a file."""
    if root.is_file():
        return [(root.name, root)], []
    errors: list[OSError] = []
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(suffix) and not name.startswith("."):
                full = Path(dirpath) / name
                found.append((full.relative_to(root).as_posix(), full))
    found.sort(key=lambda f: _natural_key(f[0]))
    if not found:
        why = f" ({errors[0].strerror})" if errors else ""
        reason = f"no {suffix} files in this directory{why}"
        raise DatasetError(f"{root}: {reason}", path=root, reason=reason)
    bad = [Malformed(line=0, message=f"{e.filename}: cannot list: {e.strerror}") for e in errors]
    return found, bad


# ----------------------------------------------------------------------------- entailment (label) records

_LABELS: dict[str, Label] = {"true": "True", "false": "False", "uncertain": "Uncertain", "unknown": "Uncertain"}
_LETTER_LABELS: dict[str, Label] = {"A": "True", "B": "False", "C": "Uncertain"}
_QUESTION = re.compile(r"^.*?\?\s*", re.DOTALL)  # "… true, false, or unknown? <statement>"
_OPTION = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*(.*)$", re.DOTALL)


def _label(value: Any) -> Label:
    label = _LABELS.get(value.strip().lower()) if isinstance(value, str) else None
    if label is None:
        raise RecordError(f"label {value!r} is not True, False or Uncertain")
    return label


def _option_letters(options: list[str]) -> list[str]:
    """The letters options carry ("A) …"), or A, B, … by position when they carry none."""
    found = [m.group(1) if (m := _OPTION.match(o)) else None for o in options]
    if all(found) and len(set(found)) == len(found):
        return [str(f) for f in found]
    return [chr(ord("A") + i) for i in range(len(options))]


def _answer_letter(rec: dict[str, Any], letters: list[str]) -> str:
    value = rec.get("answer")
    letter = value.strip().rstrip(").").strip().upper() if isinstance(value, str) else None
    if letter not in letters:
        shown = f"{letters[0]}–{letters[-1]}" if letters else "none"
        raise RecordError(f"answer {value!r} is not one of the option letters ({shown})")
    return str(letter)


def _entailment_gold(rec: dict[str, Any], options: list[str]) -> Label:
    """The gold label of a Logic-LM entailment record: its answer letter read through its option
    ("C) Unknown" → Uncertain), or A/B/C = True/False/Uncertain; a label word is accepted too."""
    answer = rec.get("answer")
    if isinstance(answer, str) and answer.strip().lower() in _LABELS:
        return _LABELS[answer.strip().lower()]
    letters = _option_letters(options) if options else list(_LETTER_LABELS)
    letter = _answer_letter(rec, letters)
    if options:
        m = _OPTION.match(options[letters.index(letter)])
        text = (m.group(2) if m else options[letters.index(letter)]).strip().rstrip(".").lower()
        if text in _LABELS:
            return _LABELS[text]
    if letter not in _LETTER_LABELS:
        raise RecordError(f"answer {letter!r} does not name True, False or Uncertain")
    return _LETTER_LABELS[letter]


def _fol_meta(rec: dict[str, Any], n_premises: int) -> dict[str, Any]:
    """FOLIO's gold annotations, and what is wrong with them (the English problem stays usable)."""
    from thinkgraph.logic.fol import FOLParseError, parse

    if "premises-FOL" not in rec or "conclusion-FOL" not in rec:
        return {"premises_fol": [], "conclusion_fol": "", "fol_issues": ["no FOL annotations"]}
    premises_fol = _texts(rec, "premises-FOL")
    conclusion_fol = _text(rec, "conclusion-FOL", empty_ok=True)
    issues = []
    if len(premises_fol) != n_premises:
        issues.append(f"{n_premises} premises but {len(premises_fol)} formulas")
    for i, formula in enumerate([*premises_fol, conclusion_fol]):
        try:
            parse(formula)
        except (FOLParseError, RecursionError) as exc:
            where = "conclusion" if i == len(premises_fol) else f"premise {i + 1}"
            issues.append(f"{where} formula: {exc}")
    return {"premises_fol": premises_fol, "conclusion_fol": conclusion_fol, "fol_issues": issues}


def _folio(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    rec = _object(raw)
    premises = [p.strip() for p in _texts(rec, "premises") if p.strip()]
    if not premises:
        raise RecordError("no premises")
    conclusion = _text(rec, "conclusion").strip()
    if "label" not in rec:
        raise RecordError("missing 'label'")
    gold = _label(rec["label"])
    meta = _fol_meta(rec, len(premises))
    for key in ("story_id", "example_id"):
        if key in rec:
            meta[key] = rec[key]
    item_id = f"folio-{line}"
    problem = Problem(id=item_id, premises=tuple(premises), conclusion=conclusion, gold=gold)
    return [
        EvalItem(id=item_id, dataset=dataset, line=line, input=problem.model_dump(mode="json"), gold=gold, meta=meta)
    ]


def _options(rec: dict[str, Any], *, required: bool) -> list[str]:
    if "options" not in rec and not required:
        return []
    options = _texts(rec, "options")
    if required and len(options) < 2:
        raise RecordError(f"{len(options)} option(s); multiple choice needs at least 2")
    return options


def _logiclm_problem(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    rec = _object(raw)
    item_id = _record_id(rec, "id", f"{dataset}-{line}")
    context = _text(rec, "context")
    question = _text(rec, "question")
    options = _options(rec, required=False)
    gold = _entailment_gold(rec, options)
    statement = _QUESTION.sub("", question.strip(), count=1).strip()
    if not statement:
        raise RecordError(f"no statement after the question {question.strip()!r}")
    premises = split_sentences(context)
    problem = Problem(id=item_id, premises=tuple(premises), conclusion=statement, gold=gold)
    meta: dict[str, Any] = {"question": question}
    if "explanation" in rec:
        meta["explanation"] = rec["explanation"]
    return [
        EvalItem(
            id=item_id,
            dataset=dataset,
            line=line,
            input=problem.model_dump(mode="json"),
            gold=gold,
            options=tuple(options),
            meta=meta,
        )
    ]


# ----------------------------------------------------------------------------- question records


def _question_item(
    dataset: str,
    line: int,
    item_id: str,
    question: Question,
    gold: Any,
    answer_type: AnswerType,
    meta: dict[str, Any] | None = None,
) -> EvalItem:
    return EvalItem(
        id=item_id,
        dataset=dataset,
        line=line,
        input=question.model_dump(mode="json"),
        gold=gold,
        answer_type=answer_type,
        options=question.options,
        meta=meta or {},
    )


def _logiclm_choice(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    rec = _object(raw)
    item_id = _record_id(rec, "id", f"{dataset}-{line}")
    context = _text(rec, "context", empty_ok=True)
    question = _text(rec, "question")
    options = _options(rec, required=True)
    gold = _answer_letter(rec, _option_letters(options))
    q = Question(id=item_id, text=question.strip(), context=context.strip(), options=tuple(options))
    return [_question_item(dataset, line, item_id, q, gold, "choice")]


_GSM_FINAL = re.compile(r"####[ \t]*([^\n]*?)\s*$")


def _gsm8k(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    rec = _object(raw)
    question = _text(rec, "question")
    answer = _text(rec, "answer")
    m = _GSM_FINAL.search(answer)
    if m is None:
        raise RecordError("the answer does not end with '#### N'")
    number = m.group(1).replace(",", "").strip()
    if not re.fullmatch(r"[-+]?[0-9]+", number):
        raise RecordError(f"the final answer {m.group(1)!r} is not an integer")
    item_id = f"{dataset}-{line}"
    q = Question(id=item_id, text=question.strip())
    return [_question_item(dataset, line, item_id, q, int(number), "number", {"solution": answer[: m.start()].strip()})]


def _procbench(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    rec = _object(raw)
    prompt = _text(rec, "prompt")
    label = _object(rec.get("label"), "'label'")
    missing = [k for k in ("init", "intermediate", "final") if k not in label]
    if missing:
        raise RecordError(f"'label' lacks {missing}")
    if not isinstance(label["intermediate"], list):
        raise RecordError(f"'label.intermediate' is {_json_type(label['intermediate'])}, not a list")
    gold = {"init": label["init"], "intermediate": list(label["intermediate"]), "final": label["final"]}
    item_id = _record_id(rec, "problem_name", f"{dataset}-{line}")
    meta = {k: _optional_str(rec, k) for k in ("task_name", "problem_name", "example_name")}
    q = Question(id=item_id, text=prompt.strip())
    return [_question_item(dataset, line, item_id, q, gold, "steps", meta)]


_YES_NO = {"yes": "yes", "no": "no"}


def _counterbench(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    rec = _object(raw)
    question = _text(rec, "question")
    given = _text(rec, "given_info", empty_ok=True)
    answer = rec.get("answer")
    gold = _YES_NO.get(answer.strip().lower()) if isinstance(answer, str) else None
    if gold is None:
        raise RecordError(f"answer {answer!r} is not yes or no")
    meta: dict[str, Any] = {"type": _optional_str(rec, "type")}
    if "question_id" in rec:
        meta["question_id"] = rec["question_id"]
    if isinstance(rec.get("meta"), dict):
        meta["info"] = rec["meta"]
    item_id = f"{dataset}-{line}"
    q = Question(id=item_id, text=question.strip(), context=given.strip())
    return [_question_item(dataset, line, item_id, q, gold, "yesno", meta)]


_PREMISE = re.compile(r"\s*Premise:\s*(.*?)\s*Hypothesis:\s*(.*?)\s*$", re.DOTALL)
_BINARY = {"1": "yes", "0": "no", "1.0": "yes", "0.0": "no", "true": "yes", "false": "no"}


def _corr2cause(raw: Any, line: int, dataset: str) -> list[EvalItem]:
    row = _object(raw, "the row")
    m = _PREMISE.match(row["input"])
    if m is None or not m.group(1) or not m.group(2):
        raise RecordError("'input' is not 'Premise: … Hypothesis: …'")
    gold = _BINARY.get(row["label"].strip().lower())
    if gold is None:
        raise RecordError(f"label {row['label']!r} is not 1 or 0")
    nv = row.get("num_variables", "").strip()
    meta: dict[str, Any] = {"num_variables": int(nv) if nv.isdigit() else nv, "template": row.get("template", "")}
    item_id = f"{dataset}-{line}"
    q = Question(id=item_id, text=m.group(2), context=m.group(1))
    return [_question_item(dataset, line, item_id, q, gold, "yesno", meta)]


# ----------------------------------------------------------------------------- directory formats

FileParser = Callable[[str, str, int, str], list[EvalItem]]  # (text, relative name, index, dataset)


def _grid(value: Any, where: str) -> list[list[int]]:
    if not isinstance(value, list) or not value:
        raise RecordError(f"{where} is {_json_type(value)}, not a non-empty list of rows")
    for r, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise RecordError(f"{where} row {r} is {_json_type(row)}, not a non-empty list of cells")
        if len(row) != len(value[0]):
            raise RecordError(f"{where} row {r} has {len(row)} cells, row 0 has {len(value[0])}")
        for cell in row:
            if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell <= 9:
                raise RecordError(f"{where} row {r}: {cell!r} is not a colour 0–9")
    return value


def _pairs(task: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = task.get(key)
    if not isinstance(value, list) or not value:
        raise RecordError(f"{key!r} is {_json_type(value)}, not a non-empty list of pairs")
    pairs = []
    for i, raw in enumerate(value):
        pair = _object(raw, f"{key}[{i}]")
        grids = {part: _grid(pair.get(part), f"{key}[{i}].{part}") for part in ("input", "output")}
        pairs.append(grids)
    return pairs


def _arc_task(text: str, rel: str, index: int, dataset: str) -> list[EvalItem]:
    task = _object(json.loads(text), "the task")
    train, test = _pairs(task, "train"), _pairs(task, "test")
    path = Path(rel)
    concept = path.parent.name or re.sub(r"_[0-9]+$", "", path.stem)
    items = []
    for k, pair in enumerate(test):
        item_id = path.stem if len(test) == 1 else f"{path.stem}-{k + 1}"
        q = Question(id=item_id, text=json.dumps({"train": train, "test_input": pair["input"]}))
        meta: dict[str, Any] = {"concept": concept, "file": rel, "test_index": k}
        if isinstance(task.get("uuid"), str):
            meta["uuid"] = task["uuid"]
        items.append(_question_item(dataset, index, item_id, q, pair["output"], "grid", meta))
    return items


class _Literal(str):
    """A string literal in an S-expression (a plain ``str`` is a symbol)."""

    __slots__ = ()


_SX_TOKEN = re.compile(r'\s+|;[^\n]*|\(|\)|"(?:[^"]|"")*"|\|[^|]*\||[^\s()";|]+')


def _atom(token: str) -> Any:
    if re.fullmatch(r"-?[0-9]+", token):
        return int(token)
    if token in ("true", "false"):
        return token == "true"
    return token


def _sexprs(text: str) -> list[Any]:
    """SMT-LIB S-expressions: lists, symbols (str), string literals (:class:`_Literal`, ``""`` unescaped),
    integers and booleans."""
    stack: list[list[Any]] = [[]]
    pos = 0
    while pos < len(text):
        m = _SX_TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise RecordError(f"line {line}: cannot read {text[pos : pos + 20]!r} (an unterminated string?)")
        token, pos = m.group(), m.end()
        if token[0].isspace() or token[0] == ";":
            continue
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) == 1:
                raise RecordError(f"line {text.count(chr(10), 0, pos) + 1}: unbalanced ')'")
            done = stack.pop()
            stack[-1].append(done)
        elif token[0] == '"':
            stack[-1].append(_Literal(token[1:-1].replace('""', '"')))
        elif token[0] == "|":
            stack[-1].append(token[1:-1])
        else:
            stack[-1].append(_atom(token))
    if len(stack) != 1:
        raise RecordError(f"{len(stack) - 1} unclosed '(' at the end")
    return stack[0]


def _sx(e: Any) -> str:
    """An S-expression back as SMT-LIB text."""
    if isinstance(e, list):
        return "(" + " ".join(_sx(x) for x in e) + ")"
    if isinstance(e, _Literal):
        return '"' + e.replace('"', '""') + '"'
    if isinstance(e, bool):
        return "true" if e else "false"
    return str(e)


def _is_symbol(e: Any, name: str | None = None) -> bool:
    return isinstance(e, str) and not isinstance(e, _Literal) and (name is None or e == name)


_SORTS: dict[str, type] = {"String": str, "Int": int, "Bool": bool}


def _literal(e: Any, sort: str, where: str) -> Any:
    if isinstance(e, list) and len(e) == 2 and _is_symbol(e[0], "-") and type(e[1]) is int:
        e = -e[1]
    if isinstance(e, _Literal):
        value: Any = str(e)
    elif isinstance(e, bool | int):
        value = e
    else:
        raise RecordError(f"{where}: {_sx(e)[:60]} is not a literal")
    expected = _SORTS.get(sort)
    if expected is not None and type(value) is not expected:
        raise RecordError(f"{where}: {_sx(e)[:60]} is not of sort {sort}")
    return value


def _synth_fun(forms: list[Any]) -> tuple[str, list[dict[str, str]], str, list[Any]]:
    found = [f for f in forms if isinstance(f, list) and f and _is_symbol(f[0], "synth-fun")]
    if not found:
        raise RecordError("no synth-fun")
    if len(found) > 1:
        raise RecordError(f"{len(found)} synth-fun declarations; only one is supported")
    f = found[0]
    if len(f) < 4 or not _is_symbol(f[1]) or not isinstance(f[2], list):
        raise RecordError(f"synth-fun is not (synth-fun NAME ((ARG SORT) …) SORT …): {_sx(f)[:80]}")
    params = []
    for p in f[2]:
        if not (isinstance(p, list) and len(p) == 2 and _is_symbol(p[0])):
            raise RecordError(f"synth-fun parameter {_sx(p)[:40]} is not (NAME SORT)")
        params.append({"name": str(p[0]), "type": _sx(p[1])})
    return str(f[1]), params, _sx(f[3]), f[4:]


def _example(body: Any, name: str, params: list[dict[str, str]], ret: str, where: str) -> dict[str, Any]:
    def is_call(e: Any) -> bool:
        return isinstance(e, list) and bool(e) and _is_symbol(e[0], name)

    if not (isinstance(body, list) and len(body) == 3 and _is_symbol(body[0], "=")):
        raise RecordError(f"{where} is not an input/output example (= ({name} …) OUT): {_sx(body)[:80]}")
    call, out = (body[1], body[2]) if is_call(body[1]) else (body[2], body[1])
    if not is_call(call):
        raise RecordError(f"{where} does not call {name}: {_sx(body)[:80]}")
    args = call[1:]
    if len(args) != len(params):
        raise RecordError(f"{where} gives {name} {len(args)} argument(s); it takes {len(params)}")
    inputs = [
        _literal(a, p["type"], f"{where} argument {i + 1}") for i, (a, p) in enumerate(zip(args, params, strict=True))
    ]
    return {"inputs": inputs, "output": _literal(out, ret, f"{where} output")}


def _sygus(text: str, rel: str, index: int, dataset: str) -> list[EvalItem]:
    forms = _sexprs(text)
    name, params, ret, grammar = _synth_fun(forms)
    constraints = [f for f in forms if isinstance(f, list) and f and _is_symbol(f[0], "constraint")]
    if not constraints:
        raise RecordError("no constraint (no input/output examples)")
    examples = []
    for k, c in enumerate(constraints, 1):
        if len(c) != 2:
            raise RecordError(f"constraint {k} is not (constraint TERM)")
        examples.append(_example(c[1], name, params, ret, f"constraint {k}"))
    logic = next((f[1] for f in forms if isinstance(f, list) and len(f) == 2 and _is_symbol(f[0], "set-logic")), "")
    args = " ".join("(" + p["name"] + " " + p["type"] + ")" for p in params)
    signature = f"(synth-fun {name} ({args}) {ret})"
    item_id = Path(rel).stem
    q = Question(id=item_id, text=f"{signature}\nexamples: {json.dumps(examples, ensure_ascii=False)}")
    meta = {
        "function": name,
        "params": params,
        "return_type": ret,
        "examples": examples,
        "grammar": " ".join(_sx(g) for g in grammar),
        "logic": str(logic),
        "file": rel,
    }
    return [_question_item(dataset, index, item_id, q, None, "program", meta)]


def _skip_comment_or_string(src: str, i: int) -> tuple[int, int, int]:
    """At ``i``: ``(start, end, next)`` of a comment or string body to blank, or ``(i, i, i + 1)``."""
    n = len(src)
    if src.startswith("--", i):
        j = src.find("\n", i)
        return i, (n if j < 0 else j), (n if j < 0 else j)
    if src.startswith("/-", i):
        depth, j = 1, i + 2
        while j < n and depth:
            if src.startswith("/-", j):
                depth, j = depth + 1, j + 2
            elif src.startswith("-/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        return i, j, j
    if src[i] == '"':
        j = i + 1
        while j < n and src[j] != '"':
            j += 2 if src[j] == "\\" else 1
        return i + 1, min(j, n), j + 1
    return i, i, i + 1


def _blank_comments(src: str) -> str:
    """``src`` with Lean comments and string contents replaced by spaces (same length, newlines kept)."""
    out = list(src)
    i = 0
    while i < len(src):
        start, end, i = _skip_comment_or_string(src, i)
        for k in range(start, min(end, len(src))):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


_DECL = re.compile(
    r"^[ \t]*(?:@\[[^\]]*\]\s*)?(?:(?:private|protected|noncomputable)\s+)*"
    r"(?P<kw>theorem|lemma)\s+(?P<name>[^\s:({\[]+)",
    re.MULTILINE,
)
_OPEN, _CLOSE = "([{⟨⦃", ")]}⟩⦄"


def _statement_end(blanked: str, start: int, stop: int) -> int:
    """Where the first ``:=`` outside brackets is, between ``start`` and ``stop``; -1 if none."""
    depth = 0
    for i in range(start, stop):
        ch = blanked[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == ":" and depth == 0 and blanked.startswith(":=", i):
            return i
    return -1


def _lean_file(text: str, rel: str, index: int, dataset: str) -> list[EvalItem]:
    blanked = _blank_comments(text)
    decls = list(_DECL.finditer(blanked))
    if not decls:
        raise RecordError("no theorem or lemma")
    imports = [m for line in re.findall(r"^import[ \t]+(.+)$", blanked, re.MULTILINE) for m in line.split()]
    header = text[: decls[0].start()].strip()
    items = []
    for k, d in enumerate(decls):
        stop = decls[k + 1].start() if k + 1 < len(decls) else len(text)
        end = _statement_end(blanked, d.end(), stop)
        if end < 0:
            raise RecordError(f"theorem {d['name']}: no ':=' after its statement")
        statement = text[d.start("kw") : end].rstrip()
        meta = {
            "name": d["name"],
            "file": rel,
            "imports": imports,
            "header": header,
            "file_line": text.count("\n", 0, d.start("kw")) + 1,
        }
        q = Question(id=d["name"], text=statement)
        items.append(_question_item(dataset, index, d["name"], q, None, "proof", meta))
    return items


# ----------------------------------------------------------------------------- the registry

RecordParser = Callable[[Any, int, str], list[EvalItem]]  # (record, line, dataset)


def _records_reader(
    read: Callable[[Path], tuple[Records, list[Malformed]]], parse: RecordParser
) -> Callable[[Path, str], tuple[list[EvalItem], list[Malformed]]]:
    def run(path: Path, dataset: str) -> tuple[list[EvalItem], list[Malformed]]:
        records, bad = read(path)
        items: list[EvalItem] = []
        for line, raw in records:
            try:
                items.extend(parse(raw, line, dataset))
            except _RECORD_ERRORS as exc:
                bad.append(Malformed(line=line, message=_describe(exc)))
        return items, bad

    return run


def _files_reader(suffix: str, parse: FileParser) -> Callable[[Path, str], tuple[list[EvalItem], list[Malformed]]]:
    def run(root: Path, dataset: str) -> tuple[list[EvalItem], list[Malformed]]:
        files, bad = _data_files(root, suffix)
        items: list[EvalItem] = []
        for index, (rel, path) in enumerate(files, 1):
            try:
                items.extend(parse(read_text(path), rel, index, dataset))
            except DatasetError as exc:
                bad.append(Malformed(line=index, message=f"{rel}: {exc.reason}"))
            except _RECORD_ERRORS as exc:
                bad.append(Malformed(line=index, message=f"{rel}: {_describe(exc)}"))
        return items, bad

    return run


@dataclass(frozen=True)
class Loader:
    """A benchmark's loader: call it with a path to get a :class:`LoadReport`."""

    name: str
    description: str
    answer_type: AnswerType
    layout: Literal["file", "directory"]
    read: Callable[[Path, str], tuple[list[EvalItem], list[Malformed]]]

    def __call__(self, path: str | Path) -> LoadReport:
        p = Path(path)
        _check_path(p, self)
        items, bad = self.read(p, self.name)
        return LoadReport(
            dataset=self.name,
            path=str(p),
            items=tuple(_unique_ids(items)),
            malformed=tuple(sorted(bad, key=lambda m: m.line)),
        )


def _check_path(p: Path, loader: Loader) -> None:
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{p}: cannot read: {exc}", path=p, reason=f"cannot read: {exc}") from None
    if not exists:
        raise DatasetError(f"{p}: no such file or directory", path=p, reason="no such file or directory")
    if loader.layout == "file" and is_dir:
        try:
            inside = sorted(c.name for c in p.iterdir() if c.is_file() and not c.name.startswith("."))
        except OSError:
            inside = []
        hint = f" (it holds {', '.join(inside[:5])}{', …' if len(inside) > 5 else ''})" if inside else ""
        reason = f"is a directory; the {loader.name} loader reads one file{hint}"
        raise DatasetError(f"{p}: {reason}", path=p, reason=reason)
    if not (is_file or is_dir):
        raise DatasetError(f"{p}: not a regular file", path=p, reason="not a regular file")


def _unique_ids(items: list[EvalItem]) -> list[EvalItem]:
    """Items whose ids repeat an earlier one's get ``#2``, ``#3``… (the input's id too)."""
    seen: Counter[str] = Counter()
    out = []
    for item in items:
        seen[item.id] += 1
        if seen[item.id] > 1:
            new = f"{item.id}#{seen[item.id]}"
            item = item.model_copy(update={"id": new, "input": {**item.input, "id": new}})
        out.append(item)
    return out


def _csv(columns: tuple[str, ...]) -> Callable[[Path], tuple[Records, list[Malformed]]]:
    return lambda path: _csv_records(path, columns)


DATASETS: dict[str, Loader] = {
    loader.name: loader
    for loader in (
        Loader("folio", "FOLIO JSONL: premises, conclusion, True/False/Uncertain", "label", "file",
               _records_reader(_json_records, _folio)),
        Loader("proofwriter", "ProofWriter, Logic-LM JSON list (A/B/C = True/False/Unknown)", "label", "file",
               _records_reader(_json_records, _logiclm_problem)),
        Loader("prontoqa", "PrOntoQA, Logic-LM JSON list (A/B = True/False)", "label", "file",
               _records_reader(_json_records, _logiclm_problem)),
        Loader("logicaldeduction", "BIG-bench LogicalDeduction, Logic-LM JSON list, multiple choice", "choice",
               "file", _records_reader(_json_records, _logiclm_choice)),
        Loader("ar-lsat", "AR-LSAT, Logic-LM JSON list, multiple choice A–E", "choice", "file",
               _records_reader(_json_records, _logiclm_choice)),
        Loader("gsm8k", "GSM8K JSONL {question, answer ending '#### N'}", "number", "file",
               _records_reader(_json_records, _gsm8k)),
        Loader("procbench", "ProcBench JSONL {prompt, label: {init, intermediate, final}}", "steps", "file",
               _records_reader(_json_records, _procbench)),
        Loader("counterbench", "CounterBench JSONL {question, given_info, answer yes/no, type}", "yesno", "file",
               _records_reader(_json_records, _counterbench)),
        Loader("corr2cause", "Corr2Cause CSV input,label,… ('Premise: … Hypothesis: …', 1 = valid)", "yesno",
               "file", _records_reader(_csv(("input", "label")), _corr2cause)),
        Loader("arc1d", "1D-ARC: a directory of concept folders of ARC JSON tasks", "grid", "directory",
               _files_reader(".json", _arc_task)),
        Loader("sygus", "SyGuS PBE: a directory of .sl problems with I/O constraints", "program", "directory",
               _files_reader(".sl", _sygus)),
        Loader("minif2f", "miniF2F Lean 4: a directory tree of .lean theorems", "proof", "directory",
               _files_reader(".lean", _lean_file)),
    )
}  # fmt: skip

#: other spellings accepted by :func:`load_dataset` (compared ignoring case, '-', '_' and spaces)
ALIASES: dict[str, str] = {
    "ar_lsat": "ar-lsat",
    "logical_deduction": "logicaldeduction",
    "minif2f_lean4": "minif2f",
    "sygus_pbe_slia": "sygus",
    "sygus_slia": "sygus",
    "arc": "arc1d",
    "1d-arc": "arc1d",
    "proof_writer": "proofwriter",
    "pronto_qa": "prontoqa",
    "counter_bench": "counterbench",
    "proc_bench": "procbench",
}


def _compact(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


def dataset_names() -> list[str]:
    """The canonical dataset names, in the registry's order."""
    return list(DATASETS)


def get_loader(name: str) -> Loader:
    """The loader for ``name`` or one of its aliases; :class:`DatasetError` naming the known ones if none."""
    key = _compact(name)
    for canonical in DATASETS:
        if _compact(canonical) == key:
            return DATASETS[canonical]
    for alias, canonical in ALIASES.items():
        if _compact(alias) == key:
            return DATASETS[canonical]
    raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}", reason="unknown dataset")


def load_dataset(name: str, path: str | Path) -> LoadReport:
    """Load the benchmark ``name`` from ``path`` (a file; a directory for arc1d, sygus and minif2f)."""
    return get_loader(name)(path)


__all__ = [
    "ALIASES",
    "DATASETS",
    "DatasetError",
    "Loader",
    "RecordError",
    "dataset_names",
    "get_loader",
    "load_dataset",
]
