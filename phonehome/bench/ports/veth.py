"""``veth``: a virtual handset in a namespace of its own, cabled to the router by a veth pair."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pyroute2 import IPRoute

from phonehome.bench import netops, undo
from phonehome.bench.ports.common import enslave, need
from phonehome.bench.topology import Port, handset_ns_name, ifname, random_mac

if TYPE_CHECKING:
    from phonehome.bench.build import Builder
    from phonehome.bench.definition import PortDef


class VethPort:
    """Creates the handset's namespace (with its resolv.conf) and the veth pair; the handset's end comes
    up only once the capture runs. Records: the namespace, its ``/etc/netns`` folder, the veth."""

    name: ClassVar[str] = "veth"
    adopts_host_interface: ClassVar[bool] = False

    @staticmethod
    def check(defn: PortDef) -> list[str]:
        problems = []
        if defn.interface:
            problems.append(
                "a veth port creates its own interfaces; `interface:` is for physical and vlan ports"
            )
        if defn.handset_macs or not defn.isolated:
            problems.append(
                "`handset_macs:` and `isolated:` are for physical and vlan ports (a veth port's handset is "
                "`handset_mac:`, and nothing else is on it)"
            )
        return problems

    @staticmethod
    def plan(defn: PortDef, run_id: str, common: dict[str, Any]) -> Port:
        mac = defn.handset_mac or random_mac()
        return Port(
            interface=ifname(run_id, defn.name),
            netns=handset_ns_name(run_id, defn.name),
            handset_ifname=defn.handset_ifname,
            handset_mac=mac,
            handset_macs=(mac,),
            **common,
        )

    def build(self, builder: Builder, port: Port) -> None:
        router = builder.topo.router_ns
        netns, handset_if = need(port.netns, "netns"), need(port.handset_ifname, "handset_ifname")
        netops.create_netns(netns)
        builder.record(undo.netns_record(netns))
        self._resolv_conf(builder, port)
        with IPRoute(netns=router) as ipr:
            ipr.link(
                "add",
                ifname=port.interface,
                kind="veth",
                peer={"ifname": handset_if, "net_ns_fd": netns, "address": port.handset_mac},
            )
            builder.record(undo.link_record(router, port.interface))
        enslave(builder, port)

    @staticmethod
    def _resolv_conf(builder: Builder, port: Port) -> None:
        """``ip netns exec`` shows this file as /etc/resolv.conf; the host's own is never touched."""
        folder = Path("/etc/netns") / need(port.netns, "netns")
        folder.mkdir(parents=True, exist_ok=True)
        builder.record(undo.path_record(folder))
        (folder / "resolv.conf").write_text(f"nameserver {port.router_ip}\n")

    def link_up(self, builder: Builder, port: Port) -> None:
        netns, handset_if = need(port.netns, "netns"), need(port.handset_ifname, "handset_ifname")
        with IPRoute(netns=netns) as ipr:
            index = netops.wait_link(netns, handset_if)
            ipr.link("set", index=index, state="up")
