"""The pipeline: who is the client, flow order, frame numbers, files in sequence, counts, damage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.report.analysis_json import to_dict
from phonehome.traffic import Analysis, CaptureError, analyze, dns, factory, flowtable, http, tls
from phonehome.traffic.factory import Link, Packet, RecordingObserver, TcpConversation, UdpConversation

Analyze = Callable[..., Analysis]

CLIENT = ("10.0.0.2", 40000)
WEB = ("203.0.113.5", 80)
GET = http.build_request("GET", "/", {"Host": "example.com"})


def web(**kw: object) -> TcpConversation:
    return TcpConversation(CLIENT, WEB, **kw)  # type: ignore[arg-type]


def test_the_syn_sender_is_the_client(run: Analyze) -> None:
    conv = web().handshake().send(GET).send(b"HTTP/1.1 200 OK\r\n\r\n", from_client=False).close()
    (flow,) = run(conv.packets).flows
    assert (flow.proto, flow.src, flow.sport, flow.dst, flow.dport) == (
        "tcp",
        "10.0.0.2",
        40000,
        "203.0.113.5",
        80,
    )
    assert (flow.first_frame, flow.last_frame) == (1, len(conv.packets))
    assert flow.src_mac == "02:00:00:00:00:01"
    assert flow.closed
    assert (flow.bytes_c2s, flow.bytes_s2c) == (len(GET), 19)
    assert (flow.packets_c2s, flow.packets_s2c) == (5, 3)


def test_capture_starting_at_the_syn_ack_still_knows_the_client(run: Analyze) -> None:
    conv = web().handshake().send(GET)
    (flow,) = run(conv.packets[1:]).flows
    assert (flow.src, flow.dst) == ("10.0.0.2", "203.0.113.5")
    assert flow.http_host == "example.com"


def test_capture_starting_mid_connection_takes_the_service_port_as_the_server(run: Analyze) -> None:
    conv = web().handshake().send(GET).send(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100, from_client=False)
    (flow,) = run(conv.packets[-1:]).flows
    assert (flow.src, flow.dport) == ("10.0.0.2", 80)
    assert flow.bytes_s2c == 119


def test_udp_client_is_the_first_sender_unless_ports_say_otherwise(run: Analyze) -> None:
    first = UdpConversation(("10.0.0.2", 5000), ("10.0.0.9", 6000)).send(b"hi", from_client=False)
    dns_reply = UdpConversation(("10.0.0.2", 5353 + 1), ("10.0.0.1", 53), ts=1_700_000_010.0)
    dns_reply.send(dns.build_response("a.example", []), from_client=False)
    flows = run(first.packets + dns_reply.packets).flows
    assert (flows[0].src, flows[0].sport) == ("10.0.0.9", 6000)
    assert (flows[1].src, flows[1].dport) == ("10.0.0.2", 53)


def test_flows_are_numbered_in_order_of_first_packet(run: Analyze) -> None:
    a = web().handshake()
    b = TcpConversation(("10.0.0.2", 40001), ("203.0.113.6", 443), ts=a.packets[0].ts - 0.0005).handshake()
    flows = run(factory.interleave(a.packets, b.packets)).flows
    assert [(f.id, f.dst) for f in flows] == [(0, "203.0.113.6"), (1, "203.0.113.5")]
    assert [f.first_frame for f in flows] == [1, 2]


def test_rotated_files_are_one_sequence_with_their_boundaries(tmp_path: Path) -> None:
    conv = web().handshake().send(GET).send(b"HTTP/1.1 200 OK\r\n\r\n", from_client=False).close()
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcapng"
    first.write_bytes(factory.pcap_bytes(conv.packets[:4]))
    second.write_bytes(factory.pcapng_bytes(conv.packets[4:]))
    analysis = analyze([first, second])
    (flow,) = analysis.flows
    assert flow.last_frame == len(conv.packets)
    assert flow.http_host == "example.com"
    assert [(f.path, f.first_frame, f.packets) for f in analysis.files] == [
        (str(first), 1, 4),
        (str(second), 5, len(conv.packets) - 4),
    ]
    assert analysis.packets == len(conv.packets)


def test_a_second_connection_on_the_same_ports_is_a_new_flow(run: Analyze) -> None:
    one = web().handshake().send(GET).close()
    two = web(isn=(9999, 777), ts=one.ts + 1).handshake().send(GET).close()
    flows = run(one.packets + two.packets).flows
    assert len(flows) == 2
    assert all(f.http_host == "example.com" for f in flows)
    assert flows[1].first_frame == len(one.packets) + 1


def test_a_repeated_syn_is_the_same_connection(run: Analyze) -> None:
    conv = web()
    conv.segment(0x02)
    conv.handshake().send(GET)
    assert len(run(conv.packets).flows) == 1


@pytest.mark.parametrize(
    "kind",
    [
        Link(),
        Link(vlans=(7,)),
        Link(vlans=(7, 8)),
        factory.SLL,
        factory.SLL2,
        factory.RAW,
        Link(0),
        Link(9),
        Link(104),
    ],
    ids=lambda k: f"linktype{k.linktype}-{len(k.vlans)}vlan",
)
def test_flows_are_found_on_every_link_type(run: Analyze, kind: Link) -> None:
    conv = web(link=kind).handshake().send(GET)
    (flow,) = run(conv.packets).flows
    assert flow.http_host == "example.com"


def test_ipv6_flows(run: Analyze) -> None:
    conv = TcpConversation(("2001:db8::2", 40000), ("2001:db8:1::5", 80)).handshake().send(GET)
    (flow,) = run(conv.packets).flows
    assert (flow.src, flow.dst, flow.http_host) == ("2001:db8::2", "2001:db8:1::5", "example.com")


def test_reordered_retransmitted_and_overlapping_segments_reassemble(run: Analyze) -> None:
    body = bytes(range(256)) * 40
    request = http.build_request("POST", "/upload", {"Host": "up.example"}, body)
    conv = web(mss=500).handshake().send(request, reorder=True, retransmit=[3, 7], overlap=100)
    (flow,) = run(conv.packets).flows
    (req,) = flow.http_requests
    assert req.body == body
    assert flow.bytes_c2s == len(request)
    assert flow.gaps_c2s == 0


def test_lost_segments_are_counted_as_gaps_and_seen_as_an_offset_jump(
    run: Analyze, recorder: RecordingObserver
) -> None:
    conv = web(mss=100).handshake().send(b"".join(bytes([65 + i]) * 100 for i in range(10)), lose=[4])
    analysis = run(conv.packets, observer=recorder)
    (flow,) = analysis.flows
    assert flow.gaps_c2s == 100
    assert flow.bytes_c2s == 1000
    assert analysis.stats.tcp_gap_bytes == 100
    offsets = [p[2] for p in recorder.payload]
    assert 400 not in offsets
    assert 500 in offsets
    assert recorder.stream(0, True)[500:600] == b"F" * 100


def test_fragmented_dns_query_is_reassembled(run: Analyze) -> None:
    query = dns.build_query("fragmented." + "a" * 50 + ".example")
    conv = UdpConversation(("10.0.0.2", 5555), ("10.0.0.1", 53)).send(query, fragment_size=32)
    analysis = run(conv.packets)
    (flow,) = analysis.flows
    assert [q.name for q in flow.dns_queries] == ["fragmented." + "a" * 50 + ".example"]
    assert analysis.stats.fragments_reassembled == 1


def test_malformed_packets_are_counted_by_reason_and_the_rest_analyzed(run: Analyze) -> None:
    good = web().handshake().send(GET)
    bad_tcp = factory.ETHERNET.frame(factory.ipv4(b"\x00" * 10, "10.0.0.2", "203.0.113.5", 6), True)
    bad_ip = factory.ETHERNET.frame(b"\x45\x00", True)
    packets = [*good.packets[:2], Packet(good.ts, bad_tcp), Packet(good.ts, bad_ip), *good.packets[2:]]
    analysis = run(packets)
    assert analysis.flows[0].http_host == "example.com"
    assert analysis.stats.malformed == {"ipv4-truncated": 1, "tcp-truncated": 1}


def test_non_ip_frames_are_counted_and_become_link_flows(run: Analyze) -> None:
    arp = Packet(1.0, b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28)
    analysis = run([arp])
    assert analysis.stats.non_ip_frames == 1
    assert [f.proto for f in analysis.flows] == ["link-0x0806"]


def test_icmp_is_noted_per_type_and_address_pair(run: Analyze) -> None:
    ping = factory.ETHERNET.frame(
        factory.ipv4(b"\x08\x00" + b"\x00" * 30, "10.0.0.2", "198.51.100.9", 1), True
    )
    analysis = run([Packet(1.0, ping), Packet(2.0, ping)])
    (other,) = analysis.other
    assert (other.proto, other.src, other.dst, other.icmp_type, other.packets, other.first_frame) == (
        1,
        "10.0.0.2",
        "198.51.100.9",
        8,
        2,
        1,
    )


def test_unsupported_link_type_is_a_warning(run: Analyze) -> None:
    analysis = run([Packet(1.0, b"\x00" * 40, linktype=147)])
    assert any("link type 147" in w for w in analysis.warnings)
    assert analysis.stats.unsupported_link_types == [147]


def test_truncated_file_gives_what_was_read_with_a_warning(tmp_path: Path) -> None:
    conv = web().handshake().send(GET).send(b"x" * 5000, from_client=False)
    path = tmp_path / "cut.pcap"
    path.write_bytes(factory.pcap_bytes(conv.packets)[:-100])
    analysis = analyze(path)
    assert analysis.truncated
    assert analysis.flows[0].http_host == "example.com"
    assert any("ends inside a record" in w for w in analysis.warnings)


def test_snap_length_cut_frames_are_counted_and_lose_only_their_tail(run: Analyze) -> None:
    conv = web().handshake().send(GET + b"x" * 1000)
    last = conv.packets[-1]
    conv.packets[-1] = Packet(last.ts, last.data[:200], orig_len=len(last.data))
    analysis = run(conv.packets)
    (flow,) = analysis.flows
    assert flow.http_requests[0].host == "example.com"
    assert analysis.stats.snaplen_cut_packets == 1
    assert flow.gaps_c2s == len(last.data) - 200


def test_drops_reported_by_the_capture_are_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "dropped.pcapng"
    path.write_bytes(factory.pcapng_bytes(web().handshake().packets, drops={0: 12}))
    analysis = analyze(path)
    assert analysis.drops == 12
    assert any("dropped 12 packets" in w for w in analysis.warnings)


def test_tls_handshake_then_bulk_data_counts_without_reassembly(run: Analyze) -> None:
    conv = TcpConversation(CLIENT, ("203.0.113.7", 443)).handshake()
    conv.send(tls.build_client_hello("bulk.example"))
    conv.send(tls.build_server_hello(0x0304), from_client=False)
    conv.send(b"\x17\x03\x03" + b"e" * 300_000, from_client=False, reorder=True, retransmit=[5])
    (flow,) = run(conv.packets).flows
    assert (flow.transport, flow.app, flow.sni, flow.tls_server_version) == (
        "tls",
        "tls",
        "bulk.example",
        0x0304,
    )
    assert flow.bytes_s2c == len(tls.build_server_hello(0x0304)) + 300_003


def test_tunnelled_traffic_is_analyzed_inside_vxlan_and_gtp(run: Analyze) -> None:
    inner = web().handshake().send(GET)
    packets = []
    for i, p in enumerate(inner.packets):
        vxlan = b"\x08\x00\x00\x00\x00\x01\x00\x00" + p.data
        outer = factory.ETHERNET.frame(
            factory.ipv4(factory.udp(50000, 4789, vxlan), "192.0.2.10", "192.0.2.20", 17), True
        )
        packets.append(Packet(p.ts, outer))
        ip_packet = p.data[14:]
        gtp = bytes([0x30, 0xFF]) + len(ip_packet).to_bytes(2, "big") + b"\x00\x00\x00\x01" + ip_packet
        outer = factory.ETHERNET.frame(
            factory.ipv4(factory.udp(2152, 2152, gtp), "192.0.2.30", "192.0.2.40", 17), True
        )
        packets.append(Packet(p.ts + 0.0001 * i, outer))
    analysis = run(packets)
    inner = [f for f in analysis.flows if f.proto == "tcp"]
    # The same inner flow through two carriers is one flow per carrier, each saying where it went.
    assert [(f.http_host, f.tunnel.kind if f.tunnel else None) for f in inner] == [
        ("example.com", "vxlan"),
        ("example.com", "gtp-u"),
    ]
    assert [f.first_frame for f in inner] == [1, 2]


@st.composite
def damaged_captures(draw: st.DrawFn) -> bytes:
    conv = web().handshake().send(GET).send(tls.build_client_hello("x.example"))
    query = UdpConversation(("10.0.0.2", 5000), ("10.0.0.1", 53)).send(dns.build_query("q.example"))
    data = bytearray(factory.pcapng_bytes(conv.packets + query.packets))
    for _ in range(draw(st.integers(1, 12))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@settings(
    max_examples=60,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(damaged_captures())
def test_damaged_captures_never_crash_the_analyzer(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.pcapng"
    path.write_bytes(data)
    try:
        analysis = analyze(path, hash_files=False)
    except CaptureError:  # only "this is not a capture" may escape
        return
    for flow in analysis.flows:
        assert flow.first_frame <= flow.last_frame


def test_capture_starting_inside_tls_application_data_is_tls(run: Analyze) -> None:
    conv = TcpConversation(CLIENT, ("203.0.113.7", 443)).handshake()
    conv.send(tls.build_client_hello("x.example")).send(
        b"\x17\x03\x03\x10\x00" + b"e" * 4096, from_client=False
    )
    conv.send(b"\x17\x03\x03\x10\x00" + b"f" * 4096, from_client=False)
    (flow,) = run(conv.packets[-3:]).flows  # the last record, from its header on
    assert (flow.transport, flow.app, flow.src) == ("tls", "tls", "10.0.0.2")
    assert flow.bytes_s2c == 4101


def test_dns_over_tcp_queries_carry_their_own_timestamps(run: Analyze) -> None:
    query = dns.build_query("late.example")
    conv = (
        TcpConversation(CLIENT, ("10.0.0.1", 53), step=1.0)
        .handshake()
        .send(len(query).to_bytes(2, "big") + query)
    )
    (flow,) = run(conv.packets).flows
    assert flow.dns_queries[0].ts == conv.packets[-1].ts


def test_offloaded_64k_frames_without_ip_length_are_read_whole(run: Analyze) -> None:
    body = b"x" * 60000
    request = http.build_request("POST", "/big", {"Host": "gro.example"}, body)
    conv = web(mss=65000).handshake().send(request)
    last = conv.packets[-1]
    frame = bytearray(last.data)
    frame[16:18] = b"\x00\x00"  # a GRO/TSO frame as captured on veth: IPv4 total length 0
    conv.packets[-1] = Packet(last.ts, bytes(frame))
    (flow,) = run(conv.packets).flows
    assert flow.http_requests[0].body == body
    assert flow.bytes_c2s == len(request)


def test_source_macs_are_counted_per_frame_and_the_first_frame_gives_the_flows_dst_mac(run: Analyze) -> None:
    conv = web().handshake().send(GET)
    spoofed = web(link=Link(client_mac="02:00:00:00:00:99"), ts=conv.ts).send(b"more")
    analysis = run(
        conv.packets + spoofed.packets + web(link=factory.SLL, ts=spoofed.ts + 1000).handshake().packets
    )
    assert analysis.macs == {"02:00:00:00:00:01": 5, "02:00:00:00:00:fe": 2, "02:00:00:00:00:99": 1}
    assert (analysis.flows[0].src_mac, analysis.flows[0].dst_mac) == (
        "02:00:00:00:00:01",
        "02:00:00:00:00:fe",
    )


def test_distinct_macs_are_bounded_and_the_rest_counted(run: Analyze) -> None:
    frames = [
        Packet(
            1.0,
            factory.ethernet(
                b"x", 0x88B5, src=f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}", dst="ff:ff:ff:ff:ff:ff"
            ),
        )
        for i in range(flowtable.MAX_MACS + 5)
    ]
    analysis = run(frames)
    assert len(analysis.macs) == flowtable.MAX_MACS
    assert analysis.stats.macs_dropped == 5


def test_the_clock_going_back_is_counted_across_rotated_files(tmp_path: Path) -> None:
    conv = web(step=0.5).handshake().send(GET).close()
    packets = conv.packets
    stepped = [*packets[:3], Packet(packets[3].ts - 30, packets[3].data), *packets[4:5]]
    late = [Packet(p.ts - 10, p.data) for p in packets[5:]]
    first, second = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    first.write_bytes(factory.pcapng_bytes(stepped))
    second.write_bytes(factory.pcapng_bytes(late))
    analysis = analyze([first, second])
    assert analysis.stats.clock_steps == 2
    assert analysis.stats.largest_clock_step == pytest.approx(29.5)
    assert any("clock went back 2 times" in w for w in analysis.warnings)


def test_a_small_backward_jitter_is_not_a_clock_step(run: Analyze) -> None:
    conv = web().handshake()
    conv.packets[1] = Packet(conv.packets[0].ts - 0.5, conv.packets[1].data)
    assert run(conv.packets).stats.clock_steps == 0


def test_bytes_after_a_short_udp_length_are_kept_and_counted(
    run: Analyze, recorder: RecordingObserver
) -> None:
    datagram = bytearray(factory.udp(40000, 9999, b"declared"))
    packet = factory.ipv4(bytes(datagram) + b"HIDDEN-IMEI", "10.0.0.2", "203.0.113.9", 17)
    padded = factory.ipv4(bytes(datagram) + bytes(6), "10.0.0.2", "203.0.113.9", 17)
    analysis = run(
        [
            Packet(1.0, factory.ETHERNET.frame(packet, True)),
            Packet(2.0, factory.ETHERNET.frame(padded, True)),
        ],
        observer=recorder,
    )
    assert recorder.stream(0, True) == b"declaredHIDDEN-IMEI" + b"declared"
    assert analysis.stats.malformed == {"udp-length-short": 1}


@st.composite
def random_frames(draw: st.DrawFn) -> list[Packet]:
    linktypes = st.sampled_from([1, 101, 113, 276, 0, 9, 12, 147])
    frames = []
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            data = draw(st.binary(max_size=120))
        else:
            proto = draw(st.sampled_from([1, 4, 6, 17, 41, 47, 50, 58, 132, 255]))
            body = draw(st.binary(max_size=80))
            if kind == 2 and proto in (4, 41, 47):
                body = (factory.gre(b"") if proto == 47 else b"") + draw(st.binary(max_size=60))
            build = factory.ipv6 if proto in (41, 58) and kind == 3 else factory.ipv4
            src, dst = ("2001:db8::1", "2001:db8::2") if build is factory.ipv6 else ("10.0.0.1", "10.0.0.2")
            data = factory.ETHERNET.frame(build(body, src, dst, proto), draw(st.booleans()))
            if draw(st.booleans()):
                cut = draw(st.integers(0, len(data)))
                data = data[:cut]
        ts = 100.0 + draw(st.floats(-5, 5, allow_nan=False))
        frames.append(
            Packet(
                ts + i,
                data,
                linktype=1 if kind else draw(linktypes),
                orig_len=len(data) + draw(st.integers(0, 3)),
            )
        )
    return frames


@settings(
    max_examples=100,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(random_frames())
def test_the_packet_loop_never_raises_on_random_frames(tmp_path: Path, frames: list[Packet]) -> None:
    path = tmp_path / "random.pcapng"
    path.write_bytes(factory.pcapng_bytes(frames))
    observer = RecordingObserver()
    analysis = analyze(path, observer=observer, hash_files=False)
    assert sorted(observer.ended) == [f.id for f in analysis.flows]
    for flow in analysis.flows:
        assert flow.first_frame <= flow.last_frame
    doc = to_dict(analysis)
    assert doc["stats"]["frames"] == len(frames)


def test_a_retransmission_with_other_bytes_is_an_anomaly_and_reaches_on_content(
    run: Analyze, recorder: RecordingObserver
) -> None:
    conv = web().handshake()
    first = b"POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\nIMEI=00000"
    conv.segment(0x18, first)
    hidden = b"IMEI=49015"
    conv.segment(0x18, hidden, seq=1001 + len(first) - len(hidden))  # the same offsets, other bytes
    for observer in (recorder, None):
        (flow,) = run(conv.packets, observer=observer).flows
        assert flow.anomalies == [
            f"overlapping retransmission with different bytes at offset {len(first) - len(hidden)}, frame 5"
        ]
        assert flow.http_requests[0].body == b"IMEI=00000"
    ((flow_id, from_client, content),) = recorder.contents
    assert (flow_id, from_client) == (0, True)
    assert (content.chain, content.data, content.offset, content.frame, content.exact) == (
        "tcp-overlap",
        hidden,
        len(first) - len(hidden),
        5,
        True,
    )


def test_anomalies_per_flow_are_bounded_and_all_overlaps_counted(
    run: Analyze, recorder: RecordingObserver
) -> None:
    conv = web().handshake().send(b"x" * 100)
    for i in range(20):
        conv.segment(0x18, bytes([i]) * 10, seq=1001)
    analysis = run(conv.packets, observer=recorder)
    assert len(analysis.flows[0].anomalies) == 8
    assert analysis.stats.malformed == {"tcp-overlap-different": 20}
    assert len(recorder.contents) == 20
