"""Hostile bytes into readers, link layers and IP: they end, they never raise anything but their own errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import factory, ip, link
from phonehome.traffic.factory import Packet
from phonehome.traffic.pcapfile import CaptureError, open_capture

FUZZ = settings(
    max_examples=150,
    deadline=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SAMPLE = [
    Packet(
        1.0,
        factory.ETHERNET.frame(factory.ipv4(factory.udp(1, 53, b"abc"), "10.0.0.1", "10.0.0.2", 17), True),
    ),
    Packet(2.0, b"\x45" + b"\x00" * 39, linktype=101, comment="note"),
    Packet(3.0, b"x" * 70, linktype=113),
]


def read_everything(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.cap"
    path.write_bytes(data)
    try:
        reader = open_capture(path, hash_file=False)
    except CaptureError:
        return
    count = sum(1 for _ in reader.packets())
    info = reader.finish()
    assert count == info.packets
    assert info.bytes <= len(data) * 1032  # bounded by the input (deflate expands at most ~1032:1)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: len(data) - cut // 4])


@FUZZ
@given(st.binary(max_size=400))
def test_pcap_header_then_garbage(tmp_path: Path, tail: bytes) -> None:
    read_everything(tmp_path, factory.pcap_bytes([]) + tail)


@FUZZ
@given(st.binary(max_size=400))
def test_pcapng_section_then_garbage(tmp_path: Path, tail: bytes) -> None:
    read_everything(tmp_path, factory.pcapng_bytes([]) + tail)


@FUZZ
@given(mutated(factory.pcapng_bytes(SAMPLE, drops={0: 3})))
def test_damaged_pcapng(tmp_path: Path, data: bytes) -> None:
    read_everything(tmp_path, data)


@FUZZ
@given(mutated(factory.pcap_bytes(SAMPLE[:1] * 3, nanosecond=True, big_endian=True)))
def test_damaged_pcap(tmp_path: Path, data: bytes) -> None:
    read_everything(tmp_path, data)


@FUZZ
@given(mutated(factory.pcap_bytes(SAMPLE[:1] * 3, compress=True)))
def test_damaged_gzip(tmp_path: Path, data: bytes) -> None:
    read_everything(tmp_path, data)


@FUZZ
@given(st.sampled_from(sorted(link.SUPPORTED | {147})), st.binary(max_size=120))
def test_link_decode_of_any_bytes_returns_an_offset_inside_the_frame_or_a_code(
    linktype: int, frame: bytes
) -> None:
    etype, off = link.decode(linktype, frame)
    if etype >= 0:
        assert 0 <= off <= len(frame)
    link.macs(linktype, frame)


@FUZZ
@given(st.sampled_from([link.ETHERTYPE_IPV4, link.ETHERTYPE_IPV6]), st.binary(max_size=200))
def test_ip_parse_of_any_bytes_returns_a_packet_a_fragment_or_malformed(etype: int, data: bytes) -> None:
    try:
        result = ip.parse(data, 0, etype)
    except ip.Malformed as exc:
        reason = exc.reason
        assert reason
        return
    if isinstance(result, tuple):
        _, src, dst, buf, start, end, cut = result
        assert len(src) in (4, 16)
        assert len(dst) == len(src)
        assert start >= 0
        assert end <= len(buf)
        assert cut >= 0


@FUZZ
@given(st.binary(min_size=20, max_size=200))
def test_ip_parse_of_valid_headers_with_garbage_bodies(body: bytes) -> None:
    for packet in (factory.ipv4(body, "10.0.0.1", "10.0.0.2", 47), factory.ipv6(body, "::1", "::2", 0)):
        with contextlib.suppress(ip.Malformed):
            ip.parse(packet, 0, link.ETHERTYPE_IPV4 if packet[0] >> 4 == 4 else link.ETHERTYPE_IPV6)
