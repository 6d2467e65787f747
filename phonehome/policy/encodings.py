"""Text encodings firmware wraps bytes in: base64, base32, hex (whole values and runs inside text), JSON
sequences, and the test that tells text from binary.

Hand-written on top of :mod:`base64` and :mod:`json` because a leak scan
decodes what a strict decoder refuses: unpadded and URL-safe base64, a run
whose first characters are not its own, one case of base32, an odd hex digit
at a run's edge, and JSON documents one after another (NDJSON, RFC 7464).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

_TEXT_BYTES = bytes([0x09, 0x0A, 0x0D, 0x1E, *range(0x20, 0x7F)])
"""Printable ASCII, tab, line breaks and RFC 7464's record separator."""
_TEXT_SET = frozenset(_TEXT_BYTES)
_HIGH_BYTES = bytes(range(0x80, 0x100))
_B64_STD = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")
_B64_URL = re.compile(rb"^[A-Za-z0-9_-]+={0,2}$")
# A base64 run, possibly broken into MIME lines (RFC 2045 6.8: 76 characters, CRLF; Android: LF). Hex and
# base32 runs are runs of this alphabet too: one pass finds them all.
TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{16,}(?:={0,2}(?:\r?\n|\\r\\n|\\n)[A-Za-z0-9+/_-]+)*={0,6}")
_HEX_RUN = re.compile(rb"(?<![0-9A-Fa-f])[0-9A-Fa-f]{24,}(?![0-9A-Fa-f])")
_B32_RUN = re.compile(rb"(?<![A-Z2-7])[A-Z2-7]{16,}(?![A-Z2-7])|(?<![a-z2-7])[a-z2-7]{16,}(?![a-z2-7])")
_SINGLE_CASE_RUN = re.compile(
    rb"(?<![0-9A-Z])[0-9A-Z]{16,}={0,6}(?![0-9A-Z=])|(?<![0-9a-z])[0-9a-z]{16,}={0,6}(?![0-9a-z=])"
)
"""Letters of one case and digits: base32 or base32hex, maybe glued to a word of the other case."""
_B32 = re.compile(rb"^(?:[A-Z2-7]+|[a-z2-7]+)={0,6}$")
_B32HEX = re.compile(rb"^(?:[0-9A-V]+|[0-9a-v]+)={0,6}$")
_HEX_WHOLE = re.compile(rb"^[0-9A-Fa-f]+$")
_B32HEX_LETTER = re.compile(rb"[G-Vg-v]")
_B32ISH = re.compile(rb"^(?:[0-9A-Z]+|[0-9a-z]+)=*$")
"""One case of letters and digits: worth trying as base32 or base32hex."""
MIME_BREAKS = re.compile(rb"\r?\n|\\r\\n|\\n|[ \t]")
_MAY_BREAK = re.compile(rb"[\r\n\\ \t]")
_MASK = bytes(
    1 if byte in _TEXT_BYTES else 2 if byte >= 0x80 else 3 if byte == 0 else 0 for byte in range(256)
)
"""Byte -> 1 text, 2 high (maybe UTF-8), 3 NUL, 0 other control: one C-speed pass classifies a buffer."""
_ASCII_TEXT = bytes([0, 1, 0, 0]) + bytes(252)
"""A mask -> 1 where the byte is ASCII text, else 0."""
_RUN = b"\x01" * 16
"""Printable stretches of binary data this long may hold a token or a field."""


def text_mask(data: bytes) -> bytes:
    """``data`` with each byte replaced by its class (1 text, 2 high, 3 NUL, 0 other control), for
    is_text, text_runs and utf16 to share."""
    return data.translate(_MASK)


def is_text(data: bytes, mask: bytes | None = None) -> bool:
    """Text (ASCII or UTF-8) with at most 5% other bytes, judged over all of ``data``.

    The whole buffer, not a sample: a binary head must not make a text tail
    look binary, nor a text head a binary tail look like text.
    """
    if not data:
        return False
    allowance = len(data) // 20
    mask = mask or text_mask(data)
    if data.isascii():
        return len(data) - mask.count(1) <= allowance
    controls = mask.count(0) + mask.count(3)
    if controls > allowance:
        return False
    if len(data) - mask.count(1) <= allowance:
        return True
    # The other bytes are high bytes: text when they are UTF-8 (Chinese, Cyrillic...), a few strays allowed.
    invalid = data.decode("utf-8", "replace").count("\ufffd")
    return controls + invalid <= allowance


def text_runs(mask: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of the printable ASCII stretches of 16 bytes or more, from a text_mask."""
    ascii_text = mask.translate(_ASCII_TEXT)
    pos = ascii_text.find(_RUN)
    while pos >= 0:
        end = ascii_text.find(b"\x00", pos)
        end = len(mask) if end < 0 else end
        yield pos, end
        pos = ascii_text.find(_RUN, end)


def b64(token: bytes) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None when it is not base64."""
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


def b64_step(token: bytes) -> str:
    return "base64" if _B64_STD.match(token) else "base64url"


def b32(token: bytes, *, extended: bool = False) -> bytes | None:
    """RFC 4648 base32 (or base32hex), one case, padded or not; None when it is not."""
    if not (_B32HEX if extended else _B32).match(token):
        return None
    body = token.rstrip(b"=").upper()
    if len(body) % 8 in (1, 3, 6):
        return None
    padded = body + b"=" * (-len(body) % 8)
    try:
        return base64.b32hexdecode(padded) if extended else base64.b32decode(padded)
    except (binascii.Error, ValueError):
        return None


def _hex_digits(digits: bytes) -> bool:
    """Digits only, yet hex: hex of digits or of hex is all digits (``3335...``); numbers are shorter."""
    return len(digits) >= 24 and len(digits) % 2 == 0


def unhex(run: bytes) -> list[bytes]:
    """A hex run's bytes; an odd run is read both ways (its first or its last digit is not its own)."""
    if len(run) % 2 == 0:
        return [bytes.fromhex(run.decode("ascii"))]
    return [bytes.fromhex(run[1:].decode("ascii")), bytes.fromhex(run[:-1].decode("ascii"))]


@dataclass(frozen=True, slots=True)
class Decoding:
    """One reading of an encoded value or run: how (``base64``, ``base32``, ``hex``...), where, what."""

    step: str
    start: int
    """Offset of the run in the text it was found in."""
    data: bytes


def whole(value: bytes) -> list[Decoding]:
    """Every reading of ``value`` taken as one encoded value (a field, a body, a header).

    Hex is read only as hex (a hex string is base64-shaped by accident); other
    values are read as base32 and base64 when they are valid as either.
    """
    compact = MIME_BREAKS.sub(b"", value) if _MAY_BREAK.search(value) else value
    if len(compact) < 8 or (compact.rstrip(b"=").isdigit() and not _hex_digits(compact)):
        return []
    if _HEX_WHOLE.match(compact):
        return [Decoding("hex", 0, data) for data in unhex(compact)] if len(compact) >= 16 else []
    out = (
        [Decoding(step, skip, data) for step, skip, data in _base32_readings(compact)]
        if _B32ISH.match(compact)
        else []
    )
    decoded = b64(compact)
    if decoded is None and compact.endswith(b"=") and len(compact) % 4:
        decoded = b64(compact[len(compact) % 4 :])  # padding fixes the alignment: the head is not its own
    if decoded is not None:
        out.append(Decoding(b64_step(compact), 0, decoded))
    # one run of the base64 alphabet may hold a hex or base32 run that is the real value (a prefix glued on)
    return out + list(_subruns(compact, 0)) if compact == value and TOKEN.fullmatch(compact) else out


def _subruns(token: bytes, at: int) -> Iterator[Decoding]:
    """Hex and base32 runs inside a longer run of the base64 alphabet (``sess_0123...``, ``-PMRE...``)."""
    if len(token) >= 24:
        for hex_run in _HEX_RUN.finditer(token):
            yield from (Decoding("hex", at + hex_run.start(), data) for data in unhex(hex_run.group()))
    if not _B32.match(token):
        for b32_run in _B32_RUN.finditer(token):
            for step, skip, data in _base32_readings(b32_run.group()):
                yield Decoding(step, at + b32_run.start() + skip, data)


def _base32_readings(token: bytes, loose: bool = False) -> list[tuple[str, int, bytes]]:
    """(step, offset, bytes) for base32 and base32hex; padding that does not fill 8-character groups
    says how many characters at the head are not the run's own, and a ``loose`` run is tried without
    its first 1-3."""
    skips = [0, 1, 2, 3] if loose else [0]
    if token.endswith(b"=") and len(token) % 8 not in skips:
        skips.append(len(token) % 8)
    out: list[tuple[str, int, bytes]] = []
    for skip in skips:
        body = token[skip:]
        decoded = b32(body)
        if decoded is not None:
            out.append(("base32", skip, decoded))
        if _B32HEX_LETTER.search(body):
            decoded = b32(body, extended=True)
            if decoded is not None:
                out.append(("base32hex", skip, decoded))
    return out


def runs(text: bytes, *, realign: bool = False) -> Iterator[Decoding]:
    """Encoded runs inside text (a header value, a log line, XML), in order, each read every valid way:
    base64 runs, hex runs, and single-case runs as base32 (one regex pass each).

    ``realign``: the run may start with bytes that are not its own (text cut
    out of binary data), so it is also read from its 2nd, 3rd and 4th
    character; so is a run right after a byte that is not text.
    """
    return heapq.merge(
        _base64_runs(text, realign), _hex_runs(text), _base32_runs(text, realign), key=lambda d: d.start
    )


def _loose(text: bytes, start: int, realign: bool) -> bool:
    """Only a run's head can have bytes that are not its own: at the start of text cut out of binary
    data, or right after a byte that is not text."""
    return (realign and start == 0) or (start > 0 and text[start - 1] not in _TEXT_SET)


def _base64_runs(text: bytes, realign: bool) -> Iterator[Decoding]:
    for match in TOKEN.finditer(text):
        raw = match.group()
        token = MIME_BREAKS.sub(b"", raw) if _MAY_BREAK.search(raw) else raw
        if token.rstrip(b"=").isdigit() and not _hex_digits(token):
            continue  # numbers are matched as they are
        at = match.start()
        if _HEX_WHOLE.match(token):
            if token is not raw and len(token) >= 24:  # hex broken into lines: _hex_runs sees the pieces
                yield from (Decoding("hex", at, data) for data in unhex(token))
            continue
        loose = _loose(text, at, realign)
        for skip in range(4 if loose else 1):
            decoded = b64(token[skip:])
            if decoded is None and not skip and token.endswith(b"=") and len(token) % 4:
                decoded = b64(token[len(token) % 4 :])
            if decoded is not None:
                yield Decoding(b64_step(token[skip:]), at + skip, decoded)


def _hex_runs(text: bytes) -> Iterator[Decoding]:
    for match in _HEX_RUN.finditer(text):
        run = match.group()
        if not run.isdigit() or _hex_digits(run):
            yield from (Decoding("hex", match.start(), data) for data in unhex(run))


def _base32_runs(text: bytes, realign: bool) -> Iterator[Decoding]:
    for match in _SINGLE_CASE_RUN.finditer(text):
        run = match.group()
        if _HEX_WHOLE.match(run.rstrip(b"=")):
            continue  # hex (or a number): _hex_runs reads it
        for step, skip, data in _base32_readings(run, _loose(text, match.start(), realign)):
            yield Decoding(step, match.start() + skip, data)


_ESCAPE = re.compile(rb"\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|&#([0-9]{1,7});|&#[xX]([0-9A-Fa-f]{1,6});")
_QUOTED_PRINTABLE = re.compile(rb"(?:=[0-9A-F]{2}){3}")
_HEX_PAIRS = re.compile(
    rb"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}([:\- ])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){6,}(?![0-9A-Fa-f])"
)
"""Hex with a separator between bytes, as a hex dump or a MAC writes it (eight bytes or more)."""


def unescape(text: bytes) -> bytes | None:
    """Backslash escapes (``\\u0033``, ``\\x33``) and numeric character references (``&#51;``,
    ``&#x33;``) resolved, as a JavaScript, Java or HTML reader would; None when there are none."""
    if not _ESCAPE.search(text):
        return None

    def one(match: re.Match[bytes]) -> bytes:
        code, byte, decimal, hexa = match.groups()
        if byte is not None:
            return bytes([int(byte, 16)])
        point = int(code or hexa, 16) if decimal is None else int(decimal)
        return chr(min(point, 0x10FFFF)).encode("utf-8", "surrogatepass")

    return _ESCAPE.sub(one, text)


def quoted_printable(text: bytes) -> bytes | None:
    """RFC 2045 6.7 quoted-printable (``=33=35=32``) outside a MIME part; None when it does not look so."""
    return binascii.a2b_qp(text) if _QUOTED_PRINTABLE.search(text) else None


def hex_pairs(text: bytes) -> Iterator[Decoding]:
    """Hex bytes with a separator between them (``33:35:32...``, ``33 35 32...``)."""
    for match in _HEX_PAIRS.finditer(text):
        yield Decoding(
            "hex", match.start(), bytes.fromhex(match.group().replace(match.group(1), b"").decode())
        )


def utf16(data: bytes, mask: bytes) -> Iterator[Decoding]:
    """UTF-16 text in binary data: all of it behind a byte order mark, else every stretch of eight
    ASCII characters or more in either byte order (Java's getBytes("UTF-16"), Windows APIs); the same
    for UTF-32."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        yield Decoding("utf16", 0, data.decode("utf-16", "replace").encode("utf-8", "surrogatepass"))
        return
    if mask.count(3) < 8:
        return
    for unit, codec in (  # in the text_mask: 1 text, 3 NUL
        (b"\x01\x03", "utf-16-le"),
        (b"\x03\x01", "utf-16-be"),
        (b"\x01\x03\x03\x03", "utf-32-le"),
        (b"\x03\x03\x03\x01", "utf-32-be"),
    ):
        pos = mask.find(unit * 8)
        while pos >= 0:
            end = pos + 8 * len(unit)
            while mask.startswith(unit, end):
                end += len(unit)
            yield Decoding(codec[:6].replace("-", ""), pos, data[pos:end].decode(codec).encode())
            pos = mask.find(unit * 8, end)


_JSON = json.JSONDecoder()
_SEPARATORS = " \t\r\n\x1e"


def json_documents(text: bytes) -> tuple[list[object], int] | None:
    """The documents of a JSON text, of JSON Lines / concatenated JSON, or of an RFC 7464 sequence.

    Returns them with the byte offset where reading stopped (``len(text)``
    when all of it was JSON), or None when not even the first document is.
    Raises RecursionError for documents nested deeper than Python's stack.
    """
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        decoded = text.decode("utf-8", "surrogateescape")
    if decoded.startswith("\ufeff"):
        decoded = decoded[1:]
    docs: list[object] = []
    pos = 0
    while True:
        while pos < len(decoded) and decoded[pos] in _SEPARATORS:
            pos += 1
        if pos >= len(decoded):
            break
        try:
            doc, pos_after = _JSON.raw_decode(decoded, pos)
        except ValueError:
            break
        docs.append(doc)
        pos = pos_after
    if not docs:
        return None
    if pos >= len(decoded):
        return docs, len(text)
    return docs, len(text) - len(decoded[pos:].encode("utf-8", "surrogateescape"))


def utf8(text: str) -> bytes:
    """A JSON string's bytes: raw bytes kept as they were, lone surrogates from ``\\ud800`` escapes too."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
