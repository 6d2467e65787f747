"""UDP encapsulations whose inner packets are the traffic that matters (mobile core and overlay captures).

GTP-U (3GPP TS 29.281) carries a handset's own IP packets between cell
sites and the core; VXLAN (RFC 7348) and Geneve (RFC 8926) carry whole
Ethernet frames; Teredo (RFC 4380) carries IPv6. The analyzer re-reads the
inner packet as if it were a frame of its own (with the same frame number).
"""

from __future__ import annotations

from phonehome.traffic import link

GTP_U, VXLAN, GENEVE, TEREDO = 2152, 4789, 6081, 3544
PORTS = frozenset({GTP_U, VXLAN, GENEVE, TEREDO})


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


_DECODERS = {GTP_U: _gtp_u, VXLAN: _vxlan, GENEVE: _geneve, TEREDO: _teredo}


def decapsulate(sport: int, dport: int, payload: bytes) -> tuple[int, bytes] | None:
    """(link type, inner frame) carried by a UDP payload on a tunnel port, or None."""
    for port in (dport, sport):
        decoder = _DECODERS.get(port)
        if decoder is not None:
            inner = decoder(payload)
            if inner is not None:
                return inner
    return None
