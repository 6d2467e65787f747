"""transport: endpoints declared encrypted are reached encrypted, and nothing offers or accepts TLS < 1.2."""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import NO_MANIFEST, finding, verdict
from phonehome.policy.context import Contact, Context
from phonehome.policy.findings import TRANSPORT, Finding

CLAUSES = ("EN 18031-2 SCM-1", "EN 18031-2 CRY-1", "EN 303 645 5.8-2", "GDPR Art. 32")
TLS_1_2 = 0x0303
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def _version(v: int) -> str:
    return VERSIONS.get(v, f"0x{v:04x}")


def in_clear(contact: Contact) -> bool:
    """The handset sent bytes that no encryption covered: a cleartext protocol, an unrecognised one, or
    cleartext inside TLS framing."""
    flow = contact.flow
    sent = flow.bytes_c2s if contact.opened else flow.bytes_s2c
    return (
        flow.transport == "cleartext"
        or (flow.transport == "unknown" and sent > 0)
        or flow.cleartext_in_tls > 0
    )


def judge(ctx: Context) -> Judgement:
    findings: list[Finding] = []
    for contact in ctx.contacts:
        hello = contact.flow.tls
        if hello is not None and contact.opened:
            offered = [v for v in hello.versions if v < 0x7F00] or [hello.legacy_version]
            weak = sorted(v for v in offered if 0 < v < TLS_1_2)
            if weak:
                findings.append(
                    finding(
                        "weak-tls",
                        TRANSPORT,
                        CLAUSES,
                        contact,
                        f"{contact.label} was offered {', '.join(map(_version, weak))} (below TLS 1.2)",
                        frames=[hello.frame],
                    )
                )
        selected = contact.flow.tls_server_version
        if selected is not None and 0 < selected < TLS_1_2:
            findings.append(
                finding(
                    "weak-tls",
                    TRANSPORT,
                    CLAUSES,
                    contact,
                    f"{contact.label} selected {_version(selected)} (below TLS 1.2)",
                )
            )
        if ctx.manifest is None or contact.exempt or not in_clear(contact):
            continue
        strict = [e for e in contact.endpoints if "cleartext" not in e.transport]
        if strict:
            what = contact.flow.app or "unrecognised payload"
            if contact.flow.cleartext_in_tls:
                what = f"{contact.flow.cleartext_in_tls} bytes of cleartext inside TLS framing"
            findings.append(
                finding(
                    "cleartext-transport",
                    TRANSPORT,
                    CLAUSES,
                    contact,
                    f"{contact.label} is declared {'/'.join(strict[0].transport)} ('{strict[0].name}') but was "
                    f"reached in clear ({what})",
                )
            )
    doubts = [] if ctx.manifest is not None else [NO_MANIFEST + " (declared transports not checked)"]
    passed = "no TLS below 1.2 offered or selected; endpoints declared encrypted were reached over TLS/QUIC"
    return verdict(ctx, TRANSPORT, CLAUSES, findings, passed, doubts), findings


ASSERTION = Assertion(
    TRANSPORT,
    "endpoints declared encrypted are reached over TLS/QUIC, and no TLS below 1.2 is offered or selected",
    "an endpoint declared TLS is reached in clear, or TLS < 1.2 is offered or selected",
    CLAUSES,
    ("manifest",),
    judge,
)
