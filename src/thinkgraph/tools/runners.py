"""The two :class:`~thinkgraph.tools.sandbox.CodeRunner` implementations: bubblewrap, and the explicit opt-out.

:class:`BwrapRunner` starts ``bwrap`` with an empty environment (with ``--unshare-pid`` the sandbox's pid 1 is
bwrap itself, so ``/proc/1/environ`` shows whatever bwrap was started with) and these namespaces and mounts:

* ``--unshare-all --unshare-user --disable-userns``: own network (no interface but loopback: a connect to a
  host port fails), pid, ipc, uts, cgroup and user namespaces; no nested user namespaces;
* ``--ro-bind`` of ``/usr`` (``/bin``, ``/lib``… as the host has them), the loader's and user files of
  ``/etc`` and the Python installation, nothing else of the host (no ``/home``, ``/root``, ``/work``);
* a new ``/dev`` and ``/proc`` (only the sandbox's processes), a private ``/tmp`` (a tmpfs of ``disk_mb``)
  holding the program and its files, the working directory; the rest of ``/`` is read-only;
* ``--die-with-parent --new-session``: killing bwrap kills the pid namespace, hence every process in it.

The interpreter runs as ``python -I -S -B -u``: isolated mode (no ``PYTHON*`` variables, no user site),
no ``site`` (model code gets the standard library only, and starts faster: see ``benchmarks/sandbox.py``;
``site=True`` keeps it, giving the installation's own site-packages, not a virtual environment's), no
bytecode files, unbuffered output (what a killed program printed is kept).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from thinkgraph.tools._process import Launch, MiB, supervise
from thinkgraph.tools.sandbox import (
    INSTALL_HINT,
    OPT_OUT_HINT,
    Execution,
    Job,
    SandboxLimits,
    SandboxUnavailable,
    make_job,
)

_PY_FLAGS = ("-I", "-S", "-B", "-u")
_HOST_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
_TOPS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
)
_PROBES: dict[tuple[str, str, tuple[str, ...]], str] = {}  # (bwrap, python, flags) → "" when it works, else why not
_PROBE_LOCK = threading.Lock()


def _python(python: str | None) -> tuple[str, tuple[str, ...]]:
    """The interpreter to run and the installation directories it needs."""
    if python is None:
        exe = os.path.realpath(sys.executable)
        prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    else:
        found = shutil.which(python)
        if found is None:
            raise SandboxUnavailable(f"python interpreter {python!r} not found")
        exe = os.path.realpath(found)
        prefixes = {str(Path(exe).parent.parent)}
    return exe, tuple(sorted(prefixes))


def _flags(site: bool) -> tuple[str, ...]:
    return tuple(f for f in _PY_FLAGS if f != "-S" or not site)


def _env(home: str) -> dict[str, str]:
    return {"PATH": _HOST_ENV["PATH"], "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8"}


def _write_files(root: Path, job: Job) -> None:
    for name, data in job.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _remove_tree(root: Path) -> None:
    def unlock(func: object, path: str, exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)

    shutil.rmtree(root, onerror=unlock)
    shutil.rmtree(root, ignore_errors=True)


class BwrapRunner:
    """Runs each job in a fresh bubblewrap sandbox (see the module docstring for what it isolates).

    The constructor finds ``bwrap`` and checks, once per process, that it can create its namespaces here;
    otherwise it raises :class:`SandboxUnavailable` saying what to install or enable.
    """

    name = "bwrap"
    isolated = True

    def __init__(
        self, *, bwrap: str | None = None, python: str | None = None, site: bool = False, probe: bool = True
    ) -> None:
        found = shutil.which(bwrap or "bwrap")
        if found is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}; {OPT_OUT_HINT}")
        self.bwrap = found
        self.python, prefixes = _python(python)
        self.flags = _flags(site)
        try:
            usage = subprocess.run(
                [found, "--help"], capture_output=True, text=True, timeout=10, env=_HOST_ENV, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"{found} --help failed ({exc}): {INSTALL_HINT}; {OPT_OUT_HINT}") from exc
        self._sized_tmp = "--size" in usage
        self._no_userns = "--disable-userns" in usage
        self._binds = self._system_binds(prefixes)
        if probe:
            self._probe()

    @staticmethod
    def _system_binds(prefixes: Sequence[str]) -> list[str]:
        args: list[str] = []
        for top in _TOPS:
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        for path in _ETC:
            if os.path.lexists(path):
                args += ["--ro-bind", path, path]
        covered = [t for t in _TOPS if os.path.isdir(t) and not os.path.islink(t)]
        for prefix in prefixes:
            if not any(prefix == t or prefix.startswith(t + "/") for t in covered):
                args += ["--ro-bind", prefix, prefix]
        return args

    def _probe(self) -> None:
        key = (self.bwrap, self.python, self.flags)
        with _PROBE_LOCK:
            if key not in _PROBES:
                limits = SandboxLimits(timeout_s=20, max_processes=8)
                result = self.execute(make_job("print('sandbox ok')", limits=limits)).result
                ok = result.status == "ok" and result.stdout == "sandbox ok\n"
                _PROBES[key] = "" if ok else (result.stderr.strip() or result.detail)[:500]
            problem = _PROBES[key]
        if problem:
            raise SandboxUnavailable(
                f"bubblewrap cannot create its sandbox here ({problem}). It needs unprivileged user namespaces: "
                "sysctl kernel.unprivileged_userns_clone=1 (Debian), kernel.apparmor_restrict_unprivileged_userns=0 "
                f"(Ubuntu 24.04+), or a container started with user namespaces allowed; {OPT_OUT_HINT}"
            )

    def _argv(self, job: Job, file_fds: Sequence[tuple[int, str]], channel: int | None) -> list[str]:
        args = [self.bwrap, "--unshare-all", "--unshare-user"]
        if self._no_userns:
            args.append("--disable-userns")
        args += ["--die-with-parent", "--new-session", "--hostname", "sandbox", *self._binds]
        args += ["--dev", "/dev", "--proc", "/proc"]
        if self._sized_tmp:
            args += ["--size", str(job.limits.disk_mb * MiB)]
        args += ["--tmpfs", "/tmp"]
        dirs = sorted({str(Path(name).parent) for _, name in file_fds} - {"."}, key=lambda d: d.count("/"))
        for d in dirs:
            args += ["--dir", f"/tmp/{d}"]
        for fd, name in file_fds:
            args += ["--file", str(fd), f"/tmp/{name}"]
        args += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
        for key, value in _env("/tmp").items():
            args += ["--setenv", key, value]
        args += ["--", self.python, *self.flags, job.script]
        return args + ([str(channel)] if channel is not None else [])

    def execute(self, job: Job) -> Execution:
        with tempfile.TemporaryDirectory(prefix="thinkgraph-sandbox-") as tmp:
            _write_files(Path(tmp), job)
            fds: list[tuple[int, str]] = []
            chan_r = chan_w = None
            try:
                for name in job.files:
                    fds.append((os.open(Path(tmp) / name, os.O_RDONLY), name))
                if job.channel:
                    chan_r, chan_w = os.pipe()
            except OSError:
                for fd, _ in fds:
                    os.close(fd)
                raise
            launch = Launch(
                argv=self._argv(job, fds, chan_w),
                env=_HOST_ENV,
                cwd="/",
                stdin=job.stdin,
                limits=job.limits,
                runner=self.name,
                pass_fds=[fd for fd, _ in fds] + ([chan_w] if chan_w is not None else []),
                channel_fd=chan_r,
                channel_limit=job.channel_limit,
                signal_from_exit_code=True,
                extra_tasks=2,
                count_session=False,
                rusage_complete=False,
            )
            return supervise(launch)


class UnsandboxedRunner:
    """No isolation — an explicit opt-out: the program can read the host's files and use its network.

    It still gets the rlimits, a clean environment, a private temporary directory (its working
    directory, ``HOME`` and ``TMPDIR``, removed afterwards) and the kill of its process group (and of its
    cgroup where one can be made, which also catches processes that left the group).
    """

    name = "unsandboxed"
    isolated = False

    def __init__(self, *, python: str | None = None, site: bool = False) -> None:
        self.python, _ = _python(python)
        self.flags = _flags(site)

    def execute(self, job: Job) -> Execution:
        root = Path(tempfile.mkdtemp(prefix="thinkgraph-unsandboxed-"))
        try:
            _write_files(root, job)
            chan_r = chan_w = None
            if job.channel:
                chan_r, chan_w = os.pipe()
            argv = [self.python, *self.flags, job.script] + ([str(chan_w)] if chan_w is not None else [])
            launch = Launch(
                argv=argv,
                env=_env(str(root)),
                cwd=str(root),
                stdin=job.stdin,
                limits=job.limits,
                runner=self.name,
                pass_fds=[chan_w] if chan_w is not None else [],
                channel_fd=chan_r,
                channel_limit=job.channel_limit,
            )
            return supervise(launch)
        finally:
            _remove_tree(root)


__all__ = ["BwrapRunner", "UnsandboxedRunner"]
