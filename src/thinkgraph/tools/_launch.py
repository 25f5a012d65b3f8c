"""How a run starts and how its processes are found: rlimits, the ``/bin/sh`` launcher, ``/proc`` scans.

The launcher joins the run's cgroup, sets the rlimits and execs the command.  Python starts it with vfork
(no ``preexec_fn``), which costs the same for a host process of 50 MB or of 5 GB; a ``preexec_fn`` forces
a fork that copies the host's page tables (measured: 7 ms against 430 ms with 2 GB resident).  Where
``/bin/sh`` does not set the limits exactly as asked (checked once per process), the supervisor falls back
to a ``preexec_fn``.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import subprocess
from collections.abc import Sequence

from thinkgraph.tools._cgroup import RunCgroup
from thinkgraph.tools.sandbox import SandboxLimits

MiB = 1 << 20


def _set_limit(which: int, value: int) -> tuple[int, int, int]:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    return which, value, value


def rlimits_for(limits: SandboxLimits, nproc: int | None) -> list[tuple[int, int, int]]:
    cpu = max(1, math.ceil(limits.cpu_limit_s))
    out = [
        _set_limit(resource.RLIMIT_AS, limits.memory_mb * MiB),
        _set_limit(resource.RLIMIT_FSIZE, limits.max_file_mb * MiB),
        _set_limit(resource.RLIMIT_CORE, 0),
    ]
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cpu_hard = cpu + 1 if hard == resource.RLIM_INFINITY else min(cpu + 1, hard)
    out.append((resource.RLIMIT_CPU, min(cpu, cpu_hard), cpu_hard))
    if nproc is not None:
        out.append(_set_limit(resource.RLIMIT_NPROC, nproc))
    return out


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid → (parent pid, session id, threads), from /proc."""
    table: dict[int, tuple[int, int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
            fields = data[data.rfind(b")") + 2 :].split()
            table[int(name)] = (int(fields[1]), int(fields[3]), int(fields[17]))
        except (OSError, ValueError, IndexError):
            continue
    return table


def run_tasks(root: int, session: bool) -> dict[int, int]:
    """The run's processes (descendants of ``root``, and those left in its session) → their threads."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    members: set[int] = set()
    stack = [root] + ([p for p, (_, sid, _) in table.items() if sid == root] if session else [])
    while stack:
        pid = stack.pop()
        if pid in members or pid not in table:
            continue
        members.add(pid)
        stack.extend(children.get(pid, ()))
    return {pid: table[pid][2] for pid in members}


def user_tasks(uid: int) -> int:
    total = 0
    for pid, (_, _, threads) in _proc_table().items():
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}").st_uid == uid:
                total += threads
    return total


_LAUNCHER = r"""
as=$1 fs=$2 cpu=$3 cpuh=$4 np=$5 n=$6; shift 6
fail() { echo "thinkgraph-launcher: $1" >&2; exit 125; }
while [ "$n" -gt 0 ]; do echo $$ > "$1" || fail "cannot join the cgroup $1"; shift; n=$((n-1)); done
ulimit -c 0 && ulimit -v "$as" && ulimit -f "$fs" && ulimit -S -t "$cpu" && ulimit -H -t "$cpuh" || fail "ulimit"
if [ -n "$np" ]; then ulimit -u "$np" 2>/dev/null || ulimit -p "$np" || fail "ulimit processes"; fi
exec "$@"
"""
_SH = "/bin/sh"
LAUNCHER_FAILED = b"thinkgraph-launcher: "
_launcher_checked: bool | None = None


def launcher_argv(rlimits: Sequence[tuple[int, int, int]], cgroup: RunCgroup | None, argv: Sequence[str]) -> list[str]:
    value = {which: (soft, hard) for which, soft, hard in rlimits}
    nproc = value.get(resource.RLIMIT_NPROC)
    files = cgroup.procs_files() if cgroup is not None else []
    return [
        _SH,
        "-c",
        _LAUNCHER,
        "thinkgraph-sandbox",
        str(value[resource.RLIMIT_AS][0] // 1024),
        str(value[resource.RLIMIT_FSIZE][0] // 512),
        str(value[resource.RLIMIT_CPU][0]),
        str(value[resource.RLIMIT_CPU][1]),
        str(nproc[0]) if nproc else "",
        str(len(files)),
        *files,
        *argv,
    ]


def _parse_limits(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.splitlines()[1:]:
        parts = line[26:].split()
        if len(parts) >= 2:
            out[line[:26].strip()] = (parts[0], parts[1])
    return out


def launcher_works() -> bool:
    """Whether ``/bin/sh`` sets the rlimits exactly as asked (checked once per process, with ``cat``)."""
    global _launcher_checked
    if _launcher_checked is None:
        probe = SandboxLimits(memory_mb=777, max_file_mb=3, timeout_s=7)
        nproc = user_tasks(os.geteuid()) + 64 if os.geteuid() != 0 else None
        rlimits = rlimits_for(probe, nproc)
        try:
            out = subprocess.run(
                launcher_argv(rlimits, None, ["cat", "/proc/self/limits"]),
                capture_output=True,
                text=True,
                timeout=10,
                env={"PATH": "/usr/bin:/bin"},
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        seen = _parse_limits(out)
        names = {
            resource.RLIMIT_AS: "Max address space",
            resource.RLIMIT_FSIZE: "Max file size",
            resource.RLIMIT_CPU: "Max cpu time",
            resource.RLIMIT_CORE: "Max core file size",
            resource.RLIMIT_NPROC: "Max processes",
        }
        _launcher_checked = bool(seen) and all(
            seen.get(names[which]) == (str(soft), str(hard)) for which, soft, hard in rlimits
        )
    return _launcher_checked
