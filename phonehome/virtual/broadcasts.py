"""System broadcasts of a virtual handset: what it announced, for firmware and for ``dumpsys``.

The handset sends the broadcasts a phone's system sends when its state
changes (``SCREEN_ON``, ``USER_PRESENT``, ``SIM_STATE_CHANGED``,
``BOOT_COMPLETED``...); firmware behaviour reacts to them as apps with
receivers do, and ``dumpsys activity broadcasts`` lists the recent ones.
Protected actions cannot be sent by the shell user (`protected`), as on
Android.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

HISTORY = 200
USER_PRESENT = "android.intent.action.USER_PRESENT"
SCREEN_ON = "android.intent.action.SCREEN_ON"
SCREEN_OFF = "android.intent.action.SCREEN_OFF"
BOOT_COMPLETED = "android.intent.action.BOOT_COMPLETED"
FACTORY_RESET = "android.intent.action.FACTORY_RESET"
MASTER_CLEAR = "android.intent.action.MASTER_CLEAR"
PROTECTED = frozenset(
    {
        USER_PRESENT,
        SCREEN_ON,
        SCREEN_OFF,
        BOOT_COMPLETED,
        FACTORY_RESET,
        MASTER_CLEAR,
        "android.intent.action.SIM_STATE_CHANGED",
        "android.intent.action.LOCKED_BOOT_COMPLETED",
        "android.intent.action.ACTION_SHUTDOWN",
        "android.intent.action.REBOOT",
    }
)
"""``<protected-broadcast>`` actions of frameworks/base/core/res/AndroidManifest.xml that matter here."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One broadcast intent: its action, extras and when it was sent (epoch seconds)."""

    action: str
    extras: dict[str, str] = field(default_factory=dict)
    at: float = 0.0

    def intent(self) -> str:
        """As ``am``/``dumpsys`` print an Intent: ``Intent { act=... flg=0x... (has extras) }``."""
        extras = " (has extras)" if self.extras else ""
        return f"Intent {{ act={self.action} flg=0x50000010{extras} }}"


def protected(action: str) -> bool:
    return action in PROTECTED


class BroadcastLog:
    """The recent broadcasts, oldest first, bounded (thread-safe: the shell and the UI both send)."""

    def __init__(self, size: int = HISTORY) -> None:
        self._lock = threading.Lock()
        self._items: deque[Broadcast] = deque(maxlen=size)

    def record(self, action: str, extras: dict[str, str] | None = None) -> Broadcast:
        item = Broadcast(action, dict(extras or {}), time.time())
        with self._lock:
            self._items.append(item)
        return item

    def all(self) -> list[Broadcast]:
        with self._lock:
            return list(self._items)

    def actions(self) -> list[str]:
        return [b.action for b in self.all()]

    def dump(self) -> str:
        """``dumpsys activity broadcasts``: the history section, newest first, as Android 9-14 print it."""
        lines = [
            "ACTIVITY MANAGER BROADCAST STATE (dumpsys activity broadcasts)",
            "",
            "  Historical broadcasts [foreground]:",
        ]
        for i, item in enumerate(reversed(self.all())):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.at))
            lines.append(f"  Historical Broadcast foreground #{i}:")
            lines.append(f"    BroadcastRecord{{{i:07x} u-1 {item.action}}} to user -1")
            lines.append(f"    {item.intent()}")
            if item.extras:
                shown = ", ".join(f"{k}={v}" for k, v in item.extras.items())
                lines.append(f"      extras: Bundle[{{{shown}}}]")
            lines.append(f"    dispatchTime={stamp}")
        return "\n".join(lines) + "\n"
