"""Bytes from the wire rendered as text the way Wireshark (tshark 4.0) shows them.

Names found in traffic are compared with what Wireshark reports for the same
capture, so odd bytes must come out the same: printable ASCII as is, ASCII
controls as C escapes (``\\r``) or three octal digits (``\\004``), valid
UTF-8 as the character when printable and ``\\uXXXX`` / ``\\UXXXXXXXX`` when
not, and each broken UTF-8 sequence as one U+FFFD. This mirrors
``format_text()`` in Wireshark's ``epan/strutil.c``; the printability test is
GLib's ``g_unichar_isprint`` (not control, format, unassigned or surrogate).
"""

from __future__ import annotations

import unicodedata
from typing import Final

_C_ESCAPES: Final = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
_NOT_PRINTABLE: Final = frozenset({"Cc", "Cf", "Cn", "Cs"})
_REPLACEMENT: Final = "\ufffd"


def render(raw: bytes) -> str:
    """``raw`` as Wireshark displays it (see the module docstring); never raises."""
    # Three C calls (isascii, decode, isprintable) instead of a regex match: half the time a name.
    if raw.isascii():
        text = raw.decode("ascii")
        if text.isprintable():  # for ASCII: every character in 0x20-0x7e
            return text
    return _render_slow(raw)


def render_lower(raw: bytes) -> str:
    """:func:`render`, lower-cased: how names are compared (DNS, SNI, Host)."""
    return render(raw).lower()


def _render_slow(raw: bytes) -> str:
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        i += 1
        if 0x20 <= c < 0x7F:
            out.append(chr(c))
            continue
        if c < 0x80:
            out.append(_C_ESCAPES.get(c) or f"\\{c:03o}")
            continue
        # A UTF-8 lead byte, as strutil.c reads it: up to the old 6-byte forms,
        # overlong encodings accepted (C0 80 is U+0000, shown escaped).
        if 0xC0 <= c < 0xE0:
            need, code = 1, c & 0x1F
        elif 0xE0 <= c < 0xF0:
            need, code = 2, c & 0x0F
        elif 0xF0 <= c < 0xF8:
            need, code = 3, c & 0x07
        elif 0xF8 <= c < 0xFC:
            need, code = 4, c & 0x03
        elif 0xFC <= c < 0xFE:
            need, code = 5, c & 0x01
        else:
            out.append(_REPLACEMENT)
            continue
        complete = True
        for _ in range(need):
            if i >= n or raw[i] & 0xC0 != 0x80:
                complete = False
                break
            code = (code << 6) | (raw[i] & 0x3F)
            i += 1
        if not complete or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            out.append(_REPLACEMENT)
        elif unicodedata.category(chr(code)) in _NOT_PRINTABLE:
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(chr(code))
    return "".join(out)
