"""Deductive verification (Natural Program, Ling et al., 2023) measured on PrOntoQA dev problems.

For each problem the gold proof (the record's ``explanation``) becomes a SOUND Natural Program (citations computed
by matching sentences to the premises) and four FLAWED copies (seeded: a negated step, an unrelated premise cited,
the conclusion's property replaced, a skipped step); each is checked by :func:`verify_chain` (every step by its own
calls that see only the step and what it cites, ``--votes`` per step, ``--rule``).  Reported: sound chains
accepted, flawed chains rejected (in all and per flaw).  With ``--cot``, the model also solves each problem: as a
Natural Program verified the same way (accuracy of the answers the verifier accepts, and how many it accepts), and
as plain chain of thought (greedy, one sample) for comparison on the same problems.

    python benchmarks/deductive_prontoqa.py --limit 20 --model local [--votes 3] [--rule majority] [--cot] \
        [--parallel 3]

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thinkgraph.agents.cot import cot_samples, cot_vote  # noqa: E402
from thinkgraph.agents.deductive import Rule, deductive_answer, verify_chain, verify_chains  # noqa: E402
from thinkgraph.agents.deductive_chains import FLAWS, TestChain, flawed_chains, sound_chain  # noqa: E402
from thinkgraph.agents.natural_program import natural_program_samples  # noqa: E402
from thinkgraph.llm.base import ChatModel  # noqa: E402
from thinkgraph.logic.records import Problem  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "prontoqa" / "dev.json"


def load(path: str | Path, limit: int) -> list[tuple[Problem, list[str]]]:
    """The first ``limit`` PrOntoQA records as problems with their gold explanations."""
    from thinkgraph.evals.loaders import load_dataset

    report = load_dataset("prontoqa", path)
    out = []
    for item in report.items[:limit]:
        problem = Problem.model_validate(item.input)
        out.append((problem, list(item.meta.get("explanation", []))))
    return out


def _share(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


async def measure(
    model: ChatModel,
    items: list[tuple[Problem, list[str]]],
    *,
    votes: int = 3,
    rule: Rule = "majority",
    max_tokens: int = 128,
    cot: bool = False,
    seed: int = 0,
    log: Any = None,
) -> dict[str, Any]:
    """The figures for ``items`` (see the module docstring)."""
    start = time.perf_counter()
    kw: dict[str, Any] = {"votes": votes, "rule": rule, "max_tokens": max_tokens, "seed": seed}
    sound_ok = 0
    rejected = {k: 0 for k in FLAWS}
    made = {k: 0 for k in FLAWS}
    cot_correct = np_answered = np_correct = accepted = accepted_correct = 0
    skipped = 0

    async def passes(chain: TestChain) -> bool:
        v = await verify_chain(
            model, chain.premises, chain.steps, conclusion=chain.conclusion, answer=chain.answer, **kw
        )
        if log is not None:
            print(f"  {chain.kind}: {v.describe()}", file=log, flush=True)
        return bool(v.passed)

    for i, (problem, explanation) in enumerate(items):
        t0 = time.perf_counter()
        if problem.gold is None or not explanation:
            skipped += 1
            continue
        sound = sound_chain(problem.premises, explanation, problem.conclusion, problem.gold)
        ok = await passes(sound)
        sound_ok += ok
        flaws = {f.kind: await passes(f) for f in flawed_chains(sound, seed)}
        for kind, passed in flaws.items():
            made[kind] += 1
            rejected[kind] += not passed
        line = f"[{i + 1}/{len(items)}] {problem.id}: sound {'accepted' if ok else 'REJECTED'}; flawed " + ", ".join(
            f"{k} {'ACCEPTED' if p else 'rejected'}" for k, p in flaws.items()
        )
        if cot:
            texts = await natural_program_samples(model, problem, max_tokens=512, seed=seed)
            verdicts = await verify_chains(model, problem, texts, **kw)
            answer, _ = deductive_answer(problem, texts, verdicts)
            named = verdicts[0].answer if verdicts and not verdicts[0].error else None
            np_answered += named is not None
            np_correct += named == problem.gold
            accepted += answer.status == "voted"
            accepted_correct += answer.status == "voted" and answer.value == problem.gold
            plain = cot_vote(problem, await cot_samples(model, problem, 1, 0.0, 512))
            cot_correct += plain.value == problem.gold
            line += (
                f"; natural program {named} ({'accepted' if answer.status == 'voted' else 'not accepted'}), "
                f"cot {plain.value}, gold {problem.gold}"
            )
        if log is not None:
            print(f"{line} ({time.perf_counter() - t0:.0f} s)", file=log, flush=True)
    n = len(items) - skipped
    flawed_total = sum(made.values())
    figures: dict[str, Any] = {
        "problems": n,
        "votes": votes,
        "rule": rule,
        "sound_accepted": sound_ok,
        "sound_acceptance": _share(sound_ok, n),
        "flawed_rejected": sum(rejected.values()),
        "flawed_total": flawed_total,
        "flawed_rejection": _share(sum(rejected.values()), flawed_total),
        "flawed_rejected_by_kind": {k: f"{rejected[k]}/{made[k]}" for k in FLAWS},
    }
    if cot:
        figures |= {
            "cot_correct": cot_correct,
            "cot_accuracy": _share(cot_correct, n),
            "natural_program_answered": np_answered,
            "natural_program_accuracy": _share(np_correct, n),
            "verifier_accepted": accepted,
            "verifier_accepted_correct": accepted_correct,
            "accepted_accuracy": _share(accepted_correct, accepted),
            "coverage": _share(accepted, n),
        }
    figures["seconds"] = round(time.perf_counter() - start, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA), help="PrOntoQA dev file (Logic-LM JSON)")
    ap.add_argument("--limit", type=int, default=20, help="problems (the first N)")
    ap.add_argument("--model", default="local", help="model spec (default: local)")
    ap.add_argument("--votes", type=int, default=3, help="checker votes per step")
    ap.add_argument("--rule", choices=["majority", "unanimous"], default="majority")
    ap.add_argument("--max-tokens", type=int, default=128, help="tokens per checker reply")
    ap.add_argument("--cot", action="store_true", help="also solve: verified Natural Program vs plain CoT")
    ap.add_argument("--seed", type=int, default=0, help="seed of the flaws and the samples")
    ap.add_argument(
        "--parallel", type=int, default=1, help="local models: llama.cpp slots, so a step's votes decode as one batch"
    )
    args = ap.parse_args(argv)

    from thinkgraph.llm import load_model

    options: dict[str, Any] = {"n_parallel": args.parallel} if args.model.startswith("local") else {}
    model = load_model(args.model, **options)
    items = load(args.data, args.limit)

    async def go() -> dict[str, Any]:
        try:
            return await measure(
                model, items, votes=args.votes, rule=args.rule, max_tokens=args.max_tokens, cot=args.cot,
                seed=args.seed, log=sys.stderr,
            )  # fmt: skip
        finally:
            await model.aclose()

    figures = asyncio.run(go())
    figures["model"] = args.model
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
