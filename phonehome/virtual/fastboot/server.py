"""The fastboot listener: TCP on loopback while the handset sits in its bootloader.

Like ADB it is out of band (a USB cable's stand-in), so it listens on
127.0.0.1 only, and only while the handset is in fastboot mode: a handset
running Android refuses the connection, as a phone on USB shows no fastboot
device. The protocol itself is `phonehome.virtual.fastboot.protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from phonehome.virtual.fastboot.protocol import Device, FastbootConnection, Reboot

log = logging.getLogger(__name__)

READ_SIZE = 65536
IDLE_TIMEOUT_S = 60.0
"""A host that sends nothing for this long is dropped (the fastboot client sends at once)."""
EMULATOR_PORTS = range(5554, 5586)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free now on ``host``, outside 5554-5585 (which an adb server probes as emulators)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in EMULATOR_PORTS:
            return port


class FastbootServer:
    """Serves `device` on ``host:port``; ``on_reboot`` is called once a reboot was answered."""

    def __init__(
        self,
        device: Device,
        on_reboot: Callable[[Reboot], None],
        *,
        host: str = "127.0.0.1",
        port: int,
        on_command: Callable[[str], None] = lambda command: None,
        on_rebooting: Callable[[], None] = lambda: None,
    ) -> None:
        self.device = device
        self.on_reboot = on_reboot
        self.on_rebooting = on_rebooting
        """Called before a reboot's OKAY is sent: whoever the client tells sees the device leaving at once."""
        self.on_command = on_command
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = FastbootConnection(self.device, on_command=self.on_command)
        announced = False
        try:
            while not conn.closed:
                data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT_S)
                if not data:
                    break
                out = conn.receive(data)
                if conn.reboot is not None and not announced:
                    announced = True
                    self.on_rebooting()
                if out:
                    writer.write(out)
                    await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)
            if task is not None:
                self._tasks.discard(task)
        if conn.reboot is not None:
            self.on_reboot(conn.reboot)
