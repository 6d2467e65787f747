"""visible-dns: names are resolved in plain DNS the bench can see, unless the policy allows DoT/DoH."""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import NO_MANIFEST, finding, missing, verdict
from phonehome.policy.context import Context
from phonehome.policy.findings import VISIBLE_DNS, Finding
from phonehome.traffic.naming import DOT_PORT, is_doh_resolver

CLAUSES = ("EN 18031 GEC-4", "EN 303 645 6-1", "RFC 8520")


def judge(ctx: Context) -> Judgement:
    manifest = ctx.manifest
    if manifest is None:
        return missing(
            VISIBLE_DNS, CLAUSES, NO_MANIFEST + " (its policy says whether DoT/DoH may be used)"
        ), []
    policy = manifest.policy
    findings: list[Finding] = []
    for contact in ctx.contacts:
        if contact.plumbing or contact.infrastructure:
            continue
        flow = contact.flow
        names = {*contact.destinations, *contact.names, *(c.name for c in contact.claims)}
        if (contact.peer_port == DOT_PORT and flow.proto in ("tcp", "udp")) or flow.app in ("dot", "doq"):
            if not policy.dot_allowed:
                kind = "DNS over QUIC" if flow.proto == "udp" else "DNS over TLS"
                findings.append(
                    finding(
                        "hidden-dns",
                        VISIBLE_DNS,
                        CLAUSES,
                        contact,
                        f"{kind} to {contact.label}, which the policy does not allow (dot_allowed: false)",
                    )
                )
        elif (
            flow.app == "doh" or (contact.peer_port == 443 and any(is_doh_resolver(n) for n in names))
        ) and (not policy.doh_allowed or not contact.declared):
            why = "doh_allowed: false" if not policy.doh_allowed else "the resolver is not declared"
            findings.append(
                finding(
                    "hidden-dns", VISIBLE_DNS, CLAUSES, contact, f"DNS over HTTPS to {contact.label} ({why})"
                )
            )
    doubts = []
    plain = len(ctx.lookups)
    named = [c for c in ctx.judged if c.claims]
    if named and not plain:
        doubts.append(
            f"{len(named)} flow(s) named servers but no plain DNS query was seen: names may be resolved over a "
            "channel not recognised, or were cached before the capture"
        )
    passed = f"{plain} DNS queries in plain DNS, no DoT/DoH outside the policy"
    return verdict(ctx, VISIBLE_DNS, CLAUSES, findings, passed, doubts), findings


ASSERTION = Assertion(
    VISIBLE_DNS,
    "the handset resolves names in plain DNS the bench sees, unless the policy allows DoT or DoH",
    "DNS is hidden (DoT on 853, DoH to undeclared resolvers) where the policy forbids it",
    CLAUSES,
    ("manifest",),
    judge,
)
