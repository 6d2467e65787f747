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
BENCH_NETWORKS = (
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fd70:686f:6e65::/48"),
)
"""Where the bench takes its own networks from (``topology.LAN_POOLS`` and ``TRANSFER_POOLS``: LANs per
group and slot, the nat transfer nets; the ULAs): a resolver pool there could shadow one of them."""
LOOPBACK = "lo"


class PortDef(StrictModel):
    """A place where a handset connects to the bench."""

    name: str
    """Short name (lower case, 1-6 chars: it becomes part of interface names)."""
    kind: Literal["veth", "physical", "vlan", "hostapd"] = "veth"
    """veth: a virtual handset in its own namespace; physical: a host interface (a lab's AP port or
    USB-Ethernet adapter) moved into the router; vlan: an 802.1Q VLAN of a host interface; hostapd: a
    Wi-Fi access point on a USB Wi-Fi adapter (`phonehome.bench.ports`: one class per kind). Any other
    kind is an error."""
    group: str = "lan"
    """Ports of one group share a bridge and a subnet."""
    interface: str | None = None
    """physical/vlan: the host interface."""
    vlan: int | None = pydantic.Field(default=None, ge=1, le=4094)
    handset_ifname: str = "wlan0"
    """veth: the interface's name inside the handset namespace."""
    handset_mac: str | None = None
    """veth: the handset's MAC (lower case, colons); a random locally administered one when absent."""
    handset_macs: list[str] = pydantic.Field(default_factory=list)
    """physical/vlan: the handset's MACs (lower case, colons; a phone with MAC randomisation may use
    more than one). Only these get a DHCP lease on the port. Empty: the first MAC that asks for an
    address is the handset's and every later one is refused; either way a refused MAC is recorded
    as a problem of the capture."""
    isolated: bool = True
    """physical/vlan: nothing but the handset and the bench is on this cable (an AP that bridges one
    handset and sends nothing of its own). veth ports always are."""
    take_over: bool = False
    """physical, hostapd: borrow an interface the host uses (addresses, routes, a bridge, the default
    route). Without it such an interface is refused; with it, its whole state is written down first and
    restored at ``bench down`` (or by the cleanup after a crash)."""
    ssid: str | None = None
    """hostapd: the network the access point offers (1-32 bytes)."""
    passphrase: str | None = None
    """hostapd: WPA2/WPA3 passphrase, 8-63 printable ASCII characters (none for ``security: open``)."""
    security: Literal["wpa2", "wpa3", "open"] = "wpa2"
    channel: int = pydantic.Field(default=6, ge=1, le=196)
    hw_mode: Literal["g", "a"] = "g"
    """hostapd: g (2.4 GHz) or a (5 GHz)."""
    country: str | None = pydantic.Field(default=None, pattern=r"^[A-Z]{2}$")
    """hostapd: the regulatory country (ISO 3166-1 alpha-2), which decides the channels allowed."""

    @pydantic.field_validator("ssid", "passphrase", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if value is not None and not isinstance(value, str):
            raise ValueError(
                "write it in quotes ('...'): YAML reads a bare 12345678 or yes as a number or a truth value"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> PortDef:
        if not PORT_NAME.match(self.name):
            raise ValueError(f"port name {self.name!r}: use 1-6 lower-case letters or digits, first a letter")
        if not PORT_NAME.match(self.group):
            raise ValueError(f"group {self.group!r}: use 1-6 lower-case letters or digits, first a letter")
        from phonehome.bench.ports import port_kind  # noqa: PLC0415  (the kinds read this model)

        problems = port_kind(self.kind).check(self)
        if problems:
            raise ValueError("; ".join(problems))
        if self.kind != "vlan" and self.vlan is not None:
            raise ValueError("`vlan:` is only for ports of kind vlan")
        if self.kind != "hostapd" and (self.ssid is not None or self.passphrase is not None):
            raise ValueError(
                "`ssid:` and `passphrase:` are for hostapd ports (an access point the bench runs)"
            )
        if self.interface and not IFNAME.match(self.interface):
            raise ValueError(f"interface {self.interface!r} is not a Linux interface name")
        if self.interface == LOOPBACK:
            raise ValueError("interface lo is the loopback: name the host interface a handset is cabled to")
        if self.take_over and self.kind not in ("physical", "hostapd"):
            raise ValueError(
                "`take_over:` is for physical and hostapd ports (a vlan port leaves its parent as it is)"
            )
        if not IFNAME.match(self.handset_ifname):
            raise ValueError(
                f"handset_ifname {self.handset_ifname!r} is not a Linux interface name (<= 15 chars)"
            )
        if self.handset_mac is not None:
            unicast_mac("handset_mac", self.handset_mac)
        for mac in self.handset_macs:
            if not MAC.match(mac):
                raise ValueError(f"handset_macs: {mac!r}: write six lower-case hex pairs with colons")
            unicast_mac("handset_macs", mac)
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
    """Upstream resolvers the bench's resolver forwards to; empty: the host's /etc/resolv.conf."""
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
    tool: Literal["auto", "dumpcap", "tcpdump"] = "auto"
    """auto: dumpcap when it is installed, else tcpdump (what ``phonehome doctor`` accepts)."""
    format: Literal["pcapng", "pcap"] | None = None
    """None: pcapng with dumpcap, pcap with tcpdump (which writes nothing else)."""
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


class ResolverDef(StrictModel):
    """The bench's own DNS resolver: in sinkhole and offline mode each name gets its own address.

    An address from the pool then stands for exactly one name for the whole run, so a flow to it
    says which name the handset meant (the resolver's log is the proof).
    """

    pool_ipv4: str = "198.18.0.0/15"
    """Where A answers come from (RFC 2544's benchmarking range: never routed, never a real server)."""
    pool_ipv6: str = "2001:db8:ffff::/64"
    """Where AAAA answers come from when IPv6 is offered (RFC 3849 documentation space)."""
    ttl: int = pydantic.Field(default=300, ge=0, le=86400)
    """The TTL of every answer: an address stays the name's for the run whatever the TTL."""

    @pydantic.field_validator("pool_ipv4", "pool_ipv6")
    @classmethod
    def _network(cls, value: str) -> str:
        return str(ipaddress.ip_network(value, strict=False))

    @pydantic.model_validator(mode="after")
    def _pools(self) -> ResolverDef:
        v4, v6 = ipaddress.ip_network(self.pool_ipv4), ipaddress.ip_network(self.pool_ipv6)
        if v4.version != 4 or v4.num_addresses < 4:
            raise ValueError(f"pool_ipv4 {self.pool_ipv4}: an IPv4 network of at least 4 addresses")
        if v6.version != 6 or v6.num_addresses < 4:
            raise ValueError(f"pool_ipv6 {self.pool_ipv6}: an IPv6 network of at least 4 addresses")
        for used in BENCH_NETWORKS:
            if v4.overlaps(used) if used.version == 4 else v6.overlaps(used):
                raise ValueError(
                    f"the resolver's pool overlaps {used}, which the bench uses for its own networks"
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
    resolver: ResolverDef = ResolverDef()
    ipv6: Literal["offer", "block"] = "block"
    """offer: router advertisements, the handset gets addresses and its IPv6 is captured and sunk;
    block: no router advertisement and every IPv6 packet from the handset is dropped (and captured)."""
    block_quic: bool = False
    """Reject UDP/443 so QUIC clients fall back to TCP (and their SNI is seen in TLS)."""
    dot: Literal["capture", "refuse"] = "capture"
    """DNS over TLS (TCP/853): capture (a sink records its ClientHello) or refuse (TCP reset)."""
    tls: Literal["alert", "validate", "intercept"] = "alert"
    """What the bench does with TLS (sinkhole only): alert: the sinks end every ClientHello with an alert;
    validate: every TCP flow goes to the TLS service (mitmproxy), which offers each TLS endpoint, in turn,
    certificates the handset must refuse (``certificate-validation``); intercept: it offers the lab CA's
    certificate, and what the handset sends is decrypted (its key log goes to the analyzer). QUIC is not
    intercepted: with ``block_quic: true`` QUIC clients fall back to TCP, where it is."""
    tls_ca: str | None = None
    """A folder that keeps the lab CA (``ca.pem``, ``ca-key.pem``; made there on first use) for handsets
    that have it installed across runs; absent: each run makes its own (in its results, ``tls-ca/``)."""
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
        if self.tls != "alert" and self.mode != "sinkhole":
            raise ValueError(
                f"`tls: {self.tls}` needs mode sinkhole (the TLS service answers in place of the servers)"
            )
        if self.mode == "nat" and self.ipv6 == "offer":
            raise ValueError(
                "IPv6 cannot be offered in nat mode yet (the uplink is IPv4 only): use `ipv6: block`"
            )
        return self

    def groups(self) -> list[str]:
        """Port groups in order of first appearance."""
        return list(dict.fromkeys(p.group for p in self.ports))


def load_bench(path: Path | str) -> BenchDef:
    return load_model(BenchDef, path)


def parse_bench(text: str, where: str = "<string>") -> BenchDef:
    return validate(BenchDef, parse_yaml(text, where), where)
