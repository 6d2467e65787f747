"""Decode first, then match: every layer a payload may hide an identifier in, bounded.

``decode(data, chain)`` returns the buffer and everything decoded from it as
:class:`View` records (``http-body>base64>json:IMEI1``). What is tried does
not depend on what the Content-Type claims: firmware labels base64 as
``application/encrypted-json``. Every decoder is bounded by :class:`Limits`,
and whatever stops one early is a :class:`LimitEvent` (a decompression bomb is
a finding, never an out-of-memory; a payload not inspected in full is doubt in
the verdict, never a silent pass).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from phonehome.policy import compression
from phonehome.policy.compression import GZIP_MAGIC, ZSTD_MAGIC, Inflated
from phonehome.policy.encodings import (
    MIME_BREAKS,
    hex_pairs,
    is_text,
    json_documents,
    quoted_printable,
    runs,
    text_mask,
    text_runs,
    unescape,
    utf8,
    utf16,
    whole,
)
from phonehome.policy.multipart import parts
from phonehome.policy.protobuf import (
    MAX_FIELDS,
    MAX_PACKED,
    looks_like_message,
    parse_message,
    read_message,
    renderings,
)

__all__ = ["Decoded", "LimitEvent", "Limits", "View", "decode", "is_text"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on decoding one payload (an HTTP request, a datagram)."""

    max_depth: int = 8
    """Nested decodings (base64 in JSON in gzip...)."""
    max_output: int = 4 << 20
    """Bytes one decompression may produce; reaching it with a high ratio is a bomb."""
    max_total: int = 32 << 20
    """Bytes of all views of one payload together; also the bytes all its decompressions may produce."""
    max_views: int = 20000
    max_tokens: int = 1024
    """Encoded runs (base64, base32, hex) in one text view, and text stretches in one binary view, decoded."""
    max_decompress_attempts: int = 40000
    """Decompressions tried on one payload, at any depth: magic numbers, embedded streams, and guesses at
    magic-less brotli and raw deflate in every binary view."""
    max_embedded: int = 8
    """Compressed streams looked for behind a gzip or zstd magic number inside one view."""
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
    """A bound was reached, or a decoder gave up: part of the payload was not inspected."""

    chain: str
    """The view the decoder was reading when it stopped."""
    reason: str
    """What was not inspected and why, in a lab's words."""
    bomb: bool = False
    origin: int = 0


@dataclass(slots=True)
class Decoded:
    views: list[View] = field(default_factory=list)
    limits: list[LimitEvent] = field(default_factory=list)


_PERCENT = re.compile(rb"%[0-9A-Fa-f]{2}")
_JSON_START = re.compile(rb"[{\[\x1e\xef]")
_FORM = re.compile(rb"^[^=&\s/\x00-\x1f\x7f]{1,64}=[^&\s]*(?:&[^=&\s/\x00-\x1f\x7f]{1,64}(?:=[^&\s]*)?)*$")
_PADDED = re.compile(rb"^[A-Za-z0-9+/_-]{8,}={1,6}$")
"""A padded base64 or base32 value: "key=" with nothing after, not a form."""
_MIN_GUESS = 8
"""Smallest binary view worth a guess at magic-less compression (a MAC deflates to 8 bytes)."""
_RUN = 16
"""Shortest printable stretch (or UTF-16 run, in characters / 2) of binary data decoded as text."""
_MIN_STREAM = 18
"""Shortest gzip member (a 10-byte header, an empty block, an 8-byte trailer) or zstd frame."""
_MIN_EMBEDDED = 16
"""Output a broken stream found behind a magic number inside a view must yield to count (random bytes
after a chance magic number inflate to a few bytes of junk); a whole one with its checksum counts."""


class _Walk:
    def __init__(self, limits: Limits, encoding: str | None, content_type: str | None) -> None:
        self.limits = limits
        self.encoding = (encoding or "").lower()
        self.content_type = content_type or ""
        self.out = Decoded()
        self.total = 0
        self.inflated = 0
        self.attempts = 0
        self.stopped = False
        self.spent = False
        # By id, holding the view so that its id is not reused while the walk lasts:
        self.loose: dict[int, View] = {}
        """Views of text cut out of binary data."""
        self.leaves: dict[int, View] = {}
        """Views not to decode further: our renderings of protobuf numbers."""

    def limit(self, view: View, reason: str, *, bomb: bool = False) -> None:
        self.out.limits.append(LimitEvent(view.chain, reason, bomb, view.origin))

    def add(self, view: View, depth: int) -> None:
        if self.stopped:
            return
        if depth > self.limits.max_depth:
            self.limit(view, f"nesting deeper than {self.limits.max_depth} decodings: this layer not decoded")
            return
        self.total += len(view.data)
        if self.total > self.limits.max_total or len(self.out.views) >= self.limits.max_views:
            self.limit(view, "decode budget exhausted (payload too large to inspect fully)")
            self.stopped = True
            return
        self.out.views.append(view)
        if len(view.data) >= 4:
            self.children(view, depth)

    def child(
        self,
        parent: View,
        step: str,
        data: bytes,
        depth: int,
        *,
        key: str | None = None,
        scan: bool = True,
        at: int | None = None,
        verbatim: bool = False,
        loose: bool = False,
        leaf: bool = False,
    ) -> None:
        """Adds what ``step`` decoded from ``parent``; ``at`` is where in the parent it came from and
        ``verbatim`` says ``data`` is the parent's bytes there (so its offsets stay exact)."""
        if not data:
            return
        located = at is not None and parent.exact
        view = View(
            f"{parent.chain}>{step}",
            data,
            key if key is not None else parent.key,
            parent.origin + at if located and at is not None else parent.origin,
            exact=located and verbatim,
            scan=scan,
            context=parent.data if parent.parsed else None,
        )
        if loose:
            self.loose[id(view)] = view
        if leaf:
            self.leaves[id(view)] = view
        self.add(view, depth + 1)

    def children(self, view: View, depth: int) -> None:
        if self.stopped or id(view) in self.leaves:
            return
        data = view.data
        mask = text_mask(data)
        text = is_text(data, mask)
        controls = text and (b"\x00" in mask or b"\x03" in mask)  # text with a few binary bytes in it
        if controls and looks_like_message(data) and parse_message(data) is not None:
            text = False  # a message of string fields: a few control bytes (tags, lengths) in much text
        # text has no magic-less stream to guess, and Content-Encoding speaks of the body only
        may_be_compressed = not text or depth == 0 or data.startswith((GZIP_MAGIC, ZSTD_MAGIC))
        if may_be_compressed and self.decompress(view, depth, text):
            return
        if (not text or controls) and self.frame(view, depth):
            return
        covered: list[tuple[int, int]] = []
        if text:
            if self.text(view, depth) or len(data) < _MIN_STREAM or (data.isascii() and not controls):
                return  # parsed whole; or too short, or all ASCII text, for a gzip or zstd stream inside
        else:
            if looks_like_message(data):
                covered = self.protobuf(view, depth)
            if len(data) >= _RUN:  # shorter binary holds no UTF-16 run and no printable stretch
                for reading in utf16(data, mask):  # cut out of binary data, like a printable stretch
                    self.child(view, reading.step, reading.data, depth, at=reading.start, loose=True)
                self.text_runs(view, depth, mask, covered)
            if len(data) < _MIN_STREAM:
                return
        self.embedded(view, depth, covered)

    def text(self, view: View, depth: int) -> bool:
        """Text: a container (JSON, multipart, form), one encoded value, or text with encoded runs and
        escapes in it. True when a container or value explained all of it."""
        data = view.data
        if len(data) < _MIN_GUESS:
            if b"%" in data and _PERCENT.search(data):  # too short for any other encoding or container
                self.child(view, "url", unquote_to_bytes(data), depth)
            return True
        stripped = data.lstrip()
        lead = len(data) - len(stripped)
        stripped = stripped.rstrip()
        if _JSON_START.search(stripped, 0, 16) and self.framed_json(view, stripped, lead, depth):
            return True
        if b"--" in data[:4] and self.multipart(view, depth):
            return True
        if b"=" in data:  # before forms: "T=7B=22=49" is no form
            decoded = quoted_printable(data)
            if decoded is not None:
                self.child(view, "quoted-printable", decoded, depth)
        # a form value is parsed as a form again only if it has pairs of its own ("a=b=c" is one value)
        nested = ">form:" in view.chain and b"&" not in stripped
        if (
            b"=" in stripped
            and _FORM.match(stripped)
            and not nested
            and not _PADDED.match(stripped)
            and self.form(view, stripped, depth)
        ):
            return True
        loose = id(view) in self.loose
        readings = self.whole(view, stripped, depth)
        if readings and not loose and not MIME_BREAKS.search(stripped):
            return True  # one encoded value; with breaks, it may as well be words with runs among them
        if b"%" in data and _PERCENT.search(data):
            self.child(view, "url", unquote_to_bytes(data), depth)
        if b"\\" in data or b"&#" in data:
            unescaped = unescape(data)
            if unescaped is not None:
                self.child(view, "unescape", unescaped, depth)
        self.tokens(view, depth, realign=loose, done=readings)
        return False

    # -- compression ---------------------------------------------------------------------------
    def decompress(self, view: View, depth: int, text: bool) -> bool:
        """A compressed stream from the view's first byte: by magic number, by what Content-Encoding
        said (the body only), or guessed (brotli and raw deflate have no magic) for binary data."""
        data = view.data
        kinds: list[str] = []
        if data.startswith(GZIP_MAGIC):
            kinds.append("gzip")
        elif data.startswith(ZSTD_MAGIC):
            kinds.append("zstd")
        elif compression.looks_zlib(data) and not text:  # compressed data is binary; "XG" is base64
            kinds.append("zlib")
        if depth == 0 and "br" in self.encoding:
            kinds.append("brotli")
        if depth == 0 and "deflate" in self.encoding:
            kinds.append("deflate")
        # brotli first: it only accepts a complete stream, while raw deflate accepts many short byte strings
        if not text and len(data) >= _MIN_GUESS:
            kinds += [kind for kind in ("brotli", "deflate") if kind not in kinds]
            if not compression.may_deflate(data) and "deflate" in kinds and "deflate" not in self.encoding:
                kinds.remove("deflate")
        for kind in kinds:
            result = self.inflate(view, kind, data)
            if result is None or not (result.complete or kind in ("gzip", "zlib", "zstd")):
                continue
            guessed = kind == "deflate" and "deflate" not in self.encoding and not result.capped
            if guessed and result.consumed < len(data) * 0.9:
                continue  # a guess that explains a few bytes of the view is junk that happened to inflate
            self.child(view, kind, result.data, depth)
            if not result.complete:
                # truncated, corrupt, or a wrong checksum: what came out is kept, and the bytes are
                # still read as whatever else they may be (two bytes of "zlib header" prove little)
                return False
            rest = b"" if result.capped else data[result.consumed :]
            if rest.strip(b"\0\r\n\t "):
                # bytes after the stream: another stream, or text the server reads on (RFC 1952 2.2)
                self.child(view, "trailing", rest, depth, at=result.consumed, verbatim=True)
            return True
        return False

    def inflate(self, view: View, kind: str, data: bytes) -> Inflated | None:
        """One bounded decompression, counted against the payload's budget; limits are recorded."""
        limits = self.limits
        if self.attempts >= limits.max_decompress_attempts or self.inflated >= limits.max_total:
            if not self.spent:
                self.spent = True
                self.limit(
                    view,
                    f"decompression budget spent ({self.attempts} attempts, {self.inflated} bytes out): "
                    "later layers not tried for compression",
                )
            return None
        self.attempts += 1
        room = min(limits.max_output, limits.max_total - self.inflated)
        if kind == "zstd":
            result = compression.unzstd(data, room)
        elif kind == "brotli":
            result = compression.unbrotli(data, room)
        else:
            result = compression.inflate(data, kind, room)
        if result is None:
            return None
        self.inflated += len(result.data)
        if result.capped:
            ratio = len(result.data) // max(result.consumed, 1)
            bomb = ratio >= limits.bomb_ratio
            if room < limits.max_output:
                what = "decompression budget of the payload spent"
            else:
                what = "decompression bomb" if bomb else "decompressed output over the limit"
            self.out.limits.append(
                LimitEvent(
                    f"{view.chain}>{kind}",
                    f"{what}: stopped at {len(result.data)} bytes from {result.consumed} (ratio {ratio}:1)",
                    bomb,
                    view.origin,
                )
            )
        return result

    def frame(self, view: View, depth: int) -> bool:
        """Binary data behind a length prefix that counts exactly the bytes after it (1, 2 or 4 bytes,
        either byte order; gRPC's flag byte and 4-byte length, RFC 9113 aside): decoded from there on,
        so that a magic-less stream (raw deflate, brotli) or a protobuf message behind it is seen."""
        data = view.data
        size = len(data)
        if size < _MIN_GUESS + 1:
            return False
        at = 0
        if size - 4 < 1 << 32 and data[:4] in (
            (size - 4).to_bytes(4, "big"),
            (size - 4).to_bytes(4, "little"),
        ):
            at = 4
        elif size - 5 < 1 << 32 and data[0] in (0, 1) and data[1:5] == (size - 5).to_bytes(4, "big"):
            at = 5
        elif size - 2 < 1 << 16 and data[:2] in (
            (size - 2).to_bytes(2, "big"),
            (size - 2).to_bytes(2, "little"),
        ):
            at = 2
        elif data[0] == size - 1:
            at = 1
        if not at or size - at < _MIN_GUESS:
            return False
        self.child(view, "frame", data[at:], depth, at=at, verbatim=True)
        # one length byte matches by chance once in 256 views, two once in 100 lines of UTF-16 text (its high
        # byte is zero): those views are read as they are too
        return at > 2

    def embedded(self, view: View, depth: int, covered: list[tuple[int, int]]) -> None:
        """gzip and zstd streams behind a header of some other protocol (a length, a version byte)."""
        data = view.data
        found = 0
        for magic, kind in ((GZIP_MAGIC, "gzip"), (ZSTD_MAGIC, "zstd")):
            pos = data.find(magic, 1)
            while pos > 0 and not self.stopped:
                if any(lo <= pos < hi for lo, hi in covered):
                    pos = data.find(magic, pos + 1)
                    continue
                found += 1
                if found > self.limits.max_embedded:
                    self.limit(
                        view,
                        f"more than {self.limits.max_embedded} gzip/zstd magic numbers inside: "
                        "the rest not tried",
                    )
                    return
                result = self.inflate(view, kind, data[pos:])
                if result is not None and (result.complete or len(result.data) >= _MIN_EMBEDDED):
                    self.child(view, kind, result.data, depth, at=pos)
                    pos = data.find(magic, pos + max(result.consumed, 1))
                else:
                    pos = data.find(magic, pos + 1)

    # -- containers ----------------------------------------------------------------------------
    def json(self, view: View, data: bytes, lead: int, depth: int) -> bool:
        """One JSON document, or a sequence of them (JSON Lines, concatenated, RFC 7464)."""
        try:
            parsed = json_documents(data)
        except RecursionError:
            self.limit(view, "JSON nested deeper than the parser's stack: its fields not read")
            return False
        if parsed is None:
            return False
        docs, end = parsed
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
                        view, f"json-key:{path}" if path else "json-key", utf8(str(key)), depth, key=None
                    )
                    walk(value, name)
            elif isinstance(node, list):
                for item in node:
                    walk(item, path)
            elif node is not None and not isinstance(node, bool):
                text = utf8(node) if isinstance(node, str) else json.dumps(node).encode()
                last = path.rsplit(".", 1)[-1] if path else None
                self.child(view, f"json:{path}" if path else "json", text, depth, key=last)
                if isinstance(node, str) and not node.isascii() and max(node) <= "\xff":
                    # binary carried as ISO-8859-1 characters (Java's new String(bytes, ISO_8859_1))
                    binary = node.encode("latin-1")
                    self.child(
                        view, f"json-latin1:{path}" if path else "json-latin1", binary, depth, key=last
                    )

        try:
            for doc in docs:
                walk(doc, "")
        except RecursionError:
            self.limit(view, "JSON nested too deep: the deepest fields not read")
        if budget[0] < 0 and not self.stopped:
            self.limit(view, f"JSON with more than {self.limits.max_views} values: the rest not read")
        if data[end:].strip():
            self.child(view, "trailing", data[end:], depth, at=lead + end, verbatim=True)
        return True

    def framed_json(self, view: View, data: bytes, lead: int, depth: int) -> bool:
        """JSON from the first byte, or after a few bytes of framing (a length, a version, a type byte,
        any of which may be a brace itself)."""
        for brace, byte in enumerate(data[:16]):
            framed = byte in b"{[\x1e\xef" and (brace <= 3 or not is_text(data[:brace]))
            if framed and self.json(view, data[brace:], lead + brace, depth):
                return True
        return False

    def form(self, view: View, data: bytes, depth: int) -> bool:
        pairs = [part.partition(b"=") for part in data.split(b"&") if part]
        view.parsed = True
        for raw_key, _eq, raw_value in pairs:
            key = unquote_to_bytes(raw_key.replace(b"+", b" ")).decode("utf-8", "replace")
            value = unquote_to_bytes(raw_value.replace(b"+", b" "))
            self.child(view, f"form-key:{key}", key.encode(), depth, key=None)
            self.child(view, f"form:{key}", value, depth, key=key)
            if b"+" in raw_value:
                # A client that did not percent-encode its value: base64 keeps its "+" (a receiver
                # that reads it so gets the hidden bytes, one that reads "+" as a space does not).
                self.child(view, f"form-plus:{key}", unquote_to_bytes(raw_value), depth, key=key)
        return True

    def multipart(self, view: View, depth: int) -> bool:
        found = parts(view.data, self.content_type)
        if found is None:
            return False
        view.parsed = True
        for name, body in found:
            self.child(view, f"multipart:{name}", body, depth, key=name)
        return True

    def protobuf(self, view: View, depth: int) -> list[tuple[int, int]]:
        """Fields of a schema-less message; returns the spans its length-delimited fields cover."""
        message = read_message(view.data)
        if message is None:
            return []
        if not message.complete:
            self.limit(
                view,
                f"protobuf message with more than {MAX_FIELDS} fields: fields after byte {message.end} "
                "not read as fields",
            )
        prefix = view.chain.rsplit(">", 1)[-1]
        base = prefix.split(":", 1)[1] + "." if prefix.startswith("protobuf:") else ""
        lines: dict[str, list[str]] = {"numbers": [], "unsigned": [], "zigzag": [], "floats": []}
        covered = []
        for item in message.fields:
            label = f"protobuf:{base}{item.number}"
            if isinstance(item.value, bytes):
                covered.append((item.offset, item.offset + len(item.value)))
                self.child(view, label, item.value, depth, key=None, at=item.offset, verbatim=True)
            readings, cut = renderings(item)
            for kind, text in readings:
                lines[kind].append(text)
            if cut:
                self.limit(
                    view,
                    f"packed protobuf field {item.number} with more than {MAX_PACKED} numbers: "
                    "the rest not read as numbers",
                )
        # Every number of the message in one view, one per line, so that a latitude and longitude in
        # sibling fields pair up (each field alone in its view would not); one view per reading of them.
        for kind, texts in lines.items():
            if texts:
                # our own rendering, for the matcher only: nothing in it is encoded
                self.child(
                    view, f"protobuf:{base}{kind}", "\n".join(texts).encode(), depth, key=None, leaf=True
                )
        return covered

    # -- encodings -----------------------------------------------------------------------------
    def whole(self, view: View, data: bytes, depth: int) -> set[bytes]:
        """Reads ``data`` as one encoded value; returns what it decoded to."""
        readings = whole(data)
        for reading in readings:
            self.child(view, reading.step, reading.data, depth)
        return {reading.data for reading in readings}

    def tokens(
        self, view: View, depth: int, *, realign: bool = False, done: set[bytes] | None = None
    ) -> None:
        """base64, base32 and hex runs inside text (a header value, a log line, an XML element);
        ``realign`` for text cut out of binary data, whose edges may not be its own (encodings.runs)."""
        count, last = 0, -1
        data = view.data
        separated = max(data.count(b":"), data.count(b" "), data.count(b"-")) >= 7  # a hex dump, maybe
        for reading in itertools.chain(runs(data, realign=realign), hex_pairs(data) if separated else ()):
            if done and reading.data in done:
                continue
            if reading.start != last:
                count, last = count + 1, reading.start
                if count > self.limits.max_tokens:
                    self.limit(
                        view,
                        f"more than {self.limits.max_tokens} encoded runs (base64, base32, hex): "
                        f"those from byte {reading.start} on not decoded",
                    )
                    return
            self.child(view, reading.step, reading.data, depth, at=reading.start)

    def text_runs(self, view: View, depth: int, mask: bytes, covered: list[tuple[int, int]]) -> None:
        """Printable stretches of binary data, decoded as text: a binary header must not hide the
        base64, JSON or ``key=value`` text after it. Fields a protobuf parse explained are left out."""
        if covered:
            blanked = bytearray(mask)
            for lo, hi in covered:
                blanked[lo:hi] = bytes(hi - lo)
            mask = bytes(blanked)
        for count, (start, end) in enumerate(text_runs(mask)):
            if self.stopped:
                return
            if count >= self.limits.max_tokens:
                self.limit(
                    view,
                    f"more than {self.limits.max_tokens} text stretches in binary data: "
                    f"those from byte {start} on not decoded",
                )
                return
            # The bytes before a run are binary, but its first characters may be too (a length byte that
            # happens to be a letter): the run is "loose", its encoded runs read from every alignment.
            self.child(
                view, "text", view.data[start:end], depth, scan=False, at=start, verbatim=True, loose=True
            )


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
