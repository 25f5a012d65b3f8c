"""Test doubles shipped with the library: a scripted model and a record/replay model.

* :class:`ScriptedModel` answers from a list (consumed in order) or from a function of the request.
* :class:`ReplayModel` answers from a recording and fails loudly (:class:`ReplayMiss`) when a request
  was never recorded — it never falls through to a real model.  :class:`RecordingModel` wraps a real
  model and writes such a recording.  Calls are keyed by the request (everything but ``n``) and the
  sample index, so ``n`` samples replay as ``n`` distinct recorded samples, never one sample repeated.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from thinkgraph.llm.base import ChatModel, ChatRequest, ChatResponse, Completion, ModelError
from thinkgraph.messages import Usage

Script = Sequence[str] | Callable[[ChatRequest, int], str]


class ScriptExhausted(ModelError):
    """A scripted model was asked for more answers than it was given."""


class ReplayMiss(ModelError):
    """A replay model was asked for a request (or sample index) that is not in its recording."""


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


class ScriptedModel:
    """Returns scripted texts.  ``script`` is a list of answers (one per sample, in order) or
    ``fn(request, sample_index) -> text``.  Every request is kept in ``requests`` for assertions."""

    def __init__(self, script: Script, name: str = "scripted") -> None:
        self.name = name
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
        self.requests.append(request)
        texts = [self._text(request, i) for i in range(request.n)]
        prompt = sum(_tokens(m.content) for m in request.messages)
        return ChatResponse(
            model=self.name,
            choices=tuple(Completion(text=t) for t in texts),
            usage=Usage(prompt_tokens=prompt, completion_tokens=sum(_tokens(t) for t in texts)),
        )

    async def aclose(self) -> None:
        return None


def request_key(request: ChatRequest) -> str:
    """A stable key for a request, ignoring ``n`` (samples are keyed by their index)."""
    payload = request.model_dump(mode="json", exclude={"n"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


class RecordingModel:
    """Calls ``inner`` and appends every sample to a JSONL recording usable by :class:`ReplayModel`."""

    def __init__(self, inner: ChatModel, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self._lock = threading.Lock()

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self.inner.chat(request)
        key = request_key(request)
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            for i, choice in enumerate(response.choices):
                fh.write(json.dumps({"key": key, "sample": i, "text": choice.text, "model": self.name}) + "\n")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayModel:
    """Answers from a recording made by :class:`RecordingModel`; a miss raises :class:`ReplayMiss`."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or f"replay:{self.path.name}"
        self._table: dict[tuple[str, int], str] = {}
        if not self.path.exists():
            raise ReplayMiss(f"no recording at {self.path}")
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    self._table.setdefault((row["key"], int(row["sample"])), row["text"])

    async def chat(self, request: ChatRequest) -> ChatResponse:
        key = request_key(request)
        texts = []
        for i in range(request.n):
            if (key, i) not in self._table:
                last = request.messages[-1].content[:80] if request.messages else ""
                raise ReplayMiss(f"{self.name}: no recorded sample {i} for request {key} (last message: {last!r})")
            texts.append(self._table[(key, i)])
        return ChatResponse(model=self.name, choices=tuple(Completion(text=t) for t in texts))

    async def aclose(self) -> None:
        return None
