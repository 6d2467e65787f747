"""``physical``: a host interface adopted into the router (a USB-Ethernet adapter, an external AP's cable).

The host-safety rules are `phonehome.bench.hostif`'s: an interface the host
uses (addresses, routes, a bridge or bond) is refused unless the definition
says ``take_over: true``; either way its whole state is written into the
bench's records before it moves, and it comes home under its own name at the
end, also after a crash. Records: the adopted interface with that state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from phonehome.bench.ports.common import adopt, enslave, need
from phonehome.bench.topology import Port

if TYPE_CHECKING:
    from phonehome.bench.build import Builder
    from phonehome.bench.definition import PortDef


def cabled(defn: PortDef) -> dict[str, Any]:
    """What a port whose handset is across a cable or a radio shares: its MACs, isolation, the interface."""
    return {
        "handset_macs": tuple(defn.handset_macs),
        "isolated": defn.isolated,
        "host_interface": defn.interface,
    }


def cabled_problems(defn: PortDef) -> list[str]:
    problems = []
    if not defn.interface:
        problems.append(f"a {defn.kind} port needs `interface:` (the host interface, e.g. enp3s0)")
    if defn.handset_mac is not None:
        problems.append(f"`handset_mac:` is for veth ports; a {defn.kind} port lists `handset_macs:`")
    return problems


class PhysicalPort:
    """Moves the host interface into the router and joins it to the bridge; nothing of the handset's is ours."""

    name: ClassVar[str] = "physical"
    adopts_host_interface: ClassVar[bool] = True

    @staticmethod
    def check(defn: PortDef) -> list[str]:
        return cabled_problems(defn)

    @staticmethod
    def plan(defn: PortDef, run_id: str, common: dict[str, Any]) -> Port:
        return Port(
            interface=need(defn.interface, "interface"), take_over=defn.take_over, **cabled(defn), **common
        )

    def build(self, builder: Builder, port: Port) -> None:
        adopt(builder, port)
        enslave(builder, port)

    def link_up(self, builder: Builder, port: Port) -> None:
        """The handset is across the cable: its link is its own."""
