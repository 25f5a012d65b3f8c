"""Sampling strategies that rest on a check rather than a vote, as nodes:

* ``search.repeated_sampling`` — Large Language Monkeys (Brown et al., 2024): ``n`` samples in one request, each
  checked by a verifier, the first accepted one answered, pass@k for the spread of ``k``; with the verifier's
  estimated error rates it first decides — "Inference Scaling fLaws" (Stroebl, Kapoor and Narayanan, 2024) — whether
  answering is worth it at all and how many samples to draw, and abstains when it is not.
* ``search.thinksum`` — ThinkSum (Ozturkler et al., 2023): a small yes/no "think" query per candidate answer (and
  its negation), asked in parallel, combined by a probabilistic "sum".

The verifier here is the model's own judgement (``self_eval``: P(yes) that a sample is correct), an imperfect
verifier: its answers are ``scored``, never ``verified``, and the abstention rule is what keeps its false positives
from becoming confident answers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from thinkgraph.evals.items import Question
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.nodes.search import _Budgeted, _Sampling
from thinkgraph.search.abstain import AbstentionDecision, abstention_decision
from thinkgraph.search.answers import extractor_for, item_of, make_answer, messages_for, record_samples
from thinkgraph.search.reasoning import problem_text
from thinkgraph.search.records import SearchAnswer, SearchEvidence
from thinkgraph.search.sampling import Sample, repeated_sampling
from thinkgraph.search.scorers import maybe_call, self_eval_scorer
from thinkgraph.search.thinksum import ThinkQuery, thinksum
from thinkgraph.search.tree import SearchTree, TreeNode


class RepeatedParams(_Sampling):
    samples: int = Field(default=8, ge=1, le=128, description="samples at most, drawn in one request")
    verifier: Literal["self_eval"] = Field(
        default="self_eval", description="the check of each sample: the model's P(the sample is correct)"
    )
    threshold: float = Field(default=0.5, gt=0, le=1, description="a sample passes when its check reaches this")
    votes: int = Field(default=1, ge=1, le=16, description="self_eval replies per sample without logprobs")
    ks: tuple[int, ...] = Field(default=(1, 2, 4, 8), description="pass@k reported for these k (k <= samples)")
    accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="estimated single-sample accuracy; when set, decide first whether to answer and how many samples",
    )
    false_positive_rate: float = Field(default=0.1, ge=0, le=1, description="verifier accepts a wrong sample")
    true_positive_rate: float = Field(default=0.9, ge=0, le=1, description="verifier accepts a right sample")
    cost_wrong: float = Field(default=1.0, ge=0, description="cost of a wrong answer (a right one earns 1)")
    cost_sample: float = Field(default=0.0, ge=0, description="cost of one sample, in the same units")

    @model_validator(mode="after")
    def _ks(self) -> RepeatedParams:
        if any(k < 1 for k in self.ks):
            raise ValueError("every k in ks must be >= 1")
        return self


def _decision(params: RepeatedParams) -> AbstentionDecision | None:
    if params.accuracy is None:
        return None
    return abstention_decision(
        accuracy=params.accuracy,
        false_positive_rate=params.false_positive_rate,
        true_positive_rate=params.true_positive_rate,
        cost_wrong=params.cost_wrong,
        cost_sample=params.cost_sample,
        max_samples=params.samples,
        sequential=False,  # the samples go out in one request
    )


@node("search.repeated_sampling", params=RepeatedParams, needs=("model",))
async def repeated_sampling_node(
    ctx: NodeContext, params: RepeatedParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Repeated sampling with a verifier (Large Language Monkeys) and verifier-aware abstention (Inference Scaling
    fLaws): the first sample the verifier accepts, or an abstention that says why."""
    item = item_of(problem, question)
    decision = _decision(params)
    if decision is not None and not decision.answer:
        ev = SearchEvidence(method="repeated_sampling", reason=decision.reason, stop_reason="abstained")
        return make_answer(item, None, ev, status="abstained", confidence=None)
    n = decision.samples if decision is not None else params.samples
    scorer = self_eval_scorer(ctx.model, problem_text(item), params.votes)
    scores: dict[int, float] = {}

    async def check(sample: Sample) -> bool:
        if sample.answer is None:  # nothing to check: no answer line
            return False
        scores[sample.index] = float(await maybe_call(scorer, sample))
        return scores[sample.index] >= params.threshold

    res = await repeated_sampling(
        ctx.model,
        messages_for(item),
        check,
        n=n,
        ks=params.ks,
        extractor=extractor_for(item, params.extractor),
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        seed=params.seed,
        budget=params.budget(),
    )
    first = res.first_passing
    answer = first.answer if first is not None else None
    sample_scores = [scores.get(s.index) for s in res.samples]
    sid = record_samples(ctx.tracer, "repeated_sampling", item, res.samples, sample_scores, answer)
    passing: dict[str, int] = {}
    for s, ok in zip(res.samples, res.passed, strict=True):
        if ok and s.answer is not None:
            passing[s.answer] = passing.get(s.answer, 0) + 1
    pass_at = ", ".join(f"pass@{k} {v:.2f}" for k, v in sorted(res.pass_at.items()))
    why = [f"{res.correct} of {len(res.samples)} samples passed the {params.verifier} check (≥ {params.threshold:g})"]
    if pass_at:
        why.append(pass_at)
    if decision is not None:
        why.append(decision.reason)
    if first is None:
        why.append("no sample was accepted: abstaining rather than guessing")
    ev = SearchEvidence(
        method=f"repeated_sampling ({params.verifier})",
        votes=passing,
        weights={a: float(c) for a, c in passing.items()},
        scores=tuple(None if x is None else round(x, 6) for x in sample_scores),
        samples=len(res.samples),
        failed_samples=sum(s.answer is None for s in res.samples),
        search_id=sid,
        stop_reason=res.stop_reason,
        stop_detail=res.stop_detail,
        calls=res.calls,
        tokens=res.tokens,
        reason="; ".join(why),
    )
    confidence: float | None = None
    if first is not None:  # the decision's precision when the error rates were given, else the check's score
        confidence = decision.precision if decision is not None else scores.get(first.index)
    return make_answer(
        item, answer, ev, status="scored", confidence=confidence, rationales=[first.text] if first is not None else []
    )


# ----------------------------------------------------------------------------- ThinkSum


class ThinkSumParams(_Budgeted):
    how: Literal["product", "mean"] = Field(default="product", description="the Sum: product (independent) or mean")
    votes: int = Field(default=3, ge=1, le=16, description="sampled replies per query without logprobs")
    two_sided: bool = Field(
        default=True, description="also ask whether each candidate is wrong (a 'yes' there counts against it)"
    )


_LABEL_CLAIMS = {
    "True": "the conclusion follows from the premises",
    "False": "the negation of the conclusion follows from the premises",
    "Uncertain": "the premises decide neither the conclusion nor its negation",
}


def think_queries(item: Problem | Question, two_sided: bool = True) -> list[ThinkQuery]:
    """The Think step's queries: per candidate answer (a logic problem's labels, or a question's option letters),
    "is this the answer?", and with ``two_sided`` "is this answer wrong?" (negated)."""
    context = problem_text(item)
    claims: dict[str, str]
    if isinstance(item, Problem):
        claims = dict(_LABEL_CLAIMS)
    elif item.options:
        claims = {chr(65 + i): f"the correct answer is option {chr(65 + i)} ({o})" for i, o in enumerate(item.options)}
    else:
        raise ValueError(
            "search.thinksum needs a logic problem or a question with options: it weighs a fixed set of candidates"
        )
    queries = []
    for candidate, claim in claims.items():
        queries.append(ThinkQuery(candidate, f"{context}\n\nIs it true that {claim}?"))
        if two_sided:
            queries.append(ThinkQuery(candidate, f"{context}\n\nIs it false that {claim}?", negate=True))
    return queries


@node("search.thinksum", params=ThinkSumParams, needs=("model",))
async def thinksum_node(
    ctx: NodeContext, params: ThinkSumParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """ThinkSum (Ozturkler et al., 2023): yes/no queries per candidate in parallel, combined by a probabilistic sum."""
    item = item_of(problem, question)
    queries = think_queries(item, params.two_sided)
    res = await thinksum(ctx.model, queries, how=params.how, votes=params.votes, budget=params.budget())
    tree: SearchTree[None, str] = SearchTree("thinksum")
    root = tree.add(None, None, None, problem_text(item)[:400])
    per: dict[str, TreeNode[None, str]] = {}
    for c, p in res.probabilities.items():
        n = tree.add(root, c, None, f"{c}: P = {p:.3f}")
        n.score, n.visits, n.value_sum = p, 1, p
        n.verdict = "chosen" if c == res.answer else ""
        per[c] = n
    for q, p in res.evidence:
        parent = per.get(q.candidate, root)
        leaf = tree.add(parent, q.candidate, None, ("(against) " if q.negate else "") + q.prompt.rsplit("\n", 1)[-1])
        leaf.score = p
    if ctx.tracer is not None:
        for event in tree.to_events():
            ctx.tracer.emit(event)
    ranked = sorted(res.probabilities.items(), key=lambda kv: -kv[1])
    ev = SearchEvidence(
        method=f"thinksum ({params.how})",
        weights={c: round(p, 6) for c, p in res.probabilities.items()},
        samples=len(res.evidence),
        search_id=tree.search_id,
        stop_reason=res.stop_reason,
        stop_detail=res.stop_detail,
        calls=res.calls,
        tokens=res.tokens,
        reason=f"{len(res.evidence)} think queries; " + ", ".join(f"P({c}) {p:.3f}" for c, p in ranked),
    )
    top = ranked[0][1] if ranked else None
    if isinstance(item, Problem):
        # a logic Answer reads agreement from votes over samples; ThinkSum has no votes, so it reads the probability
        ev = ev.model_copy(update={"samples": 0})
    return make_answer(item, res.answer, ev, status="scored", confidence=top)


__all__ = ["RepeatedParams", "ThinkSumParams", "repeated_sampling_node", "think_queries", "thinksum_node"]
