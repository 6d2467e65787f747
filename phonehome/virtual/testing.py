"""Test helpers for code that drives a handset: a recording `Screen` and a private adb server.

`RecordingScreen` shows one fixed window and remembers every tap, swipe, key
and text, so tests of the shell, of ADB clients or of a lab's own scenario
code can check what reached the screen without the Setup Wizard model.
`PrivateAdbServer` runs the real adb server on its own port for such tests.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from phonehome.virtual.screen import ImageFormat, UiEvent

DEFAULT_XML = (
    "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
    '<hierarchy rotation="0"><node index="0" text="Hello" resource-id="android:id/title" '
    'class="android.widget.TextView" package="com.example" content-desc="" checkable="false" '
    'checked="false" clickable="true" enabled="true" focusable="true" focused="false" '
    'scrollable="false" long-clickable="false" password="false" selected="false" '
    'bounds="[0,0][1080,200]" /></hierarchy>'
)


def solid_png(width: int, height: int, rgb: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    """A valid PNG of one colour (zlib only), so tests need no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@dataclass
class RecordingScreen:
    """A `Screen` with one window; ``actions`` lists what it was asked, in order."""

    size: tuple[int, int] = (1080, 2160)
    xml: str = DEFAULT_XML
    activity: tuple[str, str] = ("com.example", "com.example.MainActivity")
    known_components: set[str] = field(default_factory=set)
    actions: list[tuple[object, ...]] = field(default_factory=list)
    _listeners: list[Callable[[UiEvent], None]] = field(default_factory=list)

    def display_size(self) -> tuple[int, int]:
        return self.size

    def hierarchy_xml(self) -> str:
        return self.xml

    def screenshot(self, fmt: ImageFormat = "png", scale: float = 1.0, quality: int = 80) -> bytes:
        self.actions.append(("screenshot", fmt))
        return solid_png(max(1, int(self.size[0] * scale) // 20), max(1, int(self.size[1] * scale) // 20))

    def tap(self, x: int, y: int) -> None:
        self.actions.append(("tap", x, y))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self.actions.append(("swipe", x1, y1, x2, y2, duration_ms))

    def press_key(self, key: str | int) -> None:
        self.actions.append(("key", key))

    def input_text(self, text: str) -> None:
        self.actions.append(("text", text))

    def focused_activity(self) -> tuple[str, str]:
        return self.activity

    def start_activity(self, component: str) -> bool:
        self.actions.append(("start", component))
        package = component.split("/", 1)[0]
        if (
            self.known_components
            and component not in self.known_components
            and package not in self.known_components
        ):
            return False
        activity = component.split("/", 1)[1] if "/" in component else ""
        self.activity = (package, package + activity if activity.startswith(".") else activity)
        return True

    def subscribe(self, callback: Callable[[UiEvent], None]) -> None:
        self._listeners.append(callback)

    def emit(self, event: UiEvent) -> None:
        """Delivers ``event`` to subscribers (what the wizard does when the user acts)."""
        for callback in list(self._listeners):
            callback(event)


EMULATOR_PORTS = range(5554, 5586)  # an adb server probes these as emulators when it starts
ADB_TIMEOUT_S = 30.0


def bundled_adb() -> Path:
    """The adb binary that adbutils ships (whatever ``adb`` is first on PATH)."""
    import adbutils  # noqa: PLC0415  (only tests that run adb need it)

    return Path(adbutils.__file__).resolve().parent / "binaries" / "adb"


def free_port() -> int:
    """A free loopback TCP port that is neither 5037 nor in the emulator range."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 5037 and port not in EMULATOR_PORTS:
            return port


def emulator_ports_in_use() -> list[int]:
    """Loopback ports in 5554-5585 that accept connections (an adb server would probe them)."""
    busy = []
    for port in EMULATOR_PORTS:
        with socket.socket() as s:
            s.settimeout(0.05)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


@dataclass
class PrivateAdbServer:
    """A real adb server on its own port and HOME (its own key), for tests; never port 5037.

    ``start()`` refuses to run while something listens on 5554-5585. ``env``
    is what to give adb and adbutils (ANDROID_ADB_SERVER_PORT, ADBUTILS_ADB_PATH)
    so nothing falls back to the default server.
    """

    binary: Path
    home: Path
    port: int = field(default_factory=free_port)

    @property
    def env(self) -> dict[str, str]:
        # Without mDNS discovery nothing of the server listens on UDP 5353 of every host interface.
        env = dict(os.environ, HOME=str(self.home), ANDROID_ADB_SERVER_PORT=str(self.port))
        env.update(ADB_MDNS="0", ADB_MDNS_OPENSCREEN="0")
        env["ADBUTILS_ADB_PATH"] = str(self.binary)
        env.pop("ANDROID_SERIAL", None)
        return env

    def start(self) -> PrivateAdbServer:
        busy = emulator_ports_in_use()
        if busy:
            raise RuntimeError(
                f"something listens on 127.0.0.1:{busy}; an adb server would probe it as an emulator"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        done = self.run("start-server")
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.binary} start-server on port {self.port} failed: {done.stderr.strip()}"
            )
        return self

    def stop(self) -> None:
        self.run("kill-server", timeout=10)

    def run(self, *args: str, timeout: float = ADB_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """``adb -P PORT ARGS``; stdin is /dev/null so adb never waits for a terminal."""
        return subprocess.run(
            [str(self.binary), "-P", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def state(self, serial: str) -> str | None:
        """The serial's state in ``adb devices`` (device, offline, unauthorized), None when absent."""
        for line in self.run("devices").stdout.splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == 2 and fields[0] == serial:
                return fields[1]
        return None

    def connect(self, serial: str, timeout: float = 15.0, want: str = "device") -> None:
        """``adb connect`` (again) until ``adb devices`` shows the serial as ``want``."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            out = self.run("connect", serial, timeout=10).stdout.strip()
            state = self.state(serial)
            if state == want:
                return
            last = f"{out} (state {state})"
            time.sleep(0.2)
        raise RuntimeError(f"{serial} is not '{want}' on the adb server at port {self.port}: {last}")
