"""Who is a flow's client: read from what its first packet says, ports only as a last resort.

A handset that wants its traffic judged as someone else's only needs to send
from a service port (UDP from port 53, TCP from port 443): orientation by
port rank alone makes it the server of its own flow. So the first payload
decides, when it reads as one side's message; the port rank decides only
when there is nothing to read.
"""

from __future__ import annotations

from typing import Final

from phonehome.traffic.dns import parse_message
from phonehome.traffic.http import looks_like_request

SERVICE_PORTS: Final = frozenset(
    {20, 21, 22, 23, 25, 53, 67, 69, 80, 110, 123, 137, 143, 161, 389, 443, 465, 500, 514, 587, 636, 853,
     993, 995, 1080, 1194, 1883, 1900, 3128, 3478, 4500, 5060, 5222, 5223, 5228, 5349, 5353, 5355,
     8000, 8080, 8443, 8883, 19302}
)  # fmt: skip
"""Ports whose side is the server when no payload says otherwise."""

ICMP_ANSWERS: Final = frozenset({0, 3, 5, 11, 12, 14, 16, 18})
"""ICMPv4 types a server (or a router on the path) sends: echo/timestamp/information/mask replies
and errors (RFC 792, RFC 950)."""
ICMPV6_ANSWERS: Final = frozenset({1, 2, 3, 4, 129})
"""ICMPv6 errors and the echo reply (RFC 4443)."""

DHCP_MAGIC: Final = b"\x63\x82\x53\x63"
DHCPV6_PORTS: Final = frozenset({546, 547})
DHCPV6_SERVER_TYPES: Final = frozenset({2, 7, 10, 13})
"""ADVERTISE, REPLY, RECONFIGURE, RELAY-REPL (RFC 8415 7.3)."""
SERVER_GREETINGS: Final = (b"220 ", b"220-", b"* OK", b"* PREAUTH", b"+OK")
"""What SMTP/FTP (RFC 5321, RFC 959), IMAP (RFC 9051) and POP3 (RFC 1939) servers say first."""


def server_rank(port: int) -> int:
    return 2 if port in SERVICE_PORTS else (1 if port < 1024 else 0)


def by_ports(sport: int, dport: int) -> bool:
    """True when the sender (of ``sport``) is the client by port rank: the last resort."""
    return server_rank(dport) >= server_rank(sport)


def _status_line(data: bytes) -> bool:
    return data.startswith(b"HTTP/1.") and data[8:9] == b" " and data[9:12].isdigit()


def udp_sender_is_server(data: bytes, sport: int, dport: int) -> bool:
    """The first datagram of a UDP flow reads as a server's message (a reply of a known protocol)."""
    # DNS: QR set, a standard query's answer to one question (RFC 1035 4.1.1).
    if len(data) >= 12 and data[2] & 0xF8 == 0x80 and data[4:6] == b"\x00\x01":
        msg = parse_message(data)
        if msg is not None and msg.response and not msg.malformed and msg.questions:
            return True
    if len(data) >= 240 and data[0] == 2 and data[236:240] == DHCP_MAGIC:  # BOOTREPLY (RFC 2131)
        return True
    if data and data[0] in DHCPV6_SERVER_TYPES and (sport in DHCPV6_PORTS or dport in DHCPV6_PORTS):
        return True
    # NTPv3/v4 server or broadcast mode (RFC 5905 7.3): 48 bytes, or more on port 123. A QUIC long
    # header byte (0xCC: "version 1, mode 4") must not pass, hence no v1/v2 and the length or port.
    if (
        len(data) >= 48
        and (len(data) == 48 or 123 in (sport, dport))
        and data[0] & 7 in (4, 5)
        and (data[0] >> 3) & 7 in (3, 4)
        and data[1] <= 16
    ):
        return True
    return _status_line(data)


def udp_sender_is_client(data: bytes, sport: int, dport: int) -> bool:
    """Who opened a UDP flow, from its first datagram: its sender unless it reads as a reply."""
    if not data:
        return by_ports(sport, dport)
    return not udp_sender_is_server(data, sport, dport)


def tcp_payload_says(data: bytes) -> bool | None:
    """From a mid-stream flow's first payload: True when its sender is the client, False when the
    server, None when the bytes do not say."""
    if len(data) >= 6 and data[0] == 0x16 and data[1] == 3:  # a TLS handshake record (RFC 8446 5.1)
        if data[5] == 1:
            return True
        if data[5] == 2:
            return False
    if _status_line(data) or data.startswith(SERVER_GREETINGS):
        return False
    if data.find(b"\n", 0, 8192) > 0 and looks_like_request(data):
        return True
    return None


def icmp_sender_is_client(proto: int, payload: bytes) -> bool:
    """An ICMP reply's or error's sender is the server of its flow; anyone else's first packet opens it."""
    if not payload:
        return True
    if proto == 1:
        return payload[0] not in ICMP_ANSWERS
    if proto == 58:
        return payload[0] not in ICMPV6_ANSWERS
    return True
