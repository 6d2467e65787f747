"""Capture file writers for test captures: classic pcap and pcapng, streamed block by block.

Streaming (``*_stream`` yield bytes to write) lets a benchmark write a
capture of any size in flat memory; ``*_bytes`` join them for small tests.
Pure: the caller decides where the bytes go.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from phonehome.traffic import link as lt
from phonehome.traffic.pcapng import DSB, SECRETS_TLS_KEYLOG


@dataclass(slots=True)
class Packet:
    """One captured frame, as a capture file stores it."""

    ts: float
    data: bytes
    linktype: int = lt.LINKTYPE_ETHERNET
    interface: int | None = None
    """pcapng interface index; None: one interface per distinct link type."""
    comment: str | None = None
    orig_len: int | None = None
    """Length on the wire when the frame was cut by a snap length (default: len(data))."""


def pcap_stream(
    packets: Iterable[Packet],
    *,
    linktype: int = lt.LINKTYPE_ETHERNET,
    nanosecond: bool = False,
    big_endian: bool = False,
    snaplen: int = 262144,
) -> Iterator[bytes]:
    """A classic pcap file piece by piece: its header, then each record. One link type for all packets."""
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    yield struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    scale = 1_000_000_000 if nanosecond else 1_000_000
    record = struct.Struct(order + "IIII").pack
    for p in packets:
        sec = int(p.ts)
        frac = round((p.ts - sec) * scale)
        if frac >= scale:
            sec, frac = sec + 1, frac - scale
        yield record(sec, frac, len(p.data), p.orig_len or len(p.data)) + p.data


def pcap_bytes(
    packets: Sequence[Packet],
    *,
    nanosecond: bool = False,
    big_endian: bool = False,
    snaplen: int = 262144,
    linktype: int | None = None,
    compress: bool = False,
) -> bytes:
    """A classic pcap file; every packet must share the link type (the first packet's by default)."""
    kind = linktype if linktype is not None else (packets[0].linktype if packets else lt.LINKTYPE_ETHERNET)
    data = b"".join(
        pcap_stream(packets, linktype=kind, nanosecond=nanosecond, big_endian=big_endian, snaplen=snaplen)
    )
    return gzip.compress(data, mtime=0) if compress else data


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(order: str, btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def secrets_block(data: bytes, *, secrets_type: int = SECRETS_TLS_KEYLOG, big_endian: bool = False) -> bytes:
    """A pcapng Decryption Secrets Block (block type 0x0A): by default, TLS key log lines."""
    order = ">" if big_endian else "<"
    body = struct.pack(order + "II", secrets_type, len(data)) + data + b"\x00" * (-len(data) % 4)
    return _block(order, DSB, body)


def with_tls_secrets(capture: bytes, keylog: bytes) -> bytes:
    """A pcapng file's bytes with a Decryption Secrets Block holding ``keylog`` right after its first
    section header, before every packet (where ``editcap --inject-secrets`` puts it)."""
    if len(capture) < 28 or capture[:4] != b"\x0a\x0d\x0d\x0a":
        raise ValueError("not a pcapng file (it must start with a section header block)")
    order = "<" if capture[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    end = struct.unpack_from(order + "I", capture, 4)[0]
    if end < 28 or end > len(capture):
        raise ValueError("the section header block's length is impossible")
    return capture[:end] + secrets_block(keylog, big_endian=order == ">") + capture[end:]


def pcapng_stream(
    packets: Iterable[Packet],
    *,
    big_endian: bool = False,
    comment: str | None = None,
    tsresol: int = 6,
    drops: dict[int, int] | None = None,
    simple: bool = False,
    tls_keylog: bytes | None = None,
) -> Iterator[bytes]:
    """A pcapng file block by block: one section; an interface is described when first used.

    Interfaces are numbered per ``packet.interface`` (or per link type when
    None); ``drops`` ends the file with an Interface Statistics Block per
    interface carrying that isb_ifdrop count; ``simple`` writes Simple Packet
    Blocks (no timestamps, first interface only); ``tls_keylog`` (NSS key log
    lines) goes into a Decryption Secrets Block before the packets.
    """
    order = ">" if big_endian else "<"
    shb_opts = _option(order, 1, comment.encode()) + _option(order, 0, b"") if comment else b""
    yield _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    if tls_keylog is not None:
        yield secrets_block(tls_keylog, big_endian=big_endian)
    interfaces: dict[int, int] = {}
    scale = 10**tsresol
    epb_head = struct.Struct(order + "IIIIIIII").pack
    for p in packets:
        key = p.interface if p.interface is not None else p.linktype
        iface = interfaces.get(key)
        if iface is None:
            iface = interfaces[key] = len(interfaces)
            opts = _option(order, 9, bytes([tsresol])) + _option(order, 0, b"") if tsresol != 6 else b""
            yield _block(order, 1, struct.pack(order + "HHI", p.linktype, 0, 262144) + opts)
        pad = b"\x00" * (-len(p.data) % 4)
        if simple:
            yield _block(order, 3, struct.pack(order + "I", p.orig_len or len(p.data)) + p.data + pad)
            continue
        t = round(p.ts * scale)
        opts = _option(order, 1, p.comment.encode()) + _option(order, 0, b"") if p.comment else b""
        length = 32 + len(p.data) + len(pad) + len(opts)
        head = epb_head(6, length, iface, t >> 32, t & 0xFFFFFFFF, len(p.data), p.orig_len or len(p.data), 0)[
            :-4
        ]
        yield head + p.data + pad + opts + struct.pack(order + "I", length)
    for iface, count in (drops or {}).items():
        opts = _option(order, 5, struct.pack(order + "Q", count)) + _option(order, 0, b"")
        yield _block(order, 5, struct.pack(order + "III", iface, 0, 0) + opts)


def pcapng_bytes(
    packets: Iterable[Packet],
    *,
    big_endian: bool = False,
    comment: str | None = None,
    tsresol: int = 6,
    drops: dict[int, int] | None = None,
    simple: bool = False,
    compress: bool = False,
    tls_keylog: bytes | None = None,
) -> bytes:
    """:func:`pcapng_stream` as one bytes object, optionally gzip-compressed."""
    data = b"".join(
        pcapng_stream(
            packets,
            big_endian=big_endian,
            comment=comment,
            tsresol=tsresol,
            drops=drops,
            simple=simple,
            tls_keylog=tls_keylog,
        )
    )
    return gzip.compress(data, mtime=0) if compress else data
