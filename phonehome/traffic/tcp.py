"""TCP stream reassembly for one direction: in order, once, with the gaps said out loud.

Segments arrive retransmitted, out of order, overlapping or not at all;
what leaves is each byte once, in stream order, with its offset from the
stream's start (a jump in offsets is a gap: bytes lost before capture).
Out-of-order data waits in a bounded heap; when the bound is hit, the
stream skips ahead and records the gap rather than grow. Overlaps keep the
bytes delivered (or queued) first. Sequence numbers wrap (RFC 9293 3.4);
offsets do not, so streams over 4 GB count correctly. No checksums are
checked: veth captures carry offloaded ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

MASK = 0xFFFFFFFF
HALF = 0x80000000
MAX_JUMP = 1 << 30
"""A segment further ahead than this (the largest scaled window, RFC 7323) is not of this stream."""
MAX_PENDING = 1 << 20
"""Out-of-order bytes kept per direction before the stream gives up waiting for a hole."""

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

Deliver = Callable[[int, bytes, int], None]
"""Receives (offset in the stream, bytes, frame number) in stream order."""


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
        "pending",
        "pending_bytes",
    )

    def __init__(
        self, base: int, deliver: Deliver | None, max_pending: int = MAX_PENDING, budget: Budget | None = None
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

    def add(self, seq: int, data: bytes, frame: int, cut: int = 0) -> None:
        """One segment's payload; ``cut`` more bytes followed it on the wire but not in the capture."""
        n = len(data)
        if self.deliver is None:
            jump = ((seq + n + cut - self.base - self.high + HALF) & MASK) - HALF
            if 0 < jump <= MAX_JUMP:
                self.high += jump
            return
        delta = ((seq - self.base - self.next + HALF) & MASK) - HALF
        if delta > MAX_JUMP:
            return
        end = self.next + delta + n + cut
        self.high = max(self.high, end)
        if delta == 0 and not self.pending:
            if n:
                self.next += n
                self.deliver(self.next - n, data, frame)
            if cut:
                self.gaps += cut
                self.next += cut
            return
        if delta < 0:
            if delta + n <= 0:
                return  # wholly a retransmission
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
            if skip >= len(data):
                continue
            if skip:
                data = data[skip:]
            self.next += len(data)
            self.deliver(self.next - len(data), data, frame)
        if self.deliver is None:
            self._clear()

    def _clear(self) -> None:
        self.pending.clear()
        self.budget.used -= self.pending_bytes
        self.pending_bytes = 0

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
