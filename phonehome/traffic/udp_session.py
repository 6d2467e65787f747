"""The application layer of one UDP flow, a datagram at a time: DNS, QUIC, SSDP-style HTTP, or unknown."""

from __future__ import annotations

from phonehome.traffic import naming
from phonehome.traffic.dns import parse_message
from phonehome.traffic.flow import Flow
from phonehome.traffic.http import HttpRequestParser, looks_like_request
from phonehome.traffic.quic import QuicInitialTracker, looks_like_quic
from phonehome.traffic.sessions import (
    DNS,
    HTTP,
    NEW,
    QUIC,
    QUIC_MAX_DATAGRAMS,
    UDP_SCAN_DATAGRAMS,
    UNKNOWN,
    Context,
    DnsRecorder,
    dns_port,
    embedded_client_hello,
    looks_like_dns_query,
)


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
        self.dns: DnsRecorder | None = None
        self.quic: QuicInitialTracker | None = None
        self.quic_seen = 0
        app = dns_port(flow.sport, flow.dport)
        if app is not None:
            self.kind = DNS
            flow.app, flow.transport = app, "cleartext"
            self.dns = DnsRecorder(flow, ctx)

    def datagram(self, from_client: bool, data: bytes, frame: int, ts: float) -> None:
        kind = self.kind
        observer = self.ctx.observer
        flow = self.flow
        if kind == NEW:
            if looks_like_quic(data):
                kind = self.kind = QUIC
                flow.transport = "quic"
                flow.app = "doq" if flow.dport == naming.DOT_PORT else "quic"
                self.quic = QuicInitialTracker()
            elif looks_like_dns_query(data) is not None:
                kind = self.kind = DNS
                flow.app, flow.transport = "dns", "cleartext"
                self.dns = DnsRecorder(flow, self.ctx)
            elif looks_like_request(data) and b" HTTP/1." in data[: data.find(b"\n")]:
                # HTTP over UDP: SSDP discovery (UPnP) and its kin, one request per datagram.
                kind = self.kind = HTTP
                flow.app, flow.transport = (
                    ("ssdp" if 1900 in (flow.sport, flow.dport) else "http"),
                    "cleartext",
                )
            else:
                kind = self.kind = UNKNOWN
        if kind == UNKNOWN:
            self._scan(data, from_client, frame)
        elif kind == QUIC:
            self._quic(from_client, data, frame)
            return
        elif kind == DNS and self.dns is not None:
            self.dns.message(parse_message(data), from_client, frame, ts)
        elif kind == HTTP and from_client:
            self._http(data, frame)
        if observer is not None:
            side = 0 if from_client else 1
            observer.on_payload(flow, from_client, self.offsets[side], data, frame)
            self.offsets[side] += len(data)

    def _scan(self, data: bytes, from_client: bool, frame: int) -> None:
        flow = self.flow
        self.quic_seen += 1
        if from_client and flow.tls is None:
            hello = embedded_client_hello(data)
            if hello is not None:
                hello.frame = frame
                flow.tls = hello
                naming.assign(flow, self.dns_name)
        if self.ctx.observer is None and (flow.tls is not None or self.quic_seen >= UDP_SCAN_DATAGRAMS):
            self.active = False

    def _http(self, data: bytes, frame: int) -> None:
        parser = HttpRequestParser(body_limit=self.ctx.body_limit)
        offset = self.offsets[0]
        requests = parser.feed(data, offset, frame) + parser.finish()
        flow = self.flow
        self.ctx.record_requests(flow, requests)
        if requests and flow.name_source != "http-host":
            naming.assign(flow, self.dns_name)

    def _quic(self, from_client: bool, data: bytes, frame: int) -> None:
        tracker = self.quic
        if tracker is None:
            self.active = False
            return
        self.quic_seen += 1
        hello = tracker.feed(data, from_client, frame)
        if hello is not None:
            flow = self.flow
            hello.frame = frame
            flow.tls = hello
            if naming.is_doh_resolver(hello.sni):
                flow.app = "doh"
            naming.assign(flow, self.dns_name)
        if hello is not None or self.quic_seen >= QUIC_MAX_DATAGRAMS:
            self.quic = None
            self.active = False

    def finish(self) -> None:
        self.quic = None
        self.active = False
