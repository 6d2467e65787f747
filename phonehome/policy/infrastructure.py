"""The bench's own services: the only traffic a manifest need not declare.

Only the handset's DHCP and plain DNS to the bench router (its addresses, its
subnets' broadcast, the DHCP all-servers addresses) is infrastructure: not any
port 53, 67 or 547, not any address ending in .255 (DESIGN.md rule 7: only the
bench's own services are exempt). A bench says which addresses are its own
(`BenchFacts`, from the `Capture`); a capture from elsewhere is read for the
DHCP server's own offer (server identifier, router, DNS servers); failing that,
a resolver on the handset's own link that answered its queries is taken for
the router, and the evaluation says on what ground.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phonehome.policy.handset import Handset
from phonehome.traffic.flow import Flow

DHCP_BROADCASTS = frozenset({"255.255.255.255", "ff02::1:2", "ff05::1:3"})
"""Where DHCP clients send before they know a server (RFC 2131 4.1, RFC 8415 7.1)."""
DHCP_PORTS = {"dhcp": (67, 68), "dhcpv6": (547, 546)}
"""(server port, client port) per DHCP version."""


@dataclass(frozen=True, slots=True)
class ResolverAnswer:
    """One answer the bench's own resolver says it gave (its log): the authority on what an address named."""

    ts: float
    client: str
    name: str
    addresses: tuple[str, ...]


@dataclass(slots=True)
class BenchFacts:
    """What a bench knows about the port it captured (copied from the `Capture`)."""

    router_addresses: list[str] = field(default_factory=list)
    router_macs: list[str] = field(default_factory=list)
    subnets: list[str] = field(default_factory=list)
    resolver_answers: list[ResolverAnswer] = field(default_factory=list)
    isolated: bool = True
    resolver_log: str | None = None
    """Where the answers were read from (for the evaluation's record)."""


def read_resolver_log(path: Path) -> list[ResolverAnswer]:
    """The bench resolver's JSON Lines log; lines that are not answers are skipped (the bench wrote it)."""
    out = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            addresses = tuple(_canonical(a) for a in entry.get("answers", []) if _canonical(a))
            if addresses:
                out.append(
                    ResolverAnswer(
                        float(entry["ts"]),
                        str(entry["client"]),
                        str(entry["name"]).lower().rstrip("."),
                        addresses,
                    )
                )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def _canonical(address: object) -> str:
    try:
        return ipaddress.ip_address(str(address)).compressed
    except ValueError:
        return ""


@dataclass(slots=True)
class Infrastructure:
    """The router's DHCP and DNS service, as far as it is known, and how it was learned."""

    addresses: set[str] = field(default_factory=set)
    """The router's, DHCP server's and resolver's addresses."""
    broadcasts: set[str] = field(default_factory=set)
    """The port subnets' broadcast addresses."""
    how: str = "unknown: no bench facts and no DHCP offer in the capture"
    known: bool = False
    """Addresses came from the bench or the DHCP server, not from a guess."""

    def resolver(self, address: str) -> bool:
        return address in self.addresses

    def serves_dhcp(self, flow: Flow, peer: str, peer_port: int) -> bool:
        """Real DHCP messages (they decoded) between the handset and the router or the DHCP broadcast."""
        if flow.proto != "udp" or not flow.dhcp or flow.app not in DHCP_PORTS:
            return False
        server, client = DHCP_PORTS[flow.app]
        if {flow.sport, flow.dport} != {server, client}:
            return False
        return peer_port == server and (
            peer in self.addresses or peer in self.broadcasts or peer in DHCP_BROADCASTS
        )

    def serves_dns(self, flow: Flow, peer: str, peer_port: int) -> bool:
        """Plain DNS (it decoded as DNS) to the router's resolver on port 53."""
        return (
            flow.proto in ("udp", "tcp")
            and flow.app == "dns"
            and peer_port == 53
            and peer in self.addresses
            and not flow.cleartext_in_tls
        )


def infrastructure(
    flows: Sequence[Flow], handset: Handset, bench: BenchFacts | None = None
) -> Infrastructure:
    """The bench's service addresses: from the bench, else from DHCP offers, else a guess from DNS."""
    if bench is not None and bench.router_addresses:
        broadcasts = set()
        for subnet in bench.subnets:
            try:
                net = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                continue
            if net.version == 4:
                broadcasts.add(str(net.broadcast_address))
        return Infrastructure(
            {_canonical(a) for a in bench.router_addresses if _canonical(a)},
            broadcasts,
            "the bench's router: " + ", ".join(bench.router_addresses),
            True,
        )
    offered: dict[str, None] = {}
    for flow in flows:
        for message in flow.dhcp:
            sender_is_handset = handset.sent(flow, message.from_client)
            if sender_is_handset:
                continue
            for address in (message.server_id, *message.routers, *message.dns_servers):
                if address and _canonical(address):
                    offered[_canonical(address)] = None
    if offered:
        return Infrastructure(set(offered), set(), "the DHCP server's offer: " + ", ".join(offered), True)
    guessed = _local_resolvers(flows, handset)
    if guessed:
        return Infrastructure(
            guessed,
            set(),
            "guessed: " + ", ".join(sorted(guessed)) + " answered the handset's DNS from its own link "
            "(no bench facts, no DHCP offer in the capture)",
            False,
        )
    return Infrastructure()


def _local_resolvers(flows: Iterable[Flow], handset: Handset) -> set[str]:
    """Resolvers on the handset's own subnet (a /24, or IPv6 link-local/its /64) that answered its DNS."""
    mine = [ipaddress.ip_address(a) for a in handset.addresses if _canonical(a)]
    out = set()
    for flow in flows:
        if flow.app != "dns" or flow.proto not in ("udp", "tcp"):
            continue
        if flow.src in handset.addresses and flow.dport == 53 and flow.packets_s2c:
            server = flow.dst
        elif flow.dst in handset.addresses and flow.sport == 53 and flow.packets_c2s:
            server = flow.src
        else:
            continue
        try:
            ip = ipaddress.ip_address(server)
        except ValueError:
            continue
        if not ip.is_private or ip.is_loopback or ip.is_multicast or ip.is_unspecified:
            continue
        for own in mine:
            if own.version != ip.version:
                continue
            if (ip.version == 6 and (ip.is_link_local or ip.exploded[:19] == own.exploded[:19])) or (
                ip.version == 4 and int(ip) >> 8 == int(own) >> 8
            ):
                out.add(ip.compressed)
    return out


def is_ptr_name(name: str) -> bool:
    """Exactly the reverse-lookup name of one address (``4.3.2.1.in-addr.arpa``, 32 nibbles ``.ip6.arpa``)."""
    labels = name.lower().rstrip(".").split(".")
    if labels[-2:] == ["in-addr", "arpa"] and len(labels) == 6:
        return all(_octet(label) for label in labels[:4])
    if labels[-2:] == ["ip6", "arpa"] and len(labels) == 34:
        return all(len(label) == 1 and label in "0123456789abcdef" for label in labels[:32])
    return False


def _octet(label: str) -> bool:
    return label.isdigit() and label.isascii() and str(int(label)) == label and int(label) <= 255
