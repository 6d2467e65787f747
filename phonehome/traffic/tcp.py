"""TCP stream reassembly for one direction: in order, once, with the gaps said out loud.

Segments arrive retransmitted, out of order, overlapping or not at all;
what leaves is each byte once, in stream order, with its offset from the
stream's start (a jump in offsets is a gap: bytes lost before capture).
Out-of-order data waits in a bounded heap; when the bound is hit, the
stream skips ahead and records the gap rather than grow. Overlaps keep the
bytes delivered (or queued) first; with ``on_overlap`` set, the other
version of overlapped bytes is handed to it when it differs (compared with
a bounded window of recently delivered bytes), and so is every byte that
could not be delivered in order (behind the window, in a skipped hole, far
outside the sequence space): a receiver may have kept bytes a capture
reader would drop, so nothing a sender put on the wire goes unseen. Sequence numbers wrap (RFC 9293 3.4);
offsets do not, so streams over 4 GB count correctly. No checksums are
checked: veth captures carry offloaded ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Final

MASK: Final = 0xFFFFFFFF
HALF: Final = 0x80000000
MAX_JUMP: Final = 1 << 30
"""A segment further ahead than this (the largest scaled window, RFC 7323) is not of this stream."""
MAX_PENDING: Final = 1 << 20
"""Out-of-order bytes kept per direction before the stream gives up waiting for a hole."""

FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10

WINDOW: Final = 256 << 10
"""Recently delivered bytes kept per direction to compare overlapping retransmissions with."""
WINDOW_BUDGET: Final = 64 << 20
"""Recently delivered bytes kept across all streams at once (a stream over it forgets its window)."""

Deliver = Callable[[int, bytes, int], None]
"""Receives (offset in the stream, bytes, frame number) in stream order."""
Overlap = Callable[[int, bytes, int], None]
"""Receives (offset, bytes, frame) of bytes that were not delivered: see ``TcpStream.overlap_kind``."""

DIFFERENT, UNCOMPARED, OUT_OF_WINDOW = "different", "uncompared", "out-of-window"


class Budget:
    """An allowance of bytes shared by all streams of an analysis (out-of-order data held at once)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class TcpStream:
    """One direction of a TCP connection.

    ``base`` is the sequence number of the stream's first byte (the SYN's
    plus one, or the first seen when the capture began mid-connection).
    With ``deliver`` set, payload is reassembled and handed to it; with
    ``deliver`` None (counting only), just the extent of the stream is kept.
    """

    __slots__ = (
        "base",
        "budget",
        "deliver",
        "gaps",
        "high",
        "max_pending",
        "next",
        "on_overlap",
        "overlap_kind",
        "pending",
        "pending_bytes",
        "recent",
        "recent_budget",
        "recent_start",
        "stray",
    )

    def __init__(
        self,
        base: int,
        deliver: Deliver | None,
        max_pending: int = MAX_PENDING,
        budget: Budget | None = None,
        on_overlap: Overlap | None = None,
    ) -> None:
        self.base = base & MASK
        self.deliver = deliver
        self.next = 0
        """Offset of the next byte to deliver."""
        self.high = 0
        """Offset just past the furthest byte seen: the stream's length, retransmissions counted once."""
        self.gaps = 0
        """Bytes skipped over because they were never captured."""
        self.pending: list[tuple[int, int, bytes]] = []
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.budget = budget if budget is not None else Budget(max_pending)
        """Shared with the analysis' other streams: out-of-order bytes held by all of them at once."""
        self.on_overlap = on_overlap
        """Called with bytes that were not delivered: the other version of overlapped bytes
        (when it differs), or bytes that could not be compared or placed."""
        self.overlap_kind = DIFFERENT
        """Why the latest ``on_overlap`` call came: ``different`` (compared: the bytes differ),
        ``uncompared`` (behind the window or in a skipped hole), ``out-of-window`` (sequence
        numbers far outside the stream)."""
        self.recent = bytearray()
        """The last delivered bytes (up to WINDOW), kept while ``on_overlap`` is set."""
        self.recent_start = 0
        self.recent_budget: Budget | None = None
        """Shared with the analysis' other streams; None: this stream's own WINDOW_BUDGET."""
        self.stray = 0
        """Segments whose sequence numbers were too far outside the stream to place."""

    def add(self, seq: int, data: bytes, frame: int, cut: int = 0) -> None:
        """One segment's payload; ``cut`` more bytes followed it on the wire but not in the capture."""
        n = len(data)
        if self.deliver is None:
            jump = ((seq + n + cut - self.base - self.high + HALF) & MASK) - HALF
            if 0 < jump <= MAX_JUMP:
                self.high += jump
            return
        delta = ((seq - self.base - self.next + HALF) & MASK) - HALF
        if delta > MAX_JUMP or delta < -MAX_JUMP:
            self.stray += 1
            if self.on_overlap is not None and n:
                self.overlap_kind = OUT_OF_WINDOW
                self.on_overlap(self.next + delta, data, frame)
            return
        end = self.next + delta + n + cut
        self.high = max(self.high, end)
        if delta == 0 and not self.pending:
            if n:
                self.next += n
                if self.on_overlap is not None:
                    self._remember(self.next - n, data)
                self.deliver(self.next - n, data, frame)
            if cut:
                self.gaps += cut
                self.next += cut
            return
        if delta < 0:
            if delta + n <= 0:
                if self.on_overlap is not None and n:
                    self._overlap(self.next + delta, data, frame)
                return  # wholly a retransmission
            if self.on_overlap is not None:
                self._overlap(self.next + delta, data[:-delta], frame)
            data = data[-delta:]
            delta = 0
        if data:
            heapq.heappush(self.pending, (self.next + delta, frame, data))
            self.pending_bytes += len(data)
            self.budget.used += len(data)
        if cut and delta + len(data) >= 0:
            # Bytes the snap length cut are lost for good: queue them as an empty marker past the data.
            heapq.heappush(self.pending, (self.next + delta + len(data) + cut, frame, b""))
        self._drain()
        budget = self.budget
        while (self.pending_bytes > self.max_pending or budget.used > budget.limit) and self.pending:
            self._skip()

    def _drain(self) -> None:
        pending = self.pending
        while pending and self.deliver is not None:
            offset, frame, data = pending[0]
            if offset > self.next:
                if data:
                    return
                # A snap-length marker: everything before it that is missing is gone.
                heapq.heappop(pending)
                self.gaps += offset - self.next
                self.next = offset
                continue
            heapq.heappop(pending)
            self.pending_bytes -= len(data)
            self.budget.used -= len(data)
            skip = self.next - offset
            if skip and self.on_overlap is not None:
                self._overlap(offset, data[:skip], frame)
            if skip >= len(data):
                continue
            if skip:
                data = data[skip:]
            self.next += len(data)
            if self.on_overlap is not None:
                self._remember(self.next - len(data), data)
            self.deliver(self.next - len(data), data, frame)
        if self.deliver is None:
            self._clear()

    def _clear(self) -> None:
        self.pending.clear()
        self.budget.used -= self.pending_bytes
        self.pending_bytes = 0
        self._forget()

    def _window_budget(self) -> Budget:
        if self.recent_budget is None:
            self.recent_budget = Budget(WINDOW_BUDGET)
        return self.recent_budget

    def _forget(self) -> None:
        if self.recent:
            self._window_budget().used -= len(self.recent)
            self.recent.clear()

    def _remember(self, offset: int, data: bytes) -> None:
        """Keeps delivered bytes in the window; a gap before them restarts it."""
        recent = self.recent
        if offset != self.recent_start + len(recent):
            self._forget()
            self.recent_start = offset
        budget = self._window_budget()
        recent += data
        budget.used += len(data)
        if len(recent) > WINDOW + (WINDOW >> 2):
            drop = len(recent) - WINDOW
            del recent[:drop]
            self.recent_start += drop
            budget.used -= drop
        if budget.used > budget.limit:
            self._forget()
            self.recent_start = offset + len(data)

    def _overlap(self, offset: int, data: bytes, frame: int) -> None:
        """Bytes at offsets already delivered: reported when they differ or cannot be compared."""
        assert self.on_overlap is not None
        start = self.recent_start
        if start <= offset and offset + len(data) <= start + len(self.recent):
            if self.recent[offset - start : offset - start + len(data)] == data:
                return
            self.overlap_kind = DIFFERENT
        else:
            self.overlap_kind = UNCOMPARED
        self.on_overlap(offset, data, frame)

    def _skip(self) -> None:
        """Gives up on the hole before the earliest queued byte."""
        offset = self.pending[0][0]
        if offset > self.next:
            self.gaps += offset - self.next
            self.next = offset
        self._drain()

    def flush(self) -> None:
        """At the stream's end: delivers what is queued, past any holes (counted as gaps)."""
        while self.pending and self.deliver is not None:
            self._skip()
        self._clear()

    def stop(self) -> None:
        """Counting only from now on: payload is no longer needed."""
        self.deliver = None
        self._clear()
