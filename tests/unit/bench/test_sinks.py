"""The sinks' conversations as playbooks of chunks: HTTP answered, ClientHellos kept whole, the rest
counted and hashed, everything kept bounded; records round-trip; statistics become the capture's problems."""

from __future__ import annotations

import hashlib
import socket
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.bench import sinks
from phonehome.bench.sink_talk import HEAD_BYTES, HTTP_HEAD_MAX, NO_CONTENT, TLS_ALERT, Conversation
from phonehome.bench.sinks import SinkRecord, orig_dst, problems, read_records
from phonehome.traffic.tls import build_client_hello


def play(*chunks: bytes) -> tuple[Conversation, bytes]:
    talk = Conversation()
    answer = b"".join(talk.feed(chunk) for chunk in chunks)
    return talk, answer


def split(data: bytes, step: int) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


FIRST = b"POST /reg HTTP/1.1\r\nHost: zzhc.vnet.cn\r\nContent-Length: 9\r\n\r\nIMEI=1234"
SECOND = b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n"
CHUNKED = (
    b"POST /u HTTP/1.1\r\nHost: up.example\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'7\r\n{"a":1}\r\n3;ext=1\r\n\r\n\r\r\n0\r\nX-Trailer: 1\r\n\r\n'
)


def test_each_pipelined_http_request_gets_a_204_and_its_head_is_kept() -> None:
    talk, answer = play(FIRST[:20], FIRST[20:] + SECOND)
    assert talk.heard.kind == "http"
    assert talk.heard.http_heads == [
        "POST /reg HTTP/1.1\r\nHost: zzhc.vnet.cn\r\nContent-Length: 9",
        "GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com",
    ]
    assert answer == NO_CONTENT * 2
    assert talk.heard.bytes_received == len(FIRST + SECOND)


def test_a_chunked_body_is_skipped_and_never_read_as_a_request_however_it_is_split() -> None:
    whole = FIRST + CHUNKED + SECOND
    for step in range(1, 24):
        talk, answer = play(*split(whole, step))
        assert answer == NO_CONTENT * 3, step
        assert [h.split(" ")[1] for h in talk.heard.http_heads] == ["/reg", "/u", "/generate_204"], step


def test_a_clienthello_split_over_records_and_segments_is_kept_whole_and_refused() -> None:
    hello = build_client_hello("activation.example.com", alpn=["h2"], records=3)
    for step in (1, 7, 300, len(hello)):
        talk, answer = play(*split(hello, step))
        assert talk.heard.kind == "tls"
        assert talk.heard.client_hello == hello
        assert answer == TLS_ALERT
        assert talk.done


def test_other_bytes_are_counted_and_hashed_in_full_but_only_their_start_is_kept() -> None:
    payload = b"\x00binary" * 100_000
    talk, answer = play(*split(payload, 65536))
    assert talk.heard.kind == "raw"
    assert talk.heard.bytes_received == len(payload)
    assert talk.heard.head == payload[:HEAD_BYTES]
    assert talk.sha256 == hashlib.sha256(payload).hexdigest()
    assert answer == b""


def test_a_request_head_that_never_ends_is_not_buffered_without_bound() -> None:
    talk, answer = play(b"GET /" + b"a" * (4 * HTTP_HEAD_MAX), b"\r\n\r\n")
    assert answer == b""
    assert talk.heard.http_heads == []
    assert len(talk._http) <= HTTP_HEAD_MAX


def test_thousands_of_requests_on_one_connection_keep_only_the_first_heads() -> None:
    talk, answer = play(SECOND * 1000)
    assert answer == NO_CONTENT * 1000
    assert talk.heard.http_requests == 1000
    assert len(talk.heard.http_heads) == 256


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), max_size=8),
    st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"\x16\x03\x01"]),
)
def test_any_client_bytes_are_heard_without_raising_and_kept_bounded(
    chunks: list[bytes], prefix: bytes
) -> None:
    talk, _ = play(prefix, *chunks)
    assert talk.heard.bytes_received == len(prefix) + sum(map(len, chunks))
    assert len(talk.heard.head) <= HEAD_BYTES
    assert len(talk._http) <= HTTP_HEAD_MAX + 4


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
        sha256="ab" * 32,
        closed_by="sink: idle for 10 s",
        http_requests=0,
    )
    path = tmp_path / "sinks.jsonl"
    path.write_text(record.to_json() + "\n" + record.to_json()[:40])
    assert read_records(path) == [record]
    assert read_records(tmp_path / "absent.jsonl") == []


def test_records_written_before_the_reference_fields_still_read() -> None:
    old = (
        '{"bytes_received": 3, "client": ["172.16.0.5", 1], "client_hello": null, "dst": ["203.0.113.9", 80], '
        '"end": 2.0, "head": "YWJj", "http_heads": [], "kind": "raw", "proto": "tcp", "ts": 1.0}'
    )
    record = SinkRecord.from_json(old)
    assert (record.head, record.sha256, record.datagrams) == (b"abc", "", 1)


def write_stats(tmp_path: Path, **fields: object) -> Path:
    import json

    stats = {"limits": {"per_source": 512, "max_connections": 4096, "transcript_bytes": 256 << 20}, **fields}
    (tmp_path / sinks.STATS_NAME).write_text(json.dumps(stats) + "\n")
    return tmp_path


def test_quiet_statistics_are_no_problem(tmp_path: Path) -> None:
    assert problems(write_stats(tmp_path, accepted=12, idle_closed=3, udp_datagrams=40)) == []


def test_every_kind_of_loss_is_a_problem_of_its_own(tmp_path: Path) -> None:
    found = problems(
        write_stats(
            tmp_path,
            refused=1,
            cut={"evicted at the per-source limit (512)": 88},
            listen_drops=5,
            udp_dropped=7,
            udp_datagrams=93,
            transcript_capped=True,
            records_not_written=11,
        )
    )
    assert len(found) == 5
    assert "cut 88 connection(s): evicted at the per-source limit (512)" in found[1]
    assert "dropped 7 of 100 datagrams" in found[3]
    assert "reached its cap (disk.transcripts_mb: 256 MB): 11 record(s)" in found[4]


def test_missing_statistics_are_a_problem_not_a_silence(tmp_path: Path) -> None:
    (found,) = problems(tmp_path)
    assert "no statistics" in found
