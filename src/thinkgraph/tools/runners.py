"""The two :class:`~thinkgraph.tools.sandbox.CodeRunner` implementations: bubblewrap, and the explicit opt-out.

:class:`BwrapRunner` starts ``bwrap`` with an empty environment (with ``--unshare-pid`` the sandbox's pid 1 is
bwrap itself, so ``/proc/1/environ`` shows whatever bwrap was started with) and these namespaces and mounts:

* ``--unshare-all --unshare-user --disable-userns``: own network (no interface but loopback: a connect to a
  host port fails), pid, ipc, uts, cgroup and user namespaces; no nested user namespaces;
* ``--ro-bind`` of ``/usr`` (``/bin``, ``/lib``… as the host has them), the loader's and user files of
  ``/etc`` and the Python installation, nothing else of the host (no ``/home``, ``/root``, ``/work``);
* a new ``/dev`` (read-only but for ``/dev/shm``) and ``/proc`` (only the sandbox's processes), a private
  ``/tmp`` (a tmpfs of ``disk_mb``, as is ``/dev/shm``) holding the program and its files, the working
  directory; the rest of ``/`` is read-only;
* ``/proc/sys`` read-only, ``--cap-drop ALL``: no capabilities, even when bwrap is started by root (which,
  where it can, starts it as ``nobody`` instead: see :class:`BwrapRunner`);
* ``--die-with-parent --new-session``: killing bwrap kills the pid namespace, hence every process in it.

A program that exits by itself with a status above 128 is read as killed by signal (status − 128): bubblewrap
reports a signal that way.

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
_NOBODY = 65534
#: (bwrap, python, flags, setpriv prefix) → "" when that sandbox works here, else why not
_PROBES: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], str] = {}
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


def _reachable_by_others(path: str) -> bool:
    """Whether a user with no special rights can reach ``path`` (every folder above it searchable by all)."""
    try:
        parts = Path(path).resolve().parts
        return all(os.stat(Path(*parts[:n])).st_mode & 0o001 for n in range(1, len(parts)))
    except OSError:
        return False


def _system_python_alike() -> str | None:
    """A system interpreter of this one's version (``/usr/bin/python3.11`` for 3.11) that anyone can run."""
    wanted = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        real = os.path.realpath(candidate)
        if os.path.basename(real) == wanted and os.access(real, os.X_OK) and _reachable_by_others(real):
            return real
    return None


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
    otherwise it raises :class:`SandboxUnavailable` saying what to install or enable.  Started by root, it
    runs bubblewrap as ``nobody`` (with ``setpriv``): a program whose uid is root on the host passes the
    root-only permission checks no capability guards (writing ``/proc/sys/kernel/core_pattern`` is one;
    ``/proc/sys`` is read-only in the sandbox either way).  That needs an interpreter ``nobody`` can reach:
    when this one is not (pyenv's under ``/root``), a system one of the same version (``/usr/bin/python3.11``)
    is used instead.  It also needs unprivileged user namespaces; without them, or without such an
    interpreter, bubblewrap runs as root with no capabilities.  :attr:`runs_as` says which.
    """

    name = "bwrap"
    isolated = True

    def __init__(
        self,
        *,
        bwrap: str | None = None,
        python: str | None = None,
        site: bool = False,
        drop_root: bool = True,
        probe: bool = True,
    ) -> None:
        found = shutil.which(bwrap or "bwrap")
        if found is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}; {OPT_OUT_HINT}")
        self.bwrap = found
        self.python, prefixes = _python(python)
        if python is None and os.geteuid() == 0 and drop_root and not _reachable_by_others(self.python):
            alike = _system_python_alike()  # the same X.Y that nobody can run, so bubblewrap need not be root
            if alike is not None:
                self.python, prefixes = _python(alike)
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
        setpriv = shutil.which("setpriv", path=_HOST_ENV["PATH"])
        hidden = [p for p in (self.python, *prefixes) if not _reachable_by_others(p)]
        self._as_user: list[str] = []
        #: the host user the sandboxed program runs as, in words
        self.runs_as = "the current user"
        if os.geteuid() == 0:
            self.runs_as = "root (asked by drop_root=False)" if not drop_root else "root (no setpriv here)"
            if hidden:
                self.runs_as = f"root (nobody cannot reach the interpreter's {hidden[0]})"
        if os.geteuid() == 0 and drop_root and setpriv and not hidden:
            self._as_user = [setpriv, f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups", "--no-new-privs"]
            self.runs_as = f"nobody (uid {_NOBODY})"
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
        with _PROBE_LOCK:
            problem = self._cached_try()
            if problem and self._as_user:  # no unprivileged user namespaces here: bubblewrap stays root
                self._as_user, self.runs_as = [], f"root (bubblewrap as nobody failed: {problem[:200]})"
                problem = self._cached_try()
        if problem:
            raise SandboxUnavailable(
                f"bubblewrap cannot create its sandbox here ({problem}). It needs unprivileged user namespaces: "
                "sysctl kernel.unprivileged_userns_clone=1 (Debian), kernel.apparmor_restrict_unprivileged_userns=0 "
                f"(Ubuntu 24.04+), or a container started with user namespaces allowed; {OPT_OUT_HINT}"
            )

    def _cached_try(self) -> str:
        key = (self.bwrap, self.python, self.flags, tuple(self._as_user))
        if key not in _PROBES:
            _PROBES[key] = self._try()
        return _PROBES[key]

    def _try(self) -> str:
        """ "" when a tiny program runs in the sandbox as configured, else what went wrong."""
        result = self.execute(make_job("print('sandbox ok')", limits=SandboxLimits(timeout_s=20, max_processes=8)))
        ok = result.result.status == "ok" and result.result.stdout == "sandbox ok\n"
        return "" if ok else (result.result.stderr.strip() or result.result.detail)[:500] or "no output"

    def _argv(self, job: Job, files: Sequence[tuple[int, str]]) -> list[str]:
        args = [*self._as_user, self.bwrap, "--unshare-all", "--unshare-user"]
        if self._no_userns:
            args.append("--disable-userns")
        args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox", *self._binds]
        size = ["--size", str(job.limits.disk_mb * MiB)] if self._sized_tmp else []
        args += ["--dev", "/dev", *size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", *size, "--tmpfs", "/tmp"]
        dirs = sorted({str(Path(name).parent) for _, name in files} - {"."}, key=lambda d: d.count("/"))
        for d in dirs:
            args += ["--dir", f"/tmp/{d}"]
        for fd, name in files:
            args += ["--file", str(fd), f"/tmp/{name}"]
        args += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
        for key, value in _env("/tmp").items():
            args += ["--setenv", key, value]
        return [*args, "--", self.python, *self.flags, job.script]

    def execute(self, job: Job) -> Execution:
        with tempfile.TemporaryDirectory(prefix="thinkgraph-sandbox-") as tmp:
            _write_files(Path(tmp), job)
            files: list[tuple[int, str]] = []
            chan_r = chan_w = None
            try:
                for name in job.files:
                    files.append((os.open(Path(tmp) / name, os.O_RDONLY | os.O_CLOEXEC), name))
                if job.channel:
                    chan_r, chan_w = os.pipe()
            except OSError:
                for fd, _ in files:
                    os.close(fd)
                raise
            argv = self._argv(job, files)
            passed = [fd for fd, _ in files] + ([chan_w] if chan_w is not None else [])
            launch = Launch(
                argv=argv + ([str(chan_w)] if chan_w is not None else []),
                env=_HOST_ENV,
                cwd="/",
                stdin=job.stdin,
                limits=job.limits,
                runner=self.name,
                pass_fds=passed,
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
