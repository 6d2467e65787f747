"""A message reassembled up to a limit and then handed out in overlapping pieces, so nothing escapes.

WebSocket messages and HTTP/2 bodies can be far longer than what a flow
record keeps. Past the limit, a spool hands the bytes on in pieces that
overlap by ``OVERLAP`` bytes, so that an identifier cut by a piece boundary
is still whole in one of them, while memory stays bounded by the limit.
"""

from __future__ import annotations

OVERLAP = 256
"""Bytes each piece repeats from the end of the previous one (longer than any identifier's encoding)."""


class Spool:
    """Bytes of one message; ``add`` returns the pieces that filled, ``finish`` the rest."""

    __slots__ = ("_buf", "handed", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 2 * OVERLAP)
        self._buf = bytearray()
        self.total = 0
        """Bytes added so far."""
        self.handed = 0
        """Pieces handed out before ``finish``."""

    def add(self, data: bytes) -> list[bytes]:
        self.total += len(data)
        self._buf += data
        pieces = []
        while len(self._buf) >= self.limit:
            pieces.append(bytes(self._buf[: self.limit]))
            del self._buf[: self.limit - OVERLAP]
        self.handed += len(pieces)
        return pieces

    def finish(self) -> bytes:
        """What is left (after handed pieces: their overlap plus the tail); the spool is then empty."""
        rest = bytes(self._buf)
        self._buf = bytearray()
        return b"" if self.handed and len(rest) <= OVERLAP else rest
