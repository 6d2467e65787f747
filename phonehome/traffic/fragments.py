"""IP fragment reassembly, bounded in memory and in (capture) time.

Hostile captures can open thousands of datagrams that never complete, so
pending datagrams are capped in number and bytes and expire; what is given
up is counted, never fatal. Overlapping fragments keep the bytes that came
first in datagram order (what a reassembled datagram's first fragment said).
"""

from __future__ import annotations

from collections import Counter

from phonehome.traffic.ip import Fragment, IpPacket

MAX_DATAGRAM = 65535
"""No IPv4 datagram and no non-jumbo IPv6 datagram is larger."""


class _Pending:
    __slots__ = ("first_ts", "parts", "size", "stored", "total")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.parts: list[tuple[int, bytes]] = []
        self.total = -1
        self.stored = 0
        self.size = 0


class Reassembler:
    """Collects fragments by (source, destination, protocol, identification) until a datagram is whole."""

    def __init__(
        self,
        stats: Counter[str],
        *,
        max_datagrams: int = 1024,
        max_bytes: int = 16 << 20,
        timeout: float = 60.0,
    ) -> None:
        self._pending: dict[tuple[bytes, bytes, int, int], _Pending] = {}
        self._stats = stats
        self._bytes = 0
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.timeout = timeout

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frag: Fragment, ts: float) -> IpPacket | None:
        """Stores one fragment; returns the reassembled packet when this one completed it."""
        self._expire(ts)
        end = frag.offset + len(frag.data)
        if end > MAX_DATAGRAM:
            self._stats["ip-fragment-too-large"] += 1
            self._drop(frag.key)
            return None
        pending = self._pending.get(frag.key)
        if pending is None:
            while self._pending and (
                len(self._pending) >= self.max_datagrams or self._bytes + len(frag.data) > self.max_bytes
            ):
                self._stats["ip-fragment-evicted"] += 1
                self._drop(next(iter(self._pending)))
            pending = self._pending[frag.key] = _Pending(ts)
        if not frag.more:
            if pending.total not in (-1, end):
                self._stats["ip-fragment-inconsistent"] += 1
                self._drop(frag.key)
                return None
            pending.total = end
        pending.parts.append((frag.offset, frag.data))
        pending.stored += len(frag.data)
        self._bytes += len(frag.data)
        if pending.total < 0 or pending.stored < pending.total:
            return None
        whole = self._assemble(pending)
        if whole is None:
            return None
        self._drop(frag.key)
        # IPv6 fragment headers name the same next header in every fragment (RFC 8200 4.5).
        return frag.proto, frag.src, frag.dst, whole, 0, len(whole), 0

    def _assemble(self, pending: _Pending) -> bytes | None:
        parts = sorted(pending.parts, key=lambda p: p[0])
        out: list[bytes] = []
        have = 0
        overlap = False
        for offset, data in parts:
            if offset > have:
                return None  # a hole: wait for more fragments
            piece = data
            if offset < have:
                overlap = True
                piece = data[have - offset :]
            out.append(piece)
            have += len(piece)
        if have < pending.total:
            return None
        if overlap:
            self._stats["ip-fragment-overlap"] += 1
        return b"".join(out)[: pending.total]

    def _drop(self, key: tuple[bytes, bytes, int, int]) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._bytes -= pending.stored

    def _expire(self, now: float) -> None:
        while self._pending:
            key = next(iter(self._pending))
            if now - self._pending[key].first_ts <= self.timeout:
                return
            self._stats["ip-fragment-timeout"] += 1
            self._drop(key)

    def flush(self) -> None:
        """At capture end: what never completed is counted as lost."""
        if self._pending:
            self._stats["ip-fragment-incomplete"] += len(self._pending)
        self._pending.clear()
        self._bytes = 0
