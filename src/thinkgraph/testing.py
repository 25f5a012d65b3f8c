"""Test doubles shipped with the library: a scripted model and a record/replay model.

* :class:`ScriptedModel` answers from a list (consumed in order) or from a function of the request.
* :class:`ReplayModel` answers from a recording and fails loudly (:class:`ReplayMiss`) when a request
  was never recorded — it never falls through to a real model.  :class:`RecordingModel` wraps a real
  model and writes such a recording.  Calls are keyed by the request (everything but ``n``) and the
  sample index, so ``n`` samples replay as ``n`` distinct recorded samples, never one sample repeated.

Both fakes declare every capability (:data:`~thinkgraph.llm.base.CAPABILITIES`) unless given a smaller
``capabilities`` set, in which case they raise :class:`~thinkgraph.llm.base.UnsupportedRequest` like a
real backend would.  Tokens are whitespace-separated words.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from thinkgraph.llm.base import (
    CAPABILITIES,
    ChatModel,
    ChatRequest,
    ChatResponse,
    Completion,
    ModelError,
    ModelUnavailable,
    TokenLogprob,
    capabilities_of,
    check_request,
    parse_capabilities,
)
from thinkgraph.messages import Usage

Script = Sequence[str] | Callable[[ChatRequest, int], str]


class ScriptExhausted(ModelError):
    """A scripted model was asked for more answers than it was given."""


class ReplayMiss(ModelError):
    """A replay model was asked for a request (or sample index) that is not in its recording."""


_TOKEN = re.compile(r"\S+")


def count_tokens(text: str) -> int:
    """The fakes' token count: whitespace-separated words."""
    return len(_TOKEN.findall(text))


def _tokens(text: str) -> int:
    return max(1, count_tokens(text)) if text else 0


def apply_limits(text: str, stop: Sequence[str], max_tokens: int) -> tuple[str, str]:
    """What a model honouring ``stop`` and ``max_tokens`` returns for ``text``: the text cut before the first
    stop sequence, then after ``max_tokens`` words; and the finish reason (``stop`` or ``length``)."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    words = list(_TOKEN.finditer(text))
    if len(words) > max_tokens:
        return text[: words[max_tokens - 1].end()], "length"
    return text, "stop"


def _fake_logprobs(text: str, top: int) -> tuple[TokenLogprob, ...]:
    return tuple(TokenLogprob(token=w, logprob=0.0, top={w: 0.0} if top else {}) for w in _TOKEN.findall(text))


class ScriptedModel:
    """Returns scripted texts.  ``script`` is a list of answers (one per sample, in order) or
    ``fn(request, sample_index) -> text``.  Every request is kept in ``requests`` for assertions.

    Like a model, it honours ``stop`` (the text is cut before the first stop sequence) and ``max_tokens``
    (counted in words; ``finish_reason="length"`` when cut) and returns word-level ``logprobs`` (all 0.0)
    when asked.  ``capabilities`` (default: all) makes it refuse other options with ``UnsupportedRequest``.
    """

    def __init__(self, script: Script, name: str = "scripted", *, capabilities: Iterable[str] | None = None) -> None:
        self.name = name
        self.capabilities = parse_capabilities(CAPABILITIES if capabilities is None else capabilities)
        self._script = script
        self._next = 0
        self._lock = threading.Lock()
        self.requests: list[ChatRequest] = []

    def _text(self, request: ChatRequest, index: int) -> str:
        if callable(self._script):
            return self._script(request, index)
        with self._lock:
            if self._next >= len(self._script):
                raise ScriptExhausted(f"{self.name}: script of {len(self._script)} answers is exhausted")
            text = self._script[self._next]
            self._next += 1
            return text

    async def chat(self, request: ChatRequest) -> ChatResponse:
        check_request(self.name, self.capabilities, request)
        self.requests.append(request)
        choices = []
        for i in range(request.n):
            text, finish = apply_limits(self._text(request, i), request.stop, request.max_tokens)
            lps = _fake_logprobs(text, request.top_logprobs) if request.logprobs or request.top_logprobs else None
            choices.append(Completion(text=text, finish_reason=finish, logprobs=lps))
        prompt = sum(_tokens(m.content) for m in request.messages)
        return ChatResponse(
            model=self.name,
            choices=tuple(choices),
            usage=Usage(prompt_tokens=prompt, completion_tokens=sum(_tokens(c.text) for c in choices)),
        )

    async def aclose(self) -> None:
        return None


def request_key(request: ChatRequest) -> str:
    """A stable key for a request, ignoring ``n`` (samples are keyed by their index)."""
    payload = request.model_dump(mode="json", exclude={"n"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


class RecordingModel:
    """Calls ``inner`` and appends every sample to a JSONL recording usable by :class:`ReplayModel`.

    A row holds the sample's text, finish reason, logprobs and its share of the usage (the prompt tokens on
    sample 0, the completion tokens split over the samples), so a replay reports the recorded usage."""

    def __init__(self, inner: ChatModel, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> frozenset[str]:
        return capabilities_of(self.inner)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self.inner.chat(request)
        key = request_key(request)
        n = max(1, len(response.choices))
        share, extra = divmod(response.usage.completion_tokens, n)
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            for i, choice in enumerate(response.choices):
                row: dict[str, Any] = {
                    "key": key,
                    "sample": i,
                    "text": choice.text,
                    "model": self.name,
                    "finish_reason": choice.finish_reason,
                    "prompt_tokens": response.usage.prompt_tokens if i == 0 else 0,
                    "completion_tokens": share + (extra if i == 0 else 0),
                }
                if choice.logprobs is not None:
                    row["logprobs"] = [lp.model_dump() for lp in choice.logprobs]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayModel:
    """Answers from a recording made by :class:`RecordingModel`; a miss raises :class:`ReplayMiss`.

    A missing or unreadable recording raises :class:`~thinkgraph.llm.base.ModelUnavailable` naming the file.
    Recordings from before usage was recorded replay with word-count usage."""

    def __init__(self, path: str | Path, name: str | None = None, *, capabilities: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.name = name or f"replay:{self.path.name}"
        self.capabilities = parse_capabilities(CAPABILITIES if capabilities is None else capabilities)
        self._table: dict[tuple[str, int], dict[str, Any]] = {}
        if not self.path.is_file():
            raise ModelUnavailable(
                f"no recording at {self.path}: record one with thinkgraph.testing.RecordingModel, or check the path"
            )
        lineno = 0
        try:
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    lineno += 1
                    if line.strip():
                        row = json.loads(line)
                        self._table.setdefault((row["key"], int(row["sample"])), row)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"recording {self.path} is unreadable (line {lineno}): {exc!r}") from exc

    async def chat(self, request: ChatRequest) -> ChatResponse:
        check_request(self.name, self.capabilities, request)
        key = request_key(request)
        choices = []
        prompt = completion = 0
        for i in range(request.n):
            row = self._table.get((key, i))
            if row is None:
                last = request.messages[-1].content[:80] if request.messages else ""
                raise ReplayMiss(f"{self.name}: no recorded sample {i} for request {key} (last message: {last!r})")
            text = str(row["text"])
            lps = row.get("logprobs")
            choices.append(
                Completion(
                    text=text,
                    finish_reason=row.get("finish_reason", "stop"),
                    logprobs=tuple(TokenLogprob.model_validate(x) for x in lps) if lps is not None else None,
                )
            )
            completion += int(row.get("completion_tokens", _tokens(text)))
            prompt += int(row.get("prompt_tokens", 0))
        if prompt == 0:
            prompt = sum(_tokens(m.content) for m in request.messages)
        return ChatResponse(
            model=self.name, choices=tuple(choices), usage=Usage(prompt_tokens=prompt, completion_tokens=completion)
        )

    async def aclose(self) -> None:
        return None
