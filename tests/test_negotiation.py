"""Negotiating drivers (after CoLMDriver, Liu et al. 2025): scenarios, the simulator by hand, the mediator, the
critic, rule and LLM planners (scripted models), the negotiation loop, the nodes in YAML and the CLI handler."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import thinkgraph.nodes.negotiation  # noqa: F401  (registers the nodes until nodes/__init__ imports them)
from thinkgraph.agents.negotiation import (
    Critic,
    LLMPlanner,
    NegotiationResult,
    Planner,
    PlannerView,
    Proposal,
    ProposalParseError,
    PublicRound,
    RuleCritic,
    RulePlanner,
    Scenario,
    Schedule,
    ScheduleError,
    Vehicle,
    fcfs_schedule,
    mediate,
    movements_conflict,
    negotiate,
    parse_proposal,
    render_prompt,
    simulate,
    uncoordinated_schedule,
    view_for,
)
from thinkgraph.agents.negotiation.commands import add_negotiation_commands
from thinkgraph.agents.negotiation.scenario import Urgency
from thinkgraph.graphs.yaml_loader import load_workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.messages import TRACE_EVENT, Note, ToolCall, TraceEvent, load_message
from thinkgraph.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]


def two(b_urgency: Urgency = "late") -> Scenario:
    """a from N straight: arrives 2.0 s, 2.5 s in the zone; b from E straight: arrives 3.0 s, 2.5 s in the zone."""
    return Scenario(
        vehicles=(
            Vehicle(id="a", arm="N", movement="straight", distance=20, speed=10, desired_arrival=6),
            Vehicle(id="b", arm="E", movement="straight", distance=30, speed=10, desired_arrival=4, urgency=b_urgency),
        )
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- geometry and scenarios


def test_conflict_table_follows_the_geometry() -> None:
    assert not movements_conflict("N", "straight", "S", "straight")  # opposing straights pass each other
    assert not movements_conflict("N", "right", "S", "right")
    assert not movements_conflict("N", "left", "S", "left")
    assert not movements_conflict("N", "right", "W", "straight")  # N→W and W→E never meet
    assert movements_conflict("N", "straight", "E", "straight")  # crossing paths
    assert movements_conflict("N", "left", "S", "straight")  # a left turn crosses the opposing straight
    assert movements_conflict("N", "right", "E", "straight")  # both end in W: they merge
    assert movements_conflict("S", "left", "S", "right")  # one lane per approach
    assert two().conflicts == (("a", "b"),)


def test_generation_is_deterministic_and_round_trips() -> None:
    assert Scenario.generate(7) == Scenario.generate(7)
    assert Scenario.generate(7) != Scenario.generate(8)
    sizes = {len(Scenario.generate(seed).vehicles) for seed in range(40)}
    assert sizes == {3, 4, 5, 6}
    s = Scenario.generate(11, n_vehicles=8)
    assert len(s.vehicles) == 8 and s.seed == 11
    for seed in range(40):
        sc = Scenario.generate(seed)
        assert load_message(sc.model_dump(mode="json")) == sc
        for v in sc.vehicles:  # a follower never arrives before the vehicle ahead of it
            leader = sc.lane_leader(v.id)
            if leader is not None:
                assert v.earliest > sc.vehicle(leader).earliest
    with pytest.raises(ValueError, match="n_vehicles"):
        Scenario.generate(1, n_vehicles=9)


def test_a_scenario_refuses_a_wrong_conflict_table_and_duplicate_ids() -> None:
    data = two().model_dump(mode="json")
    data["conflicts"] = [["a", "c"]]
    with pytest.raises(ValidationError, match="derived from the movements"):
        Scenario.model_validate(data)
    v = two().vehicles[0]
    with pytest.raises(ValidationError, match="unique"):
        Scenario(vehicles=(v, v))


# ----------------------------------------------------------------------------- simulator by hand


def test_simulator_on_two_vehicles_by_hand() -> None:
    s = two()
    free = simulate(s, uncoordinated_schedule(s))
    assert [c.kind for c in free.conflicts] == ["overlap"]
    c = free.conflicts[0]
    assert (c.a, c.b, c.start, c.end) == ("a", "b", 3.0, 4.5)  # a in 2.0–4.5, b in 3.0–5.5
    assert free.mean_delay == 0 and free.late == 0

    fcfs = simulate(s, fcfs_schedule(s))
    assert fcfs.conflict_free
    assert (fcfs.of("a").entry, fcfs.of("a").exit) == (2.0, 4.5)
    assert (fcfs.of("b").entry, fcfs.of("b").exit) == (5.0, 7.5)  # after a leaves + 0.5 s clearance
    assert fcfs.of("b").delay == 2.0 and fcfs.of("b").late  # b wanted to enter by 4.0 s
    assert fcfs.mean_delay == 1.0
    assert fcfs.weighted_delay == pytest.approx((1 * 0 + 2 * 2.0) / 3, abs=1e-3)  # b is late: weight 2

    close = simulate(s, Schedule.of({"a": 2.0, "b": 4.9}))  # not together, but within the clearance
    assert len(close.conflicts) == 1 and "clearance" in close.conflicts[0].text()
    b_first = simulate(s, Schedule.of({"a": 6.0, "b": 3.0}))  # b leaves at 5.5: a may enter at 6.0
    assert b_first.conflict_free and b_first.of("a").delay == 4.0
    early = simulate(s, Schedule.of({"a": 0.0, "b": 9.0}))
    assert early.of("a").clamped and early.of("a").entry == 2.0  # cannot enter before it arrives


def test_simulator_finds_a_follower_passing_its_leader_and_refuses_bad_schedules() -> None:
    s = Scenario(
        vehicles=(
            Vehicle(id="lead", arm="S", movement="left", distance=10, speed=10, desired_arrival=5),
            Vehicle(id="next", arm="S", movement="right", distance=30, speed=10, desired_arrival=5),
        )
    )
    assert s.lane_leader("next") == "lead"
    out = simulate(s, Schedule.of({"lead": 9.0, "next": 3.0}))
    assert [(c.kind, c.a, c.b) for c in out.conflicts] == [("queue", "lead", "next")]
    assert simulate(s, fcfs_schedule(s)).conflict_free
    with pytest.raises(ScheduleError, match="missing"):
        simulate(s, Schedule.of({"lead": 1.0}))
    with pytest.raises(ScheduleError, match="unknown"):
        simulate(s, Schedule.of({"lead": 1.0, "next": 2.0, "ghost": 3.0}))
    with pytest.raises(ScheduleError, match="finite"):
        simulate(s, Schedule.of({"lead": float("nan"), "next": 2.0}))


def test_fcfs_is_conflict_free_and_no_coordination_is_not() -> None:
    clashes = 0
    for seed in range(50):
        s = Scenario.generate(seed)
        assert simulate(s, fcfs_schedule(s)).conflict_free
        clashes += bool(simulate(s, uncoordinated_schedule(s)).conflicts)
    assert clashes >= 40  # arrivals within a few seconds: most scenarios need coordination


# ----------------------------------------------------------------------------- mediator


def _p(vid: str, t: float, *yields: str) -> Proposal:
    return Proposal(vehicle=vid, entry_time=t, yield_to=yields)


def test_mediator_honours_yields_and_ignores_deadlocks_and_strangers() -> None:
    s = two()
    m = mediate(s, {"a": _p("a", 2.0, "b"), "b": _p("b", 3.0)})
    assert m.schedule.entries() == {"b": 3.0, "a": 6.0}  # b leaves 5.5 + 0.5
    m = mediate(s, {"a": _p("a", 2.0, "b"), "b": _p("b", 3.0, "a")})  # "after you" — "no, after you"
    assert m.ignored == (("b", "a"),) and "deadlock" in m.notes[0]
    assert simulate(s, m.schedule).conflict_free
    m = mediate(s, {"a": _p("a", 2.0, "zz"), "b": _p("b", 1.0)})
    assert ("a", "zz") in m.ignored
    assert any("cannot arrive before" in n for n in m.notes)
    with pytest.raises(ScheduleError, match="no proposal from b"):
        mediate(s, {"a": _p("a", 2.0)})
    lane = Scenario(
        vehicles=(
            Vehicle(id="lead", arm="S", movement="left", distance=10, speed=10, desired_arrival=5),
            Vehicle(id="next", arm="S", movement="right", distance=30, speed=10, desired_arrival=5),
        )
    )
    m = mediate(lane, {"lead": _p("lead", 1.0, "next"), "next": _p("next", 0.0)})
    assert m.ignored == (("lead", "next"),) and "behind it in its lane" in m.notes[0]
    assert m.schedule.entries() == {"lead": 1.0, "next": 1.0 + 3.2 + 0.5}  # the follower waits for its leader


# ----------------------------------------------------------------------------- negotiation with rule planners


def test_rule_negotiation_with_critic_agrees_conflict_free_and_beats_fcfs_on_weighted_delay() -> None:
    assert isinstance(RulePlanner(), Planner) and isinstance(RuleCritic(), Critic)
    for seed in range(30):
        s = Scenario.generate(seed)
        res = run(negotiate(s, RulePlanner(), RuleCritic()))
        assert res.agreed and res.stop_reason == "agreed" and res.schedule.source == "negotiated"
        assert res.outcome == simulate(s, res.schedule) and res.outcome.conflict_free
        assert res.rounds[-1].outcome.conflict_free and set(res.rounds[-1].accepted) == set(s.ids)
        fcfs = simulate(s, fcfs_schedule(s))
        assert res.outcome.weighted_delay <= fcfs.weighted_delay + 1e-3  # urgency honoured, never worse
        assert load_message(res.model_dump(mode="json")) == res


def test_without_the_critic_some_negotiations_stall_and_fall_back_to_fcfs() -> None:
    stalled = 0
    for seed in range(30):
        s = Scenario.generate(seed)
        res = run(negotiate(s, RulePlanner(), None))
        assert res.outcome.conflict_free
        assert all(r.critic is None for r in res.rounds)
        if not res.agreed:
            stalled += 1
            assert res.stop_reason == "stalemate" and res.schedule == fcfs_schedule(s)
            assert res.rounds[-1].outcome.conflicts  # what the drivers had reached: never returned as agreed
            assert "FCFS" in res.summary()
    assert 3 <= stalled <= 27  # a real ablation: neither always nor never


def test_the_critic_fixes_a_conflict_the_drivers_cannot_see() -> None:
    s = Scenario.generate(3)  # v1 (3.8 s in the zone) and v3 arrive 3.8 s apart: the rule planners' guess misses it
    blind = run(negotiate(s, RulePlanner(), None))
    assert blind.stop_reason == "stalemate"
    assert any({c.a, c.b} == {"v1", "v3"} for c in blind.rounds[-1].outcome.conflicts)
    seen = run(negotiate(s, RulePlanner(), RuleCritic()))
    advice = seen.rounds[0].critic.directives if seen.rounds[0].critic else ()
    assert any(d.vehicle == "v3" and d.other == "v1" and d.action == "yield_to" for d in advice)
    assert "v1" in seen.rounds[1].proposal("v3").yield_to and seen.agreed


def test_max_rounds_ends_with_the_fcfs_fallback() -> None:
    s = Scenario.generate(5)
    res = run(negotiate(s, RulePlanner(), RuleCritic(), max_rounds=1))
    assert (res.stop_reason, res.agreed, res.schedule.source) == ("max_rounds", False, "fcfs")
    with pytest.raises(ValueError):
        run(negotiate(s, RulePlanner(), None, max_rounds=0))


def test_each_round_is_in_the_trace() -> None:
    events: list[TraceEvent] = []
    res = run(negotiate(Scenario.generate(3), RulePlanner(), RuleCritic(), emit=events.append))
    sims = [e for e in events if isinstance(e, ToolCall)]
    assert [e.tool for e in sims] == ["simulator"] * (len(res.rounds) + 1)
    assert sims[0].input["check"] == "round 1" and sims[0].output["conflicts"]
    assert sims[-1].input["check"] == "final" and sims[-1].output["conflicts"] == []
    notes = [e.text for e in events if isinstance(e, Note)]
    assert any(n.startswith("critic on round 1") for n in notes) and any(n.startswith("round 2:") for n in notes)
    for e in events:
        assert TRACE_EVENT.validate_json(TRACE_EVENT.dump_json(e)) == e


# ----------------------------------------------------------------------------- LLM planner


def _view(round_no: int = 1) -> tuple[Scenario, PlannerView]:
    """Vehicle v3's view of seed 3 (round 2: after a round in which everyone went at its earliest arrival)."""
    s = Scenario.generate(3)
    history: tuple[PublicRound, ...] = ()
    if round_no > 1:
        history = (run(negotiate(s, RulePlanner(), None, max_rounds=1)).rounds[0].public(),)
    return s, view_for(s, "v3", round_no, history)


def test_prompt_shows_own_state_and_only_the_public_intent_of_others() -> None:
    s, view = _view(2)
    system, user = render_prompt(view)
    assert "v3" in system.content and "JSON" in system.content
    assert "job interview" in user.content and "Earliest arrival 5.38s" in user.content
    assert "v1 from E, turning left (to S): crosses your path" in user.content
    for other in ("v1", "v2", "v4"):
        assert s.vehicle(other).goal not in user.content  # private goals stay private
    assert "Round 1 proposals" in user.content and "Critic" not in user.content  # no critic, no feedback
    assert render_prompt(view) == (system, user)  # pure


def test_parse_proposal_is_robust_and_says_what_is_wrong() -> None:
    _s, view = _view(1)
    p = parse_proposal('Sure!\n```json\n{"action": "yield", "yield_to": "V1", "entry_time": "6.5"}\n```', view)
    assert (p.yield_to, p.entry_time, p.urgency_claim, p.source) == (("v1",), 6.5, "late", "llm")
    assert parse_proposal('{"action": "go", "yield_to": ["v1"], "entry_time": 5.4}', view).yield_to == ()
    bad = {
        "no json here": "no JSON object",
        '{"action": "go", "entry_time": 5.4,,}': "not valid JSON",
        '{"action": "yield", "yield_to": []}': "needs yield_to",
        '{"action": "go", "yield_to": ["v9"]}': "not one of the other vehicles",
        '{"action": "fly"}': "action must be",
        '{"action": "go", "entry_time": "soon"}': "entry_time must be a number",
        '{"action": "go", "entry_time": -1}': "between 0 and 600",
        '{"action": "go", "urgency": "vip"}': "urgency must be",
        '{"action": "go", "accept": "maybe"}': "accept must be",
    }
    for text, message in bad.items():
        with pytest.raises(ProposalParseError, match=message):
            parse_proposal(text, view)
    _s, later = _view(2)
    prev = later.previous
    assert prev is not None
    kept = parse_proposal('{"accept": true, "reason": "fine"}', later)  # the last plan, accepted
    assert kept.accept and kept.same_plan(prev) and kept.source == "llm"
    same = parse_proposal(f'{{"action": "go", "entry_time": {prev.entry_time}, "accept": true}}', later)
    assert same.accept and same.same_plan(prev)
    changed = parse_proposal('{"accept": true, "action": "yield", "yield_to": ["v2"]}', later)
    assert not changed.accept and changed.yield_to == ("v2",)  # a changed plan is a new proposal


def test_llm_planner_valid_reply_uses_the_schema() -> None:
    _s, view = _view(1)
    model = ScriptedModel(
        ['{"reason": "late", "action": "go", "yield_to": [], "entry_time": 5.4, "urgency": "late", "accept": false}']
    )
    p = run(LLMPlanner(model).propose(view))
    assert (p.source, p.action, p.error) == ("llm", "go", "")
    req = model.requests[0]
    assert req.response_format is not None
    assert req.response_format["json_schema"]["schema"]["properties"]["yield_to"]["items"]["enum"] == ["v1", "v2", "v4"]
    plain = ScriptedModel(['{"action": "go"}'], capabilities=())  # a backend without JSON schemas
    assert run(LLMPlanner(plain).propose(view)).source == "llm" and plain.requests[0].response_format is None


def test_llm_planner_retries_a_malformed_reply_then_falls_back() -> None:
    _s, view = _view(1)
    notes: list[str] = []
    model = ScriptedModel(['{"action": "go", "entry_time": 5.4', '{"action": "yield", "yield_to": ["v1"]}'])
    p = run(LLMPlanner(model, note=notes.append).propose(view))
    assert p.source == "llm" and p.yield_to == ("v1",) and "not valid JSON" in p.error
    retry = model.requests[1].messages
    assert retry[-2].role == "assistant" and "could not be used" in retry[-1].content
    assert notes and "asking again" in notes[0]

    model = ScriptedModel(["I will go.", "Really, I go first."])
    p = run(LLMPlanner(model, note=notes.append).propose(view))
    assert p.source == "fallback" and p.error.count("no JSON object") == 2
    assert p.reason.startswith("fallback:") and p.entry_time == pytest.approx(5.383, abs=1e-3)  # the rule plan
    assert "using the rule planner" in notes[-1]

    empty = ScriptedModel([])  # a model error (the script is exhausted): straight to the fallback
    assert run(LLMPlanner(empty, note=notes.append).propose(view)).source == "fallback"


def _driver(request: ChatRequest, _i: int) -> str:
    """A scripted driver: goes in round 1, then sends what the critic advises (the JSON after "That is:")."""
    prompt = request.messages[-1].content
    if "Round 1." in prompt:
        return '{"reason": "first round", "action": "go", "yield_to": [], "entry_time": 0, "accept": false}'
    advised = next(line for line in prompt.splitlines() if "That is: " in line)
    return advised.split("That is: ", 1)[1]


def test_llm_negotiation_with_a_scripted_model_reaches_agreement() -> None:
    s = Scenario.generate(3)
    model = ScriptedModel(_driver)
    res = run(negotiate(s, LLMPlanner(model), RuleCritic()))
    assert res.agreed and res.planner == "llm" and res.fallback_proposals == 0
    assert len(model.requests) == len(s.ids) * len(res.rounds)
    assert res.outcome.weighted_delay == run(negotiate(s, RulePlanner(), RuleCritic())).outcome.weighted_delay


def test_the_critic_tells_a_driver_waiting_for_nothing_to_enter_earlier() -> None:
    def dawdler(request: ChatRequest, i: int) -> str:
        prompt = request.messages[-1].content
        if "Round 1." in prompt:  # like the 1.5B model did: it proposes its deadline as its entry time
            deadline = prompt.split("enter by ", 1)[1].split("s.", 1)[0]
            return json.dumps({"action": "go", "yield_to": [], "entry_time": float(deadline), "accept": False})
        return _driver(request, i)

    s = Scenario.generate(3)
    res = run(negotiate(s, LLMPlanner(ScriptedModel(dawdler)), RuleCritic()))
    advice = res.rounds[0].critic.directives if res.rounds[0].critic else ()
    assert any(d.action == "enter_at" and d.time == round(s.vehicle(d.vehicle).earliest, 2) for d in advice)
    assert res.agreed and res.outcome.weighted_delay == pytest.approx(
        run(negotiate(s, RulePlanner(), RuleCritic())).outcome.weighted_delay, abs=0.02
    )


def test_dropping_a_yield_the_mediator_ignored_counts_as_consent() -> None:
    """Seed 11 with three vehicles, as the 1.5B model played it: v1 yields to v2, which is behind it in its lane
    (ignored); the critic advises dropping it; dropping it changes nothing, so round 2 is an agreement."""
    s = Scenario.generate(11, n_vehicles=3)
    first = {"v1": ["v2"], "v2": [], "v3": ["v2"]}

    def script(request: ChatRequest, i: int) -> str:
        prompt = request.messages[-1].content
        if "Round 1." not in prompt:
            return _driver(request, i)
        me = prompt.split("You (", 1)[1].split(")", 1)[0]
        entry = float(prompt.split("propose entry_time ", 1)[1].split(" ", 1)[0])
        return json.dumps({"action": "yield" if first[me] else "go", "yield_to": first[me], "entry_time": entry})

    res = run(negotiate(s, LLMPlanner(ScriptedModel(script)), RuleCritic()))
    assert res.rounds[0].mediation.ignored == (("v1", "v2"),)
    assert res.rounds[1].proposal("v1").yield_to == ()
    assert res.agreed and len(res.rounds) == 2 and set(res.rounds[1].accepted) == {"v1", "v2", "v3"}
    assert res.outcome.weighted_delay < res.evidence.baselines["fcfs"].weighted_delay  # the ambulance went first


# ----------------------------------------------------------------------------- nodes, YAML, CLI


def test_yaml_workflow_runs_with_a_scripted_model_and_with_rules() -> None:
    wf = load_workflow(ROOT / "examples" / "negotiation.yaml")
    compiled = wf.compile()
    result = compiled.run_sync({"seed": 3}, model=ScriptedModel(_driver))
    assert result.ending == "answered"
    out = result.output
    assert isinstance(out, NegotiationResult) and out.agreed and out.planner == "llm"
    assert isinstance(result.latest(Scenario), Scenario)

    rules = wf.copy().set_params({"negotiate.planner": "rules", "negotiate.critic": False}).compile()
    res = rules.run_sync({"seed": 3, "n_vehicles": 5})  # no model needed by the rule planner
    assert isinstance(res.output, NegotiationResult) and res.output.planner == "rules" and not res.output.critic
    assert len(res.output.outcome.vehicles) == 5
    with pytest.raises(Exception, match="seed"):
        compiled.coerce_input({"seed": -1})


def _cli(argv: list[str]) -> int:
    from thinkgraph.cli import _Parser

    parser = _Parser(prog="thinkgraph")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_negotiation_commands(lambda name, help: sub.add_parser(name, help=help))
    args: argparse.Namespace = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_handler_prints_rounds_and_outcome(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    assert _cli(["negotiate", "--seed", "3", "--planner", "rules", "--trace", str(trace)]) == 0
    cap = capsys.readouterr()
    assert "agreed in round" in cap.out and "round 1:" in cap.out and "baseline fcfs" in cap.out
    assert "⚙ simulator" in cap.err  # the live trace
    assert any('"tool":"simulator"' in line for line in trace.read_text().splitlines())
    assert _cli(["negotiate", "--seed", "3", "--planner", "rules", "--no-critic", "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["output"]["stop_reason"] == "stalemate" and data["output"]["schedule"]["source"] == "fcfs"
    with pytest.raises(SystemExit) as exc:
        _cli(["negotiate", "--seed", "3", "--vehicles", "9"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_one_round_with_the_real_small_local_model() -> None:
    """The embedded 0.5B model drives three vehicles for one round through the YAML workflow: its replies are
    parsed (or fall back, recorded), every model call is in the trace, and the schedule is simulator-checked."""
    pytest.importorskip("xllamacpp")
    from thinkgraph.llm import load_model
    from thinkgraph.messages import ModelRequest
    from thinkgraph.runtime import RunContext

    model = load_model("local:small", n_parallel=3)
    wf = load_workflow(ROOT / "examples" / "negotiation.yaml").set_params(
        {"negotiate.max_rounds": 1, "negotiate.max_tokens": 96, "negotiate.retries": 0}
    )
    ctx = RunContext()
    try:
        result = wf.compile().run_sync({"seed": 11, "n_vehicles": 3}, model=model, ctx=ctx)
    finally:
        asyncio.run(model.aclose())
    out = result.output
    assert isinstance(out, NegotiationResult) and out.evidence.conflict_free
    assert out.stop_reason == "max_rounds" and out.schedule.source == "fcfs"  # one round cannot be accepted
    assert {p.source for p in out.rounds[0].proposals} <= {"llm", "fallback"}
    assert sum(isinstance(e, ModelRequest) for e in ctx.tracer.events) == 3
