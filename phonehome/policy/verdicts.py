"""Assertions over the handset's flows and leak findings: a verdict each, with its findings.

No false PASS (DESIGN.md rule 1): a PASS needs traffic from the handset, a
capture without drops or truncation, and every input the assertion depends
on; otherwise the verdict is INCONCLUSIVE or NOT_APPLICABLE and says why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from phonehome.policy.findings import (
    CONSENT,
    DECLARED_ENDPOINTS,
    IDENTIFIER_RECIPIENTS,
    NO_CLEARTEXT_IDENTIFIERS,
    REGIONS,
    TRANSPORT,
    VISIBLE_DNS,
    Finding,
    FlowRef,
    Result,
    Verdict,
    clauses_for,
    escape,
)
from phonehome.policy.geo import GeoDatabase, is_private
from phonehome.policy.identity import Identity
from phonehome.policy.manifest import Manifest
from phonehome.traffic.flow import Flow
from phonehome.traffic.naming import is_doh_resolver
from phonehome.traffic.timeline import CONSENT as CONSENT_PHASE
from phonehome.traffic.timeline import Timeline

TLS_1_2 = 0x0303


@dataclass(slots=True)
class Context:
    """Everything the assertions judge, for one run."""

    flows: Sequence[Flow]
    """The handset's flows (it opened them)."""
    leaks: list[Finding]
    identity: Identity
    manifest: Manifest | None
    timeline: Timeline | None
    geo: GeoDatabase
    capture_start: float | None = None
    degraded: list[str] = field(default_factory=list)
    """Why no PASS can be trusted at all (capture drops, truncation), empty when none."""
    phases: Sequence[str] | None = None
    """The phases the run's scenario set out to cover (None: not said); consent is judged only when
    they include it, since a first-boot window that never shows the wizard cannot be judged on it."""


def infrastructure(flow: Flow) -> bool:
    """Link-local plumbing the bench provides: DHCP, plain DNS, multicast and broadcast (mDNS, SSDP...)."""
    if {flow.sport, flow.dport} & {67, 68, 546, 547} or flow.dport == 53 or flow.app == "dns":
        return True
    try:
        ip = ipaddress.ip_address(flow.dst)
    except ValueError:
        return False
    return ip.is_multicast or ip.is_link_local or flow.dst.endswith(".255")


def _finding(
    rule: str,
    assertion: str,
    flow: Flow | None,
    detail: str,
    *,
    identifier: str | None = None,
    frames: Sequence[int] = (),
    ts: float | None = None,
    phase: str | None = None,
) -> Finding:
    return Finding(
        rule=rule,
        assertion=assertion,
        detail=detail,
        flow=FlowRef.of(flow) if flow else None,
        identifier=identifier,
        frames=sorted(set(frames)) or ([flow.first_frame] if flow else []),
        ts=ts if ts is not None else (flow.first_ts if flow else None),
        phase=phase,
        clauses=clauses_for(assertion, identifier),
    )


def _verdict(
    ctx: Context, assertion: str, findings: list[Finding], passed: str, inconclusive: list[str] | None = None
) -> Verdict:
    """FAIL on findings; else INCONCLUSIVE if anything undermines a PASS; else PASS."""
    result: Result
    if findings:
        result, reason = (
            "FAIL",
            f"{len(findings)} finding{'s' if len(findings) > 1 else ''}: {findings[0].detail}",
        )
    elif not ctx.flows:
        result, reason = "INCONCLUSIVE", "no traffic from the handset in the capture: nothing was exercised"
    elif inconclusive or ctx.degraded:
        result, reason = "INCONCLUSIVE", "; ".join([*(inconclusive or []), *ctx.degraded])
    else:
        result, reason = "PASS", passed
    return Verdict(assertion, result, reason, len(findings), list(clauses_for(assertion)))


def _not_applicable(assertion: str, reason: str) -> Verdict:
    return Verdict(assertion, "NOT_APPLICABLE", reason, 0, list(clauses_for(assertion)))


def _name(flow: Flow) -> str:
    return escape(flow.server_name or flow.dst, 120)


def declared_endpoints(ctx: Context) -> tuple[Verdict, list[Finding]]:
    if ctx.manifest is None:
        return _not_applicable(DECLARED_ENDPOINTS, "no manifest given (--manifest): nothing is declared"), []
    seen: dict[tuple[str, int, str], Finding] = {}
    key: tuple[str, int, str]
    for flow in ctx.flows:
        if infrastructure(flow) or ctx.manifest.endpoint_for(flow) is not None:
            continue
        key = (flow.server_name or flow.dst, flow.dport, flow.proto)
        if key in seen:
            seen[key].occurrences += 1
            continue
        how = f"named by {flow.name_source}" if flow.server_name else "an IP literal, no name seen"
        seen[key] = _finding(
            "undeclared-endpoint",
            DECLARED_ENDPOINTS,
            flow,
            f"{_name(flow)}:{flow.dport}/{flow.proto} ({how}) is not in the manifest",
        )
    for flow in ctx.flows:
        for query in flow.dns_queries:
            name = query.name
            if name.endswith((".arpa", ".local")) or not name or ctx.manifest.endpoint_for_name(name):
                continue
            key = (name, 53, "dns")
            if key in seen:
                seen[key].occurrences += 1
                continue
            seen[key] = _finding(
                "undeclared-lookup",
                DECLARED_ENDPOINTS,
                flow,
                f"the handset looked up {escape(name, 120)}, which the manifest does not declare",
                frames=[query.frame],
                ts=query.ts,
            )
    findings = list(seen.values())
    endpoints = sum(1 for f in ctx.flows if not infrastructure(f))
    return _verdict(
        ctx, DECLARED_ENDPOINTS, findings, f"all {endpoints} flows reached declared endpoints"
    ), findings


def no_cleartext_identifiers(ctx: Context) -> tuple[Verdict, list[Finding]]:
    leaks = [f for f in ctx.leaks if f.rule == "cleartext-identifier"]
    doubts = []
    if not ctx.identity.keys():
        doubts.append("the identity lists no identifiers")
    shaped = [f for f in ctx.leaks if f.rule == "identifier-shaped-field"]
    if shaped:
        doubts.append(
            f"{len(shaped)} field(s) named like identifiers carry values not in the identity "
            f"(first: {shaped[0].decode}); list them in the identity if they are this handset's"
        )
    limits = [f for f in ctx.leaks if f.rule == "decode-limit"]
    if limits:
        doubts.append(f"{len(limits)} payload(s) could not be decoded in full ({limits[0].detail})")
    gaps = sum(f.gaps_c2s for f in ctx.flows)
    if gaps:
        doubts.append(f"{gaps} bytes the handset sent are missing from the capture (TCP gaps)")
    scanned = sum(1 for f in ctx.flows if f.transport not in ("tls", "quic"))
    verdict = _verdict(
        ctx,
        NO_CLEARTEXT_IDENTIFIERS,
        leaks,
        f"no identifier in the unencrypted bytes of {len(ctx.flows)} flows ({scanned} without TLS/QUIC)",
        doubts,
    )
    return verdict, leaks + shaped + limits


def identifier_recipients(ctx: Context) -> tuple[Verdict, list[Finding]]:
    if ctx.manifest is None:
        return _not_applicable(
            IDENTIFIER_RECIPIENTS, "no manifest given: no endpoint is declared to receive identifiers"
        ), []
    findings = []
    by_id = {f.id: f for f in ctx.flows}
    for leak in ctx.leaks:
        if leak.rule != "cleartext-identifier" or leak.flow is None or leak.flow.id not in by_id:
            continue
        flow = by_id[leak.flow.id]
        endpoint = ctx.manifest.endpoint_for(flow)
        if endpoint is None or leak.identifier not in endpoint.identifiers:
            to = f"declared endpoint '{endpoint.name}'" if endpoint else "an undeclared endpoint"
            found = _finding(
                "undeclared-recipient",
                IDENTIFIER_RECIPIENTS,
                flow,
                f"{leak.identifier} reached {_name(flow)} ({to}), which is not declared to receive it",
                identifier=leak.identifier,
                frames=leak.frames,
                phase=leak.phase,
            )
            found.decode, found.form, found.offset, found.excerpt = (
                leak.decode,
                leak.form,
                leak.offset,
                leak.excerpt,
            )
            findings.append(found)
    keys = set(ctx.identity.keys())
    hidden = [
        f
        for f in ctx.flows
        if f.transport in ("tls", "quic")
        and not infrastructure(f)
        and not keys <= set(getattr(ctx.manifest.endpoint_for(f), "identifiers", []))
    ]
    doubts = [] if keys else ["the identity lists no identifiers: nothing could be seen going anywhere"]
    if hidden:
        doubts.append(
            f"{len(hidden)} encrypted flow(s) to endpoints not declared for every identifier (first: "
            f"{_name(hidden[0])}); what they carry is not visible without TLS interception"
        )
    return _verdict(
        ctx,
        IDENTIFIER_RECIPIENTS,
        findings,
        "every identifier seen went only to endpoints declared to receive it",
        doubts,
    ), findings


def _version(v: int) -> str:
    return {
        0x0300: "SSL 3.0",
        0x0301: "TLS 1.0",
        0x0302: "TLS 1.1",
        0x0303: "TLS 1.2",
        0x0304: "TLS 1.3",
    }.get(v, f"0x{v:04x}")


def transport(ctx: Context) -> tuple[Verdict, list[Finding]]:
    findings = []
    for flow in ctx.flows:
        hello = flow.tls
        if hello is not None:
            offered = [v for v in hello.versions if v < 0x7F00] or [hello.legacy_version]
            weak = sorted(v for v in offered if 0 < v < TLS_1_2)
            if weak:
                findings.append(
                    _finding(
                        "weak-tls",
                        TRANSPORT,
                        flow,
                        f"{_name(flow)} was offered {', '.join(map(_version, weak))} (below TLS 1.2)",
                        frames=[hello.frame],
                    )
                )
        if flow.tls_server_version is not None and 0 < flow.tls_server_version < TLS_1_2:
            findings.append(
                _finding(
                    "weak-tls",
                    TRANSPORT,
                    flow,
                    f"{_name(flow)} selected {_version(flow.tls_server_version)} (below TLS 1.2)",
                )
            )
        endpoint = ctx.manifest.endpoint_for(flow) if ctx.manifest else None
        clear = flow.transport == "cleartext" or (flow.transport == "unknown" and flow.bytes_c2s > 0)
        if endpoint is not None and clear and "cleartext" not in endpoint.transport:
            findings.append(
                _finding(
                    "cleartext-transport",
                    TRANSPORT,
                    flow,
                    f"{_name(flow)}:{flow.dport} is "
                    f"declared {'/'.join(endpoint.transport)} but was reached in clear "
                    f"({flow.app or 'unrecognised payload'})",
                )
            )
    note = "" if ctx.manifest else " (no manifest: declared transports not checked)"
    return _verdict(
        ctx,
        TRANSPORT,
        findings,
        f"no TLS below 1.2 offered or selected{note}; declared TLS endpoints were reached over TLS/QUIC",
    ), findings


def consent(ctx: Context) -> tuple[Verdict, list[Finding]]:
    if ctx.manifest is None:
        return _not_applicable(
            CONSENT, "no manifest given: which endpoints may be contacted before consent is not declared"
        ), []
    if ctx.timeline is None:
        return _not_applicable(
            CONSENT,
            "no timeline given (--timeline): this run did not mark when consent "
            "happened, so consent was not part of it",
        ), []
    if ctx.phases is not None and CONSENT_PHASE not in ctx.phases:
        return _not_applicable(
            CONSENT,
            f"this run's scenario covers {', '.join(ctx.phases) or 'no phase'}, not consent",
        ), []
    marker = ctx.timeline.first(CONSENT_PHASE)
    if marker is None:
        verdict = Verdict(
            CONSENT,
            "INCONCLUSIVE",
            "the timeline has no consent marker: the scenario did not reach "
            "the consent screen, so what was sent before consent cannot be told apart",
            0,
            list(clauses_for(CONSENT)),
        )
        return verdict, []
    accepted = marker.detail.get("accepted")
    findings = []
    for flow in ctx.flows:
        if infrastructure(flow):
            continue
        endpoint = ctx.manifest.endpoint_for(flow)
        if endpoint is not None and endpoint.before_consent:
            continue
        what = f"'{endpoint.name}'" if endpoint else "an undeclared endpoint"
        if flow.first_ts < marker.ts:
            findings.append(
                _finding(
                    "before-consent",
                    CONSENT,
                    flow,
                    f"{_name(flow)} ({what}, not allowed before "
                    "consent) was contacted before the consent marker",
                    phase=ctx.timeline.phase_at(flow.first_ts),
                )
            )
        elif accepted is False:
            findings.append(
                _finding(
                    "after-decline",
                    CONSENT,
                    flow,
                    f"{_name(flow)} ({what}, needs consent) was contacted after consent was declined",
                    phase=ctx.timeline.phase_at(flow.first_ts),
                )
            )
    doubts = []
    if ctx.capture_start is not None and ctx.capture_start > marker.ts:
        doubts.append("the capture starts after the consent marker: the time before consent was not recorded")
    if accepted is None:
        doubts.append("the consent marker does not say whether consent was accepted or declined")
    return _verdict(
        ctx,
        CONSENT,
        findings,
        "before consent, only endpoints declared strictly necessary were "
        "contacted" + ("; after decline, none needing consent" if accepted is False else ""),
        doubts,
    ), findings


def regions(ctx: Context, leak_flows: set[int]) -> tuple[Verdict, list[Finding]]:
    manifest = ctx.manifest
    if manifest is None or not (manifest.policy.personal_data_countries or manifest.policy.denied_networks):
        return _not_applicable(
            REGIONS, "the manifest's policy names no allowed countries or denied networks"
        ), []
    policy = manifest.policy
    allowed = set(policy.personal_data_countries)
    denied_names = {str(n).lower() for n in policy.denied_networks if isinstance(n, str)}
    denied_numbers = {n for n in policy.denied_networks if isinstance(n, int)}
    findings, doubts = [], []
    unplaced = []
    for flow in ctx.flows:
        if infrastructure(flow):
            continue
        place = ctx.geo.lookup(flow.dst)
        as_name = (place.as_name or "").lower()
        if any(word in as_name for word in denied_names) or place.as_number in denied_numbers:
            findings.append(
                _finding(
                    "denied-network",
                    REGIONS,
                    flow,
                    f"{_name(flow)} ({flow.dst}) is in network "
                    f"{escape(place.as_name or str(place.as_number))}, which the policy denies",
                )
            )
        endpoint = manifest.endpoint_for(flow)
        personal = flow.id in leak_flows or bool(endpoint and endpoint.identifiers)
        if not personal or not allowed:
            continue
        countries = [place.country] if place.country else list(endpoint.regions if endpoint else [])
        if not countries:
            unplaced.append(flow)
        for country in countries:
            if country not in allowed:
                source = "by the database" if place.country else "as declared in the manifest"
                findings.append(
                    _finding(
                        "region",
                        REGIONS,
                        flow,
                        f"personal data reached {_name(flow)} in "
                        f"{country} ({source}); allowed: {', '.join(sorted(allowed))}",
                    )
                )
    if unplaced:
        doubts.append(
            f"{len(unplaced)} flow(s) carrying personal data go to addresses with no country "
            f"({unplaced[0].dst}: private or bench address) and their endpoint declares no regions"
        )
    if denied_numbers and not ctx.geo.provides_as_numbers:
        doubts.append(
            f"the policy denies AS numbers {sorted(denied_numbers)} but {ctx.geo.version} gives AS "
            "names only: deny by name"
        )
    return _verdict(
        ctx,
        REGIONS,
        findings,
        f"personal data stayed in {', '.join(sorted(allowed)) or 'any country'}"
        f" and no denied network was reached ({ctx.geo.version})",
        doubts,
    ), findings


def visible_dns(ctx: Context) -> tuple[Verdict, list[Finding]]:
    if ctx.manifest is None:
        return _not_applicable(
            VISIBLE_DNS, "no manifest given: the DoT/DoH policy is part of the manifest"
        ), []
    policy = ctx.manifest.policy
    findings = []
    for flow in ctx.flows:
        if flow.dport == 853 or flow.app == "dot":
            if not policy.dot_allowed:
                kind = "DNS over QUIC" if flow.proto == "udp" else "DNS over TLS"
                findings.append(
                    _finding(
                        "hidden-dns",
                        VISIBLE_DNS,
                        flow,
                        f"{kind} to {_name(flow)}:853, which the policy does not allow (dot_allowed: false)",
                    )
                )
        elif flow.app == "doh" or (is_doh_resolver(flow.server_name) and flow.dport == 443):
            declared = ctx.manifest.endpoint_for(flow) is not None
            if not policy.doh_allowed or not declared:
                why = "doh_allowed: false" if not policy.doh_allowed else "the resolver is not declared"
                findings.append(
                    _finding("hidden-dns", VISIBLE_DNS, flow, f"DNS over HTTPS to {_name(flow)} ({why})")
                )
    doubts = []
    plain = sum(len(f.dns_queries) for f in ctx.flows)
    named = [
        f for f in ctx.flows if f.name_source in ("sni", "quic-sni", "http-host") and not infrastructure(f)
    ]
    if named and not plain:
        doubts.append(
            f"{len(named)} flow(s) reached names but no plain DNS query was seen: names may be resolved "
            "over a channel not recognised, or were cached before the capture"
        )
    return _verdict(
        ctx, VISIBLE_DNS, findings, f"{plain} DNS queries in plain DNS, no DoT/DoH outside the policy", doubts
    ), findings


def judge(ctx: Context) -> tuple[list[Verdict], list[Finding]]:
    """All assertions, in DESIGN.md's order; findings of each are returned once, in the same order."""
    verdicts, findings = [], []
    leak_flows = {f.flow.id for f in ctx.leaks if f.rule == "cleartext-identifier" and f.flow}
    for verdict, found in (
        declared_endpoints(ctx),
        no_cleartext_identifiers(ctx),
        identifier_recipients(ctx),
        transport(ctx),
        consent(ctx),
        regions(ctx, leak_flows),
        visible_dns(ctx),
    ):
        verdicts.append(verdict)
        findings += found
    return verdicts, findings


def overall(verdicts: Sequence[Verdict]) -> Result:
    """FAIL if any FAIL; else INCONCLUSIVE if any; else PASS if any PASS; else NOT_APPLICABLE."""
    results = {v.result for v in verdicts}
    order: tuple[Result, ...] = ("FAIL", "INCONCLUSIVE", "PASS")
    for result in order:
        if result in results:
            return result
    return "NOT_APPLICABLE"


__all__ = ["Context", "infrastructure", "is_private", "judge", "overall"]
