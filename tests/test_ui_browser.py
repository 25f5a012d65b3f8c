"""The chat page in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against a real
``thinkgraph serve`` and a loopback OpenAI-compatible model server: a question streams in step by step, a
model call expands, the verdict shows its evidence, a reload shows the conversation again; hostile model
output does nothing.  Screenshots land in the test's folder (and in ``docs/`` with THINKGRAPH_UPDATE_DOCS=1).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openai_stub import OpenAIStub
from ui_support import HOSTILE, PROBLEM, ROOT, Server, hostile_handler, linc_handler

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _slow_linc(body: dict[str, Any]) -> Any:
    time.sleep(0.25)  # long enough to see the steps arrive one by one
    return linc_handler(body)


def _screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("THINKGRAPH_UPDATE_DOCS") == "1":
        shutil.copy(path, ROOT / "docs" / name)
    return path


def _ask(page: Any, workflow: str, problem: dict[str, Any]) -> None:
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#workflow", workflow)
    page.fill("textarea[name='premises']", "\n".join(problem["premises"]))
    page.fill("[name='conclusion']", problem["conclusion"])
    page.click("#ask")


def test_a_question_streams_in_expands_shows_its_evidence_and_survives_a_reload(browser: Any, tmp_path: Path) -> None:
    with OpenAIStub(_slow_linc) as stub, Server(tmp_path / "ui.sqlite", "--model", f"openai:s@{stub.base_url}") as srv:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.base + "/")
        _ask(page, "linc", PROBLEM)

        # live: a step is running while the answer is still pending
        page.wait_for_selector("details.step.running", timeout=20_000)
        assert page.locator(".answer.pending").count() == 1
        page.wait_for_selector("#graph g.gnode.running, #graph g.gnode.done", timeout=20_000)
        page.wait_for_selector(".answer .badge.b-verified", timeout=30_000)
        assert page.url.startswith(srv.base + "/runs/")
        steps = page.locator("details.step.done summary .step-label").all_inner_texts()
        assert steps == ["✔ translate", "✔ prove", "✔ vote"]

        # expand the translate step and its first model call: the prompt and the reply are there
        page.locator("details.step[data-node='translate'] > summary").click()
        call = page.locator("details.call").first
        call.locator(":scope > summary").click()
        sync_api.expect(call).to_contain_text("Sentence:")  # the prompt is built when the call is opened
        sync_api.expect(call.locator(".reply")).to_contain_text("∀x")
        tool = page.locator("details.tool").first
        page.locator("details.step[data-node='prove'] > summary").click()
        tool.locator(":scope > summary").click()
        assert tool.locator("pre").count() >= 2

        answer = page.locator(".answer").inner_text()
        assert "False" in answer and "verified" in answer
        assert "unsat core" in answer and "Nutty is a squirrel." in answer
        assert "Mammal(x) → ¬Reptile(x)" in answer
        page.locator(".ledger-box > summary").click()
        assert "total" in page.locator("table.ledger").inner_text()
        _screenshot(page, tmp_path, "ui-linc.png")

        # a reload shows the conversation again, from the store
        url = page.url
        page.reload()
        page.wait_for_selector(".answer .badge.b-verified", timeout=20_000)
        assert page.url == url
        assert PROBLEM["conclusion"] in page.locator("#conversation").inner_text()
        assert page.locator("#history a.current").count() == 1

        # a follow-up in the same conversation that no proof settles: both countermodels are shown
        page.fill("[name='conclusion']", "Nutty is a cat.")
        page.click("#ask")
        sync_api.expect(page.locator("article.run")).to_have_count(2, timeout=10_000)
        follow_up = page.locator("article.run").nth(1)
        follow_up.locator(".answer .badge").wait_for(timeout=30_000)
        sync_api.expect(follow_up.locator(".answer.pending")).to_have_count(0, timeout=30_000)
        text = follow_up.locator(".answer").inner_text()
        assert "Uncertain" in text
        assert "a model where the conclusion is true" in text and "a model where the conclusion is false" in text
        assert page.locator("#history li").count() == 1  # still one conversation
        assert errors == []


def test_hostile_model_output_and_inputs_do_nothing(browser: Any, tmp_path: Path) -> None:
    problem = {**PROBLEM, "premises": [*PROBLEM["premises"], HOSTILE], "conclusion": f"Nutty is a reptile. {HOSTILE}"}
    with (
        OpenAIStub(hostile_handler) as stub,
        Server(tmp_path / "ui.sqlite", "--model", f"openai:s@{stub.base_url}") as srv,
    ):
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(srv.base + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.select_option("#workflow", "cot")
        page.fill("textarea[name='premises']", "\n".join(problem["premises"]))
        page.fill("[name='conclusion']", problem["conclusion"])
        page.click("#ask")
        page.wait_for_selector(".answer .badge", timeout=30_000)
        sync_api.expect(page.locator(".answer.pending")).to_have_count(0, timeout=30_000)
        # open everything, hover everything: nothing may run
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        for b in page.locator("#conversation b").all()[:20]:
            b.hover()
        page.reload()
        page.wait_for_selector(".answer .badge", timeout=20_000)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        time.sleep(0.5)
        assert page.evaluate("window.__pwned") is None
        assert dialogs == []
        injected = (
            "#conversation script, #conversation img, #conversation iframe, #conversation svg, #conversation [onerror]"
        )
        assert page.locator(injected).count() == 0
        assert page.locator("#conversation a[href^='javascript']").count() == 0
        text = page.locator("#conversation").inner_text()
        assert "<script>window.__pwned = 1</script>" in text  # shown, as text
        assert '<img src=x onerror="window.__pwned = 2">' in text


def test_a_saved_trace_replays_in_the_page(browser: Any, tmp_path: Path) -> None:
    with (
        OpenAIStub(linc_handler) as stub,
        Server(tmp_path / "ui.sqlite", "--model", f"openai:s@{stub.base_url}") as srv,
    ):
        import httpx

        with httpx.Client(base_url=srv.base, timeout=30) as client:
            run_id = client.post("/api/runs", json={"workflow": "linc", "input": PROBLEM}).json()["run_id"]
            for _ in range(100):
                run = client.get(f"/api/runs/{run_id}").json()
                if run["status"] != "running":
                    break
                time.sleep(0.2)
        trace = tmp_path / "run.jsonl"
        trace.write_text("\n".join(json.dumps(e) for e in run["trace"]) + "\n")
        page = browser.new_page()
        page.goto(srv.base + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.set_input_files("#trace-file", str(trace))
        sync_api.expect(page.locator("article.run")).to_have_count(1, timeout=20_000)
        page.wait_for_selector(".answer .badge.b-verified", timeout=20_000)
        assert "(replay)" in page.locator("article.run .meta").inner_text()
        assert page.locator("details.step.done").count() == 3


def test_a_search_tree_is_drawn_and_expands(browser: Any, tmp_path: Path) -> None:
    from ui_support import QUESTION, arithmetic_handler

    if not (ROOT / "examples" / "search_mcts.yaml").exists():
        pytest.skip("no MCTS example workflow")
    with (
        OpenAIStub(arithmetic_handler) as stub,
        Server(
            tmp_path / "ui.sqlite", "--model", f"openai:s@{stub.base_url}", "--workflows", str(ROOT / "examples")
        ) as srv,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(srv.base + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.select_option("#workflow", "search_mcts")
        page.fill("[name='text']", QUESTION["text"])
        page.click("#ask")
        sync_api.expect(page.locator(".answer.pending")).to_have_count(0, timeout=60_000)
        tree = page.locator("details.search .tree")
        sync_api.expect(tree).to_have_count(1)
        page.locator("details.step[data-node='search'] > summary").click()
        nodes = tree.locator("li")
        assert nodes.count() >= 4
        assert "visits" in tree.inner_text()
        closed = tree.locator("details.tnode:not([open]) > summary")
        if closed.count():
            closed.first.click()
        answer = page.locator(".answer").inner_text()
        assert "best path" in answer and "Tom" in answer  # the path the search chose, as evidence
        _screenshot(page, tmp_path, "ui-search.png")


def test_a_person_approves_a_paused_run_in_the_page(browser: Any, tmp_path: Path) -> None:
    with (
        OpenAIStub(linc_handler) as stub,
        Server(
            tmp_path / "ui.sqlite", "--model", f"openai:s@{stub.base_url}", "--workflows", str(ROOT / "examples")
        ) as srv,
    ):
        page = browser.new_page()
        page.goto(srv.base + "/")
        _ask(page, "linc-reviewed", PROBLEM)
        page.wait_for_selector(".answer .badge.b-waiting", timeout=30_000)
        assert "Is this answer right?" in page.locator(".answer").inner_text()
        page.fill(".reason-input", "looks right")
        page.click("button.approve")
        sync_api.expect(page.locator(".answer .b-waiting")).to_have_count(0, timeout=30_000)
        sync_api.expect(page.locator(".answer.pending")).to_have_count(0, timeout=30_000)
        page.wait_for_selector(".answer .badge.b-verified", timeout=30_000)
        assert "looks right" in page.locator(".answer").inner_text()
        page.reload()
        page.wait_for_selector(".answer .badge.b-verified", timeout=20_000)
        assert page.locator("details.step[data-node='review']").count() == 1
