"""Decompressors for hostile bodies: bounded output, partial output kept, and where the stream ended.

Hand-written around zlib, brotli and zstandard rather than ``gzip.decompress``
and friends because a leak scan needs what those throw away: the output read
before a corrupt byte or a wrong checksum (the server may well have used it),
the offset where the compressed stream ended (bytes after it may hide more),
and a hard cap on output that still says how much input produced it (the
ratio that calls a decompression a bomb).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import brotli
import zstandard

GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 16 << 10
"""Input fed to zlib per call: a corrupt byte loses at most this much output before it."""


@dataclass(frozen=True, slots=True)
class Inflated:
    """What one decompression produced."""

    data: bytes
    consumed: int
    """Input bytes the compressed stream(s) took; anything after them is not compressed data."""
    capped: bool
    """Output stopped at the limit with input left: there is more than ``data``."""
    complete: bool = True
    """The stream ended properly (with a matching checksum, where the format has one). A guess at a
    magic-less stream that did not is junk; a stream behind a magic number that did not yields what it
    yielded, but may not be all there is to the bytes."""


def looks_zlib(data: bytes) -> bool:
    """RFC 1950 2.2: CM 8 (deflate), CINFO <= 7, FCHECK makes the first two bytes a multiple of 31."""
    return len(data) > 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0


def may_deflate(data: bytes) -> bool:
    """Whether raw deflate could start here (RFC 1951 3.2.3-4): the first block's type is not the
    reserved 11, and a stored block's length is followed by its one's complement."""
    block_type = data[0] >> 1 & 3
    if block_type == 3:
        return False
    if block_type == 0:
        return (
            len(data) >= 5
            and int.from_bytes(data[1:3], "little") ^ int.from_bytes(data[3:5], "little") == 0xFFFF
        )
    return True


def gzip_header_length(data: bytes, pos: int = 0) -> int | None:
    """Length of the RFC 1952 member header at ``pos`` (its optional fields included), None if not one."""
    if data[pos : pos + 3] != GZIP_MAGIC or len(data) < pos + 10:
        return None
    flags = data[pos + 3]
    at = pos + 10
    if flags & 0x04:  # FEXTRA: two-byte length, then that many bytes
        if len(data) < at + 2:
            return None
        at += 2 + int.from_bytes(data[at : at + 2], "little")
    for flag in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            end = data.find(b"\0", at)
            if end < 0:
                return None
            at = end + 1
    if flags & 0x02:  # FHCRC
        at += 2
    return at - pos if at <= len(data) else None


def _raw_inflate(data: bytes, pos: int, room: int) -> tuple[bytes, int, bool, bool]:
    """Raw deflate from ``pos``: (output, end offset of the stream, reached its end, capped).

    Checksums are not deflate's business: a gzip member with a wrong CRC still
    yields its content, as it would to a lenient server.
    """
    engine = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    at = pos
    try:
        while at < len(data) and not engine.eof:
            chunk = data[at : at + _CHUNK]
            out += engine.decompress(chunk, room - len(out))
            if engine.unconsumed_tail:
                return bytes(out), at + len(chunk) - len(engine.unconsumed_tail), False, True
            at += len(chunk)
    except zlib.error:
        return bytes(out), len(data), False, False
    end = at - len(engine.unused_data) if engine.eof else len(data)
    return bytes(out), end, engine.eof, len(out) >= room and not engine.eof


def inflate(data: bytes, kind: str, room: int) -> Inflated | None:
    """``gzip`` (every member), ``zlib`` or raw ``deflate`` from the start of ``data``; None if it is not.

    A stream behind a magic number is taken truncated or corrupt, with what it
    yielded; raw deflate that does not end properly comes back ``complete``
    False (random bytes often inflate to a few bytes of junk).
    """
    out = bytearray()
    pos = 0
    intact = True
    while pos < len(data) and len(out) < room:
        if kind == "gzip":
            header = gzip_header_length(data, pos)
            if header is None:
                break
            trailer = 8
        elif kind == "zlib":
            if pos or not looks_zlib(data) or data[1] & 0x20:  # FDICT: needs a preset dictionary
                break
            header, trailer = 2, 4
        else:
            header, trailer = 0, 0
        output, end, complete, capped = _raw_inflate(data, pos + header, room - len(out))
        if not complete and kind == "deflate" and not capped:
            return Inflated(output, len(data), False, False) if output else None
        out += output
        if capped:
            return Inflated(bytes(out), end, True)
        if not complete:
            return Inflated(bytes(out), len(data), False, False) if out else None
        intact = intact and _checksum_ok(kind, output, data[end : end + trailer])
        pos = min(end + trailer, len(data))
        if kind != "gzip":
            break  # gzip members follow each other (RFC 1952 2.2); anything else is trailing data
    if not out and pos == 0:
        return None
    return Inflated(bytes(out), pos, len(out) >= room and pos < len(data), intact)


def _checksum_ok(kind: str, output: bytes, trailer: bytes) -> bool:
    """RFC 1952 2.3.1 CRC-32 and size, RFC 1950 2.2 Adler-32: a stream that ends where a checksum
    says it does was compressed data, not bytes that happened to inflate."""
    if kind == "gzip":
        return trailer == (zlib.crc32(output) & 0xFFFFFFFF).to_bytes(4, "little") + (
            len(output) & 0xFFFFFFFF
        ).to_bytes(4, "little")
    if kind == "zlib":
        return trailer == zlib.adler32(output).to_bytes(4, "big")
    return True


def unbrotli(data: bytes, room: int) -> Inflated | None:
    """A brotli stream; it has no magic number, so only ``complete`` output proves it was brotli."""
    engine = brotli.Decompressor()
    try:
        out = engine.process(data, output_buffer_limit=room)
    except brotli.error:
        return None
    if not out:
        return None
    capped = len(out) >= room
    # brotli does not say how much input it used when it stops early; the whole input is an upper bound
    return Inflated(out[:room], len(data), capped, engine.is_finished() or capped)


def zstd_frames_end(data: bytes) -> int:
    """Offset after the last whole zstd (or skippable) frame from the start (RFC 8878 3.1), 0 if none."""
    pos = 0
    while pos + 4 <= len(data):
        magic = int.from_bytes(data[pos : pos + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: 4-byte size, then that many bytes
            size = int.from_bytes(data[pos + 4 : pos + 8], "little")
            if pos + 8 + size > len(data):
                return pos
            pos += 8 + size
            continue
        end = _zstd_frame_end(data, pos) if magic == 0xFD2FB528 else None
        if end is None:
            return pos
        pos = end
    return pos


def _zstd_frame_end(data: bytes, pos: int) -> int | None:
    if pos + 5 > len(data):
        return None
    descriptor = data[pos + 4]
    fcs_flag, single, checksum, dict_flag = (
        descriptor >> 6,
        descriptor >> 5 & 1,
        descriptor >> 2 & 1,
        descriptor & 3,
    )
    at = pos + 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    at += (1 if single else 0, 2, 4, 8)[fcs_flag]
    while True:
        if at + 3 > len(data):
            return None
        header = int.from_bytes(data[at : at + 3], "little")
        last, block_type, size = header & 1, header >> 1 & 3, header >> 3
        if block_type == 3:
            return None
        at += 3 + (1 if block_type == 1 else size)
        if last:
            break
    at += 4 if checksum else 0
    return at if at <= len(data) else None


def unzstd(data: bytes, room: int) -> Inflated | None:
    """Every zstd frame from the start, read in chunks so that a corrupt frame keeps what came before."""
    end = zstd_frames_end(data) or len(data)
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data[:end]), read_across_frames=True)
    out = bytearray()
    intact = True
    try:
        while len(out) <= room:
            chunk = reader.read(min(_CHUNK * 4, room + 1 - len(out)))
            if not chunk:
                break
            out += chunk
    except zstandard.ZstdError:
        if not out:
            return None
        intact = False
    capped = len(out) > room
    return Inflated(bytes(out[:room]), end, capped, intact and zstd_frames_end(data) > 0)
