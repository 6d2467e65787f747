"""The policy's entry point: flows (+ leak findings) + identity + manifest + timeline -> verdicts.

    detector = LeakDetector(identity, sends=handset.sent if handset else client_sends)
    analysis = phonehome.traffic.analyze(paths, observer=detector)
    result = evaluate(analysis.flows, detector, identity=identity, manifest=manifest, ...)

or, for captures on disk, :func:`phonehome.policy.analyze_capture` does both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from phonehome.policy.decode import Limits
from phonehome.policy.findings import Finding, Result, Verdict
from phonehome.policy.geo import GeoDatabase, default_database
from phonehome.policy.handset import Handset, infer, parse_handset, resolve
from phonehome.policy.identity import Identity
from phonehome.policy.leaks import LeakDetector, client_sends
from phonehome.policy.manifest import Manifest
from phonehome.policy.verdicts import Context, judge, overall
from phonehome.traffic import Analysis, analyze
from phonehome.traffic.capture import Capture
from phonehome.traffic.flow import Flow
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
    """Ids of the flows the handset opened (the ones judged)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "handset": {"addresses": self.handset, "how": self.handset_how},
            "geo_database": self.geo_database,
            "verdicts": [v.to_json() for v in self.verdicts],
            "findings": [f.to_json() for f in self.findings],
            "policy_warnings": list(self.warnings),
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
) -> Evaluation:
    """Judges every assertion over the handset's flows.

    ``drops`` is the capture's dropped-packet count (None: the capture format
    does not say; treated as unknown, not as zero), ``truncated`` whether the
    capture file ended early, ``problems`` what else undermines the run (a
    capture tool that died, a bench that was not isolated). Any of them makes
    every would-be PASS INCONCLUSIVE. ``phases`` are those the run's scenario
    set out to cover (consent is NOT_APPLICABLE when they leave it out).
    """
    warnings = identity.warnings()
    if handset is None:
        handset = infer(flows) or Handset(how="no flows in the capture: no handset to infer")
    else:
        handset = resolve(handset, flows)
    own = [f for f in flows if handset.owns(f)]
    own_ids = {f.id for f in own}
    found = leaks.finish(flows) if isinstance(leaks, LeakDetector) else list(leaks)
    findings = []
    for finding in found:
        if finding.flow is None or finding.flow.id not in own_ids:
            continue
        if (
            finding.flow.proto == "udp"
            and {finding.flow.sport, finding.flow.dport} & {67, 68}
            and finding.identifier in ("wifi_mac", "bt_mac")
        ):
            continue  # DHCP carries the MAC by design (RFC 2131 chaddr): the link already shows it
        findings.append(finding)
    degraded = []
    if drops:
        degraded.append(f"the capture dropped {drops} packets: what the handset sent may be missing")
    if truncated:
        degraded.append("the capture file is truncated: the end of the run is missing")
    degraded += problems
    line = timeline if isinstance(timeline, Timeline) or timeline is None else Timeline(timeline)
    if line is not None:
        for finding in findings:
            if finding.phase is None and finding.ts is not None:
                finding.phase = line.phase_at(finding.ts)
    geo_db = geo or default_database()
    ctx = Context(
        own,
        findings,
        identity,
        manifest,
        line,
        geo_db,
        capture_start=min((f.first_ts for f in flows), default=None),
        degraded=degraded,
        phases=phases,
    )
    verdicts, judged = judge(ctx)
    judged_regions = any(v.assertion == "regions" and v.result != "NOT_APPLICABLE" for v in verdicts)
    return Evaluation(
        verdicts,
        judged,
        overall(verdicts),
        handset.label(),
        handset.how,
        geo_db.version if judged_regions else None,
        warnings,
        sorted(own_ids),
    )


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
) -> tuple[Analysis, Evaluation]:
    """Analyzes capture files with leak detection in the same pass, then judges every assertion.

    ``drops`` adds packets the bench knows were lost (e.g. kernel counters)
    to what the capture file itself records. Raises
    ``phonehome.traffic.CaptureError`` for a file that is not a capture.
    """
    line = timeline if isinstance(timeline, Timeline) or timeline is None else Timeline(timeline)
    detector = LeakDetector(identity, sends=handset.sent if handset else client_sends, limits=limits,
                            phase_at=line.phase_at if line else None)  # fmt: skip
    analysis = analyze(captures, observer=detector)
    recorded = analysis.drops
    total = (recorded or 0) + (drops or 0)
    evaluation = evaluate(analysis.flows, detector, identity=identity, manifest=manifest, handset=handset,
                          timeline=line, drops=total, truncated=analysis.truncated, geo=geo,
                          problems=problems, phases=phases)  # fmt: skip
    if recorded is None and drops is None:
        evaluation.warnings.append("the capture does not record dropped packets (pcap, or pcapng without "
                                   "interface statistics); pass the bench's drop count to be sure none were lost")  # fmt: skip
    return analysis, evaluation


def evaluate_capture(
    capture: Capture,
    *,
    identity: Identity,
    manifest: Manifest | None = None,
    problems: Sequence[str] = (),
    phases: Sequence[str] | None = None,
    geo: GeoDatabase | None = None,
    limits: Limits | None = None,
) -> tuple[Analysis, Evaluation]:
    """Judges a bench's `Capture`: its files, its handset (from the DHCP lease), its phase markers, its losses.

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
    )
