"""What every assertion's judge shares: how findings and verdicts are made, and the doubts they all read."""

from __future__ import annotations

from collections.abc import Sequence

from phonehome.policy.context import Contact, Context
from phonehome.policy.findings import Finding, FlowRef, Result, Verdict, clauses_with


def finding(
    rule: str,
    assertion: str,
    clauses: Sequence[str],
    contact: Contact | None,
    detail: str,
    *,
    identifier: str | None = None,
    frames: Sequence[int] = (),
    ts: float | None = None,
    phase: str | None = None,
) -> Finding:
    flow = contact.flow if contact else None
    return Finding(
        rule=rule,
        assertion=assertion,
        detail=detail,
        flow=FlowRef.of(flow) if flow else None,
        identifier=identifier,
        frames=sorted(set(frames)) or ([flow.first_frame] if flow else []),
        ts=ts if ts is not None else (flow.first_ts if flow else None),
        phase=phase,
        clauses=clauses_with(clauses, identifier),
    )


def verdict(  # noqa: PLR0917  (every judge calls it the same way)
    ctx: Context,
    assertion: str,
    clauses: Sequence[str],
    findings: Sequence[Finding],
    passed: str,
    doubts: Sequence[str] = (),
) -> Verdict:
    """FAIL on findings; else INCONCLUSIVE if anything undermines a PASS; else PASS."""
    result: Result
    if findings:
        many = "s" if len(findings) > 1 else ""
        result, reason = "FAIL", f"{len(findings)} finding{many}: {findings[0].detail}"
    elif not ctx.contacts:
        result, reason = "INCONCLUSIVE", "no traffic from the handset in the capture: nothing was exercised"
    elif doubts or ctx.degraded:
        result, reason = "INCONCLUSIVE", "; ".join([*doubts, *ctx.degraded])
    else:
        result, reason = "PASS", passed
    return Verdict(assertion, result, reason, len(findings), list(clauses))


def missing(assertion: str, clauses: Sequence[str], what: str) -> Verdict:
    """An input the assertion needs was not given: INCONCLUSIVE, saying what to supply."""
    return Verdict(assertion, "INCONCLUSIVE", what, 0, list(clauses))


def not_applicable(assertion: str, clauses: Sequence[str], reason: str) -> Verdict:
    """The assertion cannot apply to this handset or firmware (never for a missing input)."""
    return Verdict(assertion, "NOT_APPLICABLE", reason, 0, list(clauses))


def unread_identifiers(ctx: Context) -> list[str]:
    """Doubt from identifiers the handset has but the identity lacks (unreadable over ADB, not in the
    inventory): their leaks cannot be seen."""
    if not ctx.identity.unread:
        return []
    keys = ", ".join(sorted(ctx.identity.unread))
    first = next(iter(ctx.identity.unread.values()))
    return [
        f"the identity lacks {keys} ({first}): leaks of them cannot be seen; "
        "declare them in the inventory (--inventory) or the identity file"
    ]


def no_identifiers(ctx: Context) -> list[str]:
    if ctx.identity.keys():
        return []
    return ["the identity lists no identifiers: nothing could be looked for (--identity / --inventory)"]


NO_MANIFEST = "no manifest given: nothing is declared; pass the firmware's manifest (--manifest M.yaml)"


def inside_tls(found: Finding) -> bool:
    """Found in TLS records the lab decrypted: the recipient saw it, an observer on the wire did not."""
    return found.rule == "tls-identifier" or (found.decode or "").startswith("tls-decrypted")


IDENTIFIER_RULES = ("cleartext-identifier", "tls-identifier")
"""Findings of an identifier of this handset in what it sent: in clear, or inside TLS the lab decrypted."""
