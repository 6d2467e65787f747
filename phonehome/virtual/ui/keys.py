"""Android key codes and the names ``input keyevent`` and uiautomator2's ``pressKey`` accept.

Values from ``android.view.KeyEvent`` (frameworks/base/core/java/android/view/KeyEvent.java).
"""

from __future__ import annotations

HOME = 3
BACK = 4
ENTER = 66
DEL = 67
POWER = 26
MENU = 82
MOVE_END = 123

CODES = {
    "HOME": HOME,
    "BACK": BACK,
    "CALL": 5,
    "ENDCALL": 6,
    "DPAD_UP": 19,
    "DPAD_DOWN": 20,
    "DPAD_LEFT": 21,
    "DPAD_RIGHT": 22,
    "DPAD_CENTER": 23,
    "VOLUME_UP": 24,
    "VOLUME_DOWN": 25,
    "POWER": POWER,
    "CAMERA": 27,
    "TAB": 61,
    "SPACE": 62,
    "ENTER": ENTER,
    "DEL": DEL,
    "MENU": MENU,
    "SEARCH": 84,
    "VOLUME_MUTE": 164,
    "MOVE_HOME": 122,
    "MOVE_END": MOVE_END,
    "APP_SWITCH": 187,
    "WAKEUP": 224,
    "SLEEP": 223,
}

# uiautomator2's pressKey names (AutomatorServiceImpl.pressKey) -> key codes.
PRESS_KEY_NAMES = {
    "home": HOME,
    "back": BACK,
    "left": 21,
    "right": 22,
    "up": 19,
    "down": 20,
    "center": 23,
    "menu": MENU,
    "search": 84,
    "enter": ENTER,
    "delete": DEL,
    "del": DEL,
    "recent": 187,
    "volume_up": 24,
    "volume_down": 25,
    "volume_mute": 164,
    "camera": 27,
    "power": POWER,
}


def keycode(key: str | int) -> int | None:
    """A code from a number, ``"4"``, ``"BACK"``, ``"KEYCODE_BACK"`` or a pressKey name; None if unknown."""
    if isinstance(key, int):
        return key if key >= 0 else None
    name = key.strip()
    if name.isdigit():
        return int(name)
    lowered = name.lower()
    if lowered in PRESS_KEY_NAMES:
        return PRESS_KEY_NAMES[lowered]
    upper = name.upper().removeprefix("KEYCODE_")
    return CODES.get(upper)
