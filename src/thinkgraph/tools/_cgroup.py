"""One control group per sandboxed run: an exact bound on tasks (``pids``) and memory for all of its processes.

Root ignores ``RLIMIT_NPROC``, and ``RLIMIT_AS`` bounds one process, not a tree of them; a cgroup bounds the
whole run and lists every process in it, so the end of a run can kill them all, however they daemonized.
It works where the process may create cgroups: cgroup v1 hierarchies (``pids``, ``memory``) or a cgroup v2
directory whose ``cgroup.subtree_control`` already delegates the controller.  Elsewhere (an unprivileged
user on most systems) :meth:`RunCgroup.create` returns ``None`` and the supervisor counts processes itself.

Lifecycle: ``create`` (before the spawn) → the child joins before it execs (the shell launcher writes
its pid to :meth:`RunCgroup.procs_files`; the fallback ``preexec_fn`` uses :meth:`RunCgroup.join_self`
on fds opened beforehand) → the statistics → ``destroy`` (kills what is left, removes the directories).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_PREFIX = "thinkgraph-sandbox-"


@dataclass(frozen=True)
class _Mount:
    path: Path  # where the hierarchy is mounted
    root: str  # the hierarchy path the mount shows at ``path``
    version: int
    controllers: frozenset[str]


def _mounts() -> list[_Mount]:
    found: list[_Mount] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 3 or rparts[0] not in ("cgroup", "cgroup2"):
            continue
        mount = Path(parts[4].replace("\\040", " "))
        if rparts[0] == "cgroup2":
            try:
                ctl = frozenset((mount / "cgroup.controllers").read_text(encoding="utf-8").split())
            except OSError:
                continue
            found.append(_Mount(mount, parts[3], 2, ctl))
        else:
            found.append(_Mount(mount, parts[3], 1, frozenset(rparts[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """``/proc/self/cgroup``: controller (``""`` for v2) → this process's path in that hierarchy."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return paths
    for line in lines:
        _, ctl, path = line.split(":", 2)
        for name in ctl.split(",") if ctl else [""]:
            paths[name] = path
    return paths


def _parent_dir(mount: _Mount, own: str) -> Path | None:
    if own != mount.root and not own.startswith(mount.root.rstrip("/") + "/"):
        return None
    rel = own[len(mount.root) :].lstrip("/")
    return mount.path / rel if rel else mount.path


def _read_key(path: Path, key: str) -> int:
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value.strip())
    except (OSError, ValueError):
        pass
    return 0


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return 0


@dataclass
class RunCgroup:
    """The cgroup directories of one run (one per hierarchy) and the fds the child joins them through."""

    pids_dir: Path | None = None
    memory_dir: Path | None = None
    memory_version: int = 0
    #: where the run's CPU time is counted: ``cpuacct.usage`` (v1, ns) or ``cpu.stat`` (v2, usage_usec)
    cpu_file: Path | None = None
    _join_fds: list[int] = field(default_factory=list)
    _dirs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, *, max_tasks: int, memory_bytes: int | None) -> RunCgroup | None:
        """Directories for a new run (``None`` when no pids controller can be used here)."""
        own = _own_paths()
        group = cls()
        name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        for mount in _mounts():
            for ctl in ("pids", "memory", "cpuacct"):
                if ctl in mount.controllers and (ctl != "memory" or memory_bytes is not None):
                    with contextlib.suppress(OSError):
                        group._set_up(
                            mount,
                            ctl,
                            _parent_dir(mount, own.get(ctl if mount.version == 1 else "", "")),
                            name,
                            max_tasks,
                            memory_bytes,
                        )
        if group.pids_dir is None:
            group._remove(group._dirs)
            return None
        if group.cpu_file is None and (group.pids_dir / "cpu.stat").exists():
            group.cpu_file = group.pids_dir / "cpu.stat"
        return group

    def _set_up(
        self, mount: _Mount, ctl: str, parent: Path | None, name: str, max_tasks: int, memory_bytes: int | None
    ) -> None:
        taken = {"pids": self.pids_dir, "memory": self.memory_dir, "cpuacct": self.cpu_file}[ctl]
        if parent is None or taken is not None:
            return
        if mount.version == 2 and ctl not in (parent / "cgroup.subtree_control").read_text(encoding="utf-8").split():
            return
        path = parent / name
        if path not in self._dirs:
            path.mkdir()
            self._dirs.append(path)
        if ctl == "pids":
            (path / "pids.max").write_text(str(max_tasks), encoding="utf-8")
            self.pids_dir = path
        elif ctl == "memory":
            limit = "memory.max" if mount.version == 2 else "memory.limit_in_bytes"
            (path / limit).write_text(str(memory_bytes), encoding="utf-8")
            if mount.version == 2:
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0", encoding="utf-8")
            self.memory_dir, self.memory_version = path, mount.version
        else:
            self.cpu_file = path / "cpuacct.usage"

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid to, to join the run."""
        return [str(d / "cgroup.procs") for d in self._dirs]

    def open_join_fds(self) -> None:
        """Open the ``cgroup.procs`` files for :meth:`join_self` (before the fork)."""
        self._join_fds = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in self.procs_files()]

    def join_self(self) -> None:
        """Move the calling process into the run's cgroups (called in the child between fork and exec)."""
        for fd in self._join_fds:
            os.write(fd, b"0")

    def close_join_fds(self) -> None:
        for fd in self._join_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._join_fds = []

    def pids(self) -> list[int]:
        """The processes in the run now."""
        if self.pids_dir is None:
            return []
        try:
            return [int(x) for x in (self.pids_dir / "cgroup.procs").read_text(encoding="utf-8").split()]
        except (OSError, ValueError):
            return []

    def task_limit_hit(self) -> bool:
        """Whether a fork or clone failed because the run reached its task limit."""
        return self.pids_dir is not None and _read_key(self.pids_dir / "pids.events", "max") > 0

    def oom_kills(self) -> int:
        if self.memory_dir is None:
            return 0
        if self.memory_version == 2:
            return _read_key(self.memory_dir / "memory.events", "oom_kill")
        return _read_key(self.memory_dir / "memory.oom_control", "oom_kill")

    def peak_memory_bytes(self) -> int:
        """The run's peak memory, all its processes and its tmpfs together (0 without a memory cgroup)."""
        if self.memory_dir is None:
            return 0
        name = "memory.peak" if self.memory_version == 2 else "memory.max_usage_in_bytes"
        return _read_int(self.memory_dir / name)

    def kill_all(self, wait_s: float = 2.0) -> bool:
        """SIGKILL every process in the run until none is left (``False`` if some outlived ``wait_s``)."""
        deadline = time.monotonic() + wait_s
        while True:
            pids: set[int] = set()
            for d in self._dirs:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(x) for x in (d / "cgroup.procs").read_text(encoding="utf-8").split())
            if not pids:
                return True
            for d in self._dirs:
                if (d / "cgroup.kill").exists():
                    with contextlib.suppress(OSError):
                        (d / "cgroup.kill").write_text("1", encoding="utf-8")
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)

    def cpu_seconds(self) -> float | None:
        """CPU time of every process the run had, ended or not."""
        if self.cpu_file is None:
            return None
        if self.cpu_file.name == "cpu.stat":
            return _read_key(self.cpu_file, "usage_usec") / 1e6
        return _read_int(self.cpu_file) / 1e9

    def destroy(self) -> None:
        """Kill what is left and remove the directories (best effort: a busy one is retried briefly)."""
        self.close_join_fds()
        self.kill_all()
        self._remove(self._dirs)
        self._dirs = []
        self.pids_dir = self.memory_dir = self.cpu_file = None

    @staticmethod
    def _remove(dirs: Iterable[Path]) -> None:
        for d in dict.fromkeys(dirs):
            for _ in range(200):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)


def available() -> bool:
    """Whether this process can give a run its own cgroup (checked by making and removing one)."""
    group = RunCgroup.create(max_tasks=8, memory_bytes=None)
    if group is None:
        return False
    group.destroy()
    return True
