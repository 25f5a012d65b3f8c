"""The chat interface's HTTP API against a real ``thinkgraph serve`` process and a real loopback model server:
runs stream as Server-Sent Events, are stored, survive a restart, replay from a trace file; bad requests get
clear errors; the server refuses what it must (no token, foreign Host, other origins)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openai_stub import OpenAIStub, error
from ui_support import PROBLEM, ROOT, Server, free_port, linc_handler, sse

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(linc_handler) as s:
        yield s


@pytest.fixture(scope="module")
def server(stub: OpenAIStub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("ui") / "ui.sqlite"
    with Server(store, "--model", f"openai:stub@{stub.base_url}", "--workflows", str(ROOT / "examples")) as s:
        yield s


def _run(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_linc_run_streams_its_trace_live_then_is_stored_with_its_answer(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        created = _run(client, {"workflow": "linc", "input": PROBLEM})
        events, end = sse(client, f"/api/runs/{created['run_id']}/events")
        assert [e["id"] for e in events] == list(range(len(events)))
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
        for kind in ("node_started", "node_finished", "model_request", "model_response", "tool_call"):
            assert kind in kinds
        started = [e["node"] for e in events if e["kind"] == "node_started"]
        assert started == ["translate", "prove", "vote"]
        assert end["status"] == "finished" and end["ending"] == "answered"
        assert end["output"]["value"] == "False" and end["output"]["status"] == "verified"

        run = client.get(f"/api/runs/{created['run_id']}").json()
        assert run["input"]["conclusion"] == PROBLEM["conclusion"]
        assert run["output"]["evidence"]["verdict"]["certificate"]["premises_used"]  # the unsat core
        assert run["usage"]["total"]["calls"] >= 5
        assert [e["kind"] for e in run["trace"]] == kinds

        # a late viewer resumes after the last event it saw
        rest, end2 = sse(client, f"/api/runs/{created['run_id']}/events", headers={"Last-Event-ID": "4"})
        assert [e["id"] for e in rest] == list(range(5, len(events)))
        assert end2["run_id"] == created["run_id"]

        # a follow-up in the same conversation; the history lists both
        second = _run(client, {"workflow": "linc", "input": PROBLEM, "conversation": created["conversation"]})
        assert second["conversation"] == created["conversation"]
        sse(client, f"/api/runs/{second['run_id']}/events")
        in_conversation = client.get("/api/runs", params={"conversation": created["conversation"]}).json()
        assert [r["run_id"] for r in in_conversation] == [created["run_id"], second["run_id"]]
        history = client.get("/api/runs").json()
        assert history[0]["run_id"] == second["run_id"]
        conversations = client.get("/api/conversations").json()
        assert conversations[0]["id"] == created["conversation"] and conversations[0]["runs"] == 2
        assert conversations[0]["title"] == PROBLEM["conclusion"]


def test_runs_and_their_traces_survive_a_restart(stub: OpenAIStub, tmp_path: Path) -> None:
    store = tmp_path / "ui.sqlite"
    spec = f"openai:stub@{stub.base_url}"
    with Server(store, "--model", spec) as first, httpx.Client(base_url=first.base, timeout=30) as client:
        created = _run(client, {"workflow": "linc", "input": PROBLEM})
        events, _end = sse(client, f"/api/runs/{created['run_id']}/events")
        before = client.get(f"/api/runs/{created['run_id']}").json()
    with Server(store, "--model", spec) as second, httpx.Client(base_url=second.base, timeout=30) as client:
        after = client.get(f"/api/runs/{created['run_id']}").json()
        assert after == before
        replayed, end = sse(client, f"/api/runs/{created['run_id']}/events")
        assert replayed == events and end["status"] == "finished"


def test_a_saved_trace_opens_as_a_run_in_the_same_view(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        created = _run(client, {"workflow": "linc", "input": PROBLEM})
        sse(client, f"/api/runs/{created['run_id']}/events")
        trace = client.get(f"/api/runs/{created['run_id']}").json()["trace"]
        jsonl = "\n".join(json.dumps(e) for e in trace) + "\n"
        r = client.post("/api/traces", content=jsonl.encode())
        assert r.status_code == 201, r.text
        replay = client.get(f"/api/runs/{r.json()['run_id']}").json()
        assert replay["status"] == "replay" and replay["workflow"] == "linc"
        assert replay["trace"] == trace
        assert replay["output"]["value"] == "False" and replay["ending"] == "answered"

        bad = client.post("/api/traces", content=jsonl.encode() + b'{"kind": "nonsense"}\n')
        assert bad.status_code == 400 and f"line {len(trace) + 1}" in bad.json()["error"]
        assert client.post("/api/traces", content=b"").status_code == 400
        assert client.post("/api/traces", content=b"\xff\xfe").status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"workflow": "nope", "input": PROBLEM}, 404, "unknown workflow 'nope'"),
        ({"workflow": "../../etc/passwd", "input": PROBLEM}, 404, "unknown workflow"),
        ({"workflow": "linc", "input": {"premises": ["A."]}}, 400, "conclusion"),
        ({"workflow": "linc", "input": "All men are mortal."}, 400, "JSON object"),
        ({"workflow": "linc", "input": PROBLEM, "model": "openai:gpt-4o@https://api.example.com/v1"}, 403, "offered"),
        ({"workflow": "linc", "input": PROBLEM, "model": "local:/etc/passwd"}, 403, "offered"),
        ({"workflow": "linc", "input": PROBLEM, "model": "openai:m@http://127.attacker.example/v1"}, 403, "offered"),
        ({"workflow": "linc", "input": PROBLEM, "model": "openai:m@http://127.0.0.1:9/v1"}, 403, "offered"),
        ({"workflow": "linc", "input": PROBLEM, "model": "local"}, 403, "offered"),
        ({"workflow": "linc", "input": PROBLEM, "extra": 1}, 400, "unknown field"),
        ({"workflow": 3, "input": PROBLEM}, 400, "name of a workflow"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_requests_get_a_clear_error_and_nothing_runs(server: Server, body: Any, status: int, says: str) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        before = len(client.get("/api/runs").json())
        r = client.post("/api/runs", json=body)
        assert r.status_code == status, r.text
        assert says in r.json()["error"]
        assert len(client.get("/api/runs").json()) == before


def test_malformed_bodies_unknown_runs_and_oversized_inputs(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        r = client.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
        assert client.get("/api/runs/nope").status_code == 404
        assert client.get("/api/runs/nope/events").status_code == 404
        created = _run(client, {"workflow": "linc", "input": PROBLEM})
        events, _end = sse(client, f"/api/runs/{created['run_id']}/events")
        bad_after = client.get(f"/api/runs/{created['run_id']}/events", params={"after": "abc"})
        assert bad_after.status_code == 400
        clamped, _end = sse(client, f"/api/runs/{created['run_id']}/events?after=-5")  # as from the start
        assert [e["id"] for e in clamped] == [e["id"] for e in events]
        big = {**PROBLEM, "premises": ["All cats are animals."] * 20_000}
        assert client.post("/api/runs", json={"workflow": "linc", "input": big}).status_code == 413


def test_workflows_lists_built_ins_and_yaml_files_with_input_schema_and_graph(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        workflows = {w["name"]: w for w in client.get("/api/workflows").json()}
        assert {"linc", "cot", "auto", "ensemble"} <= set(workflows)
        linc = workflows["linc"]
        assert linc["input"] == "problem" and "premises" in linc["input_schema"]["properties"]
        assert [n["id"] for n in linc["graph"]["nodes"]] == ["translate", "prove", "vote"]
        assert {"from": "translate", "to": "prove", "label": ""} in linc["graph"]["edges"]
        yaml_names = {p.stem for p in (ROOT / "examples").glob("*.yaml")}
        assert yaml_names & set(workflows)
        models = client.get("/api/models").json()
        assert models["default"].startswith("openai:stub@")


def test_a_model_that_fails_ends_the_run_as_failed_and_the_server_lives_on(tmp_path: Path) -> None:
    with OpenAIStub(lambda body: error(400, "this model refuses")) as bad:
        with Server(tmp_path / "ui.sqlite", "--model", f"openai:bad@{bad.base_url}") as server:
            with httpx.Client(base_url=server.base, timeout=30) as client:
                created = _run(client, {"workflow": "linc", "input": PROBLEM})
                events, end = sse(client, f"/api/runs/{created['run_id']}/events")
                assert end["ending"] in ("failed", "abstained")
                assert any(e["kind"] in ("node_failed", "model_response") for e in events)
                assert client.get("/api/health").json() == {"ok": True}


# ----------------------------------------------------------------------------- refusals


def test_a_non_loopback_bind_without_a_token_is_refused_before_binding() -> None:
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-m", "thinkgraph.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in __import__("os").environ.items() if k != "THINKGRAPH_TOKEN"},
    )
    assert out.returncode == 2
    assert "refusing to bind 0.0.0.0 without a token" in out.stderr


def test_with_a_token_every_request_needs_it(stub: OpenAIStub, tmp_path: Path) -> None:
    spec = f"openai:stub@{stub.base_url}"
    with Server(tmp_path / "ui.sqlite", "--model", spec, "--token", "s3cret", host="0.0.0.0") as server:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            for path in ("/", "/api/runs", "/api/workflows", "/static/app.js", "/api/runs/x/events"):
                r = client.get(path)
                assert r.status_code == 401, path
                assert r.headers["www-authenticate"] == "Bearer"
            assert client.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.post("/api/runs", json={"workflow": "linc", "input": PROBLEM}).status_code == 401
            ok = client.get("/api/runs", headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200
            created = client.post(
                "/api/runs", json={"workflow": "linc", "input": PROBLEM}, headers={"Authorization": "Bearer s3cret"}
            )
            assert created.status_code == 201
            assert client.get("/", params={"token": "wrong"}).status_code == 401
            # a browser opens /?token=… once: it is sent on without the token, with a session cookie
            page = client.get("/runs/abc", params={"token": "s3cret", "x": "1"})
            assert page.status_code == 303 and page.headers["location"] == "/runs/abc?x=1"
            cookie = page.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "s3cret" not in cookie
            assert f"thinkgraph_session_{server.port}=" in cookie  # one cookie per port
            assert client.get("/api/runs").status_code == 200  # the client kept the cookie
            # the session does not let another origin write
            foreign = client.post("/api/runs", json={}, headers={"Origin": "http://evil.example"})
            assert foreign.status_code == 403
            assert client.get("/", headers={"Host": "evil.example"}).status_code == 421
            unauthorized = httpx.get(server.base + "/api/runs")
            assert unauthorized.status_code == 401 and "content-security-policy" in unauthorized.headers


def test_foreign_host_headers_and_cross_origin_writes_are_refused(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example"):
            r = client.get("/api/runs", headers={"Host": host})
            assert r.status_code == 421, host
        assert client.get("/api/runs", headers={"Host": f"localhost:{server.port}"}).status_code == 200
        body = {"workflow": "linc", "input": PROBLEM}
        assert client.post("/api/runs", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
        assert client.post("/api/runs", json=body, headers={"Origin": "null"}).status_code == 403
        assert client.post("/api/runs", json=body, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        referer = {"Referer": "http://evil.example/page"}
        assert client.post("/api/runs", json=body, headers=referer).status_code == 403
        assert client.post("/api/traces", content=b"x", headers={"Origin": "http://evil.example"}).status_code == 403
        same = client.post("/api/runs", json=body, headers={"Origin": server.base})
        assert same.status_code == 201
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"


def test_a_run_whose_server_was_killed_is_marked_lost_not_left_running(tmp_path: Path) -> None:
    import os
    import signal
    import threading

    from thinkgraph.ui.store import UIStore

    release = threading.Event()

    def slow(body: dict[str, Any]) -> Any:
        release.wait(30)
        return linc_handler(body)

    store = tmp_path / "ui.sqlite"
    with OpenAIStub(slow) as stub:
        spec = f"openai:stub@{stub.base_url}"
        first = Server(store, "--model", spec)
        with httpx.Client(base_url=first.base, timeout=30) as client:
            run_id = _run(client, {"workflow": "linc", "input": PROBLEM})["run_id"]
            for _ in range(200):  # until the first model request is on its way (and held by the stub)
                run = client.get(f"/api/runs/{run_id}").json()
                if any(e["kind"] == "model_request" for e in run["trace"]):
                    break
                time.sleep(0.05)
            assert run["status"] == "running"
            # another process opening the same history (a terminal chat) leaves the live run alone
            other = UIStore(store)
            assert other.run(run_id).status == "running"  # type: ignore[union-attr]
            other.close()
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        first.stop()
        release.set()
        with Server(store, "--model", spec) as second, httpx.Client(base_url=second.base, timeout=30) as client:
            run = client.get(f"/api/runs/{run_id}").json()
            assert run["status"] == "lost" and "stopped before it finished" in run["error"]
            assert run["trace"][0]["kind"] == "run_started"  # what was streamed before the kill is kept
            _events, end = sse(client, f"/api/runs/{run_id}/events")
            assert end["status"] == "lost"


def test_a_run_that_waits_for_a_person_is_answered_through_the_api(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        created = _run(client, {"workflow": "linc-reviewed", "input": PROBLEM})
        events, end = sse(client, f"/api/runs/{created['run_id']}/events")
        assert end["status"] == "waiting" and end["ending"] == "interrupted"
        assert end["interrupt"]["question"] == "Is this answer right?"
        assert end["interrupt"]["answer"]["value"] == "False"
        assert any(e["kind"] == "interrupted" for e in events)
        url = f"/api/runs/{created['run_id']}/resume"
        assert client.post(url, json={"approve": True}).status_code == 400  # not {"resume": ...}
        r = client.post(url, json={"resume": {"approve": True, "reason": "checked by hand"}})
        assert r.status_code == 200, r.text
        rest, end = sse(
            client, f"/api/runs/{created['run_id']}/events", headers={"Last-Event-ID": str(len(events) - 1)}
        )
        assert rest and rest[0]["id"] == len(events)
        assert end["status"] == "finished" and end["output"]["status"] == "verified"
        assert "checked by hand" in end["output"]["evidence"]["reason"]
        assert end["usage"]["total"]["calls"] >= 5  # the calls before the pause still count
        assert client.post(url, json={"resume": {"approve": True}}).status_code == 409  # nothing waits now
        assert client.post("/api/runs/nope/resume", json={"resume": {}}).status_code == 404

        rejected = _run(client, {"workflow": "linc-reviewed", "input": PROBLEM})
        sse(client, f"/api/runs/{rejected['run_id']}/events")
        client.post(f"/api/runs/{rejected['run_id']}/resume", json={"resume": {"approve": False, "reason": "no"}})
        _rest, end = sse(client, f"/api/runs/{rejected['run_id']}/events", headers={"Last-Event-ID": "1000"})
        assert end["output"]["status"] == "abstained" and end["output"]["value"] is None


def test_a_paused_run_can_be_answered_after_a_restart(stub: OpenAIStub, tmp_path: Path) -> None:
    store = tmp_path / "ui.sqlite"
    extra = ("--model", f"openai:stub@{stub.base_url}", "--workflows", str(ROOT / "examples"))
    with Server(store, *extra) as first, httpx.Client(base_url=first.base, timeout=30) as client:
        run_id = _run(client, {"workflow": "linc-reviewed", "input": PROBLEM})["run_id"]
        _events, end = sse(client, f"/api/runs/{run_id}/events")
        assert end["status"] == "waiting"
    calls = len(stub.bodies)
    with Server(store, *extra) as second, httpx.Client(base_url=second.base, timeout=30) as client:
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "waiting"
        assert client.post(f"/api/runs/{run_id}/resume", json={"resume": {"approve": True}}).status_code == 200
        _events, end = sse(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "100000"})
        assert end["status"] == "finished" and end["output"]["value"] == "False"
    assert len(stub.bodies) == calls  # nothing before the pause ran again


def test_ctrl_c_with_a_browser_following_a_live_run_stops_promptly(tmp_path: Path) -> None:
    import signal
    import threading

    release = threading.Event()

    def slow(body: dict[str, Any]) -> Any:
        release.wait(30)
        return linc_handler(body)

    store = tmp_path / "ui.sqlite"
    with OpenAIStub(slow) as stub:
        server = Server(store, "--model", f"openai:stub@{stub.base_url}")
        with httpx.Client(base_url=server.base, timeout=30) as client:
            run_id = _run(client, {"workflow": "linc", "input": PROBLEM})["run_id"]
            seen: list[str] = []

            def follow() -> None:
                with httpx.stream("GET", f"{server.base}/api/runs/{run_id}/events", timeout=60) as resp:
                    for line in resp.iter_lines():
                        seen.append(line)

            reader = threading.Thread(target=follow, daemon=True)
            reader.start()
            time.sleep(1.0)
            started = time.monotonic()
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(20)
            assert time.monotonic() - started < 15
            reader.join(10)
            assert any(line.startswith("event: end") for line in seen)  # the stream ended, it was not cut
        release.set()
        server.stop()
    store_ = __import__("thinkgraph.ui.store", fromlist=["UIStore"]).UIStore(store)
    run = store_.run(run_id)
    assert run is not None and run.status == "failed" and "cancelled" in run.error
