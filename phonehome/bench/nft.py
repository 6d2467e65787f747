"""The nftables rulesets of a bench, as text built from a plan (no I/O: unit-tested as strings).

Router namespace: TPROXY every TCP and UDP flow from the handset ports to the
sinks (sinkhole: whatever the address, so every resolver pool address too; TCP
to the TLS service instead when the bench validates or intercepts TLS),
answer DNS to any address with the bench's resolver, refuse QUIC and DoT when
asked, drop IPv6 when blocked, and forward nothing except, in nat mode, to the
uplink (only to ``allow`` when enforcing). On the bridge: each port serves DHCP
to its handset's MACs only and remembers every other MAC it saw (a DHCP
starvation attack gets no lease and is on record). When the capture stops, the
window closes: nothing the handsets send is delivered or forwarded any more.
Host namespace (nat only): the bench's uplink reaches the named interface and
nothing else of the host, masqueraded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from phonehome.bench.definition import AllowRule

ROUTER_TABLE = "phonehome"
"""``inet phonehome`` (routing, sinks, DNS) and ``bridge phonehome`` (the ports' MAC guard)."""
CLOSED_TABLE = "phonehome_closed"
TPROXY_MARK = 1
TPROXY_TABLE = 100
FOREIGN_LIMIT = 1024
"""Foreign MACs remembered per port; beyond that the set is full and the count is "at least"."""
DHCP_PORTS = "{ 67, 547 }"


@dataclass(frozen=True, slots=True)
class RouterPlan:
    """What the router namespace's ruleset needs to know."""

    lans: tuple[str, ...]
    """Bridge interfaces the handsets are on."""
    mode: str
    tcp_sink_port: int = 0
    udp_sink_port: int = 0
    tls_port: int = 0
    """The TLS service's port (``tls: validate`` or ``intercept``): every TCP flow goes there, not to the sinks."""
    block_quic: bool = False
    dot: str = "capture"
    ipv6: str = "block"
    uplink: str | None = None
    enforce: bool = False
    allow: tuple[AllowRule, ...] = field(default_factory=tuple)


def _set(names: tuple[str, ...]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }"


def router_ruleset(plan: RouterPlan) -> str:
    lans = _set(plan.lans)
    mangle = [f"iifname != {lans} return"]
    if plan.ipv6 == "block":
        mangle.append("meta nfproto ipv6 counter drop")
    mangle += [
        "udp dport { 67, 547 } return",
        "meta l4proto { tcp, udp } th dport 53 return",
    ]
    dstnat = [f"iifname != {lans} return", "meta l4proto { tcp, udp } th dport 53 redirect"]
    refused = []
    if plan.block_quic:
        mangle.append("udp dport 443 return")
        dstnat.append("udp dport 443 redirect")
        refused.append("udp dport 443 reject")
    if plan.dot == "refuse":
        mangle.append("tcp dport 853 return")
        dstnat.append("tcp dport 853 redirect")
        refused.append("tcp dport 853 reject with tcp reset")
    if plan.mode == "sinkhole":
        tcp_port = plan.tls_port or plan.tcp_sink_port
        mangle += [
            f"meta nfproto ipv4 meta l4proto tcp tproxy ip to :{tcp_port} meta mark set {TPROXY_MARK} accept",
            f"meta nfproto ipv4 meta l4proto udp tproxy ip to :{plan.udp_sink_port} meta mark set {TPROXY_MARK} accept",
        ]
        if plan.ipv6 == "offer":
            mangle += [
                f"meta nfproto ipv6 meta l4proto tcp tproxy ip6 to :{tcp_port} meta mark set {TPROXY_MARK} accept",
                f"meta nfproto ipv6 meta l4proto udp tproxy ip6 to :{plan.udp_sink_port} meta mark set {TPROXY_MARK} accept",
            ]

    input_rules = []
    if plan.uplink:
        input_rules += [
            f'iifname "{plan.uplink}" ct state established,related accept',
            f'iifname "{plan.uplink}" drop',
        ]
    input_rules += [
        f"iifname != {lans} accept",
        "ct state established,related accept",
        f"meta mark {TPROXY_MARK} accept",
        *refused,
        "udp dport { 67, 547 } accept",
        "meta l4proto { tcp, udp } th dport 53 accept",
        "meta l4proto icmp accept",
        "meta l4proto ipv6-icmp accept",
        "meta l4proto tcp reject with tcp reset",
        "reject",
    ]

    forward = ["ct state established,related accept"]
    if plan.mode == "nat" and plan.uplink:
        leave = f'iifname {lans} oifname "{plan.uplink}"'
        forward += [f"{leave} {r}" for r in refused]
        if plan.enforce:
            forward += [f"{leave} {allow_rule(rule)} accept" for rule in plan.allow]
            forward.append(f'{leave} log prefix "phonehome-enforce " counter drop')
        else:
            forward.append(f"{leave} accept")
    forward.append("counter drop")

    chains = [
        _chain("mangle", "filter hook prerouting priority mangle; policy accept;", mangle),
        _chain("dstnat", "nat hook prerouting priority dstnat; policy accept;", dstnat),
        _chain("input", "filter hook input priority filter; policy accept;", input_rules),
        _chain("forward", "filter hook forward priority filter; policy drop;", forward),
    ]
    if plan.mode == "nat" and plan.uplink:
        chains.append(
            _chain(
                "srcnat",
                "nat hook postrouting priority srcnat; policy accept;",
                [f'oifname "{plan.uplink}" masquerade'],
            )
        )
    return f"table inet {ROUTER_TABLE} {{\n" + "".join(chains) + "}\n"


@dataclass(frozen=True, slots=True)
class PortGuard:
    """Which hardware addresses a port's handset may use."""

    name: str
    interface: str
    macs: tuple[str, ...]
    """The handset's MACs; empty: the first MAC that asks for DHCP is the handset's."""
    isolated: bool = True
    """Nothing else belongs on the port: with the MACs known, any frame from another MAC is recorded."""


def handset_set(port: str) -> str:
    return f"handset_{port}"


def chaddr_set(port: str) -> str:
    return f"chaddr_{port}"


def foreign_set(port: str) -> str:
    return f"foreign_{port}"


def spoofed_set(port: str) -> str:
    return f"spoofed_{port}"


CHADDR = "@th,288,48"
"""A DHCPv4 message's client hardware address (chaddr, RFC 2131 section 2), the MAC a lease is
given to: 28 bytes into BOOTP, after the 8-byte UDP header. It need not be the frame's source."""
DHCP4 = "ether type ip udp dport 67"


def guard_ruleset(ports: tuple[PortGuard, ...]) -> str:
    """``bridge phonehome``: DHCP only for each port's handset; other MACs refused and recorded.

    A lease goes to the chaddr inside the request, not to the frame's sender, so
    both must be the handset's: a handset that keeps its own source MAC and asks
    for 300 addresses under 300 invented chaddrs is refused too. On an isolated
    port whose handset MACs are known, every frame from another MAC is recorded;
    otherwise only other DHCP clients are (an AP's own frames on a shared cable,
    or any frame before the first client's request, are not foreign).
    """
    sets, rules = [], []
    for port in ports:
        own, chaddr = handset_set(port.name), chaddr_set(port.name)
        foreign, spoofed = foreign_set(port.name), spoofed_set(port.name)
        where = f'iifname "{port.interface}"'
        if port.macs:
            sets.append(_set_def(own, "type ether_addr", f"elements = {{ {', '.join(port.macs)} }}"))
            hexes = ", ".join("0x" + mac.replace(":", "") for mac in port.macs)
            sets.append(_set_def(chaddr, f"typeof {CHADDR}", f"elements = {{ {hexes} }}"))
            which = "" if port.isolated else f"udp dport {DHCP_PORTS} "
            rules.append(f"{where} {which}ether saddr != @{own} add @{foreign} {{ ether saddr }}")
        else:
            sets.append(_set_def(own, "type ether_addr", "size 1", "flags dynamic"))
            sets.append(_set_def(chaddr, f"typeof {CHADDR}", "size 1", "flags dynamic"))
            # When a set is full, `add` fails and the rule stops: only the first client gets in.
            rules.append(f"{where} udp dport {DHCP_PORTS} add @{own} {{ ether saddr }}")
            rules.append(f"{where} {DHCP4} ether saddr == @{own} add @{chaddr} {{ {CHADDR} }}")
            rules.append(
                f"{where} udp dport {DHCP_PORTS} ether saddr != @{own} add @{foreign} {{ ether saddr }}"
            )
        sets.append(_set_def(foreign, "type ether_addr", f"size {FOREIGN_LIMIT}", "flags dynamic"))
        sets.append(_set_def(spoofed, f"typeof {CHADDR}", f"size {FOREIGN_LIMIT}", "flags dynamic"))
        rules.append(f"{where} udp dport {DHCP_PORTS} ether saddr != @{own} counter drop")
        rules.append(f"{where} {DHCP4} {CHADDR} != @{chaddr} add @{spoofed} {{ {CHADDR} }}")
        rules.append(f"{where} {DHCP4} {CHADDR} != @{chaddr} counter drop")
    chain = _chain("guard", "filter hook prerouting priority -200; policy accept;", rules)
    return f"table bridge {ROUTER_TABLE} {{\n" + "".join(sets) + chain + "}\n"


def _set_def(name: str, *lines: str) -> str:
    return f"  set {name} {{\n" + "".join(f"    {line}\n" for line in lines) + "  }\n"


def closed_ruleset(lans: tuple[str, ...]) -> str:
    """The end of the capture window: every packet from the handset ports is dropped before routing.

    The capture still sees what the handsets send (it taps the port before any
    rule), but no sink, resolver or uplink receives it: nothing passes the bench
    uncaptured between the capture's end and the bench's removal.
    """
    return (
        f"table inet {CLOSED_TABLE} {{\n"
        + _chain(
            "closed",
            "filter hook prerouting priority raw - 10; policy accept;",
            [f"iifname {_set(lans)} drop"],
        )
        + "}\n"
    )


def allow_rule(rule: AllowRule) -> str:
    net = ipaddress.ip_network(rule.cidr)
    family = "ip" if net.version == 4 else "ip6"
    parts = [f"{family} daddr {net}"]
    ports = "{ " + ", ".join(str(p) for p in rule.ports) + " }" if rule.ports else ""
    if rule.proto == "any":
        if ports:
            parts.append(f"meta l4proto {{ tcp, udp }} th dport {ports}")
    else:
        parts.append(f"{rule.proto} dport {ports}" if ports else f"meta l4proto {rule.proto}")
    return " ".join(parts)


def host_ruleset(table: str, uplink: str, host_interface: str, transfer: str) -> str:
    """nat mode, host namespace: the bench's uplink reaches ``host_interface`` only, masqueraded."""
    up, out = f'"{uplink}"', f'"{host_interface}"'
    return (
        f"table inet {table} {{\n"
        + _chain("input", "filter hook input priority filter - 10; policy accept;", [f"iifname {up} drop"])
        + _chain(
            "forward",
            "filter hook forward priority filter - 10; policy accept;",
            [
                f"iifname {up} oifname {out} accept",
                f"iifname {up} drop",
                f"iifname {out} oifname {up} ct state established,related accept",
                f"oifname {up} drop",
            ],
        )
        + _chain(
            "srcnat",
            "nat hook postrouting priority srcnat; policy accept;",
            [f"oifname {out} ip saddr {transfer} masquerade"],
        )
        + "}\n"
    )


def _chain(name: str, hook: str, rules: list[str]) -> str:
    body = "".join(f"    {rule}\n" for rule in rules)
    return f"  chain {name} {{\n    type {hook}\n{body}  }}\n"
