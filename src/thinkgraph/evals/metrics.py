"""Scores of an evaluation run, from its rows.

* accuracy over every problem (an abstention or a failure counts as wrong) and per class (a confusion
  matrix of gold against predicted, abstentions as their own column; precision, recall, F1);
* for systems that abstain: coverage, accuracy on the answered, and the risk–coverage curve (answers
  ranked by confidence; risk = error rate among the answers kept) with its area (AURC);
* the unbiased pass@k of Chen et al. (2021) where rows record samples drawn and samples correct;
* model calls, tokens, seconds and cost per problem and per correct answer; retries and failed calls;
* ProcBench's step-aware scores (prefix accuracy, per-step match) for procedure-following rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from thinkgraph.evals.store import Row
from thinkgraph.search.estimators import pass_at_k  # the estimator lives with repeated sampling


def normalize(value: Any, answer_type: str) -> Any:
    """How answers compare: numbers as floats, choices as their letter, labels and yes/no lower-case
    (Unknown = Uncertain), grids as lists of integer rows (a JSON string of one too); other answers as they are."""
    if value is None:
        return None
    if answer_type == "number":
        try:
            return float(str(value).replace(",", "").strip())
        except ValueError:
            return None
    if answer_type == "choice":
        text = str(value).strip()
        return text[:1].upper() if text else None
    if answer_type in ("yesno", "label"):
        text = str(value).strip().lower()
        return {"unknown": "uncertain"}.get(text, text)
    if answer_type == "grid":
        from thinkgraph.evals.programs import normalize_grid

        return normalize_grid(value)
    return value


def risk_coverage(rows: Sequence[Row], points: int = 50) -> tuple[list[dict[str, float]], float | None]:
    """The risk–coverage curve (answers ranked by confidence, most confident first) and its area."""
    rows = [r for r in rows if r.correct is not None]  # unscorable rows (programs, proofs) carry no risk
    total = len(rows)
    answered = [r for r in rows if r.value is not None and r.status not in ("abstained", "failed")]
    if not total or not answered:
        return [], None
    ranked = sorted(answered, key=lambda r: -(r.confidence if r.confidence is not None else 0.0))
    curve: list[dict[str, float]] = []
    wrong = 0
    area = 0.0
    for i, r in enumerate(ranked, 1):
        wrong += 0 if r.correct else 1
        risk = wrong / i
        area += risk / len(ranked)
        curve.append({"coverage": round(i / total, 4), "risk": round(risk, 4)})
    if len(curve) > points:  # keep the shape, drop the density
        step = len(curve) / points
        curve = [curve[min(len(curve) - 1, round(j * step))] for j in range(points)] + [curve[-1]]
    return curve, round(area, 4)


def confusion(rows: Sequence[Row]) -> dict[str, Any]:
    """Gold × predicted counts (abstentions and failures as their own columns) and per-class scores."""

    def key(value: Any, answer_type: str) -> str:
        norm = normalize(value, answer_type)
        if answer_type == "label" and isinstance(norm, str):
            return norm.capitalize()  # True / False / Uncertain, as the labels are written
        if isinstance(norm, float) and norm.is_integer():
            return str(int(norm))
        return json_key(norm)

    matrix: dict[str, Counter[str]] = {}
    for r in rows:
        if r.status == "abstained":
            predicted = "abstained"
        elif r.status == "failed":
            predicted = "failed"
        else:
            predicted = key(r.value, r.answer_type)
        matrix.setdefault(key(r.gold, r.answer_type), Counter())[predicted] += 1
    classes = sorted(matrix)
    per_class = {}
    for c in classes:
        tp = matrix[c][c]
        predicted_c = sum(m[c] for m in matrix.values())
        gold_c = sum(matrix[c].values())
        precision = tp / predicted_c if predicted_c else None
        recall = tp / gold_c if gold_c else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else None
        )
        per_class[c] = {
            "gold": gold_c,
            "predicted": predicted_c,
            "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4),
            "f1": None if f1 is None else round(f1, 4),
        }
    return {"matrix": {g: dict(m) for g, m in matrix.items()}, "per_class": per_class}


def json_key(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def procbench_scores(predicted: Any, gold: Any) -> dict[str, float] | None:
    """ProcBench's step-aware scores for one problem: ``prefix_accuracy`` (the share of the gold
    intermediate states matched before the first mismatch), ``step_match`` (the share matched at their
    position) and ``final`` (1.0 when the final state matches).  None when either side has no steps."""
    if not isinstance(gold, dict) or not isinstance(predicted, dict):
        return None
    gold_steps = list(gold.get("intermediate") or [])
    pred_steps = list(predicted.get("intermediate") or [])
    final = 1.0 if predicted.get("final") == gold.get("final") and "final" in gold else 0.0
    if not gold_steps:
        return {"prefix_accuracy": final, "step_match": final, "final": final}
    prefix = 0
    for g, p in zip(gold_steps, pred_steps, strict=False):
        if g != p:
            break
        prefix += 1
    matches = sum(g == p for g, p in zip(gold_steps, pred_steps, strict=False))
    return {
        "prefix_accuracy": prefix / len(gold_steps),
        "step_match": matches / max(len(gold_steps), len(pred_steps)),
        "final": final,
    }


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    """Every score of a run (see the module docstring)."""
    n = len(rows)
    if not n:
        return {"problems": 0}
    all_rows = rows
    rows = [r for r in rows if r.correct is not None]  # scored rows; unscorable ones are counted apart
    unscored = n - len(rows)
    if not rows:
        return {"problems": n, "scored": 0, "unscored": unscored, "correct": 0, "accuracy": None}
    correct = sum(1 for r in rows if r.correct)
    abstained = sum(1 for r in rows if r.status == "abstained")
    failed = sum(1 for r in rows if r.status == "failed")
    answered = [r for r in rows if r.status not in ("abstained", "failed") and r.value is not None]
    answered_correct = sum(1 for r in answered if r.correct)
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in all_rows)
    costs = [r.cost for r in all_rows if r.cost is not None]
    curve, aurc = risk_coverage(rows)
    scored = len(rows)
    out: dict[str, Any] = {
        "problems": n,
        "scored": scored,
        "unscored": unscored,
        "correct": correct,
        "accuracy": round(correct / scored, 4),
        "abstained": abstained,
        "failed": failed,
        "coverage": round(len(answered) / scored, 4),
        "answered_accuracy": round(answered_correct / len(answered), 4) if answered else None,
        "calls_per_problem": round(sum(r.calls for r in all_rows) / n, 2),
        "tokens_per_problem": round(tokens / n, 1),
        "completion_tokens_per_problem": round(sum(r.completion_tokens for r in all_rows) / n, 1),
        "seconds_per_problem": round(sum(r.seconds for r in all_rows) / n, 3),
        "tokens_per_correct": round(tokens / correct, 1) if correct else None,
        "seconds_per_correct": round(sum(r.seconds for r in all_rows) / correct, 3) if correct else None,
        "cost": round(sum(costs), 6) if costs else None,
        "cost_per_correct": round(sum(costs) / correct, 6) if costs and correct else None,
        "retries": sum(r.retries for r in all_rows),
        "failed_calls": sum(r.failed_calls for r in all_rows),
        "confusion": confusion(rows),
        "risk_coverage": curve,
        "aurc": aurc,
    }
    sampled = [r for r in rows if r.samples_total and r.samples_correct is not None]
    if sampled:
        kmax = min(r.samples_total or 0 for r in sampled)
        out["pass_at_k"] = {
            str(k): round(
                sum(pass_at_k(r.samples_total or 0, r.samples_correct or 0, k) for r in sampled) / len(sampled), 4
            )
            for k in sorted({1, min(5, kmax), kmax})
            if k >= 1
        }
    steps = [s for r in all_rows if r.answer_type == "steps" and (s := procbench_scores(r.value, r.gold))]
    if steps:
        out["procbench"] = {k: round(sum(s[k] for s in steps) / len(steps), 4) for k in steps[0]}
    return out


__all__ = ["confusion", "normalize", "pass_at_k", "procbench_scores", "risk_coverage", "summarize"]
