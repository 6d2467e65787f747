"""Capture files: both pcap timestamp resolutions and byte orders, gzip, and every way a file can be bad."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import time
from pathlib import Path

import pytest

from phonehome.traffic import factory, pcapfile
from phonehome.traffic.factory import Packet
from phonehome.traffic.pcapfile import CHUNK, CaptureError, CaptureReader, open_capture

PACKETS = [
    Packet(1_700_000_000.123456, b"\x01" * 60),
    Packet(1_700_000_001.5, b"\x02" * 1514),
    Packet(1_700_000_002.000001, b"\x03" * 42),
]


def read_all(path: Path) -> tuple[CaptureReader, list[tuple[float, int, bytes, int]]]:
    reader = open_capture(path)
    packets = list(reader.packets())
    reader.finish()
    return reader, packets


def write(tmp_path: Path, data: bytes, name: str = "c.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_yields_packets_with_timestamps_in_any_byte_order_and_resolution(
    tmp_path: Path, nanosecond: bool, big_endian: bool
) -> None:
    path = write(tmp_path, factory.pcap_bytes(PACKETS, nanosecond=nanosecond, big_endian=big_endian))
    reader, packets = read_all(path)
    assert [p[2] for p in packets] == [p.data for p in PACKETS]
    assert [p[0] for p in packets] == pytest.approx([p.ts for p in PACKETS], abs=1e-6)
    assert {p[1] for p in packets} == {1}
    assert reader.info.format == "pcap"
    assert (reader.info.packets, reader.info.bytes) == (3, 60 + 1514 + 42)
    assert not reader.info.truncated


def test_pcap_nanosecond_timestamps_keep_sub_microsecond_digits(tmp_path: Path) -> None:
    path = write(tmp_path, factory.pcap_bytes([Packet(1_600_000_000.000000250, b"x" * 20)], nanosecond=True))
    _, packets = read_all(path)
    assert packets[0][0] - 1_600_000_000 == pytest.approx(250e-9, abs=1e-7)


def test_original_length_is_kept_when_the_snap_length_cut_a_frame(tmp_path: Path) -> None:
    path = write(tmp_path, factory.pcap_bytes([Packet(1.0, b"a" * 96, orig_len=1514)]))
    _, packets = read_all(path)
    assert (len(packets[0][2]), packets[0][3]) == (96, 1514)


def test_gzip_compressed_capture_reads_like_the_plain_one_and_hashes_the_file_on_disk(tmp_path: Path) -> None:
    data = factory.pcap_bytes(PACKETS, compress=True)
    path = write(tmp_path, data, "c.pcap.gz")
    reader, packets = read_all(path)
    assert [p[2] for p in packets] == [p.data for p in PACKETS]
    assert reader.info.compressed
    assert reader.info.sha256 == hashlib.sha256(data).hexdigest()
    assert reader.info.size == len(data)


def test_records_spanning_read_chunks_are_whole(tmp_path: Path) -> None:
    big = [Packet(float(i), bytes([i % 251]) * 60000) for i in range(2 * CHUNK // 60000 + 3)]
    path = write(tmp_path, factory.pcap_bytes(big))
    _, packets = read_all(path)
    assert [p[2] for p in packets] == [p.data for p in big]


def test_file_cut_inside_a_record_gives_the_packets_before_it_and_a_warning(tmp_path: Path) -> None:
    data = factory.pcap_bytes(PACKETS)
    path = write(tmp_path, data[:-10])
    reader, packets = read_all(path)
    assert len(packets) == 2
    assert reader.info.truncated
    assert "ends inside a record" in reader.warnings[0]
    assert str(path) in reader.warnings[0]


def test_record_claiming_an_impossible_length_stops_the_file_as_damaged(tmp_path: Path) -> None:
    data = bytearray(factory.pcap_bytes(PACKETS))
    first = 24 + 16 + 60
    struct.pack_into("<I", data, first + 8, 0x7FFFFFFF)
    reader, packets = read_all(write(tmp_path, bytes(data)))
    assert len(packets) == 1
    assert reader.info.truncated


def test_truncated_gzip_stream_is_a_truncated_capture_not_a_crash(tmp_path: Path) -> None:
    data = gzip.compress(factory.pcap_bytes(PACKETS * 50), mtime=0)
    reader, packets = read_all(write(tmp_path, data[: len(data) // 2], "c.pcap.gz"))
    assert reader.info.truncated
    assert 0 < len(packets) < 150


def test_modified_pcap_with_longer_record_headers_is_read(tmp_path: Path) -> None:
    header = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 10, 0, 20, 20) + b"\x00" * 8 + b"z" * 20
    _, packets = read_all(write(tmp_path, header + record))
    assert packets[0][2] == b"z" * 20


def test_link_type_field_upper_bits_do_not_change_the_link_type(tmp_path: Path) -> None:
    data = bytearray(factory.pcap_bytes(PACKETS[:1]))
    struct.pack_into("<I", data, 20, 1 | 0x14000000)  # FCS length bits set
    _, packets = read_all(write(tmp_path, bytes(data)))
    assert packets[0][1] == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (b"../../default/pcap/ookla.pcap", "text file starting '../../default/pcap/ookla.pcap'"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07", "starts with bytes 0001020304050607"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "ends inside the pcap file header"),
        (b"ab", "too short"),
        (gzip.compress(b"hello world", mtime=0), "gzip-compressed"),
        (b"\x1f\x8b\x08\x00garbage", "cannot be decompressed"),
    ],
)
def test_a_file_that_is_not_a_capture_is_refused_with_its_path_and_what_is_wrong(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = write(tmp_path, content, "bad.pcap")
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        open_capture(tmp_path / "absent.pcap")
    with pytest.raises(CaptureError, match="is a directory"):
        open_capture(tmp_path)


def test_header_only_capture_is_valid_and_empty(tmp_path: Path) -> None:
    reader, packets = read_all(write(tmp_path, factory.pcap_bytes([])))
    assert packets == []
    assert not reader.info.truncated


def test_hashing_can_be_skipped(tmp_path: Path) -> None:
    reader = open_capture(write(tmp_path, factory.pcap_bytes(PACKETS)), hash_file=False)
    list(reader.packets())
    assert reader.finish().sha256 is None


def test_sha256_covers_the_whole_file_even_when_parsing_stopped_at_damage(tmp_path: Path) -> None:
    data = bytearray(factory.pcap_bytes(PACKETS * 100))
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)  # the first record claims 2 GB
    path = write(tmp_path, bytes(data))
    reader, packets = read_all(path)
    assert (packets, reader.info.truncated) == ([], True)
    assert reader.info.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_mapped_pages_handed_back_as_parsing_goes_are_hashed_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from phonehome.traffic import pcapfile, pcapng

    monkeypatch.setattr(pcapfile, "RELEASE_EVERY", 5000)
    monkeypatch.setattr(pcapng, "RELEASE_EVERY", 5000)
    many = [Packet(float(i), bytes([i % 256]) * (60 + i % 1400)) for i in range(400)]
    data = factory.pcap_bytes(many) if kind == "pcap" else factory.pcapng_bytes(many)
    path = write(tmp_path, data, f"c.{kind}")
    reader, packets = read_all(path)
    assert [p[2] for p in packets] == [p.data for p in many]
    assert reader.info.sha256 == hashlib.sha256(data).hexdigest()
    assert reader._released == len(data)  # every page went back


def _gzip_bomb(members: int, *, pcapng: bool = False) -> bytes:
    """A capture of one packet, then ``members`` gzip members of 16 zero-filled 64 KB packets each.

    Gzip members may be concatenated, so one compressed megabyte repeated makes a bomb of any size
    from about 1 KB per inflated MB, without ever holding the inflated bytes.
    """
    build = factory.pcapng_bytes if pcapng else factory.pcap_bytes
    zero = Packet(1_700_000_000.0, bytes(65000))
    head = build([zero])
    record = build([zero, zero])[len(head) :]
    return gzip.compress(head, mtime=0) + gzip.compress(record * 16, compresslevel=9, mtime=0) * members


@pytest.mark.parametrize("pcapng", [False, True])
def test_a_gzip_bomb_stops_at_the_ratio_guard_as_a_truncated_capture(tmp_path: Path, pcapng: bool) -> None:
    data = _gzip_bomb(1024, pcapng=pcapng)  # 1 GiB inflated from about 1 MB
    assert len(data) < 2 << 20
    started = time.perf_counter()
    reader, packets = read_all(write(tmp_path, data, "bomb.pcap.gz"))
    assert time.perf_counter() - started < 10
    assert reader.info.truncated
    assert "a gzip bomb?" in reader.warnings[0]
    assert "if it is a real capture, gunzip it and analyze that" in reader.warnings[0]
    inflated = sum(len(p[2]) for p in packets)
    assert pcapfile.GZIP_RATIO_FLOOR - (8 << 20) < inflated <= pcapfile.GZIP_RATIO_FLOOR + pcapfile.CHUNK
    assert reader.info.sha256 == hashlib.sha256(data).hexdigest()  # the evidence still covers the whole file


def test_a_capture_inflating_less_than_the_ratio_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pcapfile, "GZIP_RATIO_FLOOR", 1 << 20)
    plain = factory.pcap_bytes([Packet(1_700_000_000 + i, os.urandom(1000)) for i in range(3000)])
    reader, packets = read_all(write(tmp_path, gzip.compress(plain, mtime=0), "c.pcap.gz"))
    assert len(packets) == 3000
    assert not reader.info.truncated
    assert not reader.warnings


def test_the_absolute_bound_stops_any_gzip_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcapfile, "MAX_GZIP_OUTPUT", 2 << 20)
    plain = factory.pcap_bytes([Packet(1_700_000_000 + i, os.urandom(1000)) for i in range(3000)])
    reader, packets = read_all(write(tmp_path, gzip.compress(plain, mtime=0), "c.pcap.gz"))
    assert reader.info.truncated
    assert f"inflated to more than {2 << 20} bytes, the limit for a gzip capture" in reader.warnings[0]
    assert 0 < len(packets) < 3000


def test_a_flood_of_identical_full_size_frames_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pcapfile, "GZIP_RATIO_FLOOR", 1 << 20)
    flood = factory.pcap_bytes([Packet(1_700_000_000 + i / 1000, bytes(1514)) for i in range(20_000)])
    reader, packets = read_all(write(tmp_path, gzip.compress(flood, compresslevel=9, mtime=0), "c.pcap.gz"))
    assert len(packets) == 20_000
    assert not reader.info.truncated


def test_a_record_over_the_limit_is_damage_whether_the_file_is_mapped_or_streamed(tmp_path: Path) -> None:
    # A plain file is walked in one mapping, a compressed one in pieces: a record longer than
    # MAX_RECORD must end both the same way, not be read from the one and refused from the other.
    packets = [Packet(1.0, b"a" * 20), Packet(2.0, b"b" * (pcapfile.MAX_RECORD + 4)), Packet(3.0, b"c" * 20)]
    results = []
    for name, data in (
        ("c.pcap", factory.pcap_bytes(packets)),
        ("c.pcap.gz", gzip.compress(factory.pcap_bytes(packets))),
    ):
        reader, got = read_all(write(tmp_path, data, name))
        warnings = [w.split(f"{name}: ", 1)[1] for w in reader.warnings]
        results.append(([p[2][:1] for p in got], reader.info.truncated, warnings))
    assert results[0] == results[1]
    assert results[0][:2] == ([b"a"], True)
    assert "claims" in results[0][2][0]
