"""Capture files: pcap (micro/nanosecond, either byte order) and pcapng, optionally gzip-compressed.

A plain file is memory-mapped and walked with ``struct``, the fastest record
walk Python has (shared/notes/bench-facts.md: dpkt's reader is 3x slower);
the parsers hand back the pages behind them every few megabytes
(MADV_DONTNEED), since mapped pages count as resident memory, so memory stays
flat whatever the file's size. Its SHA-256 is taken from the same pages just
before they go. A gzip-compressed file (or one that cannot be mapped) is read
in chunks instead, and its decompression is bounded (a gzip bomb is a few KB
that inflates to gigabytes): see `MAX_GZIP_RATIO` and `MAX_GZIP_OUTPUT`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from phonehome.traffic import pcapng

CHUNK: Final = 4 << 20
MAX_RECORD: Final = 16 << 20
"""Largest record accepted (BIG TCP on veth can merge up to 512 KB); a larger length means damage."""
MAX_COMMENTS: Final = 1000
HASH_BLOCK: Final = 8 << 20
RELEASE_EVERY = 16 << 20
"""Bytes of a mapped file parsed between two hand-backs of its pages."""

PCAP_MAGICS: Final = {
    # magic as read little-endian -> (byte order, fraction scale, record header size)
    0xA1B2C3D4: ("<", 1e-6, 16),
    0xA1B23C4D: ("<", 1e-9, 16),
    0xA1B2CD34: ("<", 1e-6, 24),  # Kuznetzov's "modified pcap": 8 more bytes per record
    0xD4C3B2A1: (">", 1e-6, 16),
    0x4D3CB2A1: (">", 1e-9, 16),
    0x34CDB2A1: (">", 1e-6, 24),
}
GZIP_MAGIC: Final = b"\x1f\x8b"
MAX_GZIP_RATIO: Final = 300
"""Most bytes a gzip capture may inflate to per byte on disk, once past `GZIP_RATIO_FLOOR`, so the time it
can cost stays proportional to its size on disk, as a plain file's does. Real captures compress 2-25
times (the nDPI test corpus, gzip -9), a flood of identical full-size Ethernet frames about 215 times;
a bomb (runs of zeros) about 1,000 times, deflate's limit. Identical jumbo or GRO-merged frames come
close to that too: such a capture is cut, with a warning that says to gunzip it."""
GZIP_RATIO_FLOOR = 64 << 20
"""Inflated bytes allowed whatever the ratio: a small capture is never cut by the ratio guard."""
MAX_GZIP_OUTPUT = 64 << 30
"""Most bytes a gzip capture may inflate to at all (a day of a saturated 1 Gbit/s link would not fit in a
plain capture this size either); past it, decompress the file yourself."""

Packet = tuple[float, int, bytes, int]
"""(timestamp, link type, captured bytes, original length on the wire)."""
Chunk = bytes | mmap.mmap
"""What the record walkers index: a piece of the file, or the whole file mapped."""


class CaptureError(Exception):
    """A file that cannot be analyzed at all: missing, unreadable, empty, or not a capture."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(slots=True)
class CaptureFile:
    """One capture file as read: where it came from, what it held, and whether it ended early."""

    path: str
    format: str = ""
    """``pcap`` or ``pcapng``."""
    compressed: bool = False
    """The file was gzip-compressed."""
    size: int = 0
    """Bytes on disk."""
    sha256: str | None = None
    """SHA-256 of the file as on disk (compressed if it was), for evidence manifests."""
    link_types: list[int] = field(default_factory=list)
    """LINKTYPE_* values of its interfaces, in order of appearance."""
    packets: int = 0
    bytes: int = 0
    """Captured bytes of all packets."""
    first_frame: int = 1
    """Frame number of its first packet in the analyzed sequence."""
    truncated: bool = False
    """The file ended inside a record or was damaged: packets after that point are lost."""
    drops: int | None = None
    """Packets the capturing host reported dropping (pcapng statistics), None when unknown."""
    comments: list[tuple[int | None, str]] = field(default_factory=list)
    """pcapng comments: (frame, text) for packet comments, (None, text) for section/interface ones."""
    decryption_secrets: int = 0
    """pcapng Decryption Secrets Blocks the file held (TLS key logs are used to decrypt its flows)."""


class _HashingFile:
    """Reads a file and hashes exactly the bytes read, so the digest costs no second pass over the file.

    (A hashing thread beside the parser measured slower here: the second core
    is not free, and every GIL hand-over stalls the parser.)
    """

    mode = "rb"

    def __init__(self, raw: io.BufferedReader, digest: Any) -> None:
        self.raw = raw
        self.digest = digest
        self.consumed = 0
        """Bytes read from the file so far (compressed, for a gzip capture)."""

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n)
        self.consumed += len(data)
        if self.digest is not None:
            self.digest.update(data)
        return data

    def seek(self, n: int, /) -> object:
        raise io.UnsupportedOperation("a capture is read once, front to back")

    def drain(self) -> None:
        """Hashes what was never read (the parser stopped early)."""
        if self.digest is not None:
            while self.read(HASH_BLOCK):
                pass

    def close(self) -> None:
        self.raw.close()


def _open(path: str | os.PathLike[str]) -> tuple[io.BufferedReader, bool, int]:
    """Opens a capture for reading and says whether it is gzip-compressed; errors name the file."""
    try:
        raw = open(path, "rb")  # noqa: SIM115  (closed by the reader)
    except IsADirectoryError:
        raise CaptureError(path, "is a directory, not a capture file") from None
    except FileNotFoundError:
        raise CaptureError(path, "no such file") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        size = os.fstat(raw.fileno()).st_size
        head = raw.read(2)
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise CaptureError(path, f"cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raw.close()
        raise CaptureError(path, "is empty (0 bytes), not a capture")
    return raw, head == GZIP_MAGIC, size


def _describe(head: bytes) -> str:
    """A short, safe description of a file's first bytes for the error line."""
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        text = head.decode("ascii").splitlines()[0][:40] if head.strip() else ""
        return f"a text file starting {text!r}" if text else "a blank text file"
    return f"data that starts with bytes {head[:8].hex()}"


class CaptureReader:
    """Streams the packets of one capture file; opening checks that it is one.

    Raises CaptureError on open for a file that is not a capture. A file that
    ends inside a record or is damaged further on yields what was read, then
    sets ``info.truncated`` and says where in ``warnings``.
    """

    def __init__(self, path: str | os.PathLike[str], *, first_frame: int = 1, hash_file: bool = True) -> None:
        self.path = str(path)
        self.info = CaptureFile(path=self.path, first_frame=first_frame)
        self.warnings: list[str] = []
        raw, self.info.compressed, self.info.size = _open(path)
        self._hashing = _HashingFile(raw, hashlib.sha256() if hash_file else None)
        self._gzip = gzip.GzipFile(fileobj=self._hashing, mode="rb") if self.info.compressed else None
        self._failed = False
        self._inflated = 0
        """Bytes a gzip capture has inflated to so far."""
        self._mm: mmap.mmap | None = None
        self._digest: Any = None
        self._released = 0
        """Bytes of the mapping hashed (or being hashed) and handed back (or about to be)."""
        self._hasher: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future[None], int, int] | None = None
        """The hashing in flight, and the range of the mapping it reads."""
        self.consumed = 0
        """Bytes of the (decompressed) file before the current chunk, for offsets in warnings."""
        self.on_secrets: Callable[[int, bytes], None] | None = None
        """Called with (secrets type, data) for each pcapng Decryption Secrets Block, in file order."""
        try:
            self._head = self._read(64)
        except CaptureError:
            self.close()
            raise
        if len(self._head) < 4:
            self.close()
            raise CaptureError(path, f"is too short to be a capture ({len(self._head)} bytes)")
        magic = struct.unpack_from("<I", self._head)[0]
        if magic == pcapng.SHB_TYPE:
            self.info.format = "pcapng"
        elif magic in PCAP_MAGICS:
            self.info.format = "pcap"
            if len(self._head) < 24:
                self.close()
                raise CaptureError(path, "ends inside the pcap file header (24 bytes); not a usable capture")
        else:
            self.close()
            what = "its gzip-compressed content is" if self.info.compressed else "it is"
            raise CaptureError(path, f"is not a pcap or pcapng capture: {what} {_describe(self._head[:64])}")
        if not self.info.compressed:
            try:
                self._mm = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                self._mm = None  # a pipe or a special file: read it in chunks
            else:
                self._mm.madvise(mmap.MADV_SEQUENTIAL)
                self._digest = hashlib.sha256() if hash_file else None
                self._hashing.digest = None

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes; a damaged or cut gzip stream gives what came before the damage, then b""."""
        if self._failed:
            return b""
        if self._gzip is None:
            try:
                return self._hashing.read(n)
            except OSError as exc:
                self._failed = True
                self.damaged(f"read failed ({exc.strerror or exc})")
                return b""
        # GzipFile.read() discards what it decompressed when the stream turns out cut; read1() does not.
        parts: list[bytes] = []
        have = 0
        while have < n:
            try:
                part = self._gzip.read1(n - have)
            except (OSError, EOFError, zlib.error) as exc:
                self._failed = True
                if not hasattr(self, "_head"):
                    raise CaptureError(self.path, f"cannot be decompressed: {exc}") from None
                self.damaged(f"decompression failed ({exc})")
                break
            if not part:
                break
            parts.append(part)
            have += len(part)
            self._inflated += len(part)
            if self._bomb():
                break
        return b"".join(parts)

    def _bomb(self) -> bool:
        """Whether the gzip stream inflated past its bounds; if so, the capture ends here as damaged."""
        compressed = max(1, self._hashing.consumed)
        if self._inflated > MAX_GZIP_OUTPUT:
            why = f"inflated to more than {MAX_GZIP_OUTPUT} bytes, the limit for a gzip capture"
        elif self._inflated > GZIP_RATIO_FLOOR and self._inflated > MAX_GZIP_RATIO * compressed:
            why = (
                f"inflated {self._inflated // compressed} times its compressed size ({self._inflated} bytes from "
                f"{compressed}), more than the {MAX_GZIP_RATIO} a capture reaches: a gzip bomb?"
            )
        else:
            return False
        self._failed = True
        self.damaged(f"decompression stopped: {why} (if it is a real capture, gunzip it and analyze that)")
        return True

    def damaged(self, what: str) -> None:
        self.info.truncated = True
        self.warnings.append(
            f"{self.path}: {what}; the packets before that point were analyzed, the rest is lost"
        )

    def chunks(self) -> Iterator[Chunk]:
        """The file's bytes: the whole mapping, or large pieces starting with the ones read for the magic."""
        if self._mm is not None:
            yield self._mm
            return
        head, self._head = self._head, b""
        yield head
        while block := self._read(CHUNK):
            yield block

    def release(self, pos: int) -> None:
        """The walker is done with the mapping before ``pos``: hash those pages and hand them back.

        The hashing runs on another thread while the walker goes on (hashlib lets go of the GIL
        on large buffers): the pages go back once it is done with them, at the next release."""
        mm = self._mm
        if mm is None:
            return
        upto = pos - pos % mmap.PAGESIZE
        if upto <= self._released:
            return
        self._settle()
        start, self._released = self._released, upto
        if self._digest is None:
            mm.madvise(mmap.MADV_DONTNEED, start, upto - start)
            return
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="phonehome-sha256")
        self._in_flight = (self._hasher.submit(self._hash, start, upto), start, upto)

    def _settle(self) -> None:
        """Waits for the hashing in flight (its error is raised here), then hands its pages back."""
        if self._in_flight is None:
            return
        (hashed, start, end), self._in_flight = self._in_flight, None
        hashed.result()
        if self._mm is not None and not self._mm.closed:
            self._mm.madvise(mmap.MADV_DONTNEED, start, end - start)

    def _hash(self, start: int, end: int) -> None:
        if self._digest is not None and self._mm is not None:
            with memoryview(self._mm) as view, view[start:end] as part:
                self._digest.update(part)

    def packets(self) -> Iterator[Packet]:
        """Every packet of the file, in file order."""
        return self._pcap() if self.info.format == "pcap" else pcapng.read(self)

    def _pcap(self) -> Iterator[Packet]:
        info = self.info
        chunks = self.chunks()
        buf = next(chunks)
        while len(buf) < 24:  # a gzip stream may hand out a short first read
            more = next(chunks, b"")
            if not more:
                break
            buf = bytes(buf) + bytes(more)
        magic = struct.unpack_from("<I", buf)[0]
        order, scale, rec_size = PCAP_MAGICS[magic]
        linktype_field = struct.unpack_from(order + "I", buf, 20)[0]
        linktype = linktype_field & 0x03FFFFFF  # upper bits carry FCS length flags
        info.link_types.append(linktype)
        header = struct.Struct(order + "IIII")
        unpack = header.unpack_from
        pos = 24
        packets = 0
        nbytes = 0
        release_at = RELEASE_EVERY
        # Declared: struct gives Any, and compiled code would then compare and add boxed objects.
        sec: int
        frac: int
        incl: int
        orig: int
        while True:
            end = len(buf)
            while pos + rec_size <= end:
                if pos >= release_at:
                    self.release(pos)
                    release_at = pos + RELEASE_EVERY
                sec, frac, incl, orig = unpack(buf, pos)
                if incl > MAX_RECORD:  # whether the buffer holds it or not: mapped and streamed alike
                    info.packets, info.bytes = packets, nbytes
                    self.damaged(f"record at offset {self.offset(buf, pos)} claims {incl} bytes")
                    return
                start = pos + rec_size
                nxt = start + incl
                if nxt > end:
                    break
                packets += 1
                nbytes += incl
                ts = float(sec) + float(frac) * scale  # sec + frac * scale, in floats (compiled: native)
                yield ts, linktype, buf[start:nxt], orig
                pos = nxt
            more = next(chunks, b"")
            if not more:
                break
            self.consumed += pos
            buf = buf[pos:] + bytes(more)
            pos = 0
        info.packets, info.bytes = packets, nbytes
        if pos < len(buf):
            self.damaged(f"file ends inside a record (offset {self.offset(buf, pos)})")

    def offset(self, buf: Chunk, pos: int) -> int:
        """File offset (decompressed) of ``buf[pos]``."""
        return self.consumed + pos

    def finish(self) -> CaptureFile:
        """Completes ``info`` (the file's SHA-256 over all its bytes, read or not) and closes the file."""
        if self._mm is not None and not self._mm.closed:
            self._settle()
            self._hash(self._released, len(self._mm))
            self._released = len(self._mm)
            if self._digest is not None:
                self.info.sha256 = self._digest.hexdigest()
        if self._hashing.digest is not None and not self._hashing.raw.closed:
            try:
                self._hashing.drain()
                self.info.sha256 = self._hashing.digest.hexdigest()
            except OSError as exc:
                self.warnings.append(
                    f"{self.path}: could not be read to its end for its SHA-256 ({exc.strerror or exc})"
                )
        self.close()
        return self.info

    def close(self) -> None:
        if self._hasher is not None:
            # The mapping cannot close while the hashing thread holds a view of it.
            self._hasher.shutdown(wait=True)
            self._hasher = None
            self._in_flight = None
        if self._mm is not None:
            self._mm.close()
        if self._gzip is not None:
            self._gzip.close()
        self._hashing.close()


def open_capture(
    path: str | os.PathLike[str] | Path, *, first_frame: int = 1, hash_file: bool = True
) -> CaptureReader:
    """Opens one capture file; raises CaptureError naming the file and the problem."""
    return CaptureReader(path, first_frame=first_frame, hash_file=hash_file)
