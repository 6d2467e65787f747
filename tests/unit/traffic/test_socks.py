"""SOCKS 4, 4a and 5: the destination a client asks its proxy for is a claim; the tunnel is read afresh."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, socks, tls
from phonehome.traffic.factory import RecordingObserver, TcpConversation

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)
PROXY = ("198.51.100.20", 1080)


@pytest.mark.parametrize(
    ("stream", "host", "version"),
    [
        (socks.build_socks5("Undeclared.example", 443), "Undeclared.example", 5),
        (socks.build_socks5("203.0.113.9", 443), "203.0.113.9", 5),
        (socks.build_socks5("2001:db8::9", 443), "2001:db8::9", 5),
        (socks.build_socks5("a.example", 443, credentials=("user", "secret")), "a.example", 5),
        (socks.build_socks4("203.0.113.9", 80, user=b"me"), "203.0.113.9", 4),
        (socks.build_socks4("b.example", 80), "b.example", 4),
    ],
)
def test_requests_name_their_destination(stream: bytes, host: str, version: int) -> None:
    assert socks.looks_like_socks(stream)
    request = socks.parse_socks(stream)
    assert request is not None
    assert (request.version, request.host, request.end) == (version, host, len(stream))


def test_a_request_cut_short_is_not_read_yet() -> None:
    stream = socks.build_socks5("a.example", 443)
    assert all(socks.parse_socks(stream[:n]) is None for n in range(len(stream)))


def test_socks5_connect_to_an_undeclared_domain_is_a_claim_and_the_tunnel_tls_is_read(
    run: Analyze, recorder: RecordingObserver
) -> None:
    handshake = socks.build_socks5("undeclared.example", 443)
    hello = tls.build_client_hello("undeclared.example")
    conv = TcpConversation(HANDSET, PROXY).handshake().send(handshake[:3])
    conv.send(b"\x05\x00", from_client=False).send(handshake[3:])
    conv.send(b"\x05\x00\x00\x01" + bytes(6), from_client=False).send(hello)
    conv.send(tls.build_server_hello(0x0304), from_client=False).close()
    (flow,) = run(conv.packets, observer=recorder).flows
    assert (flow.app, flow.transport, flow.sni) == ("socks", "tls", "undeclared.example")
    assert [(c.name, c.source) for c in flow.claims] == [
        ("undeclared.example", "socks"),
        ("undeclared.example", "sni"),
    ]
    assert flow.tls_server_version == 0x0304
    assert recorder.stream(0, True) == handshake + hello


def test_a_proxy_that_never_answers_still_shows_the_request(run: Analyze) -> None:
    conv = TcpConversation(HANDSET, PROXY).handshake().send(socks.build_socks4("c.example", 443)).close()
    (flow,) = run(conv.packets).flows
    assert [(c.name, c.source) for c in flow.claims] == [("c.example", "socks")]


def test_udp_associate_is_a_claim_and_ends_the_handshake(run: Analyze) -> None:
    stream = socks.build_socks5("203.0.113.50", 5353, socks.UDP_ASSOCIATE)
    conv = TcpConversation(HANDSET, PROXY).handshake().send(stream).close()
    (flow,) = run(conv.packets).flows
    assert [(c.name, c.source) for c in flow.claims] == [("203.0.113.50", "socks")]
