"""The policy's entry point: flows (+ leak findings) + identity + manifest + timeline -> verdicts.

    detector = LeakDetector(identity)
    analysis = phonehome.traffic.analyze(paths, observer=detector)
    result = evaluate(analysis.flows, detector, identity=identity, manifest=manifest, analysis=analysis, ...)

or, for captures on disk, :func:`phonehome.policy.analyze_capture` does both, and
:func:`evaluate_capture` judges a bench's `Capture` with everything the bench knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from phonehome.policy import assertions
from phonehome.policy.build import BuildIdentity
from phonehome.policy.context import Contact, Context, Lookup, contact, destine
from phonehome.policy.decode import Limits
from phonehome.policy.destination import Names
from phonehome.policy.findings import Finding, Result, Verdict, worst
from phonehome.policy.geo import GeoDatabase, default_database
from phonehome.policy.handset import Handset, infer, parse_handset, resolve
from phonehome.policy.identity import Identity
from phonehome.policy.infrastructure import BenchFacts, Infrastructure, infrastructure, read_resolver_log
from phonehome.policy.integrity import capture_doubts, foreign_macs, unread_flows
from phonehome.policy.leaks import LINK_ADDRESS_CHAIN, LeakDetector
from phonehome.policy.manifest import Manifest
from phonehome.traffic import Analysis, analyze
from phonehome.traffic.capture import Capture
from phonehome.traffic.flow import Flow
from phonehome.traffic.interception import Interception, read_interception
from phonehome.traffic.timeline import PhaseMarker, Timeline


@dataclass(slots=True)
class Evaluation:
    """Findings and verdicts for one run, with what they rest on."""

    verdicts: list[Verdict]
    findings: list[Finding]
    result: Result
    """The worst verdict: FAIL > INCONCLUSIVE > PASS > NOT_APPLICABLE."""
    handset: str
    handset_how: str
    """``given`` or how it was inferred (a lab must see on what ground)."""
    geo_database: str | None
    """The country/ASN database and version, when regions were judged."""
    warnings: list[str] = field(default_factory=list)
    handset_flows: list[int] = field(default_factory=list)
    """Ids of the flows the handset took part in (the ones judged)."""
    infrastructure: str = ""
    """How the bench's own DHCP/DNS service was known."""
    doubts: list[str] = field(default_factory=list)
    """What made every would-be PASS INCONCLUSIVE (drops, undecoded packets, a foreign MAC...)."""
    phases: list[str] | None = None
    """The phases the run's scenario covered, when it said."""
    contacts: list[Contact] = field(default_factory=list, repr=False)
    """Every flow the handset took part in, as judged (not in the JSON: the findings carry what matters)."""
    build: dict[str, str] | None = None
    """The build judged (fingerprint, ``user``/``userdebug``, tags): every verdict is of that build."""

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "handset": {"addresses": self.handset, "how": self.handset_how},
            "infrastructure": self.infrastructure,
            "geo_database": self.geo_database,
            "verdicts": [v.to_json() for v in self.verdicts],
            "findings": [f.to_json() for f in self.findings],
            "doubts": list(self.doubts),
            "phases": self.phases,
            "policy_warnings": list(self.warnings),
            "build": dict(self.build) if self.build is not None else None,
        }


def evaluate(
    flows: Sequence[Flow],
    leaks: LeakDetector | Iterable[Finding],
    *,
    identity: Identity,
    manifest: Manifest | None = None,
    handset: Handset | None = None,
    timeline: Timeline | Sequence[PhaseMarker] | None = None,
    drops: int | None = 0,
    truncated: bool = False,
    geo: GeoDatabase | None = None,
    problems: Sequence[str] = (),
    phases: Sequence[str] | None = None,
    analysis: Analysis | None = None,
    bench: BenchFacts | None = None,
    interception: Interception | None = None,
    build: BuildIdentity | None = None,
) -> Evaluation:
    """Judges every assertion over every flow the handset took part in.

    ``drops`` is the capture's dropped-packet count (None: the capture format
    does not say, which is doubt, not zero), ``truncated`` whether the capture
    file ended early, ``problems`` what else undermines the run (a capture tool
    that died, a bench that was not isolated). ``analysis`` adds what the
    analyzer saw besides flows (DNS answers with their senders, undecodable
    packets, hardware addresses); ``bench`` what the bench knows of its port (its
    router's addresses, its resolver's log). Any doubt turns every would-be PASS
    INCONCLUSIVE. ``phases`` are those the run's scenario set out to cover; ``build`` the firmware the
    handset runs (the build-identity assertion; None: not read).
    """
    warnings = identity.warnings()
    router_macs = bench.router_macs if bench else []
    if handset is None:
        handset = infer(flows) or Handset(how="no flows in the capture: no handset to infer")
    handset = resolve(handset, flows, router_macs)
    infra = infrastructure(flows, handset, bench)
    names = Names.build(
        analysis.dns_answers if analysis else (),
        handset,
        infra,
        bench.resolver_answers if bench else (),
        router_macs=router_macs,
    )
    contacts = [contact(f, handset, infra, names) for f in flows if handset.owns(f)]
    for found in contacts:
        destine(found, manifest)
    by_id = {c.flow.id: c for c in contacts}
    found_leaks = leaks.finish(flows) if isinstance(leaks, LeakDetector) else list(leaks)
    judged_leaks = [f for f in found_leaks if _handset_sent(f, by_id, handset)]
    degraded = []
    if drops is None:
        degraded.append(
            "the capture does not record dropped packets (a pcap, or a pcapng without interface "
            "statistics): unknown losses are not zero losses (pass the bench's drop count)"
        )
    elif drops:
        degraded.append(f"the capture dropped {drops} packets: what the handset sent may be missing")
    if truncated:
        degraded.append("the capture file is truncated: the end of the run is missing")
    if analysis is not None:
        degraded += capture_doubts(analysis)
        if bench is not None and bench.isolated:
            degraded += foreign_macs(analysis, handset, bench.router_macs)
    degraded += unread_flows([c.flow for c in contacts])
    degraded += problems
    line = timeline if isinstance(timeline, Timeline) or timeline is None else Timeline(timeline)
    if line is not None:
        for finding in judged_leaks:
            if finding.phase is None and finding.ts is not None:
                finding.phase = line.phase_at(finding.ts)
    lookups = [Lookup(q, c) for c in contacts for q in c.flow.dns_queries]
    geo_db = geo or default_database()
    ctx = Context(
        contacts,
        judged_leaks,
        identity,
        manifest,
        line,
        geo_db,
        infra,
        lookups,
        degraded,
        capture_start=min((f.first_ts for f in flows), default=None),
        phases=phases,
        names_from=names.sources,
        interception=interception,
        build=build,
    )
    verdicts, judged = assertions.judge(ctx)
    judged_regions = any(v.assertion == "regions" and v.result != "NOT_APPLICABLE" for v in verdicts)
    return Evaluation(
        verdicts,
        judged,
        worst(v.result for v in verdicts),
        handset.label(),
        handset.how,
        geo_db.version if judged_regions else None,
        warnings,
        sorted(by_id),
        infra.how,
        degraded,
        list(phases) if phases is not None else None,
        contacts,
        build.summary() if build is not None else None,
    )


def _handset_sent(finding: Finding, contacts: dict[int, Any], handset: Handset) -> bool:
    """The finding is about bytes the handset sent, in a flow it took part in, and is not the link
    address that DHCP carries by design to the bench's own DHCP server."""
    if finding.flow is None or finding.flow.id not in contacts:
        return False
    found = contacts[finding.flow.id]
    if finding.from_client is not None and not handset.sent(found.flow, finding.from_client):
        return False
    return not (found.infrastructure and finding.decode == LINK_ADDRESS_CHAIN)


def analyze_capture(
    captures: str | PathLike[str] | Sequence[str | PathLike[str]],
    *,
    identity: Identity,
    manifest: Manifest | None = None,
    handset: Handset | None = None,
    timeline: Timeline | Sequence[PhaseMarker] | None = None,
    drops: int | None = None,
    geo: GeoDatabase | None = None,
    limits: Limits | None = None,
    problems: Sequence[str] = (),
    phases: Sequence[str] | None = None,
    bench: BenchFacts | None = None,
    keylog: str | PathLike[str] | None = None,
    interception: Interception | None = None,
    build: BuildIdentity | None = None,
) -> tuple[Analysis, Evaluation]:
    """Analyzes capture files with leak detection in the same pass, then judges every assertion.

    ``keylog``: TLS secrets (SSLKEYLOGFILE) to decrypt TLS flows with, besides the capture's own.

    ``drops`` adds packets the bench knows were lost (e.g. kernel counters) to
    what the capture file itself records; when neither says, losses are unknown
    and every would-be PASS is INCONCLUSIVE. Raises
    ``phonehome.traffic.CaptureError`` for a file that is not a capture.
    """
    line = timeline if isinstance(timeline, Timeline) or timeline is None else Timeline(timeline)
    # Every byte is looked at, whichever side sent it: the handset's addresses are known in full only
    # after the analysis (its MAC's IPv6 addresses, the tunnels it carried), and the evaluation keeps
    # the findings of the bytes it sent.
    detector = LeakDetector(identity, limits=limits, phase_at=line.phase_at if line else None)
    analysis = analyze(captures, observer=detector, keylog=keylog)
    recorded = analysis.drops
    total = None if recorded is None and drops is None else (recorded or 0) + (drops or 0)
    evaluation = evaluate(analysis.flows, detector, identity=identity, manifest=manifest, handset=handset,
                          timeline=line, drops=total, truncated=analysis.truncated, geo=geo,
                          problems=problems, phases=phases, analysis=analysis, bench=bench,
                          interception=interception, build=build)  # fmt: skip
    return analysis, evaluation


def bench_facts(capture: Capture) -> BenchFacts:
    """What a bench's Capture says about its port, its router and its resolver."""
    answers = read_resolver_log(capture.resolver_log) if capture.resolver_log else []
    return BenchFacts(
        router_addresses=list(capture.router_addresses),
        router_macs=list(capture.router_macs),
        subnets=list(capture.subnets),
        resolver_answers=answers,
        isolated=capture.isolated,
        resolver_log=str(capture.resolver_log) if capture.resolver_log else None,
    )


def evaluate_capture(
    capture: Capture,
    *,
    identity: Identity,
    manifest: Manifest | None = None,
    problems: Sequence[str] = (),
    phases: Sequence[str] | None = None,
    geo: GeoDatabase | None = None,
    limits: Limits | None = None,
    build: BuildIdentity | None = None,
) -> tuple[Analysis, Evaluation]:
    """Judges a bench's `Capture`: its files, its handset (from the DHCP lease), its phase markers, its
    losses, its router and resolver.

    A capture that is not lossless (a tool dropped or missed frames, its counters are missing, or it
    reported a problem) can only give INCONCLUSIVE where it would have passed.
    """
    handset = None
    if capture.handset_mac or capture.handset_ip:
        handset = parse_handset(capture.handset_mac or capture.handset_ip or "")
        if capture.handset_ip:
            handset.addresses.add(capture.handset_ip)
        handset.how = "the bench's DHCP lease"
    counted = [d.dropped or 0 for d in capture.drops] + [d.missed or 0 for d in capture.drops]
    doubts = [*capture.problems, *problems]
    if not capture.lossless and not sum(counted) and not capture.problems:
        doubts.append("the capture tool's counters do not show the capture was lossless")
    return analyze_capture(
        [f.path for f in capture.files],
        identity=identity,
        manifest=manifest,
        handset=handset,
        timeline=capture.markers,
        drops=sum(counted),
        geo=geo,
        limits=limits,
        problems=doubts,
        phases=phases,
        bench=bench_facts(capture),
        interception=read_interception(capture.tls_records, capture.tls) if capture.tls_records else None,
        # The bench's TLS service logs the secrets of every connection it terminated: with them the
        # analyzer reads what the handset sent inside TLS from the capture itself.
        keylog=capture.tls_keylog if capture.tls_keylog and capture.tls_keylog.is_file() else None,
        build=build,
    )


__all__ = [
    "BenchFacts",
    "Evaluation",
    "Infrastructure",
    "analyze_capture",
    "bench_facts",
    "evaluate",
    "evaluate_capture",
]
