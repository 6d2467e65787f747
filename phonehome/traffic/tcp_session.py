"""The application layer of one TCP flow: classify it from the client's first bytes, then parse or count.

With an observer, every byte either side sends reaches it, whatever the
protocol, and the parsers run alongside. Without one, a direction switches
to counting only once no parser needs it (TLS after its hellos and a bounded
check of the client's framing; anything unrecognised at once). A flow may
change protocol on the way: HTTP CONNECT and SOCKS tunnels are classified
afresh, STARTTLS and the h2c and WebSocket upgrades hand over to the next
parser at the byte where the switch happened.
"""

from __future__ import annotations

from typing import Final

from phonehome.traffic import naming, starttls
from phonehome.traffic.dns import TcpDnsStream
from phonehome.traffic.flow import Content, Flow, HttpRequest
from phonehome.traffic.h2 import PREFACE, H2RequestReader
from phonehome.traffic.http import HttpRequestParser, looks_like_request
from phonehome.traffic.sessions import (
    CLASSIFY_BYTES,
    DNS,
    H2,
    HTTP,
    MAX_PREFIX,
    NEW,
    SOCKS,
    STARTTLS,
    TLS,
    UNKNOWN,
    WEBSOCKET,
    Context,
    DnsRecorder,
    anomaly,
    claim,
    dns_port,
    is_doh_request,
    looks_like_tls,
    proxy_header_length,
)
from phonehome.traffic.socks import MAX_HANDSHAKE, UDP_ASSOCIATE, looks_like_socks, parse_socks
from phonehome.traffic.starttls import StartTlsReader
from phonehome.traffic.tcp import Overlap, TcpStream
from phonehome.traffic.tls_session import TlsReader
from phonehome.traffic.websocket import ServerFrames, WebSocketReader, WsMessage

_PRINTABLE: Final = bytes(range(0x20, 0x7F)) + b"\t\r"
MAX_TUNNELS: Final = 4
"""Tunnels (CONNECT, SOCKS) classified afresh inside one another; deeper ones are payload only."""


class TcpSession:
    """The application layer of one TCP flow."""

    __slots__ = (
        "banner",
        "c2s",
        "ctx",
        "dns",
        "dns_c2s",
        "dns_name",
        "dns_s2c",
        "flow",
        "h2",
        "http",
        "kind",
        "next_c2s",
        "next_s2c",
        "prefix",
        "prefix_offset",
        "s2c",
        "sent",
        "socks",
        "socks_offset",
        "starttls",
        "tls",
        "tls_client_wanted",
        "tls_server_wanted",
        "ts",
        "tunnelled",
        "tunnels",
        "ws_client",
        "ws_requested",
        "ws_server",
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
        self.sent = [0, 0]
        """Stream offset up to which each direction (client, server) went to the observer."""
        self.tunnelled = False
        """The client's stream is classified again after a CONNECT or SOCKS handshake."""
        self.tunnels = 0
        self.banner: str | None = None
        """The protocol a server-first greeting announced (``smtp``...), before the client spoke."""
        self.tls: TlsReader | None = None
        self.tls_client_wanted = self.tls_server_wanted = True
        self.http: HttpRequestParser | None = None
        self.h2: H2RequestReader | None = None
        self.socks: bytearray | None = None
        self.socks_offset = 0
        self.starttls: StartTlsReader | None = None
        self.ws_requested = False
        self.ws_client: WebSocketReader | None = None
        self.ws_server: ServerFrames | None = None
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
        """A direction's bytes are still needed: always with an observer, else while a parser reads them."""
        if self.ctx.observer is not None:
            return True
        kind = self.kind
        if kind in (NEW, DNS, STARTTLS):
            return True
        if kind == TLS:
            if from_client:
                return self.tls_client_wanted or self.http is not None
            return self.tls_server_wanted
        if not from_client:
            return False
        return (
            (kind == HTTP and self.http is not None) or (kind == H2 and self.h2 is not None) or kind == SOCKS
        )

    def _settle(self) -> None:
        """Without an observer: directions no parser needs any more switch to counting only."""
        for from_client, stream in ((True, self.c2s), (False, self.s2c)):
            if stream is not None and stream.deliver is not None and not self._wants(from_client):
                stream.stop()

    def _deliver(self, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        """Hands bytes to the observer, each once (a protocol switch may hand the same bytes on twice)."""
        observer = self.ctx.observer
        if observer is None:
            return
        side = 0 if from_client else 1
        done = self.sent[side]
        end = offset + len(data)
        if end <= done:
            return
        if offset < done:
            data, offset = data[done - offset :], done
        self.sent[side] = end
        observer.on_payload(self.flow, from_client, offset, data, frame)

    # -- client to server ----------------------------------------------------------------------------

    def client_data(self, offset: int, data: bytes, frame: int) -> None:
        gap = offset != self.next_c2s
        self.next_c2s = offset + len(data)
        self._client(offset, data, frame, gap)
        if self.ctx.observer is None:
            self._settle()

    def _client(self, offset: int, data: bytes, frame: int, gap: bool = False) -> None:
        if self.kind == NEW:
            self._new(offset, data, frame, gap)
            return
        self._deliver(True, offset, data, frame)
        kind = self.kind
        if kind == TLS and self.tls is not None:
            self._tls_client(offset, data, frame)
        elif kind == HTTP:
            self._http(offset, data, frame)
        elif kind == DNS:
            self._dns_stream(True, data, frame, gap)
        elif kind == H2:
            self._h2(offset, data, frame)
        elif kind == WEBSOCKET:
            self._ws(self.ws_client, True, offset, data, frame)
        elif kind == SOCKS:
            self._socks(offset, data, frame)
        elif kind == STARTTLS:
            self._starttls(offset, data, frame)

    def _new(self, offset: int, data: bytes, frame: int, gap: bool) -> None:
        if gap and self.prefix:
            self._classify(frame)  # the prefix is all we will get contiguously
            self._client(offset, data, frame, gap)
            return
        if not self.prefix:
            self.prefix_offset = offset
        self.prefix += data
        if not self._undecided():
            self._classify(frame)

    def _undecided(self) -> bool:
        """The client's first bytes cannot be classified yet: too few, or a text line still coming."""
        prefix = self.prefix
        if len(prefix) >= MAX_PREFIX:
            return False
        skip = proxy_header_length(prefix)
        if skip is None:
            return True
        body = prefix[skip:]
        if len(body) < CLASSIFY_BYTES:
            return True
        if len(body) < len(PREFACE) and PREFACE.startswith(body):
            return True
        # A command or request line (SMTP, IMAP, HTTP...) decides only once it is whole (XMPP: a tag).
        text = body.isascii() and not body.translate(None, _PRINTABLE)
        return text and b"\n" not in body and not body.rstrip().endswith(b">")

    def _classify(self, frame: int) -> None:
        """Decides what the flow speaks from the client's first bytes, then hands them on."""
        data, offset = self.prefix, self.prefix_offset
        self.prefix = b""
        flow = self.flow
        skip = proxy_header_length(data) or 0
        if skip:
            self._deliver(True, offset, data[:skip], frame)
            data, offset = data[skip:], offset + skip
        if looks_like_tls(data) and (data[0] != 22 or len(data) < 6 or data[5] == 1):
            server = None if self.tunnelled or self.next_s2c else self.next_s2c
            self._start_tls(offset, server)
        elif len(data) >= 4 and data.startswith(PREFACE[: len(data)]):
            self._start_h2(offset)
        elif (app := starttls.client_app(data, self.banner)) is not None:  # four regexes: asked last
            self.kind = STARTTLS
            flow.app, flow.transport = app, "cleartext"
            self.starttls = StartTlsReader(app, offset)
        elif looks_like_request(data):
            self.kind = HTTP
            flow.transport = "cleartext"
            if flow.app is None or flow.app == "tls":
                flow.app = "http"
            self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
        elif looks_like_socks(data):
            self.kind = SOCKS
            flow.app, flow.transport = "socks", "cleartext"
            self.socks = bytearray()
            self.socks_offset = offset
        else:
            self.kind = UNKNOWN
        self._client(offset, data, frame)

    def _tls_client(self, offset: int, data: bytes, frame: int) -> None:
        tls = self.tls
        assert tls is not None
        broken = tls.client.broken
        self.tls_client_wanted = tls.client_data(offset, data, frame)
        if self.http is not None:
            self._http(offset, data, frame)
        elif not broken and tls.client.broken_at is not None:
            # Framing gave way to cleartext; if that is HTTP, its requests (and Host claims) count too.
            at = tls.client.broken_at
            rest = data[at - offset :] if at >= offset else b""
            if looks_like_request(rest):
                self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
                self._http(at, rest, frame)
                self.tls_client_wanted = self.tls_client_wanted or self.http is not None

    def _start_tls(self, client_offset: int, server_offset: int | None) -> None:
        flow = self.flow
        self.kind = TLS
        flow.transport = "tls"
        if flow.app in (None, "http", "tls"):
            flow.app = "dot" if flow.dport == naming.DOT_PORT else "tls"
        self.tls = TlsReader(flow, self.ctx, self.dns_name, client_offset, server_offset)
        self.tls_client_wanted = self.tls_server_wanted = True

    def _start_h2(self, offset: int) -> None:
        self.kind = H2
        self.flow.app, self.flow.transport = "h2c", "cleartext"
        self.h2 = H2RequestReader(offset, body_limit=self.ctx.body_limit)

    # -- HTTP/1, its tunnels and upgrades ------------------------------------------------------------

    def _http(self, offset: int, data: bytes, frame: int) -> None:
        parser = self.http
        if parser is None:
            return
        requests = parser.feed(data, offset, frame)
        if requests:
            self._requests(requests)
        if parser.stopped:
            self._http_stopped(parser, frame)

    def _requests(self, requests: list[HttpRequest]) -> None:
        flow = self.flow
        for request in requests:
            if flow.app == "http" and is_doh_request(request):
                flow.app = "doh"
            if request.version.startswith("HTTP/1.") and _asks_websocket(request) and not self.ws_requested:
                self.ws_requested = True
                if self.ctx.observer is not None:
                    self.ws_server = ServerFrames(self.next_s2c)
        self.ctx.record_requests(flow, requests)
        if flow.name_source != "http-host":
            naming.assign(flow, self.dns_name)

    def _http_stopped(self, parser: HttpRequestParser, frame: int) -> None:
        """The client's bytes stopped being HTTP/1: a tunnel, an upgrade, or something else."""
        self.http = None
        if self.kind == TLS:
            return  # HTTP found in clear inside TLS framing: the rest stays with the TLS reader
        rest, at = parser.rest, parser.rest_offset
        if parser.tunnel_offset is not None:
            # CONNECT: the tunnel usually carries TLS; classify it afresh.
            self._tunnel()
        elif rest and rest.startswith(PREFACE[: len(rest)]):
            self._start_h2(at)  # after Upgrade: h2c, the client's preface (RFC 9113 3.2)
        elif self.ws_requested:
            # The client went on in frames, whether or not the server agreed (a sink may answer 204).
            self.kind = WEBSOCKET
            self.flow.app = "websocket"
            if self.ctx.observer is not None:
                self.ws_client = WebSocketReader(at, from_client=True)
        else:
            self.kind = UNKNOWN
        if rest:
            self._client(at, rest, frame)

    def _tunnel(self) -> None:
        """A proxy handshake ended: what follows is classified afresh (a few levels deep at most)."""
        self.tunnels += 1
        if self.tunnels > MAX_TUNNELS:
            anomaly(
                self.flow, f"tunnels nested more than {MAX_TUNNELS} deep: the innermost not read", unread=True
            )
            self.kind = UNKNOWN
            return
        self.tunnelled = True
        self.kind = NEW
        self.prefix = b""

    def _h2(self, offset: int, data: bytes, frame: int) -> None:
        reader = self.h2
        if reader is None:
            return
        requests = reader.feed(offset, data, frame)
        if reader.stopped:
            requests += reader.finish()
            self.h2 = None
        if reader.anomaly:
            anomaly(self.flow, f"HTTP/2: {reader.anomaly}", unread=True)
        for piece in reader.take_pieces():
            self.ctx.content(self.flow, True, Content("h2-data", piece.data, piece.offset, piece.frame))
        if requests:
            self._requests(requests)

    def _ws(
        self,
        reader: WebSocketReader | ServerFrames | None,
        from_client: bool,
        offset: int,
        data: bytes,
        frame: int,
    ) -> None:
        if reader is None:
            return
        self._ws_messages(from_client, reader.feed(offset, data), frame)
        for text in reader.anomalies:
            anomaly(self.flow, f"WebSocket: {text}", unread=True)

    def _ws_messages(self, from_client: bool, messages: list[WsMessage], frame: int) -> None:
        for message in messages:
            content = Content(f"websocket:{message.kind}", message.data, message.offset, frame)
            self.ctx.content(self.flow, from_client, content)

    # -- SOCKS and STARTTLS --------------------------------------------------------------------------

    def _socks(self, offset: int, data: bytes, frame: int) -> None:
        buf = self.socks
        if buf is None:
            return
        buf += data[: MAX_HANDSHAKE - len(buf)]
        request = parse_socks(bytes(buf))
        if request is None:
            if len(buf) >= MAX_HANDSHAKE or not looks_like_socks(bytes(buf)):
                anomaly(self.flow, "a SOCKS handshake that did not parse", unread=True)
                self.socks = None
                self.kind = UNKNOWN
            return
        self.socks = None
        claim(self.flow, request.host, "socks", frame)
        if request.command == UDP_ASSOCIATE:
            self.kind = UNKNOWN  # the datagrams go elsewhere; this connection only holds the association
            return
        self._tunnel()
        at = self.socks_offset + request.end
        rest = data[max(0, at - offset) :]
        if rest:
            self._client(at, rest, frame)

    def _starttls(self, offset: int, data: bytes, frame: int) -> None:
        reader = self.starttls
        if reader is None:
            return
        at = reader.feed(offset, data)
        for name in reader.claims:
            claim(self.flow, name, "starttls", frame)
        if at is None:
            return
        self.starttls = None
        self._start_tls(at, None)
        self._client(at, data[at - offset :], frame)

    # -- server to client ----------------------------------------------------------------------------

    def server_data(self, offset: int, data: bytes, frame: int) -> None:
        gap = offset != self.next_s2c
        self.next_s2c = offset + len(data)
        if self.kind == NEW and not self.prefix and self.next_c2s == 0 and not self.tunnelled:
            self._server_first(offset, data)
        self._deliver(False, offset, data, frame)
        kind = self.kind
        if kind == TLS and self.tls is not None:
            self.tls_server_wanted = self.tls.server_data(offset, data, frame)
        elif kind == DNS:
            self._dns_stream(False, data, frame, gap)
        if self.ws_server is not None:
            self._ws(self.ws_server, False, offset, data, frame)
        if self.ctx.observer is None:
            self._settle()

    def _server_first(self, offset: int, data: bytes) -> None:
        """The server spoke before the client: a capture that began mid-connection, or a server-first protocol."""
        flow = self.flow
        if looks_like_tls(data) and data[0] != 22:  # encrypted records: TLS seen from the middle
            self._start_tls(self.next_c2s, offset)
        elif data.startswith(b"HTTP/1."):  # a response: HTTP seen from the middle; later requests parse
            self.kind = HTTP
            flow.transport, flow.app = "cleartext", "http"
            self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
        elif self.banner is None:
            self.banner = starttls.banner_app(data)

    def _dns_stream(self, from_client: bool, data: bytes, frame: int, gap: bool) -> None:
        stream = self.dns_c2s if from_client else self.dns_s2c
        if stream is None or self.dns is None:
            return
        if gap:
            stream.gap()
        for message in stream.feed(data):
            self.dns.message(message, from_client, frame, self.ts)

    # -- end -----------------------------------------------------------------------------------------

    def finish(self) -> None:
        """The flow ended: flush what waits in the streams and the parsers."""
        for stream in (self.c2s, self.s2c):
            if stream is not None:
                stream.flush()
        flow = self.flow
        if self.kind == NEW and self.prefix:
            self._classify(flow.last_frame)
        if self.http is not None:
            requests = self.http.finish()
            if requests:
                self._requests(requests)
            self.http = None
        if self.h2 is not None:
            requests = self.h2.finish()
            if requests:
                self._requests(requests)
            self.h2 = None
        for reader, from_client in ((self.ws_client, True), (self.ws_server, False)):
            if reader is not None:
                self._ws_messages(from_client, reader.finish(), flow.last_frame)
        if self.kind == NEW and self.banner is not None and flow.app is None:
            flow.app, flow.transport = self.banner, "cleartext"
        if self.kind == SOCKS and self.socks is not None:
            anomaly(flow, "a SOCKS handshake cut by the end of the flow", unread=True)
        if self.tls is not None:
            self.tls.finish()
        self.tls = None
        self.ws_client = self.ws_server = None
        self.dns_c2s = self.dns_s2c = None


def _asks_websocket(request: HttpRequest) -> bool:
    return any(name.lower() == "upgrade" and "websocket" in value.lower() for name, value in request.headers)
