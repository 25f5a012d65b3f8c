"""``vllm:MODEL`` with a stand-in ``vllm`` executable on PATH (tests/fake_vllm/vllm; no GPU here): the server
starts on a free loopback port with prefix caching, the first call waits for /health, ``n`` goes in one request,
``aclose()`` stops the whole process group (SIGKILL for one that ignores SIGTERM), an early exit and a server
that never gets healthy are clear errors quoting its output, and without ``vllm`` the error says how to get it.
``vllm:MODEL@URL`` attaches to a running server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from thinkgraph.llm import ChatRequest, ModelUnavailable, load_model
from thinkgraph.llm.vllm import VLLMModel, VLLMServer, free_port

FAKE = Path(__file__).resolve().parent / "fake_vllm"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups")


@pytest.fixture(autouse=True)
def fake_vllm_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKE}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("FAKE_VLLM_STARTUP_S", "FAKE_VLLM_EXIT", "FAKE_VLLM_UNHEALTHY", "FAKE_VLLM_CHILD"):
        monkeypatch.delenv(var, raising=False)


def req(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest.of([("user", text)], **kw)


def stats(model: VLLMModel) -> dict[str, Any]:
    assert model.server is not None
    with urllib.request.urlopen(f"{model.server.url}/stats", timeout=5) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def vllm(spec: str = "vllm:fake/model", **kw: Any) -> VLLMModel:
    model = load_model(spec, **kw)
    assert isinstance(model, VLLMModel)
    return model


def test_starts_waits_for_health_uses_n_in_one_request_and_stops() -> None:
    model = vllm(env={"FAKE_VLLM_STARTUP_S": "0.5", "FAKE_VLLM_CHILD": "1"}, stop_grace_s=5)
    server = model.server
    assert server is not None and server.process is not None  # started when loaded (warm-up), not at first call
    assert model.url == f"http://127.0.0.1:{server.port}/v1" and model.name == "vllm:fake/model"

    async def go() -> Any:
        first = await model.chat(req(n=6, temperature=0.8, seed=1))  # waits out the slow start
        seen = stats(model)
        await model.aclose()
        return first, seen

    first, seen = asyncio.run(go())
    assert len(first.texts) == 6 and len(set(first.texts)) == 6
    assert seen["requests"] == 1  # n in one request
    assert seen["argv"][:2] == ["serve", "fake/model"] and "--enable-prefix-caching" in seen["argv"]
    assert seen["argv"][seen["argv"].index("--host") + 1] == "127.0.0.1"
    assert server.process is None and not alive(seen["pid"]) and not alive(seen["child"])  # the group is gone


def test_a_server_that_ignores_sigterm_is_killed() -> None:
    model = vllm(env={"FAKE_VLLM_IGNORE_TERM": "1"}, stop_grace_s=0.5)

    async def go() -> int:
        await model.chat(req())
        pid = int(stats(model)["pid"])
        start = time.perf_counter()
        await model.aclose()
        assert time.perf_counter() - start < 5
        return pid

    assert not alive(asyncio.run(go()))


def test_a_server_that_exits_early_is_a_clear_error_with_its_output() -> None:
    model = vllm(env={"FAKE_VLLM_EXIT": "3"})
    with pytest.raises(ModelUnavailable, match=r"exited with code 3") as info:
        asyncio.run(model.chat(req()))
    assert "CUDA out of memory (fake)" in str(info.value) and "vllm serve fake/model" in str(info.value)
    with pytest.raises(ModelUnavailable, match="exited with code 3"):  # the same error again, no restart
        asyncio.run(model.chat(req()))
    assert model.server is not None and model.server.process is None


def test_a_server_that_never_gets_healthy_times_out_and_is_stopped() -> None:
    model = vllm(env={"FAKE_VLLM_UNHEALTHY": "1"}, startup_timeout_s=1.0, stop_grace_s=2)
    assert model.server is not None
    proc = model.server.process
    assert proc is not None
    start = time.perf_counter()
    with pytest.raises(ModelUnavailable, match=r"not healthy after 1 s") as info:
        asyncio.run(model.chat(req()))
    assert time.perf_counter() - start < 5
    assert "Application startup complete" in str(info.value)  # its output is quoted
    assert proc.poll() is not None and model.server.process is None


def test_without_vllm_the_error_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ModelUnavailable, match=r"pip install vllm.*GPU"):
        load_model("vllm:Qwen/Qwen2.5-7B-Instruct")


def test_the_cli_reports_a_missing_vllm_as_a_setup_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from thinkgraph.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["ask", "--example", "--model", "vllm:some/model", "-q"]) == 4
    assert "pip install vllm" in capsys.readouterr().err


def test_interpreter_exit_stops_the_server(tmp_path: Path) -> None:
    code = (
        "import sys; from thinkgraph.llm import load_model\n"
        "m = load_model('vllm:fake/model')\n"
        "print(m.server.process.pid, flush=True)\n"
    )
    env = {**os.environ, "PATH": f"{FAKE}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.strip())
    assert not alive(pid)


def test_attach_to_a_running_server_and_the_cache_id_ignores_the_port() -> None:
    port = free_port()
    server = VLLMServer("fake/model", port=port)
    try:
        asyncio.run(server.wait_healthy())
        model = vllm(f"vllm:fake/model@http://127.0.0.1:{port}/v1")
        assert model.server is None and model.name == f"vllm:fake/model@http://127.0.0.1:{port}/v1"
        assert model.native_n is True and model.cache_id == "vllm:fake/model"
        resp = asyncio.run(model.chat(req(n=3, temperature=0.9)))
        assert len(resp.texts) == 3
        asyncio.run(model.aclose())
        assert server.process is not None and server.process.poll() is None  # attaching never stops it
    finally:
        server.stop()


def test_grammar_goes_in_structured_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    from thinkgraph.llm.remote import request_kwargs

    model = vllm("vllm:m@http://127.0.0.1:9/v1")
    kw = request_kwargs(req(grammar='root ::= "a"'), n=1, grammar_field=model.grammar_field)
    assert kw["extra_body"] == {"structured_outputs": {"grammar": 'root ::= "a"'}}
    old = vllm("vllm:m@http://127.0.0.1:9/v1", grammar_field="guided_grammar")
    kw = request_kwargs(req(grammar='root ::= "a"'), n=1, grammar_field=old.grammar_field)
    assert kw["extra_body"] == {"guided_grammar": 'root ::= "a"'}


def test_extra_server_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKGRAPH_VLLM_ARGS", "--max-model-len 4096 --gpu-memory-utilization 0.8")
    model = vllm(warmup=False)
    assert model.server is not None and model.server.process is None  # warmup=False: not started yet
    assert model.server.command[-4:] == ["--max-model-len", "4096", "--gpu-memory-utilization", "0.8"]
    assert vllm(args=["--dtype", "half"], warmup=False).server.command[-2:] == ["--dtype", "half"]  # type: ignore[union-attr]
