"""The sandbox for model-written code: the CodeRunner conformance suite, call_function, the hostile suite.

* Conformance: every runner (bubblewrap, the unsandboxed opt-out) passes the same tests of results,
  limits and clean-up; the bubblewrap rows skip where bubblewrap cannot run.
* call_function: one sandbox start for many calls, its outcomes typed whatever the code does.
* Hostile programs (``tests/hostile/*.py``), each through the CLI: the status, and that the host is unaffected.
"""

from __future__ import annotations

import json
import marshal
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thinkgraph.messages import TRACE_EVENT
from thinkgraph.tools import _cgroup
from thinkgraph.tools.calls import JOB_FILE, call_function
from thinkgraph.tools.runners import BwrapRunner, UnsandboxedRunner
from thinkgraph.tools.sandbox import (
    CodeRunner,
    Execution,
    Job,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    SandboxUsageError,
    default_runner,
    make_job,
    run_program,
    sandbox_tool_call,
)

HOSTILE = Path(__file__).with_name("hostile")
FAST = SandboxLimits(timeout_s=20)  # generous: the test machine may be loaded; limits under test are set apart
HAS_CGROUP = _cgroup.available()


def _bwrap() -> BwrapRunner:
    try:
        return BwrapRunner()
    except SandboxUnavailable as exc:
        pytest.skip(f"no bubblewrap here: {exc}")


def _bwrap_as_nobody() -> BwrapRunner:
    """Root runs bubblewrap as nobody when the interpreter is reachable by nobody (the system Python)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not Path("/usr/bin/python3").exists():
        pytest.skip("needs root, setpriv and /usr/bin/python3")
    runner = BwrapRunner(python="/usr/bin/python3")
    if not runner.runs_as.startswith("nobody"):
        pytest.skip(f"bubblewrap cannot run as nobody here: {runner.runs_as}")
    return runner


def _bwrap_as_root() -> BwrapRunner:
    """Bubblewrap started by root and left root (no capabilities): the fallback where nobody cannot run it."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        return BwrapRunner(drop_root=False)
    except SandboxUnavailable as exc:
        pytest.skip(f"no bubblewrap here: {exc}")


@pytest.fixture(params=["bwrap", "bwrap-root", "unsandboxed"])
def runner(request: pytest.FixtureRequest) -> CodeRunner:
    if request.param == "bwrap-root":
        return _bwrap_as_root()
    return _bwrap() if request.param == "bwrap" else UnsandboxedRunner()


def _named(token: str, grace_s: float = 2.0) -> list[int]:
    """Live host processes (not zombies waiting for init to reap them) whose name (comm) is ``token``."""
    deadline = time.monotonic() + grace_s
    while True:
        found = []
        for pid in os.listdir("/proc"):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text() if pid.isdigit() else ""
            except OSError:
                continue
            name, _, rest = stat.rpartition(")")
            if name.partition("(")[2] == token and rest.split()[0] != "Z":
                found.append(int(pid))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _token() -> str:
    return "tg" + secrets.token_hex(6)


# ----------------------------------------------------------------------------- conformance: every runner


def test_a_runner_is_a_code_runner(runner: CodeRunner) -> None:
    assert isinstance(runner, CodeRunner)
    assert runner.isolated == (runner.name == "bwrap")


def test_ok_program_with_stdout_stdin_and_files(runner: CodeRunner) -> None:
    code = "import sys\nprint(sys.stdin.read().upper(), open('data/in.txt').read())\nprint('err', file=sys.stderr)"
    res = run_program(code, stdin="hello", files={"data/in.txt": "beside"}, limits=FAST, runner=runner)
    assert (res.status, res.exit_code, res.signal) == ("ok", 0, None)
    assert res.stdout == "HELLO beside\n" and res.stderr == "err\n"
    assert res.sandbox == runner.name and res.seconds > 0 and res.detail == ""


def test_non_zero_exit_is_error_and_syntax_error_is_error(runner: CodeRunner) -> None:
    res = run_program("import sys; print('partial'); sys.exit(3)", limits=FAST, runner=runner)
    assert (res.status, res.exit_code, res.stdout) == ("error", 3, "partial\n")
    res = run_program("def f(:\n", limits=FAST, runner=runner)
    assert res.status == "error" and res.exit_code == 1 and "SyntaxError" in res.stderr


def test_clean_environment_and_a_private_working_directory(runner: CodeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKGRAPH_TEST_SECRET", "s3cr3t-value")
    code = (
        "import os, json\nopen('made.txt', 'w').write('x')\n"
        "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(), 'files': sorted(os.listdir('.'))}))"
    )
    res = run_program(code, limits=FAST, runner=runner)
    seen = json.loads(res.stdout)
    assert set(seen["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "PWD", "LC_CTYPE"}
    assert "s3cr3t-value" not in res.stdout
    assert seen["files"] == ["made.txt", "main.py"] and seen["env"]["HOME"] == seen["cwd"]
    assert not Path(seen["cwd"]).exists() or seen["cwd"] == "/tmp"  # the unsandboxed directory is removed


def test_wall_clock_timeout(runner: CodeRunner) -> None:
    start = time.monotonic()
    res = run_program(
        "import time\nprint('started', flush=True)\ntime.sleep(60)", limits=SandboxLimits(timeout_s=1.5), runner=runner
    )
    assert res.status == "timeout" and "wall-clock" in res.detail
    assert res.stdout == "started\n"  # unbuffered: what it printed before the kill is kept
    assert 1.4 <= res.seconds and time.monotonic() - start < 10


def test_cpu_time_limit(runner: CodeRunner) -> None:
    res = run_program("while True: pass", limits=SandboxLimits(timeout_s=60, cpu_s=1), runner=runner)
    assert res.status == "timeout" and "CPU" in res.detail, res
    if HAS_CGROUP:  # measured for the whole run
        assert res.cpu_seconds is not None and 0.5 <= res.cpu_seconds < 5  # the kernel checks RLIMIT_CPU by ticks


RLIMITS = (
    "import resource as r\nprint([r.getrlimit(x) for x in (r.RLIMIT_AS, r.RLIMIT_CPU, r.RLIMIT_FSIZE, r.RLIMIT_CORE)])"
)


def test_rlimits_are_applied(runner: CodeRunner) -> None:
    limits = SandboxLimits(timeout_s=20, cpu_s=3, memory_mb=300, max_file_mb=5)
    res = run_program(RLIMITS, limits=limits, runner=runner)
    assert res.stdout == str([(300 << 20,) * 2, (3, 4), (5 << 20,) * 2, (0, 0)]) + "\n"


def test_the_fork_fallback_applies_the_same_limits(runner: CodeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /bin/sh cannot set the rlimits, a preexec_fn does (slower for a large host process)."""
    import thinkgraph.tools._launch as launch

    monkeypatch.setattr(launch, "_launcher_checked", False)
    limits = SandboxLimits(timeout_s=20, cpu_s=3, memory_mb=300, max_file_mb=5)
    assert (
        run_program(RLIMITS, limits=limits, runner=runner).stdout
        == str([(300 << 20,) * 2, (3, 4), (5 << 20,) * 2, (0, 0)]) + "\n"
    )
    res = run_program((HOSTILE / "fork_bomb.py").read_text(), stdin='{"token": "tgfallback"}', runner=runner)
    assert res.status == "killed" and _named("tgfallback") == []


def test_without_a_cgroup_processes_are_counted_and_killed(runner: CodeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import thinkgraph.tools._process as process

    monkeypatch.setattr(process.RunCgroup, "create", classmethod(lambda cls, **_: None))
    token = _token()
    bomb = (HOSTILE / "fork_bomb.py").read_text()
    res = run_program(bomb, stdin=json.dumps({"token": token}), limits=SandboxLimits(timeout_s=20), runner=runner)
    if res.status == "timeout":
        # the /proc scan is the weakest bound: on a saturated machine a bomb can outrun it until the wall clock
        # ends the run — still contained (the whole tree is killed below), but only the opt-out path may do this
        assert not runner.isolated, res.detail
    else:
        assert res.status == "killed" and "processes" in res.detail and res.seconds < 15
    deadline = time.monotonic() + 15  # killing a tree of hundreds of processes is not instantaneous
    while _named(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _named(token) == []


def test_memory_limit(runner: CodeRunner) -> None:
    res = run_program("x = b'x' * (900 << 20)", limits=SandboxLimits(timeout_s=20, memory_mb=256), runner=runner)
    assert res.status == "memory" and "MemoryError" in res.stderr


def test_output_limit_truncates_and_stops(runner: CodeRunner) -> None:
    code = "import sys\nwhile True: sys.stdout.write('y' * 4096)"
    res = run_program(code, limits=SandboxLimits(timeout_s=20, max_output_bytes=50_000), runner=runner)
    assert res.status == "killed" and res.stdout_truncated and len(res.stdout) == 50_000
    assert "stdout passed 50000 bytes" in res.detail


def test_process_limit_kills_the_run(runner: CodeRunner) -> None:
    code = "import os, time\nfor _ in range(100):\n    if os.fork() == 0:\n        time.sleep(30)\ntime.sleep(30)"
    res = run_program(code, limits=SandboxLimits(timeout_s=20, max_processes=8), runner=runner)
    assert res.status == "killed" and "more than 8 processes" in res.detail and res.seconds < 15


def test_file_size_limit(runner: CodeRunner) -> None:
    res = run_program("open('big', 'wb').write(b'x' * (3 << 20))", limits=SandboxLimits(max_file_mb=1), runner=runner)
    assert res.status == "error" and "File too large" in res.stderr


def test_nothing_the_program_started_survives_it(runner: CodeRunner) -> None:
    if runner.name == "unsandboxed" and not HAS_CGROUP:
        pytest.skip("without a cgroup a setsid daemon escapes the unsandboxed runner (documented)")
    token = _token()
    res = run_program(
        (HOSTILE / "daemon_child.py").read_text(), stdin=json.dumps({"token": token}), limits=FAST, runner=runner
    )
    assert res.status == "ok" and res.stdout == "daemon started\n"
    assert _named(token) == []


def test_limits_are_validated_and_bad_names_refused() -> None:
    with pytest.raises(ValueError):
        SandboxLimits(timeout_s=0)
    with pytest.raises(ValueError):
        SandboxLimits(memory_mb=1)
    for name in ("../x", "/etc/passwd", "-rf", "a/../../b"):
        with pytest.raises(SandboxUsageError):
            make_job("print(1)", files={name: "x"})
    with pytest.raises(SandboxUsageError, match="program's own name"):
        make_job("print(1)", files={"main.py": "x"})
    with pytest.raises(SandboxUsageError, match="max_file_mb"):
        make_job("print(1)", files={"big": "x" * (2 << 20)}, limits=SandboxLimits(max_file_mb=1))
    with pytest.raises(SandboxUsageError, match="cannot read"):
        run_program(Path("/nonexistent/prog.py"), runner=UnsandboxedRunner())


def test_no_cgroup_of_this_process_is_left_behind(runner: CodeRunner) -> None:
    run_program("print(1)", limits=FAST, runner=runner)
    mine = f"thinkgraph-sandbox-{os.getpid()}-"
    left = [p for p in Path("/sys/fs/cgroup").rglob(f"{mine}*") if p.is_dir()] if HAS_CGROUP else []
    assert left == []


@pytest.mark.skipif(not HAS_CGROUP, reason="needs a cgroup (root, or a delegated cgroup v2)")
def test_memory_of_all_processes_together_is_bounded() -> None:
    code = (
        "import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
        "        x = b'x' * (200 << 20)\n        time.sleep(1.5)\n        os._exit(0)\n    kids.append(pid)\n"
        "print([os.waitpid(k, 0)[1] for k in kids])"
    )
    res = run_program(code, limits=SandboxLimits(timeout_s=30, memory_mb=256, disk_mb=16), runner=_bwrap())
    assert res.status == "memory" and "together" in res.detail


# ----------------------------------------------------------------------------- choosing a runner


def test_missing_bubblewrap_is_refused_with_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        BwrapRunner(bwrap=str(tmp_path / "bwrap"))


def test_bubblewrap_that_cannot_make_namespaces_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match=r"No permissions to create new namespace.*allow-unsandboxed"):
        BwrapRunner(bwrap=str(fake))


def test_default_runner_refuses_unless_the_caller_opts_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import thinkgraph.tools.runners as runners
    import thinkgraph.tools.sandbox as sandbox

    def missing(**_: Any) -> BwrapRunner:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")

    monkeypatch.setattr(sandbox, "_RUNNERS", {})
    monkeypatch.setattr(runners, "BwrapRunner", missing)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        default_runner()
    with pytest.raises(SandboxUnavailable):
        run_program("print(1)")
    assert default_runner(allow_unsandboxed=True).name == "unsandboxed"
    assert run_program("print(1)", allow_unsandboxed=True).sandbox == "unsandboxed"


def test_non_root_bwrap_bounds_a_fork_bomb_and_a_loop() -> None:
    """As an unprivileged user: no cgroup, unprivileged user namespaces, RLIMIT_NPROC and /proc counting."""
    system = Path("/usr/bin/python3")
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not system.exists():
        pytest.skip("needs root (to drop to nobody), setpriv and /usr/bin/python3")
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    if version.stdout.strip() != str(sys.version_info[:2]):
        pytest.skip("/usr/bin/python3 is another minor version (pydantic's compiled core would not load)")
    import pydantic

    src = Path(__file__).resolve().parents[1] / "src"
    site = Path(pydantic.__file__).resolve().parents[1]
    tmp_path = Path(tempfile.mkdtemp(prefix="thinkgraph-nonroot-"))  # readable by nobody, unlike pytest's
    script = tmp_path / "nonroot.py"
    script.write_text(
        "import json, os\nfrom thinkgraph.tools.sandbox import SandboxLimits, default_runner, run_program\n"
        "r = default_runner()\nlim = SandboxLimits(timeout_s=3, max_processes=16)\n"
        f"bomb = open({str(HOSTILE / 'fork_bomb.py')!r}).read()\n"
        'out = [r.name, os.getuid()] + [run_program(c, stdin=\'{"token": "tgnonroot"}\', limits=lim, runner=r).status'
        " for c in ('print(1)', bomb, 'while True: pass')]\nprint(json.dumps(out))\n"
    )
    script.chmod(0o644)
    tmp_path.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{src}:{site}"}
    try:
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(system), str(script)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(tmp_path)
    if "cannot create its sandbox" in done.stderr:
        pytest.skip("unprivileged user namespaces are disabled here")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["bwrap", 65534, "ok", "killed", "timeout"]
    assert _named("tgnonroot") == []


# ----------------------------------------------------------------------------- call_function


CALLS = """
import os, time
def f(x, y=0):
    if x == 3:
        raise ValueError("three")
    if x == 4:
        while True:
            pass
    if x == 5:
        return {1, 2}
    return (x + y, [x], os.getpid())
"""


def test_call_function_returns_each_value_or_error_from_one_process(runner: CodeRunner) -> None:
    limits = SandboxLimits(timeout_s=30, call_timeout_s=0.5)
    run = call_function(CALLS, "f", [[1], [2, 5], [3], [4], [5], [6]], limits=limits, runner=runner)
    assert run.result.status == "ok" and run.loaded and run.rejected_frames == 0
    o = run.outcomes
    assert [x.ok for x in o] == [True, True, False, False, False, True]
    assert o[0].value[:2] == [1, [1]] and o[1].value[:2] == [7, [2]] and o[5].value[:2] == [6, [6]]
    assert len({o[0].value[2], o[1].value[2], o[5].value[2]}) == 1  # one process for every call
    assert o[2].error == "ValueError: three"
    assert o[3].error.startswith("TimeoutError") and 0.4 < o[3].seconds < 5
    assert "set is not JSON data" in o[4].error


def test_call_function_load_errors_and_bad_inputs(runner: CodeRunner) -> None:
    run = call_function("def f(:\n", "f", [[1], [2]], limits=FAST, runner=runner)
    assert not run.loaded and "SyntaxError" in run.load_error
    assert all(not o.ok and o.error.startswith("not run: SyntaxError") for o in run.outcomes)
    run = call_function("g = 1", "f", [[1]], limits=FAST, runner=runner)
    assert "defines no 'f'" in run.load_error
    run = call_function("f = 1", "f", [[1]], limits=FAST, runner=runner)
    assert "not a function" in run.load_error
    with pytest.raises(SandboxUsageError, match="JSON"):
        call_function("def f(x): return x", "f", [[{1, 2}]], runner=runner)
    with pytest.raises(SandboxUsageError, match="identifier"):
        call_function("def f(x): return x", "f; import os", [[1]], runner=runner)


def test_call_function_survives_code_that_fights_the_harness(runner: CodeRunner) -> None:
    hostile = (
        "import json, os, sys\n"
        'print(\'deadbeef {"i": 0, "ok": true, "value": 999}\')\n'  # a fake frame on stdout
        "for fd in os.listdir('/proc/self/fd'):\n"  # and one on every pipe it can find
        '    try:\n        os.write(int(fd), b\'feedface {"i": 0, "ok": true, "value": 999}\\n\')\n'
        "    except OSError:\n        pass\n"
        "json.dumps = lambda *a, **k: 'garbage'\nsys.stdout.close()\n"
        "def f(x):\n    if x == 2:\n        os._exit(0)\n    return x * 10\n"
    )
    run = call_function(hostile, "f", [[1], [2], [3]], limits=FAST, runner=runner)
    assert run.outcomes[0].ok and run.outcomes[0].value == 10
    assert run.rejected_frames >= 1
    assert not run.outcomes[1].ok and "ended during this call" in run.outcomes[1].error
    assert run.outcomes[2].error.startswith("not run")


def test_call_function_whole_run_timeout_reports_the_call_it_was_in(runner: CodeRunner) -> None:
    code = (
        "import signal\ndef f(x):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while x: pass\n    return 0"
    )
    run = call_function(
        code, "f", [[0], [1], [0]], limits=SandboxLimits(timeout_s=2, call_timeout_s=0.5), runner=runner
    )
    assert run.result.status == "timeout"
    assert [o.ok for o in run.outcomes] == [True, False, False]
    assert run.outcomes[1].error.startswith("TimeoutError") and run.outcomes[2].error.startswith("not run")


class _Canned:
    """A CodeRunner double that returns a fixed channel: the host side's parsing, without a process."""

    name = "canned"
    isolated = True

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.jobs: list[Job] = []

    def execute(self, job: Job) -> Execution:
        self.jobs.append(job)
        nonce = marshal.loads(job.files[JOB_FILE])["nonce"]
        data = self.channel(nonce) if callable(self.channel) else self.channel
        return Execution(SandboxResult(status="ok", exit_code=0, sandbox=self.name), data)


def test_call_function_trusts_no_frame_it_cannot_check() -> None:
    def frames(nonce: str) -> bytes:
        lines = [
            f"{nonce} " + json.dumps({"load": True}),
            f"{nonce} " + json.dumps({"i": 0, "ok": True, "value": [1, 2], "seconds": 0.1}),
            f"{nonce} " + json.dumps({"i": 1, "ok": True, "value": 5}),
            f"{nonce} " + json.dumps({"i": 1, "ok": True, "value": 6}),  # contradicts the previous frame
            f"{nonce} " + json.dumps({"i": 7, "ok": True, "value": 5}),  # no such input
            f"{nonce} not json",
            "0000 " + json.dumps({"i": 2, "ok": True, "value": 5}),  # wrong nonce
            f"{nonce} " + json.dumps(["a list"]),
            "\xff\xfe garbage",
        ]
        return "\n".join(lines).encode("utf-8", "surrogateescape")

    runner = _Canned(frames)
    run = call_function("def f(x): return x", "f", [[0], [1], [2]], runner=runner)
    assert run.outcomes[0] == run.outcomes[0].model_copy(update={"ok": True, "value": [1, 2], "seconds": 0.1})
    assert "conflicting" in run.outcomes[1].error and run.outcomes[2].error.startswith("not run")
    assert run.rejected_frames == 6
    job = marshal.loads(runner.jobs[0].files[JOB_FILE])
    assert job["inputs"] == [[0], [1], [2]] and len(job["nonce"]) == 32
    assert call_function("x", "f", [[1]], runner=_Canned(b"")).load_error.startswith("the code did not load")


def test_a_run_becomes_a_tool_call_trace_event() -> None:
    res = SandboxResult(status="timeout", exit_code=None, signal=9, stdout="x" * 10_000, detail="wall", sandbox="bwrap")
    event = sandbox_tool_call(res, code="while True: pass", limits=SandboxLimits(timeout_s=2), node="check")
    back = TRACE_EVENT.validate_json(TRACE_EVENT.dump_json(event))
    assert back == event and event.tool == "sandbox" and event.error == "timeout: wall"
    assert event.input["code"] == "while True: pass" and event.input["limits"]["timeout_s"] == 2
    assert event.output["status"] == "timeout" and len(event.output["stdout"]) < 5000


# ----------------------------------------------------------------------------- hostile programs, through the CLI


def _cli(*args: str, stdin: Any = None, tmp: Path, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    cmd = [sys.executable, "-m", "thinkgraph", "sandbox", "run", *args]
    if stdin is not None:
        (tmp / "stdin.json").write_text(json.dumps(stdin))
        cmd += ["--input", str(tmp / "stdin.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    parsed = json.loads(done.stdout) if "--json" in args and done.stdout.strip() else done.stdout
    return done.returncode, parsed, done.stderr


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Any]:
    _bwrap()

    def run(name: str, *args: str, stdin: Any = None) -> tuple[int, dict[str, Any]]:
        code, out, err = _cli(str(HOSTILE / name), "--json", *args, stdin=stdin, tmp=tmp_path)
        assert isinstance(out, dict), err
        assert out["sandbox"] == "bwrap"
        return code, out

    yield run
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still start processes


def test_hostile_infinite_loop_times_out(hostile: Any) -> None:
    code, out = hostile("infinite_loop.py", "--timeout", "2")
    assert code == 1 and out["status"] == "timeout" and 1.9 < out["seconds"] < 10


def test_hostile_fork_bomb_is_contained(hostile: Any) -> None:
    token = _token()
    code, out = hostile("fork_bomb.py", "--timeout", "10", stdin={"token": token})
    assert code == 1 and out["status"] in ("killed", "error") and out["seconds"] < 9
    assert _named(token) == []


def test_hostile_memory_bomb_runs_out_of_memory(hostile: Any) -> None:
    code, out = hostile("memory_bomb.py", "--memory-mb", "256", "--timeout", "20")
    assert code == 1 and out["status"] == "memory"


def test_hostile_writes_outside_its_directory_fail(hostile: Any, tmp_path: Path) -> None:
    host = [tmp_path / "escaped.txt", Path("/etc") / _token(), Path.home() / _token(), Path.cwd() / _token()]
    paths = [str(p) for p in host] + ["/usr/escaped", "/escaped", "/tmp/inside.txt"]
    code, out = hostile("write_outside.py", stdin={"paths": paths})
    assert code == 0 and out["status"] == "ok"
    report = json.loads(out["stdout"])
    assert report.pop("/tmp/inside.txt") == "written"  # its own /tmp is writable
    assert all(v.startswith(("OSError", "FileNotFoundError", "PermissionError")) for v in report.values()), report
    assert not any(p.exists() for p in host)


def test_hostile_program_cannot_read_host_files(hostile: Any) -> None:
    paths = ["/etc/shadow", "/etc/hostname", "/home", str(Path.cwd()), str(Path(__file__)), "/usr/bin"]
    _, out = hostile("read_host_files.py", stdin={"paths": paths})
    report = json.loads(out["stdout"])
    assert report.pop("/usr/bin").startswith("listed")  # the system is there, read-only
    assert all(v == "FileNotFoundError" for v in report.values()), report


def test_hostile_network_connection_to_a_loopback_server_fails(hostile: Any) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                accepted.append(conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:  # the server does accept
            probe.sendall(b"host")
        deadline = time.monotonic() + 5
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert accepted == [b"host"]
        _, out = hostile("network.py", stdin={"port": port})
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert out["status"] == "ok" and out["stdout"].startswith("failed:")
    assert accepted == [b"host"]


def test_hostile_program_cannot_see_the_hosts_secrets(hostile: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "tg-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("THINKGRAPH_TEST_SECRET", secret)
    _, out = hostile("env_secret.py")
    assert out["status"] == "ok" and secret not in out["stdout"] and "THINKGRAPH_TEST_SECRET" not in out["stdout"]
    seen = json.loads(out["stdout"])
    assert seen["proc"]["1"].startswith("PATH=")  # bwrap's own (clean) environment is what pid 1 shows


def test_hostile_program_cannot_change_kernel_settings(hostile: Any) -> None:
    _, out = hostile("kernel_settings.py")
    report = json.loads(out["stdout"])
    assert report and all(v in ("OSError", "PermissionError") for v in report.values()), report


@pytest.mark.parametrize("make", [_bwrap_as_root, _bwrap_as_nobody], ids=["as-root", "as-nobody"])
def test_kernel_settings_are_out_of_reach_as_root_and_as_nobody(make: Any) -> None:
    runner = make()
    res = run_program((HOSTILE / "kernel_settings.py").read_text(), limits=FAST, runner=runner)
    report = json.loads(res.stdout)
    assert report and all(v in ("OSError", "PermissionError") for v in report.values()), (runner.runs_as, report)
    uid = run_program("import os; print(os.getuid())", limits=FAST, runner=runner).stdout
    assert uid == ("65534\n" if runner.runs_as.startswith("nobody") else "0\n")


def test_hostile_shell_commands_cannot_touch_the_host(hostile: Any, tmp_path: Path) -> None:
    target = Path.cwd() / _token()
    _, out = hostile("shell.py", stdin={"path": str(target)})
    assert out["status"] in ("ok", "error") and "os.system:" in out["stdout"]
    assert not target.exists()


def test_hostile_child_processes_are_gone_after_the_run(hostile: Any) -> None:
    token = _token()
    code, out = hostile("daemon_child.py", stdin={"token": token})
    assert code == 0 and out["status"] == "ok" and out["stdout"] == "daemon started\n"
    assert _named(token) == []


def test_hostile_huge_stdout_is_truncated(hostile: Any) -> None:
    code, out = hostile("huge_stdout.py", "--max-output-bytes", "65536")
    assert code == 1 and out["status"] == "killed" and out["stdout_truncated"]
    assert len(out["stdout"]) == 65536


# ----------------------------------------------------------------------------- the CLI with normal programs


def test_cli_runs_normal_programs(tmp_path: Path) -> None:
    _bwrap()
    prog = tmp_path / "echo.py"
    prog.write_text("import sys\ndata = sys.stdin.read()\nprint(data.strip()[::-1])\nsys.exit(int(data[0]))\n")
    (tmp_path / "in0.txt").write_text("0 abc")
    code, out, err = _cli(str(prog), "--input", str(tmp_path / "in0.txt"), tmp=tmp_path)
    assert code == 0 and out == "cba 0\n" and "sandbox (bwrap): ok" in err
    (tmp_path / "in4.txt").write_text("4 abc")
    code, out, err = _cli(str(prog), "--json", "--input", str(tmp_path / "in4.txt"), tmp=tmp_path)
    assert code == 1 and out["status"] == "error" and out["exit_code"] == 4 and out["stdout"] == "cba 4\n"
    bad = tmp_path / "bad.py"
    bad.write_text("print(\n")
    code, out, err = _cli(str(bad), "--json", tmp=tmp_path)
    assert code == 1 and out["status"] == "error" and "SyntaxError" in out["stderr"]


def test_cli_check_says_which_isolation_this_machine_has() -> None:
    _bwrap()
    cmd = [sys.executable, "-m", "thinkgraph", "sandbox", "check", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    facts = json.loads(done.stdout)
    assert done.returncode == 0 and facts["runner"] == "bwrap" and facts["isolated"] is True
    assert facts["cgroup"] == HAS_CGROUP


def test_cli_usage_errors_and_refusal_without_bubblewrap(tmp_path: Path) -> None:
    code, _, err = _cli(str(tmp_path / "missing.py"), tmp=tmp_path)
    assert code == 2 and "no such file" in err
    prog = tmp_path / "p.py"
    prog.write_text("print('ran')\n")
    code, _, err = _cli(str(prog), "--timeout", "0", tmp=tmp_path)
    assert code == 2
    no_bwrap = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    code, _, err = _cli(str(prog), tmp=tmp_path, env=no_bwrap)
    assert code == 4 and "apt-get install bubblewrap" in err and "--allow-unsandboxed" in err
    code, out, err = _cli(str(prog), "--json", "--allow-unsandboxed", tmp=tmp_path, env=no_bwrap)
    assert code == 0 and out["status"] == "ok" and out["sandbox"] == "unsandboxed" and out["stdout"] == "ran\n"


def test_the_benchmark_runs_and_prints_its_figures() -> None:
    _bwrap()
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "sandbox.py"
    done = subprocess.run([sys.executable, str(bench), "--runs", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["startup_ratio"] > 0 and figures["isolated_ratio"] > 0 and figures["call_function_100_ms"] > 0
