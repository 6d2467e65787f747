"""The timeline plot: the handset's flows and findings against the scenario's phases, as inline SVG.

One row per endpoint the handset reached (the busiest first, the rest in one
row), each flow a bar from its first to its last packet, each finding a mark
where it was sent, the phases as bands behind them. Bars and marks that would
fall on the same pixel are drawn once (with a count in their tooltip), so a run
of 10,000 flows stays a small picture. Hand-written rather than a plotting
library: the page must hold no script or asset from outside, and the plot is a
few rectangles.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from phonehome.report.escape import text
from phonehome.report.view import RunView, number, obj

WIDTH = 1000
LEFT = 190
"""Room for the endpoint names."""
ROW = 16
TOP = 34
"""Room for the phase names above the rows."""
MAX_ROWS = 24
PALETTE = ("#dbe9f6", "#e6f2dc", "#f6ecd6", "#eadcf2", "#dcf0ef", "#f4dfe2", "#e9e9e9")


@dataclass(frozen=True, slots=True)
class Mark:
    """A finding on the plot: where, how bad, and what it says."""

    ts: float
    row: str
    severity: str
    """``fail`` (its assertion FAILed) or ``note``."""
    label: str


def endpoint(flow: dict[str, Any]) -> str:
    name = flow.get("server_name") or flow.get("dst") or "?"
    return f"{name}:{flow.get('dport')}/{flow.get('proto')}"


def render(view: RunView) -> str:
    """The plot as an ``<svg>`` element; a short paragraph when there is nothing to place in time."""
    window = view.window()
    if window is None:
        return '<p class="muted">No times to plot: the capture record and the flows are missing.</p>'
    t0, t1 = window
    judged = view.judged_flows
    flows = [f for f in view.flows() if judged is None or f.get("id") in judged]
    counts = Counter(endpoint(f) for f in flows)
    rows = [name for name, _ in counts.most_common(MAX_ROWS)]
    other = "(other endpoints)"
    if len(counts) > MAX_ROWS:
        rows.append(other)
    index = {name: i for i, name in enumerate(rows)}
    height = TOP + ROW * max(1, len(rows)) + 28
    span = t1 - t0
    plot = WIDTH - LEFT - 10

    def x(ts: float) -> float:
        return LEFT + (min(max(ts, t0), t1) - t0) / span * plot

    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="flows and findings over the phases">'
    ]
    out += _phases(view, x, t1, height)
    for i, name in enumerate(rows):
        y = TOP + i * ROW
        out.append(f'<text class="row" x="{LEFT - 6}" y="{y + 11}" text-anchor="end">{text(name, 30)}</text>')
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 10}" y1="{y + ROW}" y2="{y + ROW}"/>')
    bars: dict[tuple[int, int], list[str]] = defaultdict(list)
    spans: dict[tuple[int, int], int] = {}
    for f in flows:
        first, last = number(f.get("first_ts")), number(f.get("last_ts"))
        if first is None:
            continue
        row = index.get(endpoint(f), index.get(other))
        if row is None:
            continue
        start = int(x(first))
        key = (row, start)
        spans[key] = max(spans.get(key, 1), int(x(last if last is not None else first)) - start + 1)
        bars[key].append(f"flow {f.get('id')} {endpoint(f)}")
    for (row, start), labels in bars.items():
        title = labels[0] if len(labels) == 1 else f"{len(labels)} flows, first: {labels[0]}"
        out.append(
            f'<rect class="flow" x="{start}" y="{TOP + row * ROW + 4}" width="{spans[(row, start)]}" '
            f'height="{ROW - 8}"><title>{text(title, 200)}</title></rect>'
        )
    out += _marks(_findings(view, index, other), x, index)
    out += _axis(t0, span, x, height)
    out.append("</svg>")
    return "".join(out)


def _phases(view: RunView, x: Any, t1: float, height: int) -> list[str]:
    """A band per phase start marker (until the next start: the policy places packets the same way)."""
    starts = [m for m in view.markers() if m[2].get("end") is not True]
    out = []
    colours: dict[str, str] = {}
    for i, (ts, phase, detail) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else t1
        colour = colours.setdefault(phase, PALETTE[len(colours) % len(PALETTE)])
        left, right = x(ts), x(end)
        what = " ".join(f"{k}={v}" for k, v in list(detail.items())[:6])
        out.append(
            f'<rect class="phase" x="{left:.1f}" y="{TOP - 4}" width="{max(right - left, 1.0):.1f}" '
            f'height="{height - TOP - 24}" fill="{colour}"><title>{text(f"{phase} {what}".strip(), 300)}'
            "</title></rect>"
        )
        out.append(f'<text class="phase" x="{left + 2:.1f}" y="{12 + (i % 2) * 11}">{text(phase, 30)}</text>')
    return out


def _findings(view: RunView, index: dict[str, int], other: str) -> list[Mark]:
    failed = {v.get("assertion") for v in view.verdicts() if v.get("result") == "FAIL"}
    flows = {f.get("id"): f for f in view.flows()}
    marks = []
    for finding in view.findings():
        ref = obj(finding.get("flow"))
        flow = flows.get(ref.get("id"), ref)
        ts = number(finding.get("ts")) or number(flow.get("first_ts"))
        if ts is None:
            continue
        name = endpoint(flow)
        row = name if name in index else other
        severity = "fail" if finding.get("assertion") in failed else "note"
        label = f"{finding.get('rule')}: {finding.get('identifier') or ''} {finding.get('detail') or ''}"
        marks.append(Mark(ts, row, severity, label))
    return marks


def _marks(marks: list[Mark], x: Any, index: dict[str, int]) -> list[str]:
    placed: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    for mark in marks:
        if mark.row in index:
            placed[(index[mark.row], int(x(mark.ts)), mark.severity)].append(mark.label)
    out = []
    for (row, px, severity), labels in placed.items():
        y = TOP + row * ROW + ROW / 2
        title = labels[0] if len(labels) == 1 else f"{len(labels)} findings, first: {labels[0]}"
        out.append(
            f'<path class="finding {severity}" d="M{px} {y - 5:.1f}l5 5l-5 5l-5 -5z">'
            f"<title>{text(title, 300)}</title></path>"
        )
    return out


def _axis(t0: float, span: float, x: Any, height: int) -> list[str]:
    step = next(
        (s for s in (0.001, 0.01, 0.1, 1, 5, 10, 30, 60, 300, 600, 3600, 21600) if span / s <= 10), 86400
    )
    out = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - 10}" y1="{height - 22}" y2="{height - 22}"/>']
    tick = 0.0
    while tick <= span + 1e-9:
        px = x(t0 + tick)
        label = f"+{tick:g} s" if step < 60 else f"+{tick / 60:g} min"
        out.append(f'<line class="axis" x1="{px:.1f}" x2="{px:.1f}" y1="{height - 22}" y2="{height - 18}"/>')
        out.append(f'<text class="tick" x="{px:.1f}" y="{height - 6}" text-anchor="middle">{label}</text>')
        tick += step
    return out
