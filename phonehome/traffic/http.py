"""HTTP/1.x requests (RFC 9112) from a reassembled client-to-server stream, on any port.

:class:`HttpRequestParser` is fed the stream in order, in pieces of any size,
and hands back each request once complete: pipelined requests, heads split
across segments, bodies framed by Content-Length or chunked (de-chunked,
trailers kept as header fields), bodies cut at a limit. A stream that stops
being HTTP (garbage, TLS after CONNECT, WebSocket frames) stops the parser
cleanly. Hand-written rather than h11/httptools: those keep no stream offsets
or frame numbers, and raise where a capture needs to keep what it can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from phonehome.traffic.flow import HttpRequest

_TCHAR: Final = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_REQUEST_LINE: Final = re.compile(rb"(" + _TCHAR + rb"{1,32}) ([^\x00\r\n]+?) (HTTP/1\.[0-9])\r?\Z")
# A line that may still become a request line as more bytes arrive.
_REQUEST_START: Final = re.compile(
    _TCHAR + rb"{0,32}\Z|" + _TCHAR + rb"{1,32} [^\x00\r\n]*\r?\Z",
)
_STATUS_LINE: Final = re.compile(rb"HTTP/(1\.[0-9]) ([0-9]{3})(?: [^\r\n]*)?\r?\Z")
_CHUNK_SIZE: Final = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\Z")
_PREFIX_CHECK: Final = 64
"""Bytes of a request line checked before its end arrives (enough to reject non-HTTP early)."""

_HEAD, _BODY, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _RESYNC, _STOPPED = range(8)


def looks_like_request(prefix: bytes) -> bool:
    """The first bytes of a stream could start an HTTP/1.x request (cheap: the first line only).

    ``GET /x HTTP/1.1\\r\\n`` or any prefix of a request line (a method token,
    a space, a target...); a full first line must end in ``HTTP/1.x``.
    """
    end = prefix.find(b"\n", 0, 16384)
    if end < 0:
        return len(prefix) > 0 and _REQUEST_START.match(prefix, 0, _PREFIX_CHECK) is not None
    return _REQUEST_LINE.match(prefix, 0, end) is not None


def _headers(lines: Iterable[bytes]) -> list[tuple[str, str]]:
    """Header fields from raw lines; obsolete line folding joins the previous value."""
    fields: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in b" \t" and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip().decode('latin-1')}")
            continue
        raw_name, colon, raw_value = line.partition(b":")
        if colon:
            fields.append((raw_name.rstrip().decode("latin-1"), raw_value.strip(b" \t").decode("latin-1")))
    return fields


def _framing(headers: list[tuple[str, str]]) -> tuple[bool, int]:
    """(chunked, content length) of a request's body per RFC 9112 6.3; (False, 0): no body."""
    length: int | None = None
    for name, value in headers:
        key = name.lower()
        if key == "transfer-encoding":
            codings = [c.strip().lower() for c in value.split(",")]
            return codings[-1] == "chunked", 0
        if key == "content-length" and length is None:
            first = value.split(",", 1)[0].strip()
            if first.isdigit() and first.isascii():
                length = int(first)
    return False, length or 0


def parse_response_head(data: bytes) -> tuple[int, list[tuple[str, str]]] | None:
    """(status, header fields) of the response starting ``data``; None if it is not one.

    Header lines complete in ``data`` are returned even when the head is cut.
    """
    end = data.find(b"\n")
    if end < 0 or not _STATUS_LINE.match(data, 0, end):
        return None
    ends = [i for i in (data.find(b"\n\r\n", end), data.find(b"\n\n", end)) if i >= 0]
    head_end = min(ends) if ends else -1
    lines = data[end + 1 : head_end if head_end >= 0 else data.rfind(b"\n") + 1].split(b"\n")
    return int(data[9:12]), _headers(lines)


class HttpRequestParser:
    """HTTP/1.x requests of one client-to-server stream.

    ``offset`` in :meth:`feed` counts bytes of the stream; a jump forward is a
    gap (lost bytes): a body (Content-Length, or inside a chunk) absorbs it and
    is flagged cut, otherwise parsing resumes at the next piece that starts a
    request. Memory
    is bounded by ``head_limit`` plus ``body_limit`` whatever the stream.
    """

    def __init__(self, body_limit: int = 4 << 20, head_limit: int = 64 << 10) -> None:
        self.body_limit = body_limit
        self.head_limit = head_limit
        self.stopped = False
        """True once the stream stopped being HTTP (or entered a CONNECT tunnel)."""
        self.tunnel_offset: int | None = None
        """Stream offset where a CONNECT tunnel's payload (often TLS) begins, once seen."""
        self.rest = b""
        """Once stopped: the bytes fed but not parsed (a tunnel's, an upgraded protocol's first bytes)."""
        self.rest_offset = 0
        """Stream offset of ``rest``."""
        self._state = _HEAD
        self._buf = bytearray()
        self._buf_offset = 0
        """Stream offset of ``_buf[0]``."""
        self._next: int | None = None
        self._marks: list[tuple[int, int]] = []
        """(stream offset, frame) where each fed piece still buffered began."""
        self._scan = 0
        self._line_ok = False
        self._request: HttpRequest | None = None
        self._body = bytearray()
        self._remaining = 0
        self._first_chunk = False

    # -- feeding ---------------------------------------------------------------------------------------

    def feed(self, data: bytes, offset: int, frame: int) -> list[HttpRequest]:
        """The requests completed by ``data`` (stream bytes from ``offset``, carried by ``frame``)."""
        if self.stopped or not data:
            return []
        done: list[HttpRequest] = []
        if self._next is None:
            self._next = self._buf_offset = offset
        elif offset > self._next:
            self._gap(offset, done)
        elif offset < self._next:
            data = data[self._next - offset :]
            offset = self._next
            if not data:
                return done
        self._next = offset + len(data)
        if self._state == _RESYNC:
            if not looks_like_request(data.lstrip(b"\r\n")):
                self._buf_offset = self._next
                return done
            self._state = _HEAD
            self._buf_offset = offset
        self._buf += data
        self._marks.append((offset, frame))
        self._run(done)
        self._prune_marks()
        return done

    def finish(self) -> list[HttpRequest]:
        """The request cut by the end of the stream, if one was started; the parser then stops."""
        done: list[HttpRequest] = []
        if not self.stopped:
            if self._state == _HEAD:
                self._cut_head(done)
            elif self._request is not None:
                # Cut by the end, unless only the (optional) trailer section was missing.
                self._emit(done, truncated=self._state != _TRAILERS)
        self._stop()
        return done

    # -- state machine ---------------------------------------------------------------------------------

    def _run(self, done: list[HttpRequest]) -> None:
        while not self.stopped:
            state = self._state
            if state == _HEAD:
                progressed = self._head(done)
            elif state == _BODY:
                progressed = self._body_bytes(done)
            elif state == _CHUNK_DATA:
                progressed = self._chunk_data()
            elif state in (_CHUNK_SIZE_LINE, _CHUNK_END):
                progressed = self._chunk_line(done)
            elif state == _TRAILERS:
                progressed = self._trailers(done)
            else:
                return
            if not progressed:
                return

    def _head(self, done: list[HttpRequest]) -> bool:
        buf = self._buf
        skip = 0
        while skip < len(buf) and buf[skip] in (13, 10):  # RFC 9112 2.2: empty lines before a request
            skip += 1
        if skip:
            self._consume(skip)
        if not buf:
            return False
        line_end = buf.find(b"\n", 0, self.head_limit)
        if line_end < 0:
            if not self._line_ok:
                if not _REQUEST_START.match(buf, 0, _PREFIX_CHECK):
                    self._stop()
                    return False
                self._line_ok = len(buf) >= _PREFIX_CHECK
            if len(buf) >= self.head_limit:
                self._stop()
            return False
        if not _REQUEST_LINE.match(buf, 0, line_end):
            self._stop()
            return False
        head_end, body_start = self._find_head_end(line_end)
        if head_end < 0:
            if len(buf) >= self.head_limit:
                self._cut_head(done)
                self._stop()
            return False
        self._start_request(line_end, head_end, body_start, done)
        return True

    def _find_head_end(self, line_end: int) -> tuple[int, int]:
        """(offset of the blank line's LF, offset after it), searching only bytes not searched before."""
        buf = self._buf
        start = max(line_end, self._scan - 3)
        crlf = buf.find(b"\n\r\n", start, self.head_limit)
        lf = buf.find(b"\n\n", start, self.head_limit if crlf < 0 else crlf)
        if lf >= 0:
            return lf + 1, lf + 2
        if crlf >= 0:
            return crlf + 2, crlf + 3
        self._scan = len(buf)
        return -1, -1

    def _start_request(self, line_end: int, head_end: int, body_start: int, done: list[HttpRequest]) -> None:
        buf = self._buf
        match = _REQUEST_LINE.match(buf, 0, line_end)
        assert match is not None
        method = match.group(1).decode("ascii")
        headers = _headers(bytes(buf[line_end + 1 : head_end]).split(b"\n"))
        start = self._buf_offset
        self._request = HttpRequest(
            method=method,
            target=match.group(2).decode("latin-1"),
            version=match.group(3).decode("ascii"),
            headers=headers,
            body=b"",
            body_truncated=False,
            offset=start,
            body_offset=start + body_start,
            first_frame=self._frame_at(start),
            last_frame=self._frame_at(start + body_start - 1),
        )
        self._body = bytearray()
        self._consume(body_start)
        self._scan = 0
        chunked, length = _framing(headers)
        if method == "CONNECT":
            # RFC 9110 9.3.6: what follows the head is the tunnel (TLS, usually), not HTTP.
            self.tunnel_offset = start + body_start
            self._emit(done)
            self._stop()
        elif chunked:
            self._first_chunk = True
            self._state = _CHUNK_SIZE_LINE
        elif length:
            self._remaining = length
            self._state = _BODY
        else:
            self._emit(done)

    def _body_bytes(self, done: list[HttpRequest]) -> bool:
        if not self._buf:
            return False
        take = min(self._remaining, len(self._buf))
        self._keep(take)
        self._remaining -= take
        if self._remaining == 0:
            self._state = _HEAD
            self._emit(done)
        return True

    def _chunk_data(self) -> bool:
        if not self._buf:
            return False
        take = min(self._remaining, len(self._buf))
        self._keep(take)
        self._remaining -= take
        if self._remaining == 0:
            self._state = _CHUNK_END
        return True

    def _chunk_line(self, done: list[HttpRequest]) -> bool:
        buf = self._buf
        end = buf.find(b"\n", 0, 1024)
        if end < 0:
            if len(buf) >= 1024:
                self._broken(done)
            return False
        if self._state == _CHUNK_END:
            if buf[:end].rstrip(b"\r"):
                self._broken(done)
                return False
            self._consume(end + 1)
            self._state = _CHUNK_SIZE_LINE
            return True
        match = _CHUNK_SIZE.match(buf, 0, end)
        if match is None:
            self._broken(done)
            return False
        size = int(match.group(1), 16)
        self._consume(end + 1)
        if self._first_chunk:
            assert self._request is not None
            self._request.body_offset = self._buf_offset
            self._first_chunk = False
        if size == 0:
            self._scan = 0
            self._state = _TRAILERS
        else:
            self._remaining = size
            self._state = _CHUNK_DATA
        return True

    def _trailers(self, done: list[HttpRequest]) -> bool:
        buf = self._buf
        if buf[:1] == b"\n" or buf[:2] == b"\r\n":
            self._consume(1 if buf[:1] == b"\n" else 2)
        else:
            head_end, body_start = self._find_head_end(0)
            if head_end < 0:
                if len(buf) >= self.head_limit:
                    self._broken(done)
                return False
            request = self._request
            assert request is not None
            request.headers.extend(_headers(bytes(buf[:head_end]).split(b"\n")))
            self._consume(body_start)
        self._state = _HEAD
        self._emit(done)
        return True

    # -- helpers ---------------------------------------------------------------------------------------

    def _keep(self, count: int) -> None:
        """Moves ``count`` body bytes from the buffer into the body, up to the limit."""
        request = self._request
        assert request is not None
        room = self.body_limit - len(self._body)
        if room > 0:
            self._body += self._buf[: min(room, count)]
        if count > room:
            request.body_truncated = True
        request.last_frame = self._frame_at(self._buf_offset + count - 1)
        self._consume(count)

    def _consume(self, count: int) -> None:
        del self._buf[:count]
        self._buf_offset += count
        self._scan = max(0, self._scan - count)
        if count:
            self._line_ok = False

    def _emit(self, done: list[HttpRequest], truncated: bool = False) -> None:
        request = self._request
        assert request is not None
        request.body = bytes(self._body)
        request.body_truncated |= truncated
        done.append(request)
        self._request = None
        self._body = bytearray()

    def _cut_head(self, done: list[HttpRequest]) -> None:
        """A head that never ended: kept as a request when its request line is whole."""
        buf = self._buf
        line_end = buf.find(b"\n", 0, self.head_limit)
        match = _REQUEST_LINE.match(buf, 0, line_end) if line_end >= 0 else None
        if match is None:
            return
        last_line = buf.rfind(b"\n", 0, self.head_limit)
        start = self._buf_offset
        done.append(
            HttpRequest(
                method=match.group(1).decode("ascii"),
                target=match.group(2).decode("latin-1"),
                version=match.group(3).decode("ascii"),
                headers=_headers(bytes(buf[line_end + 1 : last_line]).split(b"\n")),
                body=b"",
                body_truncated=True,
                offset=start,
                body_offset=start + last_line + 1,
                first_frame=self._frame_at(start),
                last_frame=self._frame_at(start + last_line),
            )
        )

    def _broken(self, done: list[HttpRequest]) -> None:
        """Chunked framing broke: the request so far is kept, the stream given up."""
        self._emit(done, truncated=True)
        self._stop()

    def _gap(self, offset: int, done: list[HttpRequest]) -> None:
        assert self._next is not None
        missing = offset - self._next
        if self._state in (_BODY, _CHUNK_DATA) and not self._buf and missing <= self._remaining:
            # The framing survives a hole inside a Content-Length body or a chunk.
            assert self._request is not None
            self._request.body_truncated = True
            self._remaining -= missing
            self._buf_offset = offset
            if self._remaining == 0 and self._state == _BODY:
                self._state = _HEAD
                self._emit(done)
            elif self._remaining == 0:
                self._state = _CHUNK_END
            return
        if self._request is not None:
            self._emit(done, truncated=True)
        self._buf = bytearray()
        self._marks = []
        self._buf_offset = offset
        self._scan = 0
        self._line_ok = False
        self._state = _RESYNC

    def _stop(self) -> None:
        self.stopped = True
        self.rest = bytes(self._buf)
        self.rest_offset = self._buf_offset
        self._state = _STOPPED
        self._buf = bytearray()
        self._marks = []
        self._body = bytearray()
        self._request = None

    def _frame_at(self, offset: int) -> int:
        marks = self._marks
        for i in range(len(marks) - 1, -1, -1):
            if marks[i][0] <= offset:
                return marks[i][1]
        return marks[0][1] if marks else 0

    def _prune_marks(self) -> None:
        marks = self._marks
        keep = 0
        while keep + 1 < len(marks) and marks[keep + 1][0] <= self._buf_offset:
            keep += 1
        if keep:
            del marks[:keep]


def build_request(
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes = b"",
    *,
    chunked: bool = False,
    chunk_size: int = 1024,
    trailers: Iterable[tuple[str, str]] = (),
    version: str = "HTTP/1.1",
) -> bytes:
    """A request as a client sends it; adds Content-Length or Transfer-Encoding unless given."""
    fields = list(headers.items() if isinstance(headers, Mapping) else headers)
    names = {name.lower() for name, _ in fields}
    if chunked and "transfer-encoding" not in names:
        fields.append(("Transfer-Encoding", "chunked"))
    elif not chunked and body and "content-length" not in names:
        fields.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    if not chunked:
        return head.encode("latin-1") + body
    out = bytearray(head.encode("latin-1"))
    for start in range(0, len(body), max(1, chunk_size)):
        chunk = body[start : start + chunk_size]
        out += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    out += b"0\r\n" + "".join(f"{n}: {v}\r\n" for n, v in trailers).encode("latin-1") + b"\r\n"
    return bytes(out)
