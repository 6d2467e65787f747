"""identifier-recipients: each identifier goes only to endpoints declared to receive that kind."""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import (
    IDENTIFIER_RULES,
    NO_MANIFEST,
    finding,
    inside_tls,
    missing,
    no_identifiers,
    unread_identifiers,
    verdict,
)
from phonehome.policy.context import Contact, Context, claim_endpoint
from phonehome.policy.findings import IDENTIFIER_RECIPIENTS, Finding, escape
from phonehome.traffic.interception import lab_ca_trusted, why

CLAUSES = ("GDPR Art. 5(1)(c)", "GDPR Art. 25", "EN 303 645 6-4", "Android CDD 9.8.5")


def judge(ctx: Context) -> Judgement:
    manifest = ctx.manifest
    if manifest is None:
        return _undeclared_everywhere(ctx)
    by_flow = {c.flow.id: c for c in ctx.contacts}
    findings: list[Finding] = []
    for leak in ctx.leaks:
        if leak.rule not in IDENTIFIER_RULES or leak.flow is None or leak.flow.id not in by_flow:
            continue
        contact = by_flow[leak.flow.id]
        claimed = [claim_endpoint(manifest, contact.proto, contact.peer_port, c) for c in contact.claims]
        endpoints = [*contact.endpoints, *claimed]
        allowed = (
            contact.declared
            and not contact.exempt
            and all(e is not None and leak.identifier in e.identifiers for e in endpoints)
        )
        if allowed:
            continue
        if contact.exempt:
            to = "the bench's own DHCP/DNS service" if contact.infrastructure else "link plumbing"
        elif contact.declared:
            refusing = [e for e in endpoints if e is None or leak.identifier not in e.identifiers]
            names = ", ".join(
                dict.fromkeys(f"'{e.name}'" if e else "an undeclared claimed name" for e in refusing)
            )
            to = f"declared endpoint {names}"
        else:
            to = "an undeclared endpoint"
        findings.append(_reached(leak, contact, f"({to}), which is not declared to receive it"))
    keys = set(ctx.identity.keys())
    hidden = [
        c
        for c in ctx.judged
        if c.encrypted
        and not c.fully_decrypted
        and not (c.declared and all(keys <= set(e.identifiers) for e in c.endpoints))
    ]
    limits = [f for f in ctx.leaks if f.rule == "decode-limit" and inside_tls(f)]
    doubts = [*no_identifiers(ctx), *unread_identifiers(ctx)]
    if limits:
        doubts.append(f"{len(limits)} decrypted payload(s) could not be decoded in full ({limits[0].detail})")
    if hidden:
        doubts.append(
            f"{len(hidden)} encrypted flow(s) to endpoints not declared for every identifier (first: "
            f"{escape(hidden[0].label, 160)}); {_why_hidden(ctx, hidden[0])}"
        )
    passed = "every identifier seen went only to endpoints declared to receive it"
    return verdict(ctx, IDENTIFIER_RECIPIENTS, CLAUSES, findings, passed, doubts), findings


def _why_hidden(ctx: Context, contact: Contact) -> str:
    """Why what ``contact`` carried could not be read: no interception, or what the handset did to it."""
    interception = ctx.interception
    if interception is None or interception.mode != "intercept":
        return "what they carry is not visible without TLS interception (--tls intercept)"
    offer = interception.offer_for(contact.local, (contact.peer, contact.peer_port))
    if offer is None:
        return "the bench's TLS service has no record of it (QUIC, or not TLS it could terminate)"
    return f"not decrypted: {why(offer, lab_ca_trusted(interception.offers))}"


def _reached(leak: Finding, contact: Contact, how: str) -> Finding:
    """The finding of ``leak`` reaching ``contact``'s peer, with the leak's evidence (decode, excerpt)."""
    found = finding(
        "undeclared-recipient",
        IDENTIFIER_RECIPIENTS,
        CLAUSES,
        contact,
        f"{leak.identifier} reached {contact.label}{' ' if how.startswith('(') else ''}{how}",
        identifier=leak.identifier,
        frames=leak.frames,
        phase=leak.phase,
    )
    found.decode, found.form, found.offset, found.excerpt = leak.decode, leak.form, leak.offset, leak.excerpt
    return found


def _undeclared_everywhere(ctx: Context) -> Judgement:
    """No manifest: who may receive what is unknown, so INCONCLUSIVE; the identifiers seen are still
    listed as evidence (an analysis without a manifest must not hide them)."""
    judged = {c.flow.id: c for c in ctx.judged}
    findings = []
    for leak in ctx.leaks:
        if leak.rule not in IDENTIFIER_RULES or leak.flow is None or leak.flow.id not in judged:
            continue
        findings.append(_reached(leak, judged[leak.flow.id], "; no manifest says whether it may receive it"))
    verdict_ = missing(IDENTIFIER_RECIPIENTS, CLAUSES, NO_MANIFEST)
    verdict_.findings = len(findings)
    return verdict_, findings


ASSERTION = Assertion(
    IDENTIFIER_RECIPIENTS,
    "each identifier reaches only endpoints the manifest declares to receive that kind",
    "an identifier goes to an endpoint not declared to receive that kind",
    CLAUSES,
    ("manifest", "identity"),
    judge,
)
