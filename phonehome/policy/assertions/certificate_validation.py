"""certificate-validation: the handset refuses every certificate it must refuse, on every TLS endpoint.

Judged from the bench's TLS service records (``tls: validate``): each TLS
connection the handset opened was offered a certificate; one it must refuse
(self-signed, another name's, expired, from an untrusted CA) that it accepted,
by finishing the handshake *and* sending application data, is a finding with
the certificate and what it sent. A handshake it broke off, or finished and
hung up on without a byte (a hostname verifier or pin checked after the
handshake), is a refusal.

No PASS without every input: a TLS flow of the handset's that was offered no
certificate (QUIC, a record missing), an endpoint not offered every bad
certificate (it stopped retrying), or a refusal of the ``wrong-name`` and
``expired`` probes while nothing shows the handset trusts the lab CA (their
chain is the lab CA's: refused for the chain alone, they prove nothing about
names or dates) is INCONCLUSIVE, saying what to do. A bench that offered no
certificates (``tls: alert``, ``intercept``) is a missing input too:
INCONCLUSIVE, not NOT_APPLICABLE, as long as the handset made a TLS connection:
there was a certificate to validate and it was not tested. Only a handset that
made no TLS or QUIC connection at all is NOT_APPLICABLE: nothing to validate.

An endpoint that refused the lab CA's good certificate while others accepted
it pins: good behaviour, named in the PASS.
"""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import finding, not_applicable, verdict
from phonehome.policy.context import Contact, Context
from phonehome.policy.findings import CERTIFICATE_VALIDATION, Finding, Verdict, escape
from phonehome.traffic.interception import (
    BAD_PROBES,
    CONTROL,
    NEEDS_LAB_CA,
    TlsOffer,
    endpoints,
    lab_ca_trusted,
)

CLAUSES = ("EN 18031-2 SCM-2", "EN 18031-2 SCM-4", "EN 18031-2 CRY-1")
VALIDATE = (
    "run the bench with `tls: validate` (--tls validate), the lab CA installed on the handset (docs/tls.md)"
)


def judge(ctx: Context) -> Judgement:
    opened = [c for c in ctx.judged if c.opened]
    tls = [c for c in opened if c.flow.transport == "tls"]
    quic = [c for c in opened if c.flow.transport == "quic"]
    interception = ctx.interception
    if not tls and not quic:
        if not ctx.contacts or ctx.degraded:
            return verdict(ctx, CERTIFICATE_VALIDATION, CLAUSES, [], "", ["no TLS connection was seen"]), []
        reason = "the handset made no TLS or QUIC connection: there was no certificate to validate"
        return not_applicable(CERTIFICATE_VALIDATION, CLAUSES, reason), []
    if interception is None or interception.mode != "validate":
        mode = interception.mode if interception is not None else "alert"
        what = (
            "offered only the lab CA's certificate (tls: intercept)"
            if mode == "intercept"
            else "ended every ClientHello with an alert (tls: alert)"
        )
        reason = (
            f"the handset made {len(tls) + len(quic)} TLS/QUIC connection(s), but the bench {what}: no "
            f"certificate it must refuse was offered; {VALIDATE}"
        )
        return Verdict(CERTIFICATE_VALIDATION, "INCONCLUSIVE", reason, 0, list(CLAUSES)), []
    findings: list[Finding] = []
    offered: list[TlsOffer] = []
    untested: list[Contact] = []
    for contact in tls:
        offer = interception.offer_for(contact.local, (contact.peer, contact.peer_port))
        if offer is None:
            untested.append(contact)
            continue
        offered.append(offer)
        if offer.accepted and offer.certificate.probe != CONTROL:
            findings.append(_accepted(contact, offer))
    doubts = _doubts(offered, untested, quic, interception.unreadable)
    trusted = lab_ca_trusted(offered)
    table = endpoints(offered)
    pinned = sorted(e for e, record in table.items() if trusted and record.pinned)
    passed = f"every TLS endpoint ({len(table)}) refused every certificate it must refuse" + (
        f"; pinned (refused the lab CA's certificate too): {escape(', '.join(pinned), 400)}" if pinned else ""
    )
    return verdict(ctx, CERTIFICATE_VALIDATION, CLAUSES, findings, passed, doubts), findings


def _accepted(contact: Contact, offer: TlsOffer) -> Finding:
    sent = f"{offer.app_bytes} byte(s) of application data"
    if offer.requests:
        sent += f" in {offer.requests} HTTP request(s)"
    found = finding(
        "accepted-bad-certificate",
        CERTIFICATE_VALIDATION,
        CLAUSES,
        contact,
        f"{contact.label} completed a TLS handshake with a {offer.certificate.describe()} and then sent {sent}",
        ts=offer.ts,
    )
    found.form = offer.certificate.probe
    found.decode = "tls-decrypted"
    found.excerpt = escape(offer.app_head, 400)
    return found


def _doubts(
    offered: list[TlsOffer], untested: list[Contact], quic: list[Contact], unreadable: int
) -> list[str]:
    doubts = []
    if untested:
        doubts.append(
            f"{len(untested)} TLS connection(s) of the handset's were offered no certificate by the bench (first: "
            f"{untested[0].label}): their validation was not tested"
        )
    if quic:
        doubts.append(
            f"{len(quic)} QUIC connection(s) (first: {quic[0].label}) were not offered certificates (QUIC is "
            "not intercepted): set `block_quic: true` so QUIC clients fall back to TLS over TCP"
        )
    if unreadable:
        doubts.append(
            f"{unreadable} line(s) of the TLS service's records could not be read: offers may be missing"
        )
    trusted = lab_ca_trusted(offered)
    for endpoint, record in sorted(endpoints(offered).items()):
        missing = [p for p in BAD_PROBES if not record.tried(p) and not record.accepted(p)]
        if any(record.accepted(p) for p in BAD_PROBES):
            continue  # already a finding: the other probes change nothing
        if missing:
            doubts.append(
                f"{escape(endpoint, 160)} was not offered (or did not answer) the {', '.join(missing)} "
                "certificate(s): it stopped retrying before its turn came; let it retry or repeat the run"
            )
        unproven = [p for p in NEEDS_LAB_CA if record.tried(p)]
        if not trusted and unproven:
            doubts.append(
                f"{escape(endpoint, 160)} refused the {', '.join(unproven)} certificate(s), but no endpoint "
                "accepted the lab CA's own certificate: the handset may not trust the lab CA, so those refusals "
                "prove nothing about its name and date checks; install the lab CA (docs/tls.md)"
            )
    return doubts


ASSERTION = Assertion(
    CERTIFICATE_VALIDATION,
    "the handset refuses every TLS certificate it must refuse (self-signed, another name's, expired, "
    "from an untrusted CA) on every endpoint, before sending a byte",
    "the handset completes a TLS handshake with a certificate it must refuse and sends data",
    CLAUSES,
    ("tls-validate",),
    judge,
)
