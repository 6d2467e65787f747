"""What port kinds share: joining the bridge, and a host interface's safety checks before it is adopted."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pyroute2 import IPRoute

from phonehome.bench import hostif, netops, undo
from phonehome.bench.netops import BenchError, poll

if TYPE_CHECKING:
    from phonehome.bench.build import Builder
    from phonehome.bench.topology import Port

T = TypeVar("T")


def need(value: T | None, what: str) -> T:
    """A field the topology always sets for this kind of port (a bug in ``plan`` otherwise)."""
    if value is None:
        raise BenchError(f"internal: the bench plan lacks {what}")
    return value


def enslave(builder: Builder, port: Port) -> None:
    """The port's router-side interface joins its group's bridge, up."""
    with IPRoute(netns=builder.topo.router_ns) as ipr:
        index = poll(f"link {port.interface}", lambda: netops.link_index(ipr, port.interface))
        bridge = netops.link_index(ipr, port.bridge)
        ipr.link("set", index=index, master=bridge, state="up")


def host_interface(builder: Builder, port: Port, host_if: str) -> hostif.LinkState:
    """The host interface's state; a clear error when it is missing, a loopback or another bench's."""
    holder = hostif.holder(host_if, builder.topo.run_id)
    if holder is not None:
        raise BenchError(f"port {port.name}: host interface {host_if} is held by {holder}")
    state = hostif.snapshot(host_if)
    if state is None:
        raise BenchError(
            f"port {port.name}: host interface {host_if} does not exist (ip link lists the host's): fix "
            "`interface:` in the bench definition, or plug the adapter in"
        )
    if state["loopback"]:
        raise BenchError(f"port {port.name}: {host_if} is a loopback interface: no handset is behind it")
    return state


def refuse_host_uses(port: Port, host_if: str, state: hostif.LinkState) -> None:
    """An interface the host uses (addresses, routes, a bridge) is refused without ``take_over: true``."""
    uses = hostif.host_uses(state)
    if uses and not port.take_over:
        raise BenchError(
            f"port {port.name}: host interface {host_if} {'; '.join(uses)}. Name an interface the host "
            "does not use, or set `take_over: true` on the port to borrow it anyway (its addresses, "
            "routes, MTU and state come back at bench down)"
        )


def adopt(builder: Builder, port: Port) -> None:
    """Moves a host interface into the router, after writing down everything it carried."""
    host_if = need(port.host_interface, "interface")
    state = host_interface(builder, port, host_if)
    refuse_host_uses(port, host_if, state)
    builder.record(undo.taken_record(builder.topo.router_ns, port.interface, state))
    with IPRoute() as host:
        index = need(netops.link_index(host, host_if), "the interface")
        host.link("set", index=index, state="down")
        host.link("set", index=index, net_ns_fd=builder.topo.router_ns)
