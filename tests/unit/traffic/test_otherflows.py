"""Every packet reaches a flow: ICMP, ESP, any IP protocol number, frames without IP, lost fragments."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, factory
from phonehome.traffic.factory import Packet, RecordingObserver

Analyze = Callable[..., Analysis]
HANDSET, PEER = "10.0.0.2", "198.51.100.9"
HANDSET_MAC, ROUTER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:fe"
SECRET = b"IMEI=490154203237518"


def ip_packet(payload: bytes, proto: int, *, src: str = HANDSET, dst: str = PEER, ts: float = 1.0) -> Packet:
    build = factory.ipv6 if ":" in src else factory.ipv4
    from_handset = src == HANDSET or src.endswith("::2")
    return Packet(ts, factory.ETHERNET.frame(build(payload, src, dst, proto), from_handset))


def test_icmp_echo_padding_reaches_the_observer_as_a_datagram_of_an_icmp_flow(
    run: Analyze, recorder: RecordingObserver
) -> None:
    request = factory.icmp(8, 0, b"\x12\x34\x00\x01" + SECRET)
    reply = factory.icmp(0, 0, b"\x12\x34\x00\x01" + SECRET)
    analysis = run(
        [
            ip_packet(request, 1),
            ip_packet(reply, 1, src=PEER, dst=HANDSET, ts=2.0),
            ip_packet(request, 1, ts=3.0),
        ],
        observer=recorder,
    )
    (flow,) = analysis.flows
    assert (flow.proto, flow.src, flow.sport, flow.dst, flow.dport) == ("icmp", HANDSET, 0, PEER, 0)
    assert flow.icmp_types == [8, 0]
    assert (flow.packets_c2s, flow.packets_s2c) == (2, 1)
    assert (flow.bytes_c2s, flow.bytes_s2c) == (2 * len(request), len(reply))
    assert (flow.src_mac, flow.dst_mac) == (HANDSET_MAC, ROUTER_MAC)
    assert recorder.payload == [
        (0, True, 0, request, 1),
        (0, False, 0, reply, 2),
        (0, True, len(request), request, 3),
    ]
    assert recorder.ended == [0]
    assert analysis.stats.other_ip_packets == 3
    assert [(o.icmp_type, o.packets) for o in analysis.other] == [(8, 2), (0, 1)]


@pytest.mark.parametrize(
    ("icmp_type", "proto"),
    [(0, 1), (3, 1), (11, 1), (129, 58), (1, 58), (4, 58)],
    ids=["echo-reply", "unreachable", "time-exceeded", "v6-echo-reply", "v6-unreachable", "v6-parameter"],
)
def test_an_icmp_reply_or_errors_sender_is_the_server(run: Analyze, icmp_type: int, proto: int) -> None:
    src, dst = ("2001:db8::9", "2001:db8::2") if proto == 58 else (PEER, HANDSET)
    (flow,) = run([ip_packet(factory.icmp(icmp_type, 0, SECRET), proto, src=src, dst=dst)]).flows
    assert (flow.proto, flow.src, flow.dst) == ("icmpv6" if proto == 58 else "icmp", dst, src)
    assert (flow.packets_c2s, flow.packets_s2c) == (0, 1)


@pytest.mark.parametrize(
    ("proto", "name"), [(50, "esp"), (51, "ah"), (132, "sctp"), (2, "igmp"), (253, "ip-253"), (47, "gre")]
)
def test_any_ip_protocol_is_a_flow_whose_payload_is_observed(
    run: Analyze, recorder: RecordingObserver, proto: int, name: str
) -> None:
    payload = b"\x00\x00\x00\x07" + SECRET  # (as GRE: protocol 7, nothing it can carry)
    analysis = run([ip_packet(payload, proto)], observer=recorder)
    (flow,) = analysis.flows
    assert (flow.proto, flow.src, flow.dst, flow.bytes_c2s) == (name, HANDSET, PEER, len(payload))
    assert recorder.stream(0, True) == payload


def test_both_directions_of_another_protocol_are_one_flow_and_ipv6_works(run: Analyze) -> None:
    packets = [
        ip_packet(b"esp-out", 50, src="2001:db8::2", dst="2001:db8::9"),
        ip_packet(b"esp-in", 50, src="2001:db8::9", dst="2001:db8::2", ts=2.0),
    ]
    (flow,) = run(packets).flows
    assert (flow.src, flow.dst, flow.packets_c2s, flow.packets_s2c) == ("2001:db8::2", "2001:db8::9", 1, 1)


def test_an_arp_frame_with_a_payload_is_a_flow_between_the_hardware_addresses(
    run: Analyze, recorder: RecordingObserver
) -> None:
    arp = b"\x00\x01\x08\x00\x06\x04\x00\x01" + SECRET
    frames = [
        Packet(1.0, factory.ethernet(arp, 0x0806, src=HANDSET_MAC, dst="ff:ff:ff:ff:ff:ff")),
        Packet(2.0, factory.ethernet(b"reply", 0x0806, src="ff:ff:ff:ff:ff:ff", dst=HANDSET_MAC)),
        Packet(
            3.0,
            factory.ethernet(b"lldp" + SECRET, 0x88CC, src=HANDSET_MAC, dst="01:80:c2:00:00:0e", vlans=(7,)),
        ),
    ]
    analysis = run(frames, observer=recorder)
    arp_flow, lldp = analysis.flows
    assert (arp_flow.proto, arp_flow.src, arp_flow.dst) == ("link-0x0806", HANDSET_MAC, "ff:ff:ff:ff:ff:ff")
    assert (arp_flow.packets_c2s, arp_flow.packets_s2c, arp_flow.bytes_c2s) == (1, 1, len(arp))
    assert (lldp.proto, lldp.src) == ("link-0x88cc", HANDSET_MAC)
    assert recorder.stream(0, True) == arp
    assert recorder.stream(1, True) == b"lldp" + SECRET
    assert analysis.stats.non_ip_frames == 3
    assert analysis.macs == {HANDSET_MAC: 2, "ff:ff:ff:ff:ff:ff": 1}


def test_an_8023_frame_is_a_link_llc_flow(run: Analyze) -> None:
    stp = factory.ethernet(b"\x42\x42\x03" + b"\x00" * 35, 38, src=HANDSET_MAC, dst="01:80:c2:00:00:00")
    (flow,) = run([Packet(1.0, stp)]).flows
    assert flow.proto == "link-llc"


def test_frames_without_ip_on_linux_cooked_captures_are_flows_of_their_sender(run: Analyze) -> None:
    arp = b"\x00\x00\x00\x01\x00\x06" + factory.mac(HANDSET_MAC) + b"\x00\x00\x08\x06" + b"\x00" * 28
    (flow,) = run([Packet(1.0, arp, linktype=113)]).flows
    assert (flow.proto, flow.src, flow.dst) == ("link-0x0806", HANDSET_MAC, "")


def test_idle_other_flows_end_and_a_later_packet_starts_another(
    run: Analyze, recorder: RecordingObserver
) -> None:
    ping = factory.icmp(8, 0, b"\x00\x01\x00\x01")
    analysis = run([ip_packet(ping, 1), ip_packet(ping, 1, ts=1000.0)], observer=recorder)
    assert [f.first_frame for f in analysis.flows] == [1, 2]
    assert recorder.ended == [0, 1]


def test_fragments_that_never_complete_still_reach_a_flow_with_an_anomaly(
    run: Analyze, recorder: RecordingObserver
) -> None:
    datagram = factory.ipv4(factory.udp(40000, 9999, SECRET * 4), HANDSET, PEER, 17)
    frags = factory.fragment(datagram, 24)
    packets = [Packet(1.0 + i, factory.ETHERNET.frame(f, True)) for i, f in enumerate(frags[1:])]
    analysis = run(packets, observer=recorder)
    (flow,) = analysis.flows
    assert (flow.proto, flow.src, flow.dst, flow.sport) == ("udp", HANDSET, PEER, 0)
    assert flow.packets_c2s == len(frags) - 1
    assert SECRET in recorder.stream(0, True)
    assert "never completed" in flow.anomalies[0]
    assert analysis.stats.truncated_fragments == 1
    assert analysis.stats.malformed["ip-fragment-incomplete"] == 1


def test_a_fragment_cut_by_the_snap_length_is_counted(run: Analyze) -> None:
    datagram = factory.ipv4(factory.udp(40000, 53, b"q" * 100), HANDSET, PEER, 17)
    first = factory.ETHERNET.frame(factory.fragment(datagram, 48)[0], True)
    analysis = run([Packet(1.0, first[:40], orig_len=len(first))])
    assert analysis.stats.truncated_fragments == 1
    assert analysis.stats.malformed == {"ip-fragment-truncated": 1}
