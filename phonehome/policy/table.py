"""The verdicts as a lab reads them on a terminal: one line per assertion, then the findings."""

from __future__ import annotations

from phonehome.policy.evaluate import Evaluation
from phonehome.policy.findings import Finding

_MAX_FINDINGS = 40


def render(evaluation: Evaluation) -> str:
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


def describe(finding: Finding) -> list[str]:
    """One finding as two lines: what, where (flow, frames), then the excerpt with the match marked."""
    where = ""
    if finding.flow is not None:
        flow = finding.flow
        where = f" [{flow.proto} {flow.src}:{flow.sport} -> {flow.dst}:{flow.dport}"
        where += f" {flow.server_name}]" if flow.server_name else "]"
    what = f" {finding.identifier}" if finding.identifier else ""
    chain = f" via {finding.decode}" if finding.decode else ""
    frames = f" frames {','.join(map(str, finding.frames[:5]))}" if finding.frames else ""
    phase = f" in phase {finding.phase}" if finding.phase else ""
    lines = [f"  {finding.rule}{what}{chain}{where}{frames}{phase}"]
    if finding.excerpt:
        lines.append(f"      {finding.excerpt}")
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
            lines += describe(finding)
        if len(mine) > _MAX_FINDINGS:
            lines.append(f"  ... {len(mine) - _MAX_FINDINGS} more in the results' evaluation.json")
    return "\n".join(lines)
