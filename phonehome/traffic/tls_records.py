"""One direction of a TLS connection read record by record, for as long as it lasts (RFC 8446 5.1).

After its handshake a TLS stream is records of ciphertext. Firmware that
wants to pass a scan may frame cleartext as records, or stop framing after a
valid ClientHello: :class:`RecordWalker` reads every record header (it
copies only the handshake messages it keeps), reassembles handshake messages
while they travel in clear (every ClientHello of a connection, not only the
first), and reports the bytes that are not what the framing claims: bytes
that form no record at all, and records whose content reads as text.
Hand-written for the reasons ``tls`` gives (hostile framing must not raise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from phonehome.traffic.tls import CLIENT_HELLO, HANDSHAKE, HANDSHAKE_LIMIT, SERVER_HELLO

RECORD_MAX: Final = (1 << 14) + 2048
"""Largest record body TLSCiphertext allows (RFC 8446 5.2, RFC 5246 6.2.3)."""
RECORD_TYPES: Final = frozenset({20, 21, 22, 23, 24})
"""change_cipher_spec, alert, handshake, application_data, heartbeat (RFC 6520)."""
TEXT_MIN: Final = 16
"""Records shorter than this are never called text (an alert, a CCS, a short ticket ack)."""
TEXT_SHARE: Final = 0.9
"""Share of printable ASCII from which a record reads as text (random bytes hold ~37%)."""
HANDSHAKE_TYPES: Final = frozenset({0, 1, 2, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 254})
"""Handshake message types a cleartext handshake record may begin with (IANA TLS HandshakeType)."""
_PRINTABLE: Final = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_TEXT_PROBE: Final = 32
SSLV2: Final = -2
"""``HandshakeMessage.msg_type`` of an SSL 2.0-framed ClientHello (RFC 5246 E.2): ``data`` is its body."""


@dataclass(frozen=True, slots=True)
class HandshakeMessage:
    """A whole handshake message the walker kept (ClientHello from a client, ServerHello from a server)."""

    msg_type: int
    data: bytes
    """The message, its 4-byte header included (an SSLv2 hello: the record body)."""
    offset: int
    """Stream offset of the record header that began it."""
    record_end: int = 0
    """Stream offset just past the record in which the message ended (where the next record begins)."""


@dataclass(frozen=True, slots=True)
class Cleartext:
    """Stream bytes that TLS framing claims but does not deliver."""

    offset: int
    length: int
    reason: str
    """``not-records`` (framing lost: the rest of the stream) or ``text-record`` (a record reading as text)."""


Event = HandshakeMessage | Cleartext


class RecordWalker:
    """Reads one direction's records from stream offset ``offset`` on, in order, in pieces of any size.

    Memory: a record header, and one handshake message up to ``limit``. A
    jump in offsets (a gap) loses the framing: the walker then stops and says so.
    """

    __slots__ = (
        "_head",
        "_head_offset",
        "_hs_head",
        "_hs_keep",
        "_hs_left",
        "_hs_opaque",
        "_left",
        "_length",
        "_message",
        "_message_offset",
        "_record_offset",
        "_sslv2",
        "_type",
        "_unprintable",
        "broken",
        "broken_at",
        "check_text",
        "from_client",
        "gap",
        "limit",
        "offset",
        "records",
    )

    def __init__(
        self, offset: int, *, from_client: bool, check_text: bool = True, limit: int = HANDSHAKE_LIMIT
    ) -> None:
        self.offset = offset
        self.check_text = check_text
        """Count printable bytes per record to report text (costs a pass over every byte)."""
        """Stream offset of the next byte expected."""
        self.from_client = from_client
        self.limit = limit
        self.records = 0
        """Complete records read."""
        self.broken = False
        """The framing was lost: every later byte is reported as ``not-records``."""
        self.broken_at: int | None = None
        """Stream offset of the first byte that formed no record."""
        self.gap = False
        """Bytes were lost before capture: the walker stopped reading (nothing more is reported)."""
        self._head = bytearray()
        self._head_offset = offset
        self._left = 0
        self._type = 0
        self._length = 0
        self._record_offset = offset
        self._unprintable = 0
        """Bytes of the current record seen not to be printable, counted until it cannot be text."""
        self._sslv2 = False
        self._hs_head = bytearray()
        self._hs_left = 0
        self._hs_keep = False
        self._hs_opaque = False
        self._message = bytearray()
        self._message_offset = 0

    def feed(self, offset: int, data: bytes) -> list[Event]:
        """What ``data`` (stream bytes from ``offset``) completed or showed."""
        if self.gap or not data:
            return []
        if offset != self.offset:
            if offset < self.offset:
                data = data[self.offset - offset :]
                offset = self.offset
                if not data:
                    return []
            else:
                self.gap = True
                return []
        events: list[Event] = []
        self.offset = offset + len(data)
        if self.broken:
            events.append(Cleartext(offset, len(data), "not-records"))
            return events
        pos, n = 0, len(data)
        while pos < n:
            if self._left == 0:
                pos, started = self._header(data, pos, offset, events)
                if not started:
                    return events  # the header is incomplete, or framing was lost
                if self._left == 0:
                    self._end_record(events)
                    continue
            take = min(self._left, n - pos)
            if self.check_text or self._sslv2 or self._type == HANDSHAKE:
                piece = data if take == n else data[pos : pos + take]
                if self.check_text and not self._not_text():
                    self._count_unprintable(piece)
                if self._sslv2:
                    self._message += piece
                elif self._type == HANDSHAKE:
                    self._handshake(piece, events)
            pos += take
            self._left -= take
            if self._left == 0:
                self._end_record(events)
        return events

    # -- records ---------------------------------------------------------------------------------------

    def _header(self, data: bytes, pos: int, offset: int, events: list[Event]) -> tuple[int, bool]:
        """Reads (the rest of) a record header from ``data[pos:]``: (new position, a record started)."""
        head = self._head
        if not head:
            self._head_offset = offset + pos
        sslv2 = self.from_client and self.records == 0 and (head[:1] or data[pos : pos + 1])[0] & 0x80
        need = 2 if sslv2 else 5
        take = min(need - len(head), len(data) - pos)
        head += data[pos : pos + take]
        pos += take
        if len(head) < need:
            if not sslv2 and (head[0] not in RECORD_TYPES or (len(head) >= 2 and head[1] != 3)):
                self._lose(data, offset, events)
            return pos, False
        if sslv2:
            length = ((head[0] & 0x7F) << 8) | head[1]
            self._start(SSLV2, length)
            self._sslv2 = True
            self._message = bytearray()
            return pos, True
        ctype, major, length = head[0], head[1], (head[3] << 8) | head[4]
        if ctype not in RECORD_TYPES or major != 3 or length > RECORD_MAX:
            self._lose(data, offset, events)
            return len(data), False
        self._start(ctype, length)
        return pos, True

    def _not_text(self) -> bool:
        """The current record already holds too few printable bytes to read as text."""
        return self._length - self._unprintable < TEXT_SHARE * self._length

    def _count_unprintable(self, piece: bytes) -> None:
        # About 60% of random (encrypted) bytes are not printable, so a quarter of a record rules
        # it out: count a head that long first, and the rest only while the record can still be
        # text. Counting every byte of every record was a twentieth of the analysis.
        probe = max(_TEXT_PROBE, self._length >> 2)
        self._unprintable += len(piece[:probe].translate(None, _PRINTABLE))
        if len(piece) > probe and not self._not_text():
            self._unprintable += len(piece[probe:].translate(None, _PRINTABLE))

    def _start(self, ctype: int, length: int) -> None:
        self._record_offset = self._head_offset
        self._type = ctype
        self._length = self._left = length
        self._unprintable = 0
        self._head = bytearray()
        if ctype != HANDSHAKE and (self._hs_left or self._hs_head):
            # RFC 8446 5.1: handshake messages are never interleaved with other record types.
            self._reset_handshake()
        self._hs_opaque = False

    def _end_record(self, events: list[Event]) -> None:
        self.records += 1
        length = self._length
        if self.check_text and length >= TEXT_MIN and not self._not_text() and not self._sslv2:
            events.append(Cleartext(self._record_offset, 5 + length, "text-record"))
        if self._sslv2:
            self._sslv2 = False
            end = self._record_offset + 2 + length
            events.append(HandshakeMessage(SSLV2, bytes(self._message), self._record_offset, end))
            self._message = bytearray()

    def _lose(self, data: bytes, offset: int, events: list[Event]) -> None:
        """The bytes at the header position form no record: the rest of the stream is reported."""
        self.broken = True
        start = self.broken_at = self._head_offset
        events.append(Cleartext(start, offset + len(data) - start, "not-records"))
        self._head = bytearray()
        self._reset_handshake()

    # -- handshake messages ----------------------------------------------------------------------------

    def _handshake(self, piece: bytes, events: list[Event]) -> None:
        if self._hs_opaque:
            return
        pos, n = 0, len(piece)
        while pos < n:
            if self._hs_left == 0:
                head = self._hs_head
                take = min(4 - len(head), n - pos)
                head += piece[pos : pos + take]
                pos += take
                if len(head) < 4:
                    return
                msg_type, length = head[0], int.from_bytes(head[1:4], "big")
                keep = msg_type == (CLIENT_HELLO if self.from_client else SERVER_HELLO)
                if msg_type not in HANDSHAKE_TYPES or (keep and length > self.limit):
                    # Encrypted handshake (a TLS 1.2 Finished, a renegotiation) or garbage: skip the record.
                    self._reset_handshake()
                    self._hs_opaque = True
                    return
                self._hs_left = length
                self._hs_keep = keep
                if keep:
                    self._message = bytearray(head)
                    self._message_offset = self._record_offset
                self._hs_head = bytearray()
                if length == 0:
                    self._message_done(events)
                    continue
            take = min(self._hs_left, n - pos)
            if self._hs_keep:
                self._message += piece[pos : pos + take]
            pos += take
            self._hs_left -= take
            if self._hs_left == 0:
                self._message_done(events)

    def _message_done(self, events: list[Event]) -> None:
        if self._hs_keep:
            message = bytes(self._message)
            end = self._record_offset + 5 + self._length
            events.append(HandshakeMessage(message[0], message, self._message_offset, end))
        self._reset_handshake()

    def _reset_handshake(self) -> None:
        self._hs_head = bytearray()
        self._hs_left = 0
        self._hs_keep = False
        self._message = bytearray()
