"""Mail and chat protocols that start in clear and may upgrade to TLS: SMTP, IMAP, POP3, XMPP.

SMTP (RFC 3207 STARTTLS), IMAP (RFC 3501 STARTTLS), POP3 (RFC 2595 STLS)
and XMPP (RFC 6120 5, ``<starttls/>``) begin as text; after the client's
upgrade command and the server's go-ahead the same connection carries TLS.
:class:`StartTlsReader` reads the client's side only (a sink may answer
nothing, or the server's banner may be missing from the capture): it finds
where TLS begins, if it does, and the domain an XMPP client names. Servers
speak first, so their banner is also a hint (:func:`banner_app`).
"""

from __future__ import annotations

import re

from phonehome.traffic.http import looks_like_request

MAX_LINE = 8192
"""Bytes of a command line read; longer lines are skipped to their end."""
XMPP_WINDOW = 16384
"""Bytes of an XMPP client's text kept for matching elements that span segments."""
MAX_NAMES = 64
"""Domains an XMPP client's stream headers may name that are kept."""

_SMTP = re.compile(rb"(?i)(?:EHLO|HELO|LHLO)(?:[ \t][^\r\n]*)?\r?\n|STARTTLS\r?\n")
_POP3 = re.compile(rb"(?i)(?:CAPA|STLS|USER [^\r\n]*|APOP [^\r\n]*)\r?\n")
_IMAP = re.compile(
    rb"(?i)[A-Za-z0-9.+_-]{1,32} (?:CAPABILITY|STARTTLS|LOGIN|AUTHENTICATE|NOOP|ID|ENABLE|LOGOUT)\b"
)
_XMPP = re.compile(rb"\s*(?:<\?xml[^>]{0,200}\?>\s*)?<stream:stream\b")
# Bounded repeats: an element's attributes fit in a few KB, and an unbounded lazy scan would make
# a segment of repeated "<stream:stream" quadratic.
_XMPP_TO = re.compile(rb"<stream:stream\b[^>]{0,2048}?\bto\s{0,16}=\s{0,16}(['\"])([^'\"<>]{0,255})\1")
_XMPP_STARTTLS = re.compile(rb"<starttls\b[^>]{0,2048}?(?:/>|>\s{0,64}</starttls\s{0,16}>)\s{0,64}")
_UPGRADE = {"smtp": b"STARTTLS", "pop3": b"STLS", "imap": b"STARTTLS"}
_BANNERS = ((b"220 ", "smtp"), (b"220-", "smtp"), (b"* OK", "imap"), (b"+OK", "pop3"))
_LITERAL = re.compile(rb"\{([0-9]{1,10})\+?\}\r?\n\Z")


def client_app(prefix: bytes, banner: str | None) -> str | None:
    """The protocol a client's first bytes speak (``smtp``, ``imap``, ``pop3``, ``xmpp``), if one of these."""
    if _XMPP.match(prefix):
        return "xmpp"
    if _SMTP.match(prefix):
        return "smtp"
    if _POP3.match(prefix):
        return "pop3"
    if _IMAP.match(prefix):
        return "imap"
    if banner is not None and b"\n" in prefix and prefix[:1].isalpha() and not looks_like_request(prefix):
        return banner  # a command we do not list, after the server's greeting told what it speaks
    return None


def banner_app(data: bytes) -> str | None:
    """The protocol a server's greeting announces, if it is one of these."""
    if _XMPP.match(data):
        return "xmpp"
    for start, app in _BANNERS:
        if data.startswith(start):
            return app
    return None


class StartTlsReader:
    """The client's commands, up to the point where it switches to TLS (if it does).

    ``feed`` returns the stream offset where TLS begins, once the bytes after
    an upgrade command start a TLS handshake record; until then, and when the
    server refused, the stream stays text.
    """

    __slots__ = ("_data_mode", "_line", "_skip", "_text", "app", "claims", "offset", "upgrade_at")

    def __init__(self, app: str, offset: int) -> None:
        self.app = app
        self.offset = offset
        self.upgrade_at: int | None = None
        """Where TLS would begin: just after the client's upgrade command."""
        self.claims: list[str] = []
        """Domains an XMPP client named in its stream headers (``to``), in order."""
        self._line = bytearray()
        self._skip = 0
        """Bytes of an IMAP literal or an SMTP BDAT chunk still to pass over."""
        self._data_mode = False
        """Inside an SMTP DATA message: lines are content, not commands."""
        self._text = bytearray()

    def feed(self, offset: int, data: bytes) -> int | None:
        """Reads ``data`` (stream bytes from ``offset``); returns the offset where TLS begins, if it does here."""
        if offset != self.offset:
            self._line = bytearray()
            self._text = bytearray()
            self._skip = 0
            self.upgrade_at = None
        self.offset = offset + len(data)
        if self.app == "xmpp":
            return self._xmpp(offset, data)
        pos = 0
        while pos < len(data):
            if self.upgrade_at is not None:
                if self.upgrade_at == offset + pos:
                    if data[pos] == 0x16:
                        return offset + pos
                    self.upgrade_at = None  # the server refused: the client went on in clear
                else:
                    self.upgrade_at = None
            if self._skip:
                take = min(self._skip, len(data) - pos)
                self._skip -= take
                pos += take
                continue
            end = data.find(b"\n", pos)
            if end < 0:
                if len(self._line) < MAX_LINE:
                    self._line += data[pos : pos + MAX_LINE - len(self._line)]
                return None
            if len(self._line) < MAX_LINE:
                self._line += data[pos : min(end + 1, pos + MAX_LINE - len(self._line))]
            pos = end + 1
            self._command(bytes(self._line), offset + pos)
            self._line = bytearray()
        return None

    def _command(self, line: bytes, after: int) -> None:
        text = line.rstrip(b"\r\n")
        if self._data_mode:
            if text == b".":
                self._data_mode = False
            return
        words = text.split()
        if not words:
            return
        if self.app == "imap":
            literal = _LITERAL.search(line)
            if literal:
                self._skip = int(literal.group(1))
            words = words[1:]  # the tag
            if not words:
                return
        verb = words[0].upper()
        if verb == _UPGRADE.get(self.app) and len(words) == 1:
            self.upgrade_at = after
        elif self.app == "smtp" and verb == b"DATA":
            self._data_mode = True
        elif self.app == "smtp" and verb == b"BDAT" and len(words) > 1 and words[1].isdigit():
            self._skip = int(words[1])

    def _xmpp(self, offset: int, data: bytes) -> int | None:
        if self.upgrade_at is not None:
            if self.upgrade_at == offset and data[:1] == b"\x16":
                return offset
            self.upgrade_at = None
        start = offset - len(self._text)
        text = self._text + data
        for match in _XMPP_TO.finditer(text):
            name = match.group(2).decode("ascii", "replace")
            if name not in self.claims and len(self.claims) < MAX_NAMES:
                self.claims.append(name)
        upgrade = _XMPP_STARTTLS.search(text)
        if upgrade is not None:
            at = start + upgrade.end()
            self._text = bytearray()
            if at < offset + len(data):
                return at if text[upgrade.end()] == 0x16 else None
            self.upgrade_at = at
            return None
        cut = text.rfind(b">") + 1
        self._text = bytearray(text[cut:][-XMPP_WINDOW:])
        return None
