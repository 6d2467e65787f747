"""Server names per flow and where they came from; transports; encrypted DNS recognised."""

from __future__ import annotations

import ipaddress
import itertools
import socket
from collections.abc import Callable

from phonehome.traffic import Analysis, dns, http, quic, tls
from phonehome.traffic.dns import AAAA, CNAME, A, DnsRecord
from phonehome.traffic.factory import ETHERNET, Link, TcpConversation, UdpConversation, interleave
from phonehome.traffic.naming import DnsBook, is_doh_resolver, resolved

Analyze = Callable[..., Analysis]
HANDSET = "10.0.0.2"
RESOLVER = ("10.0.0.1", 53)
T0 = 1_700_000_000.0


def lookup(
    name: str,
    records: list[DnsRecord],
    *,
    client: str = HANDSET,
    port: int = 33000,
    ts: float = T0,
    qtype: int = A,
    link: Link = ETHERNET,
) -> UdpConversation:
    conv = UdpConversation((client, port), RESOLVER, ts=ts, link=link)
    return conv.send(dns.build_query(name, qtype)).send(
        dns.build_response(name, records, qtype=qtype), from_client=False
    )


def connect(
    server: str, port: int = 443, *, client: str = HANDSET, ts: float = T0 + 1, sport: int = 41000
) -> TcpConversation:
    return TcpConversation((client, sport), (server, port), ts=ts).handshake()


def test_the_name_the_client_asked_names_the_address_behind_a_cname_chain(run: Analyze) -> None:
    answer = lookup(
        "Telemetry.Vendor.example.",
        [
            DnsRecord("telemetry.vendor.example", CNAME, 60, "telemetry.vendor.cdn.example"),
            DnsRecord("telemetry.vendor.cdn.example", CNAME, 60, "edge7.cdn.example"),
            DnsRecord("edge7.cdn.example", A, 60, "198.51.100.44"),
        ],
    )
    conn = connect("198.51.100.44").send(b"\x00binary protocol")
    flows = run(answer.packets + conn.packets).flows
    assert [q.name for q in flows[0].dns_queries] == ["telemetry.vendor.example"]
    assert (flows[1].server_name, flows[1].name_source) == ("telemetry.vendor.example", "dns")
    assert flows[1].transport == "unknown"
    assert (flows[0].app, flows[0].transport) == ("dns", "cleartext")


def test_ipv6_answers_name_ipv6_flows(run: Analyze) -> None:
    answer = lookup("v6.example", [DnsRecord("v6.example", AAAA, 60, "2001:db8::44")], qtype=AAAA)
    conn = TcpConversation(("2001:db8::2", 40000), ("2001:db8::44", 443), ts=T0 + 1).handshake()
    answer_v6 = UdpConversation(("2001:db8::2", 33000), ("2001:db8::1", 53), ts=T0)
    answer_v6.send(
        dns.build_response("v6.example", [DnsRecord("v6.example", AAAA, 60, "2001:DB8:0::44")], qtype=AAAA),
        from_client=False,
    )
    flows = run(answer.packets + answer_v6.packets + conn.packets).flows
    assert flows[-1].server_name == "v6.example"


def test_only_the_clients_own_answers_name_its_flows(run: Analyze) -> None:
    other_host = Link(client_mac="02:00:00:00:00:33")
    record = DnsRecord("someone-else.example", A, 60, "198.51.100.45")
    other = lookup("someone-else.example", [record], client="10.0.0.3", link=other_host)
    conn = connect("198.51.100.45").send(b"\x01\x02")
    flows = run(other.packets + conn.packets).flows
    assert (flows[1].server_name, flows[1].name_source) == (None, "none")


def test_an_answer_after_the_flow_started_does_not_name_it(run: Analyze) -> None:
    conn = connect("198.51.100.46", ts=T0).send(b"\x01\x02")
    late = lookup("late.example", [DnsRecord("late.example", A, 60, "198.51.100.46")], ts=T0 + 5)
    flows = run(conn.packets + late.packets).flows
    assert flows[0].name_source == "none"


def test_the_latest_answer_for_an_address_wins(run: Analyze) -> None:
    first = lookup("old.example", [DnsRecord("old.example", A, 60, "198.51.100.47")], ts=T0)
    second = lookup("new.example", [DnsRecord("new.example", A, 60, "198.51.100.47")], ts=T0 + 1, port=33001)
    conn = connect("198.51.100.47", ts=T0 + 2).send(b"\x01")
    assert run(first.packets + second.packets + conn.packets).flows[-1].server_name == "new.example"


def test_sni_beats_dns_and_the_transport_is_tls(run: Analyze) -> None:
    answer = lookup("cdn-name.example", [DnsRecord("cdn-name.example", A, 60, "198.51.100.50")])
    conn = connect("198.51.100.50").send(tls.build_client_hello("API.Service.Example.", records=3))
    flows = run(answer.packets + conn.packets).flows
    flow = flows[1]
    assert (flow.server_name, flow.name_source, flow.sni, flow.transport, flow.app) == (
        "api.service.example",
        "sni",
        "api.service.example",
        "tls",
        "tls",
    )
    assert flow.tls is not None
    assert flow.tls.frame == flow.last_frame


def test_client_hello_split_across_reordered_segments(run: Analyze) -> None:
    hello = tls.build_client_hello("split.example", padding=3000, records=2)
    conn = (
        TcpConversation((HANDSET, 41000), ("198.51.100.51", 443), mss=400)
        .handshake()
        .send(hello, reorder=True)
    )
    (flow,) = run(conn.packets).flows
    assert flow.sni == "split.example"


def test_http_host_names_a_cleartext_flow_on_any_port(run: Analyze) -> None:
    request = http.build_request("POST", "/reg", {"Host": "ZZHC.vnet.CN:8080"}, b"imei=3520")
    conn = connect("198.51.100.52", port=8080).send(request)
    (flow,) = run(conn.packets).flows
    assert (flow.server_name, flow.name_source, flow.http_host, flow.transport, flow.app) == (
        "zzhc.vnet.cn",
        "http-host",
        "zzhc.vnet.cn",
        "cleartext",
        "http",
    )
    assert flow.http_requests[0].body == b"imei=3520"


def test_an_ip_literal_host_header_does_not_name_the_server(run: Analyze) -> None:
    conn = connect("198.51.100.53", port=80).send(http.build_request("GET", "/", {"Host": "198.51.100.53"}))
    (flow,) = run(conn.packets).flows
    assert (flow.http_host, flow.server_name, flow.name_source) == ("198.51.100.53", None, "none")


def test_quic_initial_names_the_flow_by_quic_sni(run: Analyze) -> None:
    conv = UdpConversation((HANDSET, 50000), ("198.51.100.54", 443))
    for datagram in quic.build_initial("Quic.Example", split=3, reorder=True):
        conv.send(datagram)
    conv.send(b"\x40" + b"\x00" * 1000, from_client=False)
    (flow,) = run(conv.packets).flows
    assert (flow.transport, flow.app, flow.server_name, flow.name_source) == (
        "quic",
        "quic",
        "quic.example",
        "quic-sni",
    )


def test_dns_over_tls_doh_and_doq_are_recognised(run: Analyze) -> None:
    dot = connect("198.51.100.60", port=853, sport=41001).send(tls.build_client_hello("dns.example"))
    doh = connect("198.51.100.61", sport=41002).send(tls.build_client_hello("dns.google"))
    doh_clear = connect("198.51.100.62", port=80, sport=41003).send(
        http.build_request(
            "POST",
            "/dns-query",
            {"Host": "resolver.example", "Content-Type": "application/dns-message"},
            b"\x00" * 30,
        )
    )
    doq = UdpConversation((HANDSET, 50001), ("198.51.100.63", 853)).send(quic.build_initial("doq.example")[0])
    flows = run(interleave(dot.packets, doh.packets, doh_clear.packets, doq.packets)).flows
    assert {(f.proto, f.dst): f.app for f in flows} == {
        ("tcp", "198.51.100.60"): "dot",
        ("tcp", "198.51.100.61"): "doh",
        ("tcp", "198.51.100.62"): "doh",
        ("udp", "198.51.100.63"): "doq",
    }


def test_dns_query_on_an_unusual_port_is_read_as_dns(run: Analyze) -> None:
    conv = UdpConversation((HANDSET, 40000), ("198.51.100.70", 443)).send(
        dns.build_query("2.dnscrypt-cert.example")
    )
    (flow,) = run(conv.packets).flows
    assert [q.name for q in flow.dns_queries] == ["2.dnscrypt-cert.example"]


def test_ssdp_requests_over_udp_give_their_host(run: Analyze) -> None:
    search = b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n\r\n'
    conv = UdpConversation((HANDSET, 50002), ("239.255.255.250", 1900)).send(search)
    (flow,) = run(conv.packets).flows
    assert (flow.app, flow.http_host) == ("ssdp", "239.255.255.250")


def test_dns_over_tcp_queries_and_answers_count(run: Analyze) -> None:
    query = dns.build_query("tcp-dns.example")
    reply = dns.build_response("tcp-dns.example", [DnsRecord("tcp-dns.example", A, 60, "198.51.100.80")])
    frame = len(query).to_bytes(2, "big") + query
    conv = TcpConversation((HANDSET, 41010), RESOLVER, ts=T0).handshake().send(frame[:5]).send(frame[5:])
    conv.send(len(reply).to_bytes(2, "big") + reply, from_client=False)
    conn = connect("198.51.100.80", ts=T0 + 2).send(b"\x05")
    flows = run(conv.packets + conn.packets).flows
    assert [q.name for q in flows[0].dns_queries] == ["tcp-dns.example"]
    assert flows[1].server_name == "tcp-dns.example"


def test_known_doh_resolvers() -> None:
    assert is_doh_resolver("dns.google")
    assert is_doh_resolver("mozilla.cloudflare-dns.com")
    assert not is_doh_resolver("www.google.com")
    assert not is_doh_resolver(None)


def test_dns_book_is_bounded() -> None:
    book = DnsBook(max_answers=3)
    for i in range(10):
        message = dns.parse_message(
            dns.build_response(f"n{i}.example", [DnsRecord(f"n{i}.example", A, 1, f"192.0.2.{i}")])
        )
        assert message is not None
        book.learn("10.0.0.2", message)
    assert len(book) == 3
    assert book.name_for("10.0.0.2", "192.0.2.9") == "n9.example"
    assert book.name_for("10.0.0.2", "192.0.2.0") is None


def test_an_answer_received_over_ipv6_names_the_same_handsets_ipv4_flow(run: Analyze) -> None:
    answer = UdpConversation(("2001:db8::2", 33000), ("2001:db8::1", 53), ts=T0)
    answer.send(dns.build_query("dual.example")).send(
        dns.build_response("dual.example", [DnsRecord("dual.example", A, 60, "198.51.100.90")]),
        from_client=False,
    )
    conn = connect("198.51.100.90").send(b"\x01")
    other_host = (
        TcpConversation(
            ("10.0.0.3", 41000), ("198.51.100.90", 443), ts=T0 + 2, link=Link(client_mac="02:00:00:00:00:33")
        )
        .handshake()
        .send(b"\x01")
    )
    flows = run(answer.packets + conn.packets + other_host.packets).flows
    assert (flows[1].server_name, flows[1].name_source) == ("dual.example", "dns")
    assert flows[2].name_source == "none"  # another host (another MAC) did not ask


def test_every_answer_is_kept_with_who_sent_it_to_whom(run: Analyze) -> None:
    chain = [
        DnsRecord("api.example", CNAME, 60, "edge.cdn.example"),
        DnsRecord("edge.cdn.example", A, 60, "198.51.100.20"),
        DnsRecord("edge.cdn.example", A, 60, "198.51.100.21"),
    ]
    udp = lookup("api.example", chain)
    query = dns.build_query("tcp.example")
    response = dns.build_response(
        "tcp.example", [DnsRecord("tcp.example", AAAA, 60, "2001:db8::7")], qtype=AAAA
    )
    tcp = TcpConversation((HANDSET, 41000), RESOLVER, ts=T0 + 1).handshake()
    tcp.send(len(query).to_bytes(2, "big") + query)
    tcp.send(len(response).to_bytes(2, "big") + response, from_client=False)
    analysis = run(udp.packets + tcp.packets)
    answers = [
        (a.name, a.address, a.client, a.server, a.client_mac, a.server_mac, a.flow_id)
        for a in analysis.dns_answers
    ]
    router, handset = ETHERNET.server_mac, ETHERNET.client_mac
    assert answers == [
        ("api.example", "198.51.100.20", HANDSET, "10.0.0.1", handset, router, 0),
        ("api.example", "198.51.100.21", HANDSET, "10.0.0.1", handset, router, 0),
        ("tcp.example", "2001:db8::7", HANDSET, "10.0.0.1", handset, router, 1),
    ]
    assert [a.frame for a in analysis.dns_answers] == [2, 2, len(udp.packets) + 5]


def test_a_response_the_client_sends_itself_is_kept_as_its_own_and_names_nothing(run: Analyze) -> None:
    forged = dns.build_response("bank.example", [DnsRecord("bank.example", A, 60, "203.0.113.66")])
    conv = UdpConversation((HANDSET, 33000), RESOLVER, ts=T0)
    conv.send(dns.build_query("bank.example")).send(forged)  # the "response" comes from the handset
    resolver_flow = TcpConversation(("10.0.0.1", 41000), ("203.0.113.66", 443), ts=T0 + 1).handshake()
    analysis = run(conv.packets + resolver_flow.packets)
    (answer,) = analysis.dns_answers
    assert (answer.client, answer.server, answer.server_mac) == ("10.0.0.1", HANDSET, ETHERNET.client_mac)
    assert analysis.flows[1].name_source == "none"


def test_dns_answers_are_bounded_and_the_overflow_counted() -> None:
    book = DnsBook(max_records=2)
    message = dns.parse_message(
        dns.build_response("n.example", [DnsRecord("n.example", A, 1, f"192.0.2.{i}") for i in range(5)])
    )
    assert message is not None
    book.record(message, client="a", server="b", client_mac=None, server_mac=None, frame=1, ts=0.0, flow_id=0)
    assert (len(book.answers), book.answers_dropped) == (2, 3)


def test_inet_ntop_writes_ipv6_as_ipaddress_does_unless_it_prints_ipv4_dotted() -> None:
    # naming.resolved takes an AAAA answer's text (inet_ntop's, from dns.py) as canonical unless it
    # has a dot: every run of zero groups, at every place, with the values around it that matter.
    for groups in itertools.product((0, 1, 0xFFFF), repeat=8):
        packed = b"".join(g.to_bytes(2, "big") for g in groups)
        text = socket.inet_ntop(socket.AF_INET6, packed)
        if "." not in text:
            assert text == ipaddress.IPv6Address(packed).compressed


def test_an_ipv4_mapped_aaaa_answer_names_the_address_in_its_canonical_form() -> None:
    response = dns.build_response(
        "m.example", [DnsRecord("m.example", AAAA, 60, "::ffff:198.51.100.4")], qtype=AAAA
    )
    message = dns.parse_message(response)
    assert message is not None
    assert resolved(message) == [("m.example", "::ffff:c633:6404")]
