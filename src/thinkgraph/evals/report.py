"""Reports on evaluation runs: a terminal table, JSON lines per problem, and one self-contained HTML page.

    summaries(["runs/a.db", "runs/b.db"])          # each run's scores and manifest, ``run`` = file name
    print(render_table(summaries(paths)))          # runs side by side, plain text
    for line in rows_jsonl(paths): print(line)     # one JSON object per problem per run
    write_html(paths, "report.html")               # tables and inline SVG plots; no scripts, no network

The HTML page draws its plots (accuracy against tokens, risk–coverage curves, recall per class) as inline
SVG made here, so it opens anywhere, offline, with scripts disabled.  Everything that comes from a run
file (run names, model specs, class labels, ids) is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from thinkgraph.evals.store import RunStore, RunStoreError

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: classes and predicted columns drawn before the rest are folded into "other"
MAX_CLASSES = 12

#: colour-blind-safe (Okabe–Ito) colours for runs, readable on white
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933")


# ---------------------------------------------------------------------------------------------- reading


def _run_names(paths: Sequence[str | Path]) -> list[str]:
    """Each run's file name; the path as given where two runs share a file name."""
    names = [Path(p).name for p in paths]
    return [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]


def _open(path: str | Path) -> RunStore:
    """Open a run file for reading, refusing (before SQLite touches it) a file that is not a database."""
    p = Path(path)
    if p.is_file():
        try:
            with p.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise RunStoreError(f"{p}: cannot read run file ({exc.strerror or exc})") from exc
        if head != _SQLITE_MAGIC:
            raise RunStoreError(f"{p}: not a thinkgraph run file (not an SQLite database)")
    return RunStore.open(p)


def _read(path: str | Path, what: Callable[[RunStore], Any]) -> Any:
    store = _open(path)
    try:
        return what(store)
    except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, RunStoreError):
            raise
        raise RunStoreError(f"{path}: not a readable thinkgraph run file ({exc})") from exc
    finally:
        store.close()


def summaries(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Each run's :meth:`RunStore.summary` (manifest and scores) with ``run`` = its file name and ``path``.

    Raises :class:`RunStoreError` for a path that is not a run file."""
    paths = list(paths)
    out = []
    for path, name in zip(paths, _run_names(paths), strict=True):
        summary = _read(path, RunStore.summary)
        summary["run"] = name
        summary["path"] = str(path)
        out.append(summary)
    return out


def rows_jsonl(paths: Iterable[str | Path]) -> Iterator[str]:
    """One JSON line per problem of each run, in order: ``run`` plus :meth:`Row.public`.

    Every path is opened and read before the first line comes, so a bad path raises
    :class:`RunStoreError` before anything is printed."""
    paths = list(paths)
    runs = [(name, _read(p, RunStore.rows)) for p, name in zip(paths, _run_names(paths), strict=True)]

    def lines() -> Iterator[str]:
        for name, rows in runs:
            for row in rows:
                yield json.dumps({"run": name, **row.public()}, ensure_ascii=False, default=str)

    return lines()


# ---------------------------------------------------------------------------------------------- formatting


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}%"


def _num(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{float(x):,.{digits}f}"


def _accuracy(s: dict[str, Any]) -> str:
    if not s.get("problems"):
        return "-"
    return f"{_pct(s.get('accuracy'))} ({s.get('correct', 0)}/{s['problems']})"


def _share(key: str) -> Callable[[dict[str, Any]], str]:
    def cell(s: dict[str, Any]) -> str:
        n, k = s.get("problems") or 0, s.get(key)
        if not n or k is None:
            return "-"
        return f"{k} ({100 * k / n:.1f}%)"

    return cell


def _field(key: str, fmt: Callable[[Any], str] = str) -> Callable[[dict[str, Any]], str]:
    def cell(s: dict[str, Any]) -> str:
        value = s.get(key)
        return "-" if value is None or value == "" else fmt(value)

    return cell


def _nested(key: str, sub: str, fmt: Callable[[Any], str]) -> Callable[[dict[str, Any]], str]:
    def cell(s: dict[str, Any]) -> str:
        return fmt((s.get(key) or {}).get(sub))

    return cell


Metric = tuple[str, Callable[[dict[str, Any]], str]]


def _metric_groups(runs: Sequence[dict[str, Any]]) -> list[list[Metric]]:
    """The rows of the comparison table, in groups (identity, scores, costs, extras)."""
    identity: list[Metric] = [
        ("workflow", _field("workflow")),
        ("model", _field("model")),
        ("dataset", _field("dataset")),
        ("problems", _field("problems", _num)),
    ]
    scores: list[Metric] = [
        ("accuracy", _accuracy),
        ("abstained", _share("abstained")),
        ("failed", _share("failed")),
        ("coverage", _field("coverage", _pct)),
        ("answered accuracy", _field("answered_accuracy", _pct)),
        ("AURC", _field("aurc", lambda v: f"{float(v):.4f}")),
    ]
    costs: list[Metric] = [
        ("calls / problem", _field("calls_per_problem", lambda v: _num(float(v), 2))),
        ("tokens / problem", _field("tokens_per_problem", lambda v: _num(float(v), 0))),
        ("seconds / problem", _field("seconds_per_problem", lambda v: _num(float(v), 2))),
        ("tokens / correct", _field("tokens_per_correct", lambda v: _num(float(v), 0))),
        ("retries", _field("retries", _num)),
        ("failed calls", _field("failed_calls", _num)),
    ]
    if any(s.get("cost") is not None for s in runs):
        costs += [
            ("cost", _field("cost", lambda v: f"{float(v):.4f}")),
            ("cost / correct", _field("cost_per_correct", lambda v: f"{float(v):.4f}")),
        ]
    extras: list[Metric] = []
    ks = sorted({k for s in runs for k in (s.get("pass_at_k") or {})}, key=lambda k: (len(k), k))
    extras += [(f"pass@{k}", _nested("pass_at_k", k, _pct)) for k in ks]
    steps = sorted({k for s in runs for k in (s.get("procbench") or {})})
    extras += [(f"procbench {k.replace('_', ' ')}", _nested("procbench", k, _pct)) for k in steps]
    return [g for g in (identity, scores, costs, extras) if g]


def _clip(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, its middle replaced by ``...`` when too long."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    keep = width - 3
    return text[: (keep + 1) // 2] + "..." + text[len(text) - keep // 2 :]


def render_table(summaries: Sequence[dict[str, Any]], width: int = 100) -> str:
    """Runs side by side, one column per run, plain text; fits ``width`` columns for up to three runs
    (longer values are shortened in the middle)."""
    runs = list(summaries)
    if not runs:
        return "(no runs)"
    groups = _metric_groups(runs)
    label_w = max(len(label) for group in groups for label, _ in group)
    gap = 2
    col_cap = max(10, (width - label_w - gap * len(runs)) // len(runs))
    header = [_clip(str(s.get("run", "?")), col_cap) for s in runs]
    body = [[(label, [_clip(cell(s), col_cap) for s in runs]) for label, cell in group] for group in groups]
    widths = [max(len(header[i]), *(len(cells[i]) for group in body for _, cells in group)) for i in range(len(runs))]
    sep = " " * gap

    def line(label: str, cells: Sequence[str]) -> str:
        return (label.ljust(label_w) + "".join(sep + c.rjust(w) for c, w in zip(cells, widths, strict=True))).rstrip()

    rule = "-" * (label_w + sum(gap + w for w in widths))
    out = [line("", header), rule]
    for i, group in enumerate(body):
        if i:
            out.append("")
        out += [line(label, cells) for label, cells in group]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- SVG helpers


def _e(value: Any) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(1, ticks)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _ticks(top: float, ticks: int = 5) -> tuple[float, list[float]]:
    """A nice upper bound at or above ``top`` (> 0) and the ticks from 0 to it."""
    step = _nice_step(top, ticks)
    n = max(1, math.ceil(top / step - 1e-9))
    return n * step, [i * step for i in range(n + 1)]


def _tick_label(v: float, *, percent: bool = False) -> str:
    if percent:
        return f"{100 * v:.0f}%"
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


class _Plot:
    """A fixed-size SVG canvas with a plot area, linear axes, ticks and labels."""

    W, BASE = 640, 400
    LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 60
    LEGEND_ROW, LEGEND_COLS = 18, 2

    def __init__(self, title: str, x_max: float, y_max: float, *, bottom: int | None = None, legend: int = 0) -> None:
        """``legend``: how many legend entries to make room for under the plot."""
        self.title = title
        self.x_max = x_max or 1.0
        self.y_max = y_max or 1.0
        if bottom is not None:
            self.BOTTOM = bottom
        self.legend_rows = math.ceil(legend / self.LEGEND_COLS)
        self.H = self.BASE + (self.LEGEND_ROW * self.legend_rows + 10 if legend else 0)
        self.parts: list[str] = []

    @property
    def x0(self) -> float:
        return self.LEFT

    @property
    def x1(self) -> float:
        return self.W - self.RIGHT

    @property
    def y0(self) -> float:
        return self.BASE - self.BOTTOM

    @property
    def y1(self) -> float:
        return self.TOP

    def px(self, x: float) -> float:
        return self.x0 + (self.x1 - self.x0) * (x / self.x_max)

    def py(self, y: float) -> float:
        return self.y0 - (self.y0 - self.y1) * (y / self.y_max)

    def axes(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        x_label: str,
        y_label: str,
        *,
        x_pct: bool = False,
        y_pct: bool = False,
    ) -> None:
        p = self.parts
        for y in ys:
            yy = _f(self.py(y))
            p.append(f'<line x1="{_f(self.x0)}" y1="{yy}" x2="{_f(self.x1)}" y2="{yy}" class="grid"/>')
            p.append(
                f'<text x="{_f(self.x0 - 6)}" y="{yy}" text-anchor="end" dominant-baseline="middle" class="tick">'
                f"{_e(_tick_label(y, percent=y_pct))}</text>"
            )
        for x in xs:
            xx = _f(self.px(x))
            p.append(f'<line x1="{xx}" y1="{_f(self.y0)}" x2="{xx}" y2="{_f(self.y0 + 5)}" class="axis"/>')
            p.append(
                f'<text x="{xx}" y="{_f(self.y0 + 18)}" text-anchor="middle" class="tick">'
                f"{_e(_tick_label(x, percent=x_pct))}</text>"
            )
        self.frame(x_label, y_label)

    def frame(self, x_label: str, y_label: str) -> None:
        p = self.parts
        p.append(f'<line x1="{_f(self.x0)}" y1="{_f(self.y0)}" x2="{_f(self.x1)}" y2="{_f(self.y0)}" class="axis"/>')
        p.append(f'<line x1="{_f(self.x0)}" y1="{_f(self.y0)}" x2="{_f(self.x0)}" y2="{_f(self.y1)}" class="axis"/>')
        p.append(
            f'<text x="{_f((self.x0 + self.x1) / 2)}" y="{_f(self.BASE - 12)}" text-anchor="middle" class="label">'
            f"{_e(x_label)}</text>"
        )
        cy = _f((self.y0 + self.y1) / 2)
        p.append(
            f'<text x="16" y="{cy}" text-anchor="middle" transform="rotate(-90 16 {cy})" class="label">'
            f"{_e(y_label)}</text>"
        )

    def note(self, text: str) -> None:
        self.parts.append(
            f'<text x="{_f((self.x0 + self.x1) / 2)}" y="{_f((self.y0 + self.y1) / 2)}" text-anchor="middle" '
            f'class="note">{_e(text)}</text>'
        )

    def svg(self, css_class: str) -> str:
        return (
            f'<svg class="{_e(css_class)}" viewBox="0 0 {self.W} {self.H}" xmlns="http://www.w3.org/2000/svg" '
            f'role="img" aria-label="{_e(self.title)}" preserveAspectRatio="xMidYMid meet">'
            f"<title>{_e(self.title)}</title>"
            f'<text x="{self.W / 2:.0f}" y="22" text-anchor="middle" class="title">{_e(self.title)}</text>'
            + "".join(self.parts)
            + "</svg>"
        )


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


# ---------------------------------------------------------------------------------------------- plots


def _place_labels(points: list[tuple[float, float]], height: float = 14, near: float = 150) -> list[float]:
    """Label y positions next to points, nudged down so that no two nearby labels overlap."""
    placed: list[tuple[float, float]] = []
    out = []
    for x, y in points:
        ly = y + 4
        while any(abs(px - x) < near and abs(py - ly) < height for px, py in placed):
            ly += height
        placed.append((x, ly))
        out.append(ly)
    return out


def plot_accuracy_tokens(runs: Sequence[dict[str, Any]]) -> str:
    """(a) Accuracy against tokens per problem: one labelled point per run."""
    pts = [(i, s) for i, s in enumerate(runs) if s.get("problems")]
    top_tokens = max([float(s.get("tokens_per_problem") or 0) for _, s in pts] + [0.0])
    x_max, xs = _ticks(top_tokens * 1.1 if top_tokens > 0 else 1.0)
    plot = _Plot("Accuracy vs tokens per problem", x_max, 1.0)
    plot.axes(xs, [i / 5 for i in range(6)], "tokens per problem", "accuracy", y_pct=True)
    if not pts:
        plot.note("no problems in any run")
        return plot.svg("plot scatter")
    coords = [
        (plot.px(float(s.get("tokens_per_problem") or 0)), plot.py(float(s.get("accuracy") or 0))) for _, s in pts
    ]
    label_ys = _place_labels(coords)
    for (i, s), (x, y), ly in zip(pts, coords, label_ys, strict=True):
        name = str(s.get("run", "?"))
        tip = f"{name}: accuracy {_pct(s.get('accuracy'))}, {_num(s.get('tokens_per_problem'), 0)} tokens per problem"
        right = x > plot.x0 + 0.7 * (plot.x1 - plot.x0)
        lx, anchor = (x - 9, "end") if right else (x + 9, "start")
        plot.parts.append(
            f'<g class="run" data-run="{_e(name)}"><title>{_e(tip)}</title>'
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="6" fill="{_color(i)}" stroke="#fff" stroke-width="1.5"/>'
            f'<text x="{_f(lx)}" y="{_f(ly)}" text-anchor="{anchor}" class="point-label" fill="{_color(i)}">'
            f"{_e(_clip(name, 28))}</text></g>"
        )
    return plot.svg("plot scatter")


def _legend(plot: _Plot, entries: Sequence[tuple[int, str]], *, line: bool) -> None:
    """A legend under the plot (room made by ``_Plot(legend=...)``): (colour index, text) per entry, in
    rows of ``LEGEND_COLS``."""
    col_w = (plot.W - plot.LEFT) / plot.LEGEND_COLS
    for j, (i, text) in enumerate(entries):
        x = plot.LEFT - 10 + col_w * (j % plot.LEGEND_COLS)
        cy = plot.BASE + plot.LEGEND_ROW * (j // plot.LEGEND_COLS) + 8
        mark = (
            f'<line x1="{_f(x + 8)}" y1="{_f(cy)}" x2="{_f(x + 28)}" y2="{_f(cy)}" stroke="{_color(i)}" '
            f'stroke-width="3"/>'
            if line
            else f'<rect x="{_f(x + 10)}" y="{_f(cy - 6)}" width="14" height="12" fill="{_color(i)}"/>'
        )
        plot.parts.append(
            f'<g>{mark}<text x="{_f(x + 34)}" y="{_f(cy)}" dominant-baseline="middle" class="legend-text">'
            f"{_e(_clip(text, 44))}</text></g>"
        )


def plot_risk_coverage(runs: Sequence[dict[str, Any]]) -> str:
    """(b) Risk–coverage curves: one polyline per run, with a legend (AURC in brackets)."""
    curves = [(i, s, list(s.get("risk_coverage") or [])) for i, s in enumerate(runs)]
    top_risk = max([float(p.get("risk") or 0) for _, _, c in curves for p in c] + [0.0])
    y_max, ys = _ticks(min(1.0, max(0.1, top_risk * 1.15)))
    plot = _Plot("Risk–coverage (answers ranked by confidence)", 1.0, y_max, legend=len(curves))
    plot.axes(
        [i / 5 for i in range(6)],
        ys,
        "coverage (share of problems answered)",
        "risk (error rate of answers)",
        x_pct=True,
        y_pct=True,
    )
    legend = []
    for i, s, curve in curves:
        name = str(s.get("run", "?"))
        if not curve:
            legend.append((i, f"{name} (no answers)"))
            continue
        aurc = s.get("aurc")
        legend.append((i, name if aurc is None else f"{name} (AURC {float(aurc):.3f})"))
        pts = [(plot.px(float(p.get("coverage") or 0)), plot.py(float(p.get("risk") or 0))) for p in curve]
        path = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        dots = "".join(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="2.5" fill="{_color(i)}"/>' for x, y in pts)
        plot.parts.append(
            f'<g class="run" data-run="{_e(name)}"><title>{_e(name)}</title>'
            f'<polyline points="{path}" fill="none" stroke="{_color(i)}" stroke-width="2.5" '
            f'stroke-linejoin="round" data-run="{_e(name)}"/>{dots}</g>'
        )
    if legend:
        _legend(plot, legend, line=True)
    if not any(c for _, _, c in curves):
        plot.note("no answered problems: no curve to draw")
    return plot.svg("plot risk-coverage")


def _class_order(label: str) -> tuple[int, float, str]:
    """Sort key for class labels: numbers in numeric order first, then the rest alphabetically."""
    try:
        number = float(label)
    except ValueError:
        return (1, 0.0, label)
    return (0, number, label) if math.isfinite(number) else (1, 0.0, label)


def _top_classes(runs: Sequence[dict[str, Any]], limit: int = MAX_CLASSES) -> tuple[list[str], int]:
    """The gold classes of all runs, most frequent first (then by name), at most ``limit``; and how many
    more there were."""
    counts: dict[str, int] = {}
    for s in runs:
        for c, pc in ((s.get("confusion") or {}).get("per_class") or {}).items():
            counts[c] = counts.get(c, 0) + int(pc.get("gold") or 0)
    ordered = sorted(counts, key=lambda c: (-counts[c], c))
    shown = sorted(ordered[:limit], key=_class_order)
    return shown, len(ordered) - len(shown)


def plot_class_recall(runs: Sequence[dict[str, Any]]) -> str:
    """(c) Recall per gold class, grouped bars: one bar per run in each class."""
    classes, hidden = _top_classes(runs)
    rotate = len(classes) > 6
    plot = _Plot("Recall per gold class", 1.0, 1.0, bottom=110 if rotate else 60, legend=len(runs) if classes else 0)
    plot.axes([], [i / 5 for i in range(6)], "", "recall", y_pct=True)
    if not classes:
        plot.note("no classes to draw")
        return plot.svg("plot class-recall")
    band = (plot.x1 - plot.x0) / len(classes)
    bar = band * 0.8 / max(1, len(runs))
    for k, c in enumerate(classes):
        left = plot.x0 + k * band + band * 0.1
        for i, s in enumerate(runs):
            pc = ((s.get("confusion") or {}).get("per_class") or {}).get(c)
            if not pc or pc.get("recall") is None:
                continue
            recall = float(pc["recall"])
            y = plot.py(recall)
            tip = f"{s.get('run', '?')} · {c}: recall {_pct(recall)} of {pc.get('gold', 0)}"
            plot.parts.append(
                f'<rect x="{_f(left + i * bar)}" y="{_f(y)}" width="{_f(max(1.0, bar - 1))}" '
                f'height="{_f(max(0.0, plot.y0 - y))}" fill="{_color(i)}" data-run="{_e(s.get("run", "?"))}">'
                f"<title>{_e(tip)}</title></rect>"
            )
        cx = plot.x0 + (k + 0.5) * band
        label = _e(_clip(c, 16))
        if rotate:
            ty = plot.y0 + 14
            plot.parts.append(
                f'<text x="{_f(cx)}" y="{_f(ty)}" text-anchor="end" transform="rotate(-40 {_f(cx)} {_f(ty)})" '
                f'class="tick"><title>{_e(c)}</title>{label}</text>'
            )
        else:
            plot.parts.append(
                f'<text x="{_f(cx)}" y="{_f(plot.y0 + 18)}" text-anchor="middle" class="tick">'
                f"<title>{_e(c)}</title>{label}</text>"
            )
    _legend(plot, [(i, str(s.get("run", "?"))) for i, s in enumerate(runs)], line=False)
    if hidden:
        plot.parts.append(
            f'<text x="{_f(plot.x1)}" y="{_f(plot.BASE - 12)}" text-anchor="end" class="note-small">'
            f"{hidden} less frequent class{'es' if hidden > 1 else ''} not shown</text>"
        )
    return plot.svg("plot class-recall")


# ---------------------------------------------------------------------------------------------- HTML tables


def _started(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _dt.datetime.fromtimestamp(float(value), _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (OverflowError, OSError, ValueError):
            return str(value)
    return "-" if value in (None, "") else str(value)


def _manifest_table(runs: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in ("run", "workflow", "model", "dataset", "version", "started"))
    body = []
    for i, s in enumerate(runs):
        cells = [
            f'<td><span class="swatch" style="background:{_color(i)}"></span>{_e(s.get("run", "?"))}</td>',
            *(f"<td>{_e(_field(k)(s))}</td>" for k in ("workflow", "model", "dataset", "version")),
            f"<td>{_e(_started(s.get('started')))}</td>",
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="manifest"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _comparison_table(runs: Sequence[dict[str, Any]]) -> str:
    head = "<th></th>" + "".join(
        f'<th><span class="swatch" style="background:{_color(i)}"></span>{_e(s.get("run", "?"))}</th>'
        for i, s in enumerate(runs)
    )
    body = []
    for g, group in enumerate(_metric_groups(runs)):
        for j, (label, cell) in enumerate(group):
            cls = ' class="group-start"' if g and not j else ""
            cells = "".join(f'<td class="num">{_e(cell(s))}</td>' for s in runs)
            body.append(f'<tr{cls}><th scope="row">{_e(label)}</th>{cells}</tr>')
    return f'<table class="compare"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _shade(share: float, diagonal: bool) -> str:
    alpha = 0.08 + 0.6 * max(0.0, min(1.0, share))
    return f"rgba(0,158,115,{alpha:.2f})" if diagonal else f"rgba(213,94,0,{alpha:.2f})"


def _cell_style(n: int, total: int, gold: str, predicted: str) -> str:
    """Shading of a confusion cell: green on the diagonal, orange for a wrong answer, grey for none."""
    if not n:
        return ""
    if predicted in ("abstained", "failed"):
        return f' style="background:rgba(120,120,120,{0.06 + 0.4 * n / total:.2f})"'
    return f' style="background:{_shade(n / total, predicted == gold)}"'


def _confusion_columns(matrix: dict[str, dict[str, int]], gold: list[str]) -> tuple[list[str], bool]:
    """Predicted columns: the gold classes shown, then other predictions most frequent first (folded into
    "other" past the limit), then abstained and failed.  Returns the columns and whether "other" is used."""
    special = ("abstained", "failed")
    totals: dict[str, int] = {}
    for row in matrix.values():
        for p, n in row.items():
            totals[p] = totals.get(p, 0) + n
    extra = sorted((p for p in totals if p not in gold and p not in special), key=lambda p: (-totals[p], p))
    room = max(0, MAX_CLASSES - len(gold))
    folded = len(extra) > room
    cols = gold + extra[:room]
    return cols + [p for p in special if p in totals], folded


def _confusion_table(s: dict[str, Any]) -> str:
    conf = s.get("confusion") or {}
    matrix: dict[str, dict[str, int]] = conf.get("matrix") or {}
    per_class: dict[str, dict[str, Any]] = conf.get("per_class") or {}
    if not matrix:
        return '<p class="note">no problems</p>'
    order = sorted(matrix, key=lambda c: (-sum(matrix[c].values()), c))
    gold = sorted(order[:MAX_CLASSES], key=_class_order)
    cols, folded = _confusion_columns(matrix, gold)
    head = '<th class="corner">gold \\ predicted</th>' + "".join(f"<th>{_e(_clip(c, 24))}</th>" for c in cols)
    head += "<th>other</th>" if folded else ""
    head += "<th>precision</th><th>recall</th><th>F1</th>"
    body = []
    for g in gold:
        row = matrix.get(g, {})
        total = sum(row.values()) or 1
        cells = []
        for p in cols:
            n = row.get(p, 0)
            cells.append(f'<td class="num"{_cell_style(n, total, g, p)}>{n}</td>')
        if folded:
            cells.append(f'<td class="num">{sum(n for p, n in row.items() if p not in cols)}</td>')
        pc = per_class.get(g, {})
        cells += [f'<td class="num">{_pct(pc.get(k))}</td>' for k in ("precision", "recall", "f1")]
        body.append(f'<tr><th scope="row" title="{_e(g)}">{_e(_clip(g, 32))}</th>{"".join(cells)}</tr>')
    note = ""
    if len(order) > len(gold):
        note = f'<p class="note">{len(order) - len(gold)} less frequent gold classes not shown.</p>'
    return f'<table class="confusion"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{note}'


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222;
       margin: 24px auto; max-width: 1120px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f3f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.compare th[scope=row], table.confusion th[scope=row] { font-weight: normal; background: #fafafa; }
tr.group-start > * { border-top: 2px solid #999; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
svg.plot { width: 100%; height: auto; border: 1px solid #e5e7eb; border-radius: 4px; background: #fff; }
svg text { font-family: inherit; } svg .title { font-size: 15px; font-weight: 600; fill: #222; }
svg .tick { font-size: 11px; fill: #444; } svg .label { font-size: 12px; fill: #222; }
svg .point-label { font-size: 12px; font-weight: 600; } svg .legend-text { font-size: 12px; fill: #222; }
svg .note { font-size: 13px; fill: #777; } svg .note-small { font-size: 10px; fill: #777; }
svg .grid { stroke: #e5e7eb; stroke-width: 1; } svg .axis { stroke: #555; stroke-width: 1; }
p.note { color: #666; font-size: 12px; margin: 4px 0; }
"""


def render_html(summaries: Sequence[dict[str, Any]]) -> str:
    """The report page for runs' :func:`summaries`: self-contained HTML, no scripts, inline SVG."""
    runs = list(summaries)
    names = ", ".join(str(s.get("run", "?")) for s in runs) or "no runs"
    confusions = "".join(
        f'<h3><span class="swatch" style="background:{_color(i)}"></span>{_e(s.get("run", "?"))}</h3>'
        + _confusion_table(s)
        for i, s in enumerate(runs)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>thinkgraph report: {_e(names)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>thinkgraph evaluation report</h1>",
        "<h2>Runs</h2>",
        _manifest_table(runs),
        "<h2>Comparison</h2>",
        _comparison_table(runs),
        "<h2>Plots</h2>",
        '<div class="plots">',
        plot_accuracy_tokens(runs),
        plot_risk_coverage(runs),
        plot_class_recall(runs),
        "</div>",
        "<h2>Confusion matrices</h2>",
        '<p class="note">Rows: gold class; columns: prediction (abstentions and failures in their own '
        "columns). Shading: share of the row.</p>",
        confusions,
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(paths: Iterable[str | Path], out_path: str | Path) -> Path:
    """Write the HTML report of the runs at ``paths`` to ``out_path`` (one self-contained file); returns it.

    Raises :class:`RunStoreError` for a path that is not a run file (before anything is written)."""
    page = render_html(summaries(paths))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


__all__ = [
    "plot_accuracy_tokens",
    "plot_class_recall",
    "plot_risk_coverage",
    "render_html",
    "render_table",
    "rows_jsonl",
    "summaries",
    "write_html",
]
