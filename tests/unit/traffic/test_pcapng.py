"""pcapng: interfaces with their own link types and clocks, comments, statistics, odd blocks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import factory
from phonehome.traffic.factory import Packet
from phonehome.traffic.pcapfile import open_capture


def read(tmp_path: Path, data: bytes) -> tuple[object, list[tuple[float, int, bytes, int]]]:
    path = tmp_path / "c.pcapng"
    path.write_bytes(data)
    reader = open_capture(path)
    packets = list(reader.packets())
    reader.finish()
    return reader, packets


@pytest.mark.parametrize("big_endian", [False, True])
def test_packets_of_several_interfaces_keep_their_link_types(tmp_path: Path, big_endian: bool) -> None:
    packets = [
        Packet(10.5, b"e" * 60, linktype=1),
        Packet(11.25, b"\x45" + b"r" * 39, linktype=101),
        Packet(12.0, b"s" * 44, linktype=113),
        Packet(13.0, b"e2" * 30, linktype=1, interface=7),
    ]
    reader, got = read(tmp_path, factory.pcapng_bytes(packets, big_endian=big_endian))
    assert [(p[1], p[2]) for p in got] == [(p.linktype, p.data) for p in packets]
    assert [p[0] for p in got] == pytest.approx([10.5, 11.25, 12.0, 13.0])
    assert reader.info.link_types == [1, 101, 113, 1]  # type: ignore[attr-defined]
    assert reader.info.format == "pcapng"  # type: ignore[attr-defined]


def test_interface_timestamp_resolution_is_honoured(tmp_path: Path) -> None:
    _, got = read(tmp_path, factory.pcapng_bytes([Packet(1_700_000_000.123456789, b"x" * 20)], tsresol=9))
    assert got[0][0] == pytest.approx(1_700_000_000.123456789, abs=1e-6)


def test_comments_are_kept_with_their_frame_numbers(tmp_path: Path) -> None:
    packets = [Packet(1.0, b"a" * 20), Packet(2.0, b"b" * 20, comment="phase: consent")]
    reader, _ = read(tmp_path, factory.pcapng_bytes(packets, comment="bench run 42"))
    assert reader.info.comments == [(None, "bench run 42"), (2, "phase: consent")]  # type: ignore[attr-defined]


def test_interface_statistics_report_drops(tmp_path: Path) -> None:
    reader, _ = read(tmp_path, factory.pcapng_bytes([Packet(1.0, b"a" * 20)], drops={0: 17}))
    assert reader.info.drops == 17  # type: ignore[attr-defined]


def test_without_statistics_drops_are_unknown(tmp_path: Path) -> None:
    reader, _ = read(tmp_path, factory.pcapng_bytes([Packet(1.0, b"a" * 20)]))
    assert reader.info.drops is None  # type: ignore[attr-defined]


def test_simple_packet_blocks_are_read(tmp_path: Path) -> None:
    _, got = read(
        tmp_path, factory.pcapng_bytes([Packet(1.0, b"abc" * 7), Packet(2.0, b"z" * 5)], simple=True)
    )
    assert [p[2] for p in got] == [b"abc" * 7, b"z" * 5]


def test_unknown_blocks_are_skipped(tmp_path: Path) -> None:
    data = factory.pcapng_bytes([Packet(1.0, b"a" * 20), Packet(2.0, b"b" * 20)])
    shb_len = struct.unpack_from("<I", data, 4)[0]
    idb_len = struct.unpack_from("<I", data, shb_len + 4)[0]
    custom = struct.pack("<II", 0x80000001, 20) + b"\x00" * 8 + struct.pack("<I", 20)
    cut = shb_len + idb_len
    _, got = read(tmp_path, data[:cut] + custom + data[cut:])
    assert [p[2] for p in got] == [b"a" * 20, b"b" * 20]


def test_a_second_section_starts_its_own_interfaces(tmp_path: Path) -> None:
    first = factory.pcapng_bytes([Packet(1.0, b"a" * 20, linktype=1)])
    second = factory.pcapng_bytes([Packet(2.0, b"\x45" + b"b" * 19, linktype=101)], big_endian=True)
    _, got = read(tmp_path, first + second)
    assert [(p[1], p[2][:1]) for p in got] == [(1, b"a"), (101, b"\x45")]


def test_block_with_impossible_length_ends_the_file_as_damaged(tmp_path: Path) -> None:
    data = bytearray(factory.pcapng_bytes([Packet(1.0, b"a" * 20), Packet(2.0, b"b" * 20)]))
    last_epb = len(data) - (12 + 20 + 20)
    struct.pack_into("<I", data, last_epb + 4, 7)
    reader, got = read(tmp_path, bytes(data))
    assert len(got) == 1
    assert reader.info.truncated  # type: ignore[attr-defined]
    assert "impossible length" in reader.warnings[0]  # type: ignore[attr-defined]


def test_file_cut_inside_a_block_keeps_what_came_before(tmp_path: Path) -> None:
    data = factory.pcapng_bytes([Packet(1.0, b"a" * 20), Packet(2.0, b"b" * 20)])
    reader, got = read(tmp_path, data[:-6])
    assert len(got) == 1
    assert reader.info.truncated  # type: ignore[attr-defined]


def test_packet_for_an_undescribed_interface_is_skipped_with_a_warning(tmp_path: Path) -> None:
    data = bytearray(factory.pcapng_bytes([Packet(1.0, b"a" * 20)]))
    last_epb = len(data) - (12 + 20 + 20)
    struct.pack_into("<I", data, last_epb + 8, 5)
    reader, got = read(tmp_path, bytes(data))
    assert got == []
    assert "never described" in reader.warnings[0]  # type: ignore[attr-defined]


def test_gzip_compressed_pcapng_is_read(tmp_path: Path) -> None:
    _, got = read(tmp_path, factory.pcapng_bytes([Packet(1.0, b"a" * 20)], compress=True))
    assert got[0][2] == b"a" * 20


def _raw_pcapng(hi: int, lo: int, tsresol: int, tsoffset: int) -> bytes:
    """One Ethernet interface with these clock options and one packet with this 64-bit timestamp."""

    def option(code: int, value: bytes) -> bytes:
        return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)

    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    options = option(9, bytes([tsresol])) + option(14, struct.pack("<q", tsoffset)) + option(0, b"")
    idb_len = 20 + len(options)
    idb = struct.pack("<IIHHI", 1, idb_len, 1, 0, 65535) + options + struct.pack("<I", idb_len)
    data = b"\x00" * 20
    epb = struct.pack("<7I", 6, 52, 0, hi, lo, len(data), len(data)) + data + struct.pack("<I", 52)
    return shb + idb + epb


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hi=st.integers(0, 0xFFFFFFFF),
    lo=st.integers(0, 0xFFFFFFFF),
    tsresol=st.integers(0, 12) | st.integers(0x80, 0xA0) | st.integers(0, 255),
    tsoffset=st.sampled_from([0, 1, -1, 1_700_000_000]) | st.integers(-(1 << 63), (1 << 63) - 1),
)
def test_a_timestamp_is_its_exact_64_bit_count_times_the_unit_plus_the_offset(
    tmp_path: Path, hi: int, lo: int, tsresol: int, tsoffset: int
) -> None:
    # The reader computes it in floats (hi * 2**32 + lo rounds as the exact count converted does);
    # any clock a capture claims, hostile ones included, gives what the exact formula gives.
    unit = float(2 ** -(tsresol & 0x7F)) if tsresol & 0x80 else float(10**-tsresol)
    _, got = read(tmp_path, _raw_pcapng(hi, lo, tsresol, tsoffset))
    assert [p[0] for p in got] == [((hi << 32) | lo) * unit + tsoffset]


def test_a_block_over_the_limit_is_damage_whether_the_file_is_mapped_or_streamed(tmp_path: Path) -> None:
    # A plain file is walked in one mapping, a compressed one in pieces: a packet block longer than
    # MAX_BLOCK must end both the same way, not be read from the one and refused from the other.
    from phonehome.traffic import pcapng

    packets = [Packet(1.0, b"a" * 20), Packet(2.0, b"b" * (pcapng.MAX_BLOCK + 4)), Packet(3.0, b"c" * 20)]
    results = []
    for compress in (False, True):
        reader, got = read(tmp_path, factory.pcapng_bytes(packets, compress=compress))
        results.append(([p[2][:1] for p in got], reader.info.truncated, reader.warnings))  # type: ignore[attr-defined]
    assert results[0] == results[1]
    assert results[0][:2] == ([b"a"], True)
    assert "impossible length" in results[0][2][0]
