"""What a TCP sink says to the handset: bytes in, bytes out, no I/O (tested as a playbook of chunks).

HTTP requests get ``204 No Content`` (Android's connectivity check passes,
so the firmware goes on as if online), each request head is kept (bounded);
a TLS ClientHello is kept whole and answered with a fatal alert; anything
else is only counted and hashed. Everything a conversation keeps is bounded,
whatever the handset sends: the capture holds the bytes, the record holds
a reference to them (size, SHA-256, the first ``HEAD_BYTES``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from phonehome.traffic import tls

HEAD_BYTES = 1024
"""Bytes of each TCP flow's start kept in its record (the capture has them all)."""
HELLO_MAX = 16 * 1024
"""The largest ClientHello read (real ones are 0.5-3 KiB, with post-quantum key shares; a bigger one is
recorded as raw bytes): with 4,096 connections each in the middle of one, the sinks hold ~130 MB."""
HTTP_HEAD_MAX = 16 * 1024
"""A request head longer than this is not HTTP the sink answers (the rest is only counted)."""
HTTP_HEADS_KEPT = 256
"""Request heads kept per connection; later ones are only counted (``http_requests``)."""
HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ")
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
TLS_ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])  # fatal handshake_failure (RFC 8446 6.2)
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,15})(;[^\r\n]*)?$")


@dataclass
class Heard:
    """What a conversation has kept so far (it becomes the connection's ``SinkRecord`` fields)."""

    bytes_received: int = 0
    head: bytes = b""
    kind: str = "raw"
    http_heads: list[str] = field(default_factory=list)
    http_requests: int = 0
    client_hello: bytes | None = None


class Conversation:
    """One TCP connection's client side, fed in order; ``feed`` returns what to send back."""

    def __init__(self) -> None:
        self.heard = Heard()
        self.done = False
        """The sink has said its last word (a TLS alert): close after sending."""
        self._sha = hashlib.sha256()
        self._undecided: bytes | None = b""
        """The first bytes, while they could still begin an HTTP method."""
        self._tls: tls.HandshakeReader | None = tls.HandshakeReader(from_client=True, limit=HELLO_MAX)
        self._tls_bytes = bytearray()
        self._http = bytearray()
        """A request head or chunk line not ended yet (bounded by ``HTTP_HEAD_MAX``)."""
        self._state = "head"
        """HTTP: head, body, chunk-size, chunk-data, trailer, or broken (no longer answered)."""
        self._skip = 0
        """Body or chunk bytes still to pass over."""

    @property
    def sha256(self) -> str:
        """SHA-256 of every byte the client sent (to find the flow's bytes in the capture)."""
        return self._sha.hexdigest()

    def feed(self, data: bytes) -> bytes:
        heard = self.heard
        heard.bytes_received += len(data)
        self._sha.update(data)
        if len(heard.head) < HEAD_BYTES:
            heard.head += data[: HEAD_BYTES - len(heard.head)]
        if self.done or not data:
            return b""
        if self._undecided is not None:  # the first bytes decide: an HTTP method, or TLS, or raw
            data = self._undecided = self._undecided + data
            if data.startswith(HTTP_METHODS):
                heard.kind, self._tls, self._undecided = "http", None, None
            elif any(m.startswith(data) for m in HTTP_METHODS):
                return b""
            else:
                self._undecided = None
        if self._tls is not None:
            return self._feed_tls(data)
        if heard.kind == "http":
            return self._feed_http(data)
        return b""

    def _feed_tls(self, data: bytes) -> bytes:
        reader = self._tls
        assert reader is not None
        if len(self._tls_bytes) < HELLO_MAX:
            self._tls_bytes += data[: HELLO_MAX - len(self._tls_bytes)]
        state = reader.feed(data)
        if state is tls.ReadState.NEED_MORE:
            return b""
        self._tls = None
        if state is tls.ReadState.NOT_TLS or reader.hello is None:
            self._tls_bytes = bytearray()
            return b""
        self.heard.kind = "tls"
        self.heard.client_hello = bytes(self._tls_bytes[: reader.consumed])
        self._tls_bytes = bytearray()
        self.done = True
        return TLS_ALERT

    def _feed_http(self, data: bytes) -> bytes:
        """Answers each complete request with 204, skipping bodies (Content-Length or chunked)."""
        answer = b""
        pos = 0
        while pos < len(data) and self._state != "broken":
            if self._state in ("body", "chunk-data"):
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                if not self._skip:
                    self._state = "head" if self._state == "body" else "chunk-size"
                continue
            if self._http:  # a unit begun in an earlier chunk: its terminator may straddle the two
                data, pos = bytes(self._http) + data[pos:], 0
                self._http = bytearray()
            terminator = b"\r\n\r\n" if self._state == "head" else b"\r\n"
            end = data.find(terminator, pos, pos + HTTP_HEAD_MAX + len(terminator))
            if end < 0:
                if len(data) - pos > HTTP_HEAD_MAX:
                    self._state = "broken"  # no head or line ends: not HTTP the sink answers; only counted
                else:
                    self._http += data[pos:]
                break
            unit = data[pos:end]
            pos = end + len(terminator)
            answer += self._unit(unit)
        return answer

    def _unit(self, unit: bytes) -> bytes:
        """One request head, chunk-size line or trailer line, as the state says; the answer to it."""
        if self._state == "head":
            chunked = self._request(unit)
            self._state = "chunk-size" if chunked else ("body" if self._skip else "head")
            return NO_CONTENT
        if self._state == "trailer":
            if not unit:
                self._state = "head"
            return b""
        match = _CHUNK_SIZE.match(unit)
        if match is None:
            self._state = "broken"
            return b""
        size = int(match[1], 16)
        self._state, self._skip = ("trailer", 0) if size == 0 else ("chunk-data", size + 2)
        return b""

    def _request(self, head: bytes) -> bool:
        """Notes a request head; True when its body is chunked (RFC 9112 6.3: chunked wins)."""
        self.heard.http_requests += 1
        if len(self.heard.http_heads) < HTTP_HEADS_KEPT:
            self.heard.http_heads.append(head.decode("latin-1"))
        chunked, length = False, 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length" and value.strip().isdigit():
                length = int(value.strip())
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        self._skip = 0 if chunked else length
        return chunked
