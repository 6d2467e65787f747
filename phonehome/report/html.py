"""The offline HTML report of one handset's run: one self-contained file a lab can hand over.

Verdicts with their clauses; every finding with its flow, frames, decode chain,
marked excerpt and phase; the timeline plot; the flow table (filterable); the
identity with the source of each value; the build; the bench's facts (isolation,
drops, capture hashes); the scenario's steps. No asset, font or script from
anywhere else, a Content-Security-Policy that allows no request, and every
string escaped (`phonehome.report.escape`): the traffic's strings are the
handset's, and a handset may be hostile.

Deterministic: the same folder and verdicts give the same bytes (no clock, no
random ids), so ``phonehome report`` can re-render an archive and the evidence
bundle's hashes still hold.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome import __version__
from phonehome.report import assets, timeline_svg
from phonehome.report import folder as results
from phonehome.report.escape import script_json, text, visible
from phonehome.report.view import REPORT, RunView, items, number, obj
from phonehome.traffic.timeline import PhaseMarker, Timeline

if TYPE_CHECKING:
    from phonehome.policy import Evaluation

MAX_FINDINGS = 1000
"""Findings written out per report; all of them are in evaluation.json."""
MAX_FLOWS = 200_000
"""Flows in the table; a capture with more is cut, and says so."""
_EXCERPT_OPEN, _EXCERPT_CLOSE = "\u00ab", "\u00bb"
"""The policy marks the match in an excerpt with « and »; an excerpt's own bytes are escaped ASCII, so
these two can only be its marks."""


def page(title: str, body: list[str]) -> str:
    """A whole document around ``body``: the style sheet, the script, the policy that allows only them."""
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{assets.CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{text(title, 200)}</title><style>{assets.CSS}</style></head><body>",
            *body,
            f'<footer class="muted"><main>phonehome {text(__version__)}: offline report; every file '
            "named here is listed with its SHA-256 in the results' evidence.json (phonehome verify)."
            f"</main></footer><script>{assets.JS}</script></body></html>\n",
        ]
    )


def badge(result: object, extra: str = "") -> str:
    value = str(result) if result else "none"
    cls = value if value in ("FAIL", "INCONCLUSIVE", "PASS", "NOT_APPLICABLE") else "none"
    return f'<span class="badge r-{cls}{extra}" data-result="{text(value)}">{text(value)}</span>'


def utc(ts: object) -> str:
    value = number(ts)
    if value is None or not 0 <= value < 32503680000:
        return "?"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def facts(pairs: list[tuple[str, object]]) -> str:
    rows = "".join(f"<dt>{text(k)}</dt><dd>{text(v) if v not in (None, '') else '-'}</dd>" for k, v in pairs)
    return f'<dl class="facts">{rows}</dl>'


def table(head: list[str], rows: Sequence[Sequence[object]], numeric: tuple[int, ...] = ()) -> str:
    out = ["<table><thead><tr>", *(f"<th>{text(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            out.append(f"<td{cls}>{text(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def excerpt(value: object) -> str:
    """The excerpt with its match marked; everything escaped."""
    raw = str(value or "")
    head, sep, rest = raw.partition(_EXCERPT_OPEN)
    if not sep:
        return f"<pre>{text(raw)}</pre>"
    match, _, tail = rest.partition(_EXCERPT_CLOSE)
    return f"<pre>{text(head)}<mark>{text(match)}</mark>{text(tail)}</pre>"


def write_run_report(
    folder: Path, evaluation: Evaluation | None = None, analysis: dict[str, Any] | None = None
) -> Path:
    """``report.html`` in ``folder``, from its files (``evaluation``/``analysis``: the ones just judged)."""
    return results.write_text(folder / REPORT, render_run(RunView.load(folder, evaluation, analysis)))


def render_run(view: RunView) -> str:
    """The whole report of one handset's run."""
    body = [_header(view), "<main>"]
    for note in view.notes:
        body.append(f'<p class="note">{text(note)}</p>')
    body += [
        _verdicts(view),
        '<h2 id="timeline">Timeline</h2>',
        '<p class="legend muted"><span>bands: phases</span><span>bars: flows</span>'
        "<span>red marks: findings of a FAILed assertion</span><span>amber: other findings</span></p>",
        timeline_svg.render(view),
        _findings(view),
        _flows(view),
        _identity(view),
        _build(view),
        _bench(view),
        _scenario(view),
        "</main>",
    ]
    return page(f"phonehome: {view.device}: {view.result}", body)


def _header(view: RunView) -> str:
    ev, run = view.evaluation, view.run
    manifest = obj(ev.get("manifest") or run.get("manifest"))
    scenario = obj(ev.get("scenario"))
    return (
        f"<header><h1>{text(view.device)} {badge(view.result, ' overall')}</h1>"
        + facts(
            [
                ("run", ev.get("run_id") or run.get("run_id")),
                ("phonehome", run.get("phonehome") or __version__),
                (
                    "scenario",
                    f"{scenario.get('name') or run.get('scenario') or '-'} "
                    f"(consent {scenario.get('consent') or run.get('consent') or '-'})",
                ),
                ("phases covered", ", ".join(map(str, items(ev.get("phases")))) or "none"),
                (
                    "manifest",
                    f"{manifest.get('path', '-')} (SHA-256 {manifest.get('sha256', '-')})"
                    if manifest
                    else "none: assertions that need one are INCONCLUSIVE",
                ),
                (
                    "handset",
                    f"{obj(ev.get('handset')).get('addresses', '-')} "
                    f"({obj(ev.get('handset')).get('how', '-')})",
                ),
                ("captured", f"{utc(view.capture.get('started'))} to {utc(view.capture.get('ended'))}"),
            ]
        )
        + "</header>"
    )


def _verdicts(view: RunView) -> str:
    rows = []
    for v in view.verdicts():
        clauses = "; ".join(map(str, items(v.get("clauses"))))
        rows.append(
            f'<tr id="verdict-{text(v.get("assertion"))}"><td>{text(v.get("assertion"))}</td>'
            f"<td>{badge(v.get('result'))}</td><td>{text(v.get('reason'))}</td>"
            f'<td class="num">{text(v.get("findings", 0))}</td><td>{text(clauses)}</td></tr>'
        )
    doubts = items(view.evaluation.get("doubts"))
    out = [
        '<h2 id="verdicts">Verdicts</h2><table class="verdicts"><thead><tr><th>assertion</th><th>verdict</th>'
        "<th>why</th><th>findings</th><th>requirement clauses</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
    ]
    if doubts:
        out.append("<h3>Doubts (each makes a would-be PASS INCONCLUSIVE)</h3><ul>")
        out += [f"<li>{text(d)}</li>" for d in doubts]
        out.append("</ul>")
    return "".join(out)


def _findings(view: RunView) -> str:
    findings = view.findings()
    out = [f'<h2 id="findings">Findings ({len(findings)})</h2>']
    if not findings:
        out.append('<p class="muted">None.</p>')
        return "".join(out)
    by_assertion: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        by_assertion[str(f.get("assertion"))].append(f)
    results = {str(v.get("assertion")): str(v.get("result")) for v in view.verdicts()}
    budget = MAX_FINDINGS
    for assertion, mine in by_assertion.items():
        result = results.get(assertion, "")
        opened = " open" if result == "FAIL" else ""
        kinds = Counter(str(f.get("rule")) for f in mine)
        summary = ", ".join(f"{rule} x{n}" for rule, n in kinds.most_common())
        out.append(
            f"<details{opened}><summary>{text(assertion)} {badge(result)} "
            f"{len(mine)} findings: {text(summary)}</summary>"
        )
        for f in mine[: max(budget, 0)]:
            out.append(_finding(f, view))
        if len(mine) > budget:
            out.append(f'<p class="muted">{len(mine) - max(budget, 0)} more in evaluation.json.</p>')
        budget -= len(mine)
        out.append("</details>")
    return "".join(out)


def _finding(f: dict[str, Any], view: RunView | None = None) -> str:
    flow = obj(f.get("flow"))
    where = "-"
    if flow:
        where = (
            f"{flow.get('proto')} {flow.get('src')}:{flow.get('sport')} -> {flow.get('dst')}:{flow.get('dport')}"
            + (f" {flow.get('server_name')} (named by {flow.get('name_source')})" if flow.get("server_name") else "")
            + f", {flow.get('transport')}" + (f"/{flow.get('app')}" if flow.get("app") else "")
            + f", flow {flow.get('id')}"
        )  # fmt: skip
    frames = [str(n) for n in items(f.get("frames"))]
    shown = ", ".join(frames[:20]) + (f" (+{len(frames) - 20})" if len(frames) > 20 else "")
    offset = f.get("offset")
    pairs: list[tuple[str, object]] = [
        ("flow", where),
        ("sent by", _owner(view, flow)),
        ("frames", shown or "-"),
        ("byte offset", "-" if offset is None else f"{offset}" + ("" if f.get("offset_exact", True) else " (of the encoded region)")),
        ("decode chain", f.get("decode")),
        ("identifier", f"{f.get('identifier')} as {f.get('form')}" if f.get("identifier") else None),
        ("phase", f.get("phase")),
        ("sent", utc(f.get("ts")) if f.get("ts") is not None else None),
        ("occurrences", f.get("occurrences")),
        ("clauses", "; ".join(map(str, items(f.get("clauses"))))),
    ]  # fmt: skip
    body = f'<div class="finding"><div><b>{text(f.get("rule"))}</b>: {text(f.get("detail"))}</div>'
    body += facts([p for p in pairs if p[1] not in (None, "")])
    if f.get("excerpt"):
        body += excerpt(f.get("excerpt"))
    return body + "</div>"


def _owner(view: RunView | None, flow: dict[str, Any]) -> str | None:
    """The app that owned the finding's flow, with who says so (a handset can list what it likes)."""
    owner = view.owner(flow.get("id")) if view is not None and flow else None
    return f"{owner}, as the handset's socket table says" if owner else None


FLOW_COLUMNS = (
    "id", "judged", "start", "phase", "proto", "client", "server", "name", "named by", "claimed names",
    "transport", "app", "bytes up", "bytes down", "packets", "frames", "owner app",
)  # fmt: skip
_NUMERIC = tuple(FLOW_COLUMNS.index(c) for c in ("id", "bytes up", "bytes down", "packets"))


def flow_rows(view: RunView) -> list[list[str]]:
    """The flow table's rows, as strings (the script only ever sets them as text)."""
    window = view.window()
    t0 = window[0] if window else 0.0
    line = Timeline(PhaseMarker(ts, phase, detail) for ts, phase, detail in view.markers())
    judged = view.judged_flows
    rows = []
    for f in view.flows()[:MAX_FLOWS]:
        first = number(f.get("first_ts"))
        rows.append(
            [
                str(f.get("id")),
                "yes" if judged is None or f.get("id") in judged else "no",
                "?" if first is None else f"+{first - t0:.3f} s",
                (line.phase_at(first) or "-") if first is not None else "-",
                str(f.get("proto")),
                f"{f.get('src')}:{f.get('sport')}",
                f"{f.get('dst')}:{f.get('dport')}",
                str(f.get("server_name") or ""),
                str(f.get("name_source") or ""),
                _claimed(f),
                str(f.get("transport") or ""),
                str(f.get("app") or ""),
                str(f.get("bytes_c2s", "")),
                str(f.get("bytes_s2c", "")),
                str((f.get("packets_c2s") or 0) + (f.get("packets_s2c") or 0))
                if isinstance(f.get("packets_c2s"), int) and isinstance(f.get("packets_s2c"), int)
                else "?",
                f"{f.get('first_frame')}-{f.get('last_frame')}",
                view.owner(f.get("id")) or "",
            ]
        )
    return rows


def _claimed(flow: dict[str, Any]) -> str:
    """Every name the client claimed in the flow (SNI, Host, CONNECT...) and its DHCP host names."""
    names = [f"{obj(c).get('name')} ({obj(c).get('source')})" for c in items(flow.get("claims"))[:10]]
    names += [
        f"{obj(d).get('hostname')} (dhcp hostname)"
        for d in items(flow.get("dhcp"))[:10]
        if obj(d).get("hostname")
    ]
    return "; ".join(dict.fromkeys(names))


def _flows(view: RunView) -> str:
    rows = [[visible(cell, 300) for cell in row] for row in flow_rows(view)]
    total = len(view.flows())
    data = {"rows": rows, "judged": FLOW_COLUMNS.index("judged"), "numeric": list(_NUMERIC)}
    cut = (
        f'<p class="note">The table holds the first {MAX_FLOWS} of {total} flows.</p>'
        if total > MAX_FLOWS
        else ""
    )
    return (
        f'<h2 id="flows">Flows ({total})</h2>{cut}<div class="controls">'
        '<input type="search" id="flow-filter" placeholder="filter: address, name, phase, protocol..." '
        'aria-label="filter flows"><label><input type="checkbox" id="flow-judged"> only the handset\'s</label>'
        '<span id="flow-count" class="muted"></span></div>'
        "<noscript><p class=\"note\">The flow table needs scripts; every flow is in analysis.json.</p></noscript>"
        "<table class=\"flows\"><thead><tr>"
        + "".join(f"<th>{text(c)}</th>" for c in FLOW_COLUMNS)
        + '</tr></thead><tbody id="flow-rows"></tbody></table>'
        '<button type="button" id="flow-more" hidden>show more</button>'
        f'<script type="application/json" id="flow-data">{script_json(data)}</script>'
    )  # fmt: skip


def _identity(view: RunView) -> str:
    out = ['<h2 id="identity">Identity (as judged)</h2>']
    # Where the identity came from when ADB could not read it yet (a retail build's first boot).
    out += [
        f'<p class="note">{text(n)}</p>'
        for n in map(str, items(view.run.get("notes")))
        if n.startswith("identity:")
    ]
    provenance = [obj(p) for p in items(view.provenance.get("provenance"))]
    identity = view.identity
    sources = obj(identity.get("sources"))
    if provenance:
        out.append(
            table(
                ["identifier", "value", "source", "how"],
                [[p.get("key"), p.get("value"), p.get("source"), p.get("detail")] for p in provenance],
            )
        )
    shown = {str(p.get("key")) for p in provenance}
    rest = [
        [key, value if not isinstance(value, list) else ", ".join(map(str, value)), sources.get(key, "?")]
        for key, value in identity.items()
        if key not in ("sources", "unread") and key not in shown
    ]
    if rest:
        out.append("<h3>Judged values (identity.json)</h3>")
        out.append(table(["identifier", "value", "source"], rest))
    unread = obj(identity.get("unread"))
    if unread:
        out.append("<h3>Not read (their leaks could not be looked for unless declared)</h3>")
        out.append(table(["identifier", "why"], [[k, v] for k, v in unread.items()]))
    conflicts = [obj(c) for c in items(view.provenance.get("conflicts"))]
    if conflicts:
        out.append("<h3>Conflicts between what was read and what was declared</h3>")
        out.append(
            table(
                ["identifier", "read", "declared", "declared by"],
                [[c.get("key"), c.get("read"), c.get("declared"), c.get("declared_by")] for c in conflicts],
            )
        )
    if len(out) == 1:
        out.append('<p class="muted">No identity was recorded.</p>')
    return "".join(out)


def _build(view: RunView) -> str:
    b = view.build
    out = ['<h2 id="build">Build identity</h2>']
    if not b:
        return out[0] + '<p class="muted">Not read (build.json is absent: the handset was not reached).</p>'
    keys = ("fingerprint", "build_id", "display_id", "incremental", "release", "sdk", "security_patch",
            "vendor_security_patch", "build_type", "tags", "brand", "manufacturer", "model", "device",
            "product", "baseband")  # fmt: skip
    out.append(facts([(k, b.get(k)) for k in keys if k in b]))
    parts = obj(b.get("partition_fingerprints"))
    if parts:
        out.append(table(["partition", "fingerprint"], [[k, v] for k, v in parts.items()]))
    region = obj(b.get("region"))
    if region:
        out.append("<h3>Region and carrier properties</h3>")
        out.append(table(["property", "value"], [[k, v] for k, v in region.items()]))
    packages = [obj(p) for p in items(b.get("packages"))]
    if packages:
        out.append(f"<details><summary>{len(packages)} packages</summary>")
        out.append(
            table(
                ["package", "path", "signers"],
                [[p.get("name"), p.get("path"), p.get("signers", "")] for p in packages],
            )
        )
        out.append("</details>")
    return "".join(out)


def _bench(view: RunView) -> str:
    c, run = view.capture, view.run
    out = ['<h2 id="bench">Bench and capture</h2>']
    out.append(
        facts(
            [
                ("bench definition", run.get("bench")),
                (
                    "isolated port",
                    "yes: one handset and the router, nothing else" if c.get("isolated") is True else "no",
                ),
                ("port / interface", f"{c.get('port', '-')} / {c.get('interface', '-')}"),
                ("capture tool", f"{c.get('tool', '-')} ({c.get('format', '-')})"),
                ("handset lease", f"{c.get('handset_mac') or '-'} {c.get('handset_ip') or ''}"),
                ("router", ", ".join(map(str, items(c.get("router_addresses")))) or "-"),
                ("router MACs", ", ".join(map(str, items(c.get("router_macs")))) or "-"),
                ("subnets", ", ".join(map(str, items(c.get("subnets")))) or "-"),
                ("bench's own service", view.evaluation.get("infrastructure")),
                ("country/AS database", view.evaluation.get("geo_database") or "regions not judged"),
                ("time scale", run.get("time_scale")),
            ]
        )
    )
    drops = [obj(d) for d in items(c.get("drops"))]
    if drops:
        out.append("<h3>Losses (a PASS needs every count zero and the interface's frames all captured)</h3>")
        rows = []
        for d in drops:
            captured, link = d.get("captured"), d.get("link_packets")
            missed = max(0, link - captured) if isinstance(link, int) and isinstance(captured, int) else "?"
            rows.append([d.get("tool"), d.get("interface"), d.get("captured"), d.get("received"), d.get("dropped"),
                         d.get("if_dropped"), link, missed])  # fmt: skip
        out.append(table(["tool", "interface", "captured", "received", "dropped", "interface dropped",
                          "interface frames", "missing from the files"], rows, (2, 3, 4, 5, 6, 7)))  # fmt: skip
    problems = items(c.get("problems")) + items(run.get("bench_problems"))
    if problems:
        out.append("<h3>Bench problems</h3><ul>" + "".join(f"<li>{text(p)}</li>" for p in problems) + "</ul>")
    files = [[f.get("path"), f.get("size"), f.get("sha256"), "sealed by the bench at capture end"]
             for f in map(obj, items(c.get("files")))]  # fmt: skip
    for f in map(obj, items(view.phased.get("files"))):
        files.append(
            [f.get("path"), f.get("size"), f.get("sha256"), "copy with the phases as packet comments"]
        )
    logs = obj(run.get("handset_logs"))
    for key, what in (
        ("logcat", "the handset's logcat: all buffers, UTC"),
        ("bugreport", "bug report at the end"),
    ):
        f = obj(logs.get(key))
        if f.get("path"):
            files.append([f.get("path"), f.get("size"), f.get("sha256"), what])
    if files:
        out.append("<h3>Capture files</h3>")
        out.append(table(["file", "bytes", "SHA-256", "what"], files, (1,)))
    return "".join(out)


def _scenario(view: RunView) -> str:
    s = view.scenario
    out = ['<h2 id="scenario">Scenario</h2>']
    markers = view.markers()
    if markers:
        out.append("<h3>Phase markers (also packet comments in the phase-marked capture copy)</h3>")
        rows = [
            [utc(ts), phase, " ".join(f"{k}={v}" for k, v in detail.items())] for ts, phase, detail in markers
        ]
        out.append(table(["time (UTC)", "phase", "detail"], rows))
    steps = [obj(st) for st in items(s.get("steps"))]
    if steps:
        out.append("<h3>Steps</h3>")
        steps_rows: list[list[object]] = []
        for st in steps:
            detail = obj(st.get("detail"))
            steps_rows.append([utc(st.get("started")), st.get("phase"), st.get("label") or st.get("step"),
                         st.get("kind"), "ok" if st.get("ok") else "FAILED",
                         st.get("error") or " ".join(f"{k}={v}" for k, v in list(detail.items())[:8])])  # fmt: skip
        out.append(table(["started (UTC)", "phase", "step", "kind", "", "detail"], steps_rows))
    failure = obj(s.get("failure"))
    if failure:
        out.append(
            '<p class="note">'
            + text(
                f"The scenario stopped at {failure.get('phase')}: {failure.get('step')}: {failure.get('error')}; "
                f"evidence: {', '.join(map(str, items(failure.get('evidence')))) or 'none'}"
            )
            + "</p>"
        )
    if len(out) == 1:
        out.append('<p class="muted">No scenario record.</p>')
    return "".join(out)
