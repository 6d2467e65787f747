"""TLS read to its last record: cleartext in the framing, every ClientHello, the hello as content."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, http, tls
from phonehome.traffic.factory import RecordingObserver, TcpConversation
from phonehome.traffic.tls_records import SSLV2, Cleartext, HandshakeMessage, RecordWalker

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)
SERVER = ("198.51.100.2", 443)


def record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


def walk(stream: bytes, piece: int = 0, from_client: bool = True) -> list[object]:
    walker = RecordWalker(0, from_client=from_client)
    step = piece or len(stream) or 1
    events: list[object] = []
    for i in range(0, len(stream), step):
        events += walker.feed(i, stream[i : i + step])
    return events


@pytest.mark.parametrize("piece", [0, 1, 3, 7, 100])
def test_client_hellos_come_out_whole_however_the_stream_is_cut(piece: int) -> None:
    message = tls.build_client_hello_message("a.example")
    stream = tls.as_records(message, 3) + record(23, os.urandom(40)) + tls.as_records(message, 1)
    hellos = [e for e in walk(stream, piece) if isinstance(e, HandshakeMessage)]
    assert [h.data for h in hellos] == [message, message]
    assert hellos[1].offset == len(tls.as_records(message, 3)) + 45


def test_bytes_that_form_no_record_are_reported_to_the_end() -> None:
    hello = tls.build_client_hello("a.example")
    events = walk(hello + b"GET /imei=1 HTTP/1.1\r\n" + record(23, os.urandom(30)), 5)
    cleartext = [e for e in events if isinstance(e, Cleartext)]
    assert sum(c.length for c in cleartext) == 22 + 35
    assert cleartext[0] == Cleartext(len(hello), 5, "not-records")


def test_an_application_data_record_that_reads_as_text_is_reported() -> None:
    text = record(23, b"imei=356938035643809&serial=ABC")
    events = walk(record(23, os.urandom(64)) + text + record(23, b"short text"))
    assert events == [Cleartext(69, len(text), "text-record")]


def test_a_record_over_the_size_limit_loses_the_framing() -> None:
    events = walk(b"\x17\x03\x03\xff\xff" + bytes(10))
    assert events == [Cleartext(0, 15, "not-records")]


def test_an_sslv2_hello_is_read_and_then_records_follow() -> None:
    body = b"\x01\x03\x01\x00\x03\x00\x00\x00\x10" + b"\x00\x00\x2f" + bytes(16)
    stream = bytes([0x80 | (len(body) >> 8), len(body) & 0xFF]) + body + record(23, os.urandom(20))
    (hello,) = walk(stream, 2)
    assert isinstance(hello, HandshakeMessage)
    assert (hello.msg_type, hello.data) == (SSLV2, body)


def test_encrypted_handshake_records_are_skipped_not_mistaken() -> None:
    finished = record(22, b"\x99" + os.urandom(39))
    assert walk(tls.build_server_hello(0x0303) + finished, 3, from_client=False)[1:] == []


def test_a_gap_stops_the_walker() -> None:
    walker = RecordWalker(0, from_client=True)
    walker.feed(0, record(23, os.urandom(10))[:8])
    assert walker.feed(20, b"plain text after a hole") == []
    assert walker.gap


# -- through the analyzer ----------------------------------------------------------------------------------


def test_cleartext_after_a_valid_client_hello_counts_and_its_requests_too(
    run: Analyze, recorder: RecordingObserver
) -> None:
    hello = tls.build_client_hello("declared.example")
    request = http.build_request("POST", "/r", {"Host": "undeclared.example"}, b"imei=356938035643809")
    conv = TcpConversation(HANDSET, SERVER).handshake().send(hello).send(request).close()
    (flow,) = run(conv.packets, observer=recorder).flows
    assert flow.transport == "tls"
    assert flow.cleartext_in_tls == len(request)
    assert flow.anomalies
    assert recorder.stream(0, True) == hello + request
    assert [r.body for _, r in recorder.requests] == [b"imei=356938035643809"]
    assert ("undeclared.example", "http-host") in [(c.name, c.source) for c in flow.claims]


def test_text_framed_as_application_data_counts_without_an_observer(run: Analyze) -> None:
    text = record(23, b'{"imei":"356938035643809","model":"X"}')
    conv = TcpConversation(HANDSET, SERVER).handshake().send(tls.build_client_hello("a.example") + text)
    (flow,) = run(conv.packets).flows
    assert flow.cleartext_in_tls == len(text)


def test_ciphertext_is_not_cleartext(run: Analyze) -> None:
    conv = TcpConversation(HANDSET, SERVER).handshake().send(tls.build_client_hello("a.example"))
    for _ in range(20):
        conv.send(record(23, os.urandom(300)))
    conv.send(tls.build_server_hello(0x0304) + record(23, os.urandom(3000)), from_client=False)
    (flow,) = run(conv.packets, observer=RecordingObserver()).flows
    assert (flow.cleartext_in_tls, flow.anomalies, flow.tls_server_version) == (0, [], 0x0304)


def test_tls_records_from_the_first_byte_without_a_hello_are_still_checked(run: Analyze) -> None:
    text = record(23, b"serial=ABCDEF0123456789 imei=356938035643809")
    conv = TcpConversation(HANDSET, SERVER).handshake().send(text)
    (flow,) = run(conv.packets).flows
    assert flow.transport == "tls"
    assert flow.cleartext_in_tls == len(text)


def test_the_whole_client_hello_reaches_the_observer_as_content(
    run: Analyze, recorder: RecordingObserver
) -> None:
    message = tls.build_client_hello_message("a.example", extra_extensions=[(0xFFAA, b"356938035643809")])
    stream = tls.as_records(message, 4)
    conv = TcpConversation(HANDSET, SERVER, mss=100).handshake().send(stream)
    run(conv.packets, observer=recorder)
    ((_, from_client, content),) = recorder.contents
    assert (from_client, content.chain, content.data, content.offset) == (True, "tls-clienthello", message, 0)


def test_an_unknown_protocol_that_starts_like_a_handshake_is_unknown(run: Analyze) -> None:
    conv = TcpConversation(HANDSET, SERVER).handshake().send(b"\x16\x03\x01\x00\x10\x02" + bytes(15))
    (flow,) = run(conv.packets).flows
    assert flow.transport == "unknown"
