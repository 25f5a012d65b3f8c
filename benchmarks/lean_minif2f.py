"""The whole-proof prover on miniF2F statements that core Lean can state (no Mathlib), with a real model.

    python benchmarks/lean_minif2f.py --model local [--n 10] [--samples 4] [--seed 0] [--mode file]

The statements: :func:`thinkgraph.provers.lean.minif2f.core_statements` over ``../shared/data/minif2f_lean4``
(the Valid split, 244 files), then ``--n`` of them drawn with ``random.Random(seed)`` — a fixed, unbiased
choice.  For each, ``--samples`` proofs are drawn in one request (temperature 0.8), and then every
candidate of every statement is checked in ONE Lean batch (one offline Lean process in ``file`` mode).
Printed: one JSON line per statement (the proofs Lean accepted, in full), then one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thinkgraph.evals.loaders import load_dataset  # noqa: E402
from thinkgraph.llm import load_model  # noqa: E402
from thinkgraph.llm.base import ChatRequest  # noqa: E402
from thinkgraph.provers.lean.minif2f import core_statements  # noqa: E402
from thinkgraph.provers.lean.offline import OfflineLeanBackend  # noqa: E402
from thinkgraph.provers.lean.prove import extract_proof, whole_proof_prompt  # noqa: E402
from thinkgraph.provers.lean.source import Declaration  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "minif2f_lean4"


async def sample(model_spec: str, statements: list, k: int, max_tokens: int, seed: int) -> list[list[str]]:
    model = load_model(model_spec)
    out = []
    try:
        for st in statements:
            theorem = f"theorem {st.name} {st.statement}"
            req = ChatRequest(
                messages=tuple(whole_proof_prompt(theorem)), n=k, temperature=0.8, max_tokens=max_tokens, seed=seed
            )
            t = time.perf_counter()
            resp = await model.chat(req)
            print(f"{st.name}: {k} samples in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
            out.append(resp.texts)
    finally:
        await model.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="local")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--mode", choices=["file", "repl"], default="file")
    ap.add_argument("--replies", help="reuse replies saved by an earlier run (JSON) instead of sampling")
    ap.add_argument("--save-replies", help="save the model's replies here (JSON)")
    ap.add_argument("--sample-only", action="store_true", help="stop after sampling (with --save-replies)")
    args = ap.parse_args()

    kept, left = core_statements(load_dataset("minif2f", DATA).items)
    chosen = random.Random(args.seed).sample(kept, args.n)
    if args.replies:
        replies = json.loads(Path(args.replies).read_text())
    else:
        t = time.perf_counter()
        replies = asyncio.run(sample(args.model, chosen, args.samples, args.max_tokens, args.seed))
        print(f"sampling: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if args.save_replies:
        Path(args.save_replies).write_text(json.dumps(replies))
    if args.sample_only:
        return
    decls, owner = [], []
    unreadable = 0
    for st, texts in zip(chosen, replies, strict=True):
        for j, text in enumerate(texts):
            proof = extract_proof(text)
            if proof is None:
                unreadable += 1
                continue
            decls.append(Declaration(f"{st.name}#{j}", st.statement, proof))
            owner.append(st.name)
    backend = OfflineLeanBackend(mode=args.mode, timeout_s=4 * 3600, startup_timeout_s=3600)
    t = time.perf_counter()
    with backend:
        batch = backend.check(decls)
    lean_s = time.perf_counter() - t
    proved_names = set()
    for st in chosen:
        mine = [(d, r) for d, r, o in zip(decls, batch.results, owner, strict=True) if o == st.name]
        proofs = [d.proof for d, r in mine if r.proved]
        if proofs:
            proved_names.add(st.name)
        print(
            json.dumps(
                {
                    "name": st.name,
                    "statement": st.statement,
                    "statuses": [r.status for _, r in mine],
                    "proved": bool(proofs),
                    "proofs": proofs,
                    "first_error": next((r.message.splitlines()[0][:160] for _, r in mine if r.status == "error"), ""),
                },
                ensure_ascii=False,
            )
        )
    print(
        json.dumps(
            {
                "core_statements": len(kept),
                "needs_mathlib": len(left),
                "chosen": [s.name for s in chosen],
                "samples": args.samples,
                "model": args.model,
                "candidates_checked": len(decls),
                "unreadable_replies": unreadable,
                "proved": len(proved_names),
                "of": len(chosen),
                "lean_statuses": batch.counts,
                "lean_seconds": round(lean_s, 1),
                "lean_mode": args.mode,
                "lean_batches": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
