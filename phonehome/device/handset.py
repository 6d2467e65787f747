"""`Handset`: one Android device reached through an adb server, real or virtual alike.

It speaks only ADB (through adbutils), so it cannot tell a phone on USB from
the virtual handset: both are a serial on an adb server. Every call has a
deadline and every failure names the serial and the step
(`phonehome.device.errors`). The transport id is pinned at connect, so no
call pays for finding the device again. A device that drops (replug, reboot,
crash) fails the step that was running with an error naming it; only
`Handset.wait_for_device` and `Handset.handle_reboot` re-pin, so a restart
during a scenario shows instead of being followed silently. (Over ``adb
connect`` the server may revive the same transport once the device is back:
a step that runs after the restart then succeeds.)
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import adbutils
from adbutils.errors import AdbConnectionError

from phonehome.device import transport
from phonehome.device.adb import AdbServer, DeviceEntry
from phonehome.device.deadline import Deadline
from phonehome.device.errors import (
    CHECK_CONNECTED,
    AdbCommandError,
    AdbServerError,
    AdbTimeoutError,
    DeviceError,
    DeviceNotFoundError,
    DeviceStateError,
)
from phonehome.device.transport import ShellResult, shell_join

if TYPE_CHECKING:
    from phonehome.device.build import BuildIdentity
    from phonehome.device.identity import IdentityReport
    from phonehome.device.inventory import Inventory
    from phonehome.device.uiauto import UiSession
    from phonehome.policy import Identity

DEFAULT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 30.0
REBOOT_TIMEOUT_S = 180.0
POLL_S = 0.2
RECONNECT_EVERY_S = 1.0
BOOT_MARKER = "debug.phonehome.boot"
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}")


@dataclass
class _Cycle:
    """One reboot being waited for: the old boot's transport and tag, and the deadline."""

    transport_id: int
    marker: str | None
    deadline: float
    gone: bool = False


def is_network_serial(serial: str) -> bool:
    """``HOST:PORT`` serials come from ``adb connect``; the server does not bring them back by itself."""
    return _HOST_PORT.fullmatch(serial) is not None


class Handset:
    """A handset on an adb server; build it with `Handset.connect`.

    ``serial`` is what ``adb devices`` shows (USB serial or ``HOST:PORT``).
    ``timeout`` is the default deadline of one shell command.
    """

    def __init__(
        self,
        serial: str,
        server: AdbServer,
        transport_id: int,
        features: frozenset[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.serial = serial
        self.server = server
        self.transport_id = transport_id
        self.features = features
        self.timeout = timeout
        self._client = server.client()
        self._sessions: list[UiSession] = []

    def __repr__(self) -> str:
        return f"<Handset {self.serial}>"

    # -- connecting ---------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        serial: str,
        server: AdbServer | None = None,
        *,
        timeout: float = CONNECT_TIMEOUT_S,
        command_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Handset:
        """Waits up to ``timeout`` for ``serial`` to be online ('device') and pins its transport.

        Starts the adb server on ``server.port`` when none runs there, and runs
        ``adb connect`` for ``HOST:PORT`` serials the server does not list.
        """
        server = server or AdbServer()
        step = "connect"
        try:
            server.ensure_running()
        except (OSError, subprocess.SubprocessError) as exc:
            raise AdbServerError(
                serial,
                step,
                f"no adb server at {server.host}:{server.port}: {exc}",
                f"{server.binary} -P {server.port} start-server",
            ) from exc
        handset = cls(serial, server, transport_id=0, features=frozenset(), timeout=command_timeout)
        handset.wait_for_device(timeout, step=step)
        with handset._guard(step, "adb features", timeout):
            text = transport.host_query(
                handset._client, f"host-transport-id:{handset.transport_id}:features", Deadline(timeout)
            )
        handset.features = frozenset(f for f in text.strip().split(",") if f)
        return handset

    def entry(self, timeout: float = 5.0, step: str = "list devices") -> DeviceEntry | None:
        """This serial's line in ``adb devices -l``, None when it is not listed."""
        with self._guard(step, "adb devices -l", timeout):
            entries = self.server.devices(timeout)
        return next((e for e in entries if e.serial == self.serial), None)

    def wait_for_device(self, timeout: float = 60.0, step: str = "wait for device") -> None:
        """Until the serial is online again, then pins its (possibly new) transport id."""
        deadline = time.monotonic() + timeout
        last_connect = 0.0
        entry: DeviceEntry | None = None
        while True:
            left = deadline - time.monotonic()
            entry = self.entry(timeout=max(min(5.0, left), 0.5), step=step)
            if entry is not None and entry.state == "device" and entry.transport_id is not None:
                self.transport_id = entry.transport_id
                return
            if left <= 0:
                break
            dropped = entry is None or entry.state == "offline"  # not 'unauthorized': a prompt may be up
            if (
                dropped
                and is_network_serial(self.serial)
                and time.monotonic() - last_connect >= RECONNECT_EVERY_S
            ):
                # adb retries a dropped TCP device only every ~10 s; a fresh connect is immediate.
                last_connect = time.monotonic()
                with self._guard(step, f"adb connect {self.serial}", 10.0):
                    if entry is not None:
                        self.server.disconnect(self.serial, timeout=min(5.0, max(left, 0.5)))
                    self.server.connect(self.serial, timeout=min(5.0, max(left, 0.5)))
                continue
            time.sleep(min(POLL_S, max(left, 0.0)))
        if entry is None:
            raise DeviceNotFoundError(
                self.serial,
                step,
                f"not listed by the adb server at {self.server.host}:{self.server.port} after {timeout:g} s",
                "plug it in (or adb connect HOST:PORT); adb devices -l",
            )
        raise DeviceStateError(self.serial, step, entry.state)

    # -- commands -----------------------------------------------------------------------------
    def shell(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        step: str = "shell",
        check: bool = True,
    ) -> ShellResult:
        """Runs ``argv`` on the device (argv list, quoted for its sh); ``check`` raises on a non-zero exit."""
        cmd = shell_join(argv)
        seconds = timeout or self.timeout
        with self._guard(step, cmd, seconds):
            result = transport.run_shell(
                self._client, self.transport_id, cmd, seconds, v2="shell_v2" in self.features
            )
        if check and result.exit_code != 0:
            raise AdbCommandError(
                self.serial, step, cmd, exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr
            )
        return result

    def getprop(self, name: str, *, timeout: float | None = None, step: str = "getprop") -> str:
        return self.shell(["getprop", name], timeout=timeout, step=step).stdout.strip()

    def properties(self, *, timeout: float | None = None, step: str = "getprop") -> dict[str, str]:
        """Every system property (one ``getprop`` call)."""
        from phonehome.device.props import parse_getprop  # noqa: PLC0415  (keeps this module small)

        return parse_getprop(self.shell(["getprop"], timeout=timeout, step=step).stdout)

    def adb_device(self) -> adbutils.AdbDevice:
        """An adbutils device on this handset's pinned transport, TCP_NODELAY on (push, pull, forward...)."""
        from phonehome.device.uiauto import PinnedDevice  # noqa: PLC0415

        return PinnedDevice(self._client, self.serial, lambda: self.transport_id)

    # -- what the handset is ------------------------------------------------------------------
    def read_identity(
        self, inventory: Inventory | None = None, bench: Identity | None = None
    ) -> IdentityReport:
        """Identifiers read over ADB, merged with the inventory's declared values and the bench's."""
        from phonehome.device.reader import read_identity  # noqa: PLC0415

        return read_identity(self, inventory=inventory, bench=bench)

    def read_build(self) -> BuildIdentity:
        """Fingerprint, patch level, region and carrier properties, installed packages."""
        from phonehome.device.build import read_build  # noqa: PLC0415

        return read_build(self)

    # -- lifecycle ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def handle_reboot(self, timeout: float = REBOOT_TIMEOUT_S) -> Iterator[None]:
        """Around a step that restarts the device (a reboot, a factory reset, an OTA).

        Stops the uiautomator2 sessions first; after the block, waits for the
        old boot to end, the device to come back online and report
        ``sys.boot_completed=1``, re-pins the transport and restarts the
        sessions that ran (Mobly's ``handle_reboot``). If the block raises,
        nothing is waited for.
        """
        with self._rebooting(timeout):
            yield

    @contextlib.contextmanager
    def reboot(self, timeout: float = REBOOT_TIMEOUT_S, reason: str = "") -> Iterator[None]:
        """Reboots: the block runs once the old boot is gone (start a capture there); leaving it
        waits for the new boot to complete. ``with handset.reboot(): pass`` just reboots."""
        with self._rebooting(timeout) as cycle:
            with (
                self._guard("reboot", "adb reboot", DEFAULT_TIMEOUT_S),
                contextlib.suppress(ConnectionError, EOFError),  # the device may drop the stream at once
            ):
                transport.exchange(
                    self._client, self.transport_id, f"reboot:{reason}", Deadline(DEFAULT_TIMEOUT_S)
                )
            self._wait_gone(cycle)
            yield

    def reboot_into(self, target: str, *, step: str = "reboot") -> None:
        """``adb reboot TARGET`` (``bootloader``, ``recovery``...) without waiting for anything: the device
        leaves Android; wrap it in `handle_reboot` when Android is to come back within the block."""
        with (
            self._guard(step, f"adb reboot {target}", DEFAULT_TIMEOUT_S),
            contextlib.suppress(ConnectionError, EOFError),  # the device may drop the stream at once
        ):
            transport.exchange(
                self._client, self.transport_id, f"reboot:{target}", Deadline(DEFAULT_TIMEOUT_S)
            )

    def root(self, *, step: str = "adb root") -> str:
        """``adb root``: what adbd answered (``restarting adbd as root``, or why it will not). A real adbd
        restarts and drops the transport: wait for the device before the next command."""
        with self._guard(step, "adb root", DEFAULT_TIMEOUT_S):
            answer = transport.exchange(self._client, self.transport_id, "root:", Deadline(DEFAULT_TIMEOUT_S))
        return answer.decode("utf-8", "replace").strip()

    @contextlib.contextmanager
    def _rebooting(self, timeout: float) -> Iterator[_Cycle]:
        live = [s for s in self._sessions if s.running]
        for session in live:
            session.stop()
        cycle = _Cycle(self.transport_id, self._mark_boot(), time.monotonic() + timeout)
        yield cycle
        self._wait_gone(cycle)
        self.wait_for_device(max(cycle.deadline - time.monotonic(), 1.0), step="reboot")
        self.wait_boot_completed(max(cycle.deadline - time.monotonic(), 1.0), step="reboot")
        for session in live:
            session.start()

    def _mark_boot(self) -> str | None:
        """Tags this boot with a volatile property (debug.* is shell-settable and gone after a reboot)."""
        token = secrets.token_hex(6)
        try:
            done = self.shell(["setprop", BOOT_MARKER, token], check=False, step="reboot")
        except DeviceError:
            return None  # already on its way down
        return token if done.ok else None

    def wait_boot_completed(self, timeout: float = REBOOT_TIMEOUT_S, step: str = "wait for boot") -> None:
        """Until ``sys.boot_completed`` is 1 (the framework is up; Setup Wizard or launcher shows)."""
        deadline = time.monotonic() + timeout
        value = ""
        while True:
            left = deadline - time.monotonic()
            value = self.getprop("sys.boot_completed", timeout=max(min(5.0, left), 0.5), step=step)
            if value == "1":
                return
            if left <= 0:
                raise AdbTimeoutError(
                    self.serial,
                    step,
                    f"sys.boot_completed is {value or 'empty'} after {timeout:g} s",
                    "is it stuck in a boot loop? adb logcat -b all",
                )
            time.sleep(min(POLL_S, max(left, 0.0)))

    def _wait_gone(self, cycle: _Cycle) -> None:
        """Until the tagged boot is over: its transport is gone or offline, or the tag is (a TCP
        device that came back fast can be revived on the same transport by the adb server)."""
        while not cycle.gone:
            entry = self.entry(step="reboot")
            if entry is None or entry.state != "device" or entry.transport_id != cycle.transport_id:
                cycle.gone = True
            elif cycle.marker is not None:
                try:
                    cycle.gone = self.getprop(BOOT_MARKER, timeout=2.0, step="reboot") != cycle.marker
                except DeviceError:
                    cycle.gone = True
            if cycle.gone:
                return
            if time.monotonic() >= cycle.deadline:
                raise AdbTimeoutError(
                    self.serial,
                    "reboot",
                    "the device did not go away after the reboot request",
                    f"did it reboot? adb -s {self.serial} shell uptime",
                )
            time.sleep(POLL_S)

    # -- uiautomator2 -------------------------------------------------------------------------
    def uiautomator2(self, timeout: float = 60.0) -> UiSession:
        """A started uiautomator2 session (TCP_NODELAY on its RPCs); stopped and restarted around reboots."""
        from phonehome.device.uiauto import UiSession  # noqa: PLC0415

        session = UiSession(self)
        session.start(timeout)
        self._sessions.append(session)
        return session

    # -- errors -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _guard(self, step: str, what: str, timeout: float) -> Iterator[None]:
        """Turns socket and adbutils errors into `DeviceError`s naming the serial, the step and ``what``."""
        try:
            yield
        except DeviceError:
            raise
        except (TimeoutError, adbutils.AdbTimeout) as exc:
            raise AdbTimeoutError(
                self.serial, step, f"{what} timed out after {timeout:g} s", CHECK_CONNECTED
            ) from exc
        except AdbConnectionError as exc:
            raise AdbServerError(
                self.serial,
                step,
                f"{what}: adb server at {self.server.host}:{self.server.port} unreachable: {exc}",
                f"{self.server.binary} -P {self.server.port} start-server",
            ) from exc
        except adbutils.AdbError as exc:
            raise self._server_refused(step, what, str(exc)) from exc
        except transport.OutputTooLarge as exc:
            raise DeviceError(self.serial, step, f"{what} printed {exc}", "narrow the command") from exc
        except (ConnectionError, EOFError, OSError) as exc:
            raise DeviceNotFoundError(
                self.serial, step, f"the connection dropped during {what}: {exc}", CHECK_CONNECTED
            ) from exc

    def _server_refused(self, step: str, what: str, message: str) -> DeviceError:
        text = message.strip().lower()
        if "unauthorized" in text:
            return DeviceStateError(self.serial, step, "unauthorized")
        if "offline" in text:
            return DeviceStateError(self.serial, step, "offline")
        if "no device with transport id" in text or "not found" in text:
            return DeviceNotFoundError(
                self.serial,
                step,
                f"{what}: the device's connection (transport {self.transport_id}) is gone",
                "it rebooted, was unplugged or adb lost it; adb devices -l "
                "(wrap steps that restart it in Handset.handle_reboot())",
            )
        return AdbServerError(self.serial, step, f"{what}: the adb server refused: {message.strip()}")
