"""What a FlowObserver is told: unencrypted bytes in order, HTTP requests, and every flow's end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from phonehome.traffic import Analysis, dns, factory, http, quic, sessions, tls
from phonehome.traffic.analyzer import Engine
from phonehome.traffic.factory import RecordingObserver, TcpConversation, UdpConversation, interleave
from phonehome.traffic.flow import Flow, HttpRequest
from phonehome.traffic.pcapfile import open_capture

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)


def test_cleartext_bytes_arrive_in_order_with_offsets_and_frames(
    run: Analyze, recorder: RecordingObserver
) -> None:
    request = http.build_request("POST", "/x", {"Host": "a.example"}, b"imei=123456789012345")
    response = b"HTTP/1.1 204 No Content\r\n\r\n"
    conv = TcpConversation(HANDSET, ("198.51.100.1", 80), mss=10).handshake().send(request, reorder=True)
    conv.send(response, from_client=False).close()
    run(conv.packets, observer=recorder)
    assert recorder.stream(0, True) == request
    assert recorder.stream(0, False) == response
    frames = [p[4] for p in recorder.payload if p[1]]
    assert all(1 <= f <= len(conv.packets) for f in frames)
    ((flow_id, req),) = recorder.requests
    assert (flow_id, req.body) == (0, b"imei=123456789012345")
    assert recorder.ended == [0]


def test_tls_flows_give_every_byte_both_ways(run: Analyze, recorder: RecordingObserver) -> None:
    hello = tls.build_client_hello("secret-sni.example", records=2)
    first = hello + b"\x17\x03\x03\x00\x05ABCDE"
    conv = TcpConversation(HANDSET, ("198.51.100.2", 443)).handshake().send(first)
    answer = tls.build_server_hello(0x0304) + b"\x17\x03\x03\x00\x04wxyz"
    conv.send(answer, from_client=False)
    conv.send(b"\x17\x03\x03\x00\x05FGHIJ")
    run(conv.packets, observer=recorder)
    assert recorder.stream(0, True) == first + b"\x17\x03\x03\x00\x05FGHIJ"
    assert recorder.stream(0, False) == answer


def test_quic_datagrams_all_reach_the_observer_and_the_hello_as_content(
    run: Analyze, recorder: RecordingObserver
) -> None:
    conv = UdpConversation(HANDSET, ("198.51.100.3", 443))
    datagrams = quic.build_initial("q.example", split=2)
    for datagram in datagrams:
        conv.send(datagram)
    conv.send(b"\x40" + bytes(50), from_client=False).send(b"\x41short-header")
    run(conv.packets, observer=recorder)
    assert recorder.stream(0, True) == b"".join(datagrams) + b"\x41short-header"
    assert recorder.stream(0, False) == b"\x40" + bytes(50)
    ((flow_id, from_client, content),) = recorder.contents
    assert (flow_id, from_client, content.chain, content.offset) == (0, True, "quic-clienthello", 0)
    assert content.data[0] == 1
    assert b"q.example" in content.data
    assert recorder.ended == [0]


def test_unknown_and_dns_udp_payload_is_given_per_datagram(run: Analyze, recorder: RecordingObserver) -> None:
    query = dns.build_query("leak-123456789012345.example")
    conv = UdpConversation(HANDSET, ("198.51.100.4", 53)).send(query)
    other = (
        UdpConversation(("10.0.0.2", 41001), ("198.51.100.5", 9999))
        .send(b"one")
        .send(b"two")
        .send(b"back", from_client=False)
    )
    run(interleave(conv.packets, other.packets), observer=recorder)
    assert recorder.payload[0][1:4] == (True, 0, query)
    assert recorder.stream(1, True) == b"onetwo"
    assert recorder.stream(1, False) == b"back"


def test_unknown_tcp_payload_is_streamed_whole(run: Analyze, recorder: RecordingObserver) -> None:
    blob = bytes(range(256)) * 100
    conv = (
        TcpConversation(HANDSET, ("198.51.100.6", 5228))
        .handshake()
        .send(blob, reorder=True, retransmit=[2, 9])
    )
    (flow,) = run(conv.packets, observer=recorder).flows
    assert flow.transport == "unknown"
    assert recorder.stream(0, True) == blob


def test_a_tiny_first_segment_is_classified_once_more_arrives(
    run: Analyze, recorder: RecordingObserver
) -> None:
    request = http.build_request("GET", "/p", {"Host": "tiny.example"})
    conv = TcpConversation(HANDSET, ("198.51.100.7", 80)).handshake().send(request[:2]).send(request[2:])
    (flow,) = run(conv.packets, observer=recorder).flows
    assert flow.http_host == "tiny.example"
    assert recorder.stream(0, True) == request


def test_every_flow_ends_once_idle_ones_before_the_capture_ends(
    run: Analyze, recorder: RecordingObserver
) -> None:
    early = UdpConversation(("10.0.0.2", 40000), ("198.51.100.8", 53), ts=1000.0).send(
        dns.build_query("a.example")
    )
    tcp = (
        TcpConversation(HANDSET, ("198.51.100.9", 80), ts=1001.0).handshake().send(b"GET / HTTP/1.1\r\n\r\n")
    )
    late = UdpConversation(("10.0.0.2", 40001), ("198.51.100.8", 53), ts=2000.0).send(
        dns.build_query("b.example")
    )
    analysis = run(early.packets + tcp.packets + late.packets, observer=recorder)
    assert sorted(recorder.ended) == [f.id for f in analysis.flows]
    assert recorder.ended.index(0) < recorder.ended.index(2)  # the idle DNS flow ended before the last one


def _engine_after(tmp_path: Path, conv: TcpConversation, observer: RecordingObserver | None) -> Engine:
    path = tmp_path / "c.pcapng"
    path.write_bytes(factory.pcapng_bytes(conv.packets))
    engine = Engine(observer)
    reader = open_capture(path)
    engine.run(reader)
    reader.finish()
    return engine


def test_without_an_observer_unrecognised_payload_is_only_counted(tmp_path: Path) -> None:
    conv = (
        TcpConversation(HANDSET, ("198.51.100.11", 7000))
        .handshake()
        .send(b"\x00binary" * 1000)
        .send(b"r" * 10, from_client=False)
    )
    engine = _engine_after(tmp_path, conv, None)
    (state,) = engine.table.active.values()
    assert state.c2s.stream is not None
    assert state.c2s.stream.deliver is None
    assert state.s2c.stream is not None
    assert state.s2c.stream.deliver is None
    engine.finish()
    assert (engine.flows[0].bytes_c2s, engine.flows[0].bytes_s2c) == (7000, 10)


def test_with_an_observer_unrecognised_payload_keeps_flowing(tmp_path: Path) -> None:
    conv = TcpConversation(HANDSET, ("198.51.100.11", 7000)).handshake().send(b"\x00binary" * 1000)
    engine = _engine_after(tmp_path, conv, RecordingObserver())
    (state,) = engine.table.active.values()
    assert state.c2s.stream is not None
    assert state.c2s.stream.deliver is not None


def test_without_an_observer_tls_flows_stop_reassembling_after_both_hellos(tmp_path: Path) -> None:
    conv = (
        TcpConversation(HANDSET, ("198.51.100.12", 443)).handshake().send(tls.build_client_hello("a.example"))
    )
    conv.send(b"\x17\x03\x03\x40\x00" + bytes(16384) * 5, from_client=True)
    conv.send(tls.build_server_hello(0x0303) + b"\x16\x03\x03" + b"c" * 3000, from_client=False)
    engine = _engine_after(tmp_path, conv, None)
    (state,) = engine.table.active.values()
    assert state.c2s.stream is not None
    assert state.c2s.stream.deliver is None
    assert state.s2c.stream is not None
    assert state.s2c.stream.deliver is None


def test_with_an_observer_tls_flows_are_reassembled_to_the_end(tmp_path: Path) -> None:
    conv = (
        TcpConversation(HANDSET, ("198.51.100.12", 443)).handshake().send(tls.build_client_hello("a.example"))
    )
    conv.send(tls.build_server_hello(0x0303) + b"\x16\x03\x03" + b"c" * 3000, from_client=False)
    engine = _engine_after(tmp_path, conv, RecordingObserver())
    (state,) = engine.table.active.values()
    assert state.c2s.stream is not None
    assert state.c2s.stream.deliver is not None
    assert state.s2c.stream is not None
    assert state.s2c.stream.deliver is not None


def test_flow_state_is_released_when_flows_end(tmp_path: Path) -> None:
    packets = []
    for i in range(50):
        conv = TcpConversation(
            ("10.0.0.2", 30000 + i), ("198.51.100.10", 443), ts=1000.0 + i * 100
        ).handshake()
        conv.send(tls.build_client_hello(f"n{i}.example")).send(
            b"\x17\x03\x03" + b"x" * 5000, from_client=False
        ).close()
        packets += conv.packets
    path = tmp_path / "many.pcapng"
    path.write_bytes(factory.pcapng_bytes(packets))
    engine = Engine()
    reader = open_capture(path)
    engine.run(reader)
    reader.finish()
    assert len(engine.table.active) <= 2  # closed flows were swept as the capture went on
    assert len(engine.table.tcp) <= 4
    engine.finish()
    assert [f.sni for f in engine.flows] == [f"n{i}.example" for i in range(50)]


class BodySeer(RecordingObserver):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        self.bodies.append(request.body)


def test_request_bodies_beyond_the_budget_reach_the_observer_but_are_not_kept(
    run: Analyze, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "BODY_BUDGET", 1500)
    conv = TcpConversation(HANDSET, ("198.51.100.13", 80)).handshake()
    for i in range(3):
        conv.send(http.build_request("POST", f"/{i}", {"Host": "b.example"}, bytes([65 + i]) * 1000))
    seer = BodySeer()
    analysis = run(conv.packets, observer=seer)
    assert seer.bodies == [b"A" * 1000, b"B" * 1000, b"C" * 1000]
    assert [r.body for r in analysis.flows[0].http_requests] == [b"A" * 1000, b"", b""]
    assert [r.body_truncated for r in analysis.flows[0].http_requests] == [False, True, True]
    assert analysis.stats.http_bodies_dropped == 2
    assert any("not kept" in w for w in analysis.warnings)
