"""What a person's eyes and fingers do on a handset's screen: read it, tap a label, type, press a key.

A lab operator walking a retail build's Setup Wizard has no ADB: they look at
the panel and touch it. `Fingers` does the same to a `VirtualHandset`'s
`Display` (power and keyguard included, so a dark or locked panel ignores a
tap as a phone does): `look` lists what is legible on the screen, `tap`
touches the centre of a label (or a point), `type_text`, `press_key` and
`swipe` are the rest of a hand. Nothing here goes over ADB or into the run
that is testing the handset.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from phonehome.virtual.events import HandsetError

if TYPE_CHECKING:
    from phonehome.virtual.ui.display import Display

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")


class FingerError(HandsetError, ValueError):
    """A label that is not on the screen (the message lists what is), or a touch that cannot be made."""


@dataclass(frozen=True, slots=True)
class Label:
    """One legible thing on the screen: its text (or its icon's description) and where it is."""

    text: str
    id: str
    clickable: bool
    checkable: bool
    checked: bool
    enabled: bool
    bounds: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.bounds
        return (x1 + x2) // 2, (y1 + y2) // 2

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Fingers:
    """Eyes and fingers on ``display`` (a handset's panel)."""

    def __init__(self, display: Display) -> None:
        self.display = display

    def look(self) -> list[Label]:
        """What a person reads on the panel now, top to bottom; nothing when it is dark."""
        if not self.display.awake:
            return []
        # The hierarchy is the handset's own rendering of its UI, not input from the network.
        root = ET.fromstring(self.display.hierarchy_xml().encode())  # noqa: S314
        labels = []
        for node in root.iter("node"):
            text = node.get("text") or node.get("content-desc") or ""
            match = _BOUNDS.fullmatch(node.get("bounds", ""))
            if not text or match is None:
                continue
            x1, y1, x2, y2 = (int(v) for v in match.groups())
            if x2 <= x1 or y2 <= y1:
                continue
            labels.append(
                Label(
                    text=text,
                    id=node.get("resource-id", ""),
                    clickable=node.get("clickable") == "true",
                    checkable=node.get("checkable") == "true",
                    checked=node.get("checked") == "true",
                    enabled=node.get("enabled") != "false",
                    bounds=(x1, y1, x2, y2),
                )
            )
        return labels

    def find(self, text: str) -> Label:
        """The first label reading ``text`` (exactly, ignoring case and surrounding blanks)."""
        wanted = text.strip().casefold()
        for label in self.look():
            if label.text.strip().casefold() == wanted:
                return label
        shown = ", ".join(repr(label.text) for label in self.look()[:30]) or "nothing (the panel is dark)"
        raise FingerError(f"{text!r} is not on the screen; it shows: {shown}")

    def tap(self, text: str | None = None, x: int | None = None, y: int | None = None) -> str:
        """Touches the label ``text``, or the point (``x``, ``y``); says what was touched."""
        if text is not None:
            label = self.find(text)
            self.display.tap(*label.centre)
            return f"tapped {label.text!r}"
        if x is None or y is None:
            raise FingerError("tap needs text=LABEL, or x= and y=")
        width, height = self.display.display_size()
        if not (0 <= x < width and 0 <= y < height):
            raise FingerError(f"({x}, {y}) is off the {width}x{height} screen")
        self.display.tap(x, y)
        return f"tapped ({x}, {y})"

    def type_text(self, text: str) -> str:
        self.display.input_text(text)
        return f"typed {len(text)} characters"

    def press_key(self, key: str | int) -> str:
        self.display.press_key(key)
        return f"pressed {key}"

    def swipe(self, direction: str) -> str:
        """A swipe across the middle of the panel: ``up`` (scroll on, unlock) or ``down``."""
        width, height = self.display.display_size()
        low, high = height * 3 // 4, height // 4
        if direction == "up":
            self.display.swipe(width // 2, low, width // 2, high)
        elif direction == "down":
            self.display.swipe(width // 2, high, width // 2, low)
        else:
            raise FingerError(f"swipe up or down, not {direction!r}")
        return f"swiped {direction}"
