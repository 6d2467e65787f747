"""The application-layer parsers on hostile input: never raise, bounded, independent of segmentation."""

from __future__ import annotations

import itertools
import tempfile
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import analyze, dhcp, factory, socks, tls
from phonehome.traffic.factory import RecordingObserver, TcpConversation
from phonehome.traffic.h2 import PREFACE, H2RequestReader
from phonehome.traffic.h2 import build_frame as h2_frame
from phonehome.traffic.starttls import StartTlsReader, banner_app, client_app
from phonehome.traffic.tls_records import RECORD_MAX, RecordWalker
from phonehome.traffic.websocket import WebSocketReader, build_frame, deflate_message

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
cuts = st.lists(st.integers(0, 4000), max_size=8)


def pieces(stream: bytes, at: list[int]) -> list[tuple[int, bytes]]:
    bounds = sorted({0, len(stream), *(c for c in at if c <= len(stream))})
    return [(a, stream[a:b]) for a, b in itertools.pairwise(bounds)]


def mutate(data: st.DataObject, stream: bytes) -> bytes:
    out = bytearray(stream)
    for _ in range(data.draw(st.integers(0, 8))):
        if out:
            out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
    return bytes(out)


@FUZZ
@given(st.binary(max_size=4000), cuts, st.booleans())
def test_the_record_walker_never_raises_and_holds_little(stream: bytes, at: list[int], client: bool) -> None:
    walker = RecordWalker(0, from_client=client, limit=4096)
    for offset, piece in pieces(stream, at):
        for event in walker.feed(offset, piece):
            assert event.offset >= 0
        assert len(walker._message) <= 4096 + 4
        assert len(walker._head) < 5


@FUZZ
@given(st.data(), cuts)
def test_the_record_walker_reads_mutated_tls_the_same_however_cut(data: st.DataObject, at: list[int]) -> None:
    stream = mutate(
        data, tls.build_client_hello("a.example", records=2) + b"\x17\x03\x03\x00\x20" + bytes(32)
    )
    whole = RecordWalker(0, from_client=True).feed(0, stream)
    walker = RecordWalker(0, from_client=True)
    cut = [e for o, p in pieces(stream, at) for e in walker.feed(o, p)]
    assert [type(e).__name__ for e in whole if type(e).__name__ == "HandshakeMessage"] == [
        type(e).__name__ for e in cut if type(e).__name__ == "HandshakeMessage"
    ]
    assert sum(getattr(e, "length", 0) for e in whole) == sum(getattr(e, "length", 0) for e in cut)
    assert RECORD_MAX < 1 << 15


@FUZZ
@given(st.binary(max_size=3000), cuts, st.booleans())
def test_the_websocket_reader_never_raises(stream: bytes, at: list[int], client: bool) -> None:
    reader = WebSocketReader(0, from_client=client, limit=1024)
    total = 0
    for offset, piece in pieces(stream, at):
        total += sum(len(m.data) for m in reader.feed(offset, piece))
    total += sum(len(m.data) for m in reader.finish())
    assert total <= 2 * len(stream) + (16 << 20)


@FUZZ
@given(st.data(), st.lists(st.binary(max_size=300), min_size=1, max_size=4), cuts)
def test_websocket_messages_survive_any_segmentation(
    data: st.DataObject, messages: list[bytes], at: list[int]
) -> None:
    comp = zlib.compressobj(wbits=-15)
    stream = b"".join(build_frame(deflate_message(m, comp), 2, rsv1=True, mask=b"abcd") for m in messages)
    reader = WebSocketReader(0, from_client=True)
    out = [m.data for o, p in pieces(stream, at) for m in reader.feed(o, p)]
    assert out == [m for m in messages if m]  # empty messages hold nothing to scan
    mutated = mutate(data, stream)
    WebSocketReader(0, from_client=True).feed(0, mutated)


@FUZZ
@given(st.binary(max_size=3000), cuts)
def test_the_h2_reader_never_raises(stream: bytes, at: list[int]) -> None:
    reader = H2RequestReader(0, body_limit=1024)
    for offset, piece in pieces(PREFACE + stream, at):
        for request in reader.feed(offset, piece, 1):
            assert len(request.body) <= 1024
        assert len(reader._buf) <= (1 << 20) + 9 + len(piece)
    reader.finish()


@FUZZ
@given(st.binary(max_size=600))
def test_socks_starttls_and_dhcp_never_raise(stream: bytes) -> None:
    socks.looks_like_socks(stream)
    socks.parse_socks(stream)
    socks.parse_socks(b"\x05" + stream)
    socks.parse_socks(b"\x04\x01" + stream)
    client_app(stream, "imap")
    banner_app(stream)
    for app in ("smtp", "imap", "pop3", "xmpp"):
        StartTlsReader(app, 0).feed(0, stream)
    dhcp.parse_dhcpv4(stream, from_client=True, frame=1, offset=0)
    dhcp.parse_dhcpv6(stream, from_client=True, frame=1, offset=0)
    dhcp.parse_dhcpv6(b"\x0c" + stream, from_client=True, frame=1, offset=0)


@FUZZ
@given(st.data())
def test_mutated_dhcp_messages_never_raise_and_spans_stay_inside(data: st.DataObject) -> None:
    v4 = mutate(data, dhcp.build_dhcpv4(3, "02:00:00:00:00:01", hostname="h", options=((52, b"\x03"),)))
    v6 = mutate(data, dhcp.build_dhcpv6(1, "02:00:00:00:00:01", fqdn="a.b"))
    cut = data.draw(st.integers(0, len(v4)))
    for message in (
        dhcp.parse_dhcpv4(v4, from_client=True, frame=1, offset=0),
        dhcp.parse_dhcpv4(v4[:cut], from_client=True, frame=1, offset=0),
        dhcp.parse_dhcpv6(v6, from_client=True, frame=1, offset=0),
    ):
        if message is not None:
            assert all(0 <= a < b <= max(len(v4), len(v6)) for a, b in message.link_spans)


PARTS = st.sampled_from(
    [
        tls.build_client_hello("a.example"),
        b"\x17\x03\x03\x00\x10" + b"plain text here!",
        b"GET / HTTP/1.1\r\nHost: h.example\r\nUpgrade: websocket\r\n\r\n",
        b"CONNECT t.example:443 HTTP/1.1\r\n\r\n",
        build_frame(b"imei", 1, mask=b"abcd"),
        PREFACE,
        socks.build_socks5("s.example", 443),
        b"EHLO x\r\nSTARTTLS\r\n",
        b"<stream:stream to='x.example'><starttls/>",
        b"\x00\x01\x02",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(PARTS, st.binary(min_size=1, max_size=200)), min_size=1, max_size=6),
    st.lists(st.one_of(PARTS, st.binary(min_size=1, max_size=200)), max_size=3),
    st.sampled_from([80, 443, 25, 1080, 5222, 7000]),
    st.integers(20, 1460),
)
def test_every_byte_reaches_the_observer_whatever_the_protocol_switches(
    client: list[bytes], server: list[bytes], port: int, mss: int
) -> None:
    conv = TcpConversation(("10.0.0.2", 40000), ("198.51.100.9", port), mss=mss).handshake()
    for i, part in enumerate(client):
        conv.send(part)
        if i < len(server):
            conv.send(server[i], from_client=False)
    conv.close()
    recorder = RecordingObserver()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.pcapng"
        path.write_bytes(factory.pcapng_bytes(conv.packets))
        analysis = analyze(path, observer=recorder)
    assert recorder.stream(0, True) == b"".join(client)
    assert recorder.stream(0, False) == b"".join(server[: len(client)])
    assert len(analysis.flows[0].anomalies) <= 8


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 255), st.integers(0, 5), st.binary(max_size=200)),
        max_size=12,
    )
)
def test_the_h2_reader_survives_any_frames_and_header_blocks(
    frames: list[tuple[int, int, int, bytes]],
) -> None:
    stream = PREFACE + b"".join(h2_frame(t, f, sid, p) for t, f, sid, p in frames)
    reader = H2RequestReader(0, body_limit=256)
    requests = reader.feed(0, stream, 1) + reader.finish()
    assert all(len(r.body) <= 256 for r in requests)
