"""Reports on run files: the terminal table, JSON lines per problem and the self-contained HTML page."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from thinkgraph.evals.report import render_html, render_table, rows_jsonl, summaries, write_html
from thinkgraph.evals.store import Row, RunStore, RunStoreError

HOSTILE_A = "<script>alert(1)</script>"
HOSTILE_B = '"><img src=x onerror=alert(1)>'

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source", "track", "embed"}


def manifest(**over: Any) -> dict[str, Any]:
    base = {
        "workflow": "vote",
        "workflow_hash": "abc123",
        "model": "local:qwen-0.5b",
        "dataset": "folio",
        "dataset_path": "/data/folio.jsonl",
        "dataset_sha256": "f" * 64,
        "version": "0.1.0",
        "started": 1_700_000_000.0,
    }
    return {**base, **over}


def row(i: int, gold: Any, value: Any, *, status: str = "voted", confidence: float | None = 0.8, **kw: Any) -> Row:
    correct = None if gold is None else (value == gold if status not in ("abstained", "failed") else False)
    return Row(
        item_id=kw.pop("item_id", f"p{i}"),
        idx=i,
        line=i + 1,
        answer_type="label",
        gold=gold,
        value=value,
        status=status,
        ending="answer",
        correct=correct,
        confidence=confidence,
        calls=kw.pop("calls", 3),
        prompt_tokens=kw.pop("prompt_tokens", 100 + 10 * i),
        completion_tokens=kw.pop("completion_tokens", 50),
        seconds=kw.pop("seconds", 1.25),
        **kw,
    )


def make_run(path: Path, rows: list[Row], **over: Any) -> Path:
    store, _ = RunStore.start(path, manifest(**over))
    try:
        for r in rows:
            store.add(r)
    finally:
        store.close()
    return path


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    labels = ["True", "False", "Uncertain"]
    a = [
        row(i, labels[i % 3], labels[i % 3] if i % 4 else labels[(i + 1) % 3], confidence=1 - i / 20) for i in range(12)
    ]
    a.append(row(12, "True", None, status="abstained", confidence=None))
    b = [
        row(
            i,
            labels[i % 3],
            labels[i % 3] if i % 2 else "True",
            confidence=0.5 + (i % 5) / 10,
            samples_total=5,
            samples_correct=i % 6,
            prompt_tokens=400,
        )
        for i in range(10)
    ]
    b.append(row(10, "False", None, status="failed", confidence=None, failed_calls=2, retries=3))
    return [
        make_run(tmp_path / "alpha.db", a),
        make_run(tmp_path / "beta.db", b, workflow="linc", model="openai:gpt-4o-mini"),
    ]


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    rows = [
        row(0, HOSTILE_A, HOSTILE_A, item_id=HOSTILE_B),
        row(1, HOSTILE_B, HOSTILE_A, item_id=HOSTILE_A),
        row(2, HOSTILE_A, HOSTILE_B, confidence=0.1),
    ]
    return make_run(
        tmp_path / "<b>x.db",
        rows,
        model=HOSTILE_B,
        workflow=HOSTILE_A,
        dataset=HOSTILE_B,
        version=HOSTILE_A,
        started=HOSTILE_B,
    )


@pytest.fixture
def edge_runs(tmp_path: Path) -> list[Path]:
    """A run with no rows, one where every problem abstained, and one whose rows cannot be scored."""
    empty = make_run(tmp_path / "empty.db", [])
    abstain = make_run(
        tmp_path / "abstain.db", [row(i, "True", None, status="abstained", confidence=None) for i in range(4)]
    )
    unscored = make_run(
        tmp_path / "unscored.db", [row(i, None, None, status="failed", confidence=None) for i in range(2)]
    )
    return [empty, abstain, unscored]


# ---------------------------------------------------------------------------------------------- summaries


def test_summaries_names_runs_by_file(runs: list[Path]) -> None:
    out = summaries(runs)
    assert [s["run"] for s in out] == ["alpha.db", "beta.db"]
    assert out[0]["workflow"] == "vote" and out[1]["model"] == "openai:gpt-4o-mini"
    assert out[0]["problems"] == 13 and out[0]["abstained"] == 1
    assert out[1]["failed"] == 1 and "pass_at_k" in out[1]


def test_summaries_same_file_name_in_two_folders(tmp_path: Path) -> None:
    a = make_run(tmp_path / "x" / "run.db", [row(0, "True", "True")])
    b = make_run(tmp_path / "y" / "run.db", [row(0, "True", "False")])
    names = [s["run"] for s in summaries([a, b])]
    assert names == [str(a), str(b)]


def test_not_a_run_file_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(RunStoreError, match="not a thinkgraph run file"):
        summaries([text])
    assert text.read_text() == "hello, not a database\n"  # untouched
    with pytest.raises(RunStoreError, match="not a thinkgraph run file"):
        summaries([empty])
    with pytest.raises(RunStoreError, match="no such run file"):
        summaries([tmp_path / "missing.db"])
    with pytest.raises(RunStoreError, match="not a file"):
        summaries([tmp_path])
    with pytest.raises(RunStoreError):
        list(rows_jsonl([text]))
    with pytest.raises(RunStoreError):
        write_html([text], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_other_sqlite_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(RunStoreError, match="no manifest/rows"):
        summaries([path])


# ---------------------------------------------------------------------------------------------- table


def test_table_compares_runs_side_by_side(runs: list[Path]) -> None:
    text = render_table(summaries(runs))
    lines = text.splitlines()
    assert "alpha.db" in lines[0] and "beta.db" in lines[0]
    assert lines[0].index("alpha.db") < lines[0].index("beta.db")
    labels = [ln.split("  ")[0].strip() for ln in lines[2:] if ln.strip()]
    for label in (
        "workflow",
        "model",
        "dataset",
        "problems",
        "accuracy",
        "abstained",
        "coverage",
        "answered accuracy",
        "AURC",
        "calls / problem",
        "tokens / problem",
        "seconds / problem",
        "tokens / correct",
        "retries",
        "failed calls",
        "pass@1",
        "pass@5",
    ):
        assert label in labels, label
    assert "\x1b" not in text
    assert max(len(ln) for ln in lines) <= 100
    model_line = next(ln for ln in lines if ln.startswith("model"))
    assert "local:qwen-0.5b" in model_line and "openai:gpt-4o-mini" in model_line
    # the run columns are right-aligned to the same edge
    ends = {len(ln) for ln in lines[2:] if ln.strip() and not ln.startswith("-")}
    assert len(ends) == 1


def test_table_fits_100_columns_with_long_values(tmp_path: Path) -> None:
    long = "openai:" + "very-long-model-name-" * 5 + "@https://example.invalid/v1"
    paths = [make_run(tmp_path / f"{'x' * 40}-{i}.db", [row(0, "True", "True")], model=long) for i in range(3)]
    text = render_table(summaries(paths))
    assert max(len(ln) for ln in text.splitlines()) <= 100
    assert "..." in text


def test_table_without_pass_at_k_has_no_such_row(runs: list[Path]) -> None:
    text = render_table(summaries(runs[:1]))
    assert "pass@" not in text
    assert render_table([]) == "(no runs)"


# ---------------------------------------------------------------------------------------------- JSON lines


def test_rows_jsonl(runs: list[Path]) -> None:
    lines = list(rows_jsonl(runs))
    assert len(lines) == 13 + 11
    objs = [json.loads(ln) for ln in lines]
    keys = {"run", "id", "gold", "value", "status", "correct", "calls", "tokens", "seconds"}
    assert all(set(o) == keys for o in objs)
    assert [o["run"] for o in objs] == ["alpha.db"] * 13 + ["beta.db"] * 11
    assert objs[0] == {
        "run": "alpha.db",
        "id": "p0",
        "gold": "True",
        "value": "False",
        "status": "voted",
        "correct": False,
        "calls": 3,
        "tokens": 150,
        "seconds": 1.25,
    }
    abstained = objs[12]
    assert abstained["status"] == "abstained" and abstained["value"] is None and abstained["correct"] is False


# ---------------------------------------------------------------------------------------------- HTML


class Page(HTMLParser):
    """Collects tags, attributes and text, and checks that elements nest and close."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, f"unclosed: {p.stack}"
    return p


def test_html_report(runs: list[Path], tmp_path: Path) -> None:
    out = write_html(runs, tmp_path / "sub" / "report.html")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    for forbidden in ("http://", "https://", "<link", "src=", "@import", "url("):
        # the only URL allowed is the SVG namespace, which is an identifier, not a fetch
        rest = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert forbidden not in rest, forbidden
    p = parse(page)
    svgs = p.all("svg")
    assert len(svgs) == 3
    # html.parser lowercases attribute names
    assert all((a.get("viewbox") or "").startswith("0 0 ") for a in svgs)
    assert {"plot scatter", "plot risk-coverage", "plot class-recall"} == {a.get("class") for a in svgs}
    polylines = p.all("polyline")
    assert sorted(str(a.get("data-run")) for a in polylines) == ["alpha.db", "beta.db"]
    text = " ".join(p.text)
    for expected in (
        "alpha.db",
        "beta.db",
        "vote",
        "linc",
        "openai:gpt-4o-mini",
        "folio",
        "0.1.0",
        "2023-11-14 22:13:20 UTC",
        "accuracy",
        "tokens per problem",
        "coverage",
        "recall",
        "True",
        "False",
        "Uncertain",
        "pass@5",
        "abstained",
        "failed",
    ):
        assert expected in text, expected
    # one confusion table per run, each with a row per gold class
    tables = [a for a in p.all("table") if a.get("class") == "confusion"]
    assert len(tables) == 2
    # one scatter point per run, and bars for each class of each run
    assert len([a for a in p.all("circle") if a.get("r") == "6"]) == 2
    assert len([a for a in p.all("rect") if a.get("data-run")]) == 6


def test_html_escapes_hostile_labels(hostile: Path, tmp_path: Path) -> None:
    page = write_html([hostile], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "<b>" not in page
    assert "onerror=alert(1)>" not in page.replace("onerror=alert(1)&gt;", "")
    assert html_escaped_in(page, HOSTILE_A) and html_escaped_in(page, HOSTILE_B)
    p = parse(page)
    assert not p.all("script") and not p.all("img") and not p.all("b")
    # the labels come back intact as text and attribute values
    text = "".join(p.text)
    assert HOSTILE_A in text and HOSTILE_B in text and "<b>x.db" in text
    assert [a.get("data-run") for a in p.all("polyline")] == ["<b>x.db"]
    attrs = [a for _, a in p.tags]
    assert all(not k.startswith("on") for a in attrs for k in a)


def html_escaped_in(page: str, raw: str) -> bool:
    import html

    return html.escape(raw, quote=True) in page


def test_hostile_labels_in_table_and_jsonl(hostile: Path) -> None:
    text = render_table(summaries([hostile]))
    assert "<b>x.db" in text  # plain text is not HTML: no escaping there
    lines = [json.loads(ln) for ln in rows_jsonl([hostile])]
    assert lines[0]["id"] == HOSTILE_B and lines[0]["gold"] == HOSTILE_A


def test_edge_runs_render(edge_runs: list[Path], runs: list[Path], tmp_path: Path) -> None:
    s = summaries(edge_runs)
    assert s[0]["problems"] == 0
    assert s[1]["coverage"] == 0 and s[1]["risk_coverage"] == [] and s[1]["aurc"] is None
    text = render_table(s)
    assert "empty.db" in text and "abstain.db" in text and "unscored.db" in text
    acc = next(ln for ln in text.splitlines() if ln.startswith("accuracy"))
    assert "-" in acc and "0.0% (0/4)" in acc
    assert list(rows_jsonl(edge_runs[:1])) == []
    page = render_html(s)
    p = parse(page)
    assert len(p.all("svg")) == 3 and not p.all("polyline")
    text = " ".join(p.text)
    assert "no answered problems" in text and "(no answers)" in text and "no problems" in text
    # mixed with ordinary runs: the ordinary runs still draw their curves
    p = parse(render_html(summaries([*edge_runs, *runs])))
    assert sorted(str(a.get("data-run")) for a in p.all("polyline")) == ["alpha.db", "beta.db"]
    assert render_html([]).startswith("<!DOCTYPE html>")
    parse(render_html([]))


def test_many_classes_are_capped(tmp_path: Path) -> None:
    rows = [row(i, str(i % 40), str((i * 7) % 40), confidence=(i % 10) / 10) for i in range(200)]
    path = make_run(tmp_path / "gsm.db", rows, dataset="gsm8k")
    page = render_html(summaries([path]))
    p = parse(page)
    bars = [a for a in p.all("rect") if a.get("data-run")]
    assert len(bars) == 12
    assert "28 less frequent classes not shown" in " ".join(p.text)
    polyline = p.all("polyline")[0]
    assert len((polyline.get("points") or "").split()) <= 51
