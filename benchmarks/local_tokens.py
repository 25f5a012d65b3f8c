"""Tokens/s of the embedded model through thinkgraph vs calling xllamacpp directly, same request.

    python benchmarks/local_tokens.py [--model local|local:small|local:/path.gguf] [--rounds 3]

Both paths use the same loaded server; calls alternate (direct, thinkgraph, direct, …) so machine
noise falls on both.  thinkgraph's path is the full stack: ManagedModel (retries, ledger, trace) →
LocalModel (request mapping, thread offload) → the same ``handle_chat_completions``.
Last line: one JSON object with ``tokens_per_s_ratio`` (target ≥ 0.95).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from thinkgraph.llm import ChatRequest, ManagedModel, load_model
from thinkgraph.llm.local import LocalModel
from thinkgraph.runtime import RunContext


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="local")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=96)
    args = ap.parse_args()

    model = load_model(args.model, n_parallel=1)
    assert isinstance(model, LocalModel), "this benchmark measures the local backend"
    server = model._ensure()
    managed = ManagedModel(model, RunContext())
    request = ChatRequest.of(
        [("user", "List the numbers from 1 to 60, separated by commas, and nothing else.")],
        max_tokens=args.max_tokens,
        temperature=0.0,
        seed=7,
    )
    body = model.body(request, 0)
    server.handle_chat_completions(body)  # warm the prompt cache for both paths

    direct_tok = direct_s = ours_tok = ours_s = 0.0
    for _ in range(args.rounds):
        t = time.perf_counter()
        raw = server.handle_chat_completions(body)
        direct_s += time.perf_counter() - t
        direct_tok += raw["usage"]["completion_tokens"]

        t = time.perf_counter()
        resp = asyncio.run(managed.chat(request))
        ours_s += time.perf_counter() - t
        ours_tok += resp.usage.completion_tokens
    direct = direct_tok / direct_s
    ours = ours_tok / ours_s
    result = {
        "model": model.name,
        "rounds": args.rounds,
        "completion_tokens_per_call": ours_tok / args.rounds,
        "direct_tokens_per_s": round(direct, 2),
        "thinkgraph_tokens_per_s": round(ours, 2),
        "tokens_per_s_ratio": round(ours / direct, 3),
    }
    print(f"direct {direct:.2f} tok/s, through thinkgraph {ours:.2f} tok/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
