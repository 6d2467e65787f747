"""What a lab reads on a terminal: the endpoints an analysis found, and the verdicts with their findings.

Everything here came off the wire, so every cell is escaped: a hostile Host
header must not be able to move a terminal's cursor or fake a line (findings
were escaped when they were made; analysis cells are escaped here).
"""

from __future__ import annotations

from datetime import UTC, datetime

from phonehome.policy.evaluate import Evaluation
from phonehome.policy.findings import Finding
from phonehome.traffic.analysis import Analysis
from phonehome.traffic.endpoints import Endpoint

COLUMNS = ("NAME", "ADDRESSES", "PORTS", "TRANSPORT", "FLOWS", "BYTES", "FIRST SEEN")
MAX_LIST = 3
MAX_NAME = 60
_MAX_FINDINGS = 40


def safe(text: str) -> str:
    """``text`` with anything unprintable escaped, so it cannot act on a terminal."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text
    )


def _listed(items: list[str]) -> str:
    shown = ",".join(items[:MAX_LIST])
    return shown + (f",+{len(items) - MAX_LIST}" if len(items) > MAX_LIST else "")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def _when(ep: Endpoint) -> str:
    stamp = (
        datetime.fromtimestamp(ep.first_ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if 0 <= ep.first_ts < 32503680000
        else "?"
    )
    return f"{stamp} #{ep.first_frame}"


def _row(ep: Endpoint) -> tuple[str, ...]:
    name = safe(ep.name) or "unknown"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 1] + "…"
    if not ep.named:
        name = f"({name})"
    return (
        name,
        _listed(ep.addresses),
        _listed(ep.ports),
        "/".join(ep.transports),
        str(ep.flows),
        _size(ep.bytes),
        _when(ep),
    )


def render_analysis(analysis: Analysis) -> str:
    """The endpoint table, with a one-line summary above it; unnamed endpoints show in parentheses."""
    eps = analysis.endpoints()
    rows = [COLUMNS, *(_row(ep) for ep in eps)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    right = {4, 5}
    lines = []
    files = len(analysis.files)
    others = sum(1 for f in analysis.flows if f.proto not in ("tcp", "udp"))
    lines.append(
        f"{analysis.packets} packets in {files} file{'s' if files != 1 else ''}, "
        f"{len(analysis.flows)} flows"
        + (f" ({others} neither TCP nor UDP)" if others else "")
        + f", {len(eps)} endpoints"
        + (" (capture truncated)" if analysis.truncated else "")
    )
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def render_verdicts(evaluation: Evaluation) -> str:
    """A fixed-width verdict table; every string from traffic was escaped when the finding was made."""
    lines = [f"handset: {evaluation.handset} ({evaluation.handset_how})"]
    if evaluation.geo_database:
        lines.append(f"country/AS database: {evaluation.geo_database}")
    lines.append("")
    width = max(len(v.assertion) for v in evaluation.verdicts)
    lines.append(f"{'ASSERTION':<{width}}  {'VERDICT':<14}  WHY")
    for verdict in evaluation.verdicts:
        lines.append(f"{verdict.assertion:<{width}}  {verdict.result:<14}  {verdict.reason}")
    lines.append(f"{'overall':<{width}}  {evaluation.result}")
    if evaluation.findings:
        lines += ["", f"findings ({len(evaluation.findings)}):"]
        for finding in evaluation.findings[:_MAX_FINDINGS]:
            lines += describe(finding)
        if len(evaluation.findings) > _MAX_FINDINGS:
            lines.append(
                f"  ... {len(evaluation.findings) - _MAX_FINDINGS} more in the JSON output (--format json)"
            )
    for warning in evaluation.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines) + "\n"


def describe(finding: Finding, *, detail: bool = False) -> list[str]:
    """One finding: what, where (flow, frames, phase), with ``detail`` its sentence and clauses, then the
    excerpt with the match marked. Every string is made terminal-safe again (the policy escaped it once)."""
    where = ""
    if finding.flow is not None:
        flow = finding.flow
        where = f" [{flow.proto} {flow.src}:{flow.sport} -> {flow.dst}:{flow.dport}"
        where += f" {flow.server_name}]" if flow.server_name else "]"
    what = f" {finding.identifier}" if finding.identifier else ""
    chain = f" via {finding.decode}" if finding.decode else ""
    frames = f" frames {','.join(map(str, finding.frames[:5]))}" if finding.frames else ""
    offset = f" offset {finding.offset}" if detail and finding.offset is not None else ""
    phase = f" in phase {finding.phase}" if finding.phase else ""
    lines = [safe(f"  {finding.rule}{what}{chain}{where}{frames}{offset}{phase}")]
    if detail:
        lines.append(safe(f"      {finding.detail}"))
        if finding.clauses:
            lines.append(safe(f"      clauses: {'; '.join(finding.clauses)}"))
    if finding.excerpt:
        lines.append(safe(f"      {finding.excerpt}"))
    return lines


def explain(evaluation: Evaluation, assertion: str) -> str:
    """Why one assertion got its verdict, with its findings and clauses: what a failing test prints."""
    verdict = next((v for v in evaluation.verdicts if v.assertion == assertion), None)
    if verdict is None:
        known = ", ".join(v.assertion for v in evaluation.verdicts)
        return f"{assertion}: no such assertion (known: {known})"
    lines = [f"{assertion}: {verdict.result}: {verdict.reason}"]
    if verdict.clauses:
        lines.append(f"requirements: {'; '.join(verdict.clauses)}")
    lines.append(f"handset: {evaluation.handset} ({evaluation.handset_how})")
    mine = [f for f in evaluation.findings if f.assertion == assertion]
    if mine:
        lines.append(f"findings ({len(mine)}):")
        for finding in mine[:_MAX_FINDINGS]:
            lines += describe(finding, detail=True)
        if len(mine) > _MAX_FINDINGS:
            lines.append(f"  ... {len(mine) - _MAX_FINDINGS} more in the results' evaluation.json")
    return "\n".join(lines)
