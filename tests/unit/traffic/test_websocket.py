"""WebSocket: masked, fragmented, compressed messages come out as the application wrote them."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import pytest

from phonehome.traffic import Analysis, http, websocket
from phonehome.traffic.factory import RecordingObserver, TcpConversation
from phonehome.traffic.websocket import WebSocketReader, build_frame, deflate_message

Analyze = Callable[..., Analysis]
HANDSET = ("10.0.0.2", 41000)
SERVER = ("198.51.100.40", 80)
IMEI = b"356938035643809"
UPGRADE = http.build_request(
    "GET",
    "/ws",
    {
        "Host": "push.example",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Extensions": "permessage-deflate",
    },
)
MASK = b"\x37\xfa\x21\x3d"


def read(stream: bytes, piece: int = 0, from_client: bool = True) -> list[tuple[str, bytes]]:
    reader = WebSocketReader(0, from_client=from_client)
    step = piece or len(stream)
    out = []
    for i in range(0, len(stream), step):
        out += reader.feed(i, stream[i : i + step])
    out += reader.finish()
    return [(m.kind, m.data) for m in out]


@pytest.mark.parametrize("piece", [0, 1, 5])
def test_masked_fragmented_messages_are_unmasked_and_joined(piece: int) -> None:
    stream = (
        build_frame(b'{"imei":"35693', 1, fin=False, mask=MASK)
        + build_frame(b"ping!", 9, mask=MASK)
        + build_frame(b'8035643809"}', 0, mask=MASK)
    )
    assert IMEI not in stream
    assert read(stream, piece) == [("ping", b"ping!"), ("text", b'{"imei":"356938035643809"}')]


def test_permessage_deflate_messages_are_inflated_with_context_takeover() -> None:
    comp = zlib.compressobj(wbits=-15)
    one = build_frame(deflate_message(b"hello " * 20, comp), 2, rsv1=True, mask=MASK)
    two = build_frame(deflate_message(b"imei=" + IMEI, comp), 2, rsv1=True, mask=MASK)
    assert read(one + two, 3) == [("binary", b"hello " * 20), ("binary", b"imei=" + IMEI)]


def test_long_messages_come_out_in_overlapping_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"x" * 2000 + IMEI + b"y" * 3000
    reader = WebSocketReader(0, from_client=False, limit=1024)
    pieces = [m.data for m in reader.feed(0, build_frame(payload, 2)) + reader.finish()]
    assert len(pieces) > 3
    assert any(IMEI in p for p in pieces)
    assert sum(len(p) for p in pieces) >= len(payload)


def test_a_decompression_bomb_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "INFLATE_LIMIT", 1 << 16)
    bomb = build_frame(deflate_message(bytes(10 << 20)), 2, rsv1=True)
    reader = WebSocketReader(0, from_client=False)
    total = sum(len(m.data) for m in reader.feed(0, bomb) + reader.finish())
    assert total <= 1 << 17
    assert reader.anomalies
    assert not reader.deflate_ok


def test_reserved_opcodes_and_garbage_deflate_are_passed_on_raw() -> None:
    stream = build_frame(b"secret", 3, mask=MASK) + build_frame(b"\xff\xfe not deflate", 1, rsv1=True)
    assert read(stream) == [("binary", b"secret"), ("text", b"\xff\xfe not deflate")]


def test_a_websocket_upgrade_hands_the_stream_to_the_frame_reader_even_after_a_204(
    run: Analyze, recorder: RecordingObserver
) -> None:
    frames = build_frame(b"imei=" + IMEI, 1, mask=MASK) + build_frame(b"bye", 8, mask=MASK)
    conv = TcpConversation(HANDSET, SERVER).handshake().send(UPGRADE)
    conv.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False).send(frames).close()
    (flow,) = run(conv.packets, observer=recorder).flows
    assert flow.app == "websocket"
    contents = [(c.chain, c.data, c.offset) for _, client, c in recorder.contents if client]
    assert contents == [
        ("websocket:text", b"imei=" + IMEI, len(UPGRADE)),
        ("websocket:close", b"bye", len(UPGRADE) + len(frames) - 9),
    ]
    assert recorder.stream(0, True) == UPGRADE + frames


def test_server_frames_after_a_101_are_read(run: Analyze, recorder: RecordingObserver) -> None:
    switching = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    conv = TcpConversation(HANDSET, SERVER).handshake().send(UPGRADE)
    conv.send(switching + build_frame(deflate_message(b"welcome"), 1, rsv1=True), from_client=False).close()
    run(conv.packets, observer=recorder)
    assert [(c.chain, c.data) for _, client, c in recorder.contents if not client] == [
        ("websocket:text", b"welcome")
    ]


def test_a_client_that_goes_on_in_http_after_a_refused_upgrade_stays_http(run: Analyze) -> None:
    second = http.build_request("GET", "/next", {"Host": "push.example"})
    conv = TcpConversation(HANDSET, SERVER).handshake().send(UPGRADE)
    conv.send(b"HTTP/1.1 400 Bad\r\n\r\n", from_client=False).send(second).close()
    (flow,) = run(conv.packets, observer=RecordingObserver()).flows
    assert flow.app == "http"
    assert [r.target for r in flow.http_requests] == ["/ws", "/next"]


def test_a_message_of_many_final_deflate_blocks_is_read_without_recursion() -> None:
    blocks = b"\x03\x00" * 40000 + deflate_message(b"tail")
    stream = build_frame(blocks, 2, rsv1=True)
    assert read(stream) == [("binary", b"tail")]
