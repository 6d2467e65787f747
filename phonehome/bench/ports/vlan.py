"""``vlan``: an 802.1Q VLAN of a host interface (a managed switch's trunk), made straight into the router.

The parent stays in the host namespace, as it is; the bench only adds the
VLAN interface (recorded as created) and removes it at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pyroute2 import IPRoute, NetlinkError

from phonehome.bench import netops, undo
from phonehome.bench.netops import BenchError
from phonehome.bench.ports.common import enslave, host_interface, need
from phonehome.bench.ports.physical import cabled, cabled_problems
from phonehome.bench.topology import Port, ifname

if TYPE_CHECKING:
    from phonehome.bench.build import Builder
    from phonehome.bench.definition import PortDef


class VlanPort:
    name: ClassVar[str] = "vlan"
    adopts_host_interface: ClassVar[bool] = False

    @staticmethod
    def check(defn: PortDef) -> list[str]:
        problems = cabled_problems(defn)
        if defn.vlan is None:
            problems.append("a vlan port needs `vlan:` (the 802.1Q id, 1-4094)")
        return problems

    @staticmethod
    def plan(defn: PortDef, run_id: str, common: dict[str, Any]) -> Port:
        return Port(interface=ifname(run_id, defn.name), vlan=defn.vlan, **cabled(defn), **common)

    def build(self, builder: Builder, port: Port) -> None:
        host_if, vlan = need(port.host_interface, "interface"), need(port.vlan, "vlan")
        host_interface(builder, port, host_if)
        with IPRoute() as host:
            parent = need(netops.link_index(host, host_if), "the interface")
            try:
                host.link(
                    "add",
                    ifname=port.interface,
                    kind="vlan",
                    link=parent,
                    vlan_id=vlan,
                    net_ns_fd=builder.topo.router_ns,
                )
            except NetlinkError as exc:
                raise BenchError(
                    f"port {port.name}: VLAN {vlan} on {host_if} cannot be made ({exc.args[-1]}): is it already "
                    f"there (ip -d link show {host_if}), or does the kernel lack 802.1Q support?"
                ) from exc
        builder.record(undo.link_record(builder.topo.router_ns, port.interface))
        enslave(builder, port)

    def link_up(self, builder: Builder, port: Port) -> None:
        """The handset is behind the switch: its link is its own."""
