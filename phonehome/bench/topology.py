"""Names and addresses of one bench, derived from its definition, run id and slot (pure).

Names carry the run id (``ph3f2a1c-br0``, ``phonehome-3f2a1c-router``) so a
bench left by a killed run is found by name; addresses carry the slot, so two
benches never share a subnet, even where they meet (the host, in nat mode).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from phonehome.bench.definition import BenchDef
from phonehome.bench.dnsmasq import LanPlan
from phonehome.bench.netops import BenchError
from phonehome.bench.runtime import IF_PREFIX, NS_PREFIX

Net = ipaddress.IPv4Network
LAN_POOLS = tuple(ipaddress.IPv4Network(n) for n in ("172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16"))
"""Where handset subnets (a /24 per port group) come from, first choice first (RFC 1918)."""
TRANSFER_POOLS = (ipaddress.IPv4Network("100.64.0.0/10"), ipaddress.IPv4Network("172.16.0.0/12"))
"""Where the nat transfer /30 between host and router comes from (RFC 6598 shared space first)."""


@dataclass(frozen=True, slots=True)
class Port:
    """A port of a running bench: where a handset connects, and what it finds there.

    A virtual handset lives in ``netns`` and uses ``handset_ifname`` there; a
    physical or VLAN port has no namespace (the handset is across the cable).
    """

    name: str
    kind: str
    """``veth``, ``physical``, ``vlan`` or ``hostapd`` (`phonehome.bench.ports`)."""
    group: str
    interface: str
    """The router-side interface, where the capture runs."""
    bridge: str
    router_ip: str
    """The handset's gateway and DNS server."""
    subnet: str
    netns: str | None = None
    """veth: the handset's namespace (``ip netns exec NAME ...``, pyroute2 ``netns.pushns(NAME)``)."""
    handset_ifname: str | None = None
    handset_mac: str | None = None
    host_interface: str | None = None
    """physical/vlan: the host interface it came from (physical: it goes back there at the end)."""
    vlan: int | None = None
    ipv6_prefix: str | None = None
    handset_macs: tuple[str, ...] = ()
    """The only MACs that get a DHCP lease here (veth: the handset's); empty: the first to ask."""
    isolated: bool = True
    """Nothing but the handset and the router is on this port (always so for veth)."""
    take_over: bool = False
    """physical, hostapd: the definition allows borrowing an interface the host uses (``PortDef.take_over``)."""
    ssid: str | None = None
    """hostapd: the network its access point offers (the passphrase stays in the definition)."""

    def to_dict(self) -> dict[str, object]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["handset_macs"] = list(self.handset_macs)
        if data["ssid"] is None:  # only hostapd ports have one: other versions read the rest as before
            del data["ssid"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Port:
        fields: dict[str, Any] = dict(data)
        fields["handset_macs"] = tuple(fields.get("handset_macs") or ())
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Topology:
    run_id: str
    slot: int
    router_ns: str
    ports: tuple[Port, ...]
    lans: tuple[LanPlan, ...]
    uplink_host: str | None = None
    """nat: the uplink's end in the host namespace."""
    uplink_router: str = "uplink"
    transfer: str | None = None
    """nat: the /30 between host and router: host .1, router .2."""
    host_table: str | None = None

    def networks(self) -> list[Net]:
        """The IPv4 networks this bench uses: each port group's subnet and the nat transfer net."""
        found = [ipaddress.IPv4Network(f"{lan.router}/{lan.netmask}", strict=False) for lan in self.lans]
        return found + ([ipaddress.IPv4Network(self.transfer)] if self.transfer else [])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in the bench's state file (``Bench.attach`` reads it back)."""
        return {
            "run_id": self.run_id,
            "slot": self.slot,
            "router_ns": self.router_ns,
            "ports": [p.to_dict() for p in self.ports],
            "lans": [{name: getattr(lan, name) for name in lan.__slots__} for lan in self.lans],
            "uplink_host": self.uplink_host,
            "uplink_router": self.uplink_router,
            "transfer": self.transfer,
            "host_table": self.host_table,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Topology:
        return cls(
            run_id=data["run_id"],
            slot=data["slot"],
            router_ns=data["router_ns"],
            ports=tuple(Port.from_dict(p) for p in data["ports"]),
            lans=tuple(LanPlan(**lan) for lan in data["lans"]),
            uplink_host=data["uplink_host"],
            uplink_router=data["uplink_router"],
            transfer=data["transfer"],
            host_table=data["host_table"],
        )


def ifname(run_id: str, role: str) -> str:
    name = f"{IF_PREFIX}{run_id}-{role}"
    if len(name) > 15:
        raise ValueError(f"interface name {name!r} is longer than 15 characters")
    return name


def router_ns_name(run_id: str) -> str:
    return f"{NS_PREFIX}{run_id}-router"


def handset_ns_name(run_id: str, port: str) -> str:
    return f"{NS_PREFIX}{run_id}-{port}"


def run_id_of(name: str) -> str | None:
    """The run id in a bench namespace, interface or nft table name; None for other names."""
    for prefix in (NS_PREFIX, "phonehome_", IF_PREFIX):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            candidate = rest[:6]
            hexdigits = len(candidate) == 6 and all(c in "0123456789abcdef" for c in candidate)
            if hexdigits and (len(rest) == 6 or rest[6] == "-"):
                return candidate
    return None


def ula_prefix(slot: int, group: int) -> str:
    """A unique-local /64 per bench slot and port group (RFC 4193; the global id spells "phone")."""
    return str(ipaddress.ip_network(f"fd70:686f:6e65:{slot:02x}{group:02x}::/64"))


def random_mac() -> str:
    """A unicast, locally administered MAC (02:...)."""
    return "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def free_network(default: Net, pools: Iterable[Net], taken: list[Net]) -> Net:
    """``default`` if it overlaps nothing in ``taken``, else the first network of its size that doesn't,
    searched from ``default`` on through ``pools`` (so benches of different slots look in different places)."""
    size = default.num_addresses
    for pool in pools:
        if pool.prefixlen > default.prefixlen:
            continue
        base, end = int(pool.network_address), int(pool.broadcast_address) + 1
        first = int(default.network_address) if default.subnet_of(pool) else base
        for low, high in ((first, end), (base, first)):
            address = low
            while address < high:
                net = ipaddress.IPv4Network((address, default.prefixlen))
                clash = next((other for other in taken if net.overlaps(other)), None)
                if clash is None:
                    return net
                # Skip past whatever it overlaps, aligned to our size.
                after = max(int(clash.broadcast_address) + 1, address + size)
                address = -(-after // size) * size
    raise BenchError(
        f"no free /{default.prefixlen} in {', '.join(map(str, pools))}: the host's routes and addresses and "
        "other benches cover them all (ip route show table all)"
    )


def plan(defn: BenchDef, run_id: str, slot: int, taken: Iterable[Net] = ()) -> Topology:
    """Names and addresses for the bench; its subnets overlap nothing in ``taken`` (the host's routes
    and addresses, other benches' networks: ``netops.host_networks``)."""
    busy = [net for net in taken if net.version == 4 and net.prefixlen > 0]
    lans = []
    bridges = {}
    for g, group in enumerate(defn.groups()):
        net = free_network(ipaddress.IPv4Network(f"172.{16 + g}.{slot}.0/24"), LAN_POOLS, busy)
        busy.append(net)
        bridge = ifname(run_id, f"br{g}")
        bridges[group] = (bridge, net)
        prefix = ula_prefix(slot, g) if defn.ipv6 == "offer" else None
        lans.append(
            LanPlan(
                bridge=bridge,
                router=str(net.network_address + 1),
                first=str(net.network_address + 10),
                last=str(net.network_address + 250),
                netmask=str(net.netmask),
                ipv6_prefix=prefix,
            )
        )
    from phonehome.bench.ports import port_kind  # noqa: PLC0415  (the kinds build topology Ports)

    ports = []
    for p in defn.ports:
        bridge, net = bridges[p.group]
        common: dict[str, Any] = {
            "name": p.name,
            "kind": p.kind,
            "group": p.group,
            "bridge": bridge,
            "router_ip": str(net.network_address + 1),
            "subnet": str(net),
            "ipv6_prefix": ula_prefix(slot, defn.groups().index(p.group)) if defn.ipv6 == "offer" else None,
        }
        ports.append(port_kind(p.kind).plan(p, run_id, common))
    topo = Topology(run_id, slot, router_ns_name(run_id), tuple(ports), tuple(lans))
    if defn.mode == "nat":
        return Topology(
            run_id,
            slot,
            topo.router_ns,
            topo.ports,
            topo.lans,
            uplink_host=ifname(run_id, "up"),
            transfer=str(free_network(ipaddress.IPv4Network(f"100.64.{slot}.0/30"), TRANSFER_POOLS, busy)),
            host_table=f"phonehome_{run_id}",
        )
    return topo
