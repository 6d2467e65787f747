"""Link layers: from a captured frame to the network-layer protocol and where its header starts.

The link types are the ones handset and lab captures carry (LINKTYPE_* values
of https://www.tcpdump.org/linktypes.html). The analyzer inlines the
Ethernet/IPv4 case on its hot path; this module handles every case.
"""

from __future__ import annotations

from typing import Final

ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_IPV6: Final = 0x86DD

LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_PPP: Final = 9
LINKTYPE_RAW_DLT12: Final = 12  # DLT_RAW as written by some BSDs
LINKTYPE_RAW_DLT14: Final = 14  # DLT_RAW on OpenBSD
LINKTYPE_PPP_HDLC: Final = 50
LINKTYPE_RAW: Final = 101
LINKTYPE_C_HDLC: Final = 104
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_LINUX_SLL2: Final = 276

SUPPORTED: Final = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_PPP,
        LINKTYPE_RAW_DLT12,
        LINKTYPE_RAW_DLT14,
        LINKTYPE_PPP_HDLC,
        LINKTYPE_RAW,
        LINKTYPE_C_HDLC,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
    }
)

MAC_HEADERS: Final = frozenset({LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2})
"""Link types whose frames carry the sender's hardware address."""

_VLAN_TAGS: Final = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_PPPOE_SESSION: Final = 0x8864
_MPLS: Final = frozenset({0x8847, 0x8848})
# BSD loopback address families for IPv6 differ by OS (Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
_AF_INET6: Final = frozenset({10, 24, 28, 30})
_PPP_PROTOCOLS: Final = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6}  # one- or two-byte fields alike

NOT_IP: Final = -1
"""decode()'s protocol for a frame that carries no IP (ARP, LLDP, STP...)."""
TRUNCATED: Final = -2
"""decode()'s protocol for a frame too short for its own link header."""


def _by_version(data: bytes, off: int) -> tuple[int, int]:
    if off >= len(data):
        return TRUNCATED, off
    version = data[off] >> 4
    if version == 4:
        return ETHERTYPE_IPV4, off
    if version == 6:
        return ETHERTYPE_IPV6, off
    return NOT_IP, off


def ppp(data: bytes, off: int) -> tuple[int, int]:
    """PPP (RFC 1661) with optional HDLC address/control and protocol-field compression."""
    if data[off : off + 2] == b"\xff\x03":
        off += 2
    if off >= len(data):
        return TRUNCATED, off
    if data[off] & 1:  # a compressed, one-byte protocol field (RFC 1661 6.5)
        proto, off = data[off], off + 1
    elif off + 2 <= len(data):
        proto, off = (data[off] << 8) | data[off + 1], off + 2
    else:
        return TRUNCATED, off
    return _PPP_PROTOCOLS.get(proto, NOT_IP), off


def _mpls(data: bytes, off: int) -> tuple[int, int]:
    for _ in range(16):
        if off + 4 > len(data):
            return TRUNCATED, off
        bottom = data[off + 2] & 1
        off += 4
        if bottom:
            return _by_version(data, off)
    return NOT_IP, off


def ethertype(data: bytes, etype: int, off: int) -> tuple[int, int]:
    """Follows VLAN tags, 802.2 SNAP, PPPoE and MPLS from an EtherType at data[off-2:off]."""
    for _ in range(8):
        if etype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            return etype, off
        if etype in _VLAN_TAGS:
            if off + 4 > len(data):
                return TRUNCATED, off
            etype = (data[off + 2] << 8) | data[off + 3]
            off += 4
        elif etype <= 1500:  # an 802.3 length: only SNAP carries an EtherType
            if data[off : off + 3] != b"\xaa\xaa\x03" or off + 8 > len(data):
                return NOT_IP, off
            etype = (data[off + 6] << 8) | data[off + 7]
            off += 8
        elif etype == _PPPOE_SESSION:
            if off + 8 > len(data):
                return TRUNCATED, off
            return ppp(data, off + 6)
        elif etype in _MPLS:
            return _mpls(data, off)
        else:
            return NOT_IP, off
    return NOT_IP, off


def decode(linktype: int, data: bytes) -> tuple[int, int]:
    """(EtherType of the network layer, offset of its header) for one frame.

    The EtherType is ETHERTYPE_IPV4 or ETHERTYPE_IPV6 for IP, NOT_IP for
    anything else the link carries, TRUNCATED when the frame is too short;
    unsupported link types give NOT_IP (the caller checks SUPPORTED).
    """
    n = len(data)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return TRUNCATED, 0
        return ethertype(data, (data[12] << 8) | data[13], 14)
    if linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            return TRUNCATED, 0
        return ethertype(data, (data[14] << 8) | data[15], 16)
    if linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            return TRUNCATED, 0
        return ethertype(data, (data[0] << 8) | data[1], 20)
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_DLT12, LINKTYPE_RAW_DLT14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return _by_version(data, 0)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if n < 4:
            return TRUNCATED, 0
        family = int.from_bytes(data[:4], "big" if linktype == LINKTYPE_LOOP else "little")
        if family > 0xFFFF:  # DLT_NULL is in the capturing host's byte order
            family = int.from_bytes(data[:4], "little" if linktype == LINKTYPE_LOOP else "big")
        if family == 2:
            return ETHERTYPE_IPV4, 4
        if family in _AF_INET6:
            return ETHERTYPE_IPV6, 4
        return NOT_IP, 4
    if linktype in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC):
        return ppp(data, 0)
    if linktype == LINKTYPE_C_HDLC:
        if n < 4:
            return TRUNCATED, 0
        return ethertype(data, (data[2] << 8) | data[3], 4)
    return NOT_IP, 0


def frame_protocol(linktype: int, data: bytes) -> tuple[int, bytes, bytes, int] | None:
    """(EtherType, source hardware address, destination hardware address or b"", payload offset) of a
    frame with a MAC header (Ethernet, Linux cooked), for frames without IP; None for other link types.

    VLAN tags are followed; an 802.3 frame (a length, not an EtherType) gives EtherType 0.
    """
    if linktype == LINKTYPE_ETHERNET and len(data) >= 14:
        etype, off, src, dst = (data[12] << 8) | data[13], 14, data[6:12], data[0:6]
        for _ in range(8):
            if etype not in _VLAN_TAGS or off + 4 > len(data):
                break
            etype, off = (data[off + 2] << 8) | data[off + 3], off + 4
    elif linktype == LINKTYPE_LINUX_SLL and len(data) >= 16:
        etype, off, src, dst = (
            (data[14] << 8) | data[15],
            16,
            data[6 : 6 + min(8, (data[4] << 8) | data[5])],
            b"",
        )
    elif linktype == LINKTYPE_LINUX_SLL2 and len(data) >= 20:
        etype, off, src, dst = (data[0] << 8) | data[1], 20, data[12 : 12 + min(8, data[11])], b""
    else:
        return None
    return (etype if etype >= 0x600 else 0), src, dst, off


def format_mac(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``: lower-case hex, colon-separated (any length)."""
    return raw.hex(":")


def macs(linktype: int, data: bytes) -> tuple[str | None, str | None]:
    """(source, destination) hardware addresses of a frame, where its link layer has them."""
    if linktype == LINKTYPE_ETHERNET and len(data) >= 14:
        return format_mac(data[6:12]), format_mac(data[0:6])
    if linktype == LINKTYPE_LINUX_SLL and len(data) >= 16:
        hatype, alen = (data[2] << 8) | data[3], (data[4] << 8) | data[5]
        if hatype == 1 and alen == 6:
            return format_mac(data[6:12]), None
    if linktype == LINKTYPE_LINUX_SLL2 and len(data) >= 20:
        hatype, alen = (data[8] << 8) | data[9], data[11]
        if hatype == 1 and alen == 6:
            return format_mac(data[12:18]), None
    return None, None
