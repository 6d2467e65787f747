"""DNS messages (RFC 1035) over UDP and TCP: questions, answers, CNAME chains.

Pure functions over bytes. Names come out lower case without the trailing
dot, rendered as Wireshark renders them (``_text.render``) so they compare
with tshark's view of the same capture, including its placeholders for names
that cannot be shown: ``<root>``, ``<name too long>``, ``<name contains a
pointer that loops>`` and ``<unknown extended label>``. Hostile messages never
raise: what can be read is returned and ``malformed`` is set.

Hand-written rather than dpkt/dnspython: those raise on the malformed names
this must tolerate, and do not render odd bytes as Wireshark does.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Final

from phonehome.traffic._text import render_lower

A: Final = 1
NS: Final = 2
CNAME: Final = 5
PTR: Final = 12
AAAA: Final = 28
DNAME: Final = 39
_NAME_TYPES: Final = frozenset({NS, CNAME, PTR, DNAME})

ROOT: Final = "<root>"
NAME_TOO_LONG: Final = "<name too long>"
POINTER_LOOP: Final = "<name contains a pointer that loops>"
UNKNOWN_LABEL: Final = "<unknown extended label>"

_HEADER: Final = struct.Struct("!HHHHHH")
_QUESTION: Final = struct.Struct("!HH")
_RECORD: Final = struct.Struct("!HHIH")
_MAX_NAME: Final = 253
"""Longest name in presentation form; tshark 4.0 shows ``<Name too long>`` beyond it."""
_MAX_POINTERS: Final = 255
"""tshark 4.0 (``MAX_DNAME_LEN``) calls a name with more pointers than this a loop."""
_STEPS_PER_BYTE: Final = 4
"""Labels and pointers followed per message byte (plus a constant) before we stop:
compression pointers let a small hostile message expand to a huge amount of work."""


@dataclass(slots=True)
class DnsRecord:
    """One resource record of the answer section."""

    name: str
    rtype: int
    ttl: int
    value: str
    """Address text for A/AAAA, the target name for CNAME/PTR/NS/DNAME, ``""`` otherwise."""


@dataclass(slots=True)
class DnsMessage:
    """The parts of a DNS message the analyzer uses."""

    id: int
    response: bool
    opcode: int
    rcode: int
    questions: list[tuple[str, int]] = field(default_factory=list)
    """(name, qtype); qtype 0 when the message ends inside the question."""
    answers: list[DnsRecord] = field(default_factory=list)
    malformed: bool = False
    """Something did not parse (cut message, bad label, pointer loop...): the rest was skipped."""


class _Names:
    """Reads the names of one message, with a work budget and a memo of names already read."""

    __slots__ = ("data", "memo", "steps")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.steps = _STEPS_PER_BYTE * len(data) + 1024
        self.memo: dict[int, str] = {}
        """Names by the offset they start at: most names in a response are one pointer to an earlier one."""

    def read(self, pos: int) -> tuple[str, int, bool]:
        """The name at ``pos``: (rendered name, offset after it, malformed).

        A cut or broken name gives what was read before the damage (or ``""``),
        and the offset is then the end of the data, so the caller stops.
        """
        data = self.data
        n = len(data)
        if pos + 1 < n and data[pos] >= 0xC0:
            known = self.memo.get(((data[pos] & 0x3F) << 8) | data[pos + 1])
            if known is not None:
                return known, pos + 2, False
        start = pos
        labels: list[bytes] = []
        size = -1
        after = -1
        pointers = 0
        visited: set[int] = set()
        steps = self.steps
        special: str | None = None
        while True:
            steps -= 1
            if pos >= n or steps < 0:
                self.steps = steps
                return _partial(labels, size), n, True
            length = data[pos]
            if length == 0:
                pos += 1
                break
            if length < 0x40:
                end = pos + 1 + length
                if end > n:
                    labels.append(data[pos + 1 : end])
                    self.steps = steps
                    return _partial(labels, size), n, True
                if size <= _MAX_NAME:
                    labels.append(data[pos + 1 : end])
                size += length + 1
                pos = end
            elif length >= 0xC0:
                if pos + 1 >= n:
                    self.steps = steps
                    return _partial(labels, size), n, True
                if after < 0:
                    after = pos + 2
                target = ((length & 0x3F) << 8) | data[pos + 1]
                pointers += 1
                if target in visited or pointers > _MAX_POINTERS:
                    special = POINTER_LOOP
                    break
                visited.add(target)
                pos = target
            elif length == 0x41:
                # RFC 2673 bit-string label; tshark 4.0 shows nothing for it.
                if pos + 1 >= n:
                    self.steps = steps
                    return _partial(labels, size), n, True
                bits = data[pos + 1] or 256
                pos += 2 + (bits + 7) // 8
            elif length < 0x80:
                # Unknown extended label: its length is unknown, so nothing after it can be read.
                self.steps = steps
                return UNKNOWN_LABEL, (after if after >= 0 else n), after < 0
            else:
                self.steps = steps
                return _partial(labels, size), n, True
        self.steps = steps
        if after < 0:
            after = pos
        if special is not None:
            name = special
        elif size > _MAX_NAME:
            name = NAME_TOO_LONG
        elif not labels:
            name = ROOT
        else:
            name = render_lower(b".".join(labels))
        self.memo[start] = name
        return name, after, False


def _partial(labels: list[bytes], size: int) -> str:
    if size > _MAX_NAME:
        return NAME_TOO_LONG
    return render_lower(b".".join(labels))


def parse_message(data: bytes) -> DnsMessage | None:
    """The message in ``data`` (one UDP payload or one TCP-framed message); None if it is not DNS.

    Only a message too short for the 12-byte header is "not DNS": anything on a
    DNS port is read as DNS, as Wireshark does, and damage sets ``malformed``.
    """
    n = len(data)
    if n < 12:
        return None
    ident, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(data)
    message = DnsMessage(
        id=ident, response=bool(flags & 0x8000), opcode=(flags >> 11) & 0xF, rcode=flags & 0xF
    )
    names = _Names(data)
    pos = 12
    for _ in range(qdcount):
        if pos >= n:
            message.malformed = True
            return message
        name, pos, bad = names.read(pos)
        if pos + 4 > n:
            if name:
                message.questions.append((name, 0))
            message.malformed = True
            return message
        message.questions.append((name, _QUESTION.unpack_from(data, pos)[0]))
        message.malformed |= bad
        pos += 4
    for _ in range(ancount):
        if pos >= n:
            message.malformed = True
            return message
        name, pos, bad = names.read(pos)
        if bad or pos + 10 > n:
            message.malformed = True
            return message
        rtype, _rclass, ttl, rdlength = _RECORD.unpack_from(data, pos)
        pos += 10
        end = pos + rdlength
        if end > n:
            message.malformed = True
            return message
        value = ""
        if rtype == A and rdlength == 4:
            value = socket.inet_ntop(socket.AF_INET, data[pos:end])
        elif rtype == AAAA and rdlength == 16:
            value = socket.inet_ntop(socket.AF_INET6, data[pos:end])
        elif rtype in _NAME_TYPES:
            value, _, bad = names.read(pos)
            message.malformed |= bad
        message.answers.append(DnsRecord(name, rtype, ttl, value))
        pos = end
    return message


class TcpDnsStream:
    """DNS over a reassembled TCP stream (RFC 1035 4.2.2: each message after a 2-byte length).

    Keeps at most one incomplete message (<= 65,537 bytes). A message that is
    not DNS, or :meth:`gap` (bytes lost), ends the stream's parsing: without
    the framing there is no safe place to resume.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.stopped = False
        """True once parsing gave up (not DNS, or a gap)."""

    def feed(self, data: bytes) -> list[DnsMessage]:
        """The messages completed by ``data``, in order."""
        if self.stopped:
            return []
        buffer = self._buffer
        buffer += data
        messages: list[DnsMessage] = []
        start = 0
        while len(buffer) - start >= 2:
            length = (buffer[start] << 8) | buffer[start + 1]
            end = start + 2 + length
            if len(buffer) < end:
                break
            message = parse_message(bytes(buffer[start + 2 : end]))
            if message is None:
                self.stop()
                return messages
            messages.append(message)
            start = end
        del buffer[:start]
        return messages

    def gap(self) -> None:
        """Bytes of the stream were lost: the framing is gone."""
        self.stop()

    def stop(self) -> None:
        self.stopped = True
        self._buffer = bytearray()


def encode_name(name: str | bytes) -> bytes:
    """``name`` in wire form (labels, no compression); raw bytes labels are kept as given."""
    raw = name.encode() if isinstance(name, str) else name
    raw = raw.rstrip(b".")
    out = bytearray()
    for label in raw.split(b".") if raw else []:
        if not 0 < len(label) < 64:
            raise ValueError(f"DNS label {label!r} of {name!r} must be 1 to 63 bytes long")
        out.append(len(label))
        out += label
    out.append(0)
    return bytes(out)


class _Writer:
    """Writes names with compression pointers to names written before (RFC 1035 4.1.4)."""

    def __init__(self, header: bytes) -> None:
        self.out = bytearray(header)
        self.offsets: dict[bytes, int] = {}

    def name(self, name: str | bytes) -> None:
        wire = encode_name(name)
        pos = 0
        while wire[pos] != 0:
            suffix = wire[pos:]
            if suffix in self.offsets:
                self.out += struct.pack("!H", 0xC000 | self.offsets[suffix])
                return
            if len(self.out) < 0x4000:
                self.offsets[suffix] = len(self.out)
            self.out += wire[pos : pos + 1 + wire[pos]]
            pos += 1 + wire[pos]
        self.out.append(0)


def build_query(name: str | bytes, qtype: int = A, id: int = 0x1234, recursion: bool = True) -> bytes:
    """A one-question query, as a stub resolver sends it."""
    header = _HEADER.pack(id, 0x0100 if recursion else 0, 1, 0, 0, 0)
    return header + encode_name(name) + _QUESTION.pack(qtype, 1)


def build_response(
    query_name: str | bytes,
    answers: list[DnsRecord],
    *,
    qtype: int = A,
    id: int = 0x1234,
    rcode: int = 0,
) -> bytes:
    """A response to ``query_name`` with ``answers`` (CNAME chains in order), names compressed."""
    writer = _Writer(_HEADER.pack(id, 0x8180 | (rcode & 0xF), 1, len(answers), 0, 0))
    writer.name(query_name)
    writer.out += _QUESTION.pack(qtype, 1)
    for record in answers:
        writer.name(record.name)
        writer.out += struct.pack("!HHI", record.rtype, 1, record.ttl)
        length_at = len(writer.out)
        writer.out += b"\0\0"
        if record.rtype == A:
            writer.out += socket.inet_pton(socket.AF_INET, record.value)
        elif record.rtype == AAAA:
            writer.out += socket.inet_pton(socket.AF_INET6, record.value)
        elif record.rtype in _NAME_TYPES:
            writer.name(record.value)
        else:
            writer.out += record.value.encode()
        struct.pack_into("!H", writer.out, length_at, len(writer.out) - length_at - 2)
    return bytes(writer.out)
