"""What the assertions judge: every flow the handset took part in, seen from the handset.

A `Contact` is one flow from the handset's side: who the peer was (whoever
opened the flow), what the bench's resolver had named the peer's address,
which names the handset claimed, and which declared endpoints, if any, the
destination is. Every assertion reads the same contacts, so no assertion can
see a different world from another.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from phonehome.policy.build import BuildIdentity
from phonehome.policy.destination import Names
from phonehome.policy.findings import Finding, escape
from phonehome.policy.geo import GeoDatabase
from phonehome.policy.handset import Handset
from phonehome.policy.identity import Identity
from phonehome.policy.infrastructure import Infrastructure
from phonehome.policy.manifest import Endpoint, Manifest
from phonehome.traffic.flow import DnsQuery, Flow, NameClaim
from phonehome.traffic.interception import Interception
from phonehome.traffic.naming import is_ip_literal
from phonehome.traffic.timeline import Timeline

ARP, EAPOL = "link-0x0806", "link-0x888e"
# IPv6 neighbour discovery (RFC 4861: RS, RA, NS, NA, redirect) and multicast listener reports/queries
# (RFC 2710, RFC 3810): the kernel's link plumbing, sent whatever the firmware wants.
ND_MLD_TYPES = frozenset({130, 131, 132, 133, 134, 135, 136, 137, 143})


@dataclass(slots=True)
class Contact:
    """One flow as the handset saw it: its peer, the peer's name if the resolver gave one, the verdict's
    view of where it went."""

    flow: Flow
    peer: str
    """The other side's address (for a flow without IP, its hardware address)."""
    peer_port: int
    local_port: int
    opened: bool
    """The handset opened the flow (it is the flow's client)."""
    names: list[str] = field(default_factory=list)
    """Names the bench's resolver gave the handset for ``peer`` before the flow began."""
    claims: list[NameClaim] = field(default_factory=list)
    """Names the handset itself wrote into the flow (only when it opened it)."""
    destinations: list[str] = field(default_factory=list)
    """The names the flow is judged as: resolver names consistent with the claims (none: the address)."""
    endpoints: list[Endpoint] = field(default_factory=list)
    """The declared endpoints the destination is (one per destination name, or the address's)."""
    declared: bool = False
    why: str = ""
    """Why the destination is not declared, for a finding (empty when declared or no manifest)."""
    undeclared_claims: list[NameClaim] = field(default_factory=list)
    """Claimed names the manifest does not declare for this port and protocol."""
    infrastructure: bool = False
    """The bench's own DHCP or DNS service."""
    plumbing: bool = False
    """Link plumbing the kernel sends (ARP, IPv6 neighbour discovery, MLD)."""

    @property
    def proto(self) -> str:
        return self.flow.proto

    @property
    def label(self) -> str:
        """``name:port/proto`` or ``address:port/proto``, escaped, for findings."""
        name = self.destinations[0] if self.destinations else self.peer
        return f"{escape(name, 120)}:{self.peer_port}/{self.flow.proto}"

    @property
    def exempt(self) -> bool:
        """Neither declared-endpoints nor consent nor regions judge it (the bench's own, or link plumbing)."""
        return self.infrastructure or self.plumbing

    @property
    def encrypted(self) -> bool:
        return self.flow.transport in ("tls", "quic") and not self.flow.cleartext_in_tls

    @property
    def local(self) -> tuple[str, int]:
        """The handset's own address and port on this flow."""
        flow = self.flow
        return (flow.src, flow.sport) if self.opened else (flow.dst, flow.dport)

    @property
    def fully_decrypted(self) -> bool:
        """The lab decrypted every record of it (a key log): what it carried was judged."""
        flow = self.flow
        return flow.decrypted and not any("decryption" in item for item in flow.uninspected)


@dataclass(slots=True)
class Lookup:
    """A DNS question the handset asked."""

    query: DnsQuery
    contact: Contact


@dataclass(slots=True)
class Context:
    """Everything the assertions judge, for one run."""

    contacts: list[Contact]
    leaks: list[Finding]
    identity: Identity
    manifest: Manifest | None
    timeline: Timeline | None
    geo: GeoDatabase
    infrastructure: Infrastructure
    lookups: list[Lookup] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    """Why no PASS can be trusted at all (capture drops, truncation, undecoded packets, a foreign MAC)."""
    capture_start: float | None = None
    phases: Sequence[str] | None = None
    """The phases the run's scenario covered (None: not said)."""
    names_from: list[str] = field(default_factory=list)
    """Where destination names came from (the resolver's log, DNS answers), for reasons."""
    interception: Interception | None = None
    """What the bench's TLS service offered each TLS connection and what the handset did (None: the bench
    ran no TLS service, ``tls: alert``, or the capture is not a bench's)."""
    build: BuildIdentity | None = None
    """The firmware the handset runs, as read over ADB (None: not read)."""

    @property
    def judged(self) -> list[Contact]:
        """Contacts the endpoint assertions judge (not the bench's own service, not link plumbing)."""
        return [c for c in self.contacts if not c.exempt]


def contact(flow: Flow, handset: Handset, infrastructure: Infrastructure, names: Names) -> Contact:
    """The flow seen from the handset (which must take part in it)."""
    opened = handset.opened(flow)
    if opened:
        peer, peer_port, local_port = flow.dst, flow.dport, flow.sport
    else:
        peer, peer_port, local_port = flow.src, flow.sport, flow.dport
    # A flow inside a tunnel is judged by its inner destination; the carrier, a flow of its own, by
    # the tunnel's far end: both must be declared.
    found = Contact(flow, peer, peer_port, local_port, opened)
    found.names = names.for_flow(found.peer, flow) if _addressable(found.peer) else []
    found.claims = list(flow.claims) if opened else []
    found.infrastructure = infrastructure.serves_dhcp(
        flow, found.peer, peer_port
    ) or infrastructure.serves_dns(flow, found.peer, peer_port)
    found.plumbing = _plumbing(flow, found.peer)
    return found


def _addressable(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _plumbing(flow: Flow, peer: str) -> bool:
    if flow.proto in (ARP, EAPOL):
        return True
    if flow.proto == "icmpv6" and flow.icmp_types and set(flow.icmp_types) <= ND_MLD_TYPES:
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return ip.is_link_local or (ip.is_multicast and ip.exploded.startswith("ff02"))
    if flow.proto == "igmp":
        try:
            return ipaddress.ip_address(peer) in ipaddress.ip_network("224.0.0.0/24") or peer.startswith(
                "224."
            )
        except ValueError:
            return False
    return False


def destine(found: Contact, manifest: Manifest | None) -> None:
    """Which declared endpoints the contact's destination is, by where the packets went.

    The destination is the peer's address, named by what the bench's resolver gave for it: the
    resolver's names that the handset also claimed when there are any (a CDN address serves several
    names), else all of them. A name the handset only claims (SNI, Host...) is not a destination; it is
    judged on its own (it must be declared too). An address inside a declared network is that endpoint,
    whatever it was called.
    """
    claimed = [c.name for c in found.claims if not is_ip_literal(c.name)]
    found.destinations = [n for n in found.names if n in claimed] or list(found.names)
    if manifest is None:
        return
    proto, port = found.flow.proto, found.peer_port
    for claim in found.claims:
        if is_ip_literal(claim.name) and _same_address(claim.name, found.peer):
            continue  # the address the packets went to, written again: judged as the destination
        if claim_endpoint(manifest, proto, port, claim) is None:
            found.undeclared_claims.append(claim)
    by_address = manifest.lookup(proto, port, address=found.peer) if _addressable(found.peer) else None
    if by_address is not None:
        found.endpoints, found.declared = [by_address], True
        return
    if found.destinations:
        endpoints = [manifest.lookup(proto, port, name=name) for name in found.destinations]
        missing = [n for n, e in zip(found.destinations, endpoints, strict=True) if e is None]
        found.endpoints = [e for e in endpoints if e is not None]
        found.declared = not missing
        if missing:
            also = [n for n in claimed if n not in found.destinations]
            said = f" (the handset claimed {escape(', '.join(also), 160)})" if also else ""
            found.why = f"named {escape(', '.join(missing), 160)} by the bench's resolver{said}"
        return
    if claimed:
        found.why = (
            f"the handset claims {escape(', '.join(claimed), 160)}, but the bench's resolver never gave "
            f"{escape(found.peer, 60)} for that name: where the packets went is an address, not that endpoint"
        )
    else:
        found.why = "an address no name was resolved to (an IP literal)"


def claim_endpoint(manifest: Manifest, proto: str, port: int, claim: NameClaim) -> Endpoint | None:
    """The declared endpoint a claimed name (or claimed address) would be on this port and protocol."""
    if is_ip_literal(claim.name):
        return manifest.lookup(proto, port, address=claim.name)
    return manifest.lookup(proto, port, name=claim.name)
