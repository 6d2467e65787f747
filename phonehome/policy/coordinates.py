"""A handset's location in bytes: the patterns that find each axis, and the check of each candidate.

Text: decimals at any precision with a dot or a comma, E5/E6/E7 integers.
Binary: IEEE 754 doubles and floats and E6/E7 int32s in either byte order, as
C structs, protobuf fixed fields and GPS receivers' reports carry them. A
literal finds the candidate (the two-decimal prefix; the value's top bytes);
:func:`verify` reads the whole number around it and Coordinate.matches judges
it. One axis alone is a number: :func:`pair` keeps latitude next to longitude,
or an axis under its own field name.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

from phonehome.policy.forms import Coordinate

PAIR_DISTANCE = 48
"""Latitude and longitude count as a location when this close (either order): one alone is a number."""
_BINARY_REACH = 1e-4
"""A binary value within this of the location (4 places, ~11 m) is the location."""

_DIGITS = frozenset(b"0123456789")
# What may stand between latitude and longitude: punctuation, spaces and the coordinates' own names
# ("59.91, 10.75", '"lat": 59.91, "lon": 10.75', "<lat>..</lat><lon>"), not words ("59.91 and 10.75").
_NAME_AFFIX = rb"(?:gps|geo|loc|last|cur|current|device|user|my|fix)?"
_NAME_SUFFIX = rb"(?:e[5-7]|_?deg(?:rees)?)?"
_BETWEEN = re.compile(
    rb"(?i)(?:[\s,;:&=\"'\[\](){}<>|/_\\]|"
    + _NAME_AFFIX
    + rb"(?:latitude|longitude|lat|lng|lon|long)"
    + _NAME_SUFFIX
    + rb"|x|y)*"
)
_LAT_KEY = re.compile(rb"(?i)(?:lat|latitude)" + _NAME_SUFFIX + rb"(?:[\"']?\s*[:=]\s*[\"']?|>)$")
_LON_KEY = re.compile(rb"(?i)(?:lon|lng|long|longitude)" + _NAME_SUFFIX + rb"(?:[\"']?\s*[:=]\s*[\"']?|>)$")

# codec -> (struct format, size, scale): scale 0 is a float; 6 and 7 are integer degrees * 10**scale
_BINARY = {
    "f64le": ("<d", 8, 0),
    "f64be": (">d", 8, 0),
    "f32le": ("<f", 4, 0),
    "f32be": (">f", 4, 0),
    "i32le7": ("<i", 4, 7),
    "i32be7": (">i", 4, 7),
    "i32le6": ("<i", 4, 6),
    "i32be6": (">i", 4, 6),
}


@dataclass(frozen=True, slots=True)
class Pattern:
    """One Hyperscan expression for one axis, and how to read the number a match sits in."""

    expression: bytes
    codec: str
    """``dot`` or ``comma`` decimal, ``e5``-``e7`` integer, or a binary codec (``f64le``...)."""
    span: int = 0
    """Decimal: how far before the match's end its separator is. Binary: the literal's length."""


@dataclass(slots=True)
class CoordinateHit:
    axis: str
    start: int
    end: int
    keyed: bool
    binary: bool = False


def patterns(coord: Coordinate) -> list[Pattern]:
    """Every rendering of one axis.

    Decimals: the two-decimal prefixes every value within reach starts with, with a dot and with a comma
    (``String.format`` in a German locale), and the roundings that lost their trailing zeros (``60.0``).
    E5, E6, E7 integers: the prefix's digits without leading zeros, then the rest; skipped under 0.1
    degrees, where two digits or fewer would match every number in the traffic. Binary: see _binary.
    """
    out: list[Pattern] = []
    for prefix in sorted(_prefixes(coord)):
        out += [
            Pattern(re.escape(prefix).encode(), "dot", 3),
            Pattern(prefix.replace(".", ",").encode(), "comma", 3),
        ]
        integer = prefix.replace(".", "").lstrip("0")
        if len(integer) >= 2:
            out += [Pattern(integer.encode() + b"\\d{%d}" % (scale - 2), f"e{scale}") for scale in (5, 6, 7)]
    for short in sorted(coord.short_forms()):
        back = len(short.partition(".")[2]) + 1
        out += [
            Pattern(re.escape(short).encode(), "dot", back),
            Pattern(short.replace(".", ",").encode(), "comma", back),
        ]
    return out + _binary(coord)


def _prefixes(coord: Coordinate) -> set[str]:
    """Two-decimal prefixes that every value within tolerance starts with (truncated or rounded)."""
    reach = 0.01 + coord.extra
    out = set()
    for delta in (-reach, 0.0, reach):
        value = abs(coord.degrees + delta)
        out.add(f"{int(value * 100) / 100:.2f}")
    return out


def _coarse(degrees: float) -> list[float]:
    """The location rounded or cut to 2 and 3 places: values a binary field may hold for it."""
    return [f(degrees * 10**p) / 10**p for p in (2, 3) for f in (round, math.trunc)]


def _binary(coord: Coordinate) -> list[Pattern]:
    """The top bytes of each binary encoding of every value within reach (and of the coarse roundings):
    as many of them as keep the literals few (4 of a double, 3 of a float or an int32)."""
    out: list[Pattern] = []
    reach = _BINARY_REACH + coord.extra
    spans = [(coord.degrees - reach, coord.degrees + reach)] + [(v, v) for v in _coarse(coord.degrees)]
    for codec, (fmt, size, scale) in _BINARY.items():
        big = ">" + fmt[1:]
        for lo, hi in spans:
            if lo <= 0 <= hi:
                continue  # around zero the encodings of both signs interleave; two bytes would match anything
            ends = [int.from_bytes(_encode(big, scale, value), "big") for value in (lo, hi)]
            # the longest prefix that keeps the literals few; never under 3 bytes (2 match every 64 KiB)
            for keep in (4, 3) if size == 8 else (3,):
                shift = 8 * (size - keep)
                first, last = sorted(end >> shift for end in ends)
                if last - first < 16:
                    break
            if last - first >= 64:
                continue  # a float near zero: too fine for a few literals
            for top in range(first, last + 1):
                literal = top.to_bytes(keep, "big")
                expression = literal[::-1] if fmt[0] == "<" else literal
                out.append(Pattern(b"".join(b"\\x%02x" % byte for byte in expression), codec, keep))
    return out


def _encode(fmt: str, scale: int, value: float) -> bytes:
    if scale:
        return struct.pack(fmt, max(-(2**31), min(2**31 - 1, round(value * 10**scale))))
    return struct.pack(fmt, value)


def verify(
    coord: Coordinate, pattern: Pattern, buf: bytes | bytearray, hi: int, base: int
) -> CoordinateHit | None:
    """Reads the whole number around a candidate that ends at ``hi`` in ``buf`` (at stream offset
    ``base``) and judges it."""
    if pattern.codec in _BINARY:
        return _verify_binary(coord, pattern, buf, hi, base)
    if pattern.codec in ("dot", "comma"):
        separator = hi - pattern.span
        start = separator
        while start > 0 and buf[start - 1] in _DIGITS:
            start -= 1
        end = hi
        while end < len(buf) and buf[end] in _DIGITS:
            end += 1
        mark = buf[separator]
        if not 1 <= separator - start <= 3 or (
            start > 1 and buf[start - 1] == mark and buf[start - 2] in _DIGITS
        ):
            return None  # "1.59.91" is a version, "1,259,91" a thousands-grouped number
        whole, fraction = bytes(buf[start:separator]), bytes(buf[separator + 1 : end])
        value = float(whole + b"." + fraction)
        places = len(fraction.rstrip(b"0"))
    else:
        scale = int(pattern.codec[1:])
        start = hi
        while start > 0 and buf[start - 1] in _DIGITS:
            start -= 1
        if (hi < len(buf) and buf[hi] in _DIGITS) or (start > 0 and buf[start - 1] == 0x2E):
            return None  # more digits than the pattern has, or the fraction of a decimal
        digits = bytes(buf[start:hi])
        value = int(digits) / 10**scale
        places = scale - (len(digits) - len(digits.rstrip(b"0")))
        end = hi
    if start > 0 and buf[start - 1] == 0x2D:
        value = -value
        start -= 1
    if not coord.matches(value, places):
        return None
    before = bytes(buf[max(0, start - 24) : start])
    keyed = bool((_LAT_KEY if coord.axis == "lat" else _LON_KEY).search(before))
    return CoordinateHit(coord.axis, start + base, end + base, keyed)


def _verify_binary(
    coord: Coordinate, pattern: Pattern, buf: bytes | bytearray, hi: int, base: int
) -> CoordinateHit | None:
    fmt, size, scale = _BINARY[pattern.codec]
    start = hi - size if fmt[0] == "<" else hi - pattern.span
    if start < 0 or start + size > len(buf):
        return None
    (number,) = struct.unpack(fmt, bytes(buf[start : start + size]))
    value = number / 10**scale if scale else float(number)
    precision = 1e-9 if scale or size == 8 else 1e-5  # a float keeps ~7 significant digits
    near = abs(value - coord.degrees) <= _BINARY_REACH + coord.extra
    if not (near or any(abs(value - coarse) <= precision for coarse in _coarse(coord.degrees))):
        return None
    return CoordinateHit(coord.axis, start + base, start + size + base, False, binary=True)


def adjacent(first: CoordinateHit, second: CoordinateHit, buf: bytes | bytearray, base: int) -> bool:
    """Latitude and longitude of one location: close, and only punctuation or their names between
    (any bytes, between two binary values: a struct may hold an altitude between them)."""
    if first.axis == second.axis or second.start - first.end > PAIR_DISTANCE:
        return False
    if first.binary and second.binary:
        return True
    return bool(_BETWEEN.fullmatch(bytes(buf[first.end - base : second.start - base])))


def pair(
    coords: list[CoordinateHit], buf: bytes | bytearray = b"", base: int = 0
) -> list[tuple[str, int, int]]:
    """(form, start, end) of each location: latitude next to longitude (either order), or a coordinate
    under its own field name."""
    out: list[tuple[str, int, int]] = []
    used: set[int] = set()
    coords = sorted({(c.start, c.axis): c for c in coords}.values(), key=lambda c: c.start)
    for i, first in enumerate(coords):
        for j in range(i + 1, len(coords)):
            second = coords[j]
            if second.start - first.end > PAIR_DISTANCE:
                break
            if i not in used and j not in used and adjacent(first, second, buf, base):
                used |= {i, j}
                out.append(("lat-lon" if first.axis == "lat" else "lon-lat", first.start, second.end))
                break
    for i, coord in enumerate(coords):
        if i not in used and coord.keyed:
            out.append((f"{coord.axis}-field", coord.start, coord.end))
    return out
