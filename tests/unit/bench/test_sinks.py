"""The sinks' conversations over socket pairs: HTTP answered, ClientHellos kept whole, the rest counted."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.bench import sinks
from phonehome.bench.sinks import KEEP_BYTES, NO_CONTENT, TLS_ALERT, SinkRecord, orig_dst, read_records
from phonehome.traffic.tls import build_client_hello


def converse(*chunks: bytes) -> tuple[SinkRecord, bytes]:
    """Plays ``chunks`` as the handset against a sink; returns the sink's record and what it answered."""
    handset, sink = socket.socketpair()
    record = SinkRecord("tcp", ("172.16.0.50", 40000), ("203.0.113.1", 80), 0.0, 0.0, 0, b"")

    def sink_side() -> None:
        sinks._converse(sink, record, threading.Event())
        sink.shutdown(socket.SHUT_WR)  # as _connection's close does

    thread = threading.Thread(target=sink_side)
    thread.start()
    for chunk in chunks:
        try:
            handset.sendall(chunk)
        except BrokenPipeError:  # the sink ended the conversation (after a ClientHello)
            break
    handset.shutdown(socket.SHUT_WR)
    answer = b""
    handset.settimeout(5)
    while data := handset.recv(65536):
        answer += data
    thread.join(5)
    handset.close()
    sink.close()
    return record, answer


def test_each_pipelined_http_request_gets_a_204_and_its_head_is_kept() -> None:
    first = b"POST /reg HTTP/1.1\r\nHost: zzhc.vnet.cn\r\nContent-Length: 9\r\n\r\nIMEI=1234"
    second = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n"
    record, answer = converse(first[:20], first[20:] + second)
    assert record.kind == "http"
    assert record.http_heads == [
        "POST /reg HTTP/1.1\r\nHost: zzhc.vnet.cn\r\nContent-Length: 9",
        "GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com",
    ]
    assert answer == NO_CONTENT * 2
    assert record.bytes_received == len(first + second)


def test_a_clienthello_split_over_records_and_segments_is_kept_whole_and_refused() -> None:
    hello = build_client_hello("activation.example.com", alpn=["h2"], records=3)
    record, answer = converse(hello[:7], hello[7:300], hello[300:])
    assert record.kind == "tls"
    assert record.client_hello == hello
    assert record.sni == "activation.example.com"
    assert record.hello is not None
    assert record.hello.alpn == ["h2"]
    assert answer == TLS_ALERT


def test_other_bytes_are_counted_in_full_and_kept_up_to_the_limit() -> None:
    payload = b"\x00binary" * (KEEP_BYTES // 4)
    record, answer = converse(payload)
    assert record.kind == "raw"
    assert record.bytes_received == len(payload)
    assert record.head == payload[:KEEP_BYTES]
    assert answer == b""


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=6))
def test_any_client_bytes_end_in_a_record_without_raising(chunks: list[bytes]) -> None:
    record, _ = converse(*chunks)
    assert record.bytes_received <= sum(map(len, chunks))


def test_original_destinations_come_from_ipv4_and_ipv6_control_data() -> None:
    v4 = struct.pack("!HH4s8x", socket.AF_INET, 443, socket.inet_aton("198.51.100.7"))
    assert orig_dst([(socket.SOL_IP, sinks.IP_RECVORIGDSTADDR, v4)]) == ("198.51.100.7", 443)
    v6 = struct.pack(
        "!HHI16sI", socket.AF_INET6, 8443, 0, socket.inet_pton(socket.AF_INET6, "2001:db8::5"), 0
    )
    assert orig_dst([(socket.IPPROTO_IPV6, sinks.IPV6_RECVORIGDSTADDR, v6)]) == ("2001:db8::5", 8443)
    assert orig_dst([(socket.SOL_IP, sinks.IP_RECVORIGDSTADDR, b"\x02\x00")]) is None


def test_records_round_trip_and_a_line_cut_by_a_kill_is_skipped(tmp_path: Path) -> None:
    record = SinkRecord(
        "tcp",
        ("172.16.0.5", 1),
        ("203.0.113.9", 443),
        1.5,
        2.5,
        3,
        b"\x16\x03\x01",
        "tls",
        [],
        b"\x16\x03\x01",
    )
    path = tmp_path / "sinks.jsonl"
    path.write_text(record.to_json() + "\n" + record.to_json()[:40])
    assert read_records(path) == [record]
    assert read_records(tmp_path / "absent.jsonl") == []
