"""What the per-flow sessions share: their context, the shape tests that classify a flow, claims, DNS recording.

One session per flow (``tcp_session``, ``udp_session``). A TCP session
receives each direction's reassembled bytes; a UDP session each datagram.
With an observer, every byte goes to it. Without one, each session decides
when a direction's payload is no longer needed (a TLS flow after its hellos
and a bounded check of the client's framing, a QUIC flow after its Initial
ClientHello, anything unrecognised at once) and switches that direction to
counting only: that is what keeps a long capture of bulk encrypted data cheap.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from typing import Final

from phonehome.traffic import link, naming
from phonehome.traffic.dns import DnsMessage, parse_message
from phonehome.traffic.flow import (
    ClaimSource,
    Content,
    DnsQuery,
    Flow,
    FlowObserver,
    HttpRequest,
    NameClaim,
    TlsHello,
    host_without_port,
)
from phonehome.traffic.keylog import KeyLog
from phonehome.traffic.tcp import Budget
from phonehome.traffic.tls import parse_client_hello

DNS_PORTS: Final = {53: "dns", 5353: "mdns", 5355: "llmnr"}
CLASSIFY_BYTES: Final = 8
"""Client bytes needed to tell TLS from HTTP from anything else (a TLS record header is 5)."""
QUIC_MAX_DATAGRAMS: Final = 64
"""Datagrams a QUIC flow is searched for its Initial ClientHello before we stop looking."""
UDP_SCAN_DATAGRAMS: Final = 8
"""Datagrams of an unrecognised UDP flow searched for an embedded TLS ClientHello (RDP over UDP...)."""
PROXY_V1: Final = b"PROXY "
PROXY_V2: Final = b"\r\n\r\n\x00\r\nQUIT\n"
MAX_PREFIX: Final = 4096
"""Client bytes held while waiting for the end of a PROXY protocol header."""
PENDING_BUDGET = 32 << 20
"""Out-of-order TCP bytes held across all flows at once (each direction also has its own bound)."""
DECRYPTED_BUDGET = 32 << 20
"""Decrypted plaintext held at once across flows while records are joined; past it, pieces go out sooner."""
BODY_BUDGET = 32 << 20
"""HTTP body bytes kept in Flow records across the whole analysis; later bodies go to the observer only."""
TLS_CONTENT_TYPES: Final = frozenset({20, 21, 22, 23})
MAX_CLAIMS: Final = 64
"""Distinct (name, source) claims kept per flow; past it one anomaly says later ones were dropped."""
MAX_ANOMALIES: Final = 8
"""Distinct anomalies kept per flow (each a line): enough to raise doubt, never a flood."""

NEW: Final = 0
TLS: Final = 1
HTTP: Final = 2
DNS: Final = 3
UNKNOWN: Final = 4
QUIC: Final = 5
H2: Final = 6
WEBSOCKET: Final = 7
SOCKS: Final = 8
STARTTLS: Final = 9
DHCP: Final = 10

ContentSink = Callable[[Flow, bool, Content], None]


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

    __slots__ = (
        "bodies_dropped",
        "bodies_kept",
        "body_limit",
        "book",
        "decrypted_held",
        "frame_data",
        "keys",
        "linktype",
        "observer",
        "on_content",
        "pending",
        "stats",
    )

    def __init__(
        self,
        observer: FlowObserver | None,
        book: naming.DnsBook,
        stats: Counter[str],
        body_limit: int,
        keys: KeyLog | None = None,
    ) -> None:
        self.observer = observer
        self.on_content: ContentSink | None = getattr(observer, "on_content", None)
        """The observer's optional ``on_content``, or None (observers without it keep working)."""
        self.book = book
        self.stats = stats
        """Malformed packets and messages, by reason."""
        self.body_limit = body_limit
        self.keys = keys if keys is not None else KeyLog()
        """TLS secrets by client random (a key log file, the capture's Decryption Secrets Blocks)."""
        self.pending = Budget(PENDING_BUDGET)
        self.decrypted_held = Budget(DECRYPTED_BUDGET)
        """Decrypted plaintext joined across records, held for the observer, across all flows at once."""
        self.bodies_kept = 0
        self.bodies_dropped = 0
        """Requests whose body went to the observer but was not kept (BODY_BUDGET was spent)."""
        self.linktype = 1
        self.frame_data = b""
        """The link type and bytes of the frame being handled (set by the packet loop before it hands
        a packet to a session), for what needs the frame's own hardware addresses."""

    def content(self, flow: Flow, from_client: bool, content: Content) -> None:
        """Hands bytes a protocol layer recovered to the observer, if it takes them."""
        if self.on_content is not None:
            self.on_content(flow, from_client, content)

    def record_requests(self, flow: Flow, requests: list[HttpRequest]) -> None:
        """Adds requests to their flow and tells the observer; keeps bodies while the budget lasts.

        Each request's names (Host, an absolute target, a CONNECT target) become claims.
        """
        for request in requests:
            flow.http_requests.append(request)
            request_claims(flow, request)
            if self.observer is not None:
                self.observer.on_http_request(flow, request)
            if request.body:
                if self.bodies_kept + len(request.body) > BODY_BUDGET:
                    request.body = b""
                    request.body_truncated = True
                    self.bodies_dropped += 1
                else:
                    self.bodies_kept += len(request.body)


def normalise_name(name: str) -> str | None:
    """A claimed name as NameClaim keeps it: lower case, no trailing dot; IPv6 literals compressed."""
    name = name.strip().rstrip(".").lower()
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name.split("%", 1)[0]).compressed
        except ValueError:
            pass
    return name or None


def claim(
    flow: Flow,
    name: str | None,
    source: ClaimSource,
    frame: int,
    *,
    port: bool = False,
    decrypted: bool = False,
) -> None:
    """Records a name the client wrote (``port``: the text may carry ``:port``, as a Host does;
    ``decrypted``: it was read inside TLS decrypted with a key log)."""
    if name is None:
        return
    value = host_without_port(name) if port else name
    value = normalise_name(value) if value else None
    if value is None:
        return
    claims = flow.claims
    for known in claims:
        if known.name == value and known.source == source and known.decrypted == decrypted:
            return
    if len(claims) >= MAX_CLAIMS:
        anomaly(flow, f"more than {MAX_CLAIMS} names claimed: later ones were not kept", unread=True)
        return
    claims.append(NameClaim(value, source, frame, decrypted))


def anomaly(flow: Flow, text: str, *, unread: bool = False) -> None:
    """Notes something the analyzer could not read as the protocol said (bounded, each once).

    ``unread``: bytes or names were left uninspected because of it, which is doubt in the verdicts
    (``Flow.uninspected``); otherwise everything was still delivered and judged another way.
    """
    if text not in flow.anomalies and len(flow.anomalies) < MAX_ANOMALIES:
        flow.anomalies.append(text)
    if unread and text not in flow.uninspected and len(flow.uninspected) < MAX_ANOMALIES:
        flow.uninspected.append(text)


def uri_host(target: str) -> str | None:
    """The host of an absolute request target (``http://host:port/path``, RFC 9112 3.2.2), else None."""
    scheme, sep, rest = target.partition("://")
    if not sep or not scheme or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return None
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    authority = authority.rpartition("@")[2]
    return authority or None


def request_claims(flow: Flow, request: HttpRequest) -> None:
    """The names one HTTP request claims: every Host field (HTTP/2: ``:authority``), an absolute
    target, a CONNECT target."""
    frame = request.first_frame
    inside = request.decrypted
    source: ClaimSource = "h2-authority" if request.version == "HTTP/2" else "http-host"
    for name, value in request.headers:
        if name.lower() == "host":
            claim(flow, value, source, frame, port=True, decrypted=inside)
    if request.method == "CONNECT":
        claim(flow, request.target, "connect", frame, port=True, decrypted=inside)
    else:
        claim(flow, uri_host(request.target), "http-uri", frame, port=True, decrypted=inside)


def dns_port(sport: int, dport: int) -> str | None:
    """The DNS flavour a flow's ports say it carries, if any."""
    return DNS_PORTS.get(dport) or DNS_PORTS.get(sport)


def looks_like_tls(prefix: bytes) -> bool:
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


class DnsRecorder:
    """DNS messages of a flow: the client's questions to the flow, every response's answers to the
    book's ``answers`` with their provenance, and the server's answers to the book's names."""

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
        if not msg.response:
            return
        ctx = self.ctx
        # The response frame's own addresses: one the handset forged carries its hardware address.
        sender_mac, receiver_mac = link.macs(ctx.linktype, ctx.frame_data)
        client, server = (flow.dst, flow.src) if from_client else (flow.src, flow.dst)
        found = naming.resolved(msg)
        ctx.book.record(
            msg,
            found=found,
            client=client,
            server=server,
            client_mac=receiver_mac,
            server_mac=sender_mac,
            frame=frame,
            ts=ts,
            flow_id=flow.id,
        )
        # Names for display come only from responses the flow's server sent to its client: a client
        # that answers itself (or a handset that serves DNS) must not name its own destinations.
        if flow.app == "dns" and not from_client:
            ctx.book.learn(flow.src, msg, flow.src_mac, found=found)


def is_doh_request(request: HttpRequest) -> bool:
    """DoH in the clear (RFC 8484): its media type, its conventional path, or a known resolver."""
    if request.target.split("?", 1)[0].endswith("/dns-query"):
        return True
    for name, value in request.headers:
        if name.lower() in ("content-type", "accept") and "application/dns-message" in value.lower():
            return True
    return naming.is_doh_resolver(request.host)
