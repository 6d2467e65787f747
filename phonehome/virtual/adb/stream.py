"""One ADB stream (an OPENed service) with adb's flow control, as asyncio reads and writes.

adb allows one WRTE in flight per direction until the peer's OKAY
(protocol.txt, "READY"). Writes are buffered and sent by one task per stream
as large WRTEs as the agreed payload size allows, so many small writes (sync
headers, shell lines) do not each cost a round trip. Incoming WRTEs are
acknowledged at once while the reader keeps up, and held back when it does
not, so a service that stops reading also stops the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable

from phonehome.virtual.adb.protocol import A_CLSE, A_OKAY, A_WRTE, Message

INCOMING_HIGH_WATER = 2 * 1024 * 1024
OUTGOING_HIGH_WATER = 2 * 1024 * 1024


class StreamClosed(ConnectionError):
    """The peer closed the stream (CLSE) or the transport went away."""


class AdbStream:
    """The device's end of one stream: ``local_id`` is ours, ``remote_id`` the host's."""

    def __init__(
        self,
        local_id: int,
        remote_id: int,
        send: Callable[[Message], None],
        max_payload: int,
        *,
        on_closed: Callable[[AdbStream], None] | None = None,
        name: str = "",
    ) -> None:
        self.local_id = local_id
        self.remote_id = remote_id
        self.name = name
        self._send = send
        self._max_payload = max_payload
        self._on_closed = on_closed
        self._in: deque[bytes] = deque()
        self._in_size = 0
        self._ack_pending = False
        self._in_event = asyncio.Event()
        self._eof = False
        self._out = bytearray()
        self._out_event = asyncio.Event()
        self._peer_ready = asyncio.Event()
        self._peer_ready.set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False
        self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name=f"adb-send-{name}")

    # -- called by the transport ------------------------------------------------------------
    def on_write(self, data: bytes) -> None:
        """A WRTE from the host: buffer it; acknowledge unless the reader is far behind."""
        if self._eof:
            return
        self._in.append(data)
        self._in_size += len(data)
        self._in_event.set()
        if self._in_size < INCOMING_HIGH_WATER:
            self._send(Message(A_OKAY, self.local_id, self.remote_id))
        else:
            self._ack_pending = True

    def on_ready(self) -> None:
        """The host's OKAY for our last WRTE."""
        self._peer_ready.set()
        self._drained.set()  # progress: wakes drain() and blocked writers, which re-check

    def on_close(self) -> None:
        """The host sent CLSE or the transport is gone: no more reads or writes."""
        self._eof = True
        self._in_event.set()
        self._finish()

    # -- used by services -------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def at_eof(self) -> bool:
        return self._eof and not self._in

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all buffered when -1); b"" once the host closed and all is read."""
        while not self._in:
            if self._eof:
                return b""
            self._in_event.clear()
            await self._in_event.wait()
        if n < 0:
            data = b"".join(self._in)
            self._in.clear()
        else:
            first = self._in.popleft()
            data, rest = first[:n], first[n:]
            if rest:
                self._in.appendleft(rest)
        self._in_size -= len(data)
        if self._ack_pending and self._in_size < INCOMING_HIGH_WATER and not self._closed:
            self._ack_pending = False
            self._send(Message(A_OKAY, self.local_id, self.remote_id))
        return data

    async def readexactly(self, n: int) -> bytes:
        parts: list[bytes] = []
        need = n
        while need:
            chunk = await self.read(need)
            if not chunk:
                raise asyncio.IncompleteReadError(b"".join(parts), n)
            parts.append(chunk)
            need -= len(chunk)
        return b"".join(parts)

    async def write(self, data: bytes) -> None:
        """Queues ``data``; waits while much is unsent (the host acknowledges slowly)."""
        if self._closed:
            raise StreamClosed(f"stream {self.name!r} is closed")
        if not data:
            return
        self._out += data
        self._drained.clear()
        self._out_event.set()
        while len(self._out) > OUTGOING_HIGH_WATER and not self._closed:
            await self._wait_progress()

    async def drain(self) -> None:
        """Waits until everything written has been sent and acknowledged."""
        while (self._out or not self._peer_ready.is_set()) and not self._closed:
            await self._wait_progress()

    async def close(self) -> None:
        """Sends what is buffered, then CLSE. Safe to call twice."""
        if self._closed:
            return
        with contextlib.suppress(StreamClosed):
            await self.drain()
        if not self._closed:
            self._send(Message(A_CLSE, self.local_id, self.remote_id))
        self._finish()

    def abort(self) -> None:
        """Closes without flushing (the transport is going away)."""
        if not self._closed:
            self._send(Message(A_CLSE, self.local_id, self.remote_id))
        self._finish()

    # -- internals --------------------------------------------------------------------------
    async def _wait_progress(self) -> None:
        self._drained.clear()
        await self._drained.wait()

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._eof = True
        self._in_event.set()
        self._out_event.set()
        self._peer_ready.set()
        self._drained.set()
        self._sender.cancel()
        if self._on_closed is not None:
            self._on_closed(self)

    async def _send_loop(self) -> None:
        while not self._closed:
            if not self._out:
                self._drained.set()
                self._out_event.clear()
                await self._out_event.wait()
                continue
            await self._peer_ready.wait()
            if self._closed:
                return
            chunk = bytes(self._out[: self._max_payload])
            del self._out[: len(chunk)]
            self._peer_ready.clear()
            self._send(Message(A_WRTE, self.local_id, self.remote_id, chunk))
            self._drained.set()  # wakes writers waiting for room; they re-check


async def bridge(stream: AdbStream, sock: socket.socket) -> None:
    """Copies between ``stream`` and a connected non-blocking socket until either side ends.

    Used to hand asyncio handlers a real socket (a socketpair end) for a stream,
    and to connect ``tcp:`` streams and reverse connections to TCP sockets.
    """
    loop = asyncio.get_running_loop()
    sock.setblocking(False)

    async def to_socket() -> None:
        while True:
            data = await stream.read()
            if not data:
                break
            await loop.sock_sendall(sock, data)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    async def from_socket() -> None:
        while True:
            data = await loop.sock_recv(sock, 256 * 1024)
            if not data:
                break
            await stream.write(data)

    up = asyncio.ensure_future(to_socket())
    down = asyncio.ensure_future(from_socket())
    try:
        # Either end finishing ends both: a CLSE from the host is a full close in adb, and a
        # socket that has nothing more to send has answered everything it was asked.
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        for task in (up, down):
            with contextlib.suppress(BaseException):
                await task
        sock.close()
        await stream.close()


async def pipe(stream: AdbStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies between ``stream`` and asyncio streams until either side ends (reverse connections)."""

    async def to_writer() -> None:
        while True:
            data = await stream.read()
            if not data:
                break
            writer.write(data)
            await writer.drain()

    async def from_reader() -> None:
        while True:
            data = await reader.read(256 * 1024)
            if not data:
                break
            await stream.write(data)

    tasks = {asyncio.ensure_future(to_writer()), asyncio.ensure_future(from_reader())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        writer.close()
        await stream.close()
