"""A user-defined node joined to the LINC nodes with a route — built in Python, and the same from YAML.

    python examples/custom_node.py                 # the embedded local model
    python examples/custom_node.py --model local:small

The node ``demo.screen`` looks at a problem before any model call: a problem with premises goes to
LINC (translate → prove → vote), one without goes to chain of thought.
"""

from __future__ import annotations

import argparse
from typing import Literal

from thinkgraph import Problem, load_model
from thinkgraph.graphs import Workflow, loads_workflow, node
from thinkgraph.messages import Message


class Screen(Message):
    kind: Literal["screen"] = "screen"
    formal: bool
    reason: str


@node("demo.screen")
async def screen(problem: Problem) -> Screen:
    """Send problems with premises to LINC, the rest to chain of thought."""
    n = len(problem.premises)
    return Screen(formal=n > 0, reason=f"{n} premises")


def python_workflow() -> Workflow:
    return (
        Workflow("screened")
        .add("screen", "demo.screen")
        .add("translate", "linc.translate", {"samples": 2})
        .add("prove", "linc.prove")
        .add("vote", "linc.vote")
        .add("reason", "cot.reason")
        .add("cot_vote", "cot.vote")
        .route("screen", on="formal", cases={True: "translate", False: "reason"})
        .edge("translate", "prove")
        .edge("prove", "vote")
        .edge("reason", "cot_vote")
    )


YAML = """
workflow: screened
nodes:
  screen:    {use: demo.screen}
  translate: {use: linc.translate, with: {samples: 2}}
  prove:     {use: linc.prove}
  vote:      {use: linc.vote}
  reason:    {use: cot.reason}
  cot_vote:  {use: cot.vote}
routes:
  - {from: screen, on: formal, cases: {true: translate, false: reason}}
edges:
  - {from: translate, to: prove}
  - {from: prove, to: vote}
  - {from: reason, to: cot_vote}
"""


def main(model: object) -> list[str]:
    problem = Problem(premises=("All men are mortal.", "Socrates is a man."), conclusion="Socrates is mortal.")
    answers = []
    for wf in (python_workflow(), loads_workflow(YAML)):
        result = wf.compile().run_sync(problem, model=model)
        print(f"{wf.name} ({'Python' if not wf.source else 'YAML'}): {result.ending}")
        print(result.output.render() if hasattr(result.output, "render") else result.output)
        answers.append(str(getattr(result.output, "value", None)))
    return answers


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local", help="model spec (default: the embedded local model)")
    main(load_model(parser.parse_args().model))
