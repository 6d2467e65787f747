"""Who is a flow's client: what its first payload says, ports only when nothing can be read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, dns, http, tls
from phonehome.traffic.dns import A, DnsRecord
from phonehome.traffic.factory import TcpConversation, UdpConversation
from phonehome.traffic.tcp import ACK, PSH

Analyze = Callable[..., Analysis]
HANDSET = "10.0.0.2"
PEER = "203.0.113.66"
POST = http.build_request("POST", "/x", {"Host": "hidden.example"}, b"IMEI=490154203237518")


def test_udp_from_source_port_53_that_is_not_a_dns_reply_is_the_senders_flow(run: Analyze) -> None:
    conv = UdpConversation((HANDSET, 53), (PEER, 40000)).send(b"IMEI=490154203237518")
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.sport, flow.dst, flow.dport) == (HANDSET, 53, PEER, 40000)


@pytest.mark.parametrize(
    "reply",
    [
        dns.build_response("a.example", [DnsRecord("a.example", A, 5, "192.0.2.1")]),
        bytes([2, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35\x01\x02\xff",  # DHCPOFFER
        bytes([0x24, 2]) + bytes(46),  # NTPv4 server mode
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["dns", "dhcp", "ntp", "http-status"],
)
def test_a_first_udp_datagram_that_reads_as_a_reply_makes_its_receiver_the_client(
    run: Analyze, reply: bytes
) -> None:
    conv = UdpConversation((HANDSET, 40000), (PEER, 41000)).send(reply, from_client=False)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.sport, flow.dst) == (HANDSET, 40000, PEER)


def test_dhcpv6_reply_needs_its_ports_to_count_as_a_reply(run: Analyze) -> None:
    reply = bytes([7, 0, 0, 1]) + b"\x00" * 20
    on_dhcp = UdpConversation(("fe80::2", 546), ("fe80::1", 547)).send(reply, from_client=False)
    elsewhere = UdpConversation((HANDSET, 40000), (PEER, 41000), ts=2e9).send(reply, from_client=False)
    flows = run(on_dhcp.packets + elsewhere.packets).flows
    assert [f.src for f in flows] == ["fe80::2", PEER]


def test_an_empty_first_datagram_falls_back_to_the_service_port(run: Analyze) -> None:
    conv = UdpConversation((HANDSET, 40000), (PEER, 123)).send(b"", from_client=False)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dport) == (HANDSET, 123)


def mid_stream(server_port: int, *, from_handset_port: int = 40000) -> TcpConversation:
    return TcpConversation((HANDSET, from_handset_port), (PEER, server_port))


def test_mid_stream_tcp_from_port_443_that_sends_a_request_is_the_client(run: Analyze) -> None:
    conv = TcpConversation((HANDSET, 443), (PEER, 50000)).segment(ACK | PSH, POST)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.sport, flow.dst, flow.dport) == (HANDSET, 443, PEER, 50000)
    assert flow.http_host == "hidden.example"


def test_mid_stream_tcp_whose_first_packets_are_empty_is_oriented_by_its_first_payload(run: Analyze) -> None:
    conv = TcpConversation((HANDSET, 443), (PEER, 50000))
    conv.segment(ACK, from_client=False).segment(ACK).segment(ACK | PSH, POST)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.sport, flow.dst) == (HANDSET, 443, PEER)
    assert (flow.packets_c2s, flow.packets_s2c) == (2, 1)
    assert flow.http_host == "hidden.example"
    assert flow.bytes_c2s == len(POST)


@pytest.mark.parametrize(
    "first",
    [b"220 mail.example ESMTP\r\n", b"* OK IMAP4rev1 ready\r\n", b"+OK POP3\r\n", b"HTTP/1.1 204 No\r\n\r\n"],
)
def test_mid_stream_tcp_whose_first_payload_is_a_servers_is_the_receivers_flow(
    run: Analyze, first: bytes
) -> None:
    conv = mid_stream(40001).segment(ACK | PSH, first, from_client=False)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dst) == (HANDSET, PEER)


def test_mid_stream_tls_hellos_say_who_is_who(run: Analyze) -> None:
    hello = TcpConversation((HANDSET, 443), (PEER, 50000)).segment(
        ACK | PSH, tls.build_client_hello("x.example")
    )
    server = TcpConversation((HANDSET, 40002), (PEER, 50001), ts=2e9).segment(
        ACK | PSH, tls.build_server_hello(0x0304), from_client=False
    )
    flows = run(hello.packets + server.packets).flows
    assert [(f.src, f.sport) for f in flows] == [(HANDSET, 443), (HANDSET, 40002)]
    assert flows[0].sni == "x.example"


def test_payload_that_says_nothing_leaves_the_service_port_as_the_last_resort(run: Analyze) -> None:
    conv = mid_stream(443).segment(ACK | PSH, b"\x17\x03\x03\x00\x10" + b"e" * 16, from_client=False)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dport) == (HANDSET, 443)


def test_a_syn_still_decides_over_any_payload(run: Analyze) -> None:
    conv = TcpConversation((HANDSET, 40000), (PEER, 80)).handshake()
    conv.send(b"HTTP/1.1 200 OK\r\n\r\n")
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dst) == (HANDSET, PEER)


def test_a_syn_after_a_flow_seen_only_from_its_middle_opens_a_new_flow(run: Analyze) -> None:
    old = TcpConversation((HANDSET, 40000), (PEER, 80)).segment(ACK, from_client=False)
    new = TcpConversation((HANDSET, 40000), (PEER, 80), ts=old.ts + 1).handshake().send(POST)
    flows = run(old.packets + new.packets).flows
    assert len(flows) == 2
    assert (flows[1].src, flows[1].http_host) == (HANDSET, "hidden.example")


def test_a_syn_ack_settles_a_flow_seen_from_its_middle(run: Analyze) -> None:
    conv = TcpConversation((HANDSET, 8443), (PEER, 50000))
    conv.segment(ACK).segment(0x12, from_client=False)  # an ACK, then the peer's SYN-ACK: the peer serves
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dst) == (HANDSET, PEER)


@pytest.mark.parametrize("first_byte", [0xCC, 0xCD, 0x5C, 0x64])
def test_quic_packets_whose_first_byte_looks_like_ntp_are_not_taken_for_replies(
    run: Analyze, first_byte: int
) -> None:
    datagram = bytes([first_byte, 0, 0, 0, 1]) + bytes(1195)
    conv = UdpConversation((HANDSET, 50000), (PEER, 443)).send(datagram)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dport) == (HANDSET, 443)
