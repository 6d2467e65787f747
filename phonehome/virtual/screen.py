"""The contract between the virtual handset's shell/ADB side and its UI side.

The device-side shell (``input``, ``screencap``, ``uiautomator dump``,
``dumpsys window``, ``am start``, ``wm size``) and the uiautomator2 server
both drive one `Screen`: the state machine of what the handset displays
(Setup Wizard, launcher). Firmware behaviour listens to its events (consent
given or declined, setup complete) to decide what the handset sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

ImageFormat = Literal["png", "jpeg"]


@dataclass(frozen=True, slots=True)
class UiEvent:
    """Something the user did or the wizard reached, as firmware behaviour sees it.

    ``kind`` is one of: ``screen`` (a new screen: ``detail["screen"]`` names it),
    ``consent`` (``detail`` holds each toggle's final value, e.g.
    ``{"diagnostics": False, "location": True}``), ``setup-complete``.
    """

    kind: str
    detail: dict[str, object] = field(default_factory=dict)


class Screen(Protocol):
    """What the handset shows and how touches and keys change it."""

    def display_size(self) -> tuple[int, int]:
        """Width and height in pixels, portrait (``wm size``)."""
        ...

    def hierarchy_xml(self) -> str:
        """The window hierarchy as ``uiautomator dump`` writes it (``<?xml ...><hierarchy rotation="0">``)."""
        ...

    def screenshot(self, fmt: ImageFormat = "png", scale: float = 1.0, quality: int = 80) -> bytes:
        """The current screen rendered as an image."""
        ...

    def tap(self, x: int, y: int) -> None:
        """A touch at (x, y): clicks whatever clickable node is there."""
        ...

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None: ...

    def press_key(self, key: str | int) -> None:
        """A key by name (``back``, ``home``, ``enter``...) or Android keycode."""
        ...

    def input_text(self, text: str) -> None:
        """Types into the focused editable node."""
        ...

    def focused_activity(self) -> tuple[str, str]:
        """(package, activity class) in front, for ``dumpsys window``/``dumpsys activity``."""
        ...

    def start_activity(self, component: str) -> bool:
        """``am start -n PKG/.Activity`` or a package's launcher; False when unknown."""
        ...

    def subscribe(self, callback: Callable[[UiEvent], None]) -> None:
        """Calls ``callback`` for each `UiEvent`, in order, from the thread that caused it."""
        ...
