"""The actions a hostile firmware profile may use: raw IP packets, bare frames, listeners, spoofed ports."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from pydantic import ValidationError

from phonehome.virtual.firmware.model import Action
from phonehome.virtual.net import packets


def test_an_icmp_echo_carries_its_payload_with_a_valid_checksum() -> None:
    data = packets.icmp_echo(b"352099001761481")
    assert data[0] == 8
    assert data.endswith(b"352099001761481")
    assert packets.checksum(data) == 0  # a packet with its checksum in place sums to zero


@pytest.mark.parametrize(("src", "dst"), [("10.99.0.1", "198.51.100.77"), ("2001:db8::1", "2001:db8::2")])
def test_a_tunnelled_udp_packet_is_a_whole_ip_packet(src: str, dst: str) -> None:
    packet = packets.udp_packet(src, dst, 40000, 9999, b"imei=1")
    version = packet[0] >> 4
    assert version == ipaddress.ip_address(src).version
    header = 20 if version == 4 else 40
    if version == 4:
        assert packets.checksum(packet[:20]) == 0
        assert struct.unpack("!H", packet[2:4])[0] == len(packet)
    sport, dport, length, _sum = struct.unpack("!HHHH", packet[header : header + 8])
    assert (sport, dport, length) == (40000, 9999, 8 + len(b"imei=1"))
    assert packet.endswith(b"imei=1")


def test_gre_names_what_it_carries() -> None:
    assert packets.gre(packets.udp_packet("10.0.0.1", "10.0.0.2", 1, 2, b"x"))[2:4] == b"\x08\x00"
    assert packets.gre(packets.udp_packet("2001:db8::1", "2001:db8::2", 1, 2, b"x"))[2:4] == b"\x86\xdd"


def test_a_bare_client_hello_is_a_real_tls_handshake_record_naming_the_sni() -> None:
    hello = packets.client_hello("connectivitycheck.gstatic.com", ["http/1.1"])
    assert hello[0] == 22  # handshake
    assert hello[5] == 1  # ClientHello
    assert b"connectivitycheck.gstatic.com" in hello


def test_tls_record_framing_does_not_encrypt() -> None:
    framed = packets.tls_records(b"imei=352099001761481")
    assert framed[:3] == b"\x17\x03\x03"
    assert framed.endswith(b"imei=352099001761481")


@pytest.mark.parametrize(
    "spec",
    [
        {"raw": {"host": "203.0.113.9", "proto": "icmp", "payload": {"text": "{imei1}"}}},
        {"raw": {"host": "203.0.113.9", "proto": 253, "payload": {"hex": "00ff"}}},
        {
            "raw": {
                "host": "203.0.113.9",
                "proto": "gre",
                "inner": {"src": "10.0.0.1", "dst": "10.0.0.2", "port": 9, "payload": {"text": "x"}},
            }
        },
        {"frame": {"ethertype": 0x88B5, "payload": {"text": "x"}}},
        {"listen": {"port": 7000, "payload": {"text": "{imei1}"}}},
        {"udp": {"host": "203.0.113.9", "port": 40000, "source_port": 53, "payload": {"text": "x"}}},
        {"tcp": {"host": "a.test", "port": 443, "client_hello": {"sni": "b.test"}, "payload": {"text": "x"}}},
    ],
)
def test_hostile_actions_validate(spec: dict[str, object]) -> None:
    action = Action.model_validate(spec)
    assert action.kind in spec


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"raw": {"host": "203.0.113.9", "proto": "gre", "payload": {"text": "x"}}}, "inner"),
        ({"raw": {"host": "203.0.113.9", "proto": "smtp", "payload": {"text": "x"}}}, "not an IP protocol"),
        ({"frame": {"ethertype": 0x0800, "payload": {"text": "x"}}}, "raw, udp or tcp"),
        ({"frame": {"ethertype": 0x88B5, "src_mac": "AA:BB", "payload": {"text": "x"}}}, "src_mac"),
    ],
)
def test_impossible_hostile_actions_are_definition_errors(spec: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Action.model_validate(spec)


def test_the_kernel_would_accept_the_icmp_we_build() -> None:
    # Parse our own echo as the receiving stack would: type, code, then a checksum that verifies.
    data = packets.icmp_echo(b"payload")
    kind, code = struct.unpack("!BB", data[:2])
    assert (kind, code) == (8, 0)
    assert socket.ntohs(socket.htons(packets.checksum(data))) == 0
