"""Proving Lean theorems with a model: whole-proof sampling and best-first tactic search.

* :func:`whole_proof` — repeated sampling (as in DeepSeek-Prover, Xin et al., 2024, and Brown et al., 2024,
  "Large Language Monkeys"): ``K`` complete proofs drawn in one request, all checked in **one** Lean batch;
  the statement is always ours (only the text after ``:=`` is taken from a reply), so a sample cannot prove
  something else.
* :func:`best_first` — best-first search over proof states (GPT-f, Polu & Sutskever, 2020; ReProver,
  Yang et al., 2023): the frontier is ordered by the cumulative log-probability of the tactics on a path;
  expanding a state asks the model for next tactics given the goals, and every child is checked in one batch
  as ``prefix; tactic; trace_state; all_goals sorry`` — an error prunes it, ``sorry`` keeps it with the goals
  ``trace_state`` printed, no ``sorry`` left means proved.  Each expansion is one Lean batch: use the offline
  backend's ``repl`` mode (or a native Lean) for it.
* Premises (the nearest lemmas to the goal) come from any
  :class:`~thinkgraph.memory.premises.PremiseRetriever` and go into the prompt.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from thinkgraph.llm.base import ChatModel, ChatRequest, capabilities_of
from thinkgraph.messages import ChatMessage
from thinkgraph.provers.lean.backend import LeanBackend
from thinkgraph.provers.lean.results import BatchResult, DeclResult
from thinkgraph.provers.lean.source import Declaration

SYSTEM = (
    "You are an expert Lean 4 prover. The Lean here is core Lean 4 (Init and Std): there is no Mathlib, so "
    "no norm_num, linarith, nlinarith, ring, aesop or field_simp. Useful core tactics: omega, decide, simp, "
    "simp_all, rfl, exact, intro, constructor, cases, rcases, induction, rw, calc, grind. Write Lean 4, not "
    "Lean 3: `:= by` and then one tactic per line, never `begin ... end`."
)

EXAMPLE = "```lean\ntheorem example_sum (a b : Nat) (h₀ : a = b + 2) : a > b := by\n  omega\n```"

_FENCE = re.compile(r"```(?:lean4?|Lean4?)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def render_premises(premises: Sequence[Any]) -> str:
    if not premises:
        return ""
    lines = [f"  {p.name} : {p.statement}" for p in premises]
    return "Lemmas that may help:\n" + "\n".join(lines) + "\n\n"


def whole_proof_prompt(theorem: str, premises: Sequence[Any] = ()) -> list[ChatMessage]:
    """The prompt for a complete proof of ``theorem`` (``theorem NAME binders : type``)."""
    user = (
        f"{render_premises(premises)}Complete this Lean 4 theorem with a proof. Reply with the whole theorem "
        f"in one ```lean block, like this example:\n{EXAMPLE}\n\nThe theorem:\n```lean\n{theorem.strip()} := by\n```"
    )
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=user)]


def extract_proof(reply: str) -> str | None:
    """The proof part of a reply: what follows ``:=`` in its last Lean block (or a bare tactic block)."""
    blocks = _FENCE.findall(reply)
    code = (blocks[-1] if blocks else reply).strip()
    if not code:
        return None
    head = re.search(r"\b(?:theorem|lemma|example)\b", code)
    if head:
        at = _assign_after(code, head.end())
        if at < 0:
            return None
        proof = code[at + 2 :].strip()
    elif code.startswith(":="):
        proof = code[2:].strip()
    elif code.startswith(("by", "fun")):
        proof = code
    elif blocks:  # a fenced block of bare tactics
        proof = "by\n" + "\n".join("  " + line for line in code.splitlines())
    else:
        return None
    proof = proof.strip()
    return proof or None


def _assign_after(code: str, start: int) -> int:
    """The first ``:=`` at bracket depth 0 after ``start`` (-1 when none)."""
    depth = 0
    for i in range(start, len(code) - 1):
        c = code[i]
        if c in "([{⟨":
            depth += 1
        elif c in ")]}⟩":
            depth -= 1
        elif c == ":" and code[i + 1] == "=" and depth == 0:
            return i
    return -1


def split_theorem(theorem: str) -> tuple[str, str]:
    """``theorem NAME binders : type`` → (NAME, binders-and-type)."""
    m = re.match(r"\s*(?:theorem|lemma)\s+(\S+)\s*(.*)$", theorem, re.DOTALL)
    if not m:
        raise ValueError(f"not a theorem statement: {theorem[:80]!r}")
    body = m.group(2).strip()
    if body.endswith(":="):
        body = body[:-2].rstrip()
    return m.group(1), body


@dataclass(frozen=True)
class Attempt:
    proof: str | None  # None: nothing could be read from the reply
    result: DeclResult | None
    reply: str


@dataclass(frozen=True)
class WholeProofResult:
    name: str
    proof: str | None  # the first proved proof
    attempts: tuple[Attempt, ...]
    batch: BatchResult | None
    tokens: int = 0

    @property
    def proved(self) -> bool:
        return self.proof is not None


async def whole_proof(
    model: ChatModel,
    theorem: str,
    backend: LeanBackend,
    *,
    samples: int = 4,
    temperature: float = 0.8,
    max_tokens: int = 512,
    heartbeats: int | None = None,
    premises: Sequence[Any] = (),
    seed: int | None = 0,
    timeout_s: float | None = None,
) -> WholeProofResult:
    """``samples`` proofs of ``theorem`` in one request, checked in one Lean batch."""
    name, statement = split_theorem(theorem)
    req = ChatRequest(
        messages=tuple(whole_proof_prompt(theorem, premises)),
        n=samples,
        temperature=temperature if samples > 1 else 0.0,
        max_tokens=max_tokens,
        seed=seed,
    )
    resp = await model.chat(req)
    tokens = resp.usage.prompt_tokens + resp.usage.completion_tokens
    return await check_candidates(name, statement, resp.texts, backend, heartbeats, timeout_s, tokens)


async def check_candidates(
    name: str,
    statement: str,
    replies: Sequence[str],
    backend: LeanBackend,
    heartbeats: int | None = None,
    timeout_s: float | None = None,
    tokens: int = 0,
) -> WholeProofResult:
    """Every reply's proof (the text after ``:=``) under the given statement, checked in one Lean batch."""
    proofs = [extract_proof(t) for t in replies]
    decls = [Declaration(f"{name}#{i}", statement, p, heartbeats) for i, p in enumerate(proofs) if p is not None]
    batch = await asyncio.to_thread(backend.check, decls, timeout_s) if decls else None
    by_name = batch.by_name() if batch else {}
    attempts = tuple(
        Attempt(p, by_name.get(f"{name}#{i}") if p is not None else None, t)
        for i, (p, t) in enumerate(zip(proofs, replies, strict=True))
    )
    proved = next((a.proof for a in attempts if a.result is not None and a.result.proved), None)
    return WholeProofResult(name, proved, attempts, batch, tokens)


# ----------------------------------------------------------------------------- best-first tactic search


def tactic_prompt(theorem: str, tactics: Sequence[str], goals: str, premises: Sequence[Any] = ()) -> list[ChatMessage]:
    done = "".join(f"  {t}\n" for t in tactics) or "  (none yet)\n"
    user = (
        f"{render_premises(premises)}We are proving this Lean 4 theorem:\n```lean\n{theorem.strip()} := by\n```\n"
        f"Tactics so far:\n{done}\nCurrent goals:\n```\n{goals.strip() or '(unknown)'}\n```\n"
        "Reply with the single next tactic on one line, nothing else."
    )
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=user)]


def read_tactic(reply: str) -> str | None:
    """The first non-empty code line of a reply, without fences or bullets."""
    for line in reply.replace("```lean", "\n").replace("```", "\n").splitlines():
        line = line.strip().lstrip("·•-* ").strip()
        if line and not line.lower().startswith(("here", "the next", "next tactic")):
            return line
    return None


def _probe(tactics: Sequence[str]) -> str:
    return "by\n" + "".join(f"  {t}\n" for t in tactics) + "  trace_state\n  all_goals sorry"


@dataclass(order=True)
class _Node:
    priority: float
    order: int
    tactics: tuple[str, ...] = field(compare=False)
    goals: str = field(compare=False)
    logprob: float = field(compare=False)


@dataclass(frozen=True)
class SearchResult:
    proof: str | None
    expansions: int
    checked: int
    batches: int
    stop_reason: str
    path_logprob: float | None = None
    tree: tuple[tuple[int, int, str, str, float], ...] = ()  # (node, parent, tactic, status, logprob)

    @property
    def proved(self) -> bool:
        return self.proof is not None


async def best_first(
    model: ChatModel,
    theorem: str,
    backend: LeanBackend,
    *,
    expand: int = 4,
    max_expansions: int = 16,
    max_depth: int = 12,
    temperature: float = 0.8,
    max_tokens: int = 64,
    heartbeats: int | None = None,
    premises: Sequence[Any] = (),
    seed: int | None = 0,
    timeout_s: float | None = None,
) -> SearchResult:
    """Best-first search over proof states, priority = cumulative tactic log-probability (higher first)."""
    name, statement = split_theorem(theorem)
    logprobs = "logprobs" in capabilities_of(model)
    root_decl = Declaration(f"{name}@root", statement, _probe([]), heartbeats)
    root_batch = await asyncio.to_thread(backend.check, [root_decl], timeout_s)
    root = root_batch.results[0]
    tree: list[tuple[int, int, str, str, float]] = [(0, -1, "", root.status, 0.0)]
    if root.status not in ("sorry", "proved"):
        return SearchResult(None, 0, 1, 1, f"the statement does not elaborate: {root.message[:200]}", tree=tuple(tree))
    frontier = [_Node(0.0, 0, (), "\n\n".join(root.goals), 0.0)]
    seen = {frontier[0].goals}
    expansions, checked, batches, order = 0, 1, 1, 0
    while frontier and expansions < max_expansions:
        node = heapq.heappop(frontier)
        if len(node.tactics) >= max_depth:
            continue
        expansions += 1
        req = ChatRequest(
            messages=tuple(tactic_prompt(theorem, node.tactics, node.goals, premises)),
            n=expand,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=None if seed is None else seed + expansions,
            logprobs=logprobs,
        )
        resp = await model.chat(req)
        children: dict[str, float] = {}
        for choice in resp.choices:
            tac = read_tactic(choice.text)
            if tac is None or tac in children:
                continue
            lp = sum(t.logprob for t in choice.logprobs) if logprobs and choice.logprobs else -float(len(children))
            children[tac] = lp
        if not children:
            continue
        tacs = list(children)
        decls = [
            Declaration(f"{name}@{expansions}.{i}", statement, _probe([*node.tactics, t]), heartbeats)
            for i, t in enumerate(tacs)
        ]
        batch = await asyncio.to_thread(backend.check, decls, timeout_s)
        batches += 1
        checked += len(decls)
        parent_id = node.order
        found: tuple[tuple[str, ...], float] | None = None
        for t, r in zip(tacs, batch.results, strict=True):
            order += 1
            lp = node.logprob + (children[t] if math.isfinite(children[t]) else -50.0)
            tree.append((order, parent_id, t, r.status, lp))
            path = (*node.tactics, t)
            if r.status == "proved":
                if found is None or lp > found[1]:
                    found = (path, lp)
                continue
            goals = "\n\n".join(r.goals)
            if r.status == "sorry" and goals and goals not in seen:
                seen.add(goals)
                heapq.heappush(frontier, _Node(-lp, order, path, goals, lp))
        if found is not None:
            proof = "by\n" + "".join(f"  {x}\n" for x in found[0])
            return SearchResult(proof.rstrip(), expansions, checked, batches, "proved", found[1], tuple(tree))
    stop = "frontier empty" if not frontier else f"max_expansions ({max_expansions}) reached"
    return SearchResult(None, expansions, checked, batches, stop, tree=tuple(tree))


__all__ = [
    "SYSTEM",
    "Attempt",
    "SearchResult",
    "WholeProofResult",
    "best_first",
    "check_candidates",
    "extract_proof",
    "read_tactic",
    "split_theorem",
    "tactic_prompt",
    "whole_proof",
    "whole_proof_prompt",
]
