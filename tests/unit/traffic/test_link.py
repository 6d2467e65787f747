"""Link layers: every framing the shared captures use, down to the IP header."""

from __future__ import annotations

import struct

import pytest

from phonehome.traffic import factory, link
from phonehome.traffic.factory import Link

V4 = factory.ipv4(factory.udp(1000, 53, b"q"), "192.0.2.1", "198.51.100.1", 17)
V6 = factory.ipv6(factory.udp(1000, 53, b"q"), "2001:db8::1", "2001:db8::2", 17)


@pytest.mark.parametrize(
    "kind",
    [
        Link(),
        Link(vlans=(100,)),
        Link(vlans=(10, 20)),
        Link(link.LINKTYPE_LINUX_SLL),
        Link(link.LINKTYPE_LINUX_SLL2),
        Link(link.LINKTYPE_RAW),
        Link(link.LINKTYPE_RAW_DLT12),
        Link(link.LINKTYPE_RAW_DLT14),
        Link(link.LINKTYPE_NULL),
        Link(link.LINKTYPE_LOOP),
        Link(link.LINKTYPE_PPP),
        Link(link.LINKTYPE_C_HDLC),
    ],
    ids=lambda k: f"{k.linktype}-{len(k.vlans)}vlan",
)
@pytest.mark.parametrize("packet", [V4, V6], ids=["ipv4", "ipv6"])
def test_each_link_type_leads_to_the_ip_header(kind: Link, packet: bytes) -> None:
    frame = kind.frame(packet, from_client=True)
    etype, off = link.decode(kind.linktype, frame)
    assert etype == (link.ETHERTYPE_IPV6 if packet is V6 else link.ETHERTYPE_IPV4)
    assert frame[off:] == packet


@pytest.mark.parametrize(
    ("linktype", "packet", "etype"), [(link.LINKTYPE_IPV4, V4, 0x0800), (link.LINKTYPE_IPV6, V6, 0x86DD)]
)
def test_ip_only_link_types(linktype: int, packet: bytes, etype: int) -> None:
    assert link.decode(linktype, packet) == (etype, 0)


def test_null_loopback_family_in_either_byte_order() -> None:
    assert link.decode(link.LINKTYPE_NULL, struct.pack(">I", 2) + V4) == (link.ETHERTYPE_IPV4, 4)
    assert link.decode(link.LINKTYPE_NULL, struct.pack("<I", 30) + V6) == (link.ETHERTYPE_IPV6, 4)
    assert link.decode(link.LINKTYPE_LOOP, struct.pack(">I", 28) + V6) == (link.ETHERTYPE_IPV6, 4)


def test_ppp_with_compressed_protocol_field_and_no_address_control() -> None:
    assert link.decode(link.LINKTYPE_PPP, b"\x21" + V4) == (link.ETHERTYPE_IPV4, 1)
    assert link.decode(link.LINKTYPE_PPP, b"\x00\x57" + V6) == (link.ETHERTYPE_IPV6, 2)
    assert link.decode(link.LINKTYPE_PPP, b"\xff\x03\xc0\x21" + b"lcp")[0] == link.NOT_IP


def test_ethernet_snap_pppoe_and_mpls_carry_ip() -> None:
    macs = b"\x02" * 12
    snap = macs + struct.pack("!H", len(V4) + 8) + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + V4
    assert link.decode(1, snap) == (link.ETHERTYPE_IPV4, 22)
    pppoe = macs + b"\x88\x64" + b"\x11\x00\x00\x01" + struct.pack("!H", len(V6) + 2) + b"\x00\x57" + V6
    assert link.decode(1, pppoe) == (link.ETHERTYPE_IPV6, 22)
    mpls = macs + b"\x88\x47" + b"\x00\x01\x00\x40" + b"\x00\x02\x01\x40" + V4
    assert link.decode(1, mpls) == (link.ETHERTYPE_IPV4, 22)


def test_frames_without_ip_are_named_so() -> None:
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    assert link.decode(1, arp)[0] == link.NOT_IP
    assert link.decode(147, V4)[0] == link.NOT_IP  # a link type we do not read


@pytest.mark.parametrize("linktype", [1, 113, 276, 0, 104, 101])
def test_frames_too_short_for_their_link_header_are_truncated_not_errors(linktype: int) -> None:
    assert link.decode(linktype, b"")[0] == link.TRUNCATED


def test_vlan_tag_cut_short_is_truncated() -> None:
    assert link.decode(1, b"\x02" * 12 + b"\x81\x00\x00")[0] == link.TRUNCATED


def test_hardware_addresses_of_ethernet_and_cooked_captures() -> None:
    eth = Link().frame(V4, from_client=True)
    assert link.macs(1, eth) == ("02:00:00:00:00:01", "02:00:00:00:00:fe")
    sll = Link(link.LINKTYPE_LINUX_SLL).frame(V4, from_client=False)
    assert link.macs(113, sll) == ("02:00:00:00:00:fe", None)
    sll2 = Link(link.LINKTYPE_LINUX_SLL2).frame(V4, from_client=True)
    assert link.macs(276, sll2) == ("02:00:00:00:00:01", None)
    assert link.macs(101, V4) == (None, None)
