"""WebSocket frames (RFC 6455) of one direction, unmasked, reassembled and inflated into messages.

A client masks every frame it sends with a fresh 4-byte key, so an
identifier in a WebSocket message never appears as such in the stream; a
message may also be fragmented across frames and compressed with
permessage-deflate (RFC 7692). :class:`WebSocketReader` undoes all three,
bounded: messages are handed out in pieces past a limit (see ``spool``) and
inflation stops at a cap. Hand-written: wsproto and websockets raise on the
protocol errors a hostile client makes and keep no stream offsets.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from phonehome.traffic.spool import Spool

MESSAGE_LIMIT = 1 << 20
"""Bytes of a message held before it is handed out in pieces."""
INFLATE_LIMIT = 16 << 20
"""Decompressed bytes per message; past it the direction's compressed messages are passed on raw."""
_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: removed by the sender, appended by the receiver
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
SERVER_WAIT = 16 << 10
"""Server bytes searched for the 101 response that starts its frames."""
_SWITCHING = re.compile(rb"HTTP/1\.[0-9] 101\b")


@dataclass(frozen=True, slots=True)
class WsMessage:
    """A message (or a piece of a long one), or a control frame's payload, as the application sent it."""

    kind: str
    """``text``, ``binary``, ``close``, ``ping``, ``pong`` (a reserved opcode's payload: ``binary``)."""
    data: bytes
    offset: int
    """Stream offset of the header of the frame that began it."""


class WebSocketReader:
    """One direction's frames from a stream offset on; never raises, bounded by its limits."""

    __slots__ = (
        "_frame_fin",
        "_frame_kind",
        "_frame_offset",
        "_frame_spool",
        "_head",
        "_inflate",
        "_inflated",
        "_left",
        "_mask",
        "_masked",
        "_msg_compressed",
        "_msg_kind",
        "_msg_offset",
        "_phase",
        "_spool",
        "anomalies",
        "deflate_ok",
        "from_client",
        "limit",
        "offset",
        "stopped",
    )

    def __init__(self, offset: int, *, from_client: bool, limit: int = MESSAGE_LIMIT) -> None:
        self.offset = offset
        self.from_client = from_client
        self.limit = limit
        self.stopped = False
        """Bytes were lost (a gap): the framing cannot be followed."""
        self.anomalies: list[str] = []
        """What did not read as RFC 6455 says (each kind once)."""
        self.deflate_ok = True
        """False once inflation failed or hit its cap: later compressed messages are passed on raw."""
        self._head = bytearray()
        self._left = 0
        self._mask = b""
        self._masked = False
        self._phase = 0
        self._frame_kind = ""
        self._frame_fin = True
        self._frame_offset = 0
        self._frame_spool: Spool | None = None
        """A control frame's payload (or a reserved opcode's), handed out on its own."""
        self._msg_kind: str | None = None
        self._msg_offset = 0
        self._msg_compressed = False
        self._spool = Spool(limit)
        self._inflate = zlib.decompressobj(-15)
        self._inflated = 0

    def feed(self, offset: int, data: bytes) -> list[WsMessage]:
        """The messages (and pieces) that ``data``, stream bytes from ``offset``, completed."""
        if self.stopped or not data:
            return []
        if offset != self.offset:
            if offset > self.offset:
                self._note("bytes lost before capture: WebSocket framing not followed past them")
                self.stopped = True
                return []
            data = data[self.offset - offset :]
            offset = self.offset
        out: list[WsMessage] = []
        pos, n = 0, len(data)
        while pos < n:
            if self._left == 0 and not self._in_payload():
                used = self._header(data, pos, offset, out)
                pos += used
                if not self._in_payload():
                    continue
                if self._left == 0:
                    self._frame_end(out)
                continue
            take = min(self._left, n - pos)
            self._payload(self._unmask(data[pos : pos + take]), out)
            pos += take
            self._left -= take
            if self._left == 0:
                self._frame_end(out)
        self.offset = offset + n
        return out

    def finish(self) -> list[WsMessage]:
        """At the stream's end: a message cut short is handed out as far as it came."""
        out: list[WsMessage] = []
        if self._frame_spool is not None:
            self._emit_frame(out)
        if self._msg_kind is not None:
            self._note("a fragmented message was cut by the end of the stream")
            self._message_end(out, final=False)
        return out

    # -- frames ----------------------------------------------------------------------------------------

    def _in_payload(self) -> bool:
        return self._frame_kind != ""

    def _header(self, data: bytes, pos: int, offset: int, out: list[WsMessage]) -> int:
        """Consumes header bytes from ``data[pos:]``; returns how many."""
        head = self._head
        if not head:
            self._frame_offset = offset + pos
        start = pos
        while pos < len(data):
            head.append(data[pos])
            pos += 1
            need = _header_length(head)
            if need is not None and len(head) >= need:
                self._start_frame(bytes(head), out)
                self._head = bytearray()
                break
        return pos - start

    def _start_frame(self, head: bytes, out: list[WsMessage]) -> None:
        b0, b1 = head[0], head[1]
        fin, rsv1, opcode = bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F
        length = b1 & 0x7F
        pos = 2
        if length == 126:
            length = int.from_bytes(head[2:4], "big")
            pos = 4
        elif length == 127:
            length = int.from_bytes(head[2:10], "big") & ((1 << 63) - 1)
            pos = 10
        self._masked = bool(b1 & 0x80)
        self._mask = head[pos : pos + 4] if self._masked else b""
        self._phase = 0
        self._left = length
        self._frame_fin = fin
        if self.from_client and not self._masked:
            self._note("a client frame was not masked")
        if b0 & 0x30:
            self._note("a frame set RSV2 or RSV3, which no extension negotiated here defines")
        kind = OPCODES.get(opcode)
        if kind is None:
            self._note(f"a frame used reserved opcode {opcode}: its payload is passed on as binary")
            kind = "reserved"
        if kind in ("close", "ping", "pong", "reserved"):
            self._frame_kind = kind
            self._frame_spool = Spool(self.limit)
            return
        if kind == "continuation":
            if self._msg_kind is None:
                self._note("a continuation frame came without a message to continue")
                self._begin_message("binary", False)
        else:
            if self._msg_kind is not None:
                self._note("a new message began before the previous one ended")
                self._message_end(out, final=False)
            self._begin_message(kind, rsv1)
        self._frame_kind = "data"

    def _begin_message(self, kind: str, compressed: bool) -> None:
        self._msg_kind = kind
        self._msg_offset = self._frame_offset
        self._msg_compressed = compressed and self.deflate_ok
        if compressed and not self.deflate_ok:
            self._note("a compressed message after inflation failed: passed on raw")
        self._inflated = 0
        self._spool = Spool(self.limit)

    def _unmask(self, piece: bytes) -> bytes:
        if not self._masked or not piece:
            return piece
        phase = self._phase
        mask = self._mask[phase:] + self._mask[:phase]
        self._phase = (phase + len(piece)) % 4
        n = len(piece)
        key = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(piece, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")

    def _payload(self, piece: bytes, out: list[WsMessage]) -> None:
        if self._frame_spool is not None:
            for part in self._frame_spool.add(piece):
                out.append(WsMessage(self._control_kind(), part, self._frame_offset))
            return
        if self._msg_compressed:
            piece = self._inflate_piece(piece)
        for part in self._spool.add(piece):
            out.append(WsMessage(self._msg_kind or "binary", part, self._msg_offset))

    def _inflate_piece(self, piece: bytes) -> bytes:
        out = bytearray()
        while piece and self._msg_compressed:
            room = INFLATE_LIMIT - self._inflated
            try:
                inflated = self._inflate.decompress(piece, room) if room > 0 else b""
            except zlib.error:
                self._note("a compressed message did not inflate: passed on raw")
                self._deflate_failed()
                return bytes(out) + piece
            self._inflated += len(inflated)
            out += inflated
            if self._inflate.unconsumed_tail or room <= 0:
                self._note(f"a compressed message inflated past {INFLATE_LIMIT} bytes: the rest was not read")
                self._deflate_failed()
                break
            piece = b""
            if self._inflate.eof:
                # A final deflate block ends the sender's stream; what follows starts a new one.
                piece = self._inflate.unused_data
                self._inflate = zlib.decompressobj(-15)
        return bytes(out)

    def _deflate_failed(self) -> None:
        self.deflate_ok = False
        self._msg_compressed = False

    def _frame_end(self, out: list[WsMessage]) -> None:
        kind = self._frame_kind
        if self._frame_spool is not None:
            self._emit_frame(out)
            self._frame_kind = ""
            return
        self._frame_kind = ""
        if kind == "data" and self._frame_fin:
            self._message_end(out, final=True)

    def _emit_frame(self, out: list[WsMessage]) -> None:
        spool = self._frame_spool
        assert spool is not None
        rest = spool.finish()
        if rest:
            out.append(WsMessage(self._control_kind(), rest, self._frame_offset))
        self._frame_spool = None

    def _control_kind(self) -> str:
        return "binary" if self._frame_kind in ("reserved", "") else self._frame_kind

    def _message_end(self, out: list[WsMessage], *, final: bool) -> None:
        if self._msg_compressed and final:
            tail = self._inflate_piece(_TAIL)
            for part in self._spool.add(tail):
                out.append(WsMessage(self._msg_kind or "binary", part, self._msg_offset))
        rest = self._spool.finish()
        if rest:  # an empty message has nothing to scan
            out.append(WsMessage(self._msg_kind or "binary", rest, self._msg_offset))
        self._msg_kind = None

    def _note(self, text: str) -> None:
        if text not in self.anomalies and len(self.anomalies) < 8:
            self.anomalies.append(text)


class ServerFrames:
    """The server's side of an upgrade: its frames begin after its 101 response, if it sends one.

    A server may refuse (a bench's sink answers 204): then nothing here reads frames.
    """

    __slots__ = ("_wait", "_wait_offset", "reader")

    def __init__(self, offset: int) -> None:
        self.reader: WebSocketReader | None = None
        self._wait = bytearray()
        self._wait_offset = offset
        """Stream offset of ``_wait``; -1 once the search gave up."""

    def feed(self, offset: int, data: bytes) -> list[WsMessage]:
        if self.reader is not None:
            return self.reader.feed(offset, data)
        if self._wait_offset < 0:
            return []
        if offset != self._wait_offset + len(self._wait):
            self._wait, self._wait_offset = bytearray(), offset
        wait = self._wait
        wait += data[:SERVER_WAIT]
        match = _SWITCHING.search(wait)
        end = -1
        if match is not None:
            crlf, lf = wait.find(b"\r\n\r\n", match.start()), wait.find(b"\n\n", match.start())
            end = crlf + 4 if crlf >= 0 and (lf < 0 or crlf < lf) else (lf + 2 if lf >= 0 else -1)
        if end < 0:
            if len(wait) >= SERVER_WAIT:
                self._wait, self._wait_offset = bytearray(), -1
            return []
        start = self._wait_offset + end
        rest = bytes(wait[end:])
        self._wait = bytearray()
        self.reader = WebSocketReader(start, from_client=False)
        return self.reader.feed(start, rest) if rest else []

    def finish(self) -> list[WsMessage]:
        return self.reader.finish() if self.reader is not None else []

    @property
    def anomalies(self) -> list[str]:
        return self.reader.anomalies if self.reader is not None else []


def _header_length(head: bytearray) -> int | None:
    """Length of the frame header ``head`` begins (2 to 14 bytes); None until its second byte."""
    if len(head) < 2:
        return None
    length = head[1] & 0x7F
    size = 2 + (2 if length == 126 else 8 if length == 127 else 0)
    return size + (4 if head[1] & 0x80 else 0)


# -- builder (tests) ---------------------------------------------------------------------------------------


def build_frame(
    payload: bytes, opcode: int = 1, *, fin: bool = True, mask: bytes | None = None, rsv1: bool = False
) -> bytes:
    """One frame; ``mask`` (4 bytes) masks it as a client must."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, mask_bit | n])
    elif n < 1 << 16:
        head = bytes([b0, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    key = (mask * (n // 4 + 1))[:n]
    return head + mask + bytes(a ^ b for a, b in zip(payload, key, strict=True))


def deflate_message(data: bytes, compressor: zlib._Compress | None = None) -> bytes:
    """``data`` compressed as permessage-deflate sends it (raw deflate, sync flush, tail removed)."""
    comp = compressor or zlib.compressobj(wbits=-15)
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(_TAIL) else out
