"""DHCPv4 (RFC 2131, 2132, 3396) and DHCPv6 (RFC 8415) messages, read into DhcpMessage records.

A handset's DHCP messages must carry its hardware address in a few places
(chaddr, a client identifier, a DUID): the parser records exactly where
(``link_spans``), so that the policy exempts that address there and nowhere
else; a MAC in a hostname option is a leak like any other. Hand-written:
scapy and dpkt decode these, but raise on (or silently stop at) the
truncated and hostile options a capture holds, and keep no offsets.
"""

from __future__ import annotations

import ipaddress

from phonehome.traffic.flow import DhcpMessage

MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTP_HEADER = 236
MAX_OPTIONS = 512
"""Options read per message (each area, each relay level)."""
MAX_RELAY_DEPTH = 8
"""Nested DHCPv6 relay messages followed (RFC 8415 7.6: HOP_COUNT_LIMIT is 8)."""
V4_PORTS = frozenset({67, 68})
V6_PORTS = frozenset({546, 547})

PAD, END = 0, 255
OPT_HOSTNAME, OPT_ROUTERS, OPT_DNS, OPT_OVERLOAD, OPT_TYPE, OPT_SERVER_ID = 12, 3, 6, 52, 53, 54
OPT_VENDOR_CLASS, OPT_CLIENT_ID, OPT_FQDN = 60, 61, 81
V6_CLIENTID, V6_SERVERID, V6_IA_NA, V6_IA_TA, V6_IAADDR, V6_RELAY_MSG = 1, 2, 3, 4, 5, 9
V6_DNS_SERVERS, V6_CLIENT_FQDN, V6_CLIENT_LINKLAYER = 23, 39, 79
RELAY_FORW, RELAY_REPL = 12, 13


def looks_like_dhcpv4(data: bytes) -> bool:
    """A BOOTP message with the DHCP magic cookie (on any port)."""
    return (
        len(data) >= BOOTP_HEADER + 4
        and data[0] in (1, 2)
        and data[2] <= 16
        and data[BOOTP_HEADER : BOOTP_HEADER + 4] == MAGIC_COOKIE
    )


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _addresses(raw: bytes, size: int) -> tuple[str, ...]:
    return tuple(
        ipaddress.ip_address(raw[i : i + size]).compressed for i in range(0, len(raw) - size + 1, size)
    )


# -- DHCPv4 ------------------------------------------------------------------------------------------------


def _v4_area(data: bytes, start: int, end: int, found: dict[int, list[tuple[int, bytes]]]) -> None:
    """Options between ``start`` and ``end``: code -> [(offset of the value, value)], in order."""
    pos, count = start, 0
    while pos < end and count < MAX_OPTIONS:
        code = data[pos]
        if code == PAD:
            pos += 1
            continue
        if code == END or pos + 1 >= end:
            return
        length = data[pos + 1]
        value = data[pos + 2 : min(end, pos + 2 + length)]
        found.setdefault(code, []).append((pos + 2, value))
        pos += 2 + length
        count += 1


def parse_dhcpv4(data: bytes, *, from_client: bool, frame: int, offset: int) -> DhcpMessage | None:
    """One BOOTP/DHCPv4 datagram; None if it is not one."""
    if len(data) < BOOTP_HEADER or data[0] not in (1, 2):
        return None
    options: dict[int, list[tuple[int, bytes]]] = {}
    if data[BOOTP_HEADER : BOOTP_HEADER + 4] == MAGIC_COOKIE:
        _v4_area(data, BOOTP_HEADER + 4, len(data), options)
        overload = options.get(OPT_OVERLOAD)
        flag = overload[0][1][:1] if overload else b""
        if flag in (b"\x01", b"\x03"):  # RFC 2132 9.3: file, then sname, hold options too
            _v4_area(data, 108, 236, options)
        if flag in (b"\x02", b"\x03"):
            _v4_area(data, 44, 108, options)

    def value(code: int) -> bytes | None:
        pieces = options.get(code)
        return b"".join(v for _, v in pieces) if pieces else None  # RFC 3396 concatenation

    htype, hlen = data[1], data[2]
    spans: list[tuple[int, int]] = []
    macs: list[str] = []
    if htype == 1 and hlen == 6:
        spans.append((28, 34))
        macs.append(_mac(data[28:34]))
    client_id = options.get(OPT_CLIENT_ID)
    if client_id and len(client_id) == 1:
        at, raw = client_id[0]
        if len(raw) == 7 and raw[0] == 1:
            spans.append((at + 1, at + 7))
            macs.append(_mac(raw[1:7]))
    message_type = value(OPT_TYPE)
    server_id = value(OPT_SERVER_ID)
    yiaddr = data[16:20]
    hostname = value(OPT_HOSTNAME)
    fqdn = value(OPT_FQDN)
    if hostname is None and fqdn is not None and len(fqdn) > 3:
        name = fqdn[3:]
        hostname = _wire_name(name) if fqdn[0] & 0x04 else name  # flag E: wire format (RFC 4702 2.3.1)
    vendor = value(OPT_VENDOR_CLASS)
    return DhcpMessage(
        version=4,
        from_client=from_client,
        message_type=message_type[0] if message_type else 0,
        frame=frame,
        offset=offset,
        link_spans=tuple(spans),
        client_mac=macs[0] if macs else None,
        server_id=str(ipaddress.IPv4Address(server_id[:4])) if server_id and len(server_id) >= 4 else None,
        your_address=str(ipaddress.IPv4Address(yiaddr)) if any(yiaddr) else None,
        routers=_addresses(value(OPT_ROUTERS) or b"", 4),
        dns_servers=_addresses(value(OPT_DNS) or b"", 4),
        hostname=_text(hostname) if hostname is not None else None,
        vendor_class=_text(vendor) if vendor is not None else None,
    )


def _wire_name(raw: bytes) -> bytes:
    """A DNS wire-format name (RFC 1035 3.1) as dotted text, without compression; partial names allowed."""
    labels: list[bytes] = []
    pos = 0
    while pos < len(raw) and raw[pos] and len(labels) < 128:
        length = raw[pos]
        labels.append(raw[pos + 1 : pos + 1 + length])
        pos += 1 + length
    if pos < len(raw) and not labels and raw[pos]:
        return raw
    return b".".join(labels)


# -- DHCPv6 ------------------------------------------------------------------------------------------------


def _v6_options(data: bytes, start: int, end: int) -> list[tuple[int, int, bytes]]:
    """(code, offset of the value, value) of the options between ``start`` and ``end``."""
    out: list[tuple[int, int, bytes]] = []
    pos = start
    while pos + 4 <= end and len(out) < MAX_OPTIONS:
        code = int.from_bytes(data[pos : pos + 2], "big")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        out.append((code, pos + 4, data[pos + 4 : min(end, pos + 4 + length)]))
        pos += 4 + length
    return out


def _duid_link(raw: bytes) -> tuple[int, int] | None:
    """Span, inside a DUID, of the Ethernet address of a DUID-LLT (type 1) or DUID-LL (type 3)."""
    kind = int.from_bytes(raw[:2], "big")
    hwtype = int.from_bytes(raw[2:4], "big")
    start = 8 if kind == 1 else 4 if kind == 3 else -1
    if start < 0 or hwtype != 1 or len(raw) != start + 6:
        return None
    return start, start + 6


class _V6:
    """What a DHCPv6 message and the messages it relays hold, collected while walking them."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self.macs: list[str] = []
        self.server_id: str | None = None
        self.address: str | None = None
        self.dns: tuple[str, ...] = ()
        self.hostname: str | None = None

    def walk(self, data: bytes, start: int, end: int, depth: int) -> None:
        msg_type = data[start]
        header = 34 if msg_type in (RELAY_FORW, RELAY_REPL) else 4
        for code, at, raw in _v6_options(data, start + header, end):
            if code == V6_CLIENTID:
                span = _duid_link(raw)
                if span is not None:
                    self.spans.append((at + span[0], at + span[1]))
                    self.macs.append(_mac(raw[span[0] : span[1]]))
            elif code == V6_SERVERID and self.server_id is None:
                span = _duid_link(raw)
                if span is not None:
                    self.server_id = _mac(raw[span[0] : span[1]])
            elif code in (V6_IA_NA, V6_IA_TA) and self.address is None:
                skip = 12 if code == V6_IA_NA else 4
                for sub, _, value in _v6_options(data, at + skip, at + len(raw)):
                    if sub == V6_IAADDR and len(value) >= 16:
                        self.address = ipaddress.IPv6Address(value[:16]).compressed
                        break
            elif code == V6_DNS_SERVERS and not self.dns:
                self.dns = _addresses(raw, 16)
            elif code == V6_CLIENT_FQDN and self.hostname is None and raw:
                self.hostname = _text(_wire_name(raw[1:]))
            elif code == V6_CLIENT_LINKLAYER and len(raw) == 8 and raw[:2] == b"\x00\x01":
                self.spans.append((at + 2, at + 8))
                self.macs.append(_mac(raw[2:8]))
            elif code == V6_RELAY_MSG and depth < MAX_RELAY_DEPTH and raw:
                self.walk(data, at, at + len(raw), depth + 1)


def parse_dhcpv6(data: bytes, *, from_client: bool, frame: int, offset: int) -> DhcpMessage | None:
    """One DHCPv6 datagram (a client/server message or a relay message); None if too short."""
    if len(data) < 4 or data[0] == 0:
        return None
    found = _V6()
    found.walk(data, 0, len(data), 0)
    return DhcpMessage(
        version=6,
        from_client=from_client,
        message_type=data[0],
        frame=frame,
        offset=offset,
        link_spans=tuple(found.spans),
        client_mac=found.macs[0] if found.macs else None,
        server_id=found.server_id,
        your_address=found.address,
        dns_servers=found.dns,
        hostname=found.hostname,
    )


# -- builders (tests) --------------------------------------------------------------------------------------


def build_dhcpv4(
    message_type: int,
    client_mac: str,
    *,
    hostname: str | None = None,
    client_id: bool = True,
    vendor_class: str | None = None,
    options: tuple[tuple[int, bytes], ...] = (),
    op: int = 1,
    yiaddr: str | None = None,
) -> bytes:
    """A DHCPv4 message as a client (op 1) or server (op 2) sends it."""
    mac = bytes(int(p, 16) for p in client_mac.split(":"))
    header = (
        bytes([op, 1, 6, 0])
        + b"\x12\x34\x56\x78"
        + bytes(8)
        + (ipaddress.IPv4Address(yiaddr).packed if yiaddr else bytes(4))
        + bytes(8)
        + mac
        + bytes(10)
        + bytes(64 + 128)
    )
    opts = bytes([OPT_TYPE, 1, message_type])
    if client_id:
        opts += bytes([OPT_CLIENT_ID, 7, 1]) + mac
    if hostname is not None:
        name = hostname.encode()
        opts += bytes([OPT_HOSTNAME, len(name)]) + name
    if vendor_class is not None:
        vendor = vendor_class.encode()
        opts += bytes([OPT_VENDOR_CLASS, len(vendor)]) + vendor
    for code, value in options:
        opts += bytes([code, len(value)]) + value
    return header + MAGIC_COOKIE + opts + bytes([END])


def build_dhcpv6(message_type: int, client_mac: str, *, fqdn: str | None = None) -> bytes:
    """A DHCPv6 client message with a DUID-LL client identifier (and a client FQDN option)."""
    mac = bytes(int(p, 16) for p in client_mac.split(":"))
    duid = b"\x00\x03\x00\x01" + mac
    out = (
        bytes([message_type])
        + b"\xab\xcd\xef"
        + V6_CLIENTID.to_bytes(2, "big")
        + len(duid).to_bytes(2, "big")
    )
    out += duid
    if fqdn is not None:
        wire = b"".join(bytes([len(p)]) + p.encode() for p in fqdn.split(".")) + b"\x00"
        out += V6_CLIENT_FQDN.to_bytes(2, "big") + (len(wire) + 1).to_bytes(2, "big") + b"\x01" + wire
    return out
