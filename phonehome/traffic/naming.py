"""Server names: what each flow's client believed it was talking to, and how we know.

The best evidence is what the client itself put on the wire for that flow
(TLS or QUIC SNI, HTTP Host). Otherwise the client's own earlier DNS answer
for the server's address names it: the name the client *asked for*, not the
CNAME target a CDN answered with. A flow with none of these went to an IP
literal. Encrypted DNS (DoT, DoH, DoQ) is recognised here because it hides
every later name from this analysis, which a policy must know.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Final

from phonehome.traffic.analysis import DnsAnswer
from phonehome.traffic.dns import AAAA, CNAME, DNAME, A, DnsMessage
from phonehome.traffic.flow import Flow

MAX_ANSWERS: Final = 1_000_000
"""Addresses remembered per capture; beyond it the oldest are forgotten first."""
MAX_RECORDS: Final = 1_000_000
"""Answers kept with their provenance per capture (``DnsBook.answers``); beyond it they are counted."""

DOT_PORT: Final = 853
DOH_RESOLVERS: Final = frozenset(
    {
        "dns.google",
        "dns.google.com",
        "dns64.dns.google",
        "8888.google",
        "cloudflare-dns.com",
        "one.one.one.one",
        "1dot1dot1dot1.cloudflare-dns.com",
        "dns.cloudflare.com",
        "dns.quad9.net",
        "dns9.quad9.net",
        "dns10.quad9.net",
        "dns11.quad9.net",
        "doh.opendns.com",
        "doh.familyshield.opendns.com",
        "dns.adguard.com",
        "dns.adguard-dns.com",
        "dns-unfiltered.adguard.com",
        "family.adguard-dns.com",
        "doh.cleanbrowsing.org",
        "doh.dns.sb",
        "dns.alidns.com",
        "doh.pub",
        "dns.pub",
        "doh.360.cn",
        "dns.twnic.tw",
        "ordns.he.net",
        "doh.mullvad.net",
        "dns.mullvad.net",
        "dns.nextdns.io",
        "doh.libredns.gr",
        "dns.controld.com",
        "freedns.controld.com",
        "private.canadianshield.cira.ca",
        "doh.xfinity.com",
        "dns.switch.ch",
        "doh.ffmuc.net",
        "dns.digitale-gesellschaft.ch",
        "odvr.nic.cz",
        "doh.applied-privacy.net",
        "dns.brahma.world",
        "doh.tiar.app",
        "dns.rabbitdns.org",
    }
)
"""Public DNS-over-HTTPS resolvers (their published endpoint names)."""
DOH_SUFFIXES: Final = (
    ".cloudflare-dns.com",
    ".dns.nextdns.io",
    ".dns.controld.com",
    ".quad9.net",
    ".mozilla.net",
)


def is_doh_resolver(name: str | None) -> bool:
    if not name:
        return False
    if name in DOH_RESOLVERS:
        return True
    return name.endswith(DOH_SUFFIXES) and (
        name.startswith(("dns", "doh", "mozilla.", "chrome.", "security.", "family."))
    )


# Both are memoized (bounded): a capture repeats the same few hundred addresses and names
# thousands of times, and parsing one with ``ipaddress`` costs more than the rest of its packet.
@functools.lru_cache(maxsize=1 << 14)
def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=1 << 14)
def _canonical(address: str) -> str | None:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return None


def resolved(message: DnsMessage) -> list[tuple[str, str]]:
    """(name asked, address) for each A/AAAA answer of a response, CNAME/DNAME chains followed back."""
    if not message.response or not message.answers:
        return []
    asked = [name for name, _ in message.questions]
    # Who each name was reached from: a CNAME/DNAME target inherits the name that led to it.
    origin: dict[str, str] = {name: name for name in asked}
    for _ in range(8):  # chains come in order, but a hostile answer may not; a few passes settle it
        changed = False
        for record in message.answers:
            if record.rtype in (CNAME, DNAME) and record.name in origin and record.value not in origin:
                origin[record.value] = origin[record.name]
                changed = True
        if not changed:
            break
    found = []
    for record in message.answers:
        if record.rtype not in (A, AAAA) or not record.value:
            continue
        # Answers' addresses are inet_ntop's text (dns.py), already canonical: a dotted quad, and
        # for AAAA the same compressed form as ipaddress, except where it prints IPv4 embedded in
        # IPv6 dotted (::ffff:1.2.3.4, which ipaddress writes ::ffff:102:304).
        value = record.value
        address = value if record.rtype == A or "." not in value else _canonical(value)
        if address is not None:
            found.append((origin.get(record.name) or (asked[0] if len(asked) == 1 else record.name), address))
    return found


class DnsBook:
    """Addresses each client learned from DNS answers, mapped to the name it asked for; and every
    answer seen, with who sent it to whom (``answers``), for the policy to trust or not."""

    def __init__(self, max_answers: int = MAX_ANSWERS, max_records: int = MAX_RECORDS) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self.max_answers = max_answers
        self.answers: list[DnsAnswer] = []
        """Every A/AAAA answer of every response, in capture order, up to ``max_records``."""
        self.max_records = max_records
        self.answers_dropped = 0
        """Answers not kept in ``answers`` (it was full)."""

    def __len__(self) -> int:
        return len(self._names)

    def learn(
        self,
        client: str,
        message: DnsMessage,
        client_mac: str | None = None,
        *,
        found: list[tuple[str, str]] | None = None,
    ) -> None:
        """Records the answers of a response that ``client`` received from its server (CNAME chains followed).

        With the client's hardware address, the answers also name flows from
        its other addresses (a dual-stack handset asks over IPv6, connects over IPv4).
        ``found``: ``resolved(message)`` when the caller has it already.
        """
        names = self._names
        by_mac = f"mac:{client_mac}" if client_mac else None
        for name, address in resolved(message) if found is None else found:
            key = (client, address)
            names.pop(key, None)  # re-insert: the latest answer wins and is the last forgotten
            names[key] = name
            if by_mac is not None:
                key = (by_mac, address)
                names.pop(key, None)
                names[key] = name
            while len(names) > self.max_answers:
                del names[next(iter(names))]

    def record(
        self,
        message: DnsMessage,
        *,
        client: str,
        server: str,
        client_mac: str | None,
        server_mac: str | None,
        frame: int,
        ts: float,
        flow_id: int,
        found: list[tuple[str, str]] | None = None,
    ) -> None:
        """Keeps each answer of a response with its provenance: sent by ``server`` to ``client``
        (``found``: ``resolved(message)`` when the caller has it already)."""
        for name, address in resolved(message) if found is None else found:
            if len(self.answers) >= self.max_records:
                self.answers_dropped += 1
                continue
            self.answers.append(
                DnsAnswer(name, address, client, server, client_mac, server_mac, frame, ts, flow_id)
            )

    def name_for(self, client: str, server: str, client_mac: str | None = None) -> str | None:
        """The name ``client`` (or, failing that, the host with ``client_mac``) last resolved to ``server``."""
        name = self._names.get((client, server))
        if name is None and client_mac:
            name = self._names.get((f"mac:{client_mac}", server))
        return name


def assign(flow: Flow, dns_name: str | None) -> None:
    """Sets flow.server_name and name_source from the best evidence available now.

    Called when the flow starts (DNS) and again whenever its client names the
    server itself, which wins: its first SNI (TLS or QUIC; an ECH ClientHello's
    public name included), else its first HTTP Host (or HTTP/2 ``:authority``)
    from any request. IP literals in SNI or Host do not name a server. Every
    name the client wrote stays in ``flow.claims`` for the policy to check.
    """
    if not flow.claims and flow.tls is None and not flow.http_host:  # most flows: no claim yet
        flow.server_name, flow.name_source = (dns_name, "dns") if dns_name else (None, "none")
        return
    hello_names = [c.name for c in flow.claims if c.source in ("sni", "quic-sni", "ech-outer")]
    if flow.tls is not None and flow.tls.sni:
        hello_names.append(flow.tls.sni)
    for name in hello_names:
        if not is_ip_literal(name):
            flow.server_name = name
            flow.name_source = "quic-sni" if flow.transport == "quic" else "sni"
            return
    hosts = [c.name for c in flow.claims if c.source in ("http-host", "h2-authority")]
    if flow.http_host:
        hosts.append(flow.http_host)
    for host in hosts:
        if not is_ip_literal(host):
            flow.server_name = host
            flow.name_source = "http-host"
            return
    if dns_name:
        flow.server_name = dns_name
        flow.name_source = "dns"
        return
    flow.server_name = None
    flow.name_source = "none"
