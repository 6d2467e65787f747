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
    from phonehome.device import AdbServer, Handset
    from phonehome.device.reader import Shell
    from phonehome.device.sockets import SocketLog, SocketPoller
    from phonehome.links import AdbLink, VirtualLink
    from phonehome.policy.build import BuildIdentity
    from phonehome.traffic.capture import Capture
    from phonehome.traffic.flow import Flow

SOURCE = "/proc/net/tcp, tcp6, udp, udp6 over adb shell, polled about once a second"


CONNECT_S = 1.0
"""How long one poll waits for the handset to be on the adb server (it may be off, rebooting, in setup)."""


class OwnConnection:
    """The poller's own connection to the run's handset, apart from the scenario's (which it must not
    disturb): made once the handset is on ADB, made again after a poll failed (a reboot)."""

    def __init__(self, serial: Callable[[], str | None], server: AdbServer) -> None:
        self.serial = serial
        """The adb serial to connect to now, None while the handset cannot be on ADB (switched off)."""
        self.server = server
        self.handset: Handset | None = None

    def __call__(self) -> Shell | None:
        if self.handset is None:
            from phonehome.device import DeviceError, Handset  # noqa: PLC0415

            serial = self.serial()
            if serial is None:
                return None
            try:
                self.handset = Handset.connect(serial, self.server, timeout=CONNECT_S)
            except DeviceError:
                return None
        return self.handset

    def lost(self) -> None:
        self.handset = None


def poller(link: AdbLink | VirtualLink) -> SocketPoller:
    """The socket poller a run starts with its scenario, on its own connection to ``link``'s handset
    (another kind of link, a test's: the handset the scenario connected, once it did)."""
    from phonehome.device.sockets import SocketPoller  # noqa: PLC0415
    from phonehome.links import AdbLink, VirtualLink  # noqa: PLC0415

    if isinstance(link, VirtualLink):
        virtual = link

        def serial() -> str | None:
            return virtual.virtual.adb_serial if virtual.online() else None
    elif isinstance(link, AdbLink):
        adb = link

        def serial() -> str | None:  # a user build's ADB exists only once the scenario reached it
            return adb.serial if adb.adb_mode == "at-boot" or adb.handset is not None else None
    else:
        return SocketPoller(lambda: link.handset)
    own = OwnConnection(serial, link.server)
    return SocketPoller(own, lost=own.lost)


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
