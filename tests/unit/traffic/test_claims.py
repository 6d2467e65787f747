"""Every name a client writes into a flow is a claim: each Host, each SNI, proxy targets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, http, quic, socks, tls
from phonehome.traffic.factory import RecordingObserver, TcpConversation, UdpConversation
from phonehome.traffic.flow import Flow
from phonehome.traffic.sessions import MAX_CLAIMS, claim, uri_host

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)


def claims(flow: Flow) -> list[tuple[str, str]]:
    return [(c.name, c.source) for c in flow.claims]


def test_every_pipelined_request_host_is_a_claim(run: Analyze) -> None:
    first = http.build_request("GET", "/a", {"Host": "declared.example"})
    second = http.build_request("POST", "/b", {"Host": "Undeclared.Example:8080"}, b"x")
    conv = TcpConversation(HANDSET, ("198.51.100.1", 80)).handshake().send(first + second).close()
    (flow,) = run(conv.packets).flows
    assert claims(flow) == [("declared.example", "http-host"), ("undeclared.example", "http-host")]
    assert flow.server_name == "declared.example"


def test_a_repeated_host_header_is_a_claim_too(run: Analyze) -> None:
    request = http.build_request("GET", "/", [("Host", "a.example"), ("Host", "b.example")])
    conv = TcpConversation(HANDSET, ("198.51.100.1", 80)).handshake().send(request).close()
    (flow,) = run(conv.packets).flows
    assert claims(flow) == [("a.example", "http-host"), ("b.example", "http-host")]


def test_absolute_targets_and_connect_targets_are_claims(run: Analyze) -> None:
    proxied = http.build_request("GET", "http://User@Hidden.Example:8080/x?y", {"Host": "proxy.example"})
    connect = http.build_request("CONNECT", "[2001:DB8::1]:443", {})
    conv = TcpConversation(HANDSET, ("198.51.100.1", 3128)).handshake().send(proxied + connect).close()
    (flow,) = run(conv.packets).flows
    assert claims(flow) == [
        ("proxy.example", "http-host"),
        ("hidden.example", "http-uri"),
        ("2001:db8::1", "connect"),
    ]


def test_the_tls_inside_a_connect_tunnel_is_read_and_its_sni_claimed(
    run: Analyze, recorder: RecordingObserver
) -> None:
    head = http.build_request("CONNECT", "inner.example:443", {"Host": "inner.example:443"})
    hello = tls.build_client_hello("inner.example")
    conv = TcpConversation(HANDSET, ("198.51.100.1", 3128)).handshake().send(head)
    conv.send(b"HTTP/1.1 200 OK\r\n\r\n", from_client=False).send(hello)
    conv.send(tls.build_server_hello(0x0304), from_client=False).close()
    (flow,) = run(conv.packets, observer=recorder).flows
    assert ("inner.example", "sni") in claims(flow)
    assert ("inner.example", "connect") in claims(flow)
    assert flow.tls_server_version == 0x0304
    assert recorder.stream(0, True) == head + hello


def test_every_client_hello_on_a_connection_is_claimed_and_the_weakest_offer_kept(run: Analyze) -> None:
    first = tls.build_client_hello("declared.example")
    second = tls.build_client_hello("undeclared.example", versions=(0x0302,))
    conv = TcpConversation(HANDSET, ("198.51.100.2", 443)).handshake().send(first).send(second).close()
    (flow,) = run(conv.packets).flows
    assert claims(flow) == [("declared.example", "sni"), ("undeclared.example", "sni")]
    assert flow.tls is not None
    assert flow.tls.versions == [0x0302]
    assert flow.server_name == "declared.example"


def test_the_public_name_of_an_ech_hello_is_an_ech_outer_claim(run: Analyze) -> None:
    conv = (
        TcpConversation(HANDSET, ("198.51.100.2", 443))
        .handshake()
        .send(tls.build_client_hello("public.example", ech=True))
    )
    (flow,) = run(conv.packets).flows
    assert claims(flow) == [("public.example", "ech-outer")]


def test_quic_sni_is_a_quic_sni_claim(run: Analyze) -> None:
    conv = UdpConversation(HANDSET, ("198.51.100.3", 443))
    for datagram in quic.build_initial("q.example"):
        conv.send(datagram)
    (flow,) = run(conv.packets).flows
    assert claims(flow) == [("q.example", "quic-sni")]


def test_claims_are_deduplicated_and_bounded_with_an_anomaly() -> None:
    flow = Flow(0, "tcp", "10.0.0.2", 1, "198.51.100.1", 80, 0.0, 0.0, 1, 1)
    for _ in range(3):
        claim(flow, "A.example.", "sni", 1)
    assert claims(flow) == [("a.example", "sni")]
    for i in range(MAX_CLAIMS + 5):
        claim(flow, f"n{i}.example", "http-host", 1)
    assert len(flow.claims) == MAX_CLAIMS
    assert any("claimed" in a for a in flow.anomalies)


def test_ip_literals_stay_as_written_ipv6_compressed() -> None:
    flow = Flow(0, "tcp", "10.0.0.2", 1, "198.51.100.1", 80, 0.0, 0.0, 1, 1)
    claim(flow, "010.0.0.1:80", "http-host", 1, port=True)
    claim(flow, "[2001:0db8:0:0::1]:80", "http-host", 1, port=True)
    claim(flow, "2001:db8:0:0:0:0:0:2", "socks", 1)
    assert claims(flow) == [
        ("010.0.0.1", "http-host"),
        ("2001:db8::1", "http-host"),
        ("2001:db8::2", "socks"),
    ]


def test_uri_host_reads_only_absolute_targets() -> None:
    assert uri_host("https://a.example/x") == "a.example"
    assert uri_host("ws://u:p@b.example:81") == "b.example:81"
    assert uri_host("/path?u=http://c.example/") is None
    assert uri_host("*") is None


def test_nested_connect_tunnels_are_bounded_not_a_crash(run: Analyze) -> None:
    nested = b"CONNECT a.example:443 HTTP/1.1\r\n\r\n" * 2000
    conv = TcpConversation(HANDSET, ("198.51.100.1", 3128), mss=60000).handshake().send(nested).close()
    (flow,) = run(conv.packets, observer=RecordingObserver()).flows
    assert claims(flow) == [("a.example", "connect")]
    assert any("tunnels nested" in a for a in flow.anomalies)


def _connect_then_tls() -> bytes:
    return http.build_request("CONNECT", "c.example:443", {}) + tls.build_client_hello("c.example")


@pytest.mark.parametrize(
    "stream",
    [
        http.build_request("GET", "/", {"Host": "a.example"})
        + http.build_request("GET", "/", {"Host": "b.example"}),
        _connect_then_tls(),
        tls.build_client_hello("d.example") + tls.build_client_hello("e.example"),
        socks.build_socks5("f.example", 443) + tls.build_client_hello("f.example"),
        b"EHLO me\r\nSTARTTLS\r\n" + tls.build_client_hello("g.example"),
    ],
)
def test_what_a_flow_claims_does_not_depend_on_an_observer(run: Analyze, stream: bytes) -> None:
    conv = TcpConversation(HANDSET, ("198.51.100.1", 8080)).handshake().send(stream).close()
    plain = run(conv.packets).flows[0]
    observed = run(conv.packets, observer=RecordingObserver()).flows[0]
    assert claims(plain) == claims(observed) != []
    assert (plain.app, plain.transport, plain.sni) == (observed.app, observed.transport, observed.sni)
