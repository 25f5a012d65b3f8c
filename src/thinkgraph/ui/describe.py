"""What the chat interface shows of a workflow before it runs: its input type (for the form) and its graph."""

from __future__ import annotations

from typing import Any


def describe_workflow(name: str, source: str, wf: Any) -> dict[str, Any]:
    """A workflow as ``GET /api/workflows`` lists it: name, source, description, input type and JSON schema,
    output type, graph."""
    from thinkgraph.messages import message_type

    try:
        schema = message_type(wf.input).model_json_schema()
    except Exception:  # an input kind from a plugin that is not loaded
        schema = {}
    return {
        "name": name,
        "source": source,
        "description": getattr(wf, "description", "") or "",
        "input": wf.input,
        "input_schema": schema,
        "output": wf.output or "",
        "graph": graph_of(wf),
    }


def graph_of(wf: Any) -> dict[str, Any]:
    """A workflow's graph as plain data for drawing: nodes (name, type), edges and routes, start nodes."""
    data = wf.to_dict()
    nodes = [{"id": name, "use": entry["use"]} for name, entry in data["nodes"].items()]
    edges: list[dict[str, str]] = []
    for e in data.get("edges", []):
        sources = e["from"] if isinstance(e["from"], list) else [e["from"]]
        edges += [{"from": s, "to": e["to"], "label": "join" if len(sources) > 1 else ""} for s in sources]
    for r in data.get("routes", []):
        for value, target in r["cases"].items():
            edges.append({"from": r["from"], "to": target, "label": f"{r['on']}={value}"})
        if r.get("default"):
            edges.append({"from": r["from"], "to": r["default"], "label": "default"})
    start = data.get("start")
    if not start:
        targets = {e["to"] for e in edges}
        start = [n["id"] for n in nodes if n["id"] not in targets][:1] or [n["id"] for n in nodes[:1]]
    return {"nodes": nodes, "edges": edges, "start": start if isinstance(start, list) else [start]}
