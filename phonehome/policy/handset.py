"""Which host in a capture is the handset: every flow it takes part in is judged, whoever opened it.

Given as ``--handset IP|MAC`` (or by the bench's DHCP lease), or inferred from
the flows, with the reason said in the output (a lab must see on what ground
the tool chose). The handset owns all its addresses: a MAC claims every address
it sent from or was sent to, and an IP-given handset also owns the addresses
its MAC used (its IPv6 link-local and SLAAC addresses beside its IPv4 lease).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from phonehome.policy.identity import normalize_mac
from phonehome.traffic.flow import Flow


@dataclass(slots=True)
class Handset:
    """The handset's addresses: IPs and hardware addresses (12 lower-case hex digits each)."""

    addresses: set[str] = field(default_factory=set)
    mac: str | None = None
    """The hardware address it was given or found by (12 lower-case hex digits)."""
    how: str = "given"
    macs: set[str] = field(default_factory=set)
    """Every hardware address that is the handset's (``mac`` and any its addresses were seen with)."""

    def __post_init__(self) -> None:
        if self.mac:
            self.macs.add(self.mac)
        self.addresses = {_canonical(a) for a in self.addresses}

    def is_mine(self, address: str | None, hw: str | None = None) -> bool:
        """An address (IP, or a link flow's MAC) or a frame's hardware address is the handset's."""
        if address is not None and (address in self.addresses or _mac(address) in self.macs):
            return True
        return hw is not None and _mac(hw) in self.macs

    def sent(self, flow: Flow, from_client: bool) -> bool:
        """Whether ``flow``'s bytes in that direction came from the handset (either side of any flow)."""
        if from_client:
            mine = self.is_mine(flow.src, flow.src_mac)
            outer = flow.tunnel.src if flow.tunnel else None
        else:
            mine = self.is_mine(flow.dst, flow.dst_mac)
            outer = flow.tunnel.dst if flow.tunnel else None
        return mine or (outer is not None and self.is_mine(outer))

    def owns(self, flow: Flow) -> bool:
        """The handset took part in the flow, on either side (or its tunnel carried it)."""
        return self.sent(flow, True) or self.sent(flow, False)

    def opened(self, flow: Flow) -> bool:
        """The handset is the flow's client (sent its first packet, or the SYN)."""
        return self.sent(flow, True)

    def label(self) -> str:
        parts = sorted(self.addresses)
        parts += [":".join(m[i : i + 2] for i in range(0, 12, 2)) for m in sorted(self.macs)]
        return ", ".join(parts) or "(none)"


def _mac(value: str | None) -> str | None:
    if not value or value.count(":") not in (0, 5):
        return None
    try:
        return normalize_mac(value)
    except ValueError:
        return None


def _canonical(address: str) -> str:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


def parse_handset(text: str) -> Handset:
    """``10.0.0.2``, ``fe80::1`` or ``AA:BB:CC:DD:EE:FF``; ValueError says what is expected."""
    value = text.strip()
    try:
        return Handset({str(ipaddress.ip_address(value))})
    except ValueError:
        pass
    if re.fullmatch(r"[0-9A-Fa-f]{2}([:\-]?[0-9A-Fa-f]{2}){5}", value):
        return Handset(mac=normalize_mac(value))
    raise ValueError(f"--handset takes an IP address or a MAC address, got {text!r}")


_UNSPECIFIED = {"0.0.0.0", "::"}  # noqa: S104  (the source of a DHCP discover, not a bind)


def resolve(handset: Handset, flows: Sequence[Flow], router_macs: Sequence[str] = ()) -> Handset:
    """Grows the handset to every address and hardware address that is provably its own.

    An IP's hardware address is taken from the frames that address sent (unless it is the router's,
    which sends on behalf of every remote host); every address that hardware address then sent from
    or was sent to is the handset's as well.
    """
    routers = {m for m in (_mac(r) for r in router_macs) if m}
    for _ in range(3):  # an IP gives a MAC gives more IPs; a few rounds settle it
        before = (len(handset.addresses), len(handset.macs))
        for flow in flows:
            if flow.proto.startswith("link-"):
                continue
            for address, hw in ((flow.src, flow.src_mac), (flow.dst, flow.dst_mac)):
                mac = _mac(hw)
                if mac is None or mac in routers:
                    continue
                if mac in handset.macs and address not in _UNSPECIFIED and not _multicast(address):
                    handset.addresses.add(address)
                elif address in handset.addresses and _sole_sender(flows, address, mac, routers):
                    handset.macs.add(mac)
        if (len(handset.addresses), len(handset.macs)) == before:
            break
    if handset.mac is None and len(handset.macs) == 1:
        handset.mac = next(iter(handset.macs))
    return handset


def _multicast(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_multicast or address.endswith(".255")


def _sole_sender(flows: Sequence[Flow], address: str, mac: str, routers: set[str]) -> bool:
    """``mac`` is the only non-router hardware address ``address`` sent from (so it is that host's).

    Only flows in which the address sent packets count: a frame addressed *to* it names whatever
    the sender chose, which a forger picks to muddle the handset's MAC.
    """
    seen = _sent_from(flows, address) - routers
    return seen == {mac}


def _sent_from(flows: Sequence[Flow], address: str) -> set[str]:
    """Hardware addresses of the flows in which ``address`` sent packets, as their first frame shows."""
    seen: set[str] = set()
    for flow in flows:
        if flow.src == address and flow.src_mac and flow.packets_c2s:
            seen.add(_mac(flow.src_mac) or "")
        if flow.dst == address and flow.dst_mac and flow.packets_s2c:
            seen.add(_mac(flow.dst_mac) or "")
    seen.discard("")
    return seen


def infer(flows: Sequence[Flow]) -> Handset | None:
    """The address that opened the most flows to the Internet (a bench has one handset behind its router).

    Flows to private or multicast destinations (DHCP, mDNS, the bench's DNS) are not counted, so the
    router answering them is not mistaken for the handset; if nothing went out, all flows count.
    """

    def outbound(flow: Flow) -> bool:
        try:
            return ipaddress.ip_address(flow.dst).is_global
        except ValueError:
            return False

    def anywhere(_flow: Flow) -> bool:
        return True

    ip_flows = [f for f in flows if not f.proto.startswith("link-")]
    for selected, scope in ((outbound, "to public addresses"), (anywhere, "in the capture")):
        counts = Counter(f.src for f in ip_flows if selected(f) and f.src not in _UNSPECIFIED)
        if counts:
            (best, count), *rest = counts.most_common()
            total = sum(counts.values())
            how = f"inferred: {best} opened {count} of {total} flows {scope}"
            if rest:
                how += f" (next: {rest[0][0]} with {rest[0][1]}; pass --handset if that is the handset)"
            votes = Counter(
                _mac(f.src_mac) for f in ip_flows if f.src == best and f.src_mac and f.packets_c2s
            )
            votes.pop(None, None)
            ranked = votes.most_common(2)
            mac = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
            return Handset({best}, mac, how)
    return None
