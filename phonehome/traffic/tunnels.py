"""Tunnels whose inner packets are the traffic that matters: IP-in-IP, 6in4, GRE and UDP encapsulations.

IP-in-IP (RFC 2003), 6in4 (RFC 4213) and GRE (RFC 2784/2890, PPTP's RFC 2637)
ride on IP directly; GTP-U (3GPP TS 29.281) carries a handset's own IP
packets between cell sites and the core; VXLAN (RFC 7348) and Geneve (RFC
8926) carry whole Ethernet frames; Teredo (RFC 4380) carries IPv6. The
analyzer re-reads the inner packet as if it were a frame of its own (with
the same frame number); the bytes before it (the encapsulation header,
which may carry anything: GRE keys, Geneve options) stay the carrier's.
"""

from __future__ import annotations

from phonehome.traffic import link

GTP_U, VXLAN, GENEVE, TEREDO = 2152, 4789, 6081, 3544
PORTS = frozenset({GTP_U, VXLAN, GENEVE, TEREDO})
KINDS = {GTP_U: "gtp-u", VXLAN: "vxlan", GENEVE: "geneve", TEREDO: "teredo"}
"""``Tunnel.kind`` of each UDP encapsulation."""
IP_KINDS = {4: "ipip", 41: "6in4", 47: "gre"}
"""``Tunnel.kind`` of each IP protocol that carries packets."""
_PPP_IN_GRE = 0x880B
_TRANSPARENT_ETHERNET = 0x6558


def _gtp_u(data: bytes) -> tuple[int, bytes] | None:
    if len(data) < 8 or data[0] >> 5 != 1 or not data[0] & 0x10 or data[1] != 0xFF:
        return None  # not GTPv1, GTP' or not a G-PDU (user data)
    pos = 8
    if data[0] & 0x07:
        if len(data) < 12:
            return None
        next_ext = data[11]
        pos = 12
        for _ in range(16):  # extension headers: length in 4-octet units, next type last
            if not next_ext:
                break
            if pos >= len(data) or data[pos] == 0:
                return None
            end = pos + data[pos] * 4
            if end > len(data):
                return None
            next_ext = data[end - 1]
            pos = end
    inner = data[pos:]
    if not inner or inner[0] >> 4 not in (4, 6):
        return None
    return link.LINKTYPE_RAW, inner


def _vxlan(data: bytes) -> tuple[int, bytes] | None:
    if len(data) < 8 + 14 or not data[0] & 0x08:
        return None
    return link.LINKTYPE_ETHERNET, data[8:]


def _geneve(data: bytes) -> tuple[int, bytes] | None:
    if len(data) < 8 or data[0] >> 6 != 0:
        return None
    pos = 8 + (data[0] & 0x3F) * 4
    proto = (data[2] << 8) | data[3]
    if proto == 0x6558:
        return link.LINKTYPE_ETHERNET, data[pos:]
    if proto in (link.ETHERTYPE_IPV4, link.ETHERTYPE_IPV6):
        return link.LINKTYPE_RAW, data[pos:]
    return None


def _teredo(data: bytes) -> tuple[int, bytes] | None:
    pos = 0
    for _ in range(2):
        if data[pos : pos + 2] == b"\x00\x00":  # origin indication
            pos += 8
        elif data[pos : pos + 2] == b"\x00\x01" and len(data) >= pos + 4:  # authentication
            pos += 13 + data[pos + 2] + data[pos + 3]
    inner = data[pos:]
    if len(inner) < 40 or inner[0] >> 4 != 6:
        return None
    return link.LINKTYPE_RAW, inner


def gre(data: bytes) -> tuple[int, bytes] | None:
    """(link type, inner frame) a GRE packet carries when it is IP, Ethernet or PPTP's PPP, else None."""
    if len(data) < 4:
        return None
    flags = (data[0] << 8) | data[1]
    etype = (data[2] << 8) | data[3]
    pos = 4
    if flags & 0x7 == 1:  # enhanced GRE (PPTP): key always, sequence and ack optional
        pos += 4 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
        if etype == _PPP_IN_GRE and pos < len(data):
            return link.LINKTYPE_PPP, data[pos:]
        return None
    pos += (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
    if pos >= len(data):
        return None
    if etype == _TRANSPARENT_ETHERNET:
        return (link.LINKTYPE_ETHERNET, data[pos:]) if len(data) - pos >= 14 else None
    if etype in (link.ETHERTYPE_IPV4, link.ETHERTYPE_IPV6):
        return link.LINKTYPE_RAW, data[pos:]
    return None


def ip_tunnel(proto: int, payload: bytes) -> tuple[int, bytes] | None:
    """(link type, inner frame) carried by an IP-in-IP, 6in4 or GRE payload, or None."""
    if proto == 47:
        return gre(payload)
    if not payload or payload[0] >> 4 != (4 if proto == 4 else 6):
        return None
    return link.LINKTYPE_RAW, payload


def ip_extent(packet: bytes) -> int:
    """Bytes of an IP packet its own header claims (all of them when it does not say)."""
    if len(packet) >= 4 and packet[0] >> 4 == 4:
        total = (packet[2] << 8) | packet[3]
        return total if 20 <= total <= len(packet) else len(packet)
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        plen = (packet[4] << 8) | packet[5]
        return 40 + plen if plen and 40 + plen <= len(packet) else len(packet)
    return len(packet)


_DECODERS = {GTP_U: _gtp_u, VXLAN: _vxlan, GENEVE: _geneve, TEREDO: _teredo}


def decapsulate(sport: int, dport: int, payload: bytes) -> tuple[str, int, bytes] | None:
    """(tunnel kind, link type, inner frame) carried by a UDP payload on a tunnel port, or None."""
    for port in (dport, sport):
        decoder = _DECODERS.get(port)
        if decoder is not None:
            inner = decoder(payload)
            if inner is not None:
                return KINDS[port], inner[0], inner[1]
    return None
