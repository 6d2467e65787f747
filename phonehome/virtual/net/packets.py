"""Bytes of packets a hostile firmware sends by hand: ICMP echoes, tunnelled datagrams, a bare ClientHello.

Pure functions (RFC 791/768/792/2784/8200), so what a profile puts on the wire
is tested without a network. The raw sockets that send them are in actions.py.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import struct

UDP = 17


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(payload: bytes, *, ident: int = 0x5048, seq: int = 1) -> bytes:
    """An ICMP echo request (type 8) carrying ``payload``, checksummed (IPv4 raw sockets do not)."""
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq) + payload


def icmpv6_echo(payload: bytes, *, ident: int = 0x5048, seq: int = 1) -> bytes:
    """An ICMPv6 echo request (type 128); the kernel fills the checksum of raw ICMPv6 sockets."""
    return struct.pack("!BBHHH", 128, 0, 0, ident, seq) + payload


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A whole IPv4 or IPv6 packet holding one UDP datagram (what a tunnel carries)."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:
        raise ValueError(f"inner addresses {src} and {dst} are of different IP versions")
    length = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, UDP, length)
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", length, UDP)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    datagram = datagram[:6] + struct.pack("!H", checksum(pseudo + datagram) or 0xFFFF) + datagram[8:]
    if s.version == 6:
        return struct.pack("!IHBB", 6 << 28, length, UDP, 64) + s.packed + d.packed + datagram
    total = 20 + length
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0x5048, 0, 64, UDP, 0, s.packed, d.packed)
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + datagram


def gre(inner: bytes) -> bytes:
    """A GRE header (RFC 2784, no options) before an IPv4 or IPv6 packet."""
    etype = 0x0800 if inner[0] >> 4 == 4 else 0x86DD
    return struct.pack("!HH", 0, etype) + inner


def client_hello(sni: str | None, alpn: list[str]) -> bytes:
    """The TLS records of a real ClientHello, as Python's ssl writes it for ``sni`` (no network used)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for a ServerHello that never comes
        tls.do_handshake()
    return outgoing.read()


def tls_records(payload: bytes, *, content_type: int = 23) -> bytes:
    """``payload`` cut into TLS 1.2-style record headers (type 23: application data) without encrypting."""
    out = bytearray()
    for start in range(0, max(len(payload), 1), 1 << 14):
        piece = payload[start : start + (1 << 14)]
        out += struct.pack("!BHH", content_type, 0x0303, len(piece)) + piece
    return bytes(out)
