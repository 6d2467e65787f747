"""HTTP/1.1 requests as firmware sends them: exact bytes, header order as declared, bodies sized or chunked.

Hand-written rather than h11 or an HTTP library: a leak test reproduces a
client's bytes (the 2019 self-registration POST), so the request line, the
header order and casing, and the framing must be exactly what the profile
says. Responses are read with a deadline and a size bound (the server is
whatever the bench put there).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024


class HttpError(OSError):
    """A response that is not HTTP, or none in time."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def host_header(host: str, port: int, scheme: str) -> str:
    """``Host`` as clients write it: the port only when it is not the scheme's default (RFC 9110 7.2)."""
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


def chunk(body: bytes, size: int) -> bytes:
    """``body`` in chunked transfer coding (RFC 9112 7.1), ``size`` bytes per chunk, no trailers."""
    out = bytearray()
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


def build_request(
    method: str,
    target: str,
    host: str,
    headers: list[tuple[str, str]],
    body: bytes | None = None,
    *,
    chunked: bool = False,
    chunk_size: int = 1024,
    content_type: str | None = None,
) -> bytes:
    """The request's bytes. ``Host`` comes first unless given; framing headers are added when absent."""
    names = {name.lower() for name, _ in headers}
    fields = list(headers)
    if "host" not in names:
        fields.insert(0, ("Host", host))
    if body is not None:
        if content_type and "content-type" not in names:
            fields.append(("Content-Type", content_type))
        if chunked and "transfer-encoding" not in names:
            fields.append(("Transfer-Encoding", "chunked"))
        elif not chunked and "content-length" not in names:
            fields.append(("Content-Length", str(len(body))))
    head = f"{method} {target or '/'} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    payload = b"" if body is None else (chunk(body, chunk_size) if chunked else body)
    return head.encode("latin-1") + payload


def parse_head(data: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    """Status, reason and header fields of a response head (without the blank line)."""
    lines = data.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if (
        len(parts) < 2
        or not parts[0].startswith(b"HTTP/1.")
        or not (parts[1].isdigit() and len(parts[1]) == 3)
    ):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            headers.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
    return int(parts[1]), reason, headers


async def read_response(reader: asyncio.StreamReader, timeout: float, method: str = "GET") -> Response:
    """One response: its head, then a body framed by Content-Length or read to the close (bounded)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except asyncio.LimitOverrunError as exc:
        raise HttpError(f"response head longer than {MAX_HEAD} bytes") from exc
    except asyncio.IncompleteReadError as exc:
        raise HttpError(f"the server closed before a response head ({len(exc.partial)} bytes)") from exc
    status, reason, headers = parse_head(head[:-4])
    response = Response(status, reason, headers)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return response
    length = response.header("content-length")
    try:
        if length is not None and length.strip().isdigit():
            want = min(int(length), MAX_BODY)
            body = await asyncio.wait_for(reader.readexactly(want), timeout)
        else:
            body = await asyncio.wait_for(reader.read(MAX_BODY), timeout)
    except asyncio.IncompleteReadError as exc:
        body = exc.partial
    except TimeoutError:
        body = b""
    return Response(status, reason, headers, body)
