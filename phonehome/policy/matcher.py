"""Finds an identity's forms in bytes: Hyperscan databases compiled once per identity.

Block mode scans decoded buffers; stream mode scans each flow direction as it
arrives, so a value split across TCP segments is found without keeping the
stream. Hyperscan reports candidates; :func:`_verify` applies what a literal
cannot say (digit boundaries, the sign and precision of a coordinate) on a
small window of bytes kept around each candidate.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass, field

import hyperscan

from phonehome.cache import cached
from phonehome.policy import coordinates
from phonehome.policy.coordinates import PAIR_DISTANCE, CoordinateHit
from phonehome.policy.forms import Expansion, Form

WINDOW = 96
"""Bytes kept on each side of a candidate: enough to read a coordinate's digits and a field name."""
HEAD = 256
"""Longest literal given to Hyperscan (its limit is ~4000 bytes per expression): a longer form (a 1 MiB
serial, its hex and base64) is found by its first HEAD bytes, and the rest is compared on the candidate."""
_KEEP = 4096


@dataclass(slots=True)
class Hit:
    """A verified occurrence of a form in a buffer or stream."""

    identifier: str
    form: str
    start: int
    end: int
    """Offsets in the scanned buffer (block) or in the direction's byte stream (stream)."""


@dataclass(slots=True)
class _Candidate:
    pattern: int
    start: int
    end: int


_DIGITS = frozenset(b"0123456789")
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BOUNDARY = {"digit": _DIGITS, "alnum": _ALNUM, "hex": _HEX}


def _literal(pattern: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in pattern)


class Matcher:
    """Compiled once per identity; scanning is thread-compatible only per stream (one scratch each)."""

    def __init__(self, expansion: Expansion) -> None:
        self.forms: list[Form] = list(expansion.forms)
        self.coordinates = list(expansion.coordinates)
        expressions: list[bytes] = []
        flags: list[int] = []
        # Hyperscan id -> form index, or (coordinate index, its pattern)
        self._targets: list[int | tuple[int, coordinates.Pattern]] = []
        for index, form in enumerate(self.forms):
            expressions.append(form.pattern if form.regex else _literal(form.pattern[:HEAD]))
            flags.append(hyperscan.HS_FLAG_CASELESS if form.caseless else 0)
            self._targets.append(index)
        for index, coord in enumerate(self.coordinates):
            for pattern in coordinates.patterns(coord):
                expressions.append(pattern.expression)
                flags.append(0)
                self._targets.append((index, pattern))
        self.pattern_count = len(expressions)
        self._block: hyperscan.Database | None = None
        self._stream: hyperscan.Database | None = None
        if expressions:
            self._block = _database(hyperscan.HS_MODE_BLOCK, expressions, flags)
            self._stream = _database(hyperscan.HS_MODE_STREAM, expressions, flags)
        self._lengths = [min(len(f.pattern), HEAD) if not f.regex else 16 for f in self.forms]

    def scan(self, data: bytes) -> list[Hit]:
        """Verified hits in one buffer (block mode)."""
        if self._block is None or not data:
            return []
        found: list[_Candidate] = []

        def on_match(pattern: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            found.append(self._candidate(pattern, end))

        self._block.scan(data, match_event_handler=on_match)
        hits, coords = [], []
        for cand in found:
            checked = self._verify(cand, data, 0, closed=True)
            if isinstance(checked, Hit):
                hits.append(checked)
            elif isinstance(checked, CoordinateHit):
                coords.append(checked)
        return hits + _pair(coords, data, 0)

    def stream(self) -> StreamScanner:
        """A scanner for one direction of one flow."""
        return StreamScanner(self)

    def _candidate(self, pattern: int, end: int) -> _Candidate:
        """A Hyperscan match as a candidate spanning the whole form (a long form's head matched)."""
        index = self._targets[pattern]
        if not isinstance(index, int):
            return _Candidate(pattern, end, end)
        start = end - self._lengths[index]
        form = self.forms[index]
        return _Candidate(pattern, start, start + len(form.pattern) if not form.regex else end)

    def _verify(
        self, cand: _Candidate, buf: bytes | bytearray, base: int, closed: bool
    ) -> Hit | CoordinateHit | None:
        """Checks a candidate on ``buf`` (which starts at stream offset ``base``)."""
        target = self._targets[cand.pattern]
        lo, hi = cand.start - base, cand.end - base
        if isinstance(target, int):
            form = self.forms[target]
            if not form.regex and len(form.pattern) > HEAD:
                found = bytes(buf[lo:hi])
                if (found.lower() if form.caseless else found) != (
                    form.pattern.lower() if form.caseless else form.pattern
                ):
                    return None
            banned = _BOUNDARY.get(form.boundary)
            if banned is not None:
                if lo > 0 and buf[lo - 1] in banned:
                    return None
                if hi < len(buf) and buf[hi] in banned:
                    return None
            return Hit(form.identifier, form.name, cand.start, cand.end)
        index, pattern = target
        return coordinates.verify(self.coordinates[index], pattern, buf, hi, base)


def _pair(coords: list[CoordinateHit], buf: bytes | bytearray = b"", base: int = 0) -> list[Hit]:
    return [Hit("location", form, start, end) for form, start, end in coordinates.pair(coords, buf, base)]


@dataclass(slots=True)
class StreamScanner:
    """One direction of one flow: feed bytes in order; hits come back once they can be verified."""

    matcher: Matcher
    _tail: bytearray = field(default_factory=bytearray)
    _base: int = 0
    """Stream offset of ``_tail[0]``."""
    _pending: list[_Candidate] = field(default_factory=list)
    _coords: list[CoordinateHit] = field(default_factory=list)
    _stream: hyperscan.Stream | None = None
    _stream_origin: int = 0
    """Stream offset at which the Hyperscan stream was opened (Hyperscan counts from there)."""
    _closed: bool = False

    def feed(self, data: bytes, offset: int | None = None) -> list[Hit]:
        """Scans the next bytes; ``offset`` (the stream offset of data[0]) resets the stream after a gap."""
        if self.matcher._stream is None or self._closed:
            return []
        end = self._base + len(self._tail)
        out: list[Hit] = []
        if offset is not None and offset != end:
            out += self._flush()  # bytes were lost: a value cannot span the gap
            self._reset(offset)
        if self._stream is None:
            # python-hyperscan keeps the handler given here without a reference of its own (a bound
            # method would be freed under it: segfault), so pass a module-level no-op and hand the
            # real handler to each scan call, whose arguments live for the call.
            self._stream = self.matcher._stream.stream(match_event_handler=_ignore)
            self._stream.__enter__()
        self._tail += data
        self._stream.scan(data, match_event_handler=self._on_match)
        out += self._settle(closed=False)
        if len(self._tail) > _KEEP:
            keep_from = len(self._tail) - _KEEP // 2
            if self._pending:
                keep_from = min(keep_from, min(p.start for p in self._pending) - self._base - WINDOW)
            keep_from = max(keep_from, 0)
            del self._tail[:keep_from]
            self._base += keep_from
        return out

    def close(self) -> list[Hit]:
        """The direction ended: verify what waits for more bytes, release the Hyperscan stream."""
        if self._closed:
            return []
        out = self._flush()
        self._closed = True
        return out

    def _on_match(self, pattern: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
        # Hyperscan counts from the stream's open, which we reset after each gap.
        absolute = self._stream_origin + end
        self._pending.append(self.matcher._candidate(pattern, absolute))

    def _reset(self, offset: int) -> None:
        if self._stream is not None:
            self._stream.close(match_event_handler=self._on_match)
            self._stream = None
        self._tail = bytearray()
        self._base = offset
        self._stream_origin = offset
        self._coords = []

    def _flush(self) -> list[Hit]:
        if self._stream is not None:
            self._stream.close(match_event_handler=self._on_match)
            self._stream = None
        out = self._settle(closed=True)
        out += _pair([c for c in self._coords if c.keyed], self._tail, self._base)
        self._coords = []
        return out

    def _settle(self, closed: bool) -> list[Hit]:
        """Verifies candidates that have WINDOW bytes after them (or all, at the stream's end)."""
        out: list[Hit] = []
        end = self._base + len(self._tail)
        waiting = []
        for cand in self._pending:
            if not closed and cand.end + WINDOW > end:
                waiting.append(cand)
                continue
            cand.start = max(
                cand.start, self._base
            )  # its head was dropped; cannot happen for patterns < _KEEP / 2
            checked = self.matcher._verify(cand, self._tail, self._base, closed)
            if isinstance(checked, Hit):
                out.append(checked)
            elif isinstance(checked, CoordinateHit):
                out += self._pair_coordinate(checked)
        self._pending = waiting
        return out

    def _pair_coordinate(self, coord: CoordinateHit) -> list[Hit]:
        near = [c for c in self._coords if coord.start - c.end <= PAIR_DISTANCE]
        # A keyed coordinate whose partner never came within reach still counts on its own.
        out = _pair([c for c in self._coords if c not in near and c.keyed], self._tail, self._base)
        self._coords = near
        if any(c.start == coord.start and c.axis == coord.axis for c in self._coords):
            return out
        for other in self._coords:
            lo, hi = sorted((other, coord), key=lambda c: c.start)
            if coordinates.adjacent(lo, hi, self._tail, self._base):
                self._coords.remove(other)
                first, second = sorted((other, coord), key=lambda c: c.start)
                name = "lat-lon" if first.axis == "lat" else "lon-lat"
                return [*out, Hit("location", name, first.start, second.end)]
        self._coords.append(coord)
        return out


def _ignore(_pattern: int, _start: int, _end: int, _flags: int, _ctx: object) -> None:
    return None


def _database(mode: int, expressions: list[bytes], flags: list[int]) -> hyperscan.Database:
    """The compiled database, from the cache when the same patterns were compiled before (every process of
    a batch compiles the same identity's forms): a serialized database loads in a fraction of a compile."""
    key = repr((mode, expressions, flags, _hyperscan_version())).encode()

    def compile_it() -> bytes:
        db = hyperscan.Database(mode=mode)
        ids = list(range(len(expressions)))
        db.compile(expressions=expressions, ids=ids, elements=len(ids), flags=flags)
        return bytes(hyperscan.dumpb(db))

    serialized = cached("hyperscan", key, compile_it)
    try:
        db = hyperscan.loadb(serialized, mode)
    except hyperscan.error:  # built for another CPU or library: compile here
        db = hyperscan.loadb(compile_it(), mode)
    db.scratch = hyperscan.Scratch(db)  # a loaded database has none (compile makes one)
    return db


@functools.cache
def _hyperscan_version() -> str:
    return importlib.metadata.version("hyperscan")  # reads the installed metadata: once per process
