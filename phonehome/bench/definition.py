"""Bench definition files (``benches/*.yaml``): the validated model a ``Bench`` is built from.

Every field a lab may set is here with its default; unknown and duplicate
keys are errors with file and line (``phonehome.yamlconf``). Cross-field
rules (a physical port needs an interface, ``nat`` needs an uplink) are
checked here too, so a bench never half-starts on a bad file.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

import pydantic

from phonehome.yamlconf import StrictModel, load_model, parse_yaml, validate

PORT_NAME = re.compile(r"^[a-z][a-z0-9]{0,5}$")
IFNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
LOOPBACK = "lo"


class PortDef(StrictModel):
    """A place where a handset connects to the bench."""

    name: str
    """Short name (lower case, 1-6 chars: it becomes part of interface names)."""
    kind: Literal["veth", "physical", "vlan"] = "veth"
    """veth: a virtual handset in its own namespace; physical: a host interface (a lab's AP port or
    USB-Ethernet adapter) moved into the router; vlan: an 802.1Q VLAN of a host interface."""
    group: str = "lan"
    """Ports of one group share a bridge and a subnet."""
    interface: str | None = None
    """physical/vlan: the host interface."""
    vlan: int | None = pydantic.Field(default=None, ge=1, le=4094)
    handset_ifname: str = "wlan0"
    """veth: the interface's name inside the handset namespace."""
    handset_mac: str | None = None
    """veth: the handset's MAC (lower case, colons); a random locally administered one when absent."""
    take_over: bool = False
    """physical: borrow an interface the host uses (addresses, routes, a bridge, the default route).
    Without it such an interface is refused; with it, its whole state is written down first and
    restored at ``bench down`` (or by the cleanup after a crash)."""

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> PortDef:
        if not PORT_NAME.match(self.name):
            raise ValueError(f"port name {self.name!r}: use 1-6 lower-case letters or digits, first a letter")
        if not PORT_NAME.match(self.group):
            raise ValueError(f"group {self.group!r}: use 1-6 lower-case letters or digits, first a letter")
        if self.kind in ("physical", "vlan") and not self.interface:
            raise ValueError(f"a {self.kind} port needs `interface:` (the host interface, e.g. enp3s0)")
        if self.kind == "vlan" and self.vlan is None:
            raise ValueError("a vlan port needs `vlan:` (the 802.1Q id, 1-4094)")
        if self.kind != "vlan" and self.vlan is not None:
            raise ValueError("`vlan:` is only for ports of kind vlan")
        if self.kind == "veth" and self.interface:
            raise ValueError(
                "a veth port creates its own interfaces; `interface:` is for physical and vlan ports"
            )
        if self.interface and not IFNAME.match(self.interface):
            raise ValueError(f"interface {self.interface!r} is not a Linux interface name")
        if self.interface == LOOPBACK:
            raise ValueError("interface lo is the loopback: name the host interface a handset is cabled to")
        if self.take_over and self.kind != "physical":
            raise ValueError("`take_over:` is for physical ports (a vlan port leaves its parent as it is)")
        if not IFNAME.match(self.handset_ifname):
            raise ValueError(
                f"handset_ifname {self.handset_ifname!r} is not a Linux interface name (<= 15 chars)"
            )
        if self.handset_mac is not None:
            unicast_mac("handset_mac", self.handset_mac)
        return self


def unicast_mac(key: str, mac: str) -> str:
    """``mac`` if it can be one interface's address: six lower-case hex pairs, not group, not all zero."""
    if not MAC.match(mac):
        raise ValueError(f"{key} {mac!r}: write six lower-case hex pairs with colons")
    if int(mac[:2], 16) & 1:
        raise ValueError(f"{key} {mac}: a multicast (group) address cannot be a handset's (first octet odd)")
    if mac == "00:00:00:00:00:00":
        raise ValueError(f"{key} {mac}: the all-zero address cannot be a handset's")
    return mac


class AllowRule(StrictModel):
    """One destination an enforcing ``nat`` bench lets through (from a manifest, resolved by the caller)."""

    cidr: str
    proto: Literal["tcp", "udp", "any"] = "any"
    ports: list[int] = pydantic.Field(default_factory=list)
    """Destination ports; empty means every port."""

    @pydantic.field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.ip_network(value, strict=False))

    @pydantic.field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is outside 1-65535")
        return value


class NatDef(StrictModel):
    """How a ``nat`` bench reaches the outside: masquerade through one host interface."""

    interface: str
    """The host interface traffic leaves by (in tests: a veth into an upstream namespace)."""
    dns: list[str] = pydantic.Field(default_factory=list)
    """Upstream resolvers for dnsmasq; empty: the host's /etc/resolv.conf."""
    enforce: bool = False
    """Drop every forwarded flow that ``allow`` does not list (the manifest's endpoints)."""
    allow: list[AllowRule] = pydantic.Field(default_factory=list)

    @pydantic.field_validator("dns")
    @classmethod
    def _dns(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(v)) for v in value]

    @pydantic.field_validator("interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if not IFNAME.match(value):
            raise ValueError(f"interface {value!r} is not a Linux interface name")
        if value == LOOPBACK:
            raise ValueError("interface lo is the loopback: name the interface the host reaches the world by")
        return value


class CaptureDef(StrictModel):
    tool: Literal["dumpcap", "tcpdump"] = "dumpcap"
    format: Literal["pcapng", "pcap"] = "pcapng"
    rotate_mb: int = pydantic.Field(default=0, ge=0)
    """Start a new file after this many megabytes (0: one file)."""
    rotate_seconds: int = pydantic.Field(default=0, ge=0)
    buffer_mb: int = pydantic.Field(default=64, ge=1)
    """Kernel capture buffer: what absorbs bursts without drops."""
    max_mb: int = pydantic.Field(default=2048, ge=0)
    """The most one port's capture files may hold together; the capture stops there and says so
    (the verdict is INCONCLUSIVE). 0 lifts the cap (the disk is then the limit)."""

    @pydantic.model_validator(mode="after")
    def _tool_can(self) -> CaptureDef:
        if self.tool == "tcpdump" and self.format == "pcapng":
            raise ValueError("tcpdump writes pcap only: use `format: pcap` or `tool: dumpcap`")
        if self.tool == "tcpdump" and self.max_mb and (self.rotate_mb or self.rotate_seconds):
            raise ValueError(
                "tcpdump cannot stop at `max_mb` while rotating (it would overwrite the first files): "
                "use `tool: dumpcap`, stop rotating, or `max_mb: 0` to lift the cap"
            )
        return self


class SinksDef(StrictModel):
    """What the sinks give the handsets before they cut connections; every cut is a problem of the
    capture (the verdict is INCONCLUSIVE: a connection the handset tried may be missing)."""

    max_connections: int = pydantic.Field(default=4096, ge=16, le=65536)
    """Open connections of all handsets together; at the limit the least recently active one is cut."""
    per_source: int = pydantic.Field(default=512, ge=1, le=65536)
    """Open connections of one handset address; at the limit its least recently active one is cut."""
    idle_seconds: float = pydantic.Field(default=10.0, gt=0, le=3600)
    """A connection without a byte from the handset for this long is closed (not a problem)."""
    user: str = "nobody"
    """Who the sink process runs as once its sockets and files are open (it parses hostile input)."""


class DiskDef(StrictModel):
    """Caps on what one run writes besides the capture (``capture.max_mb``); reaching one stops that
    writer and is a problem of the capture."""

    transcripts_mb: int = pydantic.Field(default=256, ge=1)
    """The sinks' records of connections and datagrams."""
    logs_mb: int = pydantic.Field(default=64, ge=1)
    """Each service's log (dnsmasq, sinks, capture tool): ``netops.spawn(file_limit_mb=...)``."""


class BenchDef(StrictModel):
    """A whole bench: its ports, how it reaches (or does not reach) the world, and what it captures."""

    name: str = "bench"
    mode: Literal["sinkhole", "nat", "offline"] = "sinkhole"
    """sinkhole: no packet leaves, every flow ends at a local sink; nat: masquerade through
    ``nat.interface``; offline: DHCP and DNS only."""
    ports: list[PortDef]
    sink_ipv4: str = "203.0.113.1"
    """The address DNS gives for every name in sinkhole mode (TEST-NET-3, never routed)."""
    sink_ipv6: str = "2001:db8:ffff::1"
    ipv6: Literal["offer", "block"] = "block"
    """offer: router advertisements, the handset gets addresses and its IPv6 is captured and sunk;
    block: no router advertisement and every IPv6 packet from the handset is dropped (and captured)."""
    block_quic: bool = False
    """Reject UDP/443 so QUIC clients fall back to TCP (and their SNI is seen in TLS)."""
    dot: Literal["capture", "refuse"] = "capture"
    """DNS over TLS (TCP/853): capture (a sink records its ClientHello) or refuse (TCP reset)."""
    lease_seconds: int = pydantic.Field(default=3600, ge=120)
    nat: NatDef | None = None
    capture: CaptureDef = CaptureDef()
    sinks: SinksDef = SinksDef()
    disk: DiskDef = DiskDef()

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> BenchDef:
        if not re.match(r"^[a-z][a-z0-9-]{0,30}$", self.name):
            raise ValueError(
                f"bench name {self.name!r}: lower-case letters, digits and dashes, first a letter"
            )
        if not self.ports:
            raise ValueError("a bench needs at least one port")
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError(f"port names must be unique: {names}")
        if len({p.group for p in self.ports}) > 8:
            raise ValueError("at most 8 port groups")
        if self.mode == "nat" and self.nat is None:
            raise ValueError("mode nat needs a `nat:` section naming the host interface")
        if self.mode != "nat" and self.nat is not None:
            raise ValueError(f"`nat:` is only for mode nat (this bench is {self.mode})")
        if self.mode == "nat" and self.ipv6 == "offer":
            raise ValueError(
                "IPv6 cannot be offered in nat mode yet (the uplink is IPv4 only): use `ipv6: block`"
            )
        if ipaddress.ip_address(self.sink_ipv4).version != 4:
            raise ValueError("sink_ipv4 must be an IPv4 address")
        if ipaddress.ip_address(self.sink_ipv6).version != 6:
            raise ValueError("sink_ipv6 must be an IPv6 address")
        return self

    def groups(self) -> list[str]:
        """Port groups in order of first appearance."""
        return list(dict.fromkeys(p.group for p in self.ports))


def load_bench(path: Path | str) -> BenchDef:
    return load_model(BenchDef, path)


def parse_bench(text: str, where: str = "<string>") -> BenchDef:
    return validate(BenchDef, parse_yaml(text, where), where)
