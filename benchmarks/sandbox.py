"""What a sandboxed run costs: start-up against a plain Python start, and call_function on 100 inputs.

All in one process, the variants alternating round by round so machine noise falls on each; medians:

* ``plain_ms``: ``python3 -c pass`` as a subprocess (``sys.executable``: the interpreter this runs under,
  a normal start with ``site``; what ``.pth`` files the installation has weighs on this figure);
* ``plain_isolated_ms``: ``python3 -I -S -c pass`` (the interpreter and flags the sandbox uses, no sandbox);
* ``sandbox_ms``: ``run_program("print(1)")`` with bubblewrap (namespaces, mounts, rlimits, cgroup, clean-up);
* ``sandbox_site_ms``: the same with ``site`` imported (``BwrapRunner(site=True)``): what ``-S`` saves;
* ``unsandboxed_ms``: the opt-out runner (rlimits, cgroup, private directory; no namespaces);
* ``call_function_100_ms``: ``call_function`` of a small function on 100 inputs (one sandbox start).

    python benchmarks/sandbox.py [--runs 21]

Last line: JSON with those figures, ``startup_ratio`` = sandbox_ms / plain_ms and ``isolated_ratio`` =
sandbox_ms / plain_isolated_ms (what the sandbox itself adds to a start with the same flags).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thinkgraph.tools._cgroup import available as cgroup_available
from thinkgraph.tools.calls import call_function
from thinkgraph.tools.runners import BwrapRunner, UnsandboxedRunner
from thinkgraph.tools.sandbox import CodeRunner, SandboxLimits, run_program

CODE = "def f(a, b):\n    return [a + b, str(a) * 2]\n"


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _program(runner: CodeRunner) -> Callable[[], object]:
    def run() -> object:
        result = run_program("print(1)", limits=SandboxLimits(timeout_s=30), runner=runner)
        if result.status != "ok" or result.stdout != "1\n":
            raise SystemExit(f"the sandboxed run failed: {result}")
        return result

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="runs of each variant (default 21)")
    args = parser.parse_args()
    bwrap, bwrap_site, unsandboxed = BwrapRunner(), BwrapRunner(site=True), UnsandboxedRunner()
    inputs = [[i, i + 1] for i in range(100)]

    def calls() -> object:
        run = call_function(CODE, "f", inputs, limits=SandboxLimits(timeout_s=30), runner=bwrap)
        if not run.all_ok or run.outcomes[99].value != [199, "9999"]:
            raise SystemExit(f"call_function failed: {run.result}")
        return run

    variants: dict[str, Callable[[], object]] = {
        "plain_ms": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
        "plain_isolated_ms": lambda: subprocess.run([bwrap.python, "-I", "-S", "-c", "pass"], check=True),
        "sandbox_ms": _program(bwrap),
        "sandbox_site_ms": _program(bwrap_site),
        "unsandboxed_ms": _program(unsandboxed),
        "call_function_100_ms": calls,
    }
    for fn in variants.values():  # warm-up: page cache, the first cgroup
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(_ms(variants[name]))
    figures: dict[str, object] = {name: round(statistics.median(v), 1) for name, v in times.items()}
    sandbox = statistics.median(times["sandbox_ms"])
    figures["startup_ratio"] = round(sandbox / statistics.median(times["plain_ms"]), 2)
    figures["isolated_ratio"] = round(sandbox / statistics.median(times["plain_isolated_ms"]), 2)
    figures["runs"] = args.runs
    figures["cgroup"] = cgroup_available()
    figures["sandbox_python"] = bwrap.python
    figures["runs_as"] = bwrap.runs_as
    figures["load_1min"] = round(os.getloadavg()[0], 2)
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
