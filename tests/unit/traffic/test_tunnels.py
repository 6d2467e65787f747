"""Tunnels on every path: the carrier is a flow, each inner flow says where its carrier went."""

from __future__ import annotations

from collections.abc import Callable

from phonehome.traffic import Analysis, factory, http
from phonehome.traffic.factory import RAW, Link, Packet, RecordingObserver, TcpConversation
from phonehome.traffic.flow import Tunnel

Analyze = Callable[..., Analysis]
HANDSET, HIDDEN = "10.0.0.2", "203.0.113.66"
GW4, GW6 = ("10.0.0.2", "192.0.2.99"), ("2001:db8::2", "2001:db8:99::1")
POST = http.build_request("POST", "/r", {"Host": "collector.example"}, b"IMEI=490154203237518")


def inner_conversation(server: tuple[str, int] = (HIDDEN, 80)) -> TcpConversation:
    client = ("2001:db8:1::2", 40000) if ":" in server[0] else (HANDSET, 40000)
    return TcpConversation(client, server, link=RAW).handshake().send(POST)


def outer_ip(
    proto: int, outer: tuple[str, str], header: Callable[[bytes], bytes] = lambda b: b
) -> Callable[[bytes], bytes]:
    """Wraps an inner packet in an outer IP packet between the tunnel's ends, the way it travels."""
    build = factory.ipv6 if ":" in outer[0] else factory.ipv4

    def wrap(inner: bytes) -> bytes:
        inner_src = inner[12:16] if inner[0] >> 4 == 4 else inner[8:24]
        out = inner_src in (bytes([10, 0, 0, 2]), bytes.fromhex("20010db8000100000000000000000002"))
        src, dst = outer if out else outer[::-1]
        return build(header(inner), src, dst, proto)

    return wrap


def test_gre_on_the_fast_path_is_a_carrier_flow_and_its_inner_flow_names_it(
    run: Analyze, recorder: RecordingObserver
) -> None:
    packets = factory.encapsulate(
        inner_conversation().packets, outer_ip(47, GW4, lambda p: factory.gre(p, key=0x1D10BEEF))
    )
    analysis = run(packets, observer=recorder)
    carrier, inner = analysis.flows
    assert (carrier.proto, carrier.src, carrier.dst, carrier.packets_c2s, carrier.packets_s2c) == (
        "gre",
        *GW4,
        3,
        1,
    )
    assert (inner.proto, inner.src, inner.dst, inner.http_host) == (
        "tcp",
        HANDSET,
        HIDDEN,
        "collector.example",
    )
    assert inner.tunnel == Tunnel("gre", GW4[0], GW4[1], carrier.id)
    assert inner.first_frame == 1
    # The carrier keeps its GRE headers (a key can hold anything), not a second copy of the inner bytes.
    assert recorder.stream(carrier.id, True) == (b"\x20\x00\x08\x00\x1d\x10\xbe\xef") * 3
    assert b"IMEI=" in recorder.stream(inner.id, True)
    assert analysis.stats.other_ip_packets == 4


def test_6in4_and_ipip_are_decoded_on_every_path(run: Analyze) -> None:
    six = factory.encapsulate(inner_conversation(("2001:db8:66::1", 80)).packets, outer_ip(41, GW4))
    ipip_over_vlan = factory.encapsulate(inner_conversation().packets, outer_ip(4, GW4), Link(vlans=(7,)))
    four_in_six = factory.encapsulate(inner_conversation().packets, outer_ip(4, GW6))
    for packets, kind, outer, proto in (
        (six, "6in4", GW4, "ipv6"),
        (ipip_over_vlan, "ipip", GW4, "ipip"),
        (four_in_six, "ipip", GW6, "ipip"),
    ):
        carrier, inner = run(packets).flows
        assert (carrier.proto, carrier.src, carrier.dst) == (proto, *outer)
        assert inner.tunnel == Tunnel(kind, outer[0], outer[1], 0)
        assert inner.http_host == "collector.example"


def test_an_inner_packet_that_does_not_decode_stays_the_carriers_payload(
    run: Analyze, recorder: RecordingObserver
) -> None:
    broken = b"\x45\x00\x00\x30" + b"IMEI=490154203237518"  # an IPv4 header cut short
    packet = Packet(1.0, factory.ETHERNET.frame(factory.ipv4(broken, *GW4, 4), True))
    analysis = run([packet], observer=recorder)
    (carrier,) = analysis.flows
    assert carrier.proto == "ipip"
    assert recorder.stream(0, True) == broken
    assert sum(analysis.stats.malformed.values()) == 1  # and counted as not decoded


def test_bytes_after_the_inner_packet_stay_the_carriers(run: Analyze, recorder: RecordingObserver) -> None:
    inner = factory.ipv4(factory.udp(5000, 6000, b"inner"), HANDSET, HIDDEN, 17)
    packet = Packet(1.0, factory.ETHERNET.frame(factory.ipv4(inner + b"TRAILER", *GW4, 4), True))
    run([packet], observer=recorder)
    assert recorder.stream(0, True) == b"TRAILER"
    assert recorder.stream(1, True) == b"inner"


def test_udp_encapsulations_set_the_tunnel_and_keep_only_their_header(
    run: Analyze, recorder: RecordingObserver
) -> None:
    def vxlan(inner: bytes) -> bytes:
        frame = factory.ETHERNET.frame(inner, True)
        return factory.ipv4(factory.udp(50000, 4789, b"\x08\x00\x00\x00\x00\x01\x00\x00" + frame), *GW4, 17)

    analysis = run(factory.encapsulate(inner_conversation().packets, vxlan), observer=recorder)
    carrier, inner = analysis.flows
    assert (carrier.proto, carrier.dport) == ("udp", 4789)
    assert inner.tunnel == Tunnel("vxlan", GW4[0], GW4[1], carrier.id)
    assert recorder.stream(carrier.id, True) == b"\x08\x00\x00\x00\x00\x01\x00\x00" * 4
    assert inner.http_host == "collector.example"


def test_the_same_inner_flow_through_two_carriers_or_outside_is_one_flow_per_path(run: Analyze) -> None:
    conv = inner_conversation()
    via_gre = factory.encapsulate(conv.packets, outer_ip(47, GW4, factory.gre))
    via_ipip = factory.encapsulate(conv.packets, outer_ip(4, ("10.0.0.2", "192.0.2.77")))
    direct = [Packet(p.ts, p.data, p.linktype) for p in conv.packets]
    flows = run(factory.interleave(via_gre, via_ipip, direct)).flows
    inner = [f for f in flows if f.proto == "tcp"]
    assert [f.tunnel.dst if f.tunnel else None for f in inner] == ["192.0.2.99", "192.0.2.77", None]
    assert all(f.http_host == "collector.example" for f in inner)


def test_nested_tunnels_name_the_outermost_carrier_and_depth_is_bounded(
    run: Analyze, recorder: RecordingObserver
) -> None:
    inner = factory.ipv4(factory.udp(5000, 6000, b"deep"), HANDSET, HIDDEN, 17)
    two = factory.ipv4(factory.ipv4(inner, "172.16.0.1", "172.16.0.2", 4), *GW4, 4)
    flows = run([Packet(1.0, factory.ETHERNET.frame(two, True))]).flows
    assert [f.proto for f in flows] == ["ipip", "ipip", "udp"]
    assert flows[2].tunnel == Tunnel("ipip", GW4[0], GW4[1], 0)
    deep = inner
    for _ in range(50):
        deep = factory.ipv4(deep, *GW4, 4)
    analysis = run([Packet(1.0, factory.ETHERNET.frame(deep, True))], observer=recorder)
    assert [f.proto for f in analysis.flows] == ["ipip"] * 5
    assert b"deep" in recorder.stream(4, True)  # what was not opened is the deepest carrier's payload


def test_a_carried_frame_that_is_not_ip_stays_the_carriers_payload(
    run: Analyze, recorder: RecordingObserver
) -> None:
    geneve = b"\x00\x00\x08\x00\x00\x00\x01\x00" + b"\x00IMEI=490154203237518"
    packet = Packet(
        1.0, factory.ETHERNET.frame(factory.ipv4(factory.udp(50000, 6081, geneve), *GW4, 17), True)
    )
    analysis = run([packet], observer=recorder)
    assert [f.proto for f in analysis.flows] == ["udp"]
    assert recorder.stream(0, True) == geneve
