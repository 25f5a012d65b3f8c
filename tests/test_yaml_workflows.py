"""Malformed and hostile YAML workflows: every one gives located errors and exit code 2, no traceback,
and nothing runs (the model spec given to `run` points at a missing file: loading it would exit 4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from thinkgraph.cli import main
from thinkgraph.graphs import WorkflowError
from thinkgraph.graphs.yaml_loader import MAX_BYTES, dump_workflow, load_workflow, loads_workflow

HEAD = "workflow: w\ninput: problem\n"
LINC = (
    HEAD + "nodes:\n  translate: {use: linc.translate}\n  prove: {use: linc.prove}\n  vote: {use: linc.vote}\n"
    "edges:\n  - {from: translate, to: prove}\n  - {from: prove, to: vote}\n"
)
PWNED = "/tmp/thinkgraph-yaml-pwned"

# name -> (file content, text every error report must contain, the line the first error is on or None)
CASES: dict[str, tuple[str | bytes, str, int | None]] = {
    "syntax_unclosed_flow": (HEAD + "nodes:\n  translate: {use: linc.translate\n", "YAML syntax error", 5),
    "syntax_bad_indent": (
        HEAD + "nodes:\n  translate:\n    use: linc.translate\n   with: {}\n",
        "YAML syntax error",
        6,
    ),
    "tabs": (HEAD + "nodes:\n\ttranslate: {use: linc.translate}\n", "tab", 4),
    "unknown_node_type": (HEAD + "nodes:\n  t: {use: linc.transalte}\n", "did you mean linc.translate", 4),
    "import_path_as_type": (HEAD + "nodes:\n  t: {use: subprocess.Popen}\n", "unknown node type 'subprocess.Popen'", 4),
    "wrong_param_type": (
        LINC.replace("{use: linc.translate}", "{use: linc.translate, with: {samples: five}}"),
        "nodes.translate.with.samples",
        4,
    ),
    "param_out_of_range": (
        LINC.replace("{use: linc.translate}", "{use: linc.translate, with: {samples: 0}}"),
        "greater than or equal to 1",
        4,
    ),
    "unknown_param": (
        LINC.replace("{use: linc.translate}", "{use: linc.translate, with: {sampels: 3}}"),
        "did you mean 'samples'",
        4,
    ),
    "with_not_mapping": (
        LINC.replace("{use: linc.translate}", "{use: linc.translate, with: [1, 2]}"),
        "expected a mapping of parameters",
        4,
    ),
    "dangling_edge_target": (LINC + "  - {from: vote, to: publish}\n", "no node named 'publish'", 10),
    "dangling_edge_source": (LINC + "  - {from: judge, to: vote}\n", "no node named 'judge'", 10),
    "unreachable_node": (
        LINC.replace("  vote: {use: linc.vote}\n", "  vote: {use: linc.vote}\n  extra: {use: cot.reason}\n"),
        "'extra' is unreachable",
        7,
    ),
    "unbounded_loop": (
        HEAD + "nodes:\n  reason: {use: cot.reason}\n  vote: {use: cot.vote}\n  classify: {use: route.classify}\n"
        "edges:\n  - {from: reason, to: vote}\n  - {from: vote, to: classify}\n"
        "routes:\n  - {from: classify, on: category, cases: {deductive: reason}}\n",
        "has no bound",
        None,
    ),
    "python_object_apply": (
        HEAD + f'nodes: !!python/object/apply:os.system ["touch {PWNED}"]\n',
        "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
        3,
    ),
    "python_object_new": (
        HEAD + "nodes:\n  t: !!python/object/new:subprocess.Popen [[touch, " + PWNED + "]]\n",
        "is not allowed",
        4,
    ),
    "python_name": (HEAD + "nodes:\n  t: {use: !!python/name:os.system }\n", "is not allowed", 4),
    "custom_tag": (HEAD + "nodes: !include other.yaml\n", "tag '!include' is not allowed", 3),
    "alias_bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n" + LINC,
        "alias bomb",
        None,
    ),
    "merge_key": (HEAD + "base: &base {use: linc.translate}\nnodes:\n  t: {<<: *base}\n", "merge keys", 5),
    "empty_file": ("", "empty workflow file", 1),
    "only_comments": ("# nothing here\n# at all\n", "empty workflow file", 1),
    "binary_file": (bytes(range(256)) * 4, "binary file", 1),
    "not_utf8": (b"workflow: w\nnodes: \xff\xfe\xfa\n", "not UTF-8", 2),
    "huge_file": ("# " + "x" * (MAX_BYTES + 10) + "\n" + LINC, "limited to", 1),
    "top_level_list": ("- workflow: w\n- nodes: {}\n", "a workflow file is a mapping", 1),
    "scalar_document": ("just a sentence\n", "a workflow file is a mapping", 1),
    "missing_nodes": (HEAD, "missing field 'nodes'", 1),
    "missing_name": ("input: problem\nnodes:\n  t: {use: cot.reason}\n", "missing field 'workflow'", 1),
    "duplicate_key": (HEAD + "nodes:\n  t: {use: cot.reason}\n  t: {use: cot.vote}\n", "duplicate key 't'", 5),
    "route_case_unknown": (
        HEAD + "nodes:\n  c: {use: route.classify}\n  r: {use: cot.reason}\n"
        "routes:\n  - {from: c, on: category, cases: {deductive: lnic}, default: r}\n",
        "no node named 'lnic'",
        7,
    ),
    "route_unknown_field": (
        HEAD + "nodes:\n  c: {use: route.classify}\n  r: {use: cot.reason}\n"
        "routes:\n  - {from: c, on: colour, cases: {red: r}}\n",
        "has no field 'colour'",
        7,
    ),
    "type_mismatch_edge": (
        HEAD + "nodes:\n  t: {use: linc.translate}\n  v: {use: cot.vote}\nedges:\n  - {from: t, to: v}\n",
        "edge t → v",
        5,
    ),
    "unknown_top_field": (LINC.replace("nodes:", "nodez: {}\nnodes:"), "unknown field 'nodez'", 3),
    "max_steps_string": (LINC + "max_steps: lots\n", "expected an integer", 10),
    "max_steps_negative": (LINC + "max_steps: -3\n", "integer ≥ 1", 10),
    "nodes_as_list": (HEAD + "nodes:\n  - linc.translate\n", "expected a mapping of node name", 3),
    "bad_node_name": (HEAD + "nodes:\n  'bad name!': {use: cot.reason}\n", "expected a node name", 4),
    "negative_budget": (LINC + "budget: {calls: -1}\n", "expected a whole number ≥ 0", 10),
    "unknown_model_spec": (
        LINC.replace("{use: linc.translate}", "{use: linc.translate, model: 'gpt:4'}"),
        "unknown model spec",
        4,
    ),
    "model_on_a_name_that_looks_like_loopback": (
        LINC.replace(
            "{use: linc.translate}", "{use: linc.translate, model: 'openai:m@http://127.0.0.1.evil.example/v1'}"
        ),
        "names a model on another host",
        4,
    ),
    "managed_vllm_from_a_file": (
        LINC.replace("{use: linc.translate}", "{use: linc.translate, model: 'vllm:Qwen/Qwen2.5-7B'}"),
        "would start a vLLM server",
        4,
    ),
    "unknown_start": (LINC + "start: begin\n", "no node named 'begin'", 10),
    "unknown_input_type": (LINC.replace("input: problem", "input: riddle"), "unknown input message type", 2),
    "edge_missing_to": (LINC + "  - {from: vote}\n", "needs both 'from' and 'to'", 10),
    "deep_nesting": (HEAD + "nodes: " + "[" * 500 + "]" * 500 + "\n", "nests deeper than", 3),
    "huge_integer": (LINC + "max_steps: " + "9" * 5000 + "\n", "a number too large", 10),
    "reserved_start": (
        LINC.replace("  vote: {use: linc.vote}", "  __start__: {use: linc.vote}"),
        "expected a node name",
        6,
    ),
    "reserved_end": (LINC.replace("  vote: {use: linc.vote}", "  END: {use: linc.vote}"), "not END", 6),
    "end_as_source": (LINC + "  - {from: END, to: vote}\n", "expected a node name", 10),
    "budget_nan": (LINC + "budget: {seconds: .nan}\n", "finite number of seconds", 10),
    "budget_fraction": (LINC + "budget: {calls: 2.5}\n", "whole number", 10),
    "long_chain": (
        HEAD
        + "max_steps: 5\nnodes:\n"
        + "".join(f"  n{i}: {{use: cot.reason}}\n" for i in range(1500))
        + "edges:\n"
        + "".join(f"  - {{from: n{i}, to: n{i + 1}}}\n" for i in range(1499)),
        "(cot.reason) reads problem",
        None,
    ),
}


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / f"{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_there_are_at_least_25_hostile_files() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_yaml_gives_located_errors_exit_2_and_runs_nothing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, expected, line = CASES[name]
    path = _write(tmp_path, name, content)
    assert main(["workflow", "check", str(path)]) == 2
    captured = capsys.readouterr()
    out = captured.out
    assert "Traceback" not in out + captured.err
    assert expected in out, out
    errors = [ln for ln in out.splitlines() if ln.strip()]
    assert errors and all(re.match(re.escape(str(path)) + r":\d+:\d+: ", ln) for ln in errors), out
    if line is not None:
        assert errors[0].startswith(f"{path}:{line}:"), errors[0]
    # running it: refused before any model is loaded (a load of this model spec would exit 4, not 2)
    code = main(
        ["run", str(path), "--input", '{"premises": ["A."], "conclusion": "B."}', "--model", "replay:/nope.jsonl"]
    )
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err and "error:" in captured.err
    assert not Path(PWNED).exists()


def test_every_error_of_a_file_is_reported_together(tmp_path: Path) -> None:
    text = (
        HEAD + "nodes:\n  translate: {use: linc.translate, with: {samples: 0, colour: red}}\n"
        "  prove: {use: linc.prov}\n  vote: {use: linc.vote, with: {threshold: 7}}\n"
        "edges:\n  - {from: translate, to: prove}\n  - {from: prove, to: vote}\n  - {from: vote, to: nowhere}\n"
    )
    with pytest.raises(WorkflowError) as exc:
        loads_workflow(text, "multi.yaml")
    got = [(i.path, i.line) for i in exc.value.issues]
    assert ("nodes.translate.with.samples", 4) in got and ("nodes.translate.with.colour", 4) in got
    assert ("nodes.prove.use", 5) in got and ("nodes.vote.with.threshold", 6) in got and ("edges.2.to", 10) in got
    first = next(i for i in exc.value.issues if i.path == "nodes.translate.with.samples")
    assert first.col > 1 and "samples takes int" in first.fix


def test_every_error_is_reported_even_with_a_structural_one(tmp_path: Path) -> None:
    text = HEAD.replace("input:", "descripton: x\ninput:") + (
        "nodes:\n  r: {use: cot.reason}\n  v: {use: cot.vot}\n"
        "edges:\n  - {from: r, to: v}\n  - {from: r, to: nowhere}\n"
    )
    with pytest.raises(WorkflowError) as exc:
        loads_workflow(text, "two.yaml")
    text_of = "\n".join(str(i) for i in exc.value.issues)
    assert "unknown field 'descripton'" in text_of and "did you mean 'description'" in text_of
    assert "unknown node type 'cot.vot'" in text_of and "no node named 'nowhere'" in text_of


def test_special_files_are_refused_without_reading_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert main(["workflow", "check", str(fifo), "/dev/zero"]) == 2
    out = capsys.readouterr().out
    assert out.count("not a regular file") == 2


def test_a_directory_is_refused_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflow", "check", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().out


def test_yaml_1_1_booleans_do_not_eat_keys_and_case_values_compare_as_text() -> None:
    wf = loads_workflow(
        HEAD + "nodes:\n  c: {use: route.classify}\n  r: {use: cot.reason}\n  v: {use: cot.vote}\n"
        "routes:\n  - {from: c, on: reason, cases: {yes: r, no: r}, default: r}\n"
        "edges:\n  - {from: r, to: v}\n"
    )
    assert wf.routes[0].on == "reason" and set(wf.routes[0].cases) == {"yes", "no"}


def test_route_cases_are_checked_against_the_values_the_field_takes() -> None:
    base = (
        HEAD + "nodes:\n  c: {use: route.classify}\n  r: {use: cot.reason}\n  v: {use: cot.vote}\n"
        "edges:\n  - {from: r, to: v}\n"
    )
    with pytest.raises(WorkflowError) as exc:
        loads_workflow(base + "routes:\n  - {from: c, on: category, cases: {deductiv: r}}\n")
    text = "\n".join(str(i) for i in exc.value.issues)
    assert "category is never 'deductiv'" in text and "takes: arithmetic, deductive, other" in text
    assert "no case for category = arithmetic, deductive, other and no default" in text
    with pytest.raises(WorkflowError, match="has no default"):
        loads_workflow(base + "routes:\n  - {from: c, on: reason, cases: {x: r}}\n")
    ok = loads_workflow(
        base + "routes:\n  - {from: c, on: category, cases: {deductive: r, arithmetic: r, other: END}}\n"
    )
    assert ok.routes[0].default is None


def test_a_read_must_be_written_on_every_path() -> None:
    text = (
        HEAD + "nodes:\n  c: {use: route.classify}\n  t: {use: linc.translate}\n  p: {use: linc.prove}\n"
        "routes:\n  - {from: c, on: category, cases: {deductive: t}, default: p}\nedges:\n  - {from: t, to: p}\n"
    )
    with pytest.raises(WorkflowError, match="reads translations, but not every path to it writes translations"):
        loads_workflow(text)


def test_workflows_round_trip_through_yaml() -> None:
    root = Path(__file__).resolve().parents[1] / "examples"
    for path in sorted(root.glob("*.yaml")):
        wf = load_workflow(path)
        again = loads_workflow(dump_workflow(wf))
        assert again.to_dict() == wf.to_dict(), path


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{samples: true}", "expected a whole number, got bool True"),
        ("{samples: '3'}", "expected a whole number, got str '3'"),
        ("{temperature: yes}", "expected a number, got bool True"),
        ("{use_grammar: 1}", "expected true or false, got int 1"),
    ],
)
def test_lax_coercions_of_parameters_are_refused(params: str, message: str) -> None:
    with pytest.raises(WorkflowError, match=re.escape(message)):
        loads_workflow(LINC.replace("{use: linc.translate}", "{use: linc.translate, with: " + params + "}"))
