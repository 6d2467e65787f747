"""What a capture must say about the bench around it: its own addresses, and what went wrong.

A verdict may only trust a capture whose bench held up for the whole window.
These checks run when the capture stops, before anything is torn down: every
service the bench started must still be the same live process, the resolver
must not have run out of addresses, and no other machine may have shown up
on a port that should hold one handset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from phonehome.bench import netops, nft, resolver
from phonehome.bench.records import ProcessStarted, Record
from phonehome.bench.topology import Port

SERVICES = {
    "dnsmasq": "DHCP and router advertisements (dnsmasq)",
    "resolver": "resolver (every DNS answer and the record of which name an address stood for)",
    "sinks": "sinks (what each flow carried)",
    "hostapd": "Wi-Fi access point (hostapd)",
}
SHOWN_MACS = 5


def dead_services(undo_records: Sequence[Record]) -> list[str]:
    """Problems for every service (not a capture tool) that is no longer the process the bench started.

    The bench never restarts a service, and a process is known by its pid and
    start time: one that is alive at the end of the window was alive through
    all of it. One that is not may have died at any moment, so no part of the
    window is known to have had it.
    """
    problems = []
    for record in undo_records:
        if not isinstance(record, ProcessStarted) or record.role.startswith("capture:"):
            continue
        if not record.process.alive():
            what = SERVICES.get(record.role.split(":", 1)[0], record.role)
            problems.append(
                f"the bench's {what} (pid {record.pid}) was not running when the capture stopped: "
                "it died during the capture, so the bench did not behave as assumed for part of it"
            )
    return problems


def resolver_problems(log: Path) -> list[str]:
    return resolver.problems(resolver.read_log(log))


def foreign_macs(router_ns: str, port: Port) -> list[str] | None:
    """Hardware addresses other than the handset's the port's guard recorded (frame senders and
    DHCP chaddrs alike); None if the record cannot be read."""
    found = []
    for name in (nft.foreign_set(port.name), nft.spoofed_set(port.name)):
        elements = netops.nft_set_elements(router_ns, "bridge", nft.ROUTER_TABLE, name)
        if elements is None:
            return None
        found += [mac_text(e) for e in elements]
    return sorted(set(found))


def guard_handset_macs(router_ns: str, port: Port) -> list[str]:
    """The MACs the port serves: the definition's, or the first DHCP client's (as the guard learned it)."""
    if port.handset_macs:
        return list(port.handset_macs)
    learned = netops.nft_set_elements(router_ns, "bridge", nft.ROUTER_TABLE, nft.handset_set(port.name))
    return [mac_text(e) for e in learned or []]


def mac_text(element: str | int) -> str:
    """nft shows a typed MAC as text and a raw 48-bit payload (a chaddr) as a number."""
    if isinstance(element, str):
        return element.lower()
    raw = element.to_bytes(6, "big") if 0 <= element < 1 << 48 else bytes(6)
    return ":".join(f"{b:02x}" for b in raw)


def foreign_problems(port: Port, macs: list[str] | None, *, every_port: bool = False) -> list[str]:
    """One problem naming the other machines seen on an isolated port (a starvation attempt included).

    A port declared not isolated (an AP's own frames share the cable) is expected
    to carry other MACs: they are no problem of its capture, only of ``every_port``
    (the bench's status, which lists every machine the guard turned away).
    """
    if macs is None:
        return [f"port {port.name}: the record of other hardware addresses on the port could not be read"]
    if not macs or not (port.isolated or every_port):
        return []
    count = f"at least {len(macs)}" if len(macs) >= nft.FOREIGN_LIMIT else str(len(macs))
    shown = ", ".join(sorted(macs)[:SHOWN_MACS]) + (" ..." if len(macs) > SHOWN_MACS else "")
    return [
        f"port {port.name}: {count} hardware addresses other than the handset's appeared ({shown}), "
        "as a frame's sender or a DHCP client's; they got no DHCP lease, and the capture is not of "
        "one handset's world"
    ]


def router_facts(router_ns: str, port: Port) -> tuple[list[str], list[str], list[str]]:
    """The router's addresses on the port's LAN, its MACs there (bridge, port) and the port's subnets."""
    addresses = [a for a in netops.link_addresses(router_ns, port.bridge) if a]
    if port.router_ip not in addresses:
        addresses.insert(0, port.router_ip)
    macs = [
        m for m in (netops.link_mac(router_ns, port.bridge), netops.link_mac(router_ns, port.interface)) if m
    ]
    subnets = [port.subnet] + ([port.ipv6_prefix] if port.ipv6_prefix else [])
    return addresses, list(dict.fromkeys(macs)), subnets
