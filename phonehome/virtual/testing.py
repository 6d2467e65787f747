"""Test doubles for code that drives a handset: a `Screen` that records what it was asked to do.

`RecordingScreen` shows one fixed window and remembers every tap, swipe, key
and text, so tests of the shell, of ADB clients or of a lab's own scenario
code can check what reached the screen without the Setup Wizard model.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

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
