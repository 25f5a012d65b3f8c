"""Inference-time search and sampling, split the LLM-Reasoners way but stateless.

Extension points (:mod:`thinkgraph.search.base`): a :class:`WorldModel` (``init_state``, ``step``,
``is_terminal``) and a :class:`SearchConfig` (``propose`` actions, ``evaluate`` states).  Algorithms are plain
async functions of ``(problem, world, config, params, budget)`` returning a :class:`SearchResult` (best path,
score, named stop reason) and record every tree node (``SearchNode`` trace events when given a tracer):

==========================  ==========================================================================
:func:`mcts`                UCT / PUCT Monte Carlo tree search (Kocsis & Szepesvári 2006; Silver et al. 2017)
:func:`beam_search`         step-level beam search with a value per step (AlphaMath, Chen et al. 2024)
:func:`best_first`          best-first search over partial solutions
:func:`particle_filter`     particle filtering over partial solutions (Puri et al. 2025)
==========================  ==========================================================================

Whole-answer strategies (a model and a prompt in, an answer and its evidence out; ``n`` samples always in one
request): :func:`repeated_sampling` with :func:`pass_at_k` (Brown et al. 2024), :func:`self_consistency`
(Wang et al. 2023), :func:`best_of_n`, :func:`rpc` (Zhou et al. 2025), :func:`adaptive_consistency`
(Aggarwal et al. 2023), :func:`abstention_decision` (Stroebl et al. 2024) and :func:`thinksum`
(Ozturkler et al. 2023).  :mod:`~thinkgraph.search.reasoning` searches over reasoning steps;
:mod:`~thinkgraph.search.games` and :mod:`~thinkgraph.search.arena` over game moves.
"""

from __future__ import annotations

from thinkgraph.search.abstain import AbstentionDecision, abstention_decision
from thinkgraph.search.adaptive import AdaptiveParams, adaptive_consistency, beta_confidence
from thinkgraph.search.base import (
    PathStep,
    Proposal,
    Score,
    SearchBudget,
    SearchBudgetExceeded,
    SearchConfig,
    SearchResult,
    StopReason,
    WorldModel,
    metered_chat,
)
from thinkgraph.search.beam import BeamParams, BestFirstParams, beam_search, best_first
from thinkgraph.search.estimators import coverage, coverage_curve, pass_at_k
from thinkgraph.search.extract import (
    extract_answer_line,
    extract_choice,
    extract_label,
    extract_number,
    extract_yes_no,
    extractor_named,
)
from thinkgraph.search.mcts import MCTSParams, mcts, root_statistics
from thinkgraph.search.particles import ParticleParams, particle_filter, resample
from thinkgraph.search.records import SearchAnswer, SearchEvidence
from thinkgraph.search.rpc import LogprobsUnavailable, rpc, rpc_vote
from thinkgraph.search.sampling import (
    BestOfNResult,
    RepeatedResult,
    Sample,
    VoteResult,
    VoteTable,
    best_of_n,
    draw,
    repeated_sampling,
    self_consistency,
    vote,
)
from thinkgraph.search.thinksum import ThinkQuery, ThinkSumResult, thinksum
from thinkgraph.search.tree import (
    PreferencePair,
    SearchTree,
    merge_search_nodes,
    preference_pairs,
    write_preference_jsonl,
)

__all__ = [
    "AbstentionDecision",
    "AdaptiveParams",
    "BeamParams",
    "BestFirstParams",
    "BestOfNResult",
    "LogprobsUnavailable",
    "MCTSParams",
    "ParticleParams",
    "PathStep",
    "PreferencePair",
    "Proposal",
    "RepeatedResult",
    "Sample",
    "Score",
    "SearchAnswer",
    "SearchBudget",
    "SearchBudgetExceeded",
    "SearchConfig",
    "SearchEvidence",
    "SearchResult",
    "SearchTree",
    "StopReason",
    "ThinkQuery",
    "ThinkSumResult",
    "VoteResult",
    "VoteTable",
    "WorldModel",
    "abstention_decision",
    "adaptive_consistency",
    "beam_search",
    "best_first",
    "best_of_n",
    "beta_confidence",
    "coverage",
    "coverage_curve",
    "draw",
    "extract_answer_line",
    "extract_choice",
    "extract_label",
    "extract_number",
    "extract_yes_no",
    "extractor_named",
    "mcts",
    "merge_search_nodes",
    "metered_chat",
    "particle_filter",
    "pass_at_k",
    "preference_pairs",
    "repeated_sampling",
    "resample",
    "root_statistics",
    "rpc",
    "rpc_vote",
    "self_consistency",
    "thinksum",
    "vote",
    "write_preference_jsonl",
]
