"""dnsmasq for the bench: its command line, and what its log says about leases and DNS queries.

One dnsmasq per bench, in the router namespace, serves DHCP on every port
group's bridge and DNS to the handsets. Its log (``--log-queries=extra
--log-dhcp``) is the record of what the handset asked for and what it called
itself (DHCP hostname, vendor class such as ``android-dhcp-14``), which are
identifiers too. Parsing is pure: lines in, records out, garbage skipped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from phonehome.bench.netops import tool


@dataclass(frozen=True, slots=True)
class LanPlan:
    """One port group's network as dnsmasq serves it."""

    bridge: str
    router: str
    """The router's address on the bridge (DHCP option 3 and the DNS server)."""
    first: str
    last: str
    netmask: str
    ipv6_prefix: str | None = None
    """Set when IPv6 is offered: router advertisements (SLAAC) on this bridge."""


def dnsmasq_argv(
    lans: list[LanPlan],
    workdir: Path,
    *,
    mode: str,
    sink_ipv4: str,
    sink_ipv6: str | None,
    upstream: list[str],
    lease_seconds: int,
) -> list[str]:
    argv = [
        tool("dnsmasq"),
        "--keep-in-foreground",
        "--conf-file=/dev/null",  # never the host's /etc/dnsmasq.conf
        "--no-hosts",
        "--pid-file=",
        "--user=root",  # the lease and log files live in the bench's (root-owned) folder
        "--bind-interfaces",
        f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
        f"--log-facility={workdir / 'dnsmasq.log'}",
        "--log-queries=extra",
        "--log-dhcp",
        "--no-ping",  # without it the first offer waits ~3 s for an ICMP echo that never comes
        "--dhcp-authoritative",
        "--cache-size=0",  # every query reaches the log with its answer, none is served silently
    ]
    for lan in lans:
        argv += [
            f"--interface={lan.bridge}",
            f"--dhcp-range=set:{lan.bridge},{lan.first},{lan.last},{lan.netmask},{lease_seconds}",
        ]
        if lan.ipv6_prefix:
            argv += [
                "--enable-ra",
                f"--dhcp-range=set:{lan.bridge},::,constructor:{lan.bridge},ra-stateless,64",
            ]
    if mode == "nat":
        argv += [f"--server={server}" for server in upstream] if upstream else []
        if upstream:
            argv.append("--no-resolv")
    else:
        # Every name is the sink. AAAA (and HTTPS, type 65) get clean empty answers through
        # --local instead of REFUSED, unless IPv6 is offered and then they get the IPv6 sink.
        argv += ["--no-resolv", f"--address=/#/{sink_ipv4}"]
        if sink_ipv6:
            argv.append(f"--address=/#/{sink_ipv6}")
        argv.append("--local=/#/")
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


@dataclass(frozen=True, slots=True)
class DnsLogEntry:
    """One DNS question the bench received and what it answered."""

    ts: float
    client: str
    name: str
    qtype: str
    """``A``, ``AAAA``, ``type=65``... as dnsmasq writes it."""
    answers: tuple[str, ...] = field(default_factory=tuple)


_LINE = re.compile(r"^(?P<stamp>\w{3} +\d+ \d\d:\d\d:\d\d) dnsmasq(?P<dhcp>-dhcp)?\[\d+\]: (?P<msg>.*)$")
_QUERY = re.compile(
    r"^(?P<serial>\d+) (?P<client>[0-9a-fA-F.:]+)/\d+ query\[(?P<qtype>[^\]]+)\] (?P<name>\S+) from "
)
_REPLY = re.compile(
    r"^(?P<serial>\d+) \S+ (?:config|reply|cached|forwarded) (?P<name>\S+) (?:is|to) (?P<answer>.+)$"
)
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


def parse_log(lines: Iterable[str], now: float | None = None) -> tuple[list[Lease], list[DnsLogEntry]]:
    """Leases (one per MAC, the last acknowledged) and DNS questions, in log order."""
    now = time.time() if now is None else now
    leases: dict[str, Lease] = {}
    pending: dict[str, dict[str, str]] = {}  # DHCP xid -> what the client said about itself
    queries: dict[str, tuple[float, str, str, str]] = {}
    answers: dict[str, list[str]] = {}
    order: list[str] = []
    for raw in lines:
        match = _LINE.match(raw.rstrip("\n"))
        if not match:
            continue
        msg = match["msg"]
        if match["dhcp"]:
            xid_match = _XID.match(msg)
            if not xid_match:
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
            continue
        if q := _QUERY.match(msg):
            key = q["serial"]
            if key not in queries:
                order.append(key)
            queries[key] = (_stamp(match["stamp"], now), q["client"], q["name"].lower(), q["qtype"])
            answers[key] = []
        elif (r := _REPLY.match(msg)) and r["serial"] in answers:
            answers[r["serial"]].append(r["answer"].strip())
    entries = [
        DnsLogEntry(ts, client, name, qtype, tuple(answers[key]))
        for key in order
        for ts, client, name, qtype in [queries[key]]
    ]
    return list(leases.values()), entries


def parse_leasefile(text: str) -> dict[str, str | None]:
    """MAC -> client id from dnsmasq's lease file (``expiry mac ip hostname client-id`` per line)."""
    ids: dict[str, str | None] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and len(parts[1]) == 17:
            ids[parts[1]] = None if parts[4] == "*" else parts[4]
    return ids


def read_leases(workdir: Path) -> tuple[list[Lease], list[DnsLogEntry]]:
    """Leases and DNS questions of the dnsmasq whose files are in ``workdir``."""
    log = workdir / "dnsmasq.log"
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    leases, queries = parse_log(text.splitlines())
    try:
        ids = parse_leasefile((workdir / "dnsmasq.leases").read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        ids = {}
    for lease in leases:
        lease.client_id = ids.get(lease.mac)
    return leases, queries


def started(workdir: Path) -> bool:
    """dnsmasq writes ``started`` after it has bound its sockets."""
    try:
        return "started, version" in (workdir / "dnsmasq.log").read_text(errors="replace")
    except FileNotFoundError:
        return False
