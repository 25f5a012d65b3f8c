"""The harness :func:`thinkgraph.tools.calls.call_function` runs inside the sandbox (built-in modules only).

Run as ``python -I -S harness.py CHANNEL_FD`` beside ``job.marshal`` (nonce, code, function, inputs,
limits, written by the host).  Before the model's code is executed it reads and deletes the job, moves the
channel to a fresh non-inheritable fd, closes the one it was given, and keeps its own references to
``os.write``, the encoder and the clock, so code that closes fds, replaces ``json`` or prints garbage
cannot break the protocol by accident.  Each frame on the channel is ``NONCE JSON\\n``::

    {"load": true} | {"load": false, "error": "SyntaxError: ..."}
    {"start": i}                      before call i
    {"i": i, "ok": true, "value": v, "seconds": s} | {"i": i, "ok": false, "error": "...", "seconds": s}
    {"done": true}

It imports no ``json``, ``signal`` or ``types`` (they pull in ``re`` and ``enum``: ~3x the start-up of the
interpreter itself); values are encoded by a small JSON writer over ``_json``'s string quoting.
A call longer than ``call_timeout_s`` is interrupted by ``SIGALRM`` (code that blocks the signal, or
spins in C, is stopped by the run's own limits instead).
"""

import _signal
import marshal
import os
import sys
import time

try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - an interpreter without CPython's _json
    from json.encoder import encode_basestring_ascii as _quote

_write = os.write
_clock = time.perf_counter
_setitimer = _signal.setitimer
_INF = float("inf")


class _CallTimeout(BaseException):
    pass


class _TooLarge(Exception):
    pass


def _describe(exc):
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:2000]


def _encode(value, put, depth=0):
    """Write the JSON text of ``value`` through ``put``; tuples become lists, anything else not JSON raises."""
    kind = type(value)
    if depth > 100:
        raise TypeError("the result is nested too deeply")
    if value is None:
        put("null")
    elif kind is bool:
        put("true" if value else "false")
    elif kind is int:
        put(int.__repr__(value))
    elif kind is float:
        if value != value:
            put("NaN")
        elif value in (_INF, -_INF):
            put("Infinity" if value > 0 else "-Infinity")
        else:
            put(float.__repr__(value))
    elif kind is str:
        put(_quote(value))
    elif kind is list or kind is tuple:
        put("[")
        for n, item in enumerate(value):
            if n:
                put(",")
            _encode(item, put, depth + 1)
        put("]")
    elif kind is dict:
        put("{")
        for n, (key, item) in enumerate(value.items()):
            if type(key) is not str:
                raise TypeError(f"a result dict has a key of type {type(key).__name__}; JSON keys are strings")
            put(("," if n else "") + _quote(key) + ":")
            _encode(item, put, depth + 1)
        put("}")
    else:
        raise TypeError(f"a result of type {kind.__name__} is not JSON data")


def _to_json(value, limit):
    out = []
    left = [limit]

    def put(piece):
        left[0] -= len(piece)
        if left[0] < 0:
            raise _TooLarge()
        out.append(piece)

    _encode(value, put)
    return "".join(out)


def main():
    given = int(sys.argv[1])
    channel = os.dup(given)  # os.dup gives a non-inheritable fd: the code's subprocesses do not get it
    os.close(given)
    with open("job.marshal", "rb") as handle:
        job = marshal.loads(handle.read())
    os.unlink("job.marshal")
    head = job["nonce"] + " "
    value_limit = job["value_limit"]
    call_timeout = job["call_timeout_s"]

    def send(text):
        data = (head + text + "\n").encode("utf-8", "surrogatepass")
        while data:
            data = data[_write(channel, data) :]

    def on_alarm(signum, frame):
        raise _CallTimeout()

    module = type(sys)("solution")
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
        send('{"load": false, "error": ' + _quote(_describe(exc)) + "}")
        return
    send('{"load": true}')
    for i, args in enumerate(job["inputs"]):
        send(f'{{"start": {i}}}')
        _signal.signal(_signal.SIGALRM, on_alarm)
        start = _clock()
        error = None
        try:
            _setitimer(_signal.ITIMER_REAL, call_timeout)
            try:
                value = func(*args)
            finally:
                _setitimer(_signal.ITIMER_REAL, 0)
            text = _to_json(value, value_limit)
        except _CallTimeout:
            error = f"TimeoutError: the call took more than {call_timeout:g}s"
        except _TooLarge:
            error = f"ValueError: the result is more than {value_limit} bytes of JSON"
        except BaseException as exc:
            error = _describe(exc)
        seconds = float.__repr__(round(_clock() - start, 6))
        if error is None:
            send(f'{{"i": {i}, "ok": true, "value": {text}, "seconds": {seconds}}}')
        else:
            send(f'{{"i": {i}, "ok": false, "error": {_quote(error)}, "seconds": {seconds}}}')
    send('{"done": true}')


if __name__ == "__main__":
    main()
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    os._exit(0)
