"""The device side of one ADB transport connection (what ``adb connect HOST:PORT`` talks to).

Handshake (CNXN, optionally AUTH), then streams: the host OPENs a service by
name, the device answers OKAY and runs it, or CLSE to refuse; the device may
also OPEN streams towards the host (``adb reverse``). Which services exist is
the `ServiceResolver`'s business (the handset), so this module knows only the
transport (AOSP adb/protocol.txt, adb.cpp handle_packet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from phonehome.virtual.adb.auth import AuthPolicy
from phonehome.virtual.adb.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_VERSION_SKIP_CHECKSUM,
    A_WRTE,
    AUTH_RSAPUBLICKEY,
    AUTH_SIGNATURE,
    AUTH_TOKEN,
    MAX_PAYLOAD,
    MAX_PAYLOAD_V1,
    TOKEN_SIZE,
    Message,
    MessageReader,
    ProtocolError,
    encode,
    parse_banner,
)
from phonehome.virtual.adb.stream import AdbStream

log = logging.getLogger(__name__)

ServiceHandler = Callable[[AdbStream], Awaitable[None]]
HANDSHAKE_TIMEOUT_S = 30.0


class ServiceResolver(Protocol):
    """What the transport needs from the device: its banner and its services."""

    def banner(self) -> str:
        """``device::ro.product.name=..;ro.product.model=..;ro.product.device=..;features=..``"""
        ...

    async def resolve(self, service: str, connection: AdbConnection) -> ServiceHandler | None:
        """The handler for an OPENed service name, or None to refuse it (CLSE)."""
        ...


@dataclass
class _Outgoing:
    """A stream the device OPENed towards the host, waiting for the host's OKAY or CLSE."""

    future: asyncio.Future[int]
    name: str


@dataclass
class HostInfo:
    """What the host said in its CNXN."""

    version: int = 0
    max_payload: int = MAX_PAYLOAD_V1
    banner: str = ""
    features: frozenset[str] = field(default_factory=frozenset)


class AdbConnection:
    """One TCP connection from an adb server to the device."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        resolver: ServiceResolver,
        auth: AuthPolicy | None = None,
        name: str = "",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._resolver = resolver
        self._auth = auth
        self.name = name
        self.host = HostInfo()
        self.online = False
        self._streams: dict[int, AdbStream] = {}
        self._pending: dict[int, _Outgoing] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._service_tasks: dict[int, asyncio.Task[None]] = {}
        self._next_id = 1
        self._token = b""
        self._closing = False
        self._on_close: list[Callable[[AdbConnection], None]] = []

    # -- public ------------------------------------------------------------------------------
    def add_close_callback(self, callback: Callable[[AdbConnection], None]) -> None:
        """Called once when the transport goes away (reverse forwards die with it, as in adbd)."""
        self._on_close.append(callback)

    async def open_to_host(self, service: str, timeout: float = 10.0) -> AdbStream:
        """Device-initiated OPEN (``adb reverse``); raises ConnectionRefusedError on CLSE."""
        if not self.online or self._closing:
            raise ConnectionRefusedError(f"transport {self.name} is not online")
        local_id = self._allocate_id()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[local_id] = _Outgoing(future, service)
        self._send(Message(A_OPEN, local_id, 0, service.encode() + b"\0"))
        try:
            remote_id = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(local_id, None)
        return self._make_stream(local_id, remote_id, service)

    async def serve(self) -> None:
        """Runs the connection until the host or the device closes it."""
        parser = MessageReader(MAX_PAYLOAD)
        try:
            while not self._closing:
                # A peer that never says CNXN is not an adb host; do not hold its socket forever.
                timeout = None if self.host.version else HANDSHAKE_TIMEOUT_S
                data = await asyncio.wait_for(self._reader.read(256 * 1024), timeout)
                if not data:
                    break
                for msg in parser.feed(data):
                    await self._handle(msg)
        except ProtocolError as exc:
            log.warning("adbd %s: dropping connection: %s", self.name, exc)
        except TimeoutError:
            log.warning("adbd %s: no CNXN within %.0f s; dropping connection", self.name, HANDSHAKE_TIMEOUT_S)
        except (ConnectionError, OSError):
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        """Ends every stream and the TCP connection (a reboot or a stop does this)."""
        if self._closing:
            return
        self._closing = True
        self.online = False
        for stream in list(self._streams.values()):
            stream.on_close()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionRefusedError("transport closed"))
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        for callback in self._on_close:
            callback(self)

    # -- handshake -------------------------------------------------------------------------
    async def _handle(self, msg: Message) -> None:
        if msg.command == A_CNXN:
            self._on_cnxn(msg)
        elif msg.command == A_AUTH:
            self._on_auth(msg)
        elif not self.online:
            return  # protocol.txt: streams only once connected; adbd ignores them
        elif msg.command == A_OPEN:
            self._on_open(msg)
        elif msg.command == A_OKAY:
            self._on_okay(msg)
        elif msg.command == A_WRTE:
            stream = self._streams.get(msg.arg1)
            if stream is not None and stream.remote_id == msg.arg0:
                stream.on_write(msg.data)
        elif msg.command == A_CLSE:
            stream = self._streams.get(msg.arg1)
            if stream is not None:
                stream.on_close()
            pending = self._pending.get(msg.arg1)
            if pending is not None and not pending.future.done():
                pending.future.set_exception(ConnectionRefusedError(f"host refused {pending.name!r}"))
        # SYNC and STLS are not used on this transport: ignored, as adbd ignores unknown packets.
        if self._writer.transport.get_write_buffer_size() > 4 * MAX_PAYLOAD:
            await self._writer.drain()

    def _on_cnxn(self, msg: Message) -> None:
        state, props = parse_banner(msg.data)
        self.host = HostInfo(
            version=msg.arg0,
            max_payload=max(MAX_PAYLOAD_V1, min(msg.arg1, MAX_PAYLOAD)),
            banner=msg.data.rstrip(b"\0").decode("utf-8", "replace"),
            features=frozenset(f for f in props.get("features", "").split(",") if f),
        )
        log.debug("adbd %s: CNXN from %s (version %#x)", self.name, state, msg.arg0)
        # A new CNXN restarts the transport: every stream of the previous session ends.
        for stream in list(self._streams.values()):
            stream.on_close()
        if self._auth is None or not self._auth.required:
            self._go_online()
        else:
            self._send_token()

    def _on_auth(self, msg: Message) -> None:
        if self._auth is None or self.online:
            return
        if msg.arg0 == AUTH_SIGNATURE:
            if self._token and self._auth.verify(self._token, msg.data):
                self._go_online()
            else:
                self._send_token()
        elif msg.arg0 == AUTH_RSAPUBLICKEY and self._auth.offer_key(msg.data):
            # The user's "Allow USB debugging?" prompt: accepted only if the policy says so.
            self._go_online()

    def _send_token(self) -> None:
        self._token = os.urandom(TOKEN_SIZE)
        self._send(Message(A_AUTH, AUTH_TOKEN, 0, self._token))

    def _go_online(self) -> None:
        self.online = True
        banner = self._resolver.banner().encode()
        if len(banner) > MAX_PAYLOAD_V1:
            raise ProtocolError(f"device banner is {len(banner)} bytes; CNXN allows {MAX_PAYLOAD_V1}")
        self._send(Message(A_CNXN, A_VERSION_SKIP_CHECKSUM, MAX_PAYLOAD, banner))

    # -- streams ---------------------------------------------------------------------------
    def _on_open(self, msg: Message) -> None:
        if msg.arg0 == 0 or msg.arg1 != 0:
            return
        service = msg.data.rstrip(b"\0").decode("utf-8", "replace")
        self._spawn(self._open(service, msg.arg0), service)

    async def _open(self, service: str, remote_id: int) -> None:
        """Resolves the service (a ``tcp:`` one may first connect), then OKAY and run, or CLSE."""
        try:
            handler = await self._resolver.resolve(service, self)
        except Exception:
            log.exception("adbd %s: resolving %r failed", self.name, service)
            handler = None
        if self._closing:
            return
        if handler is None:
            self._send(Message(A_CLSE, 0, remote_id))
            return
        local_id = self._allocate_id()
        stream = self._make_stream(local_id, remote_id, service)
        self._send(Message(A_OKAY, local_id, remote_id))
        task = asyncio.current_task()
        assert task is not None
        self._service_tasks[local_id] = task
        await self._run_service(handler, stream)

    def _on_okay(self, msg: Message) -> None:
        pending = self._pending.get(msg.arg1)
        if pending is not None:
            if not pending.future.done():
                pending.future.set_result(msg.arg0)
            return
        stream = self._streams.get(msg.arg1)
        if stream is not None and stream.remote_id == msg.arg0:
            stream.on_ready()

    async def _run_service(self, handler: ServiceHandler, stream: AdbStream) -> None:
        try:
            await handler(stream)
        except asyncio.CancelledError:
            raise
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("adbd %s: service %r failed", self.name, stream.name)
        finally:
            if not self._closing:
                await stream.close()

    def _make_stream(self, local_id: int, remote_id: int, service: str) -> AdbStream:
        stream = AdbStream(
            local_id,
            remote_id,
            self._send,
            self.host.max_payload,
            on_closed=self._forget,
            name=service,
        )
        self._streams[local_id] = stream
        return stream

    def _forget(self, stream: AdbStream) -> None:
        """A closed stream ends its service, as adbd closes the service's socket (a CLSE hangs up)."""
        self._streams.pop(stream.local_id, None)
        task = self._service_tasks.pop(stream.local_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _allocate_id(self) -> int:
        local_id = self._next_id
        self._next_id = self._next_id % 0x7FFFFFFF + 1
        return local_id

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"adb-service-{name[:40]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send(self, msg: Message) -> None:
        if self._writer.is_closing():
            return
        self._writer.write(encode(msg, with_checksum=self.host.version < A_VERSION_SKIP_CHECKSUM))
