"""The logic task's records: a problem in English, its formalization, a prover's verdict and the answer.

These are :class:`~thinkgraph.messages.Message` types like any a user defines; nothing in the workflow
core depends on them.  Formulas travel as strings in FOLIO's Unicode notation
(see :mod:`thinkgraph.logic.fol`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from thinkgraph.messages import Message, Record

Label = Literal["True", "False", "Uncertain"]
AnswerStatus = Literal["verified", "voted", "abstained"]


class Problem(Message):
    """Premises in English and a conclusion whose truth value is asked."""

    kind: Literal["problem"] = "problem"
    id: str = ""
    premises: tuple[str, ...]
    conclusion: str
    gold: Label | None = None


class Predicate(Record):
    name: str
    arity: int
    description: str = ""


class SentenceFormula(Record):
    """One formula and the sentence it came from (``index`` = -1 for the conclusion)."""

    index: int
    sentence: str
    formula: str


class Formalization(Message):
    """Formulas for the premises and conclusion over one shared vocabulary."""

    kind: Literal["formalization"] = "formalization"
    premises: tuple[SentenceFormula, ...]
    conclusion: SentenceFormula
    predicates: tuple[Predicate, ...] = ()
    constants: tuple[str, ...] = ()
    sample: int = 0


class Countermodel(Record):
    """A finite model: its domain, what each constant denotes, and the true atoms."""

    domain: tuple[str, ...]
    constants: dict[str, str] = Field(default_factory=dict)
    true_atoms: tuple[str, ...] = ()

    def render(self) -> str:
        consts = ", ".join(f"{k}={v}" for k, v in sorted(self.constants.items()))
        atoms = ", ".join(self.true_atoms) if self.true_atoms else "(none)"
        return f"domain {{{', '.join(self.domain)}}}; {consts or 'no constants'}; true: {atoms}"


class Certificate(Record):
    """Why a verdict holds.

    For True/False: ``premises_used`` is an unsat core (indices into the premises).
    For Uncertain: ``model_goal_true`` and ``model_goal_false`` are countermodels each way.
    """

    premises_used: tuple[int, ...] = ()
    model_goal_true: Countermodel | None = None
    model_goal_false: Countermodel | None = None
    note: str = ""


class Verdict(Message):
    kind: Literal["verdict"] = "verdict"
    label: Label
    solver: str
    certificate: Certificate = Certificate()
    timed_out: bool = False
    inconsistent_premises: bool = False
    seconds: float = 0.0


class Evidence(Record):
    """What backs an answer: the solver certificate, the formalization it came from and the vote."""

    verdict: Verdict | None = None
    formalization: Formalization | None = None
    votes: dict[str, int] = Field(default_factory=dict)
    samples: int = 0
    failed_samples: int = 0
    agreement: float = 0.0
    reason: str = ""
    solver_agreement: dict[str, str] = Field(default_factory=dict)
    rationales: tuple[str, ...] = ()  # the model's own reasoning, when that is all there is (chain of thought)


class Answer(Message):
    kind: Literal["answer"] = "answer"
    problem_id: str = ""
    value: Label | None
    status: AnswerStatus
    evidence: Evidence = Evidence()

    def abstained(self) -> bool:
        return self.status == "abstained"

    def summary(self) -> str:
        return f"{self.value if self.value is not None else '—'} [{self.status}]"

    def render(self) -> str:
        head = f"{self.value if self.value is not None else '—'} [{self.status}]"
        ev = self.evidence
        lines = [head]
        if ev.votes:
            lines.append(
                f"votes {dict(sorted(ev.votes.items()))} over {ev.samples} samples"
                f" ({ev.failed_samples} failed), agreement {ev.agreement:.0%}"
            )
        if ev.reason:
            lines.append(f"reason: {ev.reason}")
        if ev.verdict is not None:
            cert = ev.verdict.certificate
            if ev.verdict.label in ("True", "False") and ev.formalization is not None:
                lines.append(f"proof by {ev.verdict.solver} from premises:")
                for i in cert.premises_used:
                    p = ev.formalization.premises[i]
                    lines.append(f"  [{i + 1}] {p.formula}    ({p.sentence})")
                c = ev.formalization.conclusion
                lines.append(f"  ⊢ {'' if ev.verdict.label == 'True' else '¬'}{c.formula}")
            elif ev.formalization is not None:
                lines.append(f"formalization checked by {ev.verdict.solver}:")
                for i, p in enumerate(ev.formalization.premises):
                    lines.append(f"  [{i + 1}] {p.formula}    ({p.sentence})")
                lines.append(f"  ? {ev.formalization.conclusion.formula}    ({ev.formalization.conclusion.sentence})")
            if cert.model_goal_true is not None:
                lines.append(f"a model where the conclusion holds: {cert.model_goal_true.render()}")
            if cert.model_goal_false is not None:
                lines.append(f"a model where it fails: {cert.model_goal_false.render()}")
            if cert.note:
                lines.append(cert.note)
        if ev.solver_agreement:
            lines.append(f"solvers: {ev.solver_agreement}")
        return "\n".join(lines)


LogicMessage = Annotated[Problem | Formalization | Verdict | Answer, Field(discriminator="kind")]
MESSAGE: TypeAdapter[LogicMessage] = TypeAdapter(LogicMessage)


# ----------------------------------------------------------------------------- LINC's intermediate messages


class TranslationSample(Record):
    """One sample of one sentence's translation: the raw reply, its parsed formula or the parse error."""

    index: int
    raw: str
    formula: str | None = None
    error: str | None = None
    repaired: bool = False
    issues: tuple[str, ...] = ()  # faithfulness issues the formula still has (after any repair turns)


class SentenceTranslations(Record):
    sentence: str
    samples: tuple[TranslationSample, ...]


class Translations(Message):
    """Every sentence's samples: the premises in order, then the conclusion (last)."""

    kind: Literal["translations"] = "translations"
    sentences: tuple[SentenceTranslations, ...]

    def summary(self) -> str:
        samples = [s for st in self.sentences for s in st.samples]
        ok = sum(s.formula is not None for s in samples)
        repaired = sum(s.repaired for s in samples)
        return (
            f"{ok}/{len(samples)} samples parsed ({repaired} after a repair turn) over {len(self.sentences)} sentences"
        )


CONSENSUS = -1  # sample index of the per-sentence majority ("consensus") formalization


class ProvedSample(Record):
    """One formalization and the prover's verdict on it.  ``sample`` is the sample index, or
    ``CONSENSUS`` (-1) for the formalization made of every sentence's majority formula."""

    sample: int
    formalization: Formalization | None
    verdict: Verdict | None = None
    failure: str = ""
    sentence_agreement: tuple[float, ...] = ()  # consensus only: majority share per sentence
    sentence_repaired: tuple[bool, ...] = ()  # consensus only: the majority formula came from a repair turn

    @property
    def label(self) -> Label | None:
        return self.verdict.label if self.verdict is not None and not self.failure else None

    @property
    def is_consensus(self) -> bool:
        return self.sample == CONSENSUS


class Proofs(Message):
    """The proved formalizations of one problem (the consensus first, when voting per sentence)."""

    kind: Literal["proofs"] = "proofs"
    samples: tuple[ProvedSample, ...]
    vote: Literal["program", "sentence"] = "sentence"

    def summary(self) -> str:
        def one(o: ProvedSample) -> str:
            name = "consensus" if o.is_consensus else f"sample {o.sample}"
            return f"{name}: {o.label if o.label is not None else 'failed'}"

        return ", ".join(one(o) for o in self.samples)


class Rationales(Message):
    """Chain-of-thought replies: the model's own reasoning, one text per sample."""

    kind: Literal["rationales"] = "rationales"
    texts: tuple[str, ...]
