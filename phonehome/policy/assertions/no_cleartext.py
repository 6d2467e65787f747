"""no-cleartext-identifiers: no identifier of the handset, in any known encoding, travels unencrypted."""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import inside_tls, no_identifiers, unread_identifiers, verdict
from phonehome.policy.context import Context
from phonehome.policy.findings import NO_CLEARTEXT_IDENTIFIERS

CLAUSES = (
    "EN 18031-2 SCM-1",
    "EN 18031-2 SCM-3",
    "EN 18031-2 CRY-1",
    "EN 303 645 5.8-1",
    "EN 303 645 5.8-2",
    "GDPR Art. 32",
)


def judge(ctx: Context) -> Judgement:
    leaks = [f for f in ctx.leaks if f.rule == "cleartext-identifier"]
    doubts = [*no_identifiers(ctx), *unread_identifiers(ctx)]
    in_clear = [f for f in ctx.leaks if not inside_tls(f)]
    shaped = [f for f in in_clear if f.rule == "identifier-shaped-field"]
    if shaped:
        doubts.append(
            f"{len(shaped)} field(s) named like identifiers carry values not in the identity "
            f"(first: {shaped[0].decode}); list them in the identity if they are this handset's"
        )
    limits = [f for f in in_clear if f.rule == "decode-limit"]
    if limits:
        doubts.append(f"{len(limits)} payload(s) could not be decoded in full ({limits[0].detail})")
    gaps = sum(c.flow.gaps_c2s if c.opened else c.flow.gaps_s2c for c in ctx.contacts)
    if gaps:
        doubts.append(f"{gaps} bytes the handset sent are missing from the capture (TCP gaps)")
    clear = sum(1 for c in ctx.contacts if not c.encrypted)
    verdict_ = verdict(
        ctx,
        NO_CLEARTEXT_IDENTIFIERS,
        CLAUSES,
        leaks,
        f"no identifier in the unencrypted bytes of {len(ctx.contacts)} flows ({clear} without TLS/QUIC)",
        doubts,
    )
    return verdict_, leaks + shaped + limits


ASSERTION = Assertion(
    NO_CLEARTEXT_IDENTIFIERS,
    "no identifier of the handset travels unencrypted, in any known encoding",
    "an identifier, in any known encoding, is in unencrypted bytes (HTTP, DNS names, SNI, plain TCP/UDP, "
    "any IP protocol)",
    CLAUSES,
    ("identity",),
    judge,
)
