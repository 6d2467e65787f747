"""Doubt from the capture itself: packets the analyzer could not read, a clock that stepped, a stranger.

Counters nobody reads are how a false PASS hides (DESIGN.md rule 6): every
packet that did not decode, every datagram the snap length cut, every backward
step of the capture's clock and every hardware address on an isolated port that
is neither the handset's nor the router's becomes a reason the verdicts say.
"""

from __future__ import annotations

from collections.abc import Sequence

from phonehome.policy.handset import Handset, _mac
from phonehome.traffic.analysis import Analysis
from phonehome.traffic.flow import Flow


def capture_doubts(analysis: Analysis) -> list[str]:
    """What the analyzer could not read in full."""
    stats = analysis.stats
    out = []
    if stats.malformed:
        total = sum(stats.malformed.values())
        reasons = ", ".join(f"{reason} x{count}" for reason, count in sorted(stats.malformed.items())[:6])
        out.append(
            f"{total} packets or messages could not be decoded ({reasons}): their bytes were not judged"
        )
    if stats.snaplen_cut_packets:
        out.append(
            f"{stats.snaplen_cut_packets} packets were captured shorter than sent (snap length): their ends "
            "are missing"
        )
    if stats.truncated_fragments:
        out.append(
            f"{stats.truncated_fragments} IP fragments were cut or never completed: datagrams are missing"
        )
    if stats.clock_steps:
        out.append(
            f"the capture's clock stepped back {stats.clock_steps} time(s) (up to {stats.largest_clock_step:.1f} s): "
            "packets may sit in the wrong phase"
        )
    if stats.unsupported_link_types:
        kinds = ", ".join(map(str, stats.unsupported_link_types))
        out.append(f"frames of link type {kinds} could not be read")
    return out


def foreign_macs(analysis: Analysis, handset: Handset, router_macs: Sequence[str]) -> list[str]:
    """Hardware addresses on an isolated port that are neither the handset's nor the router's."""
    known = set(handset.macs) | {m for m in (_mac(r) for r in router_macs) if m}
    strangers = []
    for mac, frames in analysis.macs.items():
        canonical = _mac(mac)
        if canonical is None or canonical in known:
            continue
        strangers.append((canonical, frames))
    if not strangers:
        return []
    first, frames = strangers[0]
    pretty = ":".join(first[i : i + 2] for i in range(0, 12, 2))
    return [
        f"{len(strangers)} hardware address(es) other than the handset's and the router's sent on this "
        f"isolated port (first: {pretty}, {frames} frames): the capture is not of one handset's world"
    ]


def unread_flows(flows: Sequence[Flow]) -> list[str]:
    """The handset's flows that a parser or decoder left partly unread (``Flow.uninspected``)."""
    partial = [f for f in flows if f.uninspected]
    if not partial:
        return []
    first = partial[0]
    where = f"{first.proto} {first.src}:{first.sport} -> {first.dst}:{first.dport}"
    return [
        f"{len(partial)} flow(s) of the handset were not read in full (first: {where}: "
        f"{first.uninspected[0]}): what they carried there was not judged"
    ]
