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
=================  ====================================  =========================
"""

from thinkgraph.nodes import combine, cot, human, linc, route

__all__ = ["combine", "cot", "human", "linc", "route"]
