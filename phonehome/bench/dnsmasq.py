"""dnsmasq for the bench: DHCP and router advertisements, its command line, and its leases.

One dnsmasq per bench, in the router namespace, serves DHCP on every port
group's bridge (and, when IPv6 is offered, router advertisements) and names
the router as the DNS server; it answers no DNS itself (``--port=0``): the
bench's own resolver does (``phonehome.bench.resolver``). Its log
(``--log-dhcp``) records what the handset called itself (DHCP hostname,
vendor class such as ``android-dhcp-14``), which are identifiers too. It runs
as an unprivileged user (it keeps only CAP_NET_ADMIN and CAP_NET_RAW, which
DHCP needs); the files it writes are opened as root at its start. Parsing is
pure: lines in, records out, garbage skipped.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from phonehome.bench.netops import tool
from phonehome.bench.privilege import ServiceUser


@dataclass(frozen=True, slots=True)
class LanPlan:
    """One port group's network as dnsmasq serves it."""

    bridge: str
    router: str
    """The router's address on the bridge (DHCP option 3, and option 6: the bench's resolver)."""
    first: str
    last: str
    netmask: str
    ipv6_prefix: str | None = None
    """Set when IPv6 is offered: router advertisements (SLAAC) on this bridge."""

    @property
    def router_ipv6(self) -> str | None:
        """The router's global IPv6 address on the bridge (the prefix's first host)."""
        if not self.ipv6_prefix:
            return None
        return str(ipaddress.ip_network(self.ipv6_prefix).network_address + 1)


def dnsmasq_argv(lans: list[LanPlan], workdir: Path, *, lease_seconds: int, user: ServiceUser) -> list[str]:
    argv = [
        tool("dnsmasq"),
        "--keep-in-foreground",
        "--conf-file=/dev/null",  # never the host's /etc/dnsmasq.conf
        "--no-hosts",
        "--pid-file=",
        f"--user={user.name}",
        f"--group={user.group}",
        "--port=0",  # no DNS: the bench's resolver answers every name
        "--bind-interfaces",
        f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
        f"--log-facility={workdir / 'dnsmasq.log'}",
        "--log-dhcp",
        "--no-ping",  # without it the first offer waits ~3 s for an ICMP echo that never comes
        "--dhcp-authoritative",
    ]
    for lan in lans:
        argv += [
            f"--interface={lan.bridge}",
            f"--dhcp-range=set:{lan.bridge},{lan.first},{lan.last},{lan.netmask},{lease_seconds}",
            # With --port=0 dnsmasq names no DNS server of its own: the router is the resolver.
            f"--dhcp-option=tag:{lan.bridge},option:dns-server,{lan.router}",
        ]
        if lan.ipv6_prefix:
            argv += [
                "--enable-ra",
                f"--dhcp-range=set:{lan.bridge},::,constructor:{lan.bridge},ra-stateless,64",
                # RDNSS in the router advertisement (RFC 8106) and DHCPv6 option 23 alike.
                f"--dhcp-option=tag:{lan.bridge},option6:dns-server,[{lan.router_ipv6}]",
            ]
    return argv


@dataclass(slots=True)
class Lease:
    """A DHCP lease the bench handed out, with what the client said about itself."""

    mac: str
    ip: str
    hostname: str | None = None
    """DHCP option 12 as the client sent it."""
    vendor_class: str | None = None
    """DHCP option 60 (``android-dhcp-14``...)."""
    client_id: str | None = None
    interface: str | None = None
    """The bridge it was served on."""
    ts: float | None = None
    """When the lease was acknowledged (the log's clock, whole seconds)."""


_LINE = re.compile(r"^(?P<stamp>\w{3} +\d+ \d\d:\d\d:\d\d) dnsmasq-dhcp\[\d+\]: (?P<msg>.*)$")
_XID = re.compile(r"^(?P<xid>\d+) (?P<rest>.*)$")
_ACK = re.compile(r"^DHCPACK\((?P<iface>[^)]+)\) (?P<ip>\S+) (?P<mac>[0-9a-f:]{17})(?: (?P<name>\S+))?")


def _stamp(text: str, now: float) -> float:
    """Log stamps lack the year: this year's, unless that lies in the future (a log from December)."""
    year = time.localtime(now).tm_year
    try:
        ts = time.mktime(time.strptime(f"{year} {text}", "%Y %b %d %H:%M:%S"))
        if ts > now + 86400:
            ts = time.mktime(time.strptime(f"{year - 1} {text}", "%Y %b %d %H:%M:%S"))
    except ValueError:
        return 0.0
    return ts


def parse_log(lines: Iterable[str], now: float | None = None) -> list[Lease]:
    """Leases, one per MAC (the last acknowledged), in the order they were first acknowledged."""
    now = time.time() if now is None else now
    leases: dict[str, Lease] = {}
    pending: dict[str, dict[str, str]] = {}  # DHCP xid -> what the client said about itself
    for raw in lines:
        match = _LINE.match(raw.rstrip("\n"))
        if not match or not (xid_match := _XID.match(match["msg"])):
            continue
        xid, rest = xid_match["xid"], xid_match["rest"]
        info = pending.setdefault(xid, {})
        if rest.startswith("vendor class: "):
            info["vendor_class"] = rest.removeprefix("vendor class: ").strip()
        elif rest.startswith("client provides name: "):
            info["hostname"] = rest.removeprefix("client provides name: ").strip()
        elif ack := _ACK.match(rest):
            leases[ack["mac"]] = Lease(
                mac=ack["mac"],
                ip=ack["ip"],
                hostname=info.get("hostname") or ack["name"],
                vendor_class=info.get("vendor_class"),
                interface=ack["iface"],
                ts=_stamp(match["stamp"], now),
            )
    return list(leases.values())


def parse_leasefile(text: str) -> dict[str, str | None]:
    """MAC -> client id from dnsmasq's lease file (``expiry mac ip hostname client-id`` per line)."""
    ids: dict[str, str | None] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and len(parts[1]) == 17:
            ids[parts[1]] = None if parts[4] == "*" else parts[4]
    return ids


def read_leases(workdir: Path) -> list[Lease]:
    """The leases of the dnsmasq whose files are in ``workdir``."""
    try:
        text = (workdir / "dnsmasq.log").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    leases = parse_log(text.splitlines())
    try:
        ids = parse_leasefile((workdir / "dnsmasq.leases").read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        ids = {}
    for lease in leases:
        lease.client_id = ids.get(lease.mac)
    return leases


def lease_of(leases: list[Lease], bridge: str, macs: list[str]) -> Lease | None:
    """The last lease on ``bridge`` of one of ``macs`` (the port's handset), if it took one."""
    mine = [lease for lease in leases if lease.interface in (None, bridge) and lease.mac in macs]
    return mine[-1] if mine else None


def started(workdir: Path) -> bool:
    """dnsmasq writes ``started`` after it has bound its sockets and dropped to its user."""
    try:
        return "started, version" in (workdir / "dnsmasq.log").read_text(errors="replace")
    except FileNotFoundError:
        return False
