"""The ``shell:`` and ``exec:`` services: framing around the Android shell (AOSP shell_protocol.h).

``shell:CMD`` (v1) sends stdout and stderr mixed and no exit status; with the
``v2`` option every chunk is a packet (id, u32 length, payload): 0 stdin,
1 stdout, 2 stderr, 3 exit (one byte), 4 close stdin, 5 window size. A shell
with no command is interactive: it runs each line it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

from phonehome.virtual.adb.stream import AdbStream
from phonehome.virtual.shell.interpreter import BytesInput, Io, ShellSession

ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW_SIZE = range(6)
PACKET_HEADER = struct.Struct("<BI")
MAX_PACKET = 1024 * 1024


@dataclass(frozen=True)
class ShellRequest:
    """A parsed service name: ``shell,v2,TERM=xterm,raw:CMD`` or ``exec:CMD``."""

    command: str
    v2: bool
    raw: bool
    env: dict[str, str]

    @classmethod
    def parse(cls, service: str) -> ShellRequest | None:
        if service.startswith("exec:"):
            return cls(service[5:], v2=False, raw=True, env={})
        if not service.startswith(("shell:", "shell,")):
            return None
        head, _, command = service.partition(":")
        options = head.split(",")[1:]
        env = dict(opt.split("=", 1) for opt in options if "=" in opt)
        return cls(command, v2="v2" in options, raw="raw" in options or bool(command), env=env)


class _PacketOutput:
    def __init__(self, stream: AdbStream, packet_id: int) -> None:
        self.stream = stream
        self.packet_id = packet_id

    async def write(self, data: bytes) -> None:
        for i in range(0, len(data), MAX_PACKET):
            chunk = data[i : i + MAX_PACKET]
            await self.stream.write(PACKET_HEADER.pack(self.packet_id, len(chunk)) + chunk)


class _RawOutput:
    def __init__(self, stream: AdbStream) -> None:
        self.stream = stream

    async def write(self, data: bytes) -> None:
        await self.stream.write(data)


class _V2Stdin:
    """stdin of a v2 shell: packets 0 until a close-stdin packet (or the stream's end)."""

    def __init__(self, stream: AdbStream) -> None:
        self.stream = stream
        self.lines: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.data = bytearray()
        self.closed = asyncio.Event()
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                header = await self.stream.readexactly(PACKET_HEADER.size)
                packet_id, length = PACKET_HEADER.unpack(header)
                if length > MAX_PACKET:
                    break
                payload = await self.stream.readexactly(length) if length else b""
                if packet_id == ID_STDIN:
                    self.data += payload
                    await self.lines.put(payload)
                elif packet_id == ID_CLOSE_STDIN:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            await self.lines.put(None)

    async def read(self) -> bytes:
        await self.closed.wait()
        return bytes(self.data)


async def serve_shell(
    request: ShellRequest, stream: AdbStream, new_session: Callable[[], ShellSession]
) -> None:
    session = new_session()
    session.env.update({k: v for k, v in request.env.items() if k == "TERM"})
    if request.v2:
        stdin = _V2Stdin(stream)
        io = Io(stdin, _PacketOutput(stream, ID_STDOUT), _PacketOutput(stream, ID_STDERR))
        try:
            if request.command:
                status = await session.run(request.command, io)
                await session.wait_attached()
            else:
                status = await _interactive(session, stdin.lines, io)
            await stream.write(PACKET_HEADER.pack(ID_EXIT, 1) + bytes([status & 0xFF]))
        finally:
            stdin.task.cancel()
            session.cancel_jobs()
        return
    raw = _RawOutput(stream)
    io = Io(BytesInput(b""), raw, raw)
    try:
        if request.command:
            await session.run(request.command, io)
            await session.wait_attached()
        else:
            lines: asyncio.Queue[bytes | None] = asyncio.Queue()
            pump = asyncio.ensure_future(_pump_raw(stream, lines))
            try:
                await _interactive(session, lines, io)
            finally:
                pump.cancel()
    finally:
        session.cancel_jobs()


async def _pump_raw(stream: AdbStream, lines: asyncio.Queue[bytes | None]) -> None:
    try:
        while True:
            data = await stream.read()
            if not data:
                break
            await lines.put(data)
    finally:
        await lines.put(None)


async def _interactive(session: ShellSession, chunks: asyncio.Queue[bytes | None], io: Io) -> int:
    """Runs each line typed into ``adb shell`` (no PTY: no echo, no line editing)."""
    prompt = f"{session.env.get('HOSTNAME', 'localhost')}:/ $ ".encode()
    buffer = b""
    await io.stdout.write(prompt)
    while True:
        chunk = await chunks.get()
        if chunk is None:
            return session.status
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode("utf-8", "replace").rstrip("\r")
            if text.strip() == "exit":
                return session.status
            with contextlib.suppress(Exception):
                await session.run(text, Io(BytesInput(b""), io.stdout, io.stderr))
            await io.stdout.write(prompt.replace(b"/ ", session.cwd.encode() + b" "))
