"""A batch's report: every handset of one ``phonehome run``, side by side.

The terminal summary (`lines`) and the batch's HTML page (`render_batch`) read
the same records: one `Outcome` per handset, as ``summary.json`` keeps them.
Its chart is the matrix of handsets x assertions, one coloured cell per
verdict, each row linking to the handset's own report.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phonehome import exits
from phonehome.report import html
from phonehome.report.escape import text, visible
from phonehome.report.folder import RUN as RUN_RECORD
from phonehome.report.view import REPORT, items, obj, read_json

MAX_TARGETS = 3
"""Endpoints named on a finding kind's line; the rest are counted."""
WHAT = {
    exits.USAGE: "usage",
    exits.BAD_INPUT: "bad input",
    exits.NO_VERDICT: "bench or device error",
    exits.INTERNAL_ERROR: "internal error",
}
"""What kind of trouble left a handset without a verdict, by its exit status."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One handset of a batch: how it ended, where its results are, and its evaluation when believed."""

    device: str
    status: int
    result: str | None
    """The overall verdict; None: no verdict (``reason`` says why)."""
    reason: str
    results: Path | None
    evaluation: dict[str, Any] | None

    @property
    def why(self) -> str:
        """Why there is no verdict, with what kind of trouble it was."""
        return f"{WHAT.get(self.status, 'internal error')}: {self.reason}"

    def verdicts(self) -> dict[str, str]:
        return {
            str(v.get("assertion")): str(v.get("result"))
            for v in map(obj, items((self.evaluation or {}).get("verdicts")))
        }


def finding_kinds(evaluation: dict[str, Any] | None) -> list[str]:
    """One line per kind of finding (its rule): how many, which identifiers, to which endpoints."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in map(obj, items((evaluation or {}).get("findings"))):
        groups.setdefault(str(f.get("rule")), []).append(f)
    lines = []
    for rule, found in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        identifiers = list(dict.fromkeys(str(f["identifier"]) for f in found if f.get("identifier")))
        targets = Counter(_target(f) for f in found if f.get("flow"))
        named = [t for t, _ in targets.most_common(MAX_TARGETS)]
        more = len(targets) - len(named)
        line = f"{rule} x{len(found)}"
        if identifiers:
            line += f": {', '.join(identifiers)}"
        if named:
            line += f" -> {', '.join(named)}" + (f" (+{more} more)" if more > 0 else "")
        lines.append(visible(line, 400))
    return lines


def _target(finding: dict[str, Any]) -> str:
    flow = obj(finding.get("flow"))
    return f"{flow.get('server_name') or flow.get('dst')}:{flow.get('dport')}/{flow.get('proto')}"


def run_notes(folder: Path | None) -> list[str]:
    """What the run noted about how it judged (``run.json`` notes): where the identity and build came from."""
    if folder is None:
        return []
    return [str(n) for n in items(obj(read_json(folder / RUN_RECORD)).get("notes"))]


def lines(outcomes: Sequence[Outcome], *, verbose: bool = False, quiet: bool = False) -> list[str]:
    """The terminal summary: per handset its result, each verdict (the reason of each INCONCLUSIVE, or of
    every verdict with ``verbose``), one line per finding kind, its results folder."""
    assertions = list(dict.fromkeys(a for o in outcomes for a in o.verdicts()))
    out = [""] if not quiet else []
    for o in outcomes:
        log = f" (log: {o.results / 'pytest.log'})" if o.results and "log:" not in o.reason else ""
        if o.result:
            out.append(visible(f"{o.device}: {o.result}", 600))
        else:  # a long reason is cut, never the log's path: the details are there
            out.append(visible(f"{o.device}: NO VERDICT: {o.why}", 600) + visible(log, 400))
        if quiet:
            continue
        reasons = {
            str(v.get("assertion")): str(v.get("reason", ""))
            for v in map(obj, items((o.evaluation or {}).get("verdicts")))
        }
        for assertion in assertions:
            verdict = o.verdicts().get(assertion)
            if verdict and (verdict == "INCONCLUSIVE" or verbose):
                out.append(visible(f"  {assertion:<26} {verdict}: {reasons.get(assertion, '')}", 600))
            elif verdict:
                out.append(f"  {assertion:<26} {verdict}")
        out += [f"    {line}" for line in finding_kinds(o.evaluation)]
        out += [visible(f"  note: {note}", 600) for note in run_notes(o.results)]
        if verbose and o.evaluation:
            out += [visible(f"    doubt: {d}", 600) for d in items(o.evaluation.get("doubts"))]
        out.append(f"  results: {o.results}")
    return out


def render_batch(outcomes: Sequence[Outcome], run_dir: Path, run_id: str = "") -> str:
    """The batch's page: the matrix of handsets x assertions, and each handset's line and report link."""
    assertions = list(dict.fromkeys(a for o in outcomes for a in o.verdicts()))
    failed = sum(1 for o in outcomes if o.result == "FAIL")
    passed = sum(1 for o in outcomes if o.result in ("PASS", "NOT_APPLICABLE"))
    worst = _worst(outcomes)
    body = [
        f"<header><h1>phonehome batch {html.badge(worst, ' overall')}</h1>",
        html.facts(
            [
                ("handsets", len(outcomes)),
                ("failed", failed),
                ("passed", passed),
                ("inconclusive or no verdict", len(outcomes) - failed - passed),
                ("run folder", run_dir.name),
                ("run", run_id or "-"),
            ]
        ),
        "</header><main>",
        '<h2 id="matrix">Handsets x assertions</h2><table class="matrix"><thead><tr><th>handset</th><th>overall</th>',
        *(f"<th>{text(a)}</th>" for a in assertions),
        "</tr></thead><tbody>",
    ]
    for o in outcomes:
        verdicts = o.verdicts()
        link = _link(o, run_dir)
        name = f'<a href="{text(link)}">{text(o.device)}</a>' if link else text(o.device)
        body.append(f"<tr><td>{name}</td><td>{html.badge(o.result or 'NO VERDICT')}</td>")
        for a in assertions:
            value = verdicts.get(a)
            cls = value if value in ("FAIL", "INCONCLUSIVE", "PASS", "NOT_APPLICABLE") else "none"
            body.append(
                f'<td class="cell {cls}" title="{text(a)}: {text(value or "-")}">{text(_short(value))}</td>'
            )
        body.append("</tr>")
    body.append("</tbody></table>")
    for o in outcomes:
        body.append(f"<h2>{text(o.device)} {html.badge(o.result or 'NO VERDICT')}</h2>")
        if o.result is None:
            body.append(f'<p class="note">No verdict: {text(o.why)}</p>')
        kinds = finding_kinds(o.evaluation)
        if kinds:
            body.append("<ul>" + "".join(f"<li><code>{text(k)}</code></li>" for k in kinds) + "</ul>")
        link = _link(o, run_dir)
        if link:
            body.append(
                f'<p><a href="{text(link)}">the handset\'s report</a> <span class="muted">({text(link)})</span></p>'
            )
    body.append("</main>")
    return html.page(f"phonehome batch: {worst}", body)


def _short(value: str | None) -> str:
    return {"FAIL": "FAIL", "INCONCLUSIVE": "INC", "PASS": "PASS", "NOT_APPLICABLE": "N/A"}.get(
        value or "", "-"
    )


def _worst(outcomes: Sequence[Outcome]) -> str:
    if any(o.result is None for o in outcomes):
        return "NO VERDICT" if not any(o.result == "FAIL" for o in outcomes) else "FAIL"
    order = ("FAIL", "INCONCLUSIVE", "PASS", "NOT_APPLICABLE")
    seen = {o.result for o in outcomes}
    return next((r for r in order if r in seen), "NOT_APPLICABLE")


def _link(outcome: Outcome, run_dir: Path) -> str | None:
    if outcome.results is None or not (outcome.results / REPORT).exists():
        return None
    return os.path.relpath(outcome.results / REPORT, run_dir)
