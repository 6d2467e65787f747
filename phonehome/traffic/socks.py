"""SOCKS 4, 4a and 5 requests (RFC 1928, RFC 1929, the SOCKS 4/4a notes) from a client's stream.

A client that tunnels through a SOCKS proxy names its real destination in
the request: that name is a claim, and what follows a CONNECT is the
tunnelled stream (TLS, usually), to be classified afresh. Only the client's
bytes are read: a proxy that never answers still shows what was asked.
Hand-written: the handshake is a few fixed fields, and no library parses the
client side of it from a capture.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_HANDSHAKE = 1024
"""Client bytes a SOCKS handshake may take (greeting, RFC 1929 credentials, request)."""
CONNECT, BIND, UDP_ASSOCIATE = 1, 2, 3


@dataclass(frozen=True, slots=True)
class SocksRequest:
    """What a client asked its proxy for."""

    version: int
    """4 (4a included) or 5."""
    command: int
    """1 CONNECT, 2 BIND, 3 UDP ASSOCIATE."""
    host: str
    """The domain as sent (4a, 5 with ATYP 3) or the address (IPv4 dotted, IPv6 compressed)."""
    port: int
    end: int
    """Bytes of the client's stream the handshake took: the tunnel begins there."""


def looks_like_socks(prefix: bytes) -> bool:
    """A client's first bytes are a SOCKS 5 greeting or a SOCKS 4 request (decided from what is there)."""
    if len(prefix) < 3:
        return False
    if prefix[0] == 5:
        n = prefix[1]
        if n == 0 or any(3 < m < 0x80 or m == 0xFF for m in prefix[2 : 2 + n]):
            return False
        # What follows the greeting: RFC 1929 credentials (version 1) or the request (version 5).
        return len(prefix) <= 2 + n or prefix[2 + n] in (1, 5)
    if prefix[0] == 4 and prefix[1] in (CONNECT, BIND) and len(prefix) >= 9:
        return 0 in prefix[8 : 8 + 256]
    return False


def parse_socks(buf: bytes) -> SocksRequest | None:
    """The request at the start of a client's stream once all of it is there; None before, or if malformed."""
    try:
        if buf[:1] == b"\x05":
            return _socks5(buf)
        if buf[:1] == b"\x04":
            return _socks4(buf)
    except IndexError:
        return None
    return None


def _socks5(buf: bytes) -> SocksRequest | None:
    pos = 2 + buf[1]
    if pos >= len(buf):
        return None
    if buf[pos] == 1:  # RFC 1929 username/password sub-negotiation, when the proxy chose method 2
        ulen = buf[pos + 1]
        plen = buf[pos + 2 + ulen]
        pos += 3 + ulen + plen
    if buf[pos] != 5 or buf[pos + 1] not in (CONNECT, BIND, UDP_ASSOCIATE):
        return None
    command, atyp = buf[pos + 1], buf[pos + 3]
    pos += 4
    if atyp in (1, 4):
        size = 4 if atyp == 1 else 16
        packed = buf[pos : pos + size]
        if len(packed) < size:
            return None
        host = ipaddress.ip_address(packed).compressed
        pos += size
    elif atyp == 3:
        length = buf[pos]
        raw = buf[pos + 1 : pos + 1 + length]
        if len(raw) < length:
            return None
        host = raw.decode("ascii", "replace")
        pos += 1 + length
    else:
        return None
    if pos + 2 > len(buf):
        return None
    return SocksRequest(5, command, host, int.from_bytes(buf[pos : pos + 2], "big"), pos + 2)


def _socks4(buf: bytes) -> SocksRequest | None:
    command = buf[1]
    port = int.from_bytes(buf[2:4], "big")
    address = buf[4:8]
    if len(address) < 4:
        return None
    end = buf.find(b"\x00", 8, 8 + 256)  # USERID
    if end < 0:
        return None
    pos = end + 1
    if address[:3] == b"\x00\x00\x00" and address[3]:  # SOCKS 4a: the domain follows the USERID
        end = buf.find(b"\x00", pos, pos + 256)
        if end < 0:
            return None
        host = buf[pos:end].decode("ascii", "replace")
        pos = end + 1
    else:
        host = str(ipaddress.IPv4Address(address))
    return SocksRequest(4, command, host, port, pos)


# -- builders (tests) --------------------------------------------------------------------------------------


def build_socks5(
    host: str, port: int, command: int = CONNECT, *, credentials: tuple[str, str] | None = None
) -> bytes:
    """A client's whole SOCKS 5 handshake: greeting, credentials if any, request."""
    greeting = b"\x05\x01\x02" if credentials else b"\x05\x01\x00"
    auth = b""
    if credentials:
        user, password = (c.encode() for c in credentials)
        auth = bytes([1, len(user)]) + user + bytes([len(password)]) + password
    try:
        address = ipaddress.ip_address(host)
        target = (b"\x01" if address.version == 4 else b"\x04") + address.packed
    except ValueError:
        name = host.encode()
        target = b"\x03" + bytes([len(name)]) + name
    return greeting + auth + bytes([5, command, 0]) + target + port.to_bytes(2, "big")


def build_socks4(host: str, port: int, *, user: bytes = b"") -> bytes:
    """A SOCKS 4 request (4a when ``host`` is a name)."""
    try:
        address = ipaddress.IPv4Address(host).packed
        tail = b""
    except ValueError:
        address = b"\x00\x00\x00\x01"
        tail = host.encode() + b"\x00"
    return b"\x04\x01" + port.to_bytes(2, "big") + address + user + b"\x00" + tail
