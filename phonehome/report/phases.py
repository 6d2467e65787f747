"""The phases inside the capture: a copy of it with each phase marker as a pcapng packet comment.

Wireshark and ``tshark -r FILE -Y frame.comment`` then show where each phase
began, on the first packet at or after its marker. The bench's own file stays
as it was sealed (its SHA-256 is the evidence); the commented copy is a new
file beside it, derived from the sealed bytes only after they are checked, and
both are listed in the evidence bundle. A classic pcap (tcpdump's) becomes a
pcapng copy, since pcap has nowhere to put a comment. Markers after the last
packet go into the section header's comment.

Hand-written rather than through a pcapng library: only the option list of
the packets that get a comment changes, every other block is copied byte for
byte, and the source is our bench's own file (still read defensively: a
damaged block ends the copy with an error rather than a guess).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from phonehome.traffic.capture import Capture, file_sha256
from phonehome.traffic.timeline import PhaseMarker

SHB, IDB, EPB = 0x0A0D0D0A, 1, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT, OPT_COMMENT, IF_TSRESOL, IF_TSOFFSET = 0, 1, 9, 14
MAX_BLOCK = 64 << 20
PCAP_MAGICS = {0xA1B2C3D4: 1_000_000, 0xA1B23C4D: 1_000_000_000}
"""Classic pcap magic -> sub-second units per second."""
RECORD = "capture-phases.json"


class PhaseCopyError(ValueError):
    """The capture cannot be copied with its phases (not the sealed bytes, or damaged)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a marker went: the frame (1-based, in the file) that carries it, or None (the header)."""

    marker: PhaseMarker
    frame: int | None


def comment(marker: PhaseMarker) -> str:
    """What a packet comment says of a marker: ``phonehome phase boot begins at ...Z: key=value ...``."""
    when = datetime.fromtimestamp(marker.ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    detail = {k: v for k, v in marker.detail.items() if k != "end"}
    what = "ends" if marker.is_end else "begins"
    text = f"phonehome phase {marker.phase} {what} at {when}"
    if detail:
        text += ": " + " ".join(f"{k}={v}" for k, v in list(detail.items())[:12])
    return text[:1000]


def annotate(source: Path, sha256: str, markers: Sequence[PhaseMarker], target: Path) -> list[Placed]:
    """Writes ``target``: ``source`` (checked against ``sha256`` first) with ``markers`` as comments."""
    if file_sha256(source) != sha256:
        raise PhaseCopyError(f"{source}: not the file the bench sealed (SHA-256 differs): no copy made")
    ordered = sorted(markers, key=lambda m: m.ts)
    pcap = _is_pcap(source)
    times = packet_times(source)
    placed, pending = [], list(ordered)
    by_frame: dict[int, list[PhaseMarker]] = {}
    for frame, ts in enumerate(times, 1):
        while pending and pending[0].ts <= ts:
            marker = pending.pop(0)
            by_frame.setdefault(frame, []).append(marker)
            placed.append(Placed(marker, frame))
    placed += [Placed(m, None) for m in pending]
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with source.open("rb") as src, tmp.open("wb") as out:
            if pcap:
                _copy_pcap(src, out, by_frame, pending)
            else:
                _copy_pcapng(src, out, by_frame, pending)
        tmp.chmod(0o600)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return placed


def _is_pcap(source: Path) -> bool:
    with source.open("rb") as fh:
        head = fh.read(4)
    return len(head) == 4 and any(struct.unpack(o + "I", head)[0] in PCAP_MAGICS for o in "<>")


def packet_times(source: Path) -> list[float]:
    """Each packet's time in file order (pcap, or pcapng's enhanced packet blocks)."""
    return list(_pcap_times(source) if _is_pcap(source) else _pcapng_times(source))


def annotate_capture(capture: Capture, folder: Path) -> dict[str, Any]:
    """Commented copies of ``capture``'s files in ``folder`` (``capture-phases.pcapng``, numbered when the
    capture rotated), and their record (``capture-phases.json``'s content). Each marker goes to the file
    that holds the first packet at or after it (the last file when none does)."""
    files, placed_all = [], []
    ends = [max(packet_times(Path(d.path)), default=float("-inf")) for d in capture.files]
    pending = sorted(capture.markers, key=lambda m: m.ts)
    for number, digest in enumerate(capture.files, 1):
        last = number == len(capture.files)
        mine = [m for m in pending if last or m.ts <= ends[number - 1]]
        pending = [m for m in pending if m not in mine]
        name = "capture-phases.pcapng" if len(capture.files) == 1 else f"capture-phases-{number}.pcapng"
        target = folder / name
        placed = annotate(Path(digest.path), digest.sha256, mine, target)
        source = Path(digest.path)
        files.append(
            {
                "path": name,
                "sha256": file_sha256(target),
                "size": target.stat().st_size,
                "source": str(source.relative_to(folder)) if source.is_relative_to(folder) else str(source),
                "source_sha256": digest.sha256,
            }
        )
        placed_all += [
            {
                "phase": p.marker.phase,
                "ts": p.marker.ts,
                "end": p.marker.is_end,
                "file": name,
                "frame": p.frame,
            }
            for p in placed
        ]
    return {"files": files, "markers": placed_all}


# -- pcapng -------------------------------------------------------------------------------------------
def _blocks(src: BinaryIO) -> Iterator[tuple[int, bytes, str]]:
    """(type, whole block, byte order) of each block; PhaseCopyError on damage."""
    order = "<"
    while True:
        head = src.read(8)
        if not head:
            return
        if len(head) < 8:
            raise PhaseCopyError("the capture ends inside a block header")
        if head[:4] == struct.pack("<I", SHB):
            magic = src.read(4)
            order = "<" if magic == struct.pack("<I", BYTE_ORDER_MAGIC) else ">"
            if magic not in (struct.pack("<I", BYTE_ORDER_MAGIC), struct.pack(">I", BYTE_ORDER_MAGIC)):
                raise PhaseCopyError("a section header with no byte-order magic")
            head += magic
        kind, length = struct.unpack(order + "II", head[:8])
        if length < 12 or length % 4 or length > MAX_BLOCK:
            raise PhaseCopyError(f"a block of impossible length {length}")
        rest = src.read(length - len(head))
        if len(rest) < length - len(head):
            raise PhaseCopyError("the capture ends inside a block")
        yield kind, head + rest, order


def _options(body: bytes, order: str) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == OPT_ENDOFOPT or pos + 4 + length > len(body):
            break
        out.append((code, body[pos + 4 : pos + 4 + length]))
        pos += 4 + ((length + 3) & ~3)
    return out


def _pack_options(options: list[tuple[int, bytes]], order: str) -> bytes:
    out = b""
    for code, value in options:
        out += struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
    return out + struct.pack(order + "HH", OPT_ENDOFOPT, 0) if options else b""


def _resolution(value: bytes) -> float:
    if not value:
        return 1e-6
    v = value[0]
    return float(2 ** -(v & 0x7F)) if v & 0x80 else float(10**-v)


def _pcapng_times(source: Path) -> Iterator[float]:
    """Each enhanced packet's time, in file order (other packet blocks carry no time: they get none)."""
    with source.open("rb") as src:
        interfaces: list[tuple[float, float]] = []
        for kind, block, order in _blocks(src):
            if kind == SHB:
                interfaces = []
            elif kind == IDB:
                opts = dict(_options(block[16:-4], order))
                offset = (
                    struct.unpack(order + "q", opts[IF_TSOFFSET])[0]
                    if len(opts.get(IF_TSOFFSET, b"")) == 8
                    else 0
                )
                interfaces.append((_resolution(opts.get(IF_TSRESOL, b"")), float(offset)))
            elif kind == EPB:
                if len(block) < 32:
                    raise PhaseCopyError("a packet block too short for its own header")
                iface, hi, lo = struct.unpack_from(order + "III", block, 8)
                res, offset = interfaces[iface] if iface < len(interfaces) else (1e-6, 0.0)
                yield ((hi << 32) | lo) * res + offset


def _copy_pcapng(
    src: BinaryIO, out: BinaryIO, by_frame: dict[int, list[PhaseMarker]], late: list[PhaseMarker]
) -> None:
    frame, first_section = 0, True
    for kind, read, order in _blocks(src):
        block = read
        if kind == SHB and first_section and late:
            first_section = False
            # SHB body: magic(4) version(2+2) section length(8), then options
            opts = _options(block[24:-4], order) + [(OPT_COMMENT, comment(m).encode()) for m in late]
            block = _rebuild(kind, block[8:24], opts, order)
        elif kind == EPB:
            frame += 1
            if frame in by_frame:
                caplen = struct.unpack_from(order + "I", block, 20)[0]
                fixed = 20 + caplen + (-caplen % 4)
                if 8 + fixed > len(block) - 4:
                    raise PhaseCopyError(f"packet {frame}: its data runs past its block")
                opts = _options(block[8 + fixed : -4], order)
                opts += [(OPT_COMMENT, comment(m).encode()) for m in by_frame[frame]]
                block = _rebuild(kind, block[8 : 8 + fixed], opts, order)
        out.write(block)


def _rebuild(kind: int, body: bytes, options: list[tuple[int, bytes]], order: str) -> bytes:
    payload = body + _pack_options(options, order)
    length = 12 + len(payload)
    return struct.pack(order + "II", kind, length) + payload + struct.pack(order + "I", length)


# -- classic pcap, copied as pcapng ------------------------------------------------------------------
def _pcap_header(src: BinaryIO) -> tuple[str, int, int, int]:
    head = src.read(24)
    if len(head) < 24:
        raise PhaseCopyError("the capture is shorter than a pcap header")
    for order in ("<", ">"):
        magic = struct.unpack(order + "I", head[:4])[0]
        if magic in PCAP_MAGICS:
            snaplen, linktype = struct.unpack(order + "II", head[16:24])
            return order, PCAP_MAGICS[magic], snaplen, linktype & 0x0FFFFFFF
    raise PhaseCopyError("not a pcap or pcapng file")


def _pcap_records(src: BinaryIO, order: str, scale: int) -> Iterator[tuple[float, int, int, bytes]]:
    while True:
        head = src.read(16)
        if not head:
            return
        if len(head) < 16:
            raise PhaseCopyError("the capture ends inside a record header")
        sec, frac, caplen, origlen = struct.unpack(order + "IIII", head)
        if caplen > MAX_BLOCK:
            raise PhaseCopyError(f"a record of impossible length {caplen}")
        data = src.read(caplen)
        if len(data) < caplen:
            raise PhaseCopyError("the capture ends inside a record")
        yield sec + frac / scale, sec * scale + frac, origlen, data


def _pcap_times(source: Path) -> Iterator[float]:
    with source.open("rb") as src:
        order, scale, _, _ = _pcap_header(src)
        for ts, _, _, _ in _pcap_records(src, order, scale):
            yield ts


def _copy_pcap(
    src: BinaryIO, out: BinaryIO, by_frame: dict[int, list[PhaseMarker]], late: list[PhaseMarker]
) -> None:
    order, scale, snaplen, linktype = _pcap_header(src)
    shb_opts = [(OPT_COMMENT, comment(m).encode()) for m in late]
    out.write(_rebuild(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1), shb_opts, "<"))
    tsresol = bytes([9 if scale == 1_000_000_000 else 6])
    out.write(_rebuild(IDB, struct.pack("<HHI", linktype, 0, snaplen), [(IF_TSRESOL, tsresol)], "<"))
    for frame, (_, units, origlen, data) in enumerate(_pcap_records(src, order, scale), 1):
        opts = [(OPT_COMMENT, comment(m).encode()) for m in by_frame.get(frame, [])]
        body = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), origlen)
        out.write(_rebuild(EPB, body + data + b"\0" * (-len(data) % 4), opts, "<"))
