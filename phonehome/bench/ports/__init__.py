"""Bench port kinds, one class each (labgrid's driver to the definition's resource): check, plan, build.

A `PortDef` (``benches/*.yaml``) holds what a lab wrote; its kind's class checks
it (`PortKind.check`: definition errors, file and line), plans its names
(`PortKind.plan` -> a topology `Port`), builds it in the router namespace,
recording each thing the moment it exists (`PortKind.build`), and brings the
handset's side up once the capture runs (`PortKind.link_up`). Removal is by
the typed records (`phonehome.bench.records`, `phonehome.bench.undo`). A kind
not registered here is an error wherever it is met, never a default.

    veth      a virtual handset in its own namespace
    physical  a host interface adopted into the router (a USB-Ethernet adapter, an external AP's cable)
    vlan      an 802.1Q VLAN of a host interface (a managed switch's trunk)
    hostapd   a Wi-Fi access point: hostapd on a USB Wi-Fi adapter moved into the router
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from phonehome.bench.netops import BenchError

SYS_NET = Path("/sys/class/net")
"""The host namespace's interfaces (what ``ip link`` lists)."""

if TYPE_CHECKING:
    from phonehome.bench.build import Builder
    from phonehome.bench.definition import BenchDef, PortDef
    from phonehome.bench.topology import Port


class PortKind(Protocol):
    """What one kind of port is and does."""

    name: ClassVar[str]
    adopts_host_interface: ClassVar[bool]
    """The port takes a host interface into the router (no other bench may hold it meanwhile)."""

    @staticmethod
    def check(defn: PortDef) -> list[str]:
        """What is wrong with the definition for this kind, one sentence each (empty: nothing)."""
        ...

    @staticmethod
    def plan(defn: PortDef, run_id: str, common: dict[str, Any]) -> Port:
        """The port's names and addresses (``common``: name, kind, group, bridge, router_ip, subnet...)."""
        ...

    def build(self, builder: Builder, port: Port) -> None:
        """Creates the port's router-side interface (recorded as created) and joins it to its bridge."""
        ...

    def link_up(self, builder: Builder, port: Port) -> None:
        """After the capture started: the handset's side comes up (its first frame is captured)."""
        ...


def absent_interfaces(defn: BenchDef) -> list[str]:
    """Ports whose host interface is not on this host, one line each: checked before any bench comes up."""
    return [
        f"port {p.name}: host interface {p.interface} does not exist on this host (ip link lists the "
        "host's; a running bench may hold it): fix `interface:` in the bench definition, or plug the adapter in"
        for p in defn.ports
        if p.interface and not (SYS_NET / p.interface).exists()
    ]


def kinds() -> dict[str, type[PortKind]]:
    """Every registered port kind, by name."""
    from phonehome.bench.ports.hostapd import HostapdPort  # noqa: PLC0415  (the kinds import this module)
    from phonehome.bench.ports.physical import PhysicalPort  # noqa: PLC0415
    from phonehome.bench.ports.veth import VethPort  # noqa: PLC0415
    from phonehome.bench.ports.vlan import VlanPort  # noqa: PLC0415

    return {k.name: k for k in (VethPort, PhysicalPort, VlanPort, HostapdPort)}


def port_kind(name: str) -> type[PortKind]:
    """The class of port kind ``name``; `BenchError` naming the known kinds for any other."""
    known = kinds()
    if name not in known:
        raise BenchError(f"unknown port kind {name!r}: a port is one of {', '.join(known)}")
    return known[name]


__all__ = ["PortKind", "absent_interfaces", "kinds", "port_kind"]
