"""Schema-less protobuf: field numbers and values, with no .proto (Google checkin, Firebase...).

Hand-written rather than a protobuf library because those need a schema (or,
for the raw decoders, accept trailing garbage); a leak scan needs a strict
"is this whole buffer a message?" and bounded work on hostile bytes. Without
a schema a number's type is unknown, so :func:`renderings` gives every
reading of it (signed, unsigned, zigzag, float) for the matcher to try.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

MAX_FIELDS = 4096
"""Fields read from one message before it is treated as not protobuf (a scan is not a full decode)."""


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    wire_type: int
    """0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (groups, 3 and 4, are not accepted)."""
    value: int | bytes
    offset: int = 0
    """Where the value starts in the message (for length-delimited fields, its first byte)."""


@dataclass(frozen=True, slots=True)
class Message:
    """The fields read from a buffer; ``complete`` is False when MAX_FIELDS stopped the reading."""

    fields: list[Field]
    complete: bool
    end: int
    """Offset where reading stopped (the buffer's length when complete)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ValueError("truncated or overlong varint")


def read_message(data: bytes, max_fields: int = MAX_FIELDS) -> Message | None:
    """The fields of ``data`` when all of it is one well-formed message, else None.

    A message with more than ``max_fields`` fields is read up to there (``complete`` False): whether the
    rest is well-formed is not known, and the caller must say that it was not read.
    """
    fields: list[Field] = []
    pos = 0
    try:
        while pos < len(data):
            if len(fields) >= max_fields:
                return Message(fields, False, pos)
            key, pos = _varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if not 1 <= number < 2**29:
                return None
            if wire_type == 0:
                start = pos
                value, pos = _varint(data, pos)
                fields.append(Field(number, 0, value, start))
            elif wire_type in (1, 5):
                size = 8 if wire_type == 1 else 4
                if pos + size > len(data):
                    return None
                fields.append(Field(number, wire_type, int.from_bytes(data[pos : pos + size], "little"), pos))
                pos += size
            elif wire_type == 2:
                length, pos = _varint(data, pos)
                if pos + length > len(data):
                    return None
                fields.append(Field(number, 2, data[pos : pos + length], pos))
                pos += length
            else:
                return None
    except ValueError:
        return None
    return Message(fields, True, pos) if fields else None


def parse_message(data: bytes) -> list[Field] | None:
    """The fields of ``data`` when all of it is one well-formed message of at most MAX_FIELDS fields."""
    message = read_message(data)
    return message.fields if message is not None and message.complete else None


def looks_like_message(data: bytes) -> bool:
    """Cheap pre-check before a full parse: binary-looking and the first key is a plausible field."""
    if len(data) < 2:
        return False
    first = data[0]
    return first >> 3 != 0 and first & 7 in (0, 1, 2, 5)


MAX_PACKED = 4096
"""Values rendered from one packed repeated field."""


def renderings(item: Field) -> tuple[list[tuple[str, str]], bool]:
    """(view, text) readings of a protobuf field's numbers: signed (int64, sfixed), unsigned where that
    differs, zigzag (sint32/64) for varints, IEEE 754 for fixed widths (a double latitude), and the
    same for packed repeated fields; and whether a packed field had more than MAX_PACKED values.

    Packed doubles and floats are rendered from fields of up to 1 KiB; beyond, the matcher still finds a
    coordinate by its binary encoding (coordinates.py).
    """
    if isinstance(item.value, int):
        return _number(item.wire_type, item.value), False
    value = item.value
    if len(value) < 8:
        return [], False
    out: list[tuple[str, str]] = []
    if len(value) <= 1024 and len(value) % 8 == 0:
        for (number,) in struct.iter_unpack("<d", value):
            out += _float(number, 64)
    if len(value) <= 1024 and len(value) % 4 == 0:
        for (number,) in struct.iter_unpack("<f", value):
            out += _float(number, 32)
    varints = _packed_varints(value)
    for number in varints[:MAX_PACKED]:
        out += _number(0, number)
    return out, len(varints) > MAX_PACKED


def _number(wire_type: int, value: int) -> list[tuple[str, str]]:
    bits = {0: 64, 1: 64, 5: 32}[wire_type]
    if (1 << (bits - 1)) <= value < (1 << bits):
        out = [("numbers", str(value - (1 << bits))), ("unsigned", str(value))]
    else:
        out = [("numbers", str(value))]
    if wire_type == 0 and value:
        out.append(("zigzag", str((value >> 1) ^ -(value & 1))))  # sint32, sint64
    if wire_type in (1, 5):
        (number,) = struct.unpack("<d" if bits == 64 else "<f", value.to_bytes(bits // 8, "little"))
        out += _float(number, bits)
    return out


def _float(number: float, bits: int) -> list[tuple[str, str]]:
    """The shortest text that reads back as the same double or float: a coordinate rounded to 4 places
    shows its 4 places (``59.9139``), not the binary fraction's 15."""
    if not (math.isfinite(number) and 1e-3 < abs(number) < 1e9):
        return []
    if bits == 64:
        return [("floats", repr(number))] if "e" not in repr(number) else []
    for places in range(1, 12):
        text = f"{number:.{places}f}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == number:
            return [("floats", text)]
    return []


def _packed_varints(data: bytes) -> list[int]:
    """A packed repeated varint field (two bytes or more each, as E6/E7 coordinates are), else nothing."""
    out: list[int] = []
    pos = 0
    while pos < len(data) and len(out) <= MAX_PACKED:
        start = pos
        value = shift = 0
        while pos < len(data) and data[pos] & 0x80 and shift < 63:
            value |= (data[pos] & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
        if pos >= len(data) or pos == start:
            return []
        value |= data[pos] << shift
        pos += 1
        out.append(value)
    return out if pos == len(data) or len(out) > MAX_PACKED else []
