"""IP fragment reassembly, bounded in memory and in (capture) time.

Hostile captures can open thousands of datagrams that never complete, so
pending datagrams are capped in number and bytes and expire; what is given
up is counted, never fatal, and its bytes still reach a flow (``on_lost``):
a sender can put data in fragments that never complete. Overlapping
fragments keep the bytes that came first in datagram order (what a
reassembled datagram's first fragment said).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from phonehome.traffic.ip import Fragment, IpPacket

MAX_DATAGRAM: Final = 65535
"""No IPv4 datagram and no non-jumbo IPv6 datagram is larger."""

Lost = Callable[[int, bytes, bytes, bytes, int, int], None]
"""Receives (protocol, source, destination, the fragments' bytes in offset order, fragments, first frame)
of a datagram given up on (expired, evicted, inconsistent, or incomplete at the capture's end)."""


class _Pending:
    __slots__ = ("first_frame", "first_ts", "parts", "proto", "size", "stored", "total")

    def __init__(self, ts: float, frame: int, proto: int) -> None:
        self.first_ts = ts
        self.first_frame = frame
        self.proto = proto
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
        on_lost: Lost | None = None,
    ) -> None:
        self._pending: dict[tuple[bytes, bytes, int, int], _Pending] = {}
        self.on_lost = on_lost
        self.incomplete = 0
        """Datagrams still incomplete at the capture's end."""
        self._stats = stats
        self._bytes = 0
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.timeout = timeout

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frag: Fragment, ts: float, frame: int = 0) -> IpPacket | None:
        """Stores one fragment; returns the reassembled packet when this one completed it."""
        self._expire(ts)
        end = frag.offset + len(frag.data)
        if end > MAX_DATAGRAM:
            self._stats["ip-fragment-too-large"] += 1
            self._give_up(frag.key)
            if self.on_lost is not None and frag.data:
                self.on_lost(frag.proto, frag.src, frag.dst, frag.data, 1, frame)
            return None
        pending = self._pending.get(frag.key)
        if pending is None:
            while self._pending and (
                len(self._pending) >= self.max_datagrams or self._bytes + len(frag.data) > self.max_bytes
            ):
                self._stats["ip-fragment-evicted"] += 1
                self._give_up(next(iter(self._pending)))
            pending = self._pending[frag.key] = _Pending(ts, frame, frag.proto)
        if not frag.more:
            if pending.total not in (-1, end):
                self._stats["ip-fragment-inconsistent"] += 1
                pending.parts.append((frag.offset, frag.data))
                self._give_up(frag.key)
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

    def _give_up(self, key: tuple[bytes, bytes, int, int]) -> None:
        """Forgets a datagram that will not complete; its fragments' bytes go to ``on_lost``."""
        pending = self._pending.get(key)
        self._drop(key)
        if pending is None or self.on_lost is None or not pending.parts:
            return
        out = bytearray()
        have = 0
        for offset, data in sorted(pending.parts, key=lambda p: p[0]):
            if offset + len(data) > have:
                out += data[max(0, have - offset) :]
                have = offset + len(data)
        src, dst = key[0], key[1]
        self.on_lost(pending.proto, src, dst, bytes(out), len(pending.parts), pending.first_frame)

    def _expire(self, now: float) -> None:
        while self._pending:
            key = next(iter(self._pending))
            if now - self._pending[key].first_ts <= self.timeout:
                return
            self._stats["ip-fragment-timeout"] += 1
            self._give_up(key)

    def flush(self) -> None:
        """At capture end: what never completed is counted, and its bytes given to ``on_lost``."""
        if self._pending:
            self._stats["ip-fragment-incomplete"] += len(self._pending)
            self.incomplete += len(self._pending)
        for key in list(self._pending):
            self._give_up(key)
        self._bytes = 0
