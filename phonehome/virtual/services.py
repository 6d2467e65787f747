"""Device-local TCP services: what listens on the handset's 127.0.0.1.

A registry ``port -> async handler(reader, writer)``. ``tcp:PORT`` streams
(``adb forward``, uiautomator2's requests) reach a registered handler; when
none is registered and the handset has a network namespace, they go to
127.0.0.1:PORT inside it; otherwise they are refused, as a phone refuses a
port nothing listens on. Handlers are plain asyncio code: each connection is
a socketpair whose other end is copied to and from the ADB stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable

from phonehome.virtual.adb.stream import AdbStream, bridge
from phonehome.virtual.net.procnet import new_socket

log = logging.getLogger(__name__)

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NETNS_DIR = "/run/netns"


class LocalServices:
    """The handset's listening ports, and connections to them from ADB or from device code."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._lock = threading.Lock()
        self._handlers: dict[int, tuple[TcpHandler, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, port: int, handler: TcpHandler, owner: str = "") -> None:
        """Starts listening on ``port``; OSError(EADDRINUSE) when something already does."""
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range")
        with self._lock:
            if port in self._handlers:
                raise OSError(
                    errno.EADDRINUSE, f"port {port} is already in use by {self._handlers[port][1]!r}"
                )
            self._handlers[port] = (handler, owner)

    def unregister(self, port: int, handler: TcpHandler | None = None) -> None:
        with self._lock:
            current = self._handlers.get(port)
            if current is not None and (handler is None or current[0] is handler):
                del self._handlers[port]

    def owner(self, port: int) -> str | None:
        with self._lock:
            entry = self._handlers.get(port)
            return entry[1] if entry else None

    def ports(self) -> dict[int, str]:
        with self._lock:
            return {port: owner for port, (_, owner) in self._handlers.items()}

    def clear(self) -> None:
        """Everything stops listening (a reboot); open connections are cancelled."""
        with self._lock:
            self._handlers.clear()
        for task in list(self._tasks):
            task.cancel()

    def handler(self, port: int) -> TcpHandler | None:
        with self._lock:
            entry = self._handlers.get(port)
            return entry[0] if entry else None

    # -- connecting -------------------------------------------------------------------------
    async def accept(self, port: int) -> Callable[[AdbStream], Awaitable[None]] | None:
        """How to serve a ``tcp:PORT`` stream, or None to refuse it (decided before adbd's OKAY)."""
        handler = self.handler(port)
        if handler is not None:

            async def serve(stream: AdbStream) -> None:
                ours, theirs = socket.socketpair()
                self._start_handler(handler, theirs)
                await bridge(stream, ours)

            return serve
        if self.netns is None:
            return None
        try:
            sock = await self.connect_namespace(port)
        except (TimeoutError, OSError):
            return None

        async def relay(stream: AdbStream) -> None:
            await bridge(stream, sock)

        return relay

    async def open_connection(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ``127.0.0.1:PORT`` on the handset, from code running "on" the handset."""
        handler = self.handler(port)
        if handler is not None:
            ours, theirs = socket.socketpair()
            self._start_handler(handler, theirs)
            return await asyncio.open_connection(sock=ours)
        sock = await self.connect_namespace(port)
        return await asyncio.open_connection(sock=sock)

    def _start_handler(self, handler: TcpHandler, sock: socket.socket) -> None:
        async def run() -> None:
            reader, writer = await asyncio.open_connection(sock=sock)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("device-local service handler failed")
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connect_namespace(self, port: int) -> socket.socket:
        """A TCP socket to 127.0.0.1:PORT inside the handset's namespace; refused when there is none."""
        if self.netns is None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"nothing listens on port {port}")
        sock = socket_in_namespace(self.netns)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 5.0)
        except BaseException:
            sock.close()
            raise
        return sock


_netns_lock = threading.Lock()


def socket_in_namespace(
    netns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, proto: int = 0
) -> socket.socket:
    """A socket created inside network namespace ``netns`` (it stays there whatever thread uses it).

    setns(2) switches only the calling thread; the switch is undone before
    returning. The namespace must exist: a missing one is an error, never created.
    """
    from pyroute2 import netns as pr_netns  # noqa: PLC0415  (only handsets with a namespace need it)

    path = os.path.join(NETNS_DIR, netns)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise ConnectionRefusedError(
            errno.ECONNREFUSED, f"network namespace {netns!r} does not exist ({path})"
        ) from exc
    try:
        with _netns_lock:
            pr_netns.pushns(fd)
            try:
                return new_socket(family, kind, proto)  # the acting app's, in /proc/net
            finally:
                pr_netns.popns()
    finally:
        os.close(fd)
