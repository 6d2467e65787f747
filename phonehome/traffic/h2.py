"""HTTP/2 requests in clear (h2c, RFC 9113) from a client's stream: frames, HPACK, bodies.

An h2c client (prior knowledge, or ``Upgrade: h2c``) sends its headers
HPACK-coded (RFC 7541): Huffman strings and indexes into a table both sides
build, so a byte scan never sees a header's name or value. Its bodies come
in DATA frames that may interleave streams and carry padding.
:class:`H2RequestReader` turns the client's frames back into
:class:`HttpRequest` records (version ``HTTP/2``), bounded; whatever it
cannot decode stops it cleanly with a reason. HPACK is python-hyper's
``hpack``; the framing is hand-written (the ``h2`` state machine raises on
the protocol errors a hostile client makes and keeps no stream offsets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hpack import Decoder, HPACKError

from phonehome.traffic.flow import HttpRequest
from phonehome.traffic.spool import Spool

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADER_LIMIT = 256 << 10
"""Bytes of one header block (HEADERS plus CONTINUATION), and of its decoded header list."""
FRAME_LIMIT = 1 << 20
"""Largest frame payload read (SETTINGS_MAX_FRAME_SIZE may allow 16 MB); a larger one is skipped."""
TABLE_LIMIT = 1 << 16
"""Largest HPACK dynamic table a client may size (memory bound)."""
MAX_STREAMS = 128
"""Requests open at once; past it the oldest is handed out as cut."""

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    range(10)
)
END_STREAM, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x4, 0x8, 0x20


@dataclass(slots=True)
class _Stream:
    offset: int
    first_frame: int
    last_frame: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: Spool | None = None
    kept: bytes | None = None
    """The record's body once the body outgrew the limit (its first piece)."""
    body_offset: int = -1
    truncated: bool = False
    ended: bool = False


@dataclass(frozen=True, slots=True)
class BodyPiece:
    """Body bytes of a request past the body limit (they reach the observer as content, not the record)."""

    data: bytes
    offset: int
    frame: int


class H2RequestReader:
    """The client side of an h2c connection, from its preface on."""

    def __init__(self, offset: int, *, body_limit: int = 1 << 20) -> None:
        self.offset = offset
        self.body_limit = body_limit
        self.stopped = False
        self.anomaly: str | None = None
        """Why the reader stopped early, if it did (once stopped, the rest is payload only)."""
        self.pieces: list[BodyPiece] = []
        """Body bytes past the limit since the last ``take_pieces``."""
        self._decoder = Decoder(max_header_list_size=HEADER_LIMIT)
        self._decoder.max_allowed_table_size = TABLE_LIMIT
        self._buf = bytearray()
        self._preface = True
        self._streams: dict[int, _Stream] = {}
        self._block: bytearray | None = None
        self._block_stream = 0
        self._block_end = False
        self._block_offset = 0
        self._skip = 0
        self._frame_offset = 0

    def feed(self, offset: int, data: bytes, frame: int) -> list[HttpRequest]:
        """Requests completed by ``data`` (stream bytes from ``offset``, carried by ``frame``)."""
        if self.stopped or not data:
            return []
        if offset != self.offset:
            if offset > self.offset:
                return self._stop("bytes lost before capture: HTTP/2 framing not followed past them")
            data = data[self.offset - offset :]
            offset = self.offset
        self.offset = offset + len(data)
        done: list[HttpRequest] = []
        if self._skip:
            take = min(self._skip, len(data))
            self._skip -= take
            data, offset = data[take:], offset + take
        buf = self._buf
        start = offset - len(buf)
        buf += data
        pos = 0
        if self._preface:
            if len(buf) < len(PREFACE):
                if not PREFACE.startswith(bytes(buf)):
                    return self._stop("the client did not send the HTTP/2 connection preface")
                return done
            if not buf.startswith(PREFACE):
                return self._stop("the client did not send the HTTP/2 connection preface")
            self._preface = False
            pos = len(PREFACE)
        while not self.stopped and len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            ftype, flags = buf[pos + 3], buf[pos + 4]
            stream_id = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            if length > FRAME_LIMIT:
                self._note_frame_skipped(ftype)
                skip = 9 + length
                have = len(buf) - pos
                if have >= skip:
                    pos += skip
                    continue
                self._skip = skip - have
                pos = len(buf)
                break
            if len(buf) - pos < 9 + length:
                break
            self._frame_offset = start + pos
            payload = bytes(buf[pos + 9 : pos + 9 + length])
            pos += 9 + length
            self._frame(ftype, flags, stream_id, payload, frame=frame, done=done)
        if self.stopped:
            return done
        del buf[:pos]
        return done

    def finish(self) -> list[HttpRequest]:
        """At the stream's end: requests still open are handed out as cut."""
        done = [self._request(sid, s, cut=True) for sid, s in self._streams.items() if s.headers]
        self._streams = {}
        self._buf = bytearray()
        self.stopped = True
        return done

    def take_pieces(self) -> list[BodyPiece]:
        pieces, self.pieces = self.pieces, []
        return pieces

    # -- frames ----------------------------------------------------------------------------------------

    def _frame(
        self, ftype: int, flags: int, stream_id: int, payload: bytes, *, frame: int, done: list[HttpRequest]
    ) -> None:
        if self._block is not None and ftype != CONTINUATION:
            self._stop("a header block was interrupted by another frame")
            return
        if ftype == DATA:
            self._data(flags, stream_id, payload, frame, done)
        elif ftype in (HEADERS, PUSH_PROMISE):
            content = self._unpad(flags, payload)
            if content is None:
                return
            if ftype == HEADERS and flags & PRIORITY_FLAG:
                content = content[5:]
            elif ftype == PUSH_PROMISE:
                content = content[4:]
            if stream_id == 0:
                self._stop("a HEADERS frame on stream 0")
                return
            stream = self._open(stream_id, frame, done)
            stream.last_frame = frame
            self._block = bytearray(content)
            self._block_stream = stream_id
            self._block_end = bool(flags & END_STREAM) and ftype == HEADERS
            if flags & END_HEADERS:
                self._end_block(frame, done)
        elif ftype == CONTINUATION:
            if self._block is None or stream_id != self._block_stream:
                self._stop("a CONTINUATION frame without the header block it continues")
                return
            self._block += payload
            if len(self._block) > HEADER_LIMIT:
                self._stop(f"a header block over {HEADER_LIMIT} bytes")
                return
            if flags & END_HEADERS:
                self._end_block(frame, done)
        elif ftype == RST_STREAM and stream_id in self._streams:
            stream = self._streams.pop(stream_id)
            if stream.headers:
                done.append(self._request(stream_id, stream, cut=True))

    def _unpad(self, flags: int, payload: bytes) -> bytes | None:
        if not flags & PADDED:
            return payload
        if not payload or payload[0] >= len(payload):
            self._stop("padding longer than its frame")
            return None
        return payload[1 : len(payload) - payload[0]]

    def _open(self, stream_id: int, frame: int, done: list[HttpRequest]) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            if len(self._streams) >= MAX_STREAMS:
                oldest = next(iter(self._streams))
                old = self._streams.pop(oldest)
                if old.headers:
                    done.append(self._request(oldest, old, cut=True))
            stream = self._streams[stream_id] = _Stream(self._frame_offset, frame, frame)
        return stream

    def _end_block(self, frame: int, done: list[HttpRequest]) -> None:
        block, self._block = self._block, None
        assert block is not None
        try:
            fields = self._decoder.decode(bytes(block), raw=True)
        except (HPACKError, ValueError, IndexError, OverflowError) as exc:
            self._stop(f"an HTTP/2 header block could not be decoded ({type(exc).__name__})")
            return
        stream = self._streams.get(self._block_stream)
        if stream is None:
            return
        stream.headers.extend((bytes(n), bytes(v)) for n, v in fields)
        if self._block_end:
            self._end_stream(self._block_stream, done)

    def _data(self, flags: int, stream_id: int, payload: bytes, frame: int, done: list[HttpRequest]) -> None:
        content = self._unpad(flags, payload)
        if content is None:
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if stream_id == 0:
                self._stop("a DATA frame on stream 0")
            return
        stream.last_frame = frame
        if stream.body is None:
            stream.body = Spool(self.body_limit)
            data_start = 9 + (1 if flags & PADDED else 0)
            stream.body_offset = self._frame_offset + data_start
        for piece in stream.body.add(content):
            if stream.kept is None:
                stream.kept = piece
                stream.truncated = True
            else:
                self.pieces.append(BodyPiece(piece, stream.body_offset, frame))
        if flags & END_STREAM:
            self._end_stream(stream_id, done)

    def _end_stream(self, stream_id: int, done: list[HttpRequest]) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            done.append(self._request(stream_id, stream, cut=False))

    def _request(self, stream_id: int, stream: _Stream, *, cut: bool) -> HttpRequest:
        pseudo: dict[str, str] = {}
        headers: list[tuple[str, str]] = []
        body = b""
        for raw_name, raw_value in stream.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            if name in (":method", ":path", ":authority") and name not in pseudo:
                pseudo[name] = value
            else:
                headers.append((name, value))
        if ":authority" in pseudo:
            headers.insert(0, ("Host", pseudo[":authority"]))
        if stream.body is not None:
            rest = stream.body.finish()
            if stream.kept is None:
                body = rest
            else:
                body = stream.kept
                if rest:
                    self.pieces.append(BodyPiece(rest, stream.body_offset, stream.last_frame))
        method = pseudo.get(":method", "")
        target = pseudo.get(":path") or (pseudo.get(":authority", "") if method == "CONNECT" else "")
        return HttpRequest(
            method=method,
            target=target,
            version="HTTP/2",
            headers=headers,
            body=body,
            body_truncated=cut or stream.truncated,
            offset=stream.offset,
            body_offset=stream.body_offset if stream.body_offset >= 0 else stream.offset,
            first_frame=stream.first_frame,
            last_frame=stream.last_frame,
        )

    def _note_frame_skipped(self, ftype: int) -> None:
        if ftype in (HEADERS, CONTINUATION, PUSH_PROMISE):
            self._stop(f"a header frame over {FRAME_LIMIT} bytes")
        elif self.anomaly is None:
            self.anomaly = f"a frame over {FRAME_LIMIT} bytes was skipped"

    def _stop(self, reason: str) -> list[HttpRequest]:
        self.stopped = True
        self.anomaly = reason
        self._buf = bytearray()
        self._block = None
        return []


# -- builder (tests) ---------------------------------------------------------------------------------------


def build_frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream_id.to_bytes(4, "big") + payload
