"""Memory at scale: faiss indexes at 100k vectors, and embedding throughput against sentence-transformers.

    python benchmarks/memory.py [--n 100000] [--dim 384] [--queries 500] [--sentences 1000] [--rounds 9] [--skip-embed]

Vectors: ``--n`` unit vectors near a random 32-dimensional subspace of the 384 dimensions (a Gaussian
there, plus isotropic noise): like sentence embeddings, a query's nearest item has cosine ≈ 0.67 and a
random pair ≈ 0, with no clean clusters to make the search easy (uniform random vectors would be the worst
case for any approximate index, and unlike any embedding).  Queries are held-out points of
the same cloud.  For each index kind (exact ``flat``, ``hnsw``, ``ivf``), through
:class:`~thinkgraph.memory.faiss_store.FaissMemory` (SQLite rows + the index, one thread):

* build: the time to add all vectors to a new store (SQLite batches of 10,000 + the index) and the
  time faiss alone takes for the index;
* search: median and p99 latency of one ``search(vector, k=10)`` (with the rows read back from SQLite),
  and recall@10 against the exact index;
* memory: the serialised index size and the process's resident memory after the build.

Embedding throughput (one core, ``torch.set_num_threads(1)``): sentences/s of thinkgraph's default
embedder (cold cache: every sentence is computed and stored) against ``SentenceTransformer.encode`` on
the same model, batch size and sentences, rounds alternating.

Last line: one JSON object; ``hnsw_recall_at_10`` and ``ivf_recall_at_10`` (target ≥ 0.95) and
``embed_throughput_ratio`` (target ≥ 0.95).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("THINKGRAPH_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

from thinkgraph.memory import Item
from thinkgraph.memory.faiss_store import FaissMemory


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cloud(n: int, dim: int, seed: int = 0, rank: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, dim)).astype(np.float32)
    x = rng.standard_normal((n, rank)).astype(np.float32) @ basis
    x += 0.09 * np.sqrt(rank) * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def build(path: Path, kind: str, vectors: np.ndarray) -> tuple[FaissMemory, float]:
    mem = FaissMemory(path, None, index=kind)
    start = time.perf_counter()
    step = 10_000
    for lo in range(0, len(vectors), step):
        mem.add([Item("", {"n": i}, f"v{i}", vectors[i]) for i in range(lo, min(lo + step, len(vectors)))])
    mem.persist()
    return mem, time.perf_counter() - start


def faiss_only(kind: str, vectors: np.ndarray) -> float:
    import faiss

    store = FaissMemory(None, None, index=kind, dim=vectors.shape[1])
    store.dim = vectors.shape[1]
    train = vectors[np.random.default_rng(1).permutation(len(vectors))[:50_000]] if kind == "ivf" else None
    start = time.perf_counter()
    index = store._new_index(kind, train)
    index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    del index, faiss
    return time.perf_counter() - start


def search_figures(mem: FaissMemory, queries: np.ndarray, truth: list[list[str]] | None) -> dict[str, Any]:
    times, found = [], 0
    results = []
    for q in queries:
        start = time.perf_counter()
        hits = mem.search(q, k=10)
        times.append(time.perf_counter() - start)
        ids = [h.id for h in hits]
        results.append(ids)
    if truth is not None:
        found = sum(len(set(a) & set(b)) for a, b in zip(results, truth, strict=True))
    times.sort()
    return {
        "median_ms": round(statistics.median(times) * 1000, 3),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))] * 1000, 3),
        "recall_at_10": round(found / (10 * len(queries)), 4) if truth is not None else 1.0,
        "results": results,
    }


def index_bytes(mem: FaissMemory) -> int:
    import faiss

    return int(faiss.serialize_index(mem._index).nbytes)


def embedding_throughput(n_sentences: int, rounds: int) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    from thinkgraph.memory.embed import CachedEmbedder, SentenceTransformerEmbedder, bundled_model_path

    torch.set_num_threads(1)
    subjects = ["The cat", "Anne", "The bald eagle", "Every student", "No bird", "Someone", "The company", "Tom"]
    verbs = ["chases", "likes", "is", "visits", "needs", "sees", "owns", "is not"]
    objects = ["the mouse", "red", "kind", "a mammal", "the lion", "big and round", "an employee", "young"]
    tails = ["", " if it is cold", " and it is green", " when the dog is nice", " because they are smart"]
    sentences = [
        f"{subjects[i % 8]} {verbs[(i // 8) % 8]} {objects[(i // 64) % 8]}{tails[(i // 512) % 5]} ({i})."
        for i in range(n_sentences)
    ]
    from thinkgraph.memory.embed import _quiet_loading

    with _quiet_loading():
        direct = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)
    ours = SentenceTransformerEmbedder(batch_size=64, threads=1)
    ours.load()
    direct.encode(sentences[:64], batch_size=64, normalize_embeddings=True, show_progress_bar=False)  # warm-up
    ours.embed(sentences[:64])
    t_direct, t_ours, t_warm = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            cached = CachedEmbedder(ours, Path(tmp) / f"cache{r}.sqlite")  # a cold cache: every text computed
            for which in ("direct", "ours") if r % 2 == 0 else ("ours", "direct"):  # alternate who goes first
                start = time.perf_counter()
                if which == "direct":
                    direct.encode(sentences, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
                    t_direct.append(time.perf_counter() - start)
                else:
                    cached.embed(sentences)
                    t_ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            cached.embed(sentences)  # warm: all from the cache
            t_warm.append(time.perf_counter() - start)
            cached.close()
    d, o, w = statistics.median(t_direct), statistics.median(t_ours), statistics.median(t_warm)
    return {
        "embed_sentences": n_sentences,
        "direct_sentences_per_s": round(n_sentences / d, 1),
        "thinkgraph_sentences_per_s": round(n_sentences / o, 1),
        "thinkgraph_warm_cache_sentences_per_s": round(n_sentences / w, 1),
        "embed_direct_round_s": [round(t, 2) for t in t_direct],
        "embed_thinkgraph_round_s": [round(t, 2) for t in t_ours],
        "embed_throughput_ratio": round(d / o, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--kinds", default="flat,hnsw,ivf")
    ap.add_argument("--skip-embed", action="store_true")
    args = ap.parse_args()

    data = cloud(args.n + args.queries, args.dim)
    vectors, queries = data[: args.n], data[args.n :]
    figures: dict[str, Any] = {"n": args.n, "dim": args.dim, "queries": args.queries, "threads": 1}
    truth: list[list[str]] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [k for k in args.kinds.split(",") if k]:  # --kinds "" measures only the embedder
            before = rss_mb()
            mem, seconds = build(Path(tmp) / kind, kind, vectors)
            figures[f"{kind}_build_s"] = round(seconds, 2)
            figures[f"{kind}_faiss_build_s"] = round(faiss_only(kind, vectors), 2)
            figures[f"{kind}_index_mb"] = round(index_bytes(mem) / 2**20, 1)
            figures[f"{kind}_rss_growth_mb"] = round(rss_mb() - before, 1)
            found = search_figures(mem, queries, truth)
            if kind == "flat":
                truth = found["results"]
            for key in ("median_ms", "p99_ms", "recall_at_10"):
                figures[f"{kind}_search_{key}" if key != "recall_at_10" else f"{kind}_recall_at_10"] = found[key]
            figures[f"{kind}_store_disk_mb"] = round(
                sum(f.stat().st_size for f in (Path(tmp) / kind).iterdir()) / 2**20, 1
            )
            print(json.dumps({k: v for k, v in figures.items() if k.startswith(kind)}), file=sys.stderr, flush=True)
            mem.close()
            del mem
    figures["rss_mb"] = round(rss_mb(), 1)
    if not args.skip_embed:
        figures.update(embedding_throughput(args.sentences, args.rounds))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
