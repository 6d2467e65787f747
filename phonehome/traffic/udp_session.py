"""The application layer of one UDP flow, a datagram at a time: DNS, QUIC, DHCP, SSDP-style HTTP, or unknown.

With an observer, every datagram either side sends reaches it (QUIC's
included); the parsers run alongside. Without one, a flow whose parser is
done only counts (QUIC after its first ClientHello, unknown payload after a
few datagrams were searched for an embedded ClientHello).
"""

from __future__ import annotations

from typing import Final

from phonehome.traffic import naming
from phonehome.traffic.dhcp import V4_PORTS, V6_PORTS, looks_like_dhcpv4, parse_dhcpv4, parse_dhcpv6
from phonehome.traffic.dns import parse_message
from phonehome.traffic.flow import ClaimSource, Content, Flow, TlsHello
from phonehome.traffic.http import HttpRequestParser, looks_like_request
from phonehome.traffic.quic import QuicInitialTracker, looks_like_quic, tracker_key
from phonehome.traffic.sessions import (
    DHCP,
    DNS,
    HTTP,
    NEW,
    QUIC,
    QUIC_MAX_DATAGRAMS,
    UDP_SCAN_DATAGRAMS,
    UNKNOWN,
    Context,
    DnsRecorder,
    anomaly,
    claim,
    dns_port,
    embedded_client_hello,
    looks_like_dns_query,
)
from phonehome.traffic.tls_session import weakest_offer

MAX_DHCP: Final = 64
"""DHCP messages kept per flow (a client retrying for an hour sends hundreds)."""
MAX_QUIC_CONNECTIONS: Final = 8
"""QUIC connections (client Initial DCIDs) followed per flow, Retries and new connections included."""


class UdpSession:
    """The application layer of one UDP flow, a datagram at a time."""

    __slots__ = ("active", "ctx", "dns", "dns_name", "flow", "kind", "offsets", "quic", "quic_seen")

    def __init__(self, flow: Flow, ctx: Context, dns_name: str | None) -> None:
        self.flow = flow
        self.ctx = ctx
        self.dns_name = dns_name
        self.kind = NEW
        self.active = True
        """False once no datagram of this flow needs reading (the analyzer then only counts)."""
        self.offsets = [0, 0]
        """Bytes each direction (client, server) sent so far: the next datagram's stream offset."""
        self.dns: DnsRecorder | None = None
        self.quic: dict[bytes, tuple[QuicInitialTracker, int]] = {}
        """Per client connection (see ``quic.tracker_key``): its tracker and the offset of its first datagram."""
        self.quic_seen = 0
        sport, dport = flow.sport, flow.dport
        app = dns_port(sport, dport)
        v6 = sport in V6_PORTS or dport in V6_PORTS
        if v6 or sport in V4_PORTS or dport in V4_PORTS:
            self.kind = DHCP
            flow.app = "dhcpv6" if v6 else "dhcp"
            flow.transport = "cleartext"
        elif app is not None:
            self.kind = DNS
            flow.app, flow.transport = app, "cleartext"
            self.dns = DnsRecorder(flow, ctx)

    def datagram(self, from_client: bool, data: bytes, frame: int, ts: float) -> None:
        kind = self.kind
        flow = self.flow
        if kind == NEW:
            kind = self._classify(data)
        side = 0 if from_client else 1
        offset = self.offsets[side]
        self.offsets[side] += len(data)
        if kind == UNKNOWN:
            self._scan(data, from_client, frame)
        elif kind == QUIC:
            self._quic(from_client, data, frame, offset)
        elif kind == DNS and self.dns is not None:
            self.dns.message(parse_message(data), from_client, frame, ts)
        elif kind == HTTP and from_client:
            self._http(data, frame, offset)
        elif kind == DHCP:
            self._dhcp(from_client, data, frame, offset)
        observer = self.ctx.observer
        if observer is not None:
            observer.on_payload(flow, from_client, offset, data, frame)

    def _classify(self, data: bytes) -> int:
        flow = self.flow
        if looks_like_dhcpv4(data):
            self.kind = DHCP
            flow.app, flow.transport = "dhcp", "cleartext"
        elif looks_like_quic(data):
            self.kind = QUIC
            flow.transport = "quic"
            flow.app = "doq" if flow.dport == naming.DOT_PORT else "quic"
        elif looks_like_dns_query(data) is not None:
            self.kind = DNS
            flow.app, flow.transport = "dns", "cleartext"
            self.dns = DnsRecorder(flow, self.ctx)
        elif looks_like_request(data) and b" HTTP/1." in data[: data.find(b"\n")]:
            # HTTP over UDP: SSDP discovery (UPnP) and its kin, one request per datagram.
            self.kind = HTTP
            flow.app = "ssdp" if 1900 in (flow.sport, flow.dport) else "http"
            flow.transport = "cleartext"
        else:
            self.kind = UNKNOWN
        return self.kind

    def _scan(self, data: bytes, from_client: bool, frame: int) -> None:
        flow = self.flow
        self.quic_seen += 1
        if from_client:
            hello = embedded_client_hello(data)
            if hello is not None:
                self._hello(hello, frame, "sni")
        if self.ctx.observer is None and (flow.tls is not None or self.quic_seen >= UDP_SCAN_DATAGRAMS):
            self.active = False

    def _hello(self, hello: TlsHello, frame: int, source: ClaimSource) -> None:
        flow = self.flow
        hello.frame = frame
        if flow.tls is None or weakest_offer(hello) < weakest_offer(flow.tls):
            flow.tls = hello
        claim(
            flow,
            hello.sni,
            "ech-outer" if hello.ech else source,
            frame,
        )
        naming.assign(flow, self.dns_name)

    def _http(self, data: bytes, frame: int, offset: int) -> None:
        parser = HttpRequestParser(body_limit=self.ctx.body_limit)
        requests = parser.feed(data, offset, frame) + parser.finish()
        flow = self.flow
        self.ctx.record_requests(flow, requests)
        if requests and flow.name_source != "http-host":
            naming.assign(flow, self.dns_name)

    def _quic(self, from_client: bool, data: bytes, frame: int, offset: int) -> None:
        observer = self.ctx.observer
        self.quic_seen += 1
        key = tracker_key(data) if from_client else None
        if key is not None:
            entry = self.quic.get(key)
            if entry is None and not self._quic_switched(key, data, frame):
                if len(self.quic) < MAX_QUIC_CONNECTIONS:
                    entry = self.quic[key] = (QuicInitialTracker(), offset)
                else:
                    anomaly(
                        self.flow,
                        f"more than {MAX_QUIC_CONNECTIONS} QUIC connections: later ones not read",
                        unread=True,
                    )
            if entry is not None and not entry[0].done:
                self._quic_feed(entry[0], entry[1], data, frame)
        if observer is None and (self.flow.tls is not None or self.quic_seen >= QUIC_MAX_DATAGRAMS):
            self.active = False

    def _quic_switched(self, key: bytes, data: bytes, frame: int) -> bool:
        """A client may move to a new DCID before its hello is complete (its keys stay those of the
        first, RFC 9001 5.2): an unfinished connection that can open the datagram takes it."""
        for entry in list(self.quic.values()):
            tracker = entry[0]
            if not tracker.done:
                before = tracker.decrypted
                self._quic_feed(tracker, entry[1], data, frame)
                if tracker.decrypted > before:
                    self.quic[key] = entry
                    return True
        return False

    def _quic_feed(self, tracker: QuicInitialTracker, start: int, data: bytes, frame: int) -> None:
        hello = tracker.feed(data, True, frame)
        if hello is None:
            return
        flow = self.flow
        self.ctx.content(flow, True, Content("quic-clienthello", tracker.message, start, frame))
        tracker.message = b""
        self._hello(hello, frame, "quic-sni")
        if naming.is_doh_resolver(hello.sni):
            flow.app = "doh"

    def _dhcp(self, from_client: bool, data: bytes, frame: int, offset: int) -> None:
        flow = self.flow
        parse = parse_dhcpv6 if flow.app == "dhcpv6" else parse_dhcpv4
        message = parse(data, from_client=from_client, frame=frame, offset=offset)
        if message is None:
            self.ctx.stats["dhcp-malformed"] += 1
            anomaly(flow, "a datagram on a DHCP port did not parse as DHCP")
        elif len(flow.dhcp) < MAX_DHCP:
            flow.dhcp.append(message)
        else:
            anomaly(flow, f"more than {MAX_DHCP} DHCP messages: later ones not kept", unread=True)

    def finish(self) -> None:
        self.quic = {}
        self.active = False
