// thinkgraph chat page. No build step, no dependencies.
// Safety rule: text from a run (model output, inputs, errors) is only ever put in the page with
// textContent / createTextNode — never innerHTML — so it cannot become markup or script.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { workflows: [], conversation: null, cards: new Map(), sources: new Map() };

// ----------------------------------------------------------------------------- DOM helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function fold(summary, body, open, cls) {
  const d = el("details", { class: cls || "" }, el("summary", {}, ...[].concat(summary)));
  if (open) d.open = true;
  if (body) d.append(body);
  return d;
}

function pre(text, cls) {
  return el("pre", { class: cls || "" }, String(text));
}

function secs(s) {
  return typeof s === "number" ? `${s.toFixed(s < 10 ? 2 : 1)} s` : "";
}

function jsonView(value) {
  return pre(JSON.stringify(value, null, 2), "json");
}

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function setStatus(text) {
  $("status").textContent = text || "";
}

// ----------------------------------------------------------------------------- workflows, models, form

async function loadChoices() {
  const [workflows, models] = await Promise.all([api("/api/workflows"), api("/api/models")]);
  state.workflows = workflows.filter((w) => !w.error);
  const select = $("workflow");
  select.replaceChildren(
    ...state.workflows.map((w) => el("option", { value: w.name, text: `${w.name} (${w.input})` })),
    ...workflows.filter((w) => w.error).map((w) => el("option", { value: "", disabled: true, text: `${w.name}: ${w.error}` })));
  $("model").replaceChildren(...models.models.map((m) => el("option", { value: m, text: m })));
  select.addEventListener("change", () => showWorkflow(select.value));
  showWorkflow(select.value);
}

function currentWorkflow() {
  return state.workflows.find((w) => w.name === $("workflow").value);
}

function showWorkflow(name) {
  const wf = state.workflows.find((w) => w.name === name);
  if (!wf) return;
  $("workflow-description").textContent = wf.description || `${wf.input} → ${wf.output || "result"}`;
  $("graph").replaceChildren(drawGraph(wf.graph));
  buildFields(wf);
}

// A form from the input type's JSON schema: strings as text areas, lists of strings one item per line.
function buildFields(wf) {
  const schema = wf.input_schema || {};
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = [];
  for (const [name, prop] of Object.entries(props)) {
    if (name === "kind" || name === "id" || name === "gold") continue;
    const types = [prop.type, ...(prop.anyOf || []).map((p) => p.type)].filter(Boolean);
    const items = prop.items || ((prop.anyOf || []).find((p) => p.type === "array") || {}).items || {};
    const list = types.includes("array") && (items.type === "string" || !items.type);
    const text = types.includes("string") || (!types.length && !prop.$ref);
    const raw = !list && !text; // numbers, booleans, objects, lists of objects: typed as JSON
    const label = list ? `${name} (one per line)` : raw ? `${name} (JSON)` : name;
    const multi = list || raw || /premise|question|text|prompt|problem|statement|context/.test(name);
    const input = multi
      ? el("textarea", { name, rows: list ? 5 : 2, "data-list": list ? "1" : "", "data-json": raw ? "1" : "", placeholder: prop.description || "" })
      : el("input", { name, type: "text", placeholder: prop.description || "" });
    if (required.has(name)) input.required = true;
    fields.push(el("label", { class: "field" }, el("span", { text: label + (required.has(name) ? "" : " (optional)") }), input));
  }
  $("fields").replaceChildren(...fields);
}

// Put a run's input back in the form, so a follow-up question starts from it.
function fillFields(input) {
  for (const node of $("fields").querySelectorAll("input, textarea")) {
    const value = input[node.name];
    if (value === undefined || value === null) continue;
    node.value = node.dataset.json ? JSON.stringify(value) : Array.isArray(value) ? value.join("\n") : String(value);
  }
}

function readFields() {
  const input = {};
  for (const node of $("fields").querySelectorAll("input, textarea")) {
    const value = node.value.trim();
    if (!value) continue;
    if (node.dataset.json) {
      try {
        input[node.name] = JSON.parse(value);
      } catch (err) {
        throw new Error(`${node.name}: not valid JSON (${err.message})`);
      }
    } else input[node.name] = node.dataset.list ? value.split("\n").map((s) => s.trim()).filter(Boolean) : value;
  }
  return input;
}

// ----------------------------------------------------------------------------- the workflow graph (SVG)

function drawGraph(graph) {
  const depth = new Map();
  const queue = [...graph.start];
  graph.start.forEach((s) => depth.set(s, 0));
  let guard = 0;
  while (queue.length && guard++ < 1000) {
    const n = queue.shift();
    for (const e of graph.edges.filter((e) => e.from === n)) {
      if (!depth.has(e.to)) {
        depth.set(e.to, depth.get(n) + 1);
        queue.push(e.to);
      }
    }
  }
  graph.nodes.forEach((n) => depth.has(n.id) || depth.set(n.id, 0));
  const layers = [];
  for (const n of graph.nodes) (layers[depth.get(n.id)] ||= []).push(n);
  const W = 150, H = 44, GX = 24, GY = 46;
  const width = Math.max(...layers.map((l) => l.length)) * (W + GX) + GX;
  const height = layers.length * (H + GY) + GY;
  const pos = new Map();
  layers.forEach((layer, i) =>
    layer.forEach((n, j) => {
      const x = GX + j * (W + GX) + ((width - GX - layer.length * (W + GX)) / 2);
      pos.set(n.id, { x, y: GY / 2 + i * (H + GY) });
    }));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph", role: "img" });
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  root.append(defs);
  for (const e of graph.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const back = b.y <= a.y;
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = back ? b.y + H : b.y;
    const path = back
      ? `M${x1},${y1} C${x1 + W},${y1 + GY} ${x2 + W},${y2 + GY} ${x2 + W / 2 - 10},${y2}`
      : `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}`;
    root.append(svg("path", { d: path, class: "edge", "marker-end": "url(#arrow)" }));
    if (e.label) {
      const t = svg("text", { x: (x1 + x2) / 2 + 4, y: (y1 + y2) / 2, class: "edge-label" });
      t.textContent = e.label;
      root.append(t);
    }
  }
  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    const g = svg("g", { class: "gnode", "data-node": n.id });
    g.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 8 }));
    const t1 = svg("text", { x: p.x + W / 2, y: p.y + 18, class: "gname" });
    t1.textContent = n.id;
    const t2 = svg("text", { x: p.x + W / 2, y: p.y + 34, class: "guse" });
    t2.textContent = n.use;
    g.append(t1, t2);
    root.append(g);
  }
  return root;
}

// ----------------------------------------------------------------------------- one run, rendered from its events

class RunCard {
  constructor(run) {
    this.run = run;
    this.steps = new Map(); // node -> its current step {details, body, label…}
    this.visits = new Map(); // node -> how many times it started
    this.calls = new Map(); // call_id -> details
    this.trees = new Map(); // search id -> {nodes: Map, panel}
    this.lastSeq = -1;
    this.root = el("article", { class: "run", "data-run": run.run_id });
    this.question = el("div", { class: "question" });
    this.stepList = el("div", { class: "steps" });
    this.answer = el("div", { class: "answer pending", text: "running…" });
    this.usage = el("div", { class: "usage" });
    this.root.append(this.question, this.stepList, this.answer, this.usage);
    this.renderQuestion(run);
  }

  renderQuestion(run) {
    const input = run.input || {};
    const parts = [el("div", { class: "meta muted", text: `${run.workflow} · ${run.model} · ${new Date((run.created || 0) * 1000).toLocaleString()}` })];
    if (Array.isArray(input.premises)) {
      parts.push(el("ol", { class: "premises" }, ...input.premises.map((p) => el("li", { text: p }))));
    }
    for (const [k, v] of Object.entries(input)) {
      if (k === "kind" || k === "premises" || k === "gold" || k === "id" || v === "" || v === null) continue;
      if (Array.isArray(v) && !v.length) continue;
      parts.push(el("p", { class: "q" }, el("b", { text: `${k}: ` }), typeof v === "string" ? v : JSON.stringify(v)));
    }
    this.question.replaceChildren(...parts);
  }

  // One step per visit of a node: a node that runs again (a loop) gets a new step, "name #2".
  step(node, starting) {
    const name = node || "(run)";
    let s = this.steps.get(name);
    if (s && starting && !s.details.classList.contains("running")) {
      this.visits.set(name, (this.visits.get(name) || 1) + 1);
      s = null;
    }
    if (!s) {
      const visit = this.visits.get(name) || 1;
      const shown = visit > 1 ? `${name} #${visit}` : name;
      const label = el("span", { class: "step-label", text: `▶ ${shown}` });
      const timing = el("span", { class: "step-time muted" });
      const info = el("span", { class: "step-info" });
      const body = el("div", { class: "step-body" });
      const details = fold([label, " ", timing, " ", info], body, false, "step running");
      details.dataset.node = name;
      s = { details, body, label, timing, info, shown };
      this.steps.set(name, s);
      this.stepList.append(details);
    }
    return s;
  }

  markGraph(node, cls) {
    for (const g of document.querySelectorAll(`#graph g.gnode`)) {
      if (g.dataset.node === node && currentWorkflow() && currentWorkflow().name === this.run.workflow) {
        g.classList.remove("running", "done", "failed");
        g.classList.add(cls);
      }
    }
  }

  apply(e) {
    const kind = e.kind;
    if (kind === "run_started") return;
    if (kind === "run_finished") return this.finish(e);
    const s = this.step(e.node, kind === "node_started");
    switch (kind) {
      case "node_started":
        s.details.className = "step running";
        this.markGraph(e.node, "running");
        break;
      case "node_finished":
        s.details.className = "step done";
        s.label.textContent = `✔ ${s.shown}`;
        s.timing.textContent = secs(e.seconds);
        s.info.textContent = e.summary || "";
        this.markGraph(e.node, "done");
        break;
      case "node_failed":
        s.details.className = "step failed";
        s.label.textContent = `✘ ${s.shown}`;
        s.timing.textContent = secs(e.seconds);
        s.info.textContent = `${e.error_type}: ${e.error}`;
        this.markGraph(e.node, "failed");
        break;
      case "model_request": {
        // the prompt's DOM is built when the call is first opened: a run with thousands of calls stays light
        const p = e.params || {};
        const brief = ["n", "temperature", "max_tokens"].filter((k) => k in p).map((k) => `${k}=${p[k]}`).join(" ");
        const last = e.messages.length ? e.messages[e.messages.length - 1].content.trim().split("\n").pop() : "";
        const head = el("span", { class: "call-head" }, `model call · ${e.model} ${brief} · `, el("span", { class: "muted", text: last.slice(0, 80) }));
        const d = fold([head], null, false, "call");
        d.dataset.call = e.call_id;
        d._head = head;
        d._request = e;
        d._response = null;
        d.addEventListener("toggle", () => d.open && buildCall(d));
        this.calls.set(e.call_id, d);
        s.body.append(d);
        break;
      }
      case "model_response": {
        const d = this.calls.get(e.call_id);
        if (d) {
          d._response = e;
          d._head.append(` · ${secs(e.seconds)}${e.error ? " · error" : ""}`);
          if (d._built) d._reply.replaceWith((d._reply = replyBox(e)));
        } else s.body.append(replyBox(e));
        break;
      }
      case "tool_call": {
        const body = el("div", { class: "tool-body" }, el("div", { class: "role", text: "input" }), jsonView(e.input));
        body.append(el("div", { class: "role", text: e.error ? "error" : "output" }), e.error ? pre(e.error, "error") : jsonView(e.output));
        s.body.append(fold([el("span", { text: `⚙ ${e.tool} · ${secs(e.seconds)}${e.error ? " · error" : ""}` })], body, false, "tool"));
        break;
      }
      case "route_chosen":
        s.body.append(el("div", { class: "route", text: `↪ ${e.on} = ${e.value} → ${e.target}${e.reason ? ` (${e.reason})` : ""}` }));
        break;
      case "interrupted":
        s.body.append(el("div", { class: "note", text: `⏸ waits for a person: ${JSON.stringify(e.payload)}` }));
        break;
      case "note":
        s.body.append(el("div", { class: "note", text: `· ${e.text}` }));
        break;
      case "search_node":
        this.searchNode(s, e);
        break;
      default:
        s.body.append(fold([el("span", { text: kind })], jsonView(e), false, "other"));
    }
  }

  // Search trees: nodes merged by id (the latest event wins), drawn as nested, expandable lists.
  searchNode(step, e) {
    let tree = this.trees.get(e.search);
    if (!tree) {
      const panel = el("div", { class: "tree" });
      tree = { nodes: new Map(), panel, algorithm: e.algorithm, pending: false };
      this.trees.set(e.search, tree);
      step.body.append(fold([el("span", { class: "tree-head", text: `search tree · ${e.algorithm}` })], panel, true, "search"));
    }
    tree.nodes.set(e.node_id, e);
    if (!tree.pending) {
      tree.pending = true;
      requestAnimationFrame(() => {
        tree.pending = false;
        this.drawTree(tree);
      });
    }
  }

  drawTree(tree) {
    const children = new Map();
    for (const n of tree.nodes.values()) {
      const key = n.parent || "";
      if (!children.has(key)) children.set(key, []);
      children.get(key).push(n);
    }
    const roots = [...tree.nodes.values()].filter((n) => !n.parent || !tree.nodes.has(n.parent));
    const open = new Set([...tree.panel.querySelectorAll("details[open]")].map((d) => d.dataset.id));
    const first = tree.panel.childElementCount === 0;
    const item = (n, depth) => {
      const kids = children.get(n.node_id) || [];
      const stats = [];
      if (n.visits) stats.push(`visits ${n.visits}`);
      if (n.value !== null && n.value !== undefined) stats.push(`value ${n.value.toFixed(3)}`);
      if (n.score !== null && n.score !== undefined) stats.push(`score ${n.score.toFixed(3)}`);
      const head = [el("span", { class: "tn-text", text: n.text || n.node_id }), " ", el("span", { class: "muted", text: stats.join(" · ") })];
      if (n.verdict) head.push(" ", el("span", { class: `verdict v-${n.verdict.replace(/[^a-z_-]/gi, "")}`, text: n.verdict }));
      if (!kids.length) return el("li", { class: "leaf", "data-id": n.node_id }, ...head);
      const body = el("ul", {}, ...kids.map((k) => item(k, depth + 1)));
      const d = fold(head, body, first ? depth < 2 : open.has(n.node_id), "tnode");
      d.dataset.id = n.node_id;
      return el("li", {}, d);
    };
    tree.panel.replaceChildren(el("ul", { class: "tree-root" }, ...roots.map((r) => item(r, 0))));
  }

  // run_finished carries {output, error, usage}
  finish(e) {
    const result = e.output || {};
    this.answer.className = `answer ending-${e.ending}`;
    this.answer.replaceChildren(...renderOutput(e.ending, result.output));
    if (result.error) this.answer.append(el("div", { class: "error", text: result.error }));
    if (result.usage) this.renderUsage(result.usage);
  }

  end(record) {
    if (record.status === "waiting") {
      this.renderUsage(record.usage || {});
      return this.waiting(record);
    }
    if (record.status === "failed" || record.status === "lost") {
      this.answer.className = "answer ending-failed";
      this.answer.replaceChildren(el("div", { class: "error", text: `run ${record.status}: ${record.error}` }));
    } else if (!this.answer.classList.contains("pending")) {
      /* rendered from run_finished */
    } else if (record.output) {
      this.finish({ ending: record.ending, output: { output: record.output, error: record.error } });
    }
    this.renderUsage(record.usage || {});
    for (const s of this.steps.values()) if (s.details.classList.contains("running")) s.details.className = "step";
  }

  // A run paused for a person: show what it asks, and answer it (approve / reject with a reason).
  waiting(record) {
    const ask = record.interrupt || {};
    const reason = el("input", { type: "text", class: "reason-input", placeholder: "reason (optional)" });
    const reply = async (approve) => {
      box.querySelectorAll("button").forEach((b) => (b.disabled = true));
      try {
        await api(`/api/runs/${encodeURIComponent(this.run.run_id)}/resume`, {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ resume: { approve, reason: reason.value } }),
        });
        this.answer.className = "answer pending";
        this.answer.replaceChildren(document.createTextNode("running…"));
        follow(this);
      } catch (err) {
        box.append(el("div", { class: "error", text: err.message }));
      }
    };
    const box = el("div", { class: "waiting" },
      el("div", { class: "verdict-line" }, el("span", { class: "badge b-waiting", text: "waiting" }), el("b", { text: ask.question || "A person is asked to decide." })));
    if (ask.answer) box.append(...renderOutput("waiting", ask.answer));
    else if (ask.render) box.append(pre(ask.render));
    box.append(el("div", { class: "actions" },
      el("button", { type: "button", class: "approve", text: "Approve", onclick: () => reply(true) }),
      el("button", { type: "button", class: "reject", text: "Reject", onclick: () => reply(false) }), reason));
    this.answer.className = "answer ending-interrupted";
    this.answer.replaceChildren(box);
  }

  renderUsage(usage) {
    const rows = Object.entries(usage);
    if (!rows.length) return;
    const table = el("table", { class: "ledger" },
      el("thead", {}, el("tr", {}, ...["node", "calls", "samples", "prompt tok", "completion tok", "model s", "retries"].map((h) => el("th", { text: h })))));
    const tbody = el("tbody");
    for (const [node, u] of rows) {
      tbody.append(el("tr", { class: node === "total" ? "total" : "" },
        el("td", { text: node }), el("td", { text: u.calls }), el("td", { text: u.samples }), el("td", { text: u.prompt_tokens }),
        el("td", { text: u.completion_tokens }), el("td", { text: (u.seconds || 0).toFixed(2) }), el("td", { text: u.retries || 0 })));
    }
    table.append(tbody);
    this.usage.replaceChildren(fold([el("span", { text: "usage ledger" })], table, false, "ledger-box"));
  }
}

function replyBox(e) {
  const box = el("div", { class: "reply" });
  if (e.error) box.append(el("div", { class: "error", text: `error: ${e.error}` }));
  (e.texts || []).forEach((t, i) => box.append(el("div", { class: "role", text: e.texts.length > 1 ? `reply ${i + 1}` : "reply" }), pre(t)));
  const u = e.usage || {};
  box.append(el("div", { class: "muted", text: `${secs(e.seconds)} · ${u.prompt_tokens || 0} prompt + ${u.completion_tokens || 0} completion tokens` }));
  return box;
}

function buildCall(d) {
  if (d._built) return;
  d._built = true;
  const e = d._request;
  const body = el("div", { class: "call-body" });
  if (Object.keys(e.params || {}).length) body.append(fold([el("span", { class: "muted", text: "request parameters" })], jsonView(e.params), false));
  for (const m of e.messages) body.append(el("div", { class: `msg ${m.role}` }, el("div", { class: "role", text: m.role }), pre(m.content)));
  d._reply = d._response ? replyBox(d._response) : el("div", { class: "reply pending", text: "waiting for the model…" });
  body.append(d._reply);
  d.append(body);
}

// ----------------------------------------------------------------------------- answers and their evidence

const STATUS_TEXT = {
  verified: "verified — a solver proved it",
  voted: "voted — the majority of samples, no proof",
  abstained: "abstained — the evidence was not there",
  searched: "searched — the best a search found, scored but not proved",
};

function renderOutput(ending, output) {
  const out = [];
  if (!output) {
    out.push(el("div", { class: "verdict-line" }, el("span", { class: `badge b-${ending}`, text: ending })));
    return out;
  }
  if (output.kind === "answer" || ("value" in output && "status" in output)) return renderAnswer(ending, output);
  out.push(el("div", { class: "verdict-line" }, el("span", { class: `badge b-${ending}`, text: ending }), ` ${output.kind || "output"}`));
  for (const key of ["value", "answer", "text", "label"]) {
    if (typeof output[key] === "string" || typeof output[key] === "number") out.push(el("div", { class: "value", text: String(output[key]) }));
  }
  out.push(fold([el("span", { text: "output" })], jsonView(output), false));
  return out;
}

function renderAnswer(ending, a) {
  const out = [];
  const status = a.status || ending;
  out.push(el("div", { class: "verdict-line" },
    el("span", { class: `badge b-${status}`, text: status }),
    el("span", { class: "value", text: a.value === null || a.value === undefined ? "no answer" : String(a.value) }),
    el("span", { class: "muted", text: STATUS_TEXT[status] || "" })));
  const ev = a.evidence || {};
  if (ev.reason) out.push(el("p", { class: "reason", text: ev.reason }));
  const parts = [];
  if (ev.votes && Object.keys(ev.votes).length) {
    const rows = Object.entries(ev.votes).sort((x, y) => y[1] - x[1]);
    parts.push(el("h4", { text: `vote (${ev.samples || 0} samples, ${ev.failed_samples || 0} failed, agreement ${((ev.agreement || 0) * 100).toFixed(0)}%)` }));
    parts.push(el("table", { class: "votes" }, el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: v }))))));
  }
  const f = ev.formalization;
  if (f) {
    parts.push(el("h4", { text: "formalization" }));
    const rows = [...(f.premises || []), f.conclusion].filter(Boolean);
    parts.push(el("table", { class: "formalization" }, el("tbody", {}, ...rows.map((r) =>
      el("tr", {}, el("td", { text: r.index < 0 ? "conclusion" : `P${r.index + 1}` }), el("td", { text: r.sentence }), el("td", { class: "formula", text: r.formula }))))));
  }
  const v = ev.verdict;
  if (v) {
    parts.push(el("h4", { text: `solver: ${v.solver} says ${v.label}${v.timed_out ? " (timed out)" : ""}${v.inconsistent_premises ? " (premises inconsistent)" : ""}` }));
    const c = v.certificate || {};
    if (c.premises_used && c.premises_used.length) {
      const premises = (f && f.premises) || [];
      parts.push(el("div", { class: "muted", text: "proof uses premises (unsat core):" }));
      parts.push(el("ul", { class: "core" }, ...c.premises_used.map((i) => {
        const p = premises.find((x) => x.index === i);
        return el("li", { text: p ? `P${i + 1}: ${p.sentence}  —  ${p.formula}` : `P${i + 1}` });
      })));
    }
    for (const [key, label] of [["model_goal_true", "a model where the conclusion is true"], ["model_goal_false", "a model where the conclusion is false"]]) {
      const m = c[key];
      if (m) parts.push(el("div", { class: "countermodel" }, el("b", { text: `${label}: ` }), renderModel(m)));
    }
    if (c.note) parts.push(el("div", { class: "muted", text: c.note }));
  }
  if (ev.solver_agreement && Object.keys(ev.solver_agreement).length) {
    parts.push(el("h4", { text: "second checker" }));
    parts.push(el("ul", {}, ...Object.entries(ev.solver_agreement).map(([k, val]) => el("li", { text: `${k}: ${val}` }))));
  }
  if (ev.weights && Object.keys(ev.weights).length) {
    parts.push(el("h4", { text: "weights" }));
    parts.push(el("table", { class: "votes" }, el("tbody", {}, ...Object.entries(ev.weights).map(([k, w]) =>
      el("tr", {}, el("td", { text: k }), el("td", { text: Number(w).toFixed(3) }))))));
  }
  if (ev.path && ev.path.length) {
    parts.push(el("h4", { text: `best path${typeof ev.path_score === "number" ? ` (score ${ev.path_score.toFixed(3)})` : ""}` }));
    parts.push(el("ol", { class: "path" }, ...ev.path.map((step) => el("li", { text: typeof step === "string" ? step : JSON.stringify(step) }))));
  }
  if (ev.stop_reason) parts.push(el("div", { class: "muted", text: `stopped: ${ev.stop_reason}${ev.stop_detail ? ` (${ev.stop_detail})` : ""}` }));
  if (ev.rationales && ev.rationales.length) {
    parts.push(el("h4", { text: "the model's reasoning (not checked)" }));
    ev.rationales.forEach((r, i) => parts.push(fold([el("span", { text: `rationale ${i + 1}` })], pre(r), false)));
  }
  if (Object.keys(ev).length) parts.push(fold([el("span", { class: "muted", text: "all evidence (JSON)" })], jsonView(ev), false));
  if (parts.length) out.push(fold([el("span", { text: "evidence" })], el("div", { class: "evidence" }, ...parts), true, "evidence-box"));
  return out;
}

function renderModel(m) {
  const consts = Object.entries(m.constants || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  return document.createTextNode(`domain {${(m.domain || []).join(", ")}}; ${consts || "no constants"}; true: ${(m.true_atoms || []).join(", ") || "(none)"}`);
}

// ----------------------------------------------------------------------------- conversations, live runs, history

function addCard(run) {
  const card = new RunCard(run);
  state.cards.set(run.run_id, card);
  $("conversation").append(card.root);
  return card;
}

async function showRun(runId, live) {
  const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
  const card = state.cards.get(runId) || addCard(run);
  for (const e of run.trace || []) card.apply(e);
  card.lastSeq = (run.trace || []).length - 1;
  if (run.status === "running" || live) follow(card);
  else card.end(run);
  return card;
}

function follow(card) {
  const id = card.run.run_id;
  if (state.sources.has(id)) return;
  const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/events?after=${card.lastSeq}`);
  state.sources.set(id, source);
  source.onmessage = (m) => {
    const seq = Number(m.lastEventId);
    if (seq <= card.lastSeq) return;
    card.lastSeq = seq;
    card.apply(JSON.parse(m.data));
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      state.sources.delete(id);
      card.answer.append(el("div", { class: "error", text: "the live stream closed; reload to see the run" }));
      $("ask").disabled = false;
    } else setStatus("reconnecting…"); // the browser retries, resuming after the last event id
  };
  source.addEventListener("end", (m) => {
    source.close();
    state.sources.delete(id);
    const record = JSON.parse(m.data);
    if (record.status === "running") {
      // run by another process (a terminal chat): its events reach this server through the store only
      setTimeout(() => follow(card), 2000);
      return;
    }
    card.end(record);
    setStatus("");
    $("ask").disabled = false;
    loadHistory();
  });
}

async function openConversation(conversationId, focusRun) {
  for (const s of state.sources.values()) s.close();
  state.sources.clear();
  state.cards.clear();
  $("conversation").replaceChildren();
  state.conversation = conversationId;
  $("ask").disabled = false;
  const runs = await api(`/api/runs?conversation=${encodeURIComponent(conversationId)}`);
  for (const run of runs) await showRun(run.run_id);
  const card = focusRun && state.cards.get(focusRun);
  if (card) card.root.scrollIntoView({ block: "start" });
  markHistory();
}

async function loadHistory() {
  const conversations = await api("/api/conversations");
  $("history").replaceChildren(...conversations.map((c) => {
    const a = el("a", { href: `/runs/${encodeURIComponent(c.last_run || "")}`, text: c.title || c.id, "data-conversation": c.id });
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      history.pushState({}, "", a.getAttribute("href"));
      route();
    });
    return el("li", {}, a, el("span", { class: "muted", text: ` (${c.runs})` }));
  }));
  markHistory();
}

function markHistory() {
  for (const a of $("history").querySelectorAll("a")) a.classList.toggle("current", a.dataset.conversation === state.conversation);
}

async function ask(ev) {
  ev.preventDefault();
  $("form-error").textContent = "";
  const wf = currentWorkflow();
  if (!wf) return;
  $("ask").disabled = true;
  try {
    const body = { workflow: wf.name, input: readFields(), model: $("model").value };
    if (state.conversation) body.conversation = state.conversation;
    const created = await api("/api/runs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    state.conversation = created.conversation;
    history.pushState({}, "", `/runs/${encodeURIComponent(created.run_id)}`);
    setStatus("running…");
    const card = await showRun(created.run_id, true);
    card.root.scrollIntoView({ block: "start" });
    loadHistory();
  } catch (err) {
    $("form-error").textContent = err.message;
    $("ask").disabled = false;
  }
}

async function openTrace(ev) {
  const file = ev.target.files[0];
  if (!file) return;
  try {
    const text = await file.text();
    const created = await api("/api/traces", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: text });
    history.pushState({}, "", `/runs/${encodeURIComponent(created.run_id)}`);
    await openConversation(created.conversation, created.run_id);
    loadHistory();
  } catch (err) {
    setStatus(`could not open the trace: ${err.message}`);
  }
  ev.target.value = "";
}

async function route() {
  const m = location.pathname.match(/^\/runs\/([^/]+)$/);
  if (!m) {
    state.conversation = null;
    $("conversation").replaceChildren();
    state.cards.clear();
    markHistory();
    return;
  }
  try {
    const run = await api(`/api/runs/${encodeURIComponent(decodeURIComponent(m[1]))}`);
    const select = $("workflow");
    if ([...select.options].some((o) => o.value === run.workflow)) {
      select.value = run.workflow;
      showWorkflow(run.workflow);
      fillFields(run.input || {});
    }
    await openConversation(run.conversation, run.run_id);
  } catch (err) {
    setStatus(err.message);
  }
}

async function main() {
  $("composer").addEventListener("submit", ask);
  $("trace-file").addEventListener("change", openTrace);
  $("new-conversation").addEventListener("click", () => {
    history.pushState({}, "", "/");
    route();
  });
  window.addEventListener("popstate", route);
  try {
    await loadChoices();
  } catch (err) {
    setStatus(`could not load workflows: ${err.message}`);
  }
  await loadHistory();
  await route();
  document.body.dataset.ready = "1";
}

main();
