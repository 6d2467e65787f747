"""The pieces every window's layout uses: the state it shows, dp/sp sizing, text and button nodes.

Sizes are in dp/sp converted with the display density, as Android does, and
text is wrapped with the renderer's font, so bounds enclose what is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from phonehome.virtual.ui import text as txt
from phonehome.virtual.ui.flavour import EnabledIf, Flavour, ScreenDef
from phonehome.virtual.ui.hierarchy import Bounds, Node, Tap

SP = {
    "title": 30,
    "description": 16,
    "body": 15,
    "heading": 14,
    "row_title": 18,
    "summary": 14,
    "button": 15,
    "edit": 18,
    "dialog_title": 22,
    "dialog_body": 16,
    "launcher": 13,
    "app_title": 22,
}
_VAR = re.compile(r"\{([a-z_]+)\}")
TEXT_VIEW = "android.widget.TextView"
LINEAR = "android.widget.LinearLayout"
FRAME = "android.widget.FrameLayout"


@dataclass(frozen=True, slots=True)
class NetworkRow:
    ssid: str
    secured: bool
    summary: str


@dataclass(frozen=True, slots=True)
class View:
    """The part of the wizard's state a screen shows."""

    vars: Mapping[str, str]  # language, carrier, ssid, device_name
    language: str
    checks: Mapping[str, bool]
    fields: Mapping[str, str]
    focus: str | None
    scroll: int
    connected: str | None
    networks: tuple[NetworkRow, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """A laid-out window; ``viewport`` is the scroll view's bounds when its content can scroll."""

    root: Node
    viewport: Bounds | None
    max_scroll: int
    page: int  # how far one "More" press scrolls


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replaces ``{name}`` for known names only, so literal braces in texts survive."""
    return _VAR.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def enabled(condition: EnabledIf | None, view: View) -> bool:
    if condition is None:
        return True
    if condition.checked is not None:
        return view.checks.get(condition.checked, False)
    if condition.field is not None:
        return len(view.fields.get(condition.field, "")) >= condition.min_length
    return (view.connected is not None) == condition.connected


class Builder:
    """Lays out one screen of ``flavour`` top to bottom."""

    def __init__(self, flavour: Flavour, screen: ScreenDef | None, view: View) -> None:
        self.flavour = flavour
        self.screen = screen
        self.view = view
        self.width = flavour.display.width
        self.height = flavour.display.height
        self.margin = self.px(24)

    def px(self, dp: float) -> int:
        return round(dp * self.flavour.display.density / 160)

    def sp(self, role: str) -> int:
        return self.px(SP[role])

    def rid(self, name: str) -> str:
        return self.flavour.resource_id(self.screen, name) if self.screen else name

    def text(
        self, parent: Node, content: str, role: str, y: int, *, x: int, width: int, **attrs: object
    ) -> int:
        """Adds a wrapped text node at ``y``; returns the y below it (an empty text adds nothing)."""
        if not content:
            return y
        px = self.sp(role)
        height = txt.text_height(content, px, width)
        frame = Bounds(x, y, x + width, y + height)
        node = Node(TEXT_VIEW, frame, text=content, role=role, text_px=px, frame=frame)
        for name, value in attrs.items():
            setattr(node, name, value)
        parent.add(node)
        return y + height

    def button(
        self, parent: Node, label: str, *, role: str, frame: Bounds, rid: str, tap: Tap, on: bool
    ) -> Node:
        return parent.add(
            Node(
                "android.widget.Button",
                frame,
                text=label,
                resource_id=rid,
                clickable=on,
                focusable=True,
                enabled=on,
                role=role,
                text_px=self.sp("button"),
                tap=tap,
                frame=frame,
            )
        )


def shift(node: Node, dy: int) -> None:
    for n in node.walk():
        n.bounds = n.bounds.shifted(dy)
        if n.frame is not None:
            n.frame = n.frame.shifted(dy)


def shift_x(node: Node, dx: int) -> None:
    for n in node.walk():
        n.bounds = Bounds(n.bounds.left + dx, n.bounds.top, n.bounds.right + dx, n.bounds.bottom)
        if n.frame is not None:
            n.frame = Bounds(n.frame.left + dx, n.frame.top, n.frame.right + dx, n.frame.bottom)


def clip(node: Node, viewport: Bounds) -> None:
    """Clips descendants to ``viewport`` and drops those entirely outside (they are not visible to the user)."""
    kept = []
    for child in node.children:
        visible = child.bounds.intersect(viewport)
        if visible.empty:
            continue
        child.bounds = visible
        clip(child, viewport)
        kept.append(child)
    node.children = kept


def inherit_packages(root: Node) -> None:
    for node in root.walk():
        for child in node.children:
            child.package = child.package or node.package
