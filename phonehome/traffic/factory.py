"""Test doubles: frames, TCP/UDP conversations and capture files built from plain arguments.

Public so that labs can test their own manifests and policies without a
handset: build the traffic a firmware would send, write it as pcap or
pcapng bytes, and run the analyzer on it. Checksums are left zero, as on a
veth capture with offload; the analyzer never checks them.

    conv = TcpConversation(("10.0.0.2", 40000), ("203.0.113.5", 80)).handshake()
    conv.send(b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n").close()
    data = pcapng_bytes(conv.packets)
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from phonehome.traffic import link as lt
from phonehome.traffic.flow import Content, Flow, HttpRequest
from phonehome.traffic.writers import Packet, pcap_bytes, pcap_stream, pcapng_bytes, pcapng_stream

__all__ = [
    "ETHERNET",
    "RAW",
    "SLL",
    "SLL2",
    "Link",
    "Packet",
    "RecordingObserver",
    "TcpConversation",
    "UdpConversation",
    "encapsulate",
    "ethernet",
    "fragment",
    "gre",
    "icmp",
    "interleave",
    "ipv4",
    "ipv6",
    "pcap_bytes",
    "pcap_stream",
    "pcapng_bytes",
    "pcapng_stream",
    "tcp",
    "udp",
]
from phonehome.traffic.tcp import ACK, FIN, PSH, RST, SYN

ETHERTYPE_VLAN = 0x8100
ETHERTYPE_QINQ = 0x88A8


def mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _addr(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def ipv4(
    payload: bytes,
    src: str,
    dst: str,
    proto: int,
    *,
    ident: int = 0,
    ttl: int = 64,
    more: bool = False,
    offset: int = 0,
    total_length: int | None = None,
    options: bytes = b"",
) -> bytes:
    """An IPv4 packet (RFC 791); ``offset`` in bytes (a multiple of 8)."""
    ihl = 5 + len(options) // 4
    total = 4 * ihl + len(payload) if total_length is None else total_length
    frag = (0x2000 if more else 0) | (offset // 8)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, frag, ttl, proto, 0, _addr(src), _addr(dst)
    )
    return header + options + payload


def ipv6(
    payload: bytes,
    src: str,
    dst: str,
    next_header: int,
    *,
    hop_limit: int = 64,
    extensions: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """An IPv6 packet (RFC 8200); ``extensions`` are (type, body) pairs, bodies padded to 8-byte units."""
    chain = b""
    types = [t for t, _ in extensions] + [next_header]
    for i, (_, body) in enumerate(extensions):
        if types[i] == 44:  # a fragment header has a fixed layout
            chain += bytes([types[i + 1]]) + body
            continue
        padded = body + b"\x00" * (-(len(body) + 2) % 8)
        chain += bytes([types[i + 1], (len(padded) + 2) // 8 - 1]) + padded
    first = types[0]
    header = struct.pack(
        "!IHBB16s16s", 6 << 28, len(chain) + len(payload), first, hop_limit, _addr(src), _addr(dst)
    )
    return header + chain + payload


def tcp(
    sport: int,
    dport: int,
    flags: int,
    payload: bytes = b"",
    *,
    seq: int = 0,
    ack: int = 0,
    window: int = 65535,
    options: bytes = b"",
) -> bytes:
    offset = (20 + len(options)) // 4
    return (
        struct.pack(
            "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0
        )
        + options
        + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(icmp_type: int, code: int = 0, payload: bytes = b"") -> bytes:
    """An ICMP (RFC 792) or ICMPv6 (RFC 4443) message: type, code, a zero checksum, then ``payload``
    (for an echo: identifier, sequence number and data)."""
    return struct.pack("!BBH", icmp_type, code, 0) + payload


def gre(payload: bytes, protocol: int = lt.ETHERTYPE_IPV4, *, key: int | None = None) -> bytes:
    """A GRE header (RFC 2784, key per RFC 2890) before ``payload`` of EtherType ``protocol``
    (0x6558: an Ethernet frame)."""
    flags = 0x2000 if key is not None else 0
    return (
        struct.pack("!HH", flags, protocol) + (struct.pack("!I", key) if key is not None else b"") + payload
    )


def ethernet(payload: bytes, ethertype: int, *, src: str, dst: str, vlans: Sequence[int] = ()) -> bytes:
    """An Ethernet frame of any EtherType (ARP 0x0806, LLDP 0x88cc, EAPOL 0x888e...), 802.1Q tags first."""
    tags = b"".join(struct.pack("!HH", ETHERTYPE_VLAN, vid) for vid in vlans)
    return mac(dst) + mac(src) + tags + struct.pack("!H", ethertype) + payload


def fragment(packet: bytes, size: int, *, ident: int = 0x4242) -> list[bytes]:
    """Splits an IPv4 or IPv6 packet into fragments carrying ``size`` payload bytes each (a multiple of 8)."""
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 15) * 4
        src, dst = (
            socket.inet_ntop(socket.AF_INET, packet[12:16]),
            socket.inet_ntop(socket.AF_INET, packet[16:20]),
        )
        body = packet[ihl:]
        return [
            ipv4(body[o : o + size], src, dst, packet[9], ident=ident, offset=o, more=o + size < len(body))
            for o in range(0, len(body), size)
        ]
    src, dst = (
        socket.inet_ntop(socket.AF_INET6, packet[8:24]),
        socket.inet_ntop(socket.AF_INET6, packet[24:40]),
    )
    body = packet[40:]
    frags = []
    for o in range(0, len(body), size):
        more = o + size < len(body)
        ext = struct.pack("!BHI", 0, o | int(more), ident)
        frags.append(ipv6(body[o : o + size], src, dst, packet[6], extensions=[(44, ext)]))
    return frags


@dataclass(frozen=True, slots=True)
class Link:
    """How IP packets are framed on the captured interface (its LINKTYPE and header)."""

    linktype: int = lt.LINKTYPE_ETHERNET
    vlans: tuple[int, ...] = ()
    """802.1Q tags, outermost first; two or more make QinQ (outer tag 0x88A8)."""
    client_mac: str = "02:00:00:00:00:01"
    server_mac: str = "02:00:00:00:00:fe"

    def frame(self, packet: bytes, from_client: bool) -> bytes:
        version = packet[0] >> 4
        etype = lt.ETHERTYPE_IPV6 if version == 6 else lt.ETHERTYPE_IPV4
        src, dst = (self.client_mac, self.server_mac) if from_client else (self.server_mac, self.client_mac)
        if self.linktype == lt.LINKTYPE_ETHERNET:
            tags = b""
            for i, vid in enumerate(self.vlans):
                tpid = ETHERTYPE_QINQ if i == 0 and len(self.vlans) > 1 else ETHERTYPE_VLAN
                tags += struct.pack("!HH", tpid, vid)
            return mac(dst) + mac(src) + tags + struct.pack("!H", etype) + packet
        if self.linktype == lt.LINKTYPE_LINUX_SLL:
            kind = 4 if from_client else 0  # outgoing / to us
            return (
                struct.pack("!HHH", kind, 1, 6) + mac(src) + b"\x00\x00" + struct.pack("!H", etype) + packet
            )
        if self.linktype == lt.LINKTYPE_LINUX_SLL2:
            return (
                struct.pack("!HHIHBB", etype, 0, 2, 1, 4 if from_client else 0, 6)
                + mac(src)
                + b"\x00\x00"
                + packet
            )
        if self.linktype in (lt.LINKTYPE_RAW, lt.LINKTYPE_RAW_DLT12, lt.LINKTYPE_RAW_DLT14):
            return packet
        if (self.linktype, version) in ((lt.LINKTYPE_IPV4, 4), (lt.LINKTYPE_IPV6, 6)):
            return packet
        if self.linktype == lt.LINKTYPE_NULL:
            return struct.pack("<I", 10 if version == 6 else 2) + packet
        if self.linktype == lt.LINKTYPE_LOOP:
            return struct.pack("!I", 24 if version == 6 else 2) + packet
        if self.linktype == lt.LINKTYPE_PPP:
            return b"\xff\x03" + struct.pack("!H", 0x57 if version == 6 else 0x21) + packet
        if self.linktype == lt.LINKTYPE_C_HDLC:
            return b"\x0f\x00" + struct.pack("!H", etype) + packet
        raise ValueError(f"factory cannot frame IPv{version} for link type {self.linktype}")


ETHERNET = Link()
RAW = Link(lt.LINKTYPE_RAW)
SLL = Link(lt.LINKTYPE_LINUX_SLL)
SLL2 = Link(lt.LINKTYPE_LINUX_SLL2)


def encapsulate(
    packets: Iterable[Packet],
    outer: Callable[[bytes], bytes],
    link: Link = ETHERNET,
) -> list[Packet]:
    """Each packet's IP packet (from a RAW-link conversation) wrapped by ``outer`` (which returns the
    outer IP packet: IP-in-IP, GRE, UDP to a tunnel port...) and framed on ``link``."""
    return [Packet(p.ts, link.frame(outer(p.data), True), link.linktype) for p in packets]


def _ip(payload: bytes, src: str, dst: str, proto: int) -> bytes:
    return ipv6(payload, src, dst, proto) if ":" in src else ipv4(payload, src, dst, proto)


@dataclass
class _Conversation:
    client: tuple[str, int] = ("10.0.0.2", 40000)
    server: tuple[str, int] = ("198.51.100.7", 80)
    link: Link = ETHERNET
    ts: float = 1_700_000_000.0
    step: float = 0.001
    """Seconds between consecutive packets."""
    packets: list[Packet] = field(default_factory=list)

    def _emit(self, transport: bytes, proto: int, from_client: bool) -> None:
        src, dst = (self.client[0], self.server[0]) if from_client else (self.server[0], self.client[0])
        self.emit_ip(_ip(transport, src, dst, proto), from_client)

    def emit_ip(self, packet: bytes, from_client: bool) -> None:
        """Appends one IP packet (or fragment), framed by the conversation's link."""
        self.packets.append(Packet(self.ts, self.link.frame(packet, from_client), self.link.linktype))
        self.ts += self.step


@dataclass
class UdpConversation(_Conversation):
    """Datagrams between a client and a server port."""

    def send(
        self, data: bytes, from_client: bool = True, *, fragment_size: int | None = None
    ) -> UdpConversation:
        (cip, cport), (sip, sport) = self.client, self.server
        sp, dp = (cport, sport) if from_client else (sport, cport)
        datagram = udp(sp, dp, data)
        if fragment_size is None:
            self._emit(datagram, 17, from_client)
        else:
            src, dst = (cip, sip) if from_client else (sip, cip)
            for frag in fragment(_ip(datagram, src, dst, 17), fragment_size):
                self.emit_ip(frag, from_client)
        return self


@dataclass
class TcpConversation(_Conversation):
    """A TCP connection built step by step: handshake, data each way (with loss and reordering), close.

    Sequence numbers follow real TCP (SYN and FIN take one), so the
    analyzer's reassembly sees what a kernel would have sent.
    """

    isn: tuple[int, int] = (1000, 500000)
    mss: int = 1460
    ack_every: int = 0
    """Send a pure ACK from the receiver after every N data segments (0: never)."""
    _seq: list[int] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._seq = [self.isn[0], self.isn[1]]

    def segment(
        self, flags: int, payload: bytes = b"", from_client: bool = True, *, seq: int | None = None
    ) -> TcpConversation:
        """One raw segment at ``seq`` (default: the side's next sequence number), not advancing it."""
        side = 0 if from_client else 1
        (_, cport), (_, sport) = self.client, self.server
        sp, dp = (cport, sport) if from_client else (sport, cport)
        ack = self._seq[1 - side] if flags & ACK else 0
        self._emit(
            tcp(sp, dp, flags, payload, seq=self._seq[side] if seq is None else seq, ack=ack), 6, from_client
        )
        return self

    def handshake(self) -> TcpConversation:
        self.segment(SYN, from_client=True)
        self._seq[0] += 1
        self._seq[1] = self.isn[1]
        self.segment(SYN | ACK, from_client=False)
        self._seq[1] += 1
        return self.segment(ACK, from_client=True)

    def send(
        self,
        data: bytes,
        from_client: bool = True,
        *,
        reorder: bool = False,
        retransmit: Iterable[int] = (),
        lose: Iterable[int] = (),
        overlap: int = 0,
    ) -> TcpConversation:
        """Sends ``data`` in MSS-sized segments.

        ``reorder`` swaps each pair of segments; ``retransmit`` resends the
        segments with those indexes right after them (``overlap`` bytes of
        the previous segment included); ``lose`` drops segments from the
        capture (they were sent: later sequence numbers account for them).
        """
        side = 0 if from_client else 1
        start = self._seq[side]
        chunks = [(start + o, data[o : o + self.mss]) for o in range(0, len(data), self.mss)]
        self._seq[side] = start + len(data)
        order = list(range(len(chunks)))
        if reorder:
            for i in range(0, len(order) - 1, 2):
                order[i], order[i + 1] = order[i + 1], order[i]
        lost, again = set(lose), set(retransmit)
        for sent, i in enumerate(order, 1):
            seq, chunk = chunks[i]
            if i not in lost:
                self.segment(ACK | PSH, chunk, from_client, seq=seq)
            if i in again:
                back = min(overlap, seq - start)
                self.segment(
                    ACK | PSH,
                    data[seq - start - back : seq - start + len(chunk)],
                    from_client,
                    seq=seq - back,
                )
            if self.ack_every and sent % self.ack_every == 0:
                self.segment(ACK, from_client=not from_client)
        return self

    def close(self, *, rst: bool = False) -> TcpConversation:
        if rst:
            return self.segment(RST | ACK, from_client=True)
        self.segment(FIN | ACK, from_client=True)
        self._seq[0] += 1
        self.segment(FIN | ACK, from_client=False)
        self._seq[1] += 1
        return self.segment(ACK, from_client=True)


class RecordingObserver:
    """A FlowObserver that keeps every call, to check what the analyzer streams and in what order."""

    def __init__(self) -> None:
        self.payload: list[tuple[int, bool, int, bytes, int]] = []
        """(flow id, from client, offset, bytes, frame) per on_payload call."""
        self.requests: list[tuple[int, HttpRequest]] = []
        self.ended: list[int] = []
        """Flow ids in the order their on_flow_end came."""
        self.contents: list[tuple[int, bool, Content]] = []
        """(flow id, from client, content) per on_content call."""

    def on_payload(self, flow: Flow, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        self.payload.append((flow.id, from_client, offset, data, frame))

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        self.requests.append((flow.id, request))

    def on_flow_end(self, flow: Flow) -> None:
        self.ended.append(flow.id)

    def on_content(self, flow: Flow, from_client: bool, content: Content) -> None:
        self.contents.append((flow.id, from_client, content))

    def stream(self, flow_id: int, from_client: bool) -> bytes:
        """One direction's bytes as delivered, gaps as zero bytes; raises if they ever went backwards."""
        out = bytearray()
        for fid, client, offset, data, _ in self.payload:
            if fid == flow_id and client == from_client:
                if offset < len(out):
                    raise AssertionError(f"flow {fid}: payload at offset {offset} after {len(out)} bytes")
                out += bytes(offset - len(out)) + data
        return bytes(out)


def interleave(*conversations: Sequence[Packet]) -> list[Packet]:
    """Merges packet lists by timestamp (stable), as a capture of simultaneous flows would hold them."""
    merged = [p for conv in conversations for p in conv]
    merged.sort(key=lambda p: p.ts)
    return merged
