"""HTTP/2 in clear: HPACK-coded headers and DATA bodies become requests the policy can read."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hpack import Encoder

from phonehome.traffic import Analysis, http
from phonehome.traffic.factory import RecordingObserver, TcpConversation
from phonehome.traffic.h2 import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    PADDED,
    PREFACE,
    SETTINGS,
    H2RequestReader,
    build_frame,
)

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)
SERVER = ("198.51.100.50", 80)
IMEI = "356938035643809"


def request_frames(
    encoder: Encoder, stream_id: int, authority: str, body: bytes = b"", *, split: bool = False
) -> bytes:
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", authority),
        (":path", "/v1/register"),
        ("x-device-imei", IMEI),
    ]
    block = encoder.encode(headers, huffman=True)
    flags = 0 if body else END_STREAM
    if split:
        out = build_frame(HEADERS, flags, stream_id, block[:5])
        out += build_frame(CONTINUATION, END_HEADERS, stream_id, block[5:])
    else:
        out = build_frame(HEADERS, flags | END_HEADERS, stream_id, block)
    if body:
        half = len(body) // 2
        out += build_frame(DATA, PADDED, stream_id, bytes([3]) + body[:half] + b"pad")
        out += build_frame(DATA, END_STREAM, stream_id, body[half:])
    return out


def client_stream(*authorities: str) -> bytes:
    encoder = Encoder()
    out = PREFACE + build_frame(SETTINGS, 0, 0, b"")
    for i, authority in enumerate(authorities):
        out += request_frames(encoder, 1 + 2 * i, authority, b"imei=" + IMEI.encode(), split=i == 0)
    return out


@pytest.mark.parametrize("piece", [0, 1, 7])
def test_requests_come_out_with_decoded_headers_and_bodies(piece: int) -> None:
    stream = client_stream("api.example", "other.example:8080")
    assert IMEI.encode() not in stream.split(b"imei=")[0]  # Huffman hides the header value
    reader = H2RequestReader(0)
    step = piece or len(stream)
    requests = []
    for i in range(0, len(stream), step):
        requests += reader.feed(i, stream[i : i + step], 1 + i // step)
    assert [(r.method, r.target, r.version, r.host) for r in requests] == [
        ("POST", "/v1/register", "HTTP/2", "api.example"),
        ("POST", "/v1/register", "HTTP/2", "other.example"),
    ]
    assert ("x-device-imei", IMEI) in requests[0].headers
    assert [r.body for r in requests] == [b"imei=" + IMEI.encode()] * 2
    assert reader.anomaly is None


def test_a_bad_header_block_stops_the_reader_with_a_reason() -> None:
    stream = PREFACE + build_frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff")
    reader = H2RequestReader(0)
    assert reader.feed(0, stream, 1) == []
    assert reader.stopped
    assert reader.anomaly is not None


def test_a_missing_preface_stops_the_reader() -> None:
    reader = H2RequestReader(0)
    reader.feed(0, b"GET / HTTP/1.1\r\n\r\n" + bytes(20), 1)
    assert reader.stopped


def test_bodies_past_the_limit_go_on_in_pieces() -> None:
    encoder = Encoder()
    body = b"z" * 5000 + IMEI.encode() + b"z" * 5000
    stream = PREFACE + request_frames(encoder, 1, "a.example", body)
    reader = H2RequestReader(0, body_limit=1024)
    (request,) = reader.feed(0, stream, 1)
    assert request.body_truncated
    assert len(request.body) == 1024
    assert any(IMEI.encode() in p.data for p in reader.take_pieces())


def test_prior_knowledge_h2c_gives_requests_and_h2_authority_claims(
    run: Analyze, recorder: RecordingObserver
) -> None:
    stream = client_stream("declared.example", "undeclared.example")
    conv = TcpConversation(HANDSET, SERVER).handshake().send(stream).close()
    (flow,) = run(conv.packets, observer=recorder).flows
    assert (flow.app, flow.transport) == ("h2c", "cleartext")
    assert [r.host for _, r in recorder.requests] == ["declared.example", "undeclared.example"]
    assert [(c.name, c.source) for c in flow.claims] == [
        ("declared.example", "h2-authority"),
        ("undeclared.example", "h2-authority"),
    ]
    assert recorder.stream(0, True) == stream


def test_an_h2c_upgrade_hands_over_to_the_frame_reader(run: Analyze) -> None:
    upgrade = http.build_request(
        "GET", "/", {"Host": "up.example", "Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c"}
    )
    conv = TcpConversation(HANDSET, SERVER).handshake().send(upgrade)
    conv.send(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", from_client=False)
    conv.send(client_stream("next.example")).close()
    (flow,) = run(conv.packets).flows
    assert flow.app == "h2c"
    assert [(r.version, r.host) for r in flow.http_requests] == [
        ("HTTP/1.1", "up.example"),
        ("HTTP/2", "next.example"),
    ]


def test_a_broken_h2c_stream_is_an_anomaly(run: Analyze) -> None:
    stream = PREFACE + build_frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff")
    conv = TcpConversation(HANDSET, SERVER).handshake().send(stream).close()
    (flow,) = run(conv.packets).flows
    assert any("HTTP/2" in a for a in flow.anomalies)
