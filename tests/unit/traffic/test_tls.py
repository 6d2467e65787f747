"""TLS handshakes from a TCP stream: the ClientHello (SNI, ALPN, versions, suites, ECH) and the version chosen."""

from __future__ import annotations

import struct

import pytest

from phonehome.traffic import tls
from phonehome.traffic.tls import (
    HandshakeReader,
    ReadState,
    build_client_hello,
    build_client_hello_message,
    build_server_hello,
    find_client_hello,
    parse_client_hello,
)


def read(stream: bytes, from_client: bool = True, piece: int = 0) -> HandshakeReader:
    reader = HandshakeReader(from_client)
    step = piece or len(stream) or 1
    for start in range(0, max(1, len(stream)), step):
        reader.feed(stream[start : start + step])
    return reader


def test_client_hello_gives_sni_alpn_versions_and_suites() -> None:
    stream = build_client_hello("API.Example.COM.", alpn=("h2", "http/1.1"), cipher_suites=(0x1301, 0xC02F))
    reader = read(stream)
    assert reader.state is ReadState.DONE
    assert reader.consumed == len(stream)
    hello = reader.hello
    assert hello is not None
    assert hello.sni == "api.example.com"
    assert hello.alpn == ["h2", "http/1.1"]
    assert hello.legacy_version == 0x0303
    assert hello.versions == [0x0304, 0x0303]
    assert hello.cipher_suites == [0x1301, 0xC02F]
    assert not hello.ech


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(b"a\xc3\xa9b.com", "a\ufffd\ufffdb.com"), (b"x\x01y.com", "x\x01y.com"), (b"UPPER.com.", "upper.com")],
)
def test_sni_bytes_render_as_tshark_4_shows_them(raw: bytes, shown: str) -> None:
    # Checked against tshark 4.0.17 on crafted ClientHellos: ASCII, each high byte one U+FFFD.
    hello = read(build_client_hello(raw)).hello
    assert hello is not None
    assert hello.sni == shown


def test_grease_values_are_removed_from_suites_and_versions() -> None:
    hello = read(build_client_hello("g.example", grease=True)).hello
    assert hello is not None
    assert not any(tls.is_grease(v) for v in hello.cipher_suites + hello.versions)
    assert hello.cipher_suites == list(tls.DEFAULT_SUITES)
    assert tls.is_grease(0x7A7A)
    assert not tls.is_grease(0x7A7B)


def test_ech_extension_is_reported() -> None:
    hello = read(build_client_hello("public.example", ech=True)).hello
    assert hello is not None
    assert hello.ech
    assert hello.sni == "public.example"


def test_client_hello_split_over_records_and_segments_is_reassembled() -> None:
    stream = build_client_hello("split.example", records=5)
    assert stream.count(b"\x16\x03\x01") >= 5
    reader = read(stream, piece=7)
    assert reader.state is ReadState.DONE
    assert reader.hello is not None
    assert reader.hello.sni == "split.example"


def test_huge_client_hello_over_many_records_is_read() -> None:
    stream = build_client_hello("huge.example", padding=60000)
    assert len(stream) > 3 * (1 << 14)
    reader = read(stream, piece=1448)
    assert reader.hello is not None
    assert reader.hello.sni == "huge.example"
    assert reader.consumed == len(stream)


def test_handshake_over_the_limit_gives_up_without_buffering_it() -> None:
    reader = HandshakeReader(True, limit=1000)
    assert reader.feed(build_client_hello("big.example", padding=5000)) is ReadState.DONE
    assert reader.hello is None
    assert reader.error is not None
    assert "limit" in reader.error


def test_bytes_after_the_hello_are_not_consumed() -> None:
    stream = build_client_hello("a.example") + b"\x14\x03\x03\x00\x01\x01"
    reader = read(stream)
    assert reader.consumed == len(stream) - 6


@pytest.mark.parametrize(
    "start",
    [b"G", b"GET / HTTP/1.1\r\n", b"\x16\x02", b"\x16\x03\x09", b"\x16\x03\x01\x00\x10\x02", b"SSH-2.0-"],
)
def test_other_protocols_are_not_tls_from_the_first_bytes(start: bytes) -> None:
    assert HandshakeReader(True).feed(start) is ReadState.NOT_TLS


def test_a_prefix_of_a_record_needs_more() -> None:
    reader = HandshakeReader(True)
    assert reader.feed(b"\x16") is ReadState.NEED_MORE
    assert reader.feed(b"\x03\x01") is ReadState.NEED_MORE


def test_server_hello_gives_tls13_from_supported_versions() -> None:
    reader = read(build_server_hello(0x0304), from_client=False, piece=3)
    assert reader.state is ReadState.DONE
    assert reader.server_version == 0x0304


def test_server_hello_without_supported_versions_gives_the_legacy_version() -> None:
    assert read(build_server_hello(0x0301), from_client=False).server_version == 0x0301


def test_server_side_does_not_take_a_client_hello() -> None:
    assert HandshakeReader(False).feed(build_client_hello("x.example")) is ReadState.NOT_TLS


def test_a_non_handshake_record_before_the_hello_is_done_without_one() -> None:
    message = build_client_hello_message("x.example")
    stream = tls.as_records(message[:10]) + b"\x17\x03\x03\x00\x02ab" + tls.as_records(message[10:])
    reader = read(stream)
    assert reader.state is ReadState.DONE
    assert reader.hello is None


def test_sslv2_compatible_client_hello_gives_version_and_suites() -> None:
    specs = bytes.fromhex("010080") + bytes.fromhex("00002f") + bytes.fromhex("000035")
    body = b"\x01" + struct.pack("!HHHH", 0x0301, len(specs), 0, 16) + specs + bytes(16)
    stream = bytes([0x80 | (len(body) >> 8), len(body) & 0xFF]) + body
    reader = read(stream, piece=4)
    assert reader.state is ReadState.DONE
    assert reader.hello is not None
    assert (reader.hello.legacy_version, reader.hello.cipher_suites, reader.hello.sni) == (
        0x0301,
        [0x002F, 0x0035],
        None,
    )


def test_proxy_protocol_header_before_the_hello_is_skipped() -> None:
    header = b"PROXY TCP4 11.111.11.111 222.222.222.22 52176 443\r\n"
    reader = read(header + build_client_hello("behind.haproxy.example"), piece=5)
    assert reader.hello is not None
    assert reader.hello.sni == "behind.haproxy.example"
    assert reader.proxy_header == len(header)
    v2 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes(12)
    assert read(v2 + build_client_hello("v2.example")).hello.sni == "v2.example"  # type: ignore[union-attr]


def test_client_hello_cut_inside_its_extensions_keeps_what_precedes() -> None:
    message = build_client_hello_message("cut.example", alpn=("h2",))
    hello = parse_client_hello(message[4:-20])
    assert hello is not None
    assert hello.sni == "cut.example"
    assert parse_client_hello(message[4:30]) is None


def test_client_hello_found_inside_a_datagram_after_another_header() -> None:
    # RDP over UDP carries TLS records after its own header (default__rdp2.pcap).
    datagram = bytes.fromhex("0014c101f40164e0640001") + build_client_hello("win-8qso0d3okbi.example")
    hello = find_client_hello(datagram)
    assert hello is not None
    assert hello.sni == "win-8qso0d3okbi.example"
    assert find_client_hello(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01") is None
    assert find_client_hello(bytes(100)) is None
