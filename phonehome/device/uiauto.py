"""uiautomator2 on a `Handset`: sessions whose RPCs do not stall on Nagle's algorithm.

uiautomator2 sends each RPC as its own HTTP request over a ``tcp:9008``
stream that adbutils opens to the adb server. Two costs are avoidable: the
``host:version`` call adbutils makes before every stream when it knows the
device by serial only, and the ~40 ms delayed-ACK stall because adbutils
leaves TCP_NODELAY off while http.client writes headers and body apart.
The patch point is the device object handed to uiautomator2: `PinnedDevice`
opens its streams on the handset's pinned transport through a
`phonehome.device.adb.NoDelayClient`. Nothing global is patched; other
adbutils and uiautomator2 users in the process keep their behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import adbutils

from phonehome.device.errors import DeviceError

if TYPE_CHECKING:
    from phonehome.device.handset import Handset

STEP = "uiautomator2"
_ADBUTILS_TIMEOUT = 600  # adbutils' own default stream timeout (its _DEFAULT_SOCKET_TIMEOUT)


class PinnedDevice(adbutils.AdbDevice):  # type: ignore[misc]
    """An adbutils device that opens every stream on the transport id ``transport()`` returns now.

    The handset re-pins after a reboot, so a uiautomator2 session built on
    this device keeps working once its server is restarted.
    """

    def __init__(self, client: adbutils.AdbClient, serial: str, transport: Callable[[], int]) -> None:
        self._transport = transport
        super().__init__(client, serial=serial)

    def open_transport(
        self, command: str | None = None, timeout: float | None = _ADBUTILS_TIMEOUT
    ) -> adbutils.AdbConnection:
        conn = self._client.make_connection(timeout=timeout)
        try:
            tid = self._transport()
            if command:
                conn.send_command(f"host-transport-id:{tid}:{command}")
            else:
                conn.send_command(f"host:transport-id:{tid}")
            conn.check_okay()
        except BaseException:
            conn.close()
            raise
        return conn


class UiSession:
    """A uiautomator2 server running on a handset, and the `uiautomator2.Device` that drives it.

    ``with handset.uiautomator2() as d: d(text="Skip").click()``; or keep the
    session and use ``session.device``. `Handset.handle_reboot` stops and
    restarts it.
    """

    def __init__(self, handset: Handset, port: int = 9008) -> None:
        self.handset = handset
        self.port = port
        self._device: Any = None
        self.running = False

    @property
    def device(self) -> Any:
        """The `uiautomator2.Device` (typed Any: uiautomator2 ships no type information)."""
        if self._device is None:
            raise DeviceError(self.handset.serial, STEP, "the session is not started", "call start() first")
        return self._device

    def start(self, timeout: float = 60.0) -> Any:
        """Pushes and launches the server if needed (uiautomator2 waits up to 30 s for /ping)."""
        import uiautomator2 as u2  # noqa: PLC0415  (heavy; only sessions need it)

        try:
            if self._device is None:
                self._device = u2.connect(self.handset.adb_device(), port=self.port)
            else:
                self._device.start_uiautomator()
            self._device.jsonrpc_call("deviceInfo", {}, timeout=timeout)  # what d.info sends
        except DeviceError:
            raise
        except Exception as exc:  # uiautomator2 raises its own hierarchy, adbutils', and requests'
            raise DeviceError(
                self.handset.serial,
                STEP,
                f"the uiautomator2 server did not start: {type(exc).__name__}: {exc}",
                "is the screen on and unlocked? adb shell ps -A | grep app_process",
            ) from exc
        self.running = True
        return self._device

    def stop(self) -> None:
        """Stops the on-device server (best effort: the device may already be rebooting)."""
        if self._device is not None and self.running:
            with contextlib.suppress(Exception):  # a device that went away has no server left to stop
                self._device.stop_uiautomator()
        self.running = False

    def __enter__(self) -> Any:
        return self.device if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
