"""Per-flow application layer: recognise what a flow speaks, feed its parser, tell the observer.

One session per flow. A TCP session receives each direction's reassembled
bytes; a UDP session each datagram. Each decides when a direction's payload
is no longer needed (a TLS flow after its ClientHello and ServerHello, a
QUIC flow after its Initial ClientHello, anything unrecognised when nobody
observes) and switches that direction to counting only: that is what keeps
a long capture of bulk encrypted data cheap.
"""

from __future__ import annotations

from collections import Counter

from phonehome.traffic import naming
from phonehome.traffic.dns import DnsMessage, TcpDnsStream, parse_message
from phonehome.traffic.flow import DnsQuery, Flow, FlowObserver, HttpRequest, TlsHello
from phonehome.traffic.http import HttpRequestParser, looks_like_request
from phonehome.traffic.quic import QuicInitialTracker, looks_like_quic
from phonehome.traffic.tcp import TcpStream
from phonehome.traffic.tls import HandshakeReader, ReadState, parse_client_hello

DNS_PORTS = {53: "dns", 5353: "mdns", 5355: "llmnr"}
CLASSIFY_BYTES = 8
"""Client bytes needed to tell TLS from HTTP from anything else (a TLS record header is 5)."""
QUIC_MAX_DATAGRAMS = 64
UDP_SCAN_DATAGRAMS = 8
"""Datagrams of an unrecognised UDP flow searched for an embedded TLS ClientHello (RDP over UDP...)."""
PROXY_V1 = b"PROXY "
PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n"
MAX_PREFIX = 4096
"""Datagrams a QUIC flow is searched for its Initial ClientHello before we stop looking."""
TLS_CONTENT_TYPES = frozenset({20, 21, 22, 23})

_NEW, _TLS, _HTTP, _DNS, _UNKNOWN, _QUIC = range(6)


def looks_like_dns_query(data: bytes) -> DnsMessage | None:
    """A DNS query on a port that does not say so (DNSCrypt certificates on 443, resolvers on odd ports)."""
    if len(data) < 17 or data[2] & 0xF8 or data[4:6] != b"\x00\x01" or data[6:8] != b"\x00\x00":
        return None  # a response, another opcode, or not exactly one question
    msg = parse_message(data)
    if msg is None or msg.malformed or len(msg.questions) != 1 or msg.questions[0][1] == 0:
        return None
    name = msg.questions[0][0]
    if not name or "\\" in name or name.startswith("<"):
        return None
    return msg


class Context:
    """What all sessions of one analysis share."""

    __slots__ = ("body_limit", "book", "observer", "stats")

    def __init__(
        self, observer: FlowObserver | None, book: naming.DnsBook, stats: Counter[str], body_limit: int
    ) -> None:
        self.observer = observer
        self.book = book
        self.stats = stats
        self.body_limit = body_limit


def dns_port(sport: int, dport: int) -> str | None:
    """The DNS flavour a flow's ports say it carries, if any."""
    return DNS_PORTS.get(dport) or DNS_PORTS.get(sport)


def _looks_like_tls(prefix: bytes) -> bool:
    """A TLS record header (RFC 8446 5.1): content type, version 3.x, a sane length; or an SSLv2-framed ClientHello."""
    if len(prefix) < 5:
        return False
    if prefix[0] & 0x80 and prefix[2] == 1 and prefix[3] in (2, 3):  # RFC 6101 E.1, still sent by old stacks
        return True
    return (
        prefix[0] in TLS_CONTENT_TYPES
        and prefix[1] == 3
        and prefix[2] <= 4
        and ((prefix[3] << 8) | prefix[4]) <= 18432
    )


def proxy_header_length(prefix: bytes) -> int | None:
    """Bytes of a PROXY protocol header (haproxy.org proxy-protocol.txt) opening a stream; None: undecided yet.

    A load balancer prepends it to the client's bytes, before the TLS or HTTP it carries.
    """
    if prefix[:6] == PROXY_V1:
        end = prefix.find(b"\r\n", 0, 108)
        return end + 2 if end >= 0 else (None if len(prefix) < 108 else 0)
    if prefix[:12] == PROXY_V2:
        return 16 + ((prefix[14] << 8) | prefix[15]) if len(prefix) >= 16 else None
    if PROXY_V1.startswith(prefix[:6]) or PROXY_V2.startswith(prefix[:12]):
        return None
    return 0


def embedded_client_hello(data: bytes) -> TlsHello | None:
    """A TLS ClientHello record somewhere inside a datagram (protocols that tunnel TLS over UDP)."""
    start = data.find(b"\x16\x03")
    while 0 <= start <= len(data) - 9:
        if data[start + 2] <= 4 and data[start + 5] == 1:
            length = int.from_bytes(data[start + 6 : start + 9], "big")
            hello = parse_client_hello(data[start + 9 : start + 9 + length])
            if hello is not None and hello.sni:
                return hello
        start = data.find(b"\x16\x03", start + 1)
    return None


class _DnsRecorder:
    """DNS messages of a flow: the client's questions to the flow, responses' answers to the book."""

    __slots__ = ("ctx", "flow", "seen")

    def __init__(self, flow: Flow, ctx: Context) -> None:
        self.flow = flow
        self.ctx = ctx
        self.seen: set[tuple[str, int]] = set()

    def message(self, msg: DnsMessage | None, from_client: bool, frame: int, ts: float) -> None:
        if msg is None:
            self.ctx.stats["dns-not-dns"] += 1
            return
        if msg.malformed:
            self.ctx.stats["dns-malformed"] += 1
        flow = self.flow
        for name, qtype in msg.questions:
            # A response repeats the question: it counts when the query itself was not captured.
            if (name, qtype) not in self.seen:
                self.seen.add((name, qtype))
                flow.dns_queries.append(DnsQuery(name, qtype, frame, ts))
        if msg.response and flow.app == "dns":
            self.ctx.book.learn(flow.src if not from_client else flow.dst, msg)


class TcpSession:
    """The application layer of one TCP flow."""

    __slots__ = (
        "c2s",
        "ctx",
        "dns",
        "dns_c2s",
        "dns_name",
        "dns_s2c",
        "flow",
        "http",
        "kind",
        "next_c2s",
        "next_s2c",
        "prefix",
        "prefix_offset",
        "s2c",
        "tls_client",
        "tls_server",
        "tls_start",
        "ts",
    )

    def __init__(self, flow: Flow, ctx: Context, dns_name: str | None) -> None:
        self.flow = flow
        self.ctx = ctx
        self.dns_name = dns_name
        self.c2s: TcpStream | None = None
        self.s2c: TcpStream | None = None
        self.kind = _NEW
        self.prefix = b""
        self.prefix_offset = 0
        self.next_c2s = 0
        self.next_s2c = 0
        self.tls_client: HandshakeReader | None = None
        self.tls_server: HandshakeReader | None = None
        self.tls_start = 0
        self.http: HttpRequestParser | None = None
        self.dns: _DnsRecorder | None = None
        self.dns_c2s: TcpDnsStream | None = None
        self.dns_s2c: TcpDnsStream | None = None
        self.ts = flow.first_ts
        app = dns_port(flow.sport, flow.dport)
        if app is not None:
            self.kind = _DNS
            flow.app, flow.transport = app, "cleartext"
            self.dns = _DnsRecorder(flow, ctx)
            self.dns_c2s, self.dns_s2c = TcpDnsStream(), TcpDnsStream()

    def stream(self, from_client: bool, base: int) -> TcpStream:
        """Creates one direction's stream, reassembling only if that direction's bytes are still wanted."""
        stream = TcpStream(base, self.client_data if from_client else self.server_data)
        if from_client:
            self.c2s = stream
        else:
            self.s2c = stream
        if not self._wants(from_client):
            stream.stop()
        return stream

    def _wants(self, from_client: bool) -> bool:
        kind = self.kind
        if kind in (_NEW, _DNS):
            return True
        if kind == _TLS:
            return (self.tls_client if from_client else self.tls_server) is not None
        if kind == _HTTP and from_client and self.http is not None:
            return True
        return self.ctx.observer is not None

    # -- client to server ----------------------------------------------------------------------------

    def client_data(self, offset: int, data: bytes, frame: int) -> None:
        gap = offset != self.next_c2s
        self.next_c2s = offset + len(data)
        if self.kind == _NEW:
            if gap and self.prefix:
                self._classify(frame)  # the prefix is all we will get contiguously
            else:
                if not self.prefix:
                    self.prefix_offset = offset
                self.prefix += data
                skip = proxy_header_length(self.prefix)
                if skip is None:
                    if len(self.prefix) < MAX_PREFIX:
                        return
                    skip = 0
                if len(self.prefix) - skip >= CLASSIFY_BYTES:
                    self._classify(frame)
                return
        self._client(offset, data, frame, gap)

    def _client(self, offset: int, data: bytes, frame: int, gap: bool) -> None:
        kind = self.kind
        observer = self.ctx.observer
        if kind == _TLS:
            self._tls_client(offset, data, frame, gap)
        elif kind == _HTTP:
            if observer is not None:
                observer.on_payload(self.flow, True, offset, data, frame)
            self._http(offset, data, frame)
        elif kind == _DNS:
            self._dns_stream(True, data, frame, gap)
            if observer is not None:
                observer.on_payload(self.flow, True, offset, data, frame)
        elif observer is not None:
            observer.on_payload(self.flow, True, offset, data, frame)
        elif self.c2s is not None:
            self.c2s.stop()

    def _classify(self, frame: int) -> None:
        """Decides what the flow speaks from the client's first bytes, then hands them on."""
        data, offset = self.prefix, self.prefix_offset
        self.prefix = b""
        flow = self.flow
        skip = proxy_header_length(data) or 0
        if skip:
            if self.ctx.observer is not None:
                self.ctx.observer.on_payload(flow, True, offset, data[:skip], frame)
            data, offset = data[skip:], offset + skip
        if _looks_like_tls(data):
            self.kind = _TLS
            flow.transport = "tls"
            flow.app = "dot" if flow.dport == naming.DOT_PORT else "tls"
            if data[0] in TLS_CONTENT_TYPES and data[0] != 22:  # mid-connection: no handshake to read
                self._stop_both()
                return
            self.tls_client = HandshakeReader(from_client=True)
            self.tls_server = HandshakeReader(from_client=False)
            self.tls_start = offset
            self._tls_client(offset, data, frame, False)
            return
        if looks_like_request(data):
            self.kind = _HTTP
            flow.transport, flow.app = "cleartext", "http"
            self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
            if self.ctx.observer is None and self.s2c is not None:
                self.s2c.stop()
        else:
            self.kind = _UNKNOWN
            if self.ctx.observer is None:
                self._stop_both()
                return
        self._client(offset, data, frame, False)

    def _tls_client(self, offset: int, data: bytes, frame: int, gap: bool) -> None:
        reader = self.tls_client
        if reader is None or gap:
            if self.c2s is not None:
                self.c2s.stop()
            return
        state = reader.feed(data)
        observer = self.ctx.observer
        if state == ReadState.NEED_MORE:
            if observer is not None:
                observer.on_payload(self.flow, True, offset, data, frame)
            return
        if state == ReadState.NOT_TLS:
            # Looked like TLS but is not: unknown, and everything is payload again.
            self.kind = _UNKNOWN
            self.flow.transport, self.flow.app = "unknown", None
            self.tls_client = self.tls_server = None
            if observer is not None:
                observer.on_payload(self.flow, True, offset, data, frame)
            else:
                self._stop_both()
            return
        # DONE: the ClientHello records are cleartext; what follows is not.
        hello = reader.hello
        if observer is not None:
            end = max(0, self.tls_start + reader.consumed - offset)
            if end:
                observer.on_payload(self.flow, True, offset, data[:end], frame)
        self.tls_client = None
        if self.c2s is not None:
            self.c2s.stop()
        if hello is not None:
            self.hello(hello, frame)
        if self.tls_server is None and self.s2c is not None:
            self.s2c.stop()

    def hello(self, hello: TlsHello, frame: int) -> None:
        flow = self.flow
        hello.frame = frame
        flow.tls = hello
        if flow.app != "dot" and naming.is_doh_resolver(hello.sni):
            flow.app = "doh"
        naming.assign(flow, self.dns_name)

    def _http(self, offset: int, data: bytes, frame: int) -> None:
        parser = self.http
        if parser is None:
            return
        requests = parser.feed(data, offset, frame)
        if requests:
            self._requests(requests)
        if parser.stopped:
            self._http_stopped(parser, offset, data, frame)

    def _requests(self, requests: list[HttpRequest]) -> None:
        flow = self.flow
        observer = self.ctx.observer
        for request in requests:
            flow.http_requests.append(request)
            if observer is not None:
                observer.on_http_request(flow, request)
            if flow.app == "http" and _is_doh_request(request):
                flow.app = "doh"
        if flow.name_source != "http-host":
            naming.assign(flow, self.dns_name)

    def _http_stopped(self, parser: HttpRequestParser, offset: int, data: bytes, frame: int) -> None:
        self.http = None
        tunnel = parser.tunnel_offset
        if tunnel is not None and offset <= tunnel <= offset + len(data):
            # CONNECT: the tunnel usually carries TLS; classify it afresh.
            self.kind = _NEW
            self.flow.app = "http"
            rest = data[tunnel - offset :]
            self.prefix = b""
            self.next_c2s = tunnel
            if rest:
                self.client_data(tunnel, rest, frame)
            return
        if self.ctx.observer is None and self.c2s is not None:
            self.c2s.stop()

    # -- server to client ----------------------------------------------------------------------------

    def server_data(self, offset: int, data: bytes, frame: int) -> None:
        gap = offset != self.next_s2c
        self.next_s2c = offset + len(data)
        kind = self.kind
        observer = self.ctx.observer
        if kind == _TLS:
            reader = self.tls_server
            if reader is None or gap:
                self._server_tls_done()
                return
            state = reader.feed(data)
            if state == ReadState.NEED_MORE:
                return
            if state == ReadState.DONE:
                self.flow.tls_server_version = reader.server_version
            self._server_tls_done()
            return
        if kind == _DNS:
            self._dns_stream(False, data, frame, gap)
        if observer is not None:
            observer.on_payload(self.flow, False, offset, data, frame)
        elif kind in (_HTTP, _UNKNOWN) and self.s2c is not None:
            self.s2c.stop()

    def _server_tls_done(self) -> None:
        self.tls_server = None
        if self.s2c is not None:
            self.s2c.stop()

    def _dns_stream(self, from_client: bool, data: bytes, frame: int, gap: bool) -> None:
        stream = self.dns_c2s if from_client else self.dns_s2c
        if stream is None or self.dns is None:
            return
        if gap:
            stream.gap()
        for message in stream.feed(data):
            self.dns.message(message, from_client, frame, self.ts)

    def _stop_both(self) -> None:
        for stream in (self.c2s, self.s2c):
            if stream is not None:
                stream.stop()

    # -- end -----------------------------------------------------------------------------------------

    def finish(self) -> None:
        """The flow ended: flush what waits in the streams and the parsers."""
        for stream in (self.c2s, self.s2c):
            if stream is not None:
                stream.flush()
        if self.kind == _NEW and self.prefix:
            self._classify(self.flow.last_frame)
        if self.http is not None:
            requests = self.http.finish()
            if requests:
                self._requests(requests)
            self.http = None
        self.tls_client = self.tls_server = None
        self.dns_c2s = self.dns_s2c = None


def _is_doh_request(request: HttpRequest) -> bool:
    """DoH in the clear (RFC 8484): its media type, its conventional path, or a known resolver."""
    if request.target.split("?", 1)[0].endswith("/dns-query"):
        return True
    for name, value in request.headers:
        if name.lower() in ("content-type", "accept") and "application/dns-message" in value.lower():
            return True
    return naming.is_doh_resolver(request.host)


class UdpSession:
    """The application layer of one UDP flow, a datagram at a time."""

    __slots__ = ("active", "ctx", "dns", "dns_name", "flow", "kind", "offsets", "quic", "quic_seen")

    def __init__(self, flow: Flow, ctx: Context, dns_name: str | None) -> None:
        self.flow = flow
        self.ctx = ctx
        self.dns_name = dns_name
        self.kind = _NEW
        self.active = True
        """False once no datagram of this flow needs reading (the analyzer then only counts)."""
        self.offsets = [0, 0]
        self.dns: _DnsRecorder | None = None
        self.quic: QuicInitialTracker | None = None
        self.quic_seen = 0
        app = dns_port(flow.sport, flow.dport)
        if app is not None:
            self.kind = _DNS
            flow.app, flow.transport = app, "cleartext"
            self.dns = _DnsRecorder(flow, ctx)

    def datagram(self, from_client: bool, data: bytes, frame: int, ts: float) -> None:
        kind = self.kind
        observer = self.ctx.observer
        flow = self.flow
        if kind == _NEW:
            if looks_like_quic(data):
                kind = self.kind = _QUIC
                flow.transport = "quic"
                flow.app = "doq" if flow.dport == naming.DOT_PORT else "quic"
                self.quic = QuicInitialTracker()
            elif looks_like_dns_query(data) is not None:
                kind = self.kind = _DNS
                flow.app, flow.transport = "dns", "cleartext"
                self.dns = _DnsRecorder(flow, self.ctx)
            elif looks_like_request(data) and b" HTTP/1." in data[: data.find(b"\n")]:
                # HTTP over UDP: SSDP discovery (UPnP) and its kin, one request per datagram.
                kind = self.kind = _HTTP
                flow.app, flow.transport = (
                    ("ssdp" if 1900 in (flow.sport, flow.dport) else "http"),
                    "cleartext",
                )
            else:
                kind = self.kind = _UNKNOWN
        if kind == _UNKNOWN:
            self._scan(data, from_client, frame)
        elif kind == _QUIC:
            self._quic(from_client, data, frame)
            return
        elif kind == _DNS and self.dns is not None:
            self.dns.message(parse_message(data), from_client, frame, ts)
        elif kind == _HTTP and from_client:
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
        for request in requests:
            flow.http_requests.append(request)
            if self.ctx.observer is not None:
                self.ctx.observer.on_http_request(flow, request)
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
