"""Which app owned a flow: the handset's own socket tables joined with the capture's flows.

The handset's kernel lists every open socket with the uid that owns it
(``/proc/net/tcp*``, ``udp*``). A socket seen with the same protocol, the
handset's address and port and the remote address and port as a flow, while
the flow was alive, owned it; the build's package list names the uid. This is
evidence for people only: no assertion reads it, so an app that lies about
itself (or a table the handset will not show) can never change a verdict.
Nothing is attributed by destination, name or habit: unknown stays unknown.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from phonehome.policy.build import Package
from phonehome.traffic.flow import Flow

PER_USER_RANGE = 100000
"""Android uid = user id * 100000 + app id (AOSP ``UserHandle.PER_USER_RANGE``)."""
FIRST_APPLICATION_UID = 10000
SYSTEM_UIDS = {
    0: "root",
    1000: "system",
    1001: "radio",
    1002: "bluetooth",
    1010: "wifi",
    1013: "media",
    1014: "dhcp",
    1020: "mdnsr",
    1021: "gps",
    1051: "dns",
    1052: "dns_tether",
    1066: "statsd",
    1073: "network_stack",
    2000: "shell",
    9999: "nobody",
}
"""Fixed Android ids (AOSP ``android_filesystem_config.h``): named even when no package holds them."""
TIME_WAIT = "06"
"""A TIME_WAIT entry's uid is always 0 (the kernel's timewait sock keeps no owner): never evidence."""
SLACK_S = 2.0
"""How long after a socket's last sighting its flow may still start: a poll every second and the shell
call's own latency."""
AFTER_S = 5.0
"""How long after a flow's last packet its socket may first be seen: a closed TCP socket stays listed
with its uid while it waits in FIN_WAIT (a virtual handset keeps closed sockets listed 3 s), and polls
come a second apart."""
WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104  (addresses read, never bound)

How = Literal["connected", "bound-port"]


@dataclass(frozen=True, slots=True)
class SocketSighting:
    """One socket the handset's tables listed, over the polls that saw it."""

    proto: str
    """``tcp`` or ``udp``."""
    local: str
    """The handset's address (canonical text; an IPv4-mapped IPv6 address as its IPv4 one)."""
    lport: int
    remote: str
    """``0.0.0.0`` / ``::`` for a socket with no peer (unconnected UDP, listening TCP)."""
    rport: int
    uid: int
    state: str
    """The table's two hex digits (``01`` ESTABLISHED, ``0A`` LISTEN, ``07`` UDP unconnected...)."""
    inode: int
    first_seen: float
    """Host UTC (epoch seconds) of the first poll that listed it: comparable with capture times."""
    last_seen: float
    handset_first_seen: float | None = None
    """The handset's own clock at that poll (``date +%s``), None where it did not say."""
    handset_last_seen: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SocketSighting:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


@dataclass(frozen=True, slots=True)
class FlowOwner:
    """The app a flow belonged to, as the handset's socket table told it."""

    flow_id: int
    uid: int
    packages: tuple[str, ...]
    """Every package with that uid (a shared uid has several); empty when the build lists none."""
    name: str | None
    """The fixed Android id's name (``system``, ``root``...), when it is one."""
    how: How
    """``connected``: a socket with the flow's full 5-tuple; ``bound-port``: the only uid with a socket
    bound to the handset's port and no peer (an unconnected UDP socket)."""
    first_seen: float
    last_seen: float

    @property
    def user(self) -> int:
        return self.uid // PER_USER_RANGE

    def text(self) -> str:
        """``com.qualcomm.qti.autoregistration (uid 10123)``, as a report says it."""
        who = ", ".join(self.packages) or self.name or "an app the build's package list does not name"
        return f"{who} (uid {self.uid})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "packages": list(self.packages), "user": self.user, "text": self.text()}


@dataclass
class Attribution:
    """Owners of the flows that have one, and the flows whose candidates disagreed (left unknown)."""

    owners: dict[int, FlowOwner]
    conflicts: dict[int, tuple[int, ...]]
    """Flow id -> the different uids whose sockets matched it: no owner is chosen among them."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "flows": {str(k): v.to_dict() for k, v in sorted(self.owners.items())},
            "conflicts": {str(k): list(v) for k, v in sorted(self.conflicts.items())},
        }


def canonical(address: str) -> str:
    """Compressed text; an IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def packages_by_uid(packages: Iterable[Package]) -> dict[int, tuple[str, ...]]:
    """App id -> package names (all of a shared uid), from the build's ``pm list packages -U``."""
    out: dict[int, list[str]] = {}
    for package in packages:
        for uid in package.uids:
            out.setdefault(uid % PER_USER_RANGE, []).append(package.name)
    return {uid: tuple(sorted(set(names))) for uid, names in out.items()}


def _overlaps(sighting: SocketSighting, flow: Flow, slack: float) -> bool:
    """The socket was listed while the flow could still be on it (a port reused later is another's)."""
    return (
        sighting.first_seen - max(slack, AFTER_S) <= flow.last_ts
        and flow.first_ts <= sighting.last_seen + slack
    )


def _sides(flow: Flow) -> tuple[tuple[str, int, str, int], tuple[str, int, str, int]]:
    """The flow as its client sees it and as its server sees it: (local, lport, remote, rport)."""
    src, dst = canonical(flow.src), canonical(flow.dst)
    return (src, flow.sport, dst, flow.dport), (dst, flow.dport, src, flow.sport)


def candidates(
    flow: Flow, sightings: Sequence[SocketSighting], handset: Collection[str], slack: float = SLACK_S
) -> tuple[How, list[SocketSighting]] | None:
    """The sightings that owned ``flow``: its exact 5-tuple first; else, for UDP, a socket bound to the
    handset's side's port with no peer. None when nothing matched."""
    if flow.proto not in ("tcp", "udp"):
        return None
    live = [
        s for s in sightings if s.proto == flow.proto and s.state != TIME_WAIT and _overlaps(s, flow, slack)
    ]
    exact = [s for s in live if (s.local, s.lport, s.remote, s.rport) in _sides(flow)]
    if exact:
        return "connected", exact
    mine = {canonical(a) for a in handset}
    bound = [
        s
        for s in live
        if flow.proto == "udp" and s.remote in WILDCARDS and s.rport == 0
        for local, lport, _, _ in _sides(flow)
        if local in mine and s.lport == lport and (s.local in WILDCARDS or s.local == local)
    ]
    return ("bound-port", bound) if bound else None


def attribute(
    flows: Iterable[Flow],
    sightings: Sequence[SocketSighting],
    packages: Iterable[Package] = (),
    handset: Collection[str] = (),
    slack: float = SLACK_S,
) -> Attribution:
    """Each flow's owner where the handset's tables name exactly one uid for it.

    ``handset``: the handset's addresses, which an unconnected socket's wildcard address stands for."""
    names = packages_by_uid(packages)
    result = Attribution({}, {})
    for flow in flows:
        found = candidates(flow, sightings, handset, slack)
        if found is None:
            continue
        how, matched = found
        uids = tuple(sorted({s.uid for s in matched}))
        if len(uids) != 1:
            result.conflicts[flow.id] = uids
            continue
        uid = uids[0]
        result.owners[flow.id] = FlowOwner(
            flow_id=flow.id,
            uid=uid,
            packages=names.get(uid % PER_USER_RANGE, ()),
            name=SYSTEM_UIDS.get(uid % PER_USER_RANGE),
            how=how,
            first_seen=min(s.first_seen for s in matched),
            last_seen=max(s.last_seen for s in matched),
        )
    return result
