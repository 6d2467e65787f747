"""What a decrypted TLS connection carried: its plaintext to the observer, and parsed as cleartext would be.

The application data of each direction is one plaintext stream, read by
the same parsers as a cleartext TCP stream: HTTP/1.x (with its CONNECT
tunnels and WebSocket upgrades) and HTTP/2 (its preface decides, whatever
ALPN said). Requests found are marked ``decrypted`` and their names become
claims. Offsets given out (requests, contents) count the TLS stream as sent:
plaintext byte i of a record sat at the record's ciphertext offset + i.
The observer gets the plaintext as ``tls-decrypted`` content: application
data joined across records into pieces (each starting with the end of the
one before, so a record boundary never hides what straddles it), handshake
messages and alerts record by record.
"""

from __future__ import annotations

import bisect
from array import array
from typing import Final

from phonehome.traffic import naming
from phonehome.traffic.flow import Content, Flow, HttpRequest
from phonehome.traffic.h2 import PREFACE, H2RequestReader
from phonehome.traffic.http import HttpRequestParser, looks_like_request
from phonehome.traffic.sessions import MAX_PREFIX, Context, anomaly, is_doh_request, looks_like_tls
from phonehome.traffic.tls_decrypt import APPLICATION_DATA, Plaintext
from phonehome.traffic.websocket import ServerFrames, WebSocketReader, WsMessage

CHAIN: Final = "tls-decrypted"
CONTENT_CHUNK: Final = 64 << 10
"""Application plaintext joined into one ``tls-decrypted`` content before it goes to the observer."""
CONTENT_OVERLAP: Final = 1 << 10
"""Bytes at the end of one content repeated at the start of the next."""
MAX_MARKS: Final = 4096
"""Record boundaries remembered per direction to translate plaintext offsets back to the stream."""
MAX_TUNNELS: Final = 4
_NEW, _HTTP, _H2, _WEBSOCKET, _OTHER = range(5)


class _Side:
    """One direction's plaintext stream: where each record's plaintext sat, and the content being joined."""

    __slots__ = ("chunk", "chunk_frame", "chunk_start", "marks_plain", "marks_wire", "plain")

    def __init__(self) -> None:
        self.plain = 0
        """Application plaintext bytes so far: the stream offset of the next one in plaintext terms."""
        self.marks_plain = array("q")
        self.marks_wire = array("q")
        self.chunk = bytearray()
        self.chunk_start = 0
        """Plaintext offset of ``chunk[0]``."""
        self.chunk_frame = 0

    def mark(self, wire: int) -> None:
        """A record's plaintext begins at plaintext offset ``plain`` and sat at stream offset ``wire``."""
        if len(self.marks_plain) >= MAX_MARKS:
            del self.marks_plain[: MAX_MARKS // 2]
            del self.marks_wire[: MAX_MARKS // 2]
        self.marks_plain.append(self.plain)
        self.marks_wire.append(wire)

    def wire(self, plain: int) -> int:
        """The stream offset where plaintext offset ``plain`` sat (the oldest known, if forgotten)."""
        i = bisect.bisect_right(self.marks_plain, plain) - 1
        if i < 0:
            return self.marks_wire[0] if self.marks_wire else 0
        return self.marks_wire[i] + plain - self.marks_plain[i]


class DecryptedStreams:
    """The application layer of one decrypted TLS connection, both directions."""

    __slots__ = (
        "client",
        "ctx",
        "dns_name",
        "flow",
        "h2",
        "http",
        "kind",
        "prefix",
        "prefix_offset",
        "server",
        "tunnels",
        "ws_client",
        "ws_requested",
        "ws_server",
    )

    def __init__(self, flow: Flow, ctx: Context, dns_name: str | None) -> None:
        self.flow = flow
        self.ctx = ctx
        self.dns_name = dns_name
        self.client = _Side()
        self.server = _Side()
        self.kind = _NEW
        self.prefix = b""
        self.prefix_offset = 0
        self.tunnels = 0
        self.http: HttpRequestParser | None = None
        self.h2: H2RequestReader | None = None
        self.ws_requested = False
        self.ws_client: WebSocketReader | None = None
        self.ws_server: ServerFrames | None = None

    def take(self, item: Plaintext) -> None:
        """One decrypted record's content."""
        flow = self.flow
        flow.decrypted = True
        if item.from_client:
            flow.decrypted_c2s += len(item.data)
        else:
            flow.decrypted_s2c += len(item.data)
        if not item.data:
            return
        side = self.client if item.from_client else self.server
        if item.content_type != APPLICATION_DATA:
            self.ctx.content(flow, item.from_client, Content(CHAIN, item.data, item.offset, item.frame))
            return
        start = side.plain
        side.mark(item.offset)
        side.plain += len(item.data)
        if self.ctx.on_content is not None:
            self._join(side, item)
        if item.from_client:
            self._client(start, item.data, item.frame)
        elif self.ws_server is not None:
            self._ws(self.ws_server, False, start, item.data, item.frame)

    def _join(self, side: _Side, item: Plaintext) -> None:
        if not side.chunk:
            side.chunk_start = side.plain - len(item.data)
        side.chunk += item.data
        side.chunk_frame = item.frame
        held = self.ctx.decrypted_held
        held.used += len(item.data)
        if len(side.chunk) >= CONTENT_CHUNK or held.used > held.limit:
            self._flush(side, item.from_client, keep=True)

    def _flush(self, side: _Side, from_client: bool, *, keep: bool = False) -> None:
        """Hands the joined plaintext to the observer; ``keep``: its end stays, to start the next piece."""
        data = bytes(side.chunk)
        if not data:
            return
        self.ctx.content(
            self.flow, from_client, Content(CHAIN, data, side.wire(side.chunk_start), side.chunk_frame)
        )
        kept = data[-CONTENT_OVERLAP:] if keep and len(data) > CONTENT_OVERLAP else b""
        self.ctx.decrypted_held.used -= len(data) - len(kept)
        side.chunk = bytearray(kept)
        side.chunk_start += len(data) - len(kept)

    # -- the client's plaintext --------------------------------------------------------------------------

    def _client(self, offset: int, data: bytes, frame: int) -> None:
        kind = self.kind
        if kind == _NEW:
            if not self.prefix:
                self.prefix_offset = offset
            self.prefix += data
            prefix = self.prefix
            undecided = len(prefix) < len(PREFACE) and (PREFACE.startswith(prefix) or b"\n" not in prefix)
            if undecided and len(prefix) < MAX_PREFIX:
                return
            self._classify(frame)
        elif kind == _HTTP:
            self._http(offset, data, frame)
        elif kind == _H2:
            self._h2(offset, data, frame)
        elif kind == _WEBSOCKET and self.ws_client is not None:
            self._ws(self.ws_client, True, offset, data, frame)

    def _classify(self, frame: int) -> None:
        data, offset = self.prefix, self.prefix_offset
        self.prefix = b""
        if data.startswith(PREFACE[: len(data)]) and len(data) >= 4:
            self.kind = _H2
            self.h2 = H2RequestReader(offset, body_limit=self.ctx.body_limit)
        elif looks_like_request(data):
            self.kind = _HTTP
            self.http = HttpRequestParser(body_limit=self.ctx.body_limit)
        else:
            self.kind = _OTHER
            if looks_like_tls(data):
                anomaly(self.flow, "TLS inside decrypted TLS: its records were not decrypted", unread=True)
            return
        self._client(offset, data, frame)

    def _http(self, offset: int, data: bytes, frame: int) -> None:
        parser = self.http
        if parser is None:
            return
        requests = parser.feed(data, offset, frame)
        if requests:
            self._requests(requests)
        if not parser.stopped:
            return
        self.http = None
        rest, at = parser.rest, parser.rest_offset
        if parser.tunnel_offset is not None:
            self.tunnels += 1
            self.kind = _NEW if self.tunnels <= MAX_TUNNELS else _OTHER
            self.prefix = b""
        elif rest and rest.startswith(PREFACE[: len(rest)]):
            self.kind = _H2
            self.h2 = H2RequestReader(at, body_limit=self.ctx.body_limit)
        elif self.ws_requested:
            self.kind = _WEBSOCKET
            if self.ctx.observer is not None:
                self.ws_client = WebSocketReader(at, from_client=True)
        else:
            self.kind = _OTHER
        if rest:
            self._client(at, rest, frame)

    def _h2(self, offset: int, data: bytes, frame: int) -> None:
        reader = self.h2
        if reader is None:
            return
        requests = reader.feed(offset, data, frame)
        if reader.stopped:
            requests += reader.finish()
            self.h2 = None
        if reader.anomaly:
            anomaly(self.flow, f"HTTP/2 (decrypted): {reader.anomaly}", unread=True)
        for piece in reader.take_pieces():
            content = Content(f"{CHAIN}>h2-data", piece.data, self.client.wire(piece.offset), piece.frame)
            self.ctx.content(self.flow, True, content)
        if requests:
            self._requests(requests)

    def _ws(
        self, reader: WebSocketReader | ServerFrames, from_client: bool, offset: int, data: bytes, frame: int
    ) -> None:
        self._ws_messages(from_client, reader.feed(offset, data), frame)
        for text in reader.anomalies:
            anomaly(self.flow, f"WebSocket (decrypted): {text}", unread=True)

    def _ws_messages(self, from_client: bool, messages: list[WsMessage], frame: int) -> None:
        side = self.client if from_client else self.server
        for message in messages:
            chain = f"{CHAIN}>websocket:{message.kind}"
            self.ctx.content(
                self.flow, from_client, Content(chain, message.data, side.wire(message.offset), frame)
            )

    def _requests(self, requests: list[HttpRequest]) -> None:
        flow = self.flow
        for request in requests:
            request.decrypted = True
            request.offset = self.client.wire(request.offset)
            request.body_offset = self.client.wire(request.body_offset)
            if flow.app == "tls" and is_doh_request(request):
                flow.app = "doh"
            if request.version.startswith("HTTP/1.") and not self.ws_requested and _asks_websocket(request):
                self.ws_requested = True
                if self.ctx.observer is not None:
                    self.ws_server = ServerFrames(self.server.plain)
        self.ctx.record_requests(flow, requests)
        if flow.name_source != "http-host":
            naming.assign(flow, self.dns_name)

    # -- end ---------------------------------------------------------------------------------------------

    def finish(self) -> None:
        """The connection ended: what waits in the parsers and the joined content goes out."""
        flow = self.flow
        if self.kind == _NEW and self.prefix:
            self._classify(flow.last_frame)
        if self.http is not None:
            requests = self.http.finish()
            self.http = None
            if requests:
                self._requests(requests)
        if self.h2 is not None:
            requests = self.h2.finish()
            self.h2 = None
            if requests:
                self._requests(requests)
        for reader, from_client in ((self.ws_client, True), (self.ws_server, False)):
            if reader is not None:
                self._ws_messages(from_client, reader.finish(), flow.last_frame)
        self.ws_client = self.ws_server = None
        self._flush(self.client, True)
        self._flush(self.server, False)
        for side in (self.client, self.server):
            self.ctx.decrypted_held.used -= len(side.chunk)
            side.chunk = bytearray()


def _asks_websocket(request: HttpRequest) -> bool:
    return any(name.lower() == "upgrade" and "websocket" in value.lower() for name, value in request.headers)
