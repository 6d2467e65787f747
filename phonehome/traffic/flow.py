"""The records the analyzer hands to everything above it: flows and what was learned in them.

These are the contract between ``phonehome.traffic`` and its clients
(``policy``, ``report``, the CLI): plain data, no I/O, every attribute
documented, since labs script against their JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Proto = Literal["tcp", "udp"]
Transport = Literal["tls", "quic", "cleartext", "unknown"]
"""How a flow's payload travels: TLS or QUIC (encrypted after the handshake),
cleartext (a protocol we parsed and know to be unencrypted: HTTP, DNS...), or
unknown (payload we could not classify; scanned as if it were cleartext)."""

NameSource = Literal["sni", "quic-sni", "http-host", "dns", "none"]
"""Where a flow's server name came from; ``none`` means an IP literal."""


@dataclass(slots=True)
class DnsQuery:
    """One question the client asked, in a DNS message it sent."""

    name: str
    """Query name, lower case, no trailing dot, rendered as Wireshark does (control bytes as ``\\NNN``
    octal, invalid UTF-8 as U+FFFD): the raw bytes still reach observers through ``on_payload``."""
    qtype: int
    """Query type (1 A, 28 AAAA, 65 HTTPS...)."""
    frame: int
    """Frame number (1-based, as Wireshark counts) of the message."""
    ts: float
    """Capture timestamp of that frame, seconds since the epoch."""


@dataclass(slots=True)
class TlsHello:
    """What a TLS ClientHello (over TCP, or inside QUIC Initial packets) offered."""

    sni: str | None
    """server_name extension (host_name), lower case, no trailing dot."""
    alpn: list[str] = field(default_factory=list)
    """application_layer_protocol_negotiation protocols, in offered order."""
    legacy_version: int = 0
    """ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)."""
    versions: list[int] = field(default_factory=list)
    """supported_versions extension, GREASE removed; empty when absent."""
    cipher_suites: list[int] = field(default_factory=list)
    """Offered cipher suites, GREASE removed."""
    ech: bool = False
    """An encrypted_client_hello extension (0xfe0d) was present: the real SNI is hidden."""
    frame: int = 0
    """Frame in which the ClientHello became complete."""


@dataclass(slots=True)
class HttpRequest:
    """One HTTP/1.x request the client sent, as parsed from the reassembled stream."""

    method: str
    target: str
    """The request target as sent (path and query, or an absolute URI through a proxy)."""
    version: str
    """``HTTP/1.1``, ``HTTP/1.0``..."""
    headers: list[tuple[str, str]]
    """Header fields in order, names as sent, values decoded as latin-1."""
    body: bytes
    """The body, de-chunked, cut at the analyzer's body limit."""
    body_truncated: bool
    """True when the body was longer than the limit or the stream ended first."""
    offset: int
    """Offset of the request line in the client-to-server stream."""
    body_offset: int
    """Offset of the first body byte in the client-to-server stream (chunked: of the first chunk's data)."""
    first_frame: int
    last_frame: int

    @property
    def host(self) -> str | None:
        """The Host header, lower case, without port or trailing dot."""
        for name, value in self.headers:
            if name.lower() == "host":
                return host_without_port(value)
        return None


@dataclass(slots=True)
class Flow:
    """A TCP connection or a UDP conversation, from its first packet to its last.

    The client is the side that opened it (sent the SYN; for UDP, the first
    datagram, unless ports say otherwise), which for a handset's own traffic
    is the handset.
    """

    id: int
    """Index in order of first packet, 0-based; stable for a given capture."""
    proto: Proto
    src: str
    """Client address (IPv4 dotted or IPv6 compressed form)."""
    sport: int
    dst: str
    """Server address."""
    dport: int
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    src_mac: str | None = None
    """Client's Ethernet source address of its first frame, when the link layer has one."""
    packets_c2s: int = 0
    packets_s2c: int = 0
    bytes_c2s: int = 0
    """Transport payload bytes client to server (retransmissions counted once)."""
    bytes_s2c: int = 0
    transport: Transport = "unknown"
    app: str | None = None
    """Application protocol recognised: ``http``, ``tls``, ``quic``, ``dns``, ``dot``, ``doh``..."""
    server_name: str | None = None
    """Best name for the server: SNI, QUIC SNI, HTTP Host, or the client's own earlier DNS answer."""
    name_source: NameSource = "none"
    tls: TlsHello | None = None
    """The ClientHello (TLS over TCP, or QUIC's), when seen."""
    tls_server_version: int | None = None
    """Version the server selected in its ServerHello, when seen (0x0304 for TLS 1.3)."""
    http_requests: list[HttpRequest] = field(default_factory=list)
    """HTTP/1.x requests, in order (bodies bounded by the analyzer's limit)."""
    dns_queries: list[DnsQuery] = field(default_factory=list)
    """DNS questions this flow carried from the client."""
    gaps_c2s: int = 0
    """Bytes missing from the client-to-server stream (lost before capture)."""
    gaps_s2c: int = 0
    closed: bool = False
    """A FIN or RST was seen (TCP)."""

    @property
    def sni(self) -> str | None:
        return self.tls.sni if self.tls else None

    @property
    def http_host(self) -> str | None:
        for request in self.http_requests:
            if request.host:
                return request.host
        return None


class FlowObserver(Protocol):
    """Receives a flow's unencrypted bytes as the analyzer streams through a capture.

    Leak detection implements this, so that payloads are scanned once, in
    order, without the analyzer keeping them. Calls for one flow arrive in
    stream order; a jump in ``offset`` means bytes were lost (a gap).
    """

    def on_payload(self, flow: Flow, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        """In-order bytes of one direction: reassembled TCP, or one whole UDP datagram.

        Delivered for payload the analyzer does not know to be encrypted:
        cleartext and unknown transports, and the TLS ClientHello records.
        ``offset`` counts bytes of that direction from the flow's start.
        """

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        """A complete (or, at capture end, cut) HTTP request from the client."""

    def on_flow_end(self, flow: Flow) -> None:
        """The flow closed, timed out or the capture ended: release per-flow state."""


def host_without_port(value: str) -> str | None:
    """``Example.COM:8080.`` -> ``example.com``; bracketed IPv6 literals keep their address."""
    host = value.strip()
    if host.startswith("["):
        end = host.find("]")
        host = host[1:end] if end > 0 else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".").lower()
    return host or None
