"""The built-in node types, registered on import (see :func:`thinkgraph.graphs.node`).

=================  ====================================  =========================
node               reads                                 writes
=================  ====================================  =========================
linc.translate     problem                               translations
linc.prove         problem, translations                 proofs
linc.vote          problem, proofs                       answer
cot.reason         problem                               rationales
cot.vote           problem, rationales                   answer
route.classify     problem                               route
human.approve      answer                                answer, review
answers.combine    problem, answer[] (parallel branches)  answer
search.*           problem | question                    answer | search_answer
memory.retrieve    problem                               recalled | answer
memory.remember    problem, answer                       remembered
=================  ====================================  =========================

``search.*`` (inference-time search and sampling, :mod:`thinkgraph.nodes.search`): ``self_consistency``,
``best_of_n``, ``adaptive``, ``rpc``, ``beam``, ``mcts`` and ``particles``; ``repeated_sampling`` (a verifier,
pass@k, verifier-aware abstention) and ``thinksum`` in :mod:`thinkgraph.nodes.verified`.  ``memory.*`` live in
:mod:`thinkgraph.memory.nodes` (episodic recall, re-verified before use).
"""

from thinkgraph.memory import nodes as memory
from thinkgraph.nodes import (
    combine,
    cot,
    deductive,
    human,
    hypothesis,
    lean,
    linc,
    negotiation,
    route,
    search,
    speculative,
    verified,
)

__all__ = [
    "combine",
    "cot",
    "deductive",
    "human",
    "hypothesis",
    "lean",
    "linc",
    "memory",
    "negotiation",
    "route",
    "search",
    "speculative",
    "verified",
]
