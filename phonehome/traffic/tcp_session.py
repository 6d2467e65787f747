"""The application layer of one TCP flow: classify it from the client's first bytes, then parse or count.

TLS flows are read up to both hellos, HTTP flows request by request for the
whole connection, DNS over TCP message by message; everything else goes to
the observer, if there is one, or is only counted.
"""

from __future__ import annotations

from phonehome.traffic import naming
from phonehome.traffic.dns import TcpDnsStream
from phonehome.traffic.flow import Content, Flow, HttpRequest, TlsHello
from phonehome.traffic.http import HttpRequestParser, looks_like_request
from phonehome.traffic.sessions import (
    CLASSIFY_BYTES,
    DNS,
    HTTP,
    MAX_PREFIX,
    NEW,
    TLS,
    TLS_CONTENT_TYPES,
    UNKNOWN,
    Context,
    DnsRecorder,
    dns_port,
    is_doh_request,
    looks_like_tls,
    proxy_header_length,
)
from phonehome.traffic.tcp import Overlap, TcpStream
from phonehome.traffic.tls import HandshakeReader, ReadState


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
        self.kind = NEW
        self.prefix = b""
        self.prefix_offset = 0
        self.next_c2s = 0
        self.next_s2c = 0
        self.tls_client: HandshakeReader | None = None
        self.tls_server: HandshakeReader | None = None
        self.tls_start = 0
        self.http: HttpRequestParser | None = None
        self.dns: DnsRecorder | None = None
        self.dns_c2s: TcpDnsStream | None = None
        self.dns_s2c: TcpDnsStream | None = None
        self.ts = flow.first_ts
        app = dns_port(flow.sport, flow.dport)
        if app is not None:
            self.kind = DNS
            flow.app, flow.transport = app, "cleartext"
            self.dns = DnsRecorder(flow, ctx)
            self.dns_c2s, self.dns_s2c = TcpDnsStream(), TcpDnsStream()

    def stream(self, from_client: bool, base: int) -> TcpStream:
        """Creates one direction's stream, reassembling only if that direction's bytes are still wanted.

        Bytes a retransmission overlapped with other bytes reach the observer's ``on_content``.
        """
        on_content = getattr(self.ctx.observer, "on_content", None)
        on_overlap: Overlap | None = None
        if on_content is not None:
            flow = self.flow

            def forward(offset: int, data: bytes, frame: int) -> None:
                on_content(flow, from_client, Content("tcp-overlap", data, offset, frame, exact=True))

            on_overlap = forward

        stream = TcpStream(
            base,
            self.client_data if from_client else self.server_data,
            budget=self.ctx.pending,
            on_overlap=on_overlap,
        )
        if from_client:
            self.c2s = stream
        else:
            self.s2c = stream
        if not self._wants(from_client):
            stream.stop()
        return stream

    def _wants(self, from_client: bool) -> bool:
        kind = self.kind
        if kind in (NEW, DNS):
            return True
        if kind == TLS:
            return (self.tls_client if from_client else self.tls_server) is not None
        if kind == HTTP and from_client and self.http is not None:
            return True
        return self.ctx.observer is not None

    # -- client to server ----------------------------------------------------------------------------

    def client_data(self, offset: int, data: bytes, frame: int) -> None:
        gap = offset != self.next_c2s
        self.next_c2s = offset + len(data)
        if self.kind == NEW:
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
        if kind == TLS:
            self._tls_client(offset, data, frame, gap)
        elif kind == HTTP:
            if observer is not None:
                observer.on_payload(self.flow, True, offset, data, frame)
            self._http(offset, data, frame)
        elif kind == DNS:
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
        if looks_like_tls(data):
            self.kind = TLS
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
            self.kind = HTTP
            flow.transport, flow.app = "cleartext", "http"
            self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
            if self.ctx.observer is None and self.s2c is not None:
                self.s2c.stop()
        else:
            self.kind = UNKNOWN
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
            self.kind = UNKNOWN
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
        for request in requests:
            if flow.app == "http" and is_doh_request(request):
                flow.app = "doh"
        self.ctx.record_requests(flow, requests)
        if flow.name_source != "http-host":
            naming.assign(flow, self.dns_name)

    def _http_stopped(self, parser: HttpRequestParser, offset: int, data: bytes, frame: int) -> None:
        self.http = None
        tunnel = parser.tunnel_offset
        if tunnel is not None and offset <= tunnel <= offset + len(data):
            # CONNECT: the tunnel usually carries TLS; classify it afresh.
            self.kind = NEW
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
        if kind == TLS:
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
        if kind == NEW and not self.prefix and self.next_c2s == 0:
            kind = self._server_first(data)
            if kind == TLS:
                return
        if kind == DNS:
            self._dns_stream(False, data, frame, gap)
        if observer is not None:
            observer.on_payload(self.flow, False, offset, data, frame)
        elif kind != DNS and self.s2c is not None:
            self.s2c.stop()

    def _server_first(self, data: bytes) -> int:
        """The server spoke before the client: a capture that began mid-connection, or a server-first protocol."""
        flow = self.flow
        if looks_like_tls(data) and data[0] != 22:  # encrypted records: TLS seen from the middle
            self.kind = TLS
            flow.transport, flow.app = "tls", "dot" if flow.dport == naming.DOT_PORT else "tls"
            self._stop_both()
        elif data.startswith(b"HTTP/1."):  # a response: HTTP seen from the middle; later requests parse
            self.kind = HTTP
            flow.transport, flow.app = "cleartext", "http"
            self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
        return self.kind

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
        if self.kind == NEW and self.prefix:
            self._classify(self.flow.last_frame)
        if self.http is not None:
            requests = self.http.finish()
            if requests:
                self._requests(requests)
            self.http = None
        self.tls_client = self.tls_server = None
        self.dns_c2s = self.dns_s2c = None
