"""Strings on their way into an HTML page: made visible, then escaped, whatever they hold.

A handset chooses its SNI, Host header and DHCP host name, so any of them may
carry markup, script, ANSI sequences, control characters or bidi overrides that
would reorder what a reader sees. Policy findings escape what they quote, but
the report does not rely on it: every string goes through `visible` (anything
unprintable or invisible becomes ``\\xNN`` / ``\\uNNNN``) and `html.escape`
here, and data handed to the page's script goes through `script_json`.
"""

from __future__ import annotations

import html
import json
from typing import Any

MAX_TEXT = 2000
"""Longest string shown whole; the rest is cut with a marker (an excerpt is at most a few hundred)."""


def visible(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` as text a person can read: controls, format characters and separators spelled out."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters)"
    if text.isprintable():
        return text
    return "".join(_spell(c) for c in text)


def _spell(char: str) -> str:
    # str.isprintable is False for controls (Cc), format characters such as the bidi overrides and
    # zero-width joiners (Cf), surrogates, private use, unassigned code points and every separator but
    # the space (line/paragraph separators, no-break spaces): each is spelled out.
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def text(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` visible and HTML-escaped (quotes too, so it is safe in an attribute)."""
    return html.escape(visible(value, limit), quote=True)


def script_json(data: Any) -> str:
    """``data`` as JSON that can sit inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``
    (so no ``</script>`` or ``<!--``), no U+2028/2029, ASCII only."""
    raw = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
