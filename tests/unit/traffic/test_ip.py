"""IPv4 and IPv6 headers: lengths, padding, offloaded frames, extension headers, tunnels, fragments."""

from __future__ import annotations

import struct
from collections import Counter

import pytest

from phonehome.traffic import factory, ip, link, tunnels
from phonehome.traffic.fragments import Reassembler

UDP = factory.udp(5000, 53, b"payload!")


def parsed(packet: bytes, etype: int = link.ETHERTYPE_IPV4) -> ip.IpPacket:
    result = ip.parse(packet, 0, etype)
    assert isinstance(result, tuple)
    return result


def test_ipv4_gives_addresses_protocol_and_transport_bytes() -> None:
    proto, src, dst, buf, start, end, cut = parsed(factory.ipv4(UDP, "192.0.2.1", "198.51.100.2", 17))
    assert (proto, ip.address(src), ip.address(dst), cut) == (17, "192.0.2.1", "198.51.100.2", 0)
    assert buf[start:end] == UDP


def test_ipv4_options_are_skipped() -> None:
    packet = factory.ipv4(UDP, "192.0.2.1", "198.51.100.2", 17, options=b"\x01\x01\x01\x00")
    _, _, _, buf, start, end, _ = parsed(packet)
    assert buf[start:end] == UDP


def test_ethernet_padding_after_the_datagram_is_not_payload() -> None:
    _, _, _, buf, start, end, _ = parsed(factory.ipv4(UDP, "192.0.2.1", "198.51.100.2", 17) + b"\x00" * 12)
    assert buf[start:end] == UDP


def test_offloaded_frame_with_zero_total_length_runs_to_the_frame_end() -> None:
    big = factory.udp(1, 2, b"x" * 60000)
    _, _, _, buf, start, end, _ = parsed(factory.ipv4(big, "192.0.2.1", "198.51.100.2", 17, total_length=0))
    assert buf[start:end] == big


def test_snap_length_cut_is_reported_in_bytes() -> None:
    packet = factory.ipv4(UDP, "192.0.2.1", "198.51.100.2", 17)
    *_, end, cut = parsed(packet[:-5])
    assert cut == 5
    assert end == len(packet) - 5


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"\x45\x00", "ipv4-truncated"),
        (b"\x55" + b"\x00" * 30, "ip-version"),
        (b"\x44" + b"\x00" * 19, "ipv4-header-length"),
        (b"\x4f\x00\x00\x28" + b"\x00" * 36, "ipv4-header-length"),
    ],
)
def test_broken_ipv4_headers_are_malformed_with_a_reason(packet: bytes, reason: str) -> None:
    with pytest.raises(ip.Malformed) as info:
        ip.parse(packet, 0, link.ETHERTYPE_IPV4)
    assert info.value.reason == reason


def test_ipv6_extension_headers_are_walked_to_the_transport() -> None:
    packet = factory.ipv6(
        UDP,
        "2001:db8::1",
        "2001:db8::2",
        17,
        extensions=[(0, b"\x01\x00" * 2), (60, b"\x00" * 6), (43, b"\x00" * 14)],
    )
    proto, src, _, buf, start, end, _ = parsed(packet, link.ETHERTYPE_IPV6)
    assert (proto, ip.address(src)) == (17, "2001:db8::1")
    assert buf[start:end] == UDP


def test_ipv6_authentication_header_length_is_in_four_octet_units() -> None:
    ah = bytes([17, 4, 0, 0]) + b"\x00" * 20  # (4 + 2) * 4 = 24 bytes
    packet = factory.ipv6(ah + UDP, "2001:db8::1", "2001:db8::2", 51)
    proto, _, _, buf, start, end, _ = parsed(packet, link.ETHERTYPE_IPV6)
    assert proto == 17
    assert buf[start:end] == UDP


def test_ipv6_atomic_fragment_is_not_held_for_reassembly() -> None:
    packet = factory.ipv6(
        UDP, "2001:db8::1", "2001:db8::2", 17, extensions=[(44, struct.pack("!BHI", 0, 0, 9))]
    )
    proto, _, _, buf, start, end, _ = parsed(packet, link.ETHERTYPE_IPV6)
    assert (proto, buf[start:end]) == (17, UDP)


def test_ipv6_extension_chain_running_off_the_packet_is_malformed() -> None:
    packet = factory.ipv6(b"\x11\x08", "2001:db8::1", "2001:db8::2", 0)
    with pytest.raises(ip.Malformed):
        ip.parse(packet, 0, link.ETHERTYPE_IPV6)


@pytest.mark.parametrize(
    ("outer", "etype"),
    [
        (lambda inner: factory.ipv4(inner, "203.0.113.1", "203.0.113.2", 4), link.ETHERTYPE_IPV4),
        (lambda inner: factory.ipv6(inner, "2001:db8::a", "2001:db8::b", 4), link.ETHERTYPE_IPV6),
        (
            lambda inner: factory.ipv4(b"\x00\x00\x08\x00" + inner, "203.0.113.1", "203.0.113.2", 47),
            link.ETHERTYPE_IPV4,
        ),
        (
            lambda inner: factory.ipv4(
                b"\x20\x00\x08\x00" + b"key!" + inner, "203.0.113.1", "203.0.113.2", 47
            ),
            link.ETHERTYPE_IPV4,
        ),
    ],
    ids=["ipip", "4in6", "gre", "gre-key"],
)
def test_tunnels_are_the_outer_packet_whose_payload_leads_to_the_inner_one(outer: object, etype: int) -> None:
    inner = factory.ipv4(UDP, "10.1.1.1", "10.2.2.2", 17)
    packet = outer(inner)  # type: ignore[operator]
    proto, src, _, buf, start, end, _ = parsed(packet, etype)
    assert proto in (4, 47)
    assert ip.address(src) in ("203.0.113.1", "2001:db8::a")
    found = tunnels.ip_tunnel(proto, buf[start:end])
    assert found == (link.LINKTYPE_RAW, inner)


def test_gre_transparent_ethernet_bridging_leads_to_the_inner_frame() -> None:
    frame = factory.ETHERNET.frame(factory.ipv4(UDP, "10.1.1.1", "10.2.2.2", 17), True)
    assert tunnels.gre(b"\x00\x00\x65\x58" + frame) == (link.LINKTYPE_ETHERNET, frame)


def test_gre_of_another_protocol_or_cut_short_carries_nothing_to_read() -> None:
    assert tunnels.gre(b"\x00\x00\x88\x47" + b"\x00" * 20) is None  # MPLS
    assert tunnels.gre(b"\x80\x00\x08\x00") is None  # a checksum field that is not there
    assert tunnels.ip_tunnel(41, factory.ipv4(UDP, "10.1.1.1", "10.2.2.2", 17)) is None  # 6in4 holding IPv4


@pytest.mark.parametrize("version", [4, 6])
def test_fragments_reassemble_in_any_order(version: int) -> None:
    payload = factory.udp(4000, 53, bytes(range(256)) * 10)
    src, dst = ("192.0.2.1", "198.51.100.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
    whole = factory.ipv4(payload, src, dst, 17) if version == 4 else factory.ipv6(payload, src, dst, 17)
    frags = factory.fragment(whole, 512)
    assert len(frags) == 6
    reasm = Reassembler(Counter())
    etype = link.ETHERTYPE_IPV4 if version == 4 else link.ETHERTYPE_IPV6
    results = []
    for frag in [frags[3], frags[0], frags[5], frags[1], frags[1], frags[4], frags[2]]:
        piece = ip.parse(frag, 0, etype)
        assert isinstance(piece, ip.Fragment)
        results.append(reasm.add(piece, 1.0))
    assert results[:-1] == [None] * 6
    last = results[-1]
    assert last is not None
    proto, rsrc, _, buf, start, end, _ = last
    assert (proto, ip.address(rsrc), buf[start:end]) == (17, src, payload)
    assert len(reasm) == 0


def _frag(offset: int, data: bytes, more: bool, ident: int = 1) -> ip.Fragment:
    packet = factory.ipv4(data, "192.0.2.1", "198.51.100.2", 17, ident=ident, offset=offset, more=more)
    piece = ip.parse(packet, 0, link.ETHERTYPE_IPV4)
    assert isinstance(piece, ip.Fragment)
    return piece


def test_overlapping_fragments_keep_the_first_bytes_and_are_counted() -> None:
    stats: Counter[str] = Counter()
    reasm = Reassembler(stats)
    assert reasm.add(_frag(0, b"A" * 16, True), 0.0) is None
    done = reasm.add(_frag(8, b"B" * 16, False), 0.0)
    assert done is not None
    assert done[3] == b"A" * 16 + b"B" * 8
    assert stats["ip-fragment-overlap"] == 1


def test_incomplete_datagrams_expire_and_are_counted() -> None:
    stats: Counter[str] = Counter()
    reasm = Reassembler(stats, timeout=30.0)
    reasm.add(_frag(0, b"A" * 16, True, ident=1), 0.0)
    reasm.add(_frag(0, b"A" * 16, True, ident=2), 100.0)
    assert stats["ip-fragment-timeout"] == 1
    assert len(reasm) == 1
    reasm.flush()
    assert stats["ip-fragment-incomplete"] == 1


def test_pending_datagrams_are_bounded_in_number_and_bytes() -> None:
    stats: Counter[str] = Counter()
    reasm = Reassembler(stats, max_datagrams=10, max_bytes=1000)
    for ident in range(100):
        reasm.add(_frag(0, b"A" * 64, True, ident=ident), 0.0)
    assert len(reasm) <= 10
    assert stats["ip-fragment-evicted"] == 90 + 0


def test_fragment_past_the_largest_datagram_is_dropped() -> None:
    stats: Counter[str] = Counter()
    reasm = Reassembler(stats)
    assert reasm.add(_frag(65528, b"A" * 64, False), 0.0) is None
    assert stats["ip-fragment-too-large"] == 1
