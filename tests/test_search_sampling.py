"""Whole-answer strategies pinned with scripted models: pass@k, extractors, self-consistency, best-of-N,
repeated sampling, adaptive consistency, RPC, verifier-aware abstention and ThinkSum."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from math import comb

import pytest

from thinkgraph.llm.base import ChatRequest, ChatResponse, Completion, TokenLogprob
from thinkgraph.messages import ChatMessage, Usage
from thinkgraph.search import (
    AdaptiveParams,
    LogprobsUnavailable,
    SearchBudget,
    ThinkQuery,
    abstention_decision,
    adaptive_consistency,
    best_of_n,
    beta_confidence,
    coverage,
    coverage_curve,
    extract_answer_line,
    extract_choice,
    extract_label,
    extract_number,
    pass_at_k,
    repeated_sampling,
    rpc,
    rpc_vote,
    self_consistency,
    thinksum,
    vote,
)
from thinkgraph.search.abstain import decide
from thinkgraph.search.adaptive import cannot_change
from thinkgraph.search.rpc import fit_weibull_mixture, prune_low_probability
from thinkgraph.search.sampling import Sample, draw
from thinkgraph.search.scorers import verifier_scorer
from thinkgraph.search.thinksum import combine
from thinkgraph.testing import ScriptedModel

Q = [ChatMessage(role="user", content="What is 6 times 7?")]


def test_pass_at_k_matches_the_closed_form_and_its_edge_cases() -> None:
    for n, c, k in itertools.product(range(1, 9), range(9), range(1, 9)):
        if c > n or k > n:
            continue
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 1, 10) == 1.0 and pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(200, 1, 1) == pytest.approx(1 / 200)
    for bad in [(0, 0, 1), (5, 1, 0), (5, 1, 6), (5, 6, 1), (5, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)
    assert coverage([(4, 0), (4, 4)], 2) == pytest.approx(0.5)
    assert coverage_curve([(4, 1), (8, 2)]) == {
        1: pytest.approx((0.25 + 0.25) / 2),
        2: pytest.approx((0.5 + (1 - comb(6, 2) / comb(8, 2))) / 2),
        4: pytest.approx((1.0 + (1 - comb(6, 4) / comb(8, 4))) / 2),
    }


def test_the_evals_module_uses_the_same_estimator() -> None:
    from thinkgraph.evals import metrics

    assert metrics.pass_at_k is pass_at_k


@pytest.mark.parametrize(
    ("fn", "text", "expected"),
    [
        (extract_number, "She has 3 + 4 = 7 apples.\n#### 1,000", "1000"),
        (extract_number, "It costs $3.50 in total", "3.5"),
        (extract_number, "Answer: 42.", "42"),
        (extract_number, "so 12 then 15, answer is -4", "-4"),
        (extract_number, "no number here", None),
        (extract_choice, "Answer: (B)", "B"),
        (extract_choice, "I think the answer is c because", "C"),
        (extract_choice, "Reasoning...\nD", "D"),
        (extract_choice, "either A or B", None),
        (extract_label, "so\nAnswer: Unknown", "Uncertain"),
        (extract_label, "Answer: **False**", "False"),
        (extract_label, "the statement is true", "True"),
        (extract_answer_line, "steps\nAnswer: **Paris**.", "paris"),
        (extract_answer_line, "Answer: 7.0", "7"),
    ],
)
def test_extractors(fn: object, text: str, expected: str | None) -> None:
    assert fn(text) == expected  # type: ignore[operator]


def test_vote_table() -> None:
    t = vote(["7", "8", "7", None, "8", "7"])
    assert (t.counts, t.failed, t.samples, t.winner) == ({"7": 3, "8": 2}, 1, 6, "7")
    assert t.agreement == 0.5 and t.share("8") == pytest.approx(0.4) and not t.tied
    assert vote(["a", "b"]).tied and vote(["a", "b"]).winner == "a"  # first seen among equals
    w = vote(["a", "b", "b"], [5.0, 1.0, 1.0])
    assert w.winner == "a" and w.describe() == "a: 1 (5), b: 2"


def test_self_consistency_draws_all_samples_in_one_request() -> None:
    texts = ["6*7 = 42\nAnswer: 42", "#### 42", "answer is 41", "I am not sure", "it is 42"]
    model = ScriptedModel(texts)
    res = asyncio.run(self_consistency(model, Q, extract_number, n=5, temperature=0.8))
    assert [(r.n, r.temperature) for r in model.requests] == [(5, 0.8)]
    assert res.answer == "42" and res.table.counts == {"42": 3, "41": 1} and res.table.failed == 1
    assert res.calls == 1 and res.tokens > 0 and res.stop_reason == "done"
    with pytest.raises(ValueError, match="temperature > 0"):
        asyncio.run(draw(model, Q, 3, temperature=0.0))


def test_a_spent_budget_is_a_named_result_not_an_error() -> None:
    model = ScriptedModel(["Answer: 1"])
    res = asyncio.run(self_consistency(model, Q, extract_number, n=3, budget=SearchBudget(max_calls=0)))
    assert res.answer is None and res.stop_reason == "budget_exhausted" and model.requests == []


def test_best_of_n_keeps_the_best_scored_sample() -> None:
    model = ScriptedModel(["Answer: 41", "Answer: 42", "Answer: 43", "Answer: 42"])
    res = asyncio.run(best_of_n(model, Q, verifier_scorer(lambda s: s.answer == "42"), n=4, extractor=extract_number))
    assert res.scores == (0.0, 1.0, 0.0, 1.0) and res.best is not None and res.best.index == 1
    assert res.answer == "42" and len(model.requests) == 1 and model.requests[0].n == 4

    async def length(sample: Sample) -> float:  # any scorer, sync or async
        return -len(sample.text)

    res = asyncio.run(
        best_of_n(ScriptedModel(["a long answer 1", "short 2"]), Q, length, n=2, extractor=extract_number)
    )
    assert res.answer == "2"


def test_repeated_sampling_reports_unbiased_pass_at_k() -> None:
    model = ScriptedModel([f"Answer: {x}" for x in (1, 42, 3, 4, 42, 6, 7, 8)])
    res = asyncio.run(repeated_sampling(model, Q, lambda s: s.answer == "42", n=8, extractor=extract_number))
    assert res.correct == 2 and res.first_passing is not None and res.first_passing.index == 1
    assert res.pass_at == {k: pytest.approx(1 - comb(6, k) / comb(8, k)) for k in (1, 2, 4, 8)}


def test_adaptive_consistency_stops_early_on_agreement() -> None:
    model = ScriptedModel(lambda r, i: "so Answer: 7")
    params = AdaptiveParams(max_samples=16, batch=2, min_samples=3, rule="beta", threshold=0.95)
    res = asyncio.run(adaptive_consistency(model, Q, extract_number, params))
    # after 2 samples Beta(3, 1) gives 0.875; after 4, 1 - 1/32 = 0.969 >= 0.95
    assert res.stop_reason == "stopped_early" and len(res.samples) == 4 and res.answer == "7"
    assert [r.n for r in model.requests] == [2, 2] and all(r.temperature > 0 for r in model.requests)
    assert beta_confidence(2, 0) == pytest.approx(0.875) and beta_confidence(4, 0) == pytest.approx(31 / 32)
    assert beta_confidence(2, 2) == pytest.approx(0.5)


def test_adaptive_consistency_runs_on_while_samples_disagree() -> None:
    model = ScriptedModel(lambda r, i: f"Answer: {i % 2}")
    res = asyncio.run(adaptive_consistency(model, Q, extract_number, AdaptiveParams(max_samples=6, batch=2)))
    assert res.stop_reason == "done" and len(res.samples) == 6


def test_adaptive_stops_once_the_leader_cannot_be_overtaken() -> None:
    assert cannot_change(vote(["1", "1", "1"]), 2) and not cannot_change(vote(["1", "1", "1"]), 3)
    model = ScriptedModel(lambda r, i: "Answer: 5")
    params = AdaptiveParams(max_samples=5, batch=1, rule="certain")
    res = asyncio.run(adaptive_consistency(model, Q, extract_number, params))
    assert len(res.samples) == 3 and "cannot be overtaken" in res.stop_detail


def test_adaptive_self_evaluation_can_say_stop() -> None:
    def reply(request: ChatRequest, i: int) -> str:
        return "Yes" if "further attempts" in request.messages[-1].content else "Answer: 9"

    model = ScriptedModel(reply)
    params = AdaptiveParams(max_samples=10, batch=1, min_samples=1, rule="self_eval", threshold=0.9)
    res = asyncio.run(adaptive_consistency(model, Q, extract_number, params))
    assert len(res.samples) == 1 and res.stop_reason == "stopped_early" and res.answer == "9"


class LogprobModel:
    """Answers ``n`` samples from a script of (text, token logprobs); ``give`` False drops the logprobs."""

    name = "logprob-fake"

    def __init__(self, script: Sequence[tuple[str, Sequence[float]]], give: bool = True) -> None:
        self.script = list(script)
        self.give = give
        self.capabilities = frozenset({"n", "logprobs", "seed"})
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        choices = []
        for i in range(request.n):
            text, lps = self.script[i % len(self.script)]
            tokens = tuple(TokenLogprob(token=f"t{j}", logprob=lp) for j, lp in enumerate(lps))
            choices.append(Completion(text=text, logprobs=tokens if self.give and request.logprobs else None))
        return ChatResponse(model=self.name, choices=tuple(choices), usage=Usage(prompt_tokens=5, completion_tokens=9))

    async def aclose(self) -> None:
        return None


RPC_SCRIPT = [
    ("6*7 is 42\nAnswer: 42", [-0.1, -0.3]),  # mean -0.2
    ("6*7 is 42\nAnswer: 42", [-0.1, -0.3]),  # the same path again: counted once
    ("7*6 = 42\nAnswer: 42", [-0.5]),
    ("Answer: 41", [-0.05, -0.05]),
]


def test_rpc_weights_match_a_hand_computation() -> None:
    model = LogprobModel(RPC_SCRIPT)
    res = asyncio.run(rpc(model, Q, extract_number, n=4, prune=False))
    assert [(r.n, r.logprobs) for r in model.requests] == [(4, True)]
    p42, p41 = math.exp(-0.2) + math.exp(-0.5), math.exp(-0.05)
    assert res.table.weights["42"] == pytest.approx(p42 / (p42 + p41))
    assert res.table.weights["41"] == pytest.approx(p41 / (p42 + p41))
    assert res.table.counts == {"42": 3, "41": 1} and res.answer == "42" and res.pruned == ()
    # the pure function gives the same table
    samples = [Sample(i, t, extract_number(t), sum(lp), len(lp)) for i, (t, lp) in enumerate(RPC_SCRIPT)]
    table, _pruned, probs = rpc_vote(samples, prune=False)
    assert table == res.table and probs[0] == pytest.approx(math.exp(-0.2))


def test_rpc_prunes_paths_in_the_low_probability_mode() -> None:
    probs = [0.9, 0.88, 0.86, 0.91, 0.87, 0.10, 0.12, 0.08]
    pruned, mix = prune_low_probability(probs)
    assert pruned == {5, 6, 7} and mix is not None and mix.lam1 > mix.lam2
    assert fit_weibull_mixture([0.5, 0.5, 0.5]) is None  # too few distinct values: nothing pruned
    script = [(f"path {i}\nAnswer: {'5' if p > 0.5 else '9'}", [math.log(p)]) for i, p in enumerate(probs)]
    res = asyncio.run(rpc(LogprobModel(script), Q, extract_number, n=8))
    assert res.pruned == (5, 6, 7) and res.table.weights == {"5": 1.0, "9": 0.0} and res.answer == "5"


def test_rpc_says_clearly_when_the_backend_has_no_logprobs() -> None:
    no_caps = ScriptedModel(["Answer: 1"], capabilities={"n"})
    with pytest.raises(LogprobsUnavailable, match="logprobs") as err:
        asyncio.run(rpc(no_caps, Q, extract_number, n=2))
    assert no_caps.requests == [] and err.value.option == "logprobs"
    silent = LogprobModel(RPC_SCRIPT, give=False)
    with pytest.raises(LogprobsUnavailable, match="without token log-probabilities"):
        asyncio.run(rpc(silent, Q, extract_number, n=2))


def test_abstention_decision_matches_a_hand_computation() -> None:
    # q = 0.3·1 + 0.7·0.1 = 0.37; precision = 0.3 / 0.37; m = precision - (1 - precision)·4
    d = abstention_decision(accuracy=0.3, false_positive_rate=0.1, cost_wrong=4, cost_sample=0.01, max_samples=50)
    q, precision = 0.37, 0.3 / 0.37
    m = precision - (1 - precision) * 4
    assert d.answer and d.samples == 50 and d.pass_rate == pytest.approx(q) and d.precision == pytest.approx(precision)
    assert d.expected_utility == pytest.approx((1 - (1 - q) ** 50) * (m - 0.01 / q))
    # a costlier wrong answer: an accepted answer is worth less than nothing, so abstain without sampling
    d = abstention_decision(accuracy=0.3, false_positive_rate=0.1, cost_wrong=5, cost_sample=0.01)
    assert not d.answer and d.samples == 0 and d.reason.startswith("abstain")
    # a batch: k* = ceil(ln(c / (q·m)) / ln(1 - q)) with m = precision - (1 - precision)
    d = abstention_decision(accuracy=0.3, false_positive_rate=0.1, cost_sample=0.05, sequential=False)
    m = precision - (1 - precision)
    assert d.samples == math.ceil(math.log(0.05 / (q * m)) / math.log(1 - q)) == 4
    assert d.coverage == pytest.approx(1 - (1 - q) ** 4)
    # a perfect verifier: precision 1 whatever the accuracy
    assert abstention_decision(accuracy=0.01, false_positive_rate=0.0, cost_wrong=100).precision == 1.0
    with pytest.raises(ValueError):
        abstention_decision(accuracy=1.5, false_positive_rate=0.1)
    # applied to verified samples: the first accepted answer, or abstain
    yes = abstention_decision(accuracy=0.5, false_positive_rate=0.0, max_samples=3)
    assert decide(yes, [False, True, True], ["1", "2", "3"]) == "2"
    assert decide(yes, [False, False, False, True], ["1", "2", "3", "4"]) is None  # beyond the samples worth drawing
    no = abstention_decision(accuracy=0.3, false_positive_rate=0.1, cost_wrong=5)
    assert decide(no, [True], ["1"]) is None


def test_thinksum_thinks_in_parallel_and_sums_probabilities() -> None:
    yes_share = {"Is a whale a mammal?": 4, "Does a whale lay eggs?": 1, "Is a trout a mammal?": 1}

    def reply(request: ChatRequest, i: int) -> str:
        return "Yes" if i < yes_share[request.messages[-1].content] else "No"

    model = ScriptedModel(reply, capabilities={"n"})  # no logprobs: P(yes) is the share of 4 sampled replies
    queries = [
        ThinkQuery("whale", "Is a whale a mammal?"),
        ThinkQuery("whale", "Does a whale lay eggs?", negate=True),
        ThinkQuery("trout", "Is a trout a mammal?"),
    ]
    res = asyncio.run(thinksum(model, queries, votes=4))
    assert [r.n for r in model.requests] == [4, 4, 4]
    assert [p for _q, p in res.evidence] == [1.0, 0.25, 0.25]
    whale, trout = (1 - 1e-6) * 0.75, 0.25
    assert res.probabilities["whale"] == pytest.approx(whale / (whale + trout))
    assert res.answer == "whale"
    mean = combine(res.evidence, "mean")
    assert mean["whale"] == pytest.approx(((1 - 1e-6 + 0.75) / 2) / ((1 - 1e-6 + 0.75) / 2 + 0.25))
