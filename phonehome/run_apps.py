"""A compliance run's app attribution: the handset's socket tables polled during the scenario, joined
with the analyzed flows into ``apps.json``.

Evidence for people, never for verdicts: nothing in the policy reads it, so a
handset that hides or forges its tables changes what the report says about an
app, never a PASS or FAIL (the judged bytes are the capture's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from phonehome.policy.owners import Attribution, attribute

if TYPE_CHECKING:
    from phonehome.device.reader import Shell
    from phonehome.device.sockets import SocketLog, SocketPoller
    from phonehome.policy.build import BuildIdentity
    from phonehome.traffic.capture import Capture
    from phonehome.traffic.flow import Flow

SOURCE = "/proc/net/tcp, tcp6, udp, udp6 over adb shell, polled about once a second"


def poller(source: Callable[[], Shell | None]) -> SocketPoller:
    """The socket poller a run starts with its scenario (``source``: the handset, once connected)."""
    from phonehome.device.sockets import SocketPoller  # noqa: PLC0415

    return SocketPoller(source)


def handset_addresses(capture: Capture | None, flows: Iterable[Flow]) -> set[str]:
    """The handset's IP addresses: its lease's, and every address its hardware address sent from."""
    if capture is None:
        return set()
    found = {capture.handset_ip} if capture.handset_ip else set()
    mac = _mac(capture.handset_mac)
    if mac:
        for flow in flows:
            if _mac(flow.src_mac) == mac:
                found.add(flow.src)
            if _mac(flow.dst_mac) == mac:
                found.add(flow.dst)
    return found


def _mac(text: str | None) -> str:
    return "".join(c for c in (text or "").lower() if c in "0123456789abcdef")


def apps_record(
    run_id: str,
    log: SocketLog | None,
    flows: list[Flow],
    build: BuildIdentity | None,
    capture: Capture | None,
) -> tuple[Attribution, dict[str, Any]]:
    """The flows' owners and ``apps.json``'s document (what was polled, what it showed, what it named)."""
    sightings = log.sightings() if log is not None else []
    judged = attribute(flows, sightings, build.packages if build else (), handset_addresses(capture, flows))
    notes = list(log.notes) if log is not None else ["the handset's socket tables were not polled"]
    if build is None and judged.owners:
        notes.append("the build's package list was not read: owners are named by uid only")
    doc = {
        "run_id": run_id,
        "source": SOURCE,
        "polls": log.polls if log is not None else 0,
        "notes": notes,
        **judged.to_dict(),
        "sockets": [s.to_dict() for s in sightings],
        "sockets_dropped": log.dropped if log is not None else 0,
    }
    return judged, doc
