"""The harness :func:`thinkgraph.tools.calls.call_function` runs inside the sandbox (standard library only).

Run as ``python -I -S harness.py CHANNEL_FD`` beside ``job.json`` (nonce, code, function, inputs, limits).
Before the model's code is imported it reads and deletes ``job.json``, moves the channel to a fresh
non-inheritable fd, closes the one it was given, and keeps its own references to ``os.write``,
``json.dumps`` and the clock, so code that closes fds, replaces ``json`` or prints garbage cannot break the
protocol by accident.  Each frame on the channel is ``NONCE JSON\\n``::

    {"load": true} | {"load": false, "error": "SyntaxError: ..."}
    {"start": i}                      before call i
    {"i": i, "ok": true, "value": v, "seconds": s} | {"i": i, "ok": false, "error": "...", "seconds": s}
    {"done": true}

A call longer than ``call_timeout_s`` is interrupted by ``SIGALRM`` (code that blocks the signal, or
spins in C, is stopped by the run's own limits instead).
"""

import json
import os
import signal
import sys
import time
import types

_write = os.write
_dumps = json.dumps
_clock = time.perf_counter
_setitimer = signal.setitimer


class _CallTimeout(BaseException):
    pass


def _describe(exc):
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:2000]


def _plain(value, depth=0):
    """The value as JSON data: tuples become lists; anything else not JSON raises TypeError."""
    if depth > 100:
        raise TypeError("the result is nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return [_plain(v, depth + 1) for v in value]
    if type(value) is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise TypeError(f"a result dict has a key of type {type(k).__name__}; JSON keys are strings")
            out[k] = _plain(v, depth + 1)
        return out
    raise TypeError(f"a result of type {type(value).__name__} is not JSON data")


def main():
    given = int(sys.argv[1])
    channel = os.dup(given)  # os.dup gives a non-inheritable fd: the code's subprocesses do not get it
    os.close(given)
    with open("job.json", encoding="utf-8") as handle:
        job = json.loads(handle.read())
    os.unlink("job.json")
    nonce = job["nonce"]
    value_limit = job["value_limit"]
    call_timeout = job["call_timeout_s"]

    def send(frame):
        data = (nonce + " " + _dumps(frame, allow_nan=True) + "\n").encode("utf-8")
        while data:
            data = data[_write(channel, data) :]

    def on_alarm(signum, frame):
        raise _CallTimeout()

    module = types.ModuleType("solution")
    module.__file__ = "solution.py"
    sys.modules["solution"] = module
    sys.argv = ["solution.py"]
    try:
        exec(compile(job["code"], "solution.py", "exec"), module.__dict__)
        func = module.__dict__.get(job["function"])
        if func is None:
            raise NameError(f"the code defines no {job['function']!r}")
        if not callable(func):
            raise TypeError(f"{job['function']!r} is a {type(func).__name__}, not a function")
    except BaseException as exc:
        send({"load": False, "error": _describe(exc)})
        return
    send({"load": True})
    for i, args in enumerate(job["inputs"]):
        send({"start": i})
        signal.signal(signal.SIGALRM, on_alarm)
        start = _clock()
        try:
            _setitimer(signal.ITIMER_REAL, call_timeout)
            try:
                value = func(*args)
            finally:
                _setitimer(signal.ITIMER_REAL, 0)
            frame = {"i": i, "ok": True, "value": _plain(value)}
        except _CallTimeout:
            frame = {"i": i, "ok": False, "error": f"TimeoutError: the call took more than {call_timeout:g}s"}
        except BaseException as exc:
            frame = {"i": i, "ok": False, "error": _describe(exc)}
        frame["seconds"] = round(_clock() - start, 6)
        try:
            text = _dumps(frame, allow_nan=True)
        except BaseException as exc:
            text = ""
            frame = {"i": i, "ok": False, "error": _describe(exc), "seconds": frame["seconds"]}
        if len(text) > value_limit:
            frame = {
                "i": i,
                "ok": False,
                "error": f"ValueError: the result is {len(text)} bytes of JSON; at most {value_limit} are kept",
                "seconds": frame["seconds"],
            }
        send(frame)
    send({"done": True})


if __name__ == "__main__":
    main()
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    os._exit(0)
