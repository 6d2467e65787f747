"""Decode first, then match: every layer a payload may hide an identifier in, bounded.

``decode(data, chain)`` returns the buffer and everything decoded from it as
:class:`View` records (``http-body>base64>json:IMEI1``). What is tried does
not depend on what the Content-Type claims: firmware labels base64 as
``application/encrypted-json``. Every decoder is bounded by :class:`Limits`;
hitting a bound is recorded (a decompression bomb is a finding, never an
out-of-memory).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import math
import re
import struct
import zlib
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import brotli
import zstandard

from phonehome.policy.protobuf import looks_like_message, parse_message


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on decoding one payload (an HTTP request, a datagram)."""

    max_depth: int = 8
    """Nested decodings (base64 in JSON in gzip...)."""
    max_output: int = 4 << 20
    """Bytes one decompression may produce; reaching it with a high ratio is a bomb."""
    max_total: int = 32 << 20
    """Bytes of all views of one payload together."""
    max_views: int = 20000
    max_tokens: int = 256
    """Embedded base64/hex tokens decoded per view."""
    bomb_ratio: int = 100
    """Output/input ratio at which a decompression that hit max_output is called a bomb."""


@dataclass(slots=True)
class View:
    """One buffer to scan: the payload itself or something decoded from it."""

    chain: str
    """How it was reached, e.g. ``http-body>base64>json:IMEI1``."""
    data: bytes
    key: str | None = None
    """The field name this value sits under (JSON key, form or multipart name, header), if any."""
    origin: int = 0
    """Offset, in the payload given to decode(), of the outermost encoded region it came from."""
    exact: bool = True
    """``data`` is a verbatim slice of the payload at ``origin`` (offsets inside it are exact)."""
    scan: bool = True
    """False when the matcher need not see it: a container parsed into fields (they are scanned
    instead), or bytes the stream matcher already saw."""
    parsed: bool = False
    """A structured decoder (JSON, form, multipart) read its fields: no need to look for key=value text."""
    context: bytes | None = None
    """For a field: the container text it was read from, so an excerpt can show its name and neighbours."""


@dataclass(slots=True)
class LimitEvent:
    """A bound was reached: part of the payload was not inspected."""

    chain: str
    reason: str
    bomb: bool = False
    origin: int = 0


@dataclass(slots=True)
class Decoded:
    views: list[View] = field(default_factory=list)
    limits: list[LimitEvent] = field(default_factory=list)


_B64_STD = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")
_B64_URL = re.compile(rb"^[A-Za-z0-9_-]+={0,2}$")
# A base64 run, possibly broken into MIME lines (RFC 2045 6.8: 76 characters, CRLF; Android: LF).
_B64_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{16,}(?:={0,2}(?:\r?\n|\\r\\n|\\n)[A-Za-z0-9+/_-]+)*={0,2}")
_HEX_TOKEN = re.compile(rb"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){12,}(?![0-9A-Fa-f])")
_HEX_WHOLE = re.compile(rb"^(?:[0-9A-Fa-f]{2})+$")
_PERCENT = re.compile(rb"%[0-9A-Fa-f]{2}")
_FORM = re.compile(rb"^[^=&\s/]{1,64}=[^&\s]*(?:&[^=&\s/]{1,64}(?:=[^&\s]*)?)*$")
_PADDED_B64 = re.compile(rb"^[A-Za-z0-9+/_-]{8,}={1,2}$")
_MIME_BREAKS = re.compile(rb"\r?\n|\\r\\n|\\n|[ \t]")
_BOUNDARY = re.compile(r'boundary="?([^";,\s]{1,200})"?', re.IGNORECASE)
_TEXTISH = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def is_text(data: bytes) -> bool:
    """Mostly printable ASCII (sampled): worth looking for tokens and field names in."""
    sample = data[:512]
    return bool(sample) and sum(b in _TEXTISH for b in sample) >= 0.95 * len(sample)


class _Walk:
    def __init__(self, limits: Limits, encoding: str | None, content_type: str | None) -> None:
        self.limits = limits
        self.encoding = (encoding or "").lower()
        self.content_type = content_type or ""
        self.out = Decoded()
        self.total = 0
        self.stopped = False

    def add(self, view: View, depth: int) -> None:
        if self.stopped:
            return
        if depth > self.limits.max_depth:
            self.out.limits.append(
                LimitEvent(view.chain, f"nesting deeper than {self.limits.max_depth}", origin=view.origin)
            )
            return
        self.total += len(view.data)
        if self.total > self.limits.max_total or len(self.out.views) >= self.limits.max_views:
            self.out.limits.append(
                LimitEvent(
                    view.chain,
                    "decode budget exhausted (payload too large to inspect fully)",
                    origin=view.origin,
                )
            )
            self.stopped = True
            return
        self.out.views.append(view)
        if len(view.data) >= 4:
            self.children(view, depth)

    def child(
        self, parent: View, step: str, data: bytes, depth: int, *, key: str | None = None, scan: bool = True
    ) -> None:
        if not data:
            return
        context = parent.data if parent.parsed else None
        view = View(
            f"{parent.chain}>{step}",
            data,
            key if key is not None else parent.key,
            parent.origin,
            exact=False,
            scan=scan,
            context=context,
        )
        self.add(view, depth + 1)

    def children(self, view: View, depth: int) -> None:
        data = view.data
        if self.decompress(view, depth):
            return
        text = is_text(data)
        if text:
            stripped = data.strip()
            if stripped[:1] in (b"{", b"[") and self.json(view, stripped, depth):
                return
            if b"--" in data[:4] and self.multipart(view, depth):
                return
            # a form value is parsed as a form again only if it has pairs of its own ("a=b=c" is one value)
            nested = ">form:" in view.chain and b"&" not in stripped
            if (
                _FORM.match(stripped)
                and not nested
                and not _PADDED_B64.match(stripped)
                and self.form(view, stripped, depth)
            ):
                return
            if self.whole_base64(view, stripped, depth) or self.whole_hex(view, stripped, depth):
                return
            if _PERCENT.search(data):
                self.child(view, "url", unquote_to_bytes(data), depth)
            self.tokens(view, depth)
        elif looks_like_message(data):
            self.protobuf(view, depth)

    # -- compression ---------------------------------------------------------------------------
    def decompress(self, view: View, depth: int) -> bool:
        data = view.data
        attempts: list[tuple[str, int]] = []  # (step, zlib wbits or 0 for the others)
        if data[:3] == b"\x1f\x8b\x08":
            attempts.append(("gzip", 16 + zlib.MAX_WBITS))
        elif data[:4] == b"\x28\xb5\x2f\xfd":
            attempts.append(("zstd", 0))
        elif (
            len(data) > 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0
        ):
            attempts.append(("zlib", zlib.MAX_WBITS))
        # No magic number: try what Content-Encoding said, then guess for binary data (brotli first: it
        # only accepts a complete stream, while raw deflate accepts many short byte strings).
        if "br" in self.encoding:
            attempts.append(("brotli", 0))
        if "deflate" in self.encoding:
            attempts.append(("deflate", -zlib.MAX_WBITS))
        if not is_text(data) and depth <= 2:
            attempts += [("brotli", 0), ("deflate", -zlib.MAX_WBITS)]
        for step, wbits in attempts:
            if step == "zstd":
                result = self.unzstd(data)
            elif step == "brotli":
                result = self.unbrotli(data)
            else:
                result = self.inflate(data, wbits)
            if result is None:
                continue
            output, consumed, capped = result
            if capped:
                ratio = len(output) // max(consumed, 1)
                bomb = ratio >= self.limits.bomb_ratio
                what = "decompression bomb" if bomb else "decompressed output over the limit"
                self.out.limits.append(
                    LimitEvent(
                        f"{view.chain}>{step}",
                        f"{what}: stopped at {len(output)} bytes from {consumed} (ratio {ratio}:1)",
                        bomb,
                        view.origin,
                    )
                )
            self.child(view, step, output, depth)
            return True
        return False

    def inflate(self, data: bytes, wbits: int) -> tuple[bytes, int, bool] | None:
        """gzip (all members), zlib or raw deflate; (output, input consumed, capped) or None."""
        out = bytearray()
        consumed = 0
        try:
            while data and len(out) < self.limits.max_output:
                engine = zlib.decompressobj(wbits)
                out += engine.decompress(data, self.limits.max_output - len(out))
                if engine.unconsumed_tail:
                    return bytes(out), consumed + len(data) - len(engine.unconsumed_tail), True
                if not engine.eof:
                    # truncated stream: what came out is real data, but only trust it behind a magic number
                    return (bytes(out), consumed + len(data), False) if wbits > 0 and out else None
                consumed += len(data) - len(engine.unused_data)
                data = engine.unused_data if wbits > zlib.MAX_WBITS else b""  # gzip members follow each other
        except zlib.error:
            return (bytes(out), consumed, False) if wbits > 0 and len(out) >= 8 else None
        if not out:
            return None
        return bytes(out), consumed, len(out) >= self.limits.max_output

    def unbrotli(self, data: bytes) -> tuple[bytes, int, bool] | None:
        engine = brotli.Decompressor()
        try:
            out = engine.process(data, output_buffer_limit=self.limits.max_output)
        except brotli.error:
            return None
        capped = len(out) >= self.limits.max_output
        if not out or not (engine.is_finished() or capped):
            return None  # brotli has no magic number: only a complete stream proves it was brotli
        # brotli does not say how much input it used when it stops early; the whole input is an upper bound
        return out[: self.limits.max_output], len(data), capped

    def unzstd(self, data: bytes) -> tuple[bytes, int, bool] | None:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
            out = reader.read(self.limits.max_output + 1)
            consumed = len(data)  # zstd frames of a bomb are tiny; the ratio over all input is close
        except zstandard.ZstdError:
            return None
        return out[: self.limits.max_output], consumed, len(out) > self.limits.max_output

    # -- containers ----------------------------------------------------------------------------
    def json(self, view: View, data: bytes, depth: int) -> bool:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return False
        view.parsed = True  # still scanned: lat/lon in sibling fields pair up only in the raw text
        budget = [self.limits.max_views]

        def walk(node: object, path: str) -> None:
            budget[0] -= 1
            if budget[0] < 0 or self.stopped:
                return
            if isinstance(node, dict):
                for key, value in node.items():
                    name = f"{path}.{key}" if path else str(key)
                    self.child(
                        view, f"json-key:{path}" if path else "json-key", str(key).encode(), depth, key=None
                    )
                    walk(value, name)
            elif isinstance(node, list):
                for item in node:
                    walk(item, path)
            elif node is not None and not isinstance(node, bool):
                text = node if isinstance(node, str) else json.dumps(node)
                last = path.rsplit(".", 1)[-1] if path else None
                self.child(
                    view,
                    f"json:{path}" if path else "json",
                    text.encode("utf-8", "surrogatepass"),
                    depth,
                    key=last,
                )

        try:
            walk(doc, "")
        except RecursionError:
            self.out.limits.append(LimitEvent(view.chain, "JSON nested too deep", origin=view.origin))
        return True

    def form(self, view: View, data: bytes, depth: int) -> bool:
        pairs = [part.partition(b"=") for part in data.split(b"&") if part]
        view.parsed = True
        for raw_key, _eq, raw_value in pairs:
            key = unquote_to_bytes(raw_key.replace(b"+", b" ")).decode("utf-8", "replace")
            value = unquote_to_bytes(raw_value.replace(b"+", b" "))
            self.child(view, f"form-key:{key}", key.encode(), depth, key=None)
            self.child(view, f"form:{key}", value, depth, key=key)
        return True

    def multipart(self, view: View, depth: int) -> bool:
        data = view.data
        match = _BOUNDARY.search(self.content_type)
        first_line = data.split(b"\n", 1)[0].strip()
        boundary = ("--" + match.group(1)).encode() if match else first_line
        if not boundary.startswith(b"--") or len(boundary) < 3 or not data.lstrip().startswith(boundary):
            return False
        view.parsed = True
        for index, part in enumerate(data.split(boundary)[1:]):
            if part.startswith(b"--"):
                break
            head, _sep, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
            if not _sep:
                head, _sep, body = part.lstrip(b"\n").partition(b"\n\n")
            headers = head.decode("latin-1").lower()
            name_match = re.search(r'name="([^"]{0,200})"', head.decode("latin-1"))
            name = name_match.group(1) if name_match else str(index)
            body = body[:-2] if body.endswith(b"\r\n") else body.rstrip(b"\n")
            if "content-transfer-encoding: base64" in headers:
                with contextlib.suppress(binascii.Error, ValueError):
                    body = base64.b64decode(_MIME_BREAKS.sub(b"", body) + b"==", validate=False)
            elif "content-transfer-encoding: quoted-printable" in headers:
                body = binascii.a2b_qp(body)
            self.child(view, f"multipart:{name}", body, depth, key=name)
        return True

    def protobuf(self, view: View, depth: int) -> None:
        fields = parse_message(view.data)
        if fields is None:
            return
        prefix = view.chain.rsplit(">", 1)[-1]
        base = prefix.split(":", 1)[1] + "." if prefix.startswith("protobuf:") else ""
        lines: dict[str, list[str]] = {"numbers": [], "unsigned": [], "floats": []}
        for item in fields:
            label = f"protobuf:{base}{item.number}"
            if isinstance(item.value, bytes):
                self.child(view, label, item.value, depth, key=None)
            else:
                for kind, text in _renderings(item.wire_type, item.value):
                    lines[kind].append(text)
        # Every number of the message in one view, one per line, so that a latitude and longitude in
        # sibling fields pair up (each field alone in its view would not); one view per reading of them.
        for kind, texts in lines.items():
            if texts:
                self.child(view, f"protobuf:{base}{kind}", "\n".join(texts).encode(), depth, key=None)

    # -- encodings -----------------------------------------------------------------------------
    def whole_base64(self, view: View, data: bytes, depth: int) -> bool:
        compact = _MIME_BREAKS.sub(b"", data)
        if len(compact) < 8 or (compact.isdigit()):
            return False
        decoded = _b64(compact)
        if decoded is None:
            return False
        step = "base64" if _B64_STD.match(compact) else "base64url"
        self.child(view, step, decoded, depth)
        return True

    def whole_hex(self, view: View, data: bytes, depth: int) -> bool:
        if len(data) < 16 or not _HEX_WHOLE.match(data) or data.isdigit():
            return False
        self.child(view, "hex", bytes.fromhex(data.decode("ascii")), depth)
        return True

    def tokens(self, view: View, depth: int) -> None:
        """base64 and hex runs inside text (a header value, a log line, an XML element)."""
        count = 0
        for match in _B64_TOKEN.finditer(view.data):
            token = _MIME_BREAKS.sub(b"", match.group())
            if token.isdigit() or (_HEX_WHOLE.match(token) and len(token) >= 24):
                continue  # numbers are matched as they are; hex runs are decoded below
            decoded = _b64(token)
            if decoded is not None:
                count += 1
                step = "base64" if _B64_STD.match(token) else "base64url"
                self.add(
                    View(f"{view.chain}>{step}", decoded, view.key, view.origin + match.start(), exact=False),
                    depth + 1,
                )
            if count >= self.limits.max_tokens:
                self.out.limits.append(LimitEvent(view.chain, "too many base64 runs", origin=view.origin))
                return
        for match in _HEX_TOKEN.finditer(view.data):
            token = match.group()
            if token.isdigit():
                continue
            count += 1
            self.add(
                View(
                    f"{view.chain}>hex",
                    bytes.fromhex(token.decode("ascii")),
                    view.key,
                    view.origin + match.start(),
                    exact=False,
                ),
                depth + 1,
            )
            if count >= self.limits.max_tokens:
                return


def _renderings(wire_type: int, value: int) -> list[tuple[str, str]]:
    """(view, text) readings of a protobuf number: signed (int64/sfixed), unsigned when that differs,
    and for fixed widths the IEEE 754 float (a double latitude)."""
    bits = {0: 64, 1: 64, 5: 32}[wire_type]
    if (1 << (bits - 1)) <= value < (1 << bits):
        out = [("numbers", str(value - (1 << bits))), ("unsigned", str(value))]
    else:
        out = [("numbers", str(value))]
    if wire_type in (1, 5):
        packed = value.to_bytes(bits // 8, "little")
        (number,) = struct.unpack("<d" if bits == 64 else "<f", packed)
        if math.isfinite(number) and 1e-3 < abs(number) < 1e9:
            # float32 holds ~7 significant digits: 5 places of a coordinate
            out.append(("floats", f"{number:.7f}" if bits == 64 else f"{number:.5f}"))
    return out


def _b64(token: bytes) -> bytes | None:
    """Decodes standard or URL-safe base64, padded or not; None when it is not base64."""
    body = token.rstrip(b"=")
    if len(body) % 4 == 1:
        return None
    padded = body + b"=" * (-len(body) % 4)
    try:
        if _B64_STD.match(padded):
            return base64.b64decode(padded, validate=True)
        if _B64_URL.match(padded):
            return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        return None
    return None


def decode(
    data: bytes,
    chain: str,
    *,
    key: str | None = None,
    origin: int = 0,
    content_encoding: str | None = None,
    content_type: str | None = None,
    limits: Limits | None = None,
) -> Decoded:
    """``data`` and every layer decoded from it, in the order found (parents before children)."""
    walk = _Walk(limits or Limits(), content_encoding, content_type)
    walk.add(View(chain, data, key, origin), 0)
    return walk.out
