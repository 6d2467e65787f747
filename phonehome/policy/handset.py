"""Which host in a capture is the handset: only what it sends counts.

Given as ``--handset IP|MAC``, or inferred from the flows, with the reason
said in the output (a lab must see on what ground the tool chose).
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
    """The handset's addresses: an IP, a MAC, or both (a MAC also claims the IPs it used)."""

    addresses: set[str] = field(default_factory=set)
    mac: str | None = None
    """12 lower-case hex digits."""
    how: str = "given"

    def sent(self, flow: Flow, from_client: bool) -> bool:
        """Whether ``flow``'s bytes in that direction came from the handset."""
        if from_client:
            return flow.src in self.addresses or (self.mac is not None and _mac(flow.src_mac) == self.mac)
        return flow.dst in self.addresses

    def owns(self, flow: Flow) -> bool:
        """The handset opened the flow."""
        return self.sent(flow, True)

    def label(self) -> str:
        parts = sorted(self.addresses)
        if self.mac:
            parts.append(":".join(self.mac[i : i + 2] for i in range(0, 12, 2)))
        return ", ".join(parts) or "(none)"


def _mac(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalize_mac(value)
    except ValueError:
        return None


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


def resolve(handset: Handset, flows: Sequence[Flow]) -> Handset:
    """Adds the IPs a MAC-given handset used, so flows to it (as a server) count too."""
    if handset.mac:
        handset.addresses |= {
            f.src for f in flows if _mac(f.src_mac) == handset.mac and f.src not in _UNSPECIFIED
        }
    return handset


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

    for selected, scope in ((outbound, "to public addresses"), (anywhere, "in the capture")):
        counts = Counter(f.src for f in flows if selected(f) and f.src not in _UNSPECIFIED)
        if counts:
            (best, count), *rest = counts.most_common()
            total = sum(counts.values())
            how = f"inferred: {best} opened {count} of {total} flows {scope}"
            if rest:
                how += f" (next: {rest[0][0]} with {rest[0][1]}; pass --handset if that is the handset)"
            macs = {f.src_mac for f in flows if f.src == best and f.src_mac}
            return Handset({best}, _mac(next(iter(macs))) if len(macs) == 1 else None, how)
    return None
