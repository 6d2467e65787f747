"""pcapng blocks (draft-ietf-opsawg-pcapng): sections, interfaces, packets, statistics, comments, secrets.

Walks the blocks with ``struct`` over a chunk buffer for the same reason as
pcapfile does (speed, flat memory). Several sections with their own byte
order and several interfaces with their own link type and timestamp
resolution are handled; Decryption Secrets Blocks go to the reader's
``on_secrets`` between the packets before and after them; unknown blocks
(name resolution, custom) are skipped by their length.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from phonehome.traffic.pcapfile import CaptureFile, CaptureReader, Chunk, Packet

SHB_TYPE: Final = 0x0A0D0D0A
BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D
IDB: Final = 1
PB_OBSOLETE: Final = 2
SPB: Final = 3
ISB: Final = 5
EPB: Final = 6
DSB: Final = 10
SECRETS_TLS_KEYLOG: Final = 0x544C534B
"""Decryption Secrets Block type of a TLS key log ("TLSK": NSS key log lines)."""
SECRETS_TYPES: Final = {
    SECRETS_TLS_KEYLOG: "TLS key log",
    0x57474B4C: "WireGuard keys",
    0x5A4E574B: "ZigBee network key",
    0x5A415053: "ZigBee APS key",
    0x5353484B: "SSH key log",
    0x4F50434B: "OPC UA key log",
}
"""Secrets types of the pcapng specification's registry."""
OPT_COMMENT: Final = 1
IF_TSRESOL: Final = 9
IF_TSOFFSET: Final = 14
EPB_DROPCOUNT: Final = 4
ISB_IFDROP: Final = 5
ISB_OSDROP: Final = 7
MAX_BLOCK: Final = 16 << 20
RELEASE_EVERY = 16 << 20
"""Bytes walked between two hand-backs of a mapped file's pages (CaptureReader.release)."""


def _options(buf: Chunk, pos: int, end: int, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option in buf[pos:end], stopping at opt_endofopt or damage."""
    unpack = struct.Struct(order + "HH").unpack_from
    while pos + 4 <= end:
        code, length = unpack(buf, pos)
        if code == 0:
            return
        start = pos + 4
        if start + length > end:
            return
        yield code, buf[start : start + length]
        pos = start + ((length + 3) & ~3)


def _resolution(value: bytes) -> float:
    """if_tsresol: 10^-n, or 2^-n when the top bit is set."""
    if not value:
        return 1e-6
    v = value[0]
    return float(2 ** -(v & 0x7F)) if v & 0x80 else float(10**-v)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _epb_options(info: CaptureFile, buf: Chunk, start: int, end: int, *, order: str, packets: int) -> int:
    """Keeps a packet's comments; returns the drops it reports (epb_dropcount)."""
    drops = 0
    for code, value in _options(buf, start, end, order):
        if code == OPT_COMMENT and len(info.comments) < 1000:
            info.comments.append((info.first_frame + packets - 1, _text(value)))
        elif code == EPB_DROPCOUNT and len(value) == 8:
            drops += struct.unpack(order + "Q", value)[0]
    return drops


def read(reader: CaptureReader) -> Iterator[Packet]:
    """Every packet of a pcapng file; updates reader.info (link types, counts, drops, comments)."""
    info = reader.info
    chunks = reader.chunks()
    buf = next(chunks)
    pos = 0
    order = "<"
    block_head = struct.Struct("<II").unpack_from
    epb_head = struct.Struct("<IIIII").unpack_from
    epb_whole = struct.Struct("<7I").unpack_from
    clocks: list[tuple[int, float, float]] = []
    nclocks = 0
    """(link type, timestamp unit, offset) per interface, for the hot path. The timestamp is computed
    in floats only (hi * 2**32 + lo rounds as the exact 64-bit count converted to a float does):
    Python integers above 2**62 cost an allocation and a slow path for each operation."""
    isb_drops: dict[tuple[int, int], int] = {}
    epb_drops = 0
    section = 0
    packets = 0
    nbytes = 0
    last_ts = 0.0
    unknown_iface = 0
    release_at = RELEASE_EVERY
    # Declared: struct gives Any, and compiled code would then compare and add boxed objects.
    btype: int
    blen: int
    iface: int
    hi: int
    lo: int
    caplen: int
    orig: int
    while True:
        end = len(buf)
        while pos + 12 <= end:
            if pos >= release_at:
                reader.release(pos)
                release_at = pos + RELEASE_EVERY
            if pos + 28 <= end:
                # Hot path: an Enhanced Packet Block without surprises, decoded in one unpack.
                btype, blen, iface, hi, lo, caplen, orig = epb_whole(buf, pos)
                nxt = pos + blen
                if (
                    btype == EPB
                    and nxt <= end
                    and blen <= MAX_BLOCK  # as any other block, whether the buffer holds it or not
                    and caplen + 32 <= blen
                    and not blen & 3
                    and iface < nclocks
                ):
                    linktype, unit, offset = clocks[iface]
                    packets += 1
                    nbytes += caplen
                    last_ts = (hi * 4294967296.0 + lo) * unit + offset
                    yield last_ts, linktype, buf[pos + 28 : pos + 28 + caplen], orig
                    if blen - caplen > 35:  # 4 or more bytes past the padded data: options
                        opt_start = pos + 28 + ((caplen + 3) & ~3)
                        epb_drops += _epb_options(info, buf, opt_start, nxt - 4, order=order, packets=packets)
                    pos = nxt
                    continue
            btype, blen = block_head(buf, pos)
            if btype == SHB_TYPE:
                magic = struct.unpack_from("<I", buf, pos + 8)[0]
                if magic == BYTE_ORDER_MAGIC:
                    order = "<"
                elif magic == 0x4D3C2B1A:
                    order = ">"
                else:
                    info.packets, info.bytes = packets, nbytes
                    reader.damaged(
                        f"section header at offset {reader.offset(buf, pos)} has no byte-order magic"
                    )
                    return
                block_head = struct.Struct(order + "II").unpack_from
                epb_head = struct.Struct(order + "IIIII").unpack_from
                epb_whole = struct.Struct(order + "7I").unpack_from
                btype, blen = block_head(buf, pos)
            if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                info.packets, info.bytes = packets, nbytes
                reader.damaged(f"block at offset {reader.offset(buf, pos)} has an impossible length {blen}")
                return
            nxt = pos + blen
            if nxt > end:
                break
            if btype in (EPB, PB_OBSOLETE) and blen >= 32:
                # The packet blocks the hot path left: cut short, odd interface, or the obsolete kind.
                if btype == EPB:
                    iface, hi, lo, caplen, orig = epb_head(buf, pos + 8)
                else:
                    iface, _drops, hi, lo, caplen, orig = struct.unpack_from(order + "HHIIII", buf, pos + 8)
                caplen = min(caplen, blen - 32)
                if iface < len(clocks):
                    linktype, unit, offset = clocks[iface]
                    packets += 1
                    nbytes += caplen
                    last_ts = (hi * 4294967296.0 + lo) * unit + offset
                    yield last_ts, linktype, buf[pos + 28 : pos + 28 + caplen], orig
                    opt_start = pos + 28 + ((caplen + 3) & ~3)
                    if btype == EPB and opt_start < nxt - 4:
                        epb_drops += _epb_options(info, buf, opt_start, nxt - 4, order=order, packets=packets)
                else:
                    unknown_iface += 1
            elif btype == IDB and blen >= 20:
                linktype = struct.unpack_from(order + "H", buf, pos + 8)[0]
                scale, offset = 1e-6, 0.0
                for code, value in _options(buf, pos + 16, nxt - 4, order):
                    if code == IF_TSRESOL:
                        scale = _resolution(value)
                    elif code == IF_TSOFFSET and len(value) == 8:
                        offset = float(struct.unpack(order + "q", value)[0])
                    elif code == OPT_COMMENT and len(info.comments) < 1000:
                        info.comments.append((None, _text(value)))
                clocks.append((linktype, scale, offset))
                nclocks = len(clocks)
                info.link_types.append(linktype)
            elif btype == SHB_TYPE:
                section += 1
                clocks = []
                nclocks = 0
                for code, value in _options(buf, pos + 24, nxt - 4, order):
                    if code == OPT_COMMENT and len(info.comments) < 1000:
                        info.comments.append((None, _text(value)))
            elif btype == SPB and blen >= 16 and clocks:
                orig = struct.unpack_from(order + "I", buf, pos + 8)[0]
                caplen = min(orig, blen - 16)
                packets += 1
                nbytes += caplen
                yield last_ts, clocks[0][0], buf[pos + 12 : pos + 12 + caplen], orig
            elif btype == DSB and blen >= 20:
                secrets_type, length = struct.unpack_from(order + "II", buf, pos + 8)
                info.decryption_secrets += 1
                if reader.on_secrets is not None:
                    reader.on_secrets(secrets_type, bytes(buf[pos + 16 : pos + 16 + min(length, blen - 20)]))
            elif btype == ISB and blen >= 24:
                iface = struct.unpack_from(order + "I", buf, pos + 8)[0]
                for code, value in _options(buf, pos + 20, nxt - 4, order):
                    if code in (ISB_IFDROP, ISB_OSDROP) and len(value) == 8:
                        # Counters are cumulative since the capture started: keep the latest.
                        isb_drops[(section, iface * 16 + code)] = struct.unpack(order + "Q", value)[0]
            pos = nxt
        more = next(chunks, b"")
        if not more:
            break
        reader.consumed += pos
        buf = buf[pos:] + bytes(more)
        pos = 0
    info.packets, info.bytes = packets, nbytes
    if isb_drops or epb_drops:
        info.drops = sum(isb_drops.values()) + epb_drops
    if unknown_iface:
        reader.warnings.append(
            f"{reader.path}: {unknown_iface} packets name an interface that was never described; skipped"
        )
    if pos < len(buf):
        reader.damaged(f"file ends inside a block (offset {reader.offset(buf, pos)})")
