"""declared-endpoints: every destination the handset reached, and every name it looked up or claimed,
is in the firmware's manifest."""

from __future__ import annotations

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import NO_MANIFEST, finding, missing, verdict
from phonehome.policy.context import Context
from phonehome.policy.findings import DECLARED_ENDPOINTS, Finding, escape
from phonehome.policy.infrastructure import is_ptr_name

CLAUSES = ("EN 18031 GEC-4", "EN 303 645 6-1", "EN 303 645 6-5", "Android CDD 9.8.2", "RFC 8520")


def judge(ctx: Context) -> Judgement:
    manifest = ctx.manifest
    if manifest is None:
        return missing(DECLARED_ENDPOINTS, CLAUSES, NO_MANIFEST), []
    seen: dict[tuple[str, ...], Finding] = {}

    def add(key: tuple[str, ...], make: object) -> None:
        if key in seen:
            seen[key].occurrences += 1
        else:
            seen[key] = make()  # type: ignore[operator]

    for contact in ctx.judged:
        if not contact.declared:
            direction = "" if contact.opened else " (a flow the peer opened and the handset answered)"
            add(
                ("endpoint", contact.label),
                lambda contact=contact, direction=direction: finding(
                    "undeclared-endpoint",
                    DECLARED_ENDPOINTS,
                    CLAUSES,
                    contact,
                    f"{contact.label}{direction}: {contact.why}; it is not in the manifest",
                ),
            )
        for claim in contact.undeclared_claims:
            add(
                ("claim", claim.name, claim.source),
                lambda contact=contact, claim=claim: finding(
                    "undeclared-claim",
                    DECLARED_ENDPOINTS,
                    CLAUSES,
                    contact,
                    f"the handset named {escape(claim.name, 120)} ({claim.source}) in a flow to "
                    f"{escape(contact.peer, 60)}:{contact.peer_port}/{contact.proto}; the manifest does not "
                    "declare that name",
                    frames=[claim.frame],
                ),
            )
    for lookup in ctx.lookups:
        name = lookup.query.name
        if not name or is_ptr_name(name) or manifest.endpoint_for_name(name) is not None:
            continue
        add(
            ("lookup", name),
            lambda lookup=lookup, name=name: finding(
                "undeclared-lookup",
                DECLARED_ENDPOINTS,
                CLAUSES,
                lookup.contact,
                f"the handset looked up {escape(name, 120)}, which the manifest does not declare",
                frames=[lookup.query.frame],
                ts=lookup.query.ts,
            ),
        )
    doubts = []
    hidden = [c for c in ctx.judged if c.flow.tls is not None and c.flow.tls.ech]
    if hidden:
        doubts.append(
            f"{len(hidden)} flow(s) hide their real server name with Encrypted Client Hello (first: "
            f"{hidden[0].label}): their endpoint is not known"
        )
    findings = list(seen.values())
    passed = (
        f"all {len(ctx.judged)} flows reached declared endpoints and all {len(ctx.lookups)} lookups were of "
        f"declared names (names from {', '.join(ctx.names_from) or 'no DNS answer'})"
    )
    return verdict(ctx, DECLARED_ENDPOINTS, CLAUSES, findings, passed, doubts), findings


ASSERTION = Assertion(
    DECLARED_ENDPOINTS,
    "every endpoint the handset reached, looked up or named is declared in the firmware's manifest",
    "a flow reaches a host or address not in the manifest (IP literals included), or the handset looks up "
    "or names an undeclared host",
    CLAUSES,
    ("manifest",),
    judge,
)
