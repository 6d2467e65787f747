"""IPv4 (RFC 791) and IPv6 (RFC 8200) headers and extension headers.

Hand-written rather than dpkt: the analyzer needs only the addresses, the
transport protocol and where its bytes are, and building objects per packet
costs more than the rest of the hot path (shared/notes/bench-facts.md).
Checksums are not validated: captures on veth carry offloaded ones.
"""

from __future__ import annotations

import socket
from typing import Final

from phonehome.traffic import link

PROTO_ICMP: Final = 1
PROTO_IPIP: Final = 4
PROTO_TCP: Final = 6
PROTO_UDP: Final = 17
PROTO_IPV6: Final = 41
PROTO_GRE: Final = 47
PROTO_ESP: Final = 50
PROTO_AH: Final = 51
PROTO_ICMPV6: Final = 58
PROTO_NONE: Final = 59
# Extension headers with the generic (next header, length in 8-octet units) layout (RFC 8200 4.1, RFC 7045).
_GENERIC_EXT: Final = frozenset({0, 43, 60, 135, 139, 140})
_FRAGMENT: Final = 44
_MAX_EXT: Final = 16

IpPacket = tuple[int, bytes, bytes, bytes, int, int, int]
"""(transport protocol, source, destination, buffer, start, end, bytes cut by the snap length).

The transport header and payload are ``buffer[start:end]``; ``source`` and
``destination`` are the raw 4- or 16-byte addresses.
"""


class Malformed(Exception):
    """A packet that cannot be decoded; ``reason`` is the stats key it is counted under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Fragment:
    """One IP fragment, to be reassembled before its transport header can be read."""

    __slots__ = ("data", "dst", "key", "more", "offset", "proto", "src")

    def __init__(
        self,
        key: tuple[bytes, bytes, int, int],
        *,
        src: bytes,
        dst: bytes,
        proto: int,
        offset: int,
        more: bool,
        data: bytes,
    ) -> None:
        self.key = key
        self.src = src
        self.dst = dst
        self.proto = proto
        self.offset = offset
        self.more = more
        self.data = data


_TEXT: Final[dict[bytes, str]] = {}
"""Text of the addresses met lately: a capture names the same few addresses in flow after flow."""
_TEXT_MAX: Final = 1 << 14


def address(raw: bytes) -> str:
    """Dotted IPv4 or compressed IPv6 text of a raw address."""
    text = _TEXT.get(raw)
    if text is None:
        if len(_TEXT) >= _TEXT_MAX:  # many addresses (a scan, a hostile capture): start over
            _TEXT.clear()
        text = _TEXT[raw] = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
    return text


def parse(data: bytes, off: int, etype: int) -> IpPacket | Fragment:
    """Decodes the IP header at data[off:]. Tunnels are left to the packet loop, which keeps the
    carrier packets as a flow of their own before it reads what they carry (``tunnels.ip_tunnel``)."""
    return ipv4(data, off) if etype == link.ETHERTYPE_IPV4 else ipv6(data, off)


def ipv4(data: bytes, off: int) -> IpPacket | Fragment:
    n = len(data)
    if off + 20 > n:
        raise Malformed("ipv4-truncated")
    vihl = data[off]
    if vihl >> 4 != 4:
        raise Malformed("ip-version")
    ihl = (vihl & 15) * 4
    total = (data[off + 2] << 8) | data[off + 3]
    if total == 0:  # TSO/GSO frames captured before segmentation carry no length
        total = n - off
    if ihl < 20 or total < ihl:
        raise Malformed("ipv4-header-length")
    if off + ihl > n:
        raise Malformed("ipv4-truncated")
    end = off + total
    cut = 0
    if end > n:
        cut = end - n
        end = n
    proto = data[off + 9]
    src = data[off + 12 : off + 16]
    dst = data[off + 16 : off + 20]
    frag = (data[off + 6] << 8) | data[off + 7]
    if frag & 0x3FFF:  # MF set or a non-zero offset
        if cut:
            raise Malformed("ip-fragment-truncated")
        ident = (data[off + 4] << 8) | data[off + 5]
        return Fragment(
            (src, dst, proto, ident),
            src=src,
            dst=dst,
            proto=proto,
            offset=(frag & 0x1FFF) * 8,
            more=bool(frag & 0x2000),
            data=data[off + ihl : end],
        )
    return proto, src, dst, data, off + ihl, end, cut


def ipv6(data: bytes, off: int) -> IpPacket | Fragment:
    n = len(data)
    if off + 40 > n:
        raise Malformed("ipv6-truncated")
    if data[off] >> 4 != 6:
        raise Malformed("ip-version")
    plen = (data[off + 4] << 8) | data[off + 5]
    nh = data[off + 6]
    src = data[off + 8 : off + 24]
    dst = data[off + 24 : off + 40]
    end = off + 40 + plen if plen else n  # 0: a jumbogram or an unsegmented GSO frame
    cut = 0
    if end > n:
        cut = end - n
        end = n
    pos = off + 40
    for _ in range(_MAX_EXT):
        if nh in _GENERIC_EXT:
            if pos + 8 > end:
                raise Malformed("ipv6-extension-truncated")
            nh, pos = data[pos], pos + (data[pos + 1] + 1) * 8
        elif nh == PROTO_AH:
            if pos + 8 > end:
                raise Malformed("ipv6-extension-truncated")
            nh, pos = data[pos], pos + (data[pos + 1] + 2) * 4
        elif nh == _FRAGMENT:
            if pos + 8 > end:
                raise Malformed("ipv6-extension-truncated")
            if cut:
                raise Malformed("ip-fragment-truncated")
            inner = data[pos]
            offmf = (data[pos + 2] << 8) | data[pos + 3]
            ident = int.from_bytes(data[pos + 4 : pos + 8], "big")
            if offmf & 0xFFF9 == 0:  # RFC 6946 atomic fragment: offset 0, no M flag
                nh, pos = inner, pos + 8
                continue
            # IPv6 fragment headers name the same next header in every fragment (RFC 8200 4.5).
            return Fragment(
                (src, dst, -1, ident),
                src=src,
                dst=dst,
                proto=inner,
                offset=offmf & 0xFFF8,
                more=bool(offmf & 1),
                data=data[pos + 8 : end],
            )
        else:
            break
    else:
        raise Malformed("ipv6-extension-chain")
    if pos > end:
        raise Malformed("ipv6-extension-truncated")
    return nh, src, dst, data, pos, end, cut
