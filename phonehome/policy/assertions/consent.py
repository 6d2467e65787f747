"""consent: nothing that needs consent is contacted before it was given, or while it is declined.

Every consent marker on the timeline counts and the latest decision in force
wins: before the first marker only endpoints declared strictly necessary may be
reached; after an acceptance, anything declared; after a decline, again only the
strictly necessary. A flow is judged over its whole span, not its first packet.
"""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import NO_MANIFEST, finding, missing, verdict
from phonehome.policy.context import Context
from phonehome.policy.findings import CONSENT, Finding
from phonehome.traffic.timeline import CONSENT as CONSENT_PHASE

CLAUSES = ("ePrivacy Art. 5(3)", "EDPB Guidelines 2/2023", "GDPR Art. 7", "GDPR Art. 25(2)", "EN 303 645 6-2")


def judge(ctx: Context) -> Judgement:
    if ctx.manifest is None:
        return missing(CONSENT, CLAUSES, NO_MANIFEST), []
    if ctx.phases is not None and CONSENT_PHASE not in ctx.phases:
        covered = ", ".join(ctx.phases) or "no phase"
        return missing(
            CONSENT,
            CLAUSES,
            f"this run's scenario covers {covered}, not consent: what was sent before consent was not "
            "exercised (run a scenario that walks the Setup Wizard's consent screens)",
        ), []
    markers = [m for m in (ctx.timeline.markers if ctx.timeline else []) if m.phase == CONSENT_PHASE]
    if not markers:
        return missing(
            CONSENT,
            CLAUSES,
            "the timeline has no consent marker: the scenario did not reach the consent screen, so what "
            "was sent before consent cannot be told apart (--timeline, or a scenario that marks consent)",
        ), []
    doubts = []
    malformed = [m for m in markers if not isinstance(m.detail.get("accepted"), bool)]
    if malformed:
        doubts.append(
            f"{len(malformed)} consent marker(s) do not say whether consent was accepted or declined "
            f"(first at {malformed[0].ts:.3f}): the decision in force is unknown"
        )
    # Periods without consent: [start, end) before the first marker and after each decline.
    bare: list[tuple[float, float, str]] = [(float("-inf"), markers[0].ts, "before-consent")]
    for i, marker in enumerate(markers):
        end = markers[i + 1].ts if i + 1 < len(markers) else float("inf")
        if marker.detail.get("accepted") is not True:
            bare.append((marker.ts, end, "after-decline"))
    findings: list[Finding] = []
    for contact in ctx.judged:
        if contact.declared and contact.endpoints and all(e.before_consent for e in contact.endpoints):
            continue
        what = (
            f"'{contact.endpoints[0].name}'"
            if contact.declared and contact.endpoints
            else "an undeclared endpoint"
        )
        flow = contact.flow
        for start, end, rule in bare:
            if flow.first_ts < end and flow.last_ts >= start:
                when = max(flow.first_ts, start)
                text = (
                    "before the consent marker"
                    if rule == "before-consent"
                    else "while consent was declined (after the latest decision, a decline)"
                )
                findings.append(
                    finding(
                        rule,
                        CONSENT,
                        CLAUSES,
                        contact,
                        f"{contact.label} ({what}, not allowed without consent) was contacted {text}",
                        ts=when,
                        phase=ctx.timeline.phase_at(when) if ctx.timeline else None,
                    )
                )
                break
    if ctx.capture_start is not None and ctx.capture_start > markers[0].ts:
        doubts.append("the capture starts after the consent marker: the time before consent was not recorded")
    declined = markers[-1].detail.get("accepted") is False
    passed = "without consent, only endpoints declared strictly necessary were contacted" + (
        " (the latest decision: declined)" if declined else ""
    )
    return verdict(ctx, CONSENT, CLAUSES, findings, passed, doubts), findings


ASSERTION = Assertion(
    CONSENT,
    "nothing needing consent is contacted before consent is given or after it is declined",
    "an endpoint not allowed before consent is contacted before the consent marker, or after a decline",
    CLAUSES,
    ("manifest", "timeline"),
    judge,
    phases=(CONSENT_PHASE,),
)
