"""The records the analyzer hands to everything above it: flows and what was learned in them.

These are the contract between ``phonehome.traffic`` and its clients
(``policy``, ``report``, the CLI): plain data, no I/O, every attribute
documented, since labs script against their JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

Proto = str
"""``tcp`` or ``udp``; another IP protocol by its name (``icmp``, ``icmpv6``, ``esp``, ``ah``, ``gre``,
``ipip``, ``ipv6`` for 6in4, ``sctp``...) or ``ip-N`` for protocol number N; a frame without IP as
``link-0xNNNN`` (its EtherType; ``link-llc`` for an 802.3 frame without one). Every packet the capture
holds belongs to a flow: nothing is judged only by what a classifier expected to see. (IP fragments
whose datagram never completed reach a flow of their protocol with ports 0 and an anomaly.)"""
IP_PROTOCOL_NAMES: Final = {
    1: "icmp",
    2: "igmp",
    4: "ipip",
    41: "ipv6",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "icmpv6",
    103: "pim",
    112: "vrrp",
    132: "sctp",
    136: "udplite",
}
"""Names of IP protocols a flow's ``proto`` uses; any other number is ``ip-N``."""
Transport = Literal["tls", "quic", "cleartext", "unknown"]
"""How a flow's payload travels: TLS or QUIC (encrypted after the handshake),
cleartext (a protocol we parsed and know to be unencrypted: HTTP, DNS...), or
unknown (payload we could not classify; scanned as if it were cleartext)."""

NameSource = Literal["sni", "quic-sni", "http-host", "dns", "none"]
"""Where a flow's server name came from; ``none`` means an IP literal."""

ClaimSource = Literal[
    "sni", "quic-sni", "ech-outer", "http-host", "http-uri", "connect", "socks", "h2-authority", "starttls"
]
"""Where in the client's bytes a claimed name sat: a TLS or QUIC SNI (``ech-outer``: the public name
of an ECH ClientHello, not the real one), an HTTP Host header, an absolute request URI, a CONNECT
target, a SOCKS request, an HTTP/2 ``:authority``, an XMPP stream header's ``to`` domain (SMTP's EHLO
names the client, not the server, and is no claim)."""


@dataclass(frozen=True, slots=True)
class NameClaim:
    """A server name a client wrote into its bytes: where it *says* it is going.

    A claim is not a destination (DESIGN.md rule 7): the packets went to the
    flow's address, and the policy checks claims against what the bench's
    resolver answered for that address.
    """

    name: str
    """Lower case, no trailing dot, port removed; an IP literal stays as written (compressed IPv6)."""
    source: ClaimSource
    frame: int
    """Frame that completed the message holding the claim."""
    decrypted: bool = False
    """The name was written inside TLS and read by decrypting it with a key log (a Host or
    ``:authority`` of a decrypted request): the recipient saw it, an observer on the wire did not."""


@dataclass(frozen=True, slots=True)
class Tunnel:
    """The carrier of a flow found inside a tunnel: the packets that carried it went there, not to
    the inner addresses (which the sender may have chosen at will)."""

    kind: str
    """``ipip``, ``6in4``, ``gre``, ``gtp-u``, ``vxlan``, ``geneve``, ``teredo``."""
    src: str
    """Outer source address of the first carrier packet (the outermost, when tunnels nest)."""
    dst: str
    flow_id: int | None = None
    """The carrier's own flow (its outer packets are a flow too), when there is one."""


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    """A DHCPv4 (RFC 2131) or DHCPv6 (RFC 8415) message a flow carried, as far as it decoded."""

    version: int
    """4 or 6."""
    from_client: bool
    """Sent by the flow's client (its opener)."""
    message_type: int
    """DHCPv4 option 53 (1 DISCOVER ... 8 INFORM; 0 for plain BOOTP) or the DHCPv6 msg-type."""
    frame: int
    offset: int
    """Offset of the datagram in its direction's stream (as ``FlowObserver.on_payload`` counts)."""
    link_spans: tuple[tuple[int, int], ...] = ()
    """Spans (relative to the datagram) of fields that carry the sender's link-layer address by
    protocol: chaddr, a client identifier of hardware type 1, a DUID-LL/LLT's address."""
    client_mac: str | None = None
    """The link-layer address those fields hold (lower case, colons)."""
    server_id: str | None = None
    """DHCPv4 option 54 / DHCPv6 server identifier's address, when it holds one."""
    your_address: str | None = None
    routers: tuple[str, ...] = ()
    """DHCPv4 option 3."""
    dns_servers: tuple[str, ...] = ()
    """DHCPv4 option 6 / DHCPv6 option 23."""
    hostname: str | None = None
    """DHCPv4 option 12 / DHCPv6 client FQDN, as the client sent it (an identifier worth checking)."""
    vendor_class: str | None = None
    """DHCPv4 option 60 (``android-dhcp-14``)."""


@dataclass(frozen=True, slots=True)
class Content:
    """Bytes a protocol layer recovered from a flow that ``on_payload`` did not show as they are.

    Decrypted QUIC Initial CRYPTO data (the whole ClientHello), unmasked
    WebSocket payloads, HTTP/2 DATA, the other version of bytes a TCP
    retransmission overlapped with different data: the leak detector decodes
    and matches them like any payload, with ``chain`` as the root of the decode chain.
    """

    chain: str
    """``tls-clienthello`` (the whole message, which records may cut), ``quic-clienthello``,
    ``websocket:text``, ``websocket:binary`` (``websocket:close``/``ping``/``pong``: control frames),
    ``h2-data`` (HTTP/2 body bytes past the body limit), ``tcp-overlap``...

    ``tls-decrypted``: the plaintext of TLS records decrypted with a key log, sent inside encryption
    (visible to its recipient, not on the wire): application data as a continuous stream in pieces of
    up to ``CONTENT_CHUNK`` bytes, each starting with the last ``CONTENT_OVERLAP`` bytes of the one
    before (so nothing a record boundary cuts goes unmatched); handshake messages and alerts per
    record. What the application parsers found inside it has chains starting ``tls-decrypted>``
    (``tls-decrypted>websocket:text``, ``tls-decrypted>h2-data``) and requests ``decrypted``."""
    data: bytes
    offset: int
    """Offset in the direction's stream of the first byte that carried it (for reports)."""
    frame: int
    exact: bool = False
    """``data`` is a verbatim slice of the stream at ``offset`` (offsets inside it are exact)."""
    key: str | None = None
    """A field name the bytes sit under, when the protocol names one."""


@dataclass(slots=True, init=False)
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

    # Written out, not generated by the dataclass: see phonehome.traffic._compiled.
    def __init__(self, name: str, qtype: int, frame: int, ts: float) -> None:
        self.name = name
        self.qtype = qtype
        self.frame = frame
        self.ts = ts


@dataclass(slots=True, init=False)
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

    # Written out, not generated by the dataclass: see phonehome.traffic._compiled.
    def __init__(  # noqa: PLR0917  (the signature a dataclass generates)
        self,
        sni: str | None,
        alpn: list[str] | None = None,
        legacy_version: int = 0,
        versions: list[int] | None = None,
        cipher_suites: list[int] | None = None,
        ech: bool = False,
        frame: int = 0,
    ) -> None:
        self.sni = sni
        self.alpn = [] if alpn is None else alpn
        self.legacy_version = legacy_version
        self.versions = [] if versions is None else versions
        self.cipher_suites = [] if cipher_suites is None else cipher_suites
        self.ech = ech
        self.frame = frame


@dataclass(slots=True, init=False)
class HttpRequest:
    """One HTTP request the client sent, as parsed from the reassembled stream (HTTP/1.x, or an h2c
    stream: its ``:authority`` as a Host field, its pseudo-headers as method and target)."""

    method: str
    target: str
    """The request target as sent (path and query, or an absolute URI through a proxy)."""
    version: str
    """``HTTP/1.1``, ``HTTP/1.0``... or ``HTTP/2``."""
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
    decrypted: bool = False
    """Read by decrypting TLS with a key log: sent inside encryption, visible to its recipient only.
    Its offsets then count the TLS stream as sent (where the ciphertext of each byte sat)."""

    # Written out, not generated by the dataclass: see phonehome.traffic._compiled.
    def __init__(  # noqa: PLR0917  (the signature a dataclass generates)
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        body: bytes,
        body_truncated: bool,
        offset: int,
        body_offset: int,
        first_frame: int,
        last_frame: int,
        decrypted: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.body_truncated = body_truncated
        self.offset = offset
        self.body_offset = body_offset
        self.first_frame = first_frame
        self.last_frame = last_frame
        self.decrypted = decrypted

    @property
    def host(self) -> str | None:
        """The Host header, lower case, without port or trailing dot."""
        for name, value in self.headers:
            if name.lower() == "host":
                return host_without_port(value)
        return None


@dataclass(slots=True, init=False)
class Flow:
    """A TCP connection, a UDP conversation, a conversation of another IP protocol between two
    addresses, or frames without IP between two hardware addresses, from its first packet to its last.

    The client is the side that opened it: the SYN's sender; for a flow first
    seen mid-stream, or UDP, the first payload's sender unless that payload
    reads as a server's (a DNS/DHCP/NTP reply, an HTTP status line, a TLS
    ServerHello, a server greeting), port rank only when nothing can be read;
    for ICMP the first sender unless it sent a reply or an error. For a
    handset's own traffic that is the handset.
    """

    id: int
    """Index in order of first packet, 0-based; stable for a given capture."""
    proto: Proto
    src: str
    """Client address (IPv4 dotted or IPv6 compressed form; a hardware address for ``link-*`` flows)."""
    sport: int
    """0 for protocols without ports."""
    dst: str
    """Server address (for ``link-*`` flows a hardware address, ``""`` when the link layer has none)."""
    dport: int
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    src_mac: str | None = None
    """Client's Ethernet source address of its first frame, when the link layer has one."""
    dst_mac: str | None = None
    """Server's hardware address as the first frame addressed it (on a routed port: the router's)."""
    packets_c2s: int = 0
    packets_s2c: int = 0
    bytes_c2s: int = 0
    """Transport payload bytes client to server (retransmissions counted once)."""
    bytes_s2c: int = 0
    transport: Transport = "unknown"
    app: str | None = None
    """Application protocol recognised: ``http``, ``tls``, ``quic``, ``dns``, ``dot``, ``doh``, ``h2c``,
    ``websocket``, ``socks``, ``smtp``, ``imap``, ``pop3``, ``xmpp`` (``transport`` says whether they
    upgraded to TLS), ``dhcp``, ``dhcpv6``..."""
    server_name: str | None = None
    """Best name for the server: SNI, QUIC SNI, HTTP Host, or the client's own earlier DNS answer."""
    name_source: NameSource = "none"
    tls: TlsHello | None = None
    """The ClientHello (TLS over TCP, or QUIC's), when seen; of several on one flow, the first, unless a
    later one offered an older version (then that one: the weakest offer is what a policy judges)."""
    tls_server_version: int | None = None
    """Version the server selected in its ServerHello, when seen (0x0304 for TLS 1.3)."""
    tls_cipher_suite: int | None = None
    """Cipher suite the server selected in its ServerHello, when seen (0x1301 TLS_AES_128_GCM_SHA256)."""
    decrypted: bool = False
    """Records of this TLS flow were decrypted with secrets from a key log (an SSLKEYLOGFILE or the
    capture's Decryption Secrets Blocks): ``transport`` stays ``tls`` (it was encrypted on the wire),
    its decrypted bytes reach observers as ``tls-decrypted`` content and its requests are marked
    ``decrypted``. Complete only when ``uninspected`` names no decryption that stopped."""
    decrypted_c2s: int = 0
    """Plaintext bytes decrypted from the client's records (all content types)."""
    decrypted_s2c: int = 0
    http_requests: list[HttpRequest] = field(default_factory=list)
    """HTTP requests (HTTP/1.x and h2c), in order (bodies bounded by the analyzer's limit)."""
    dns_queries: list[DnsQuery] = field(default_factory=list)
    """DNS questions this flow carried from the client."""
    gaps_c2s: int = 0
    """Bytes missing from the client-to-server stream (lost before capture)."""
    gaps_s2c: int = 0
    closed: bool = False
    """A FIN or RST was seen (TCP)."""
    claims: list[NameClaim] = field(default_factory=list)
    """Every server name the client wrote into this flow (each request's Host, each SNI...), in order."""
    tunnel: Tunnel | None = None
    """Set when this flow was found inside a tunnel: where its carrier packets went."""
    dhcp: list[DhcpMessage] = field(default_factory=list)
    """DHCP messages this flow carried (UDP 67/68, 546/547 or any port where they parse)."""
    icmp_types: list[int] = field(default_factory=list)
    """ICMP/ICMPv6 flows: the message types seen, in order of first appearance."""
    cleartext_in_tls: int = 0
    """Client bytes of a flow classified TLS that were not TLS records, or application data records
    that read as text: encryption was claimed by the framing, not delivered."""
    anomalies: list[str] = field(default_factory=list)
    """What the analyzer could not read as the protocol said (at most a few, each one line): an
    overlapping retransmission with other bytes, a parser that stopped, a truncated message."""
    uninspected: list[str] = field(default_factory=list)
    """The anomalies that left bytes of this flow unread by any parser or decoder (an HTTP/2 header
    block that did not decode, a WebSocket frame skipped, a ClientHello that did not parse): doubt in
    every verdict about the flow, never a silent gap."""

    # Written out, not generated by the dataclass: see phonehome.traffic._compiled.
    def __init__(  # noqa: PLR0917  (the signature a dataclass generates)
        self,
        id: int,
        proto: Proto,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        first_ts: float,
        last_ts: float,
        first_frame: int,
        last_frame: int,
        src_mac: str | None = None,
        dst_mac: str | None = None,
        packets_c2s: int = 0,
        packets_s2c: int = 0,
        bytes_c2s: int = 0,
        bytes_s2c: int = 0,
        transport: Transport = "unknown",
        app: str | None = None,
        server_name: str | None = None,
        name_source: NameSource = "none",
        tls: TlsHello | None = None,
        tls_server_version: int | None = None,
        tls_cipher_suite: int | None = None,
        decrypted: bool = False,
        decrypted_c2s: int = 0,
        decrypted_s2c: int = 0,
        http_requests: list[HttpRequest] | None = None,
        dns_queries: list[DnsQuery] | None = None,
        gaps_c2s: int = 0,
        gaps_s2c: int = 0,
        closed: bool = False,
        claims: list[NameClaim] | None = None,
        tunnel: Tunnel | None = None,
        dhcp: list[DhcpMessage] | None = None,
        icmp_types: list[int] | None = None,
        cleartext_in_tls: int = 0,
        anomalies: list[str] | None = None,
        uninspected: list[str] | None = None,
    ) -> None:
        self.id = id
        self.proto = proto
        self.src = src
        self.sport = sport
        self.dst = dst
        self.dport = dport
        self.first_ts = first_ts
        self.last_ts = last_ts
        self.first_frame = first_frame
        self.last_frame = last_frame
        self.src_mac = src_mac
        self.dst_mac = dst_mac
        self.packets_c2s = packets_c2s
        self.packets_s2c = packets_s2c
        self.bytes_c2s = bytes_c2s
        self.bytes_s2c = bytes_s2c
        self.transport = transport
        self.app = app
        self.server_name = server_name
        self.name_source = name_source
        self.tls = tls
        self.tls_server_version = tls_server_version
        self.tls_cipher_suite = tls_cipher_suite
        self.decrypted = decrypted
        self.decrypted_c2s = decrypted_c2s
        self.decrypted_s2c = decrypted_s2c
        self.http_requests = [] if http_requests is None else http_requests
        self.dns_queries = [] if dns_queries is None else dns_queries
        self.gaps_c2s = gaps_c2s
        self.gaps_s2c = gaps_s2c
        self.closed = closed
        self.claims = [] if claims is None else claims
        self.tunnel = tunnel
        self.dhcp = [] if dhcp is None else dhcp
        self.icmp_types = [] if icmp_types is None else icmp_types
        self.cleartext_in_tls = cleartext_in_tls
        self.anomalies = [] if anomalies is None else anomalies
        self.uninspected = [] if uninspected is None else uninspected

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
        """In-order bytes of one direction: reassembled TCP, or one whole datagram (UDP, or the
        payload of one packet of another IP protocol: ICMP, ESP, GRE...; a frame without IP).

        Every byte either side sent is delivered, encrypted or not (TLS records after the
        handshake too: framing is not encryption, and a scan of ciphertext costs little and
        finds nothing). ``offset`` counts bytes of that direction from the flow's start.
        A tunnel's carrier flow gets only what is not its inner packet's (the encapsulation
        header, bytes after the inner packet) when the inner packet reached a flow of its own,
        and all of its payload when it did not: each byte is delivered once.
        """

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        """A complete (or, at capture end, cut) HTTP request from the client."""

    def on_flow_end(self, flow: Flow) -> None:
        """The flow closed, timed out or the capture ended: release per-flow state."""

    # Optional (the analyzer calls it when the observer has it):
    # def on_content(self, flow: Flow, from_client: bool, content: Content) -> None:
    #     """Bytes recovered by a protocol layer (decrypted QUIC Initial, unmasked WebSocket, TLS records
    #     decrypted with a key log...)."""


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
