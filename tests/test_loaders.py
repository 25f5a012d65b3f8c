"""Benchmark loaders: every format on small hand-written fixtures (valid and malformed records), unreadable
and corrupted files, and — when the development data is present — the real benchmark files."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import FIXTURES, shared_file
from thinkgraph.evals.datasets import DatasetError, load_folio, load_logiclm
from thinkgraph.evals.items import LoadReport, Question
from thinkgraph.evals.loaders import ALIASES, DATASETS, dataset_names, get_loader, load_dataset
from thinkgraph.logic.records import Problem

DATA = FIXTURES / "datasets"

# name → (fixture, item ids, malformed lines)
EXPECTED: dict[str, tuple[str, list[str], list[int]]] = {
    "folio": ("folio.jsonl", ["folio-1", "folio-2", "folio-3"], [4, 5]),
    "proofwriter": ("proofwriter.json", ["pw-1", "pw-2", "pw-3"], [4]),
    "prontoqa": ("prontoqa.json", ["pq-1", "pq-2"], [3]),
    "logicaldeduction": ("logicaldeduction.json", ["ld-1", "ld-2"], [3]),
    "ar-lsat": ("ar-lsat.json", ["lsat-1", "lsat-2"], [3]),
    "gsm8k": ("gsm8k.jsonl", ["gsm8k-1", "gsm8k-2", "gsm8k-3"], [4, 5]),
    "procbench": ("procbench.jsonl", ["task01_0000", "task02_0000"], [3]),
    "counterbench": ("counterbench.jsonl", ["counterbench-1", "counterbench-2", "counterbench-3"], [4]),
    "corr2cause": ("corr2cause.csv", ["corr2cause-2", "corr2cause-4", "corr2cause-6"], [8, 9]),
    "arc1d": ("arc1d", ["1d_fill_1", "1d_fill_2-1", "1d_fill_2-2", "1d_flip_10"], [3]),
    "sygus": ("sygus", ["count", "first-name", "nth-char"], [3, 5]),
    "minif2f": ("minif2f", ["fixture_add_comm", "fixture_sq_nonneg", "fixture_le_refl"], [2]),
}


def test_the_registry_names_every_benchmark() -> None:
    assert dataset_names() == list(EXPECTED)
    assert set(DATASETS) == set(EXPECTED)
    assert all(name in DATASETS for name in ALIASES.values())


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_loader_reads_its_fixture(name: str) -> None:
    fixture, ids, bad_lines = EXPECTED[name]
    report = load_dataset(name, DATA / fixture)
    assert isinstance(report, LoadReport) and report.dataset == name and report.path == str(DATA / fixture)
    assert [i.id for i in report.items] == ids
    assert [m.line for m in report.malformed] == bad_lines
    loader = DATASETS[name]
    for item in report.items:
        assert item.dataset == name and item.answer_type == loader.answer_type
        assert item.input["id"] == item.id
        json.dumps(item.model_dump())  # everything is plain JSON


def test_folio_items_are_problems_with_their_annotations() -> None:
    report = load_dataset("folio", DATA / "folio.jsonl")
    first, second, third = report.items
    problem = Problem.model_validate(first.input)
    assert problem.premises == ("All owls are birds.", "Hoot is an owl.") and problem.conclusion == "Hoot is a bird."
    assert problem.gold == first.gold == "True" and first.line == 1 and first.input_kind == "problem"
    assert first.meta["premises_fol"] == ["∀x (Owl(x) → Bird(x))", "Owl(hoot)"]
    assert first.meta["conclusion_fol"] == "Bird(hoot)" and first.meta["fol_issues"] == []
    assert second.input["premises"][1] == "Finn is a fish."  # stripped
    assert second.meta["fol_issues"] == ["2 premises but 1 formulas"]
    assert "unbalanced parenthesis" in third.meta["fol_issues"][0]
    messages = {m.line: m.message for m in report.malformed}
    assert "'Maybe' is not True, False or Uncertain" in messages[4] and messages[5].startswith("not JSON")


def test_logiclm_entailment_items() -> None:
    report = load_dataset("proofwriter", DATA / "proofwriter.json")
    assert [i.gold for i in report.items] == ["True", "False", "Uncertain"]
    problem = Problem.model_validate(report.items[0].input)
    assert problem.premises == ("The cat is blue.", "If something is blue then it is round.")
    assert problem.conclusion == "The cat is round." and problem.id == "pw-1"
    assert report.items[0].options == ("A) True", "B) False", "C) Unknown")
    assert "not one of the option letters" in report.malformed[0].message
    pronto = load_dataset("prontoqa", DATA / "prontoqa.json")
    assert pronto.items[0].options == ("A) True", "B) False")
    assert pronto.items[0].meta["explanation"][-1] == "Rex is shiny."
    assert pronto.malformed[0].message == "missing 'context'"


def test_multiple_choice_items() -> None:
    report = load_dataset("logicaldeduction", DATA / "logicaldeduction.json")
    item = report.items[1]
    q = Question.model_validate(item.input)
    assert q.text == "Which of the following is true?" and q.context.startswith("In a race")
    assert q.options == item.options and len(item.options) == 3 and item.gold == "C"
    lsat = load_dataset("ar_lsat", DATA / "ar-lsat.json")
    assert lsat.dataset == "ar-lsat" and lsat.items[0].gold == "A" and len(lsat.items[0].options) == 5
    assert "not a list of strings" in lsat.malformed[0].message


def test_gsm8k_procbench_counterbench_corr2cause() -> None:
    gsm = load_dataset("gsm8k", DATA / "gsm8k.jsonl")
    assert [i.gold for i in gsm.items] == [12, 1250, -3]
    assert gsm.items[0].input["text"].startswith("Ada has 3 boxes") and "####" not in gsm.items[0].meta["solution"]
    assert "'#### N'" in gsm.malformed[0].message and "not an integer" in gsm.malformed[1].message

    proc = load_dataset("procbench", DATA / "procbench.jsonl")
    assert proc.items[1].gold == {"init": 1, "intermediate": [3, 5], "final": 7}
    assert proc.items[0].meta["task_name"] == "task01" and "String: cab" in proc.items[0].input["text"]
    assert "lacks ['final']" in proc.malformed[0].message

    counter = load_dataset("counterbench", DATA / "counterbench.jsonl")
    assert [i.gold for i in counter.items] == ["no", "yes", "yes"]
    assert counter.items[2].meta["type"] == "joint" and counter.items[0].input["context"].startswith("We know")
    assert counter.items[0].meta["info"]["rung"] == 3

    corr = load_dataset("corr2cause", DATA / "corr2cause.csv")
    assert [i.gold for i in corr.items] == ["no", "yes", "no"]
    q = Question.model_validate(corr.items[1].input)
    assert q.text == "C is a collider of A and B." and q.context.startswith("Suppose there is a closed system of 3")
    assert corr.items[1].meta == {"num_variables": 3, "template": "collider"}
    assert "Premise" in corr.malformed[0].message and "'yes' is not 1 or 0" in corr.malformed[1].message


def test_arc1d_items_per_test_pair() -> None:
    report = load_dataset("arc", DATA / "arc1d")
    first = report.items[0]
    shown = json.loads(first.input["text"])
    assert shown["test_input"] == [[0, 0, 2, 0, 2, 0]] and len(shown["train"]) == 2
    assert first.gold == [[0, 0, 2, 2, 2, 0]] and first.meta["concept"] == "1d_fill"
    assert first.meta["file"] == "1d_fill/1d_fill_1.json" and first.meta["uuid"] == "fixture-1"
    assert [i.meta["test_index"] for i in report.items[1:3]] == [0, 1]
    assert report.malformed[0].message.startswith("1d_flip/1d_flip_2.json: ") and "12 is not a colour" in (
        report.malformed[0].message
    )
    single = load_dataset("arc1d", DATA / "arc1d" / "1d_flip" / "1d_flip_10.json")
    assert [i.id for i in single.items] == ["1d_flip_10"] and single.items[0].meta["concept"] == "1d_flip"


def test_sygus_signature_and_examples() -> None:
    report = load_dataset("sygus_pbe_slia", DATA / "sygus")
    by_id = {i.id: i for i in report.items}
    first = by_id["first-name"]
    assert first.meta["function"] == "f" and first.meta["return_type"] == "String"
    assert first.meta["params"] == [{"name": "_arg_0", "type": "String"}]
    assert first.meta["examples"][2] == {"inputs": ['say "hi" now'], "output": "say"}
    assert first.input["text"].startswith("(synth-fun f ((_arg_0 String)) String)\n")
    assert json.loads(first.input["text"].split("examples: ", 1)[1]) == first.meta["examples"]
    assert "-1" in first.meta["grammar"] and first.gold is None
    assert by_id["nth-char"].meta["examples"][2] == {"inputs": ["xbz", 2], "output": "b"}
    assert by_id["count"].meta["examples"][1] == {"inputs": ["ab"], "output": -2}
    messages = [m.message for m in report.malformed]
    assert messages[0].startswith("no-examples.sl: no constraint")
    assert messages[1].startswith("unterminated.sl: line 3")


def test_minif2f_statements() -> None:
    report = load_dataset("minif2f_lean4", DATA / "minif2f")
    add, sq, le = report.items
    assert add.input["text"] == "theorem fixture_add_comm (a b : ℕ) : a + b = b + a"
    assert add.meta["imports"] == ["Mathlib", "Aesop"] and add.meta["file"] == "Valid/fixture_add_comm.lean"
    assert sq.input["text"].endswith("(h₀ : 0 ≤ x) :\n  0 ≤ x ^ 2") and sq.meta["name"] == "fixture_sq_nonneg"
    assert le.input["text"] == "lemma fixture_le_refl (n : ℕ) : n ≤ n" and le.meta["file_line"] == 15
    assert report.malformed[0].message.startswith("Valid/fixture_broken.lean: theorem fixture_broken")


def test_aliases_and_unknown_names() -> None:
    for alias, name in [
        ("AR-LSAT", "ar-lsat"),
        ("logical_deduction", "logicaldeduction"),
        ("Minif2f_Lean4", "minif2f"),
    ]:
        assert get_loader(alias).name == name
    assert get_loader("sygus_pbe_slia").name == "sygus" and get_loader("arc").name == "arc1d"
    with pytest.raises(DatasetError, match="unknown dataset 'mmlu'"):
        load_dataset("mmlu", DATA / "gsm8k.jsonl")


# ----------------------------------------------------------------------------- unreadable files


def test_unreadable_files_raise_dataset_error(tmp_path: Path) -> None:
    cases = {
        "missing": (tmp_path / "absent.jsonl", "no such file"),
        "dir": (DATA / "arc1d", "is a directory"),
        "empty": (tmp_path / "empty.json", "empty file"),
        "binary": (tmp_path / "binary.jsonl", "not UTF-8"),
        "text": (tmp_path / "notes.jsonl", "not JSON"),
        "broken list": (tmp_path / "broken.json", "not valid JSON"),
        "deep": (tmp_path / "deep.json", "nested too deeply"),
    }
    (tmp_path / "empty.json").write_text("  \n")
    (tmp_path / "binary.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "notes.jsonl").write_text("just some notes\nand more\n")
    (tmp_path / "broken.json").write_text(json.dumps([{"id": 1}, {"id": 2}])[:-5])
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    for case, (path, why) in cases.items():
        for name in ("gsm8k", "proofwriter"):
            with pytest.raises(DatasetError, match=why) as info:
                load_dataset(name, path)
            assert str(path) in str(info.value), case


def test_directory_formats_need_their_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no \.sl files"):
        load_dataset("sygus", tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset("minif2f", tmp_path / "nowhere")
    (tmp_path / "latin1.sl").write_bytes(
        '(synth-fun f ((x String)) String)\n(constraint (= (f "é") "e"))'.encode("latin-1")
    )
    shutil.copy(DATA / "sygus" / "count.sl", tmp_path / "count.sl")
    report = load_dataset("sygus", tmp_path)
    assert [i.id for i in report.items] == ["count"]
    assert report.malformed[0].message.startswith("latin1.sl: not UTF-8")


def test_csv_header_and_field_counts(tmp_path: Path) -> None:
    (tmp_path / "wrong.csv").write_text("question,answer\nx,1\n")
    with pytest.raises(DatasetError, match="lacks the column"):
        load_dataset("corr2cause", tmp_path / "wrong.csv")
    (tmp_path / "extra.csv").write_text(
        "input,label,num_variables,template\n"
        '"Premise: A correlates with B. Hypothesis: A causes B.",0,2,parent,surplus\n'
        '"Premise: A correlates with B. Hypothesis: B causes A.",1,2,child\n'
    )
    report = load_dataset("corr2cause", tmp_path / "extra.csv")
    assert [i.line for i in report.items] == [3]
    assert report.malformed[0].line == 2 and "5 fields" in report.malformed[0].message


def test_records_of_the_wrong_shape_are_malformed_not_crashes(tmp_path: Path) -> None:
    odd = [1, "text", None, [], {}, {"question": 3, "answer": ["#### 2"]}, {"prompt": "p", "label": "x"}]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(odd))
    for name in ("folio", "proofwriter", "logicaldeduction", "gsm8k", "procbench", "counterbench"):
        report = load_dataset(name, path)
        assert report.items == () and [m.line for m in report.malformed] == list(range(1, 8)), name
    grids = tmp_path / "grids"
    grids.mkdir()
    for i, bad in enumerate([[[True, 0]], [[0.5]], [["1"]], [[1, 2], [3]], [], [[]], "row", None]):
        task = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]], "output": bad}]}
        (grids / f"t_{i}.json").write_text(json.dumps(task))
    (grids / "t_list.json").write_text("[1, 2]")
    report = load_dataset("arc1d", grids)
    assert report.items == () and len(report.malformed) == 9


def test_legacy_loaders_still_work(tmp_path: Path) -> None:
    problems = load_logiclm(DATA / "proofwriter.json", limit=2)
    assert [p.gold for p in problems] == ["True", "False"] and problems[0].conclusion == "The cat is round."
    with pytest.raises(DatasetError, match=r"proofwriter\.json:4: answer 'D'"):
        load_logiclm(DATA / "proofwriter.json")
    records = load_folio(FIXTURES / "folio_sample.jsonl")
    assert len(records) == 6 and records[0].problem().id == "folio-1"
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    with pytest.raises(DatasetError, match="not a JSON object"):
        load_folio(tmp_path / "list.jsonl")
    with pytest.raises(DatasetError, match="no such file"):
        load_folio(tmp_path / "absent.jsonl")


# ----------------------------------------------------------------------------- fuzzing


def _corrupt(data: bytes, rng: random.Random) -> bytes:
    n = len(data)
    i = rng.randrange(n)
    j = min(n, i + rng.randint(1, 40))
    choice = rng.randrange(6)
    if choice == 0:
        return data[:i]
    if choice == 1:
        return data[:i] + data[j:]
    if choice == 2:
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[i:]
    if choice == 3:
        return data[:i] + rng.choice([b'"', b"[", b"]", b"{", b"}", b"(", b")", b",", b"\n", b":="]) + data[i + 1 :]
    if choice == 4:
        return data[:i] + data[i:j][::-1] + data[j:]
    return data[:i] + b"\xc3" + data[i:]  # a broken UTF-8 sequence


@pytest.mark.parametrize("name", list(EXPECTED))
def test_corrupted_fixtures_never_crash(name: str, tmp_path: Path) -> None:
    fixture = DATA / EXPECTED[name][0]
    rng = random.Random(f"fuzz-{name}")
    files = sorted(p for p in fixture.rglob("*") if p.is_file()) if fixture.is_dir() else [fixture]
    outcomes: Counter[str] = Counter()
    for trial in range(30):
        target = tmp_path / f"t{trial}"
        if fixture.is_dir():
            shutil.copytree(fixture, target)
            victim = target / rng.choice(files).relative_to(fixture)
        else:
            target.mkdir()
            target = victim = target / fixture.name
            shutil.copy(fixture, victim)
        victim.write_bytes(_corrupt(victim.read_bytes(), rng))
        try:
            report = load_dataset(name, target)
        except DatasetError as exc:
            assert str(target) in str(exc)
            outcomes["error"] += 1
        else:
            assert isinstance(report, LoadReport)
            outcomes["report"] += 1
    assert outcomes["report"] > 0


# ----------------------------------------------------------------------------- the development data

SHARED = {
    "folio": (("folio", "folio-validation-dev.jsonl"), 102),
    "proofwriter": (("proofwriter", "dev.json"), 600),
    "prontoqa": (("prontoqa", "dev.json"), 250),
    "logicaldeduction": (("logicaldeduction", "dev.json"), 150),
    "ar-lsat": (("ar-lsat", "sample.json"), 30),
    "gsm8k": (("gsm8k", "test_first200.jsonl"), 200),
    "procbench": (("procbench", "procbench_regen_20tasks_every4th.jsonl"), 1200),
    "counterbench": (("counterbench", "counterbench-dev.jsonl"), 500),
    "corr2cause": (("corr2cause", "corr2cause-dev.csv"), 200),
    "arc1d": (("arc1d",), 18 * 25),
    "sygus": (("sygus_pbe_slia",), 50),
    "minif2f": (("minif2f_lean4", "Valid"), 244),
}


@pytest.mark.parametrize("name", list(SHARED))
def test_each_loader_reads_the_development_data(name: str) -> None:
    parts, count = SHARED[name]
    report = load_dataset(name, shared_file(*parts))
    assert len(report.items) == count and report.malformed == ()
    assert len({i.id for i in report.items}) == count
    if name == "arc1d":
        concepts = Counter(i.meta["concept"] for i in report.items)
        assert len(concepts) == 18 and set(concepts.values()) == {25}
    if name == "folio":
        flagged = {i.line for i in report.items if i.meta["fol_issues"]}
        assert {6, 54, 88} <= flagged  # more premises than formulas (or fewer): kept, with the issue noted
    if name == "gsm8k":
        assert all(isinstance(i.gold, int) for i in report.items)
    if name == "sygus":
        assert all(i.meta["examples"] for i in report.items)
