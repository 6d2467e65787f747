"""Fastboot mode of the virtual handset: Android off, the bootloader listening for the fastboot client.

`FastbootMode` is the part of `VirtualHandset` that a phone's bootloader is:
``adb reboot bootloader`` (or holding Volume Down at power-on:
`FastbootMode.reboot_bootloader`) powers Android off and starts the
listener; the client's ``reboot`` boots Android again, wiping user data
first when ``userdata`` was erased, with the properties of any build
flashed. While in fastboot mode ADB is gone, as on a phone.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from phonehome.virtual.events import SHUTDOWN, WIPED, HandsetError
from phonehome.virtual.fastboot.bootloader import Bootloader
from phonehome.virtual.fastboot.protocol import Reboot
from phonehome.virtual.fastboot.server import FastbootServer, free_port

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

    from phonehome.virtual.profile import Profile
    from phonehome.virtual.state import HandsetState

log = logging.getLogger(__name__)

BOOTLOADER = "bootloader"
"""The event a handset emits once it sits in fastboot mode (``detail``: the fastboot serial)."""
INTO_BOOTLOADER = ("bootloader", "fastboot")
"""``adb reboot`` reasons that stop in the bootloader."""


class FastbootMode:
    """The bootloader and its listener (mixed into the handset)."""

    if TYPE_CHECKING:  # what the handset provides
        name: str
        profile: Profile
        _state: HandsetState | None
        _booted: threading.Event
        _boot_reason: str

        @property
        def loop(self) -> asyncio.AbstractEventLoop: ...
        @property
        def serial(self) -> str: ...
        def _emit(self, kind: str, detail: str = "") -> None: ...
        async def _power_off(self) -> None: ...
        async def _power_on(self, ready: Any) -> None: ...
        def _wipe(self) -> None: ...
        def _spawn_untracked(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def _init_fastboot(self, port: int, unlocked: bool | None) -> None:
        build = self.profile.build
        spec = self.profile.bootloader
        self._fastboot_port = port or free_port()
        self._fastboot: FastbootServer | None = None
        self._in_bootloader = threading.Event()
        self._bootloader = Bootloader(
            serial=self.serial,
            product=build.device,
            version=spec.version or f"{build.device}-1.0",
            baseband=build.baseband,
            unlocked=spec.unlocked if unlocked is None else unlocked,
            log=self._bootloader_log,
        )

    @property
    def bootloader(self) -> Bootloader:
        """Its lock state, what was flashed, whether a wipe is pending."""
        return self._bootloader

    @property
    def fastboot_serial(self) -> str:
        """What ``fastboot -s`` takes: ``tcp:127.0.0.1:PORT`` (listening only in fastboot mode)."""
        return f"tcp:127.0.0.1:{self._fastboot_port}"

    @property
    def in_bootloader(self) -> bool:
        return self._in_bootloader.is_set()

    def reboot_bootloader(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Into fastboot mode, as ``adb reboot bootloader`` or holding Volume Down at power-on does; with
        ``wait``, returns once the fastboot listener accepts connections."""
        self.loop.call_soon_threadsafe(self._reboot_into_bootloader)
        if wait and not self._in_bootloader.wait(timeout):
            raise HandsetError(
                f"<VirtualHandset {self.name}> did not reach fastboot mode within {timeout:.0f} s"
            )

    def wait_bootloader(self, timeout: float = 30.0) -> None:
        if not self._in_bootloader.wait(timeout):
            raise HandsetError(f"<VirtualHandset {self.name}> is not in fastboot mode after {timeout:.0f} s")

    def _reboot_into_bootloader(self) -> None:
        self._spawn_untracked(self._enter_bootloader())

    async def _enter_bootloader(self) -> None:
        if self._in_bootloader.is_set():
            return
        state = self._state
        if state is not None:
            self._booted.clear()
            self._emit(SHUTDOWN, BOOTLOADER)
            state.logs.log("I", "ShutdownThread", "Rebooting, reason: bootloader", pid=1024)
            await self._power_off()
            await asyncio.sleep(self.profile.boot.offline_s * _scale(self))
        self._fastboot = FastbootServer(
            self._bootloader,
            self._fastboot_rebooted,
            port=self._fastboot_port,
            on_command=lambda command: self._bootloader_log(f"fastboot {command[:80]}"),
            on_rebooting=self._in_bootloader.clear,
        )
        await self._fastboot.listen()
        self._in_bootloader.set()
        self._emit(BOOTLOADER, self.fastboot_serial)

    def _fastboot_rebooted(self, reboot: Reboot) -> None:
        self._spawn_untracked(self._leave_bootloader(reboot.target))

    async def _leave_bootloader(self, target: str) -> None:
        await self._close_fastboot()
        await asyncio.sleep(self.profile.boot.offline_s * _scale(self))
        if target == BOOTLOADER:
            await self._enter_bootloader()
            return
        wiped = self._bootloader.take_wipe()
        if wiped:
            self._wipe()
            self._emit(WIPED)
        self._boot_reason = "reboot,bootloader" if not wiped else "reboot,factory_reset"
        await self._power_on(None)

    async def _close_fastboot(self) -> None:
        self._in_bootloader.clear()
        server, self._fastboot = self._fastboot, None
        if server is not None:
            await server.close()

    def _bootloader_log(self, line: str) -> None:
        log.info("<VirtualHandset %s> bootloader: %s", self.name, line)


def _scale(handset: object) -> float:
    return float(getattr(handset, "time_scale", 1.0))
